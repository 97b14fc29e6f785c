/* The terminal-safe text sanitiser and the printf front ends that apply it
 * to every %s argument (safe_text.h). */
#include "util/safe_text.h"

#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------- UTF-8 */

size_t nnd__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp_out) {
  if (n == 0) return 0;
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp_out = c;
    return 1;
  }
  /* RFC 3629 table 3.9: the second byte's range depends on the first */
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1fu;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0fu;
    if (c == 0xe0)
      lo = 0xa0; /* overlong */
    else if (c == 0xed)
      hi = 0x9f; /* surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07u;
    if (c == 0xf0)
      lo = 0x90; /* overlong */
    else if (c == 0xf4)
      hi = 0x8f; /* past U+10FFFF */
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    unsigned char b = s[i];
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf)) return 0;
    cp = (cp << 6) | (b & 0x3fu);
  }
  *cp_out = cp;
  return len;
}

bool nnd__cp_needs_escape(uint32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
         cp == 0x200f || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

/* The next character of s[i, n) in safe form: *out points at len bytes
 * (into the source when it is printable as is, else into esc). Sets
 * *consumed to the source bytes it stands for. */
static size_t next_safe(const char *s, size_t n, size_t i, char esc[8], const char **out,
                        size_t *consumed) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s + i;
  uint32_t cp;
  size_t len = nnd__utf8_decode(u, n - i, &cp);
  if (len > 0 && !nnd__cp_needs_escape(cp)) {
    *out = s + i;
    *consumed = len;
    return len;
  }
  *out = esc;
  if (len == 0 || cp < 0x80) {
    /* a control byte, DEL, or a byte outside any valid sequence */
    *consumed = 1;
    unsigned char b = u[0];
    esc[0] = '\\';
    if (b == '\n' || b == '\r' || b == '\t') {
      esc[1] = b == '\n' ? 'n' : b == '\r' ? 'r' : 't';
      return 2;
    }
    esc[1] = 'x';
    esc[2] = hex[b >> 4];
    esc[3] = hex[b & 15];
    return 4;
  }
  *consumed = len;
  esc[0] = '\\';
  esc[1] = 'u';
  for (int k = 0; k < 4; k++)
    esc[2 + k] = hex[(cp >> (12 - 4 * k)) & 15];
  return 6;
}

size_t nnd__safe_len(const char *s, size_t n) {
  size_t total = 0;
  for (size_t i = 0; i < n;) {
    char esc[8];
    const char *p;
    size_t used;
    total += next_safe(s, n, i, esc, &p, &used);
    i += used;
  }
  return total;
}

bool nnd__safe_is_clean(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    char esc[8];
    const char *p;
    size_t used;
    next_safe(s, n, i, esc, &p, &used);
    if (p == esc) return false;
    i += used;
  }
  return true;
}

size_t nnd__safe_copy(char *dst, size_t cap, const char *s, size_t n) {
  if (cap == 0) return 0;
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    char esc[8];
    const char *p;
    size_t used;
    size_t len = next_safe(s, n, i, esc, &p, &used);
    if (w + len > cap - 1) break;
    memcpy(dst + w, p, len);
    w += len;
    i += used;
  }
  dst[w] = '\0';
  return w;
}

/* Writes the safe form of s[0, n): printable runs in one fwrite each. */
static void write_safe(FILE *out, const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    char esc[8];
    const char *p = NULL;
    size_t used = 0, k = 0, j = i;
    while (j < n) {
      k = next_safe(s, n, j, esc, &p, &used);
      if (p == esc) break;
      j += used;
    }
    if (j > i) fwrite(s + i, 1, j - i, out);
    if (j < n) {
      fwrite(esc, 1, k, out);
      j += used;
    }
    i = j;
  }
}

void nnd__fputs_safe(const char *s, FILE *out) {
  if (s) write_safe(out, s, strlen(s));
}

void nnd__fwrite_safe(const char *s, size_t n, FILE *out) { write_safe(out, s, n); }

/* ------------------------------------------------------ format walking */

enum piece_kind { PIECE_TEXT, PIECE_ARG };

/* Receives the format in pieces: trusted text (literal parts and formatted
 * numbers) and %s / %c arguments to sanitise, with their padding. */
typedef void (*piece_fn)(void *ctx, enum piece_kind kind, const char *s, size_t n, int width,
                         bool left);

/* Walks fmt like vprintf, fetching every argument with its own type, so the
 * string arguments can be handled apart. Supports the C99 conversions and
 * length modifiers (%n is skipped). */
static void walk_format(const char *fmt, va_list ap, piece_fn fn, void *ctx) {
  const char *lit = fmt;
  const char *p = fmt;
  while (*p) {
    if (*p != '%') {
      p++;
      continue;
    }
    if (p > lit) fn(ctx, PIECE_TEXT, lit, (size_t)(p - lit), 0, false);
    const char *start = p++;
    if (*p == '%') {
      fn(ctx, PIECE_TEXT, "%", 1, 0, false);
      lit = ++p;
      continue;
    }
    char spec[64];
    size_t sl = 0;
    spec[sl++] = '%';
    bool left = false;
    while (*p && strchr("-+ #0", *p)) {
      if (*p == '-') left = true;
      if (sl < 8) spec[sl++] = *p;
      p++;
    }
    int width = -1, prec = -1;
    if (*p == '*') {
      width = va_arg(ap, int);
      if (width < 0) {
        left = true;
        width = -width;
      }
      p++;
    } else {
      for (width = 0; *p >= '0' && *p <= '9'; p++)
        width = width < 100000 ? width * 10 + (*p - '0') : width;
    }
    if (*p == '.') {
      p++;
      if (*p == '*') {
        prec = va_arg(ap, int);
        p++;
      } else {
        for (prec = 0; *p >= '0' && *p <= '9'; p++)
          prec = prec < 100000 ? prec * 10 + (*p - '0') : prec;
      }
    }
    char len[3] = {0};
    if ((p[0] == 'h' && p[1] == 'h') || (p[0] == 'l' && p[1] == 'l')) {
      len[0] = p[0];
      len[1] = p[1];
      p += 2;
    } else if (*p && strchr("hljztL", *p)) {
      len[0] = *p++;
    }
    const char conv = *p ? *p++ : '\0';
    if (conv == 's' || conv == 'c') {
      char c1;
      const char *s;
      size_t n;
      if (conv == 'c') {
        c1 = (char)va_arg(ap, int);
        s = &c1;
        n = 1;
      } else {
        s = va_arg(ap, const char *);
        if (!s) s = "(null)";
        n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
      }
      fn(ctx, PIECE_ARG, s, n, width > 0 ? width : 0, left);
      lit = p;
      continue;
    }
    /* a number or pointer: formatted by the C library from its own spec */
    sl += (size_t)snprintf(spec + sl, sizeof spec - sl, "%d", width > 0 ? width : 0);
    if (width <= 0) sl--; /* no width: drop the "0" just written */
    if (prec >= 0) sl += (size_t)snprintf(spec + sl, sizeof spec - sl, ".%d", prec);
    sl += (size_t)snprintf(spec + sl, sizeof spec - sl, "%s%c", len, conv);
    spec[sl < sizeof spec ? sl : sizeof spec - 1] = '\0';
    char buf[512];
    int k = -1;
    switch (conv) {
    case 'd':
    case 'i':
      if (!strcmp(len, "ll"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, long long));
      else if (!strcmp(len, "l"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, long));
      else if (!strcmp(len, "j"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, intmax_t));
      else if (!strcmp(len, "z"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, ptrdiff_t));
      else if (!strcmp(len, "t"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, ptrdiff_t));
      else
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, int));
      break;
    case 'u':
    case 'o':
    case 'x':
    case 'X':
      if (!strcmp(len, "ll"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, unsigned long long));
      else if (!strcmp(len, "l"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, unsigned long));
      else if (!strcmp(len, "j"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, uintmax_t));
      else if (!strcmp(len, "z"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, size_t));
      else if (!strcmp(len, "t"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, size_t));
      else
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, unsigned));
      break;
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
      if (!strcmp(len, "L"))
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, long double));
      else
        k = snprintf(buf, sizeof buf, spec, va_arg(ap, double));
      break;
    case 'p': k = snprintf(buf, sizeof buf, spec, va_arg(ap, void *)); break;
    case 'n':
      (void)va_arg(ap, void *);
      k = 0;
      break;
    default: /* not a conversion: show it as written */
      fn(ctx, PIECE_TEXT, start, (size_t)(p - start), 0, false);
      lit = p;
      continue;
    }
    if (k > 0)
      fn(ctx, PIECE_TEXT, buf, (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1, 0, false);
    lit = p;
  }
  if (p > lit) fn(ctx, PIECE_TEXT, lit, (size_t)(p - lit), 0, false);
}

/* ----------------------------------------------------------- to a FILE */

typedef struct stream_ctx {
  FILE *out;
  long long written;
} stream_ctx;

static void pad(FILE *out, size_t n, long long *written) {
  for (size_t i = 0; i < n; i++)
    fputc(' ', out);
  *written += (long long)n;
}

static void stream_piece(void *vctx, enum piece_kind kind, const char *s, size_t n, int width,
                         bool left) {
  stream_ctx *c = vctx;
  if (kind == PIECE_TEXT) {
    fwrite(s, 1, n, c->out);
    c->written += (long long)n;
    return;
  }
  size_t len = nnd__safe_len(s, n);
  size_t fill = width > 0 && (size_t)width > len ? (size_t)width - len : 0;
  if (!left) pad(c->out, fill, &c->written);
  write_safe(c->out, s, n);
  c->written += (long long)len;
  if (left) pad(c->out, fill, &c->written);
}

int nnd__vfprintf_safe(FILE *out, const char *fmt, va_list ap) {
  stream_ctx c = {out, 0};
  walk_format(fmt, ap, stream_piece, &c);
  if (ferror(out)) return -1;
  return c.written > INT32_MAX ? INT32_MAX : (int)c.written;
}

int nnd__fprintf_safe(FILE *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = nnd__vfprintf_safe(out, fmt, ap);
  va_end(ap);
  return n;
}

/* ------------------------------------------------- one bounded line */

enum { LINE_MAX_PIECES = 64, LINE_POOL = 2048 };

typedef struct line_piece {
  enum piece_kind kind;
  const char *s;
  size_t n;    /* source bytes */
  size_t safe; /* bytes once sanitised (text: n) */
  size_t fill; /* padding to the field width */
  bool left;
} line_piece;

typedef struct line_ctx {
  line_piece p[LINE_MAX_PIECES];
  int n;
  bool overflow;
  char pool[LINE_POOL]; /* copies of formatted numbers (the walker's buffer is reused) */
  size_t pool_used;
} line_ctx;

static void line_piece_add(void *vctx, enum piece_kind kind, const char *s, size_t n, int width,
                           bool left) {
  line_ctx *c = vctx;
  if (c->n == LINE_MAX_PIECES) {
    c->overflow = true;
    return;
  }
  if (kind == PIECE_TEXT || n <= 4) {
    /* numbers and %c characters sit in the walker's stack: copied (and
     * literal parts with them, they are short) */
    if (n > LINE_POOL - c->pool_used) {
      c->overflow = true;
      return;
    }
    memcpy(c->pool + c->pool_used, s, n);
    s = c->pool + c->pool_used;
    c->pool_used += n;
  }
  size_t safe = kind == PIECE_TEXT ? n : nnd__safe_len(s, n);
  size_t fill = width > 0 && (size_t)width > safe ? (size_t)width - safe : 0;
  c->p[c->n++] = (line_piece){kind, s, n, safe, fill, left};
}

static size_t put_spaces(char *dst, size_t n) {
  memset(dst, ' ', n);
  return n;
}

size_t nnd__format_line(char *dst, size_t cap, const char *fmt, va_list ap) {
  if (cap == 0) return 0;
  line_ctx c;
  c.n = 0;
  c.overflow = false;
  c.pool_used = 0;
  va_list copy;
  va_copy(copy, ap);
  walk_format(fmt, copy, line_piece_add, &c);
  va_end(copy);
  if (c.overflow) {
    /* too many pieces to budget: plain formatting, then the whole line
     * through the sanitiser (it is one line either way) */
    char raw[4096];
    int k = vsnprintf(raw, sizeof raw, fmt, ap);
    size_t rn = k < 0 ? 0 : (size_t)k < sizeof raw ? (size_t)k : sizeof raw - 1;
    return nnd__safe_copy(dst, cap, raw, rn);
  }
  const size_t room = cap - 1;
  size_t fixed = 0, args = 0, longest = 0;
  for (int i = 0; i < c.n; i++) {
    fixed += c.p[i].fill;
    if (c.p[i].kind == PIECE_TEXT) {
      fixed += c.p[i].safe;
    } else {
      args += c.p[i].safe;
      if (c.p[i].safe > longest) longest = c.p[i].safe;
    }
  }
  /* The largest per-argument limit that fits: water-filling by bisection. */
  size_t limit = longest;
  if (fixed + args > room) {
    size_t budget = room > fixed ? room - fixed : 0, lo = 0, hi = longest;
    while (lo < hi) {
      size_t mid = lo + (hi - lo + 1) / 2, sum = 0;
      for (int i = 0; i < c.n; i++)
        if (c.p[i].kind == PIECE_ARG) sum += c.p[i].safe < mid ? c.p[i].safe : mid;
      if (sum <= budget)
        lo = mid;
      else
        hi = mid - 1;
    }
    limit = lo;
  }
  size_t w = 0;
  for (int i = 0; i < c.n && w < room; i++) {
    const line_piece *pc = &c.p[i];
    if (pc->kind == PIECE_TEXT) {
      size_t k = pc->n < room - w ? pc->n : room - w;
      memcpy(dst + w, pc->s, k);
      w += k;
    } else if (pc->safe <= limit) {
      size_t fill = pc->fill < room - w ? pc->fill : room - w;
      if (!pc->left) w += put_spaces(dst + w, fill);
      w += nnd__safe_copy(dst + w, cap - w, pc->s, pc->n);
      fill = pc->fill < room - w ? pc->fill : room - w;
      if (pc->left) w += put_spaces(dst + w, fill);
    } else {
      /* its head, then "..." */
      size_t head = limit > 3 ? limit - 3 : 0;
      if (head > room - w) head = room - w;
      w += nnd__safe_copy(dst + w, head + 1, pc->s, pc->n);
      size_t k = 3 < room - w ? 3 : room - w;
      memcpy(dst + w, "...", k);
      w += k;
    }
  }
  dst[w] = '\0';
  return w;
}
