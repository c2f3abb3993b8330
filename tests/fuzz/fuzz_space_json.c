/* A compiled space (space.json): the reader and the validation behind it. */
#include "fuzz.h"
#include "sp_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text(data, size);
  sp_space sp;
  err_t e = ERR_INIT;
  if (sp_from_json(&sp, text, "fuzz.json", &e) == 0) sp_free(&sp);
  err_clear(&e);
  free(text);
  return 0;
}
