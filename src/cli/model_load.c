/* Loading model files for every command: the library's format registry
 * (include/nndiff/model.h) does the work. */
#include "cli/cli.h"
#include "nndiff/model.h"

nnd_status nnd_cli_load_model(const char *path, nnd_graph **graph_out, nnd_error *err) {
  return nnd_model_load(path, graph_out, err);
}
