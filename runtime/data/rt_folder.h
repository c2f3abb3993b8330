/* Image folders, the layout of torchvision's ImageFolder: DIR/<class>/...
 * (any depth below the class) holding .jpg, .jpeg and .png files, classes
 * numbered in the byte order of their names; or DIR/train/<class>/... with
 * DIR/val/<class>/... as the test split.  Only the index (paths and labels)
 * is held; images are decoded when a batch needs them.  The index is kept
 * in the split's DIR/.parsec-index where the folder is writable, and used
 * again until a directory in it changes (an image added, removed or
 * renamed; a class directory added or removed). */
#ifndef PARSEC_RT_FOLDER_H
#define PARSEC_RT_FOLDER_H
#include "err.h"
#include <stddef.h>
#include <stdint.h>

typedef struct rt_folder_s {
  char dir[4096]; /* the split's directory */
  int n, nclasses;
  char *names;         /* the paths and class names, NUL-separated */
  size_t *path, *cls;  /* offsets into names: image i's path, class k's name */
  int32_t *labels;
  int skipped;         /* .jpg/.jpeg/.png files that are not JPEG or PNG inside */
  int ignored;         /* files of other extensions */
  char first_skipped[512];
  long staged;         /* images decoded (or tried) so far */
  long unreadable;     /* of which failed to decode */
  char first_unreadable[512];
  int cached;          /* the index came from DIR/.parsec-index */
} rt_folder;

/* The most files of a split that may be skipped as not images: beyond
   this share the data set is refused. */
#define RT_FOLDER_MAX_SKIPPED 0.01

/* Whether DIR holds a train/ and a val/ split. */
int rt_folder_has_splits(const char *dir);
/* Indexes DIR (TEST: its val/ split; else its train/ split, or DIR itself
   without splits), saying how far it got on stderr when VERBOSE. */
int rt_folder_open(rt_folder *f, const char *dir, int test, int verbose, err_t *e);
void rt_folder_free(rt_folder *f);
static inline const char *rt_folder_path(const rt_folder *f, int i) { return f->names + f->path[i]; }
static inline const char *rt_folder_class(const rt_folder *f, int k) { return f->names + f->cls[k]; }

#endif
