/* A genotype in DARTS's text form, for the DARTS space. */
#include "fuzz.h"
#include "gt_genotype.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sp_space sp;
  static int ready;
  err_t e = ERR_INIT;
  if (!ready && sp_load_example(&sp, "darts", &e) != 0) abort();
  ready = 1;
  char *text = fuzz_text(data, size);
  gt_genotype g;
  if (gt_parse(&sp, text, &g, "fuzz.txt", &e) == 0) free(gt_to_text(&sp, &g));
  err_clear(&e);
  free(text);
  return 0;
}
