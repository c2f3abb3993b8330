/* Files and processes: reading a whole file (bounded), writing one whole
 * through a temporary file and a rename, appending a line, making
 * directories, and running a program for its output.  Every reader and writer
 * of the project goes through these, so a limit or a safety rule is set in
 * one place. */
#ifndef PARSEC_IO_H
#define PARSEC_IO_H
#include "err.h"
#include <stddef.h>

/* A descriptor of PATH for reading, refused (with a message naming WHAT,
 * or NULL) when it is not a regular file: a FIFO would block, a device
 * such as /dev/zero never ends. */
int io_open_regular(const char *path, const char *what, err_t *e);

/* The file's contents, malloc'd and NUL-terminated (*len, when given, the
 * bytes without the NUL).  MAX bounds the size: a larger file, or one that is
 * not a regular file (a FIFO, a device, a directory), is refused with a
 * message naming it, before anything is read into memory.  WHAT (or NULL)
 * names the file in messages: "PATH: cannot open the checkpoint: ...". */
char *io_read_file(const char *path, const char *what, size_t max, size_t *len, err_t *e);
/* The bound the project's own text files (spaces, genotypes, logs,
 * distributions) are read under. */
#define IO_TEXT_MAX ((size_t)64 << 20)

/* One piece of a file to write. */
typedef struct {
  const void *data;
  size_t len;
} io_part;

/* Writes the N parts to PATH through a temporary file beside it and a rename,
 * so a reader sees the old file or the whole new one; SYNC flushes the data
 * to disk before the rename (files that a resume relies on). */
int io_write_parts(const char *path, const io_part *parts, int n, int sync, err_t *e);
/* The same for one text. */
int io_write_text(const char *path, const char *text, err_t *e);
/* Appends one line (with its newline) and flushes it to disk. */
int io_append_line(const char *path, const char *line, err_t *e);
/* mkdir -p (mode 0755). */
int io_mkdirs(const char *path, err_t *e);
/* mkdir -p with the mode of the directories it creates. */
int io_mkdirs_mode(const char *path, unsigned mode, err_t *e);

/* Runs ARGV (searching PATH) with stdin from /dev/null, collecting stdout and
 * stderr into *output (malloc'd, when OUTPUT is not NULL); *status: the exit
 * status, 128 + the signal when it was killed.  -1 only when it could not be
 * started. */
int io_spawn(char *const argv[], char **output, int *status, err_t *e);

#endif
