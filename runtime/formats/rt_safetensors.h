/* Weights as safetensors: an 8-byte little-endian header length, a JSON
 * header ({name: {dtype, shape, data_offsets}}, "__metadata__"), then the raw
 * little-endian data.  PyTorch's safetensors.torch.load_file reads it. */
#ifndef PARSEC_RT_SAFETENSORS_H
#define PARSEC_RT_SAFETENSORS_H
#include "nw_layout.h"

/* the largest weights file a reader takes in */
#define RT_SAFETENSORS_MAX_BYTES ((size_t)16 << 30)

/* Every tensor of LAY from the host blocks PARAMS and STATS (float32), plus
 * a num_batches_tracked (int64, = BATCHES) beside every BN's running
 * statistics, as a PyTorch state_dict has them.  META: "key", "value" pairs. */
int rt_safetensors_write(const char *path, const nw_layout *lay, const float *params, const float *stats, long batches,
                         const char *const *meta, int nmeta, err_t *e);
/* The value of __metadata__[KEY] (malloc'd), or NULL. */
char *rt_safetensors_meta(const char *path, const char *key, err_t *e);
/* Loads the tensors of LAY by name into PARAMS and STATS; shapes must match. */
int rt_safetensors_read(const char *path, const nw_layout *lay, float *params, float *stats, err_t *e);
/* The same from N bytes in memory; PATH names them in messages. */
int rt_safetensors_parse(const char *b, size_t n, const nw_layout *lay, float *params, float *stats, const char *path,
                         err_t *e);

#endif
