/* Files carried inside the binaries (Lua prelude, kernel templates, examples),
 * so an installed tool needs no source tree. */
#ifndef PARSEC_EMBED_H
#define PARSEC_EMBED_H
#include <stddef.h>

typedef struct {
  const char *path; /* relative to the source root, e.g. "examples/small.lua" */
  const char *data; /* NUL-terminated */
  size_t len;
} em_file;

extern const em_file em_files[]; /* ends with a {0, 0, 0} entry */

/* The embedded file at PATH, or NULL. */
const em_file *em_find(const char *path);

#endif
