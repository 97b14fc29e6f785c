/* Shared pieces of the command-line tool: the command table entry type,
 * per-command entry points, and the one-line error convention. */
#ifndef NND_CLI_CLI_H
#define NND_CLI_CLI_H

#include <stdio.h>

#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifndef NND_VERSION
#define NND_VERSION "unknown"
#endif

/* Exit codes (DESIGN.md): 1 is reserved for "the models differ". */
enum { NND_EXIT_OK = 0, NND_EXIT_DIFFER = 1, NND_EXIT_USAGE = 2, NND_EXIT_INTERNAL = 3 };

typedef struct nnd_cli_command {
  const char *name;
  const char *summary;               /* one line for `nndiff --help` */
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
  void (*help)(FILE *out);           /* the full `nndiff help NAME` text */
} nnd_cli_command;

/* Prints "nndiff: MESSAGE" for a failed status and returns its exit code. */
int nnd_cli_fail(const nnd_error *err);

/* Prints "nndiff: MESSAGE" and the command's usage line to stderr; returns
 * NND_EXIT_USAGE. */
int nnd_cli_usage_error(const char *usage, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Reads a model file of any supported format: detects the format from the
 * file's magic bytes and extension, then loads, infers shapes and validates.
 * Formats without a reader yet fail with NND_ERR_UNSUPPORTED naming the
 * format. On success the caller owns *graph_out (nnd_graph_destroy). */
nnd_status nnd_cli_load_model(const char *path, nnd_graph **graph_out, nnd_error *err);

/* Commands. */
int nnd_cmd_inspect(int argc, char **argv);
void nnd_cmd_inspect_help(FILE *out);
int nnd_cmd_run(int argc, char **argv);
void nnd_cmd_run_help(FILE *out);
int nnd_cmd_compare(int argc, char **argv);
void nnd_cmd_compare_help(FILE *out);
int nnd_cmd_localize(int argc, char **argv);
void nnd_cmd_localize_help(FILE *out);
int nnd_cmd_repair(int argc, char **argv);
void nnd_cmd_repair_help(FILE *out);

#endif
