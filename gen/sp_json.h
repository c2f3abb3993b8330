/* The compiled space's JSON form, with a format version (see sp_json.c). */
#ifndef PARSEC_SP_JSON_H
#define PARSEC_SP_JSON_H
#include "sp_space.h"

/* A malloc'd JSON text. */
char *sp_to_json(const sp_space *sp);
/* WHERE names the source in error messages. */
int sp_from_json(sp_space *sp, const char *text, const char *where, err_t *e);
/* SHA-256 of the space's IR without where it was read from (file names and
 * lines): one space has one hash, whichever file or bundle it came from.
 * -1 when out of memory. */
int sp_ir_sha256(const sp_space *sp, char out[65]);
int sp_load_json_file(sp_space *sp, const char *path, err_t *e);
/* A .lua file, a compiled directory, a space.json, or a bundled example's name. */
int sp_open(sp_space *sp, const char *arg, err_t *e);

#endif
