/* The index of an image folder (rt_folder.h): directories walked in sorted
 * order, each candidate file's first bytes checked; the result kept in
 * DIR/.parsec-index (text: the directories walked with their modification
 * times, the counts, the classes, the images), used again while the class
 * directories are the same and no directory walked has changed. */
#include "rt_folder.h"
#include "io.h"
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

#define INDEX_NAME ".parsec-index"
#define INDEX_HEADER "parsec folder index 1\n"

/* the growing index, and the directories walked (for the cached copy) */
typedef struct {
  rt_folder *f;
  size_t len, cap;
  int pcap;
  int verbose;
  err_t *e;
  char *dirs; /* "D SEC NSEC PATH\n" lines, PATH relative to f->dir */
  size_t dlen, dcap;
  int uncachable; /* a name with a newline, a directory that cannot be stat'ed */
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

static void add_dir_line(builder *b, const char *path) {
  struct stat st;
  const char *rel = path + strlen(b->f->dir) + 1;
  size_t need = strlen(rel) + 64;
  if (strchr(rel, '\n') || stat(path, &st) != 0) {
    b->uncachable = 1;
    return;
  }
  if (b->dlen + need > b->dcap) {
    size_t cap = b->dcap ? 2 * b->dcap : 4096;
    while (b->dlen + need > cap) cap *= 2;
    char *w = realloc(b->dirs, cap);
    if (!w) {
      b->uncachable = 1;
      return;
    }
    b->dirs = w;
    b->dcap = cap;
  }
  b->dlen += (size_t)snprintf(b->dirs + b->dlen, b->dcap - b->dlen, "D %lld %ld %s\n", (long long)st.st_mtim.tv_sec,
                              (long)st.st_mtim.tv_nsec, rel);
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

static int add_path(builder *b, const char *path, int label) {
  rt_folder *f = b->f;
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
  return 0;
}

static int add_image(builder *b, const char *path, int label) {
  rt_folder *f = b->f;
  if (!looks_like_image(path)) {
    if (f->skipped++ == 0) snprintf(f->first_skipped, sizeof f->first_skipped, "%s", path);
    return 0;
  }
  if (add_path(b, path, label) != 0) return -1;
  if (b->verbose && f->n % 10000 == 0) {
    fprintf(stderr, "\rindexing %s: %d images", f->dir, f->n);
    fflush(stderr);
  }
  return 0;
}

/* every image below DIR, in sorted order, as class LABEL */
static int walk(builder *b, const char *dir, int label, int depth) {
  int n;
  add_dir_line(b, dir);
  char **v = list_dir(dir, &n);
  if (!v) return err_set(b->e, "%s: cannot list: %s", dir, strerror(errno));
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, v[i]) >= (int)sizeof path) continue;
    if (strchr(v[i], '\n')) b->uncachable = 1;
    if (is_dir(path)) {
      if (depth < 32) rc = walk(b, path, label, depth + 1);
    } else if (has_image_ext(v[i])) rc = add_image(b, path, label);
    else b->f->ignored++;
  }
  free_list(v, n);
  return rc;
}

/* DIR's class directories, sorted, and how many other entries it has (the
   index file aside); NULL on failure */
static char **class_dirs(const char *dir, int *n, int *others) {
  char **v = list_dir(dir, n);
  if (!v) return NULL;
  int k = 0;
  *others = 0;
  for (int i = 0; i < *n; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, v[i]);
    if (is_dir(path)) v[k++] = v[i];
    else {
      *others += strncmp(v[i], INDEX_NAME, strlen(INDEX_NAME)) != 0;
      free(v[i]);
    }
  }
  *n = k;
  return v;
}

/* one line of a cached index; 0 when it does not hold (stale or damaged) */
static int cached_line(builder *b, char *line, char **cls, int nc, int *k) {
  rt_folder *f = b->f;
  char full[4400];
  int at = 0;
  switch (line[0]) {
  case 'D': { /* a directory walked: unchanged since */
    long long sec;
    long nsec;
    struct stat st;
    if (sscanf(line, "D %lld %ld %n", &sec, &nsec, &at) != 2 || at == 0) return 0;
    snprintf(full, sizeof full, "%s/%s", f->dir, line + at);
    return stat(full, &st) == 0 && st.st_mtim.tv_sec == sec && st.st_mtim.tv_nsec == nsec;
  }
  case 'C': { /* the classes: the same, in the same order */
    if (*k >= nc || strcmp(line + 2, cls[*k]) != 0) return 0;
    long off = add_name(b, line + 2);
    if (off < 0) return 0;
    f->cls[(*k)++] = (size_t)off;
    return 1;
  }
  case 'S': return sscanf(line, "S %d %d", &f->skipped, &f->ignored) == 2;
  case 'F': snprintf(f->first_skipped, sizeof f->first_skipped, "%s", line + 2); return 1;
  case 'I': {
    int label = -1;
    if (sscanf(line, "I %d %n", &label, &at) != 1 || at == 0 || label < 0 || label >= *k) return 0;
    snprintf(full, sizeof full, "%s/%s", f->dir, line + at);
    return add_path(b, full, label) == 0;
  }
  default: return 0;
  }
}

/* F->dir's cached index, when it is still that folder's: 1 loaded, 0 not
   (absent, stale, damaged: F is left as it was) */
static int load_cached(builder *b, char **cls, int nc) {
  rt_folder *f = b->f;
  char path[4300];
  snprintf(path, sizeof path, "%s/" INDEX_NAME, f->dir);
  size_t len;
  err_t e = ERR_INIT;
  char *text = io_read_file(path, NULL, (size_t)1 << 30, &len, &e);
  err_clear(&e);
  if (!text) return 0;
  int ok = strncmp(text, INDEX_HEADER, strlen(INDEX_HEADER)) == 0, k = 0;
  for (char *line = text + strlen(INDEX_HEADER), *end; ok && *line; line = end + 1) {
    if (!(end = strchr(line, '\n'))) ok = 0;
    else *end = 0;
    ok = ok && cached_line(b, line, cls, nc, &k);
  }
  free(text);
  if (!ok || k != nc) { /* from nothing again */
    free(f->names), free(f->path), free(f->labels);
    f->names = NULL, f->path = NULL, f->labels = NULL;
    f->n = f->skipped = f->ignored = 0;
    f->first_skipped[0] = 0;
    b->len = b->cap = 0;
    b->pcap = 0;
    return 0;
  }
  f->nclasses = nc;
  f->cached = 1;
  return 1;
}

/* The index as F->dir/.parsec-index; nothing where it cannot be written (a
   read-only data set is indexed each time) */
static void save_cached(const builder *b) {
  const rt_folder *f = b->f;
  if (b->uncachable) return;
  size_t rel = strlen(f->dir) + 1, cap = strlen(INDEX_HEADER) + b->dlen + strlen(f->first_skipped) + 64;
  for (int k = 0; k < f->nclasses; k++) cap += strlen(rt_folder_class(f, k)) + 3;
  for (int i = 0; i < f->n; i++) cap += strlen(rt_folder_path(f, i)) - rel + 16;
  char *text = malloc(cap), path[4300];
  if (!text) return;
  size_t n = (size_t)snprintf(text, cap, "%s%.*sS %d %d\nF %s\n", INDEX_HEADER, (int)b->dlen, b->dirs ? b->dirs : "",
                              f->skipped, f->ignored, f->first_skipped);
  for (int k = 0; k < f->nclasses; k++) n += (size_t)snprintf(text + n, cap - n, "C %s\n", rt_folder_class(f, k));
  for (int i = 0; i < f->n; i++)
    n += (size_t)snprintf(text + n, cap - n, "I %d %s\n", f->labels[i], rt_folder_path(f, i) + rel);
  snprintf(path, sizeof path, "%s/" INDEX_NAME, f->dir);
  err_t e = ERR_INIT;
  io_write_text(path, text, &e);
  err_clear(&e);
  free(text);
}

/* walks every class directory of F->dir */
static int build(builder *b, char **cls, int nc, int others) {
  rt_folder *f = b->f;
  f->ignored = others;
  for (int i = 0; i < nc; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", f->dir, cls[i]);
    if (strchr(cls[i], '\n')) b->uncachable = 1;
    long at = add_name(b, cls[i]);
    if (at < 0) return -1;
    f->cls[f->nclasses] = (size_t)at;
    if (walk(b, path, f->nclasses++, 0) != 0) return -1;
  }
  if (b->verbose && f->n >= 10000) fprintf(stderr, "\rindexing %s: %d images\n", f->dir, f->n);
  return 0;
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
  int nc, others;
  char **cls = class_dirs(f->dir, &nc, &others);
  if (!cls) return err_set(e, "%s: cannot list: %s", f->dir, strerror(errno));
  builder b = {f, 0, 0, 0, verbose, e, NULL, 0, 0, 0};
  f->cls = malloc(sizeof *f->cls * (size_t)(nc + 1));
  int rc = f->cls ? 0 : err_set(e, "out of memory");
  if (rc == 0 && !load_cached(&b, cls, nc)) {
    rc = build(&b, cls, nc, others);
    if (rc == 0 && f->nclasses > 0 && f->n > 0) save_cached(&b);
  }
  free_list(cls, nc);
  free(b.dirs);
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
