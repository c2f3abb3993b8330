/* Small file helpers for run directories. */
#ifndef PARSEC_RT_FILES_H
#define PARSEC_RT_FILES_H
#include "err.h"
#include <stddef.h>

/* Writes TEXT to PATH through a temporary file and a rename. */
int rt_write_text(const char *path, const char *text, err_t *e);
/* Appends one line (with its newline) and flushes it to disk. */
int rt_append_line(const char *path, const char *line, err_t *e);
/* mkdir -p (mode 0755). */
int rt_mkdirs(const char *path, err_t *e);
/* mkdir -p with the mode of the directories it creates. */
int rt_mkdirs_mode(const char *path, unsigned mode, err_t *e);
/* The file's contents, malloc'd and NUL-terminated. */
char *rt_read_text(const char *path, size_t *len, err_t *e);
/* Renders a DOT file to SVG with Graphviz's `dot` when it is installed;
 * returns 1 when it rendered, 0 when `dot` is absent. */
int rt_render_svg(const char *dot_path, const char *svg_path);

#endif
