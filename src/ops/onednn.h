/* oneDNN convolution backend, used by conv_fast.c when the build has
 * libdnnl (internal to src/ops). */
#ifndef NND_OPS_ONEDNN_H
#define NND_OPS_ONEDNN_H

#include "ops/fast.h"

#ifdef NND_HAVE_DNNL
typedef struct nnd__onednn_ctx nnd__onednn_ctx;
nnd_status nnd__onednn_ctx_create(nnd__onednn_ctx **out, nnd_error *err);
void nnd__onednn_ctx_destroy(nnd__onednn_ctx *ctx);

typedef struct nnd__onednn_conv nnd__onednn_conv;
/* Fails with NND_ERR_UNSUPPORTED when oneDNN cannot take the convolution
 * (no implementation, or arguments past its limits: the caller then falls
 * back to another kernel), NND_ERR_NOMEM when it ran out of memory. Runs
 * fail with NND_ERR_NOMEM or NND_ERR_INTERNAL. */
nnd_status nnd__onednn_conv_create(nnd__onednn_ctx *ctx, const nnd__fconv_desc *desc,
                                   nnd__onednn_conv **out, nnd_error *err);
size_t nnd__onednn_conv_scratch_bytes(const nnd__onednn_conv *c);
size_t nnd__onednn_conv_weight_bytes(const nnd__onednn_conv *c);
const char *nnd__onednn_conv_impl(const nnd__onednn_conv *c);
nnd_status nnd__onednn_conv_run(nnd__onednn_conv *c, const float *x, float *y, void *scratch,
                                nnd_error *err);
void nnd__onednn_conv_destroy(nnd__onednn_conv *c);
#endif

#endif
