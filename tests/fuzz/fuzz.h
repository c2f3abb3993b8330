/* Fuzz targets for every reader of outside bytes.  Each file defines
 * LLVMFuzzerTestOneInput: built with clang's libFuzzer it explores
 * (bench/fuzz.sh), built with replay.c it runs a corpus once (the test
 * suite, under the sanitizers in CI).  A target must not crash, leak, hang
 * or read out of bounds on any input; a refusal is the expected answer to
 * most. */
#ifndef PARSEC_FUZZ_H
#define PARSEC_FUZZ_H
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* DATA as a NUL-terminated string (malloc'd). */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = 0;
  return s;
}

#endif
