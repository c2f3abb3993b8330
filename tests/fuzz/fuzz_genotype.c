/* A genotype in DARTS's text forms, for the DARTS space: alone, and picked
 * by name from a file of several (the name DARTS, aliases followed). */
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
  if (gt_parse_named(&sp, text, "DARTS", &g, "fuzz.txt", &e) == 0) free(gt_to_text(&sp, &g));
  err_clear(&e);
  free(text);
  return 0;
}
