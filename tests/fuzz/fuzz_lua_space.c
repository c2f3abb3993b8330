/* A space file: Lua source through the sandbox, with its time, instruction
 * and memory limits, and the validation of what it returns. */
#include "fuzz.h"
#include "sp_space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text(data, size);
  sp_space sp;
  err_t e = ERR_INIT;
  if (sp_load_string(&sp, "fuzz.lua", text, &e) == 0) sp_free(&sp);
  err_clear(&e);
  free(text);
  return 0;
}
