/* safetensors weights, read for a small network's layout. */
#include "fuzz.h"
#include "rt_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static nw_tensor t[3] = {
      {"conv.weight", NW_PARAM, 2, {2, 3}, 6, 0},
      {"bn.running_mean", NW_STAT, 1, {3}, 3, 0},
      {"bn.running_var", NW_STAT, 1, {3}, 3, 3},
  };
  nw_layout lay;
  memset(&lay, 0, sizeof lay);
  lay.t = t;
  lay.n = 3;
  lay.nparams = 6;
  lay.nstats = 6;
  float params[6], stats[6];
  err_t e = ERR_INIT;
  rt_safetensors_parse((const char *)data, size, &lay, params, stats, "weights.safetensors", &e);
  err_clear(&e);
  return 0;
}
