/* Terminal-safe text: the one sanitiser every string from a file passes
 * through before it reaches a terminal or an error message.
 *
 * Names, op types, paths and producer strings come from untrusted files. A
 * newline would split a one-line error, an escape sequence would drive the
 * terminal, and bytes that are not UTF-8 make unreadable (or invalid JSON)
 * output. The sanitiser keeps printable UTF-8 as it is and shows the rest
 * visibly, as ASCII:
 *   \n \r \t                       newline, carriage return, tab
 *   \xHH                           any other C0 control byte, DEL (0x7f), and
 *                                  each byte that is not part of a valid UTF-8
 *                                  sequence (overlong forms, surrogates, bytes
 *                                  past U+10FFFF, truncated sequences)
 *   \uHHHH                         C1 controls (U+0080-U+009F, which some
 *                                  terminals obey like ESC [), the line and
 *                                  paragraph separators U+2028/U+2029, and the
 *                                  Unicode bidirectional controls (U+061C,
 *                                  U+200E, U+200F, U+202A-U+202E,
 *                                  U+2066-U+2069) that reorder what is shown
 *                                  around them
 * A backslash stays a backslash, so sanitising twice changes nothing (a name
 * that really holds the text "\n" looks like one holding a newline). */
#ifndef NND_UTIL_SAFE_TEXT_H
#define NND_UTIL_SAFE_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length (1-4) of the valid UTF-8 sequence at s[0, n) and its code point,
 * or 0 when s[0] starts no valid sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
size_t nnd__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp_out);

/* True for the code points the sanitiser escapes (controls, C1, separators,
 * bidirectional controls). */
bool nnd__cp_needs_escape(uint32_t cp);

/* Bytes the sanitised form of s[0, n) takes (without a NUL). */
size_t nnd__safe_len(const char *s, size_t n);

/* Writes the sanitised form of s[0, n) into dst[cap] (NUL-terminated when
 * cap > 0), cutting only between whole characters or escapes. Returns the
 * bytes written (without the NUL). */
size_t nnd__safe_copy(char *dst, size_t cap, const char *s, size_t n);

/* True when s[0, n) is already its own sanitised form. */
bool nnd__safe_is_clean(const char *s, size_t n);

/* Writes the sanitised form of s (NULL: nothing), or of s[0, n), to out. */
void nnd__fputs_safe(const char *s, FILE *out);
void nnd__fwrite_safe(const char *s, size_t n, FILE *out);

/* printf into out, every %s argument sanitised (the format itself is
 * trusted text and written as it is). Returns the bytes written or -1. */
int nnd__fprintf_safe(FILE *out, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int nnd__vfprintf_safe(FILE *out, const char *fmt, va_list ap);

/* One line of at most cap - 1 bytes for an error message: every %s argument
 * sanitised and, when the whole line would not fit, the longest arguments
 * shortened (cut after their head, marked "...") until it does, so the end of
 * the line (usually the problem, after the names) survives a 10 MB name.
 * Returns the bytes written (without the NUL). */
size_t nnd__format_line(char *dst, size_t cap, const char *fmt, va_list ap);

#endif
