/* nndiff command-line entry point: global options, then dispatch through
 * the command table to one cmd_<name>.c per command. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/safe_text.h"

static const nnd_cli_command commands[] = {
    {"inspect", "summarise a model: inputs, outputs, parameters, MACs, FLOPs, ops", nnd_cmd_inspect,
     nnd_cmd_inspect_help},
    {"run", "run a model over images or tensors: top-k, accuracy, throughput", nnd_cmd_run,
     nnd_cmd_run_help},
    {"compare", "run models on the same inputs: label discrepancy, tau, |diff|, chain",
     nnd_cmd_compare, nnd_cmd_compare_help},
    {"localize", "find where and why a converted model differs from its source, and the fix",
     nnd_cmd_localize, nnd_cmd_localize_help},
    {"repair", "edit a converted model until it matches its source, verified on held-out data",
     nnd_cmd_repair, nnd_cmd_repair_help},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const nnd_cli_command *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static void print_help(FILE *out) {
  fprintf(out, "usage: nndiff <command> [options] [arguments]\n"
               "       nndiff help <command>\n"
               "\n"
               "nndiff compares deep-learning models across frameworks and converters.\n"
               "\n"
               "Commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n"
               "Options:\n"
               "  -h, --help     show this help\n"
               "  -V, --version  print the version\n"
               "\n"
               "Exit status: 0 ok, 1 the models differ (compare-like commands),\n"
               "2 bad usage or bad input, 3 internal error.\n"
               "Run 'nndiff help <command>' for a command's options and examples.\n");
}

/* Messages are sanitised where they are made (nnd_error_set); printing
 * through the sanitiser again changes nothing for those and keeps any
 * other line safe. */
int nnd_cli_fail(const nnd_error *err) {
  nnd__fprintf_safe(stderr, "nndiff: %s\n",
                    err->message[0] ? err->message : nnd_status_str(err->status));
  return nnd_status_exit_code(err->status);
}

int nnd_cli_usage_error(const char *usage, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  nnd__format_line(line, sizeof line, fmt, ap); /* arguments may be file names */
  va_end(ap);
  fprintf(stderr, "nndiff: %s\n%s\n", line, usage);
  return NND_EXIT_USAGE;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: nndiff <command> [options] [arguments]\n"
                    "Run 'nndiff --help' for the list of commands.\n");
    return NND_EXIT_USAGE;
  }
  const char *arg = argv[1];
  if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
    print_help(stdout);
    return NND_EXIT_OK;
  }
  if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
    printf("nndiff %s\n", NND_VERSION);
    return NND_EXIT_OK;
  }
  if (strcmp(arg, "help") == 0) {
    if (argc < 3) {
      print_help(stdout);
      return NND_EXIT_OK;
    }
    const nnd_cli_command *cmd = find_command(argv[2]);
    if (!cmd) {
      nnd__fprintf_safe(stderr,
                        "nndiff: no help for '%s': not a command\n"
                        "Run 'nndiff --help' for the list of commands.\n",
                        argv[2]);
      return NND_EXIT_USAGE;
    }
    cmd->help(stdout);
    return NND_EXIT_OK;
  }
  if (arg[0] == '-') {
    nnd__fprintf_safe(stderr,
                      "nndiff: unknown option '%s'\n"
                      "usage: nndiff <command> [options] [arguments]\n",
                      arg);
    return NND_EXIT_USAGE;
  }
  const nnd_cli_command *cmd = find_command(arg);
  if (!cmd) {
    nnd__fprintf_safe(stderr,
                      "nndiff: unknown command '%s'\n"
                      "Run 'nndiff --help' for the list of commands.\n",
                      arg);
    return NND_EXIT_USAGE;
  }
  return cmd->run(argc - 1, argv + 1);
}
