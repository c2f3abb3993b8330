/* The index of an image folder (rt_folder.h): directories walked in sorted
 * order, each candidate file's first bytes checked. */
#include "rt_folder.h"
#include "rt_image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int rt_folder_has_splits(const char *dir) {
  char a[4200], b[4200];
  snprintf(a, sizeof a, "%s/train", dir);
  snprintf(b, sizeof b, "%s/val", dir);
  return is_dir(a) && is_dir(b);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* DIR's entries but . and .., sorted; NULL on failure (errno set) */
static char **list_dir(const char *dir, int *n) {
  DIR *d = opendir(dir);
  if (!d) return NULL;
  char **v = NULL;
  int cap = 0;
  *n = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (*n == cap) {
      char **w = realloc(v, sizeof *v * (size_t)(cap = cap ? 2 * cap : 64));
      if (!w) break;
      v = w;
    }
    if (!(v[*n] = strdup(de->d_name))) break;
    (*n)++;
  }
  closedir(d);
  if (*n > 0) qsort(v, (size_t)*n, sizeof *v, cmp_str);
  if (!v) v = calloc(1, sizeof *v);
  return v;
}

static void free_list(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* the growing index */
typedef struct {
  rt_folder *f;
  size_t len, cap;
  int npath, pcap;
  int verbose;
  err_t *e;
} builder;

static long add_name(builder *b, const char *s) {
  size_t k = strlen(s) + 1;
  if (b->len + k > b->cap) {
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (b->len + k > cap) cap *= 2;
    char *w = realloc(b->f->names, cap);
    if (!w) return err_set(b->e, "out of memory indexing %s", b->f->dir);
    b->f->names = w;
    b->cap = cap;
  }
  memcpy(b->f->names + b->len, s, k);
  b->len += k;
  return (long)(b->len - k);
}

static int has_image_ext(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0);
}

/* whether PATH starts as a JPEG or a PNG does */
static int looks_like_image(const char *path) {
  uint8_t head[8] = {0};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t got = read(fd, head, sizeof head);
  close(fd);
  return got > 0 && rt_image_sniff(head, (size_t)got) != RT_IMAGE_NONE;
}

static int add_image(builder *b, const char *path, int label) {
  rt_folder *f = b->f;
  if (!looks_like_image(path)) {
    if (f->skipped++ == 0) snprintf(f->first_skipped, sizeof f->first_skipped, "%s", path);
    return 0;
  }
  if (f->n == b->pcap) {
    int cap = b->pcap ? 2 * b->pcap : 1024;
    size_t *p = realloc(f->path, sizeof *p * (size_t)cap);
    if (p) f->path = p;
    int32_t *l = realloc(f->labels, sizeof *l * (size_t)cap);
    if (l) f->labels = l;
    if (!p || !l) return err_set(b->e, "out of memory indexing %s", f->dir);
    b->pcap = cap;
  }
  long at = add_name(b, path);
  if (at < 0) return -1;
  f->path[f->n] = (size_t)at;
  f->labels[f->n++] = label;
  if (b->verbose && f->n % 10000 == 0) {
    fprintf(stderr, "\rindexing %s: %d images", f->dir, f->n);
    fflush(stderr);
  }
  return 0;
}

/* every image below DIR, in sorted order, as class LABEL */
static int walk(builder *b, const char *dir, int label, int depth) {
  int n;
  char **v = list_dir(dir, &n);
  if (!v) return err_set(b->e, "%s: cannot list: %s", dir, strerror(errno));
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, v[i]) >= (int)sizeof path) continue;
    if (is_dir(path)) {
      if (depth < 32) rc = walk(b, path, label, depth + 1);
    } else if (has_image_ext(v[i])) rc = add_image(b, path, label);
    else b->f->ignored++;
  }
  free_list(v, n);
  return rc;
}

int rt_folder_open(rt_folder *f, const char *dir, int test, int verbose, err_t *e) {
  memset(f, 0, sizeof *f);
  int split = rt_folder_has_splits(dir);
  if (test && !split)
    return err_set(e, "folder:%s has no test split: give DIR/train/<class>/... and DIR/val/<class>/..., or the test "
                      "images with --test-data folder:OTHER",
                   dir);
  snprintf(f->dir, sizeof f->dir, "%s%s", dir, split ? (test ? "/val" : "/train") : "");
  if (!is_dir(f->dir)) return err_set(e, "folder:%s: not a directory", dir);
  int nc;
  char **v = list_dir(f->dir, &nc);
  if (!v) return err_set(e, "%s: cannot list: %s", f->dir, strerror(errno));
  builder b = {f, 0, 0, 0, 0, verbose, e};
  f->cls = malloc(sizeof *f->cls * (size_t)(nc + 1));
  int rc = f->cls ? 0 : err_set(e, "out of memory");
  for (int i = 0; i < nc && rc == 0; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", f->dir, v[i]);
    if (!is_dir(path)) {
      f->ignored++;
      continue;
    }
    long at = add_name(&b, v[i]);
    if (at < 0) rc = -1;
    else {
      f->cls[f->nclasses] = (size_t)at;
      rc = walk(&b, path, f->nclasses++, 0);
    }
  }
  free_list(v, nc);
  if (verbose && f->n >= 10000) fprintf(stderr, "\rindexing %s: %d images\n", f->dir, f->n);
  if (rc == 0 && f->nclasses == 0)
    rc = err_set(e, "folder:%s: no class directories in %s (expected %s/<class>/*.jpg|jpeg|png)", dir, f->dir, f->dir);
  else if (rc == 0 && f->n == 0)
    rc = err_set(e, "folder:%s: no .jpg, .jpeg or .png images below %s", dir, f->dir);
  else if (rc == 0 && f->skipped > 10 && f->skipped > RT_FOLDER_MAX_SKIPPED * (f->n + f->skipped))
    rc = err_set(e, "folder:%s: %d of %d image files are neither JPEG nor PNG inside (the first: %s); at most %g%% may be",
                 dir, f->skipped, f->n + f->skipped, f->first_skipped, 100 * RT_FOLDER_MAX_SKIPPED);
  if (rc != 0) rt_folder_free(f);
  return rc;
}

void rt_folder_free(rt_folder *f) {
  free(f->names);
  free(f->path);
  free(f->cls);
  free(f->labels);
  memset(f, 0, sizeof *f);
}
