/* Reports: human text on a stream and machine-readable JSON (json-c).
 *
 * Reports render results the analyses computed; they compute nothing
 * themselves beyond ordering and formatting. JSON documents carry a
 * "schema" string ("nndiff.inspect/1") that changes when a field changes
 * meaning or disappears; new fields may appear without a change. */
#ifndef NNDIFF_REPORT_H
#define NNDIFF_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "nndiff/cost.h"
#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;

/* ------------------------------------------------------------ inspect */

/* What `nndiff inspect` reports on one model. Borrowed pointers: the caller
 * keeps graph and per_node alive while the report functions run. */
typedef struct nnd_inspect_data {
  const nnd_graph *graph;
  const nnd_node_cost *per_node; /* graph->n_nodes entries, indexed like graph->nodes */
  nnd_node_cost total;
  const char *tool_version; /* written into the JSON as tool.version; may be NULL */
} nnd_inspect_data;

/* Writes the human summary: file, format, producer and opsets; inputs and
 * outputs; parameters, MACs and FLOPs; the op histogram; unsupported ops;
 * and with `layers` a per-layer table. Fails with NND_ERR_IO when the stream
 * reports a write error. */
nnd_status nnd_inspect_write_text(FILE *out, const nnd_inspect_data *d, bool layers,
                                  nnd_error *err);

/* Builds the JSON document (always with the per-layer list). On success the
 * caller owns *json_out and releases it with json_object_put. */
nnd_status nnd_inspect_build_json(const nnd_inspect_data *d, struct json_object **json_out,
                                  nnd_error *err);

/* ---------------------------------------------------------- JSON out */

/* Writes obj pretty-printed (two-space indent, '/' unescaped, trailing
 * newline) to path, atomically: the file appears complete or not at all.
 * path "-" writes to stdout. Fails with NND_ERR_IO naming the path. */
nnd_status nnd_report_write_json(const char *path, struct json_object *obj, nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
