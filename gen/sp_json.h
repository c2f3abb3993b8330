/* The compiled space's JSON form, with a format version (see sp_json.c). */
#ifndef PARSEC_SP_JSON_H
#define PARSEC_SP_JSON_H
#include "sp_space.h"

/* A malloc'd JSON text. */
char *sp_to_json(const sp_space *sp);
/* WHERE names the source in error messages. */
int sp_from_json(sp_space *sp, const char *text, const char *where, err_t *e);
int sp_load_json_file(sp_space *sp, const char *path, err_t *e);
/* A .lua file, a compiled directory, a space.json, or a bundled example's name. */
int sp_open(sp_space *sp, const char *arg, err_t *e);

#endif
