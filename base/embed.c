#include "embed.h"
#include <string.h>

const em_file *em_find(const char *path) {
  for (const em_file *f = em_files; f->path; f++)
    if (strcmp(f->path, path) == 0) return f;
  return NULL;
}
