#include "rt_cache.h"
#include "cg_kernel.h"
#include "io.h"
#include "sha.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

struct rt_cache {
  rt_compiler comp;
  char *target, *identity, *ext;
  char dir[PATH_MAX];
  int temporary;
  rt_cache_stats stats;
  pthread_mutex_t mu;
};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int rt_cache_root(char *buf, size_t cap, err_t *e) {
  const char *d = getenv("PARSEC_CACHE_DIR");
  if (d && *d) {
    snprintf(buf, cap, "%s", d);
    return 0;
  }
  const char *x = getenv("XDG_CACHE_HOME");
  if (x && *x) {
    snprintf(buf, cap, "%s/parsec", x);
    return 0;
  }
  const char *h = getenv("HOME");
  if (!h || !*h) return err_set(e, "no cache directory: set PARSEC_CACHE_DIR (HOME is not set)");
  snprintf(buf, cap, "%s/.cache/parsec", h);
  return 0;
}

/* The cache holds code that is loaded and run: it must be ours and private. */
static int check_dir(const char *dir, err_t *e) {
  struct stat st;
  if (stat(dir, &st) != 0) return err_set(e, "%s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return err_set(e, "%s is not a directory", dir);
  if (st.st_uid != getuid()) return err_set(e, "%s belongs to another user (uid %u)", dir, (unsigned)st.st_uid);
  if (st.st_mode & 022) return err_set(e, "%s is writable by others (mode %03o)", dir, (unsigned)(st.st_mode & 0777));
  if (access(dir, W_OK | X_OK) != 0) return err_set(e, "%s is not writable: %s", dir, strerror(errno));
  return 0;
}

static void rm_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
      char p[PATH_MAX];
      snprintf(p, sizeof p, "%s/%s", path, de->d_name);
      struct stat st;
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(p);
      else unlink(p);
    }
    closedir(d);
  }
  rmdir(path);
}

/* Temporary caches are named by their process: what a process killed with
 * SIGKILL left behind is removed by the next one. */
static void sweep_dead(const char *tmpdir) {
  DIR *d = opendir(tmpdir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    long pid;
    char rest[32];
    if (sscanf(de->d_name, "parsec-cache-%ld-%31s", &pid, rest) != 2 || pid <= 0) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()) rm_tree(p);
  }
  closedir(d);
}

static int make_temporary(rt_cache *c, err_t *e) {
  const char *t = getenv("TMPDIR");
  sweep_dead(t && *t ? t : "/tmp");
  snprintf(c->dir, sizeof c->dir, "%s/parsec-cache-%ld-XXXXXX", t && *t ? t : "/tmp", (long)getpid());
  if (!mkdtemp(c->dir)) return err_set(e, "cannot create a temporary kernel directory: %s", strerror(errno));
  c->temporary = 1;
  return 0;
}

typedef struct {
  time_t mtime;
  off_t size;
  char path[PATH_MAX];
} entry;

/* ---------- what the cache wrote ---------- */

/* The tag that marks the root as a cache (bford.info/cachedir): backup
 * tools skip the directory, and `cache clear` knows it is ours. */
#define TAG_NAME "CACHEDIR.TAG"
static const char tag_text[] = "Signature: 8a477f597d28d172789f06886806bc55\n"
                               "# This is a parsec kernel cache: parsec-run cache clear empties it.\n";

static int all_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* A target's directory: "cpu", "cuda-sm_90", "cuda-compute_90". */
static int is_target_dir(const char *name) {
  if (strcmp(name, "cpu") == 0) return 1;
  const char *arch = strncmp(name, "cuda-sm_", 8) == 0 ? name + 8 : strncmp(name, "cuda-compute_", 13) == 0 ? name + 13 : NULL;
  return arch && *arch && strspn(arch, "0123456789abcdefghijklmnopqrstuvwxyz") == strlen(arch);
}

/* A file of entry KEY in directory XX: the key's first two hex digits name
 * the directory; an entry is KEY.so or KEY.cubin, its checksum KEY.sha256,
 * its lock KEY.lock, a compile in progress KEY.tmpPID.so (its source
 * KEY.tmpPID.so.c) or KEY.tmpPID.cubin. */
static int is_entry_file(const char *xx, const char *name) {
  if (strlen(name) < 64 + 3 || !all_hex(name, 64) || strncmp(name, xx, 2) != 0) return 0;
  const char *rest = name + 64;
  if (!strcmp(rest, ".so") || !strcmp(rest, ".cubin") || !strcmp(rest, ".sha256") || !strcmp(rest, ".lock")) return 1;
  if (strncmp(rest, ".sha256.", 8) == 0) { /* the checksum being written: KEY.sha256.PID.tmp */
    rest += 8 + strspn(rest + 8, "0123456789");
    return !strcmp(rest, ".tmp");
  }
  if (strncmp(rest, ".tmp", 4) != 0) return 0;
  rest += 4 + strspn(rest + 4, "0123456789");
  return !strcmp(rest, ".so") || !strcmp(rest, ".cubin") || !strcmp(rest, ".so.c");
}

/* Visits the files the cache wrote under a target directory
 * (target/xx/file), and nothing else. */
typedef void (*visit_fn)(void *ud, const char *path, const char *name, const struct stat *st);
static void walk_target(const char *dir, visit_fn fn, void *ud) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strlen(de->d_name) != 2 || !all_hex(de->d_name, 2)) continue;
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
    DIR *s = opendir(sub);
    if (!s) continue;
    struct dirent *fe;
    while ((fe = readdir(s)) != NULL) {
      if (!is_entry_file(de->d_name, fe->d_name)) continue;
      char p[PATH_MAX];
      snprintf(p, sizeof p, "%s/%s", sub, fe->d_name);
      struct stat st;
      if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) fn(ud, p, fe->d_name, &st);
    }
    closedir(s);
  }
  closedir(d);
}

/* The same over every target directory of a root. */
static void walk(const char *root, visit_fn fn, void *ud) {
  DIR *d = opendir(root);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!is_target_dir(de->d_name)) continue;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", root, de->d_name);
    walk_target(p, fn, ud);
  }
  closedir(d);
}

/* Whether ROOT holds only what a cache holds (target directories and the
 * tag); *foreign names the first thing that is not. */
static int only_cache(const char *root, char *foreign, size_t cap) {
  DIR *d = opendir(root);
  if (!d) return 1;
  struct dirent *de;
  int ok = 1;
  while (ok && (de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, TAG_NAME)) continue;
    if (!is_target_dir(de->d_name)) {
      snprintf(foreign, cap, "%s", de->d_name);
      ok = 0;
    }
  }
  closedir(d);
  return ok;
}

/* Marks ROOT as a cache, when nothing but a cache lives there (a cache set
 * to a directory of other files, $HOME say, is never tagged: backup tools
 * would skip all of it). */
static void tag(const char *root) {
  char path[PATH_MAX], foreign[256];
  snprintf(path, sizeof path, "%s/%s", root, TAG_NAME);
  if (access(path, F_OK) == 0 || !only_cache(root, foreign, sizeof foreign)) return;
  err_t e = ERR_INIT;
  io_write_text(path, tag_text, &e);
  err_clear(&e);
}

typedef struct {
  entry *v;
  long n, cap;
  long long bytes;
} entries;

static void collect(void *ud, const char *path, const char *name, const struct stat *st) {
  entries *es = ud;
  es->bytes += st->st_size;
  if (es->n == es->cap) {
    long cap = es->cap ? 2 * es->cap : 256;
    entry *v = realloc(es->v, (size_t)cap * sizeof *v);
    if (!v) return;
    es->v = v;
    es->cap = cap;
  }
  entry *en = &es->v[es->n++];
  en->mtime = st->st_mtime;
  en->size = st->st_size;
  snprintf(en->path, sizeof en->path, "%s", path);
}

static int by_age(const void *a, const void *b) {
  const entry *x = a, *y = b;
  return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Keeps the cache under its cap, removing the least recently used first. */
/* A compile's temporary file (KEY.tmpPID...) whose process is gone: a
 * process killed with SIGKILL leaves it; the next one removes it. */
static int dead_temp(const char *path) {
  const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path, *t = name + 64;
  long pid = 0;
  if (strncmp(t, ".tmp", 4) == 0 && isdigit((unsigned char)t[4])) pid = strtol(t + 4, NULL, 10); /* KEY.tmpPID.so */
  else if (strncmp(t, ".sha256.", 8) == 0 && isdigit((unsigned char)t[8])) pid = strtol(t + 8, NULL, 10); /* KEY.sha256.PID.tmp */
  return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* $PARSEC_CACHE_MAX_MB (a whole number of MiB), else 1024. */
static long long cap_bytes(void) {
  const char *m = getenv("PARSEC_CACHE_MAX_MB");
  char *end;
  long long v = m ? strtoll(m, &end, 10) : 0;
  if (!m || end == m || *end || v <= 0 || v > (1LL << 30)) {
    if (m) fprintf(stderr, "parsec: warning: PARSEC_CACHE_MAX_MB='%s' is not a whole number of MiB; using 1024\n", m);
    v = 1024;
  }
  return v << 20;
}

/* Keeps the cache under its cap, removing the least recently used first,
 * and what dead compiles left behind. */
static void prune(const char *dir) {
  long long cap = cap_bytes();
  entries es = {0};
  walk_target(dir, collect, &es);
  for (long i = 0; i < es.n; i++)
    if (dead_temp(es.v[i].path) && unlink(es.v[i].path) == 0) es.bytes -= es.v[i].size;
  if (es.bytes > cap) {
    qsort(es.v, (size_t)es.n, sizeof *es.v, by_age);
    for (long i = 0; i < es.n && es.bytes > cap * 9 / 10; i++) {
      if (strstr(es.v[i].path, ".lock")) continue;
      if (unlink(es.v[i].path) == 0) es.bytes -= es.v[i].size;
    }
  }
  free(es.v);
}

int rt_cache_open(rt_cache **out, const rt_compiler *comp, err_t *e) {
  rt_cache *c = calloc(1, sizeof *c);
  if (!c) return err_set(e, "out of memory");
  c->comp = *comp;
  c->target = strdup(comp->target);
  c->identity = strdup(comp->identity);
  c->ext = strdup(comp->ext);
  pthread_mutex_init(&c->mu, NULL);
  const char *off = getenv("PARSEC_CACHE");
  if (off && (strcmp(off, "off") == 0 || strcmp(off, "0") == 0)) {
    if (make_temporary(c, e) != 0) goto fail;
  } else {
    char root[PATH_MAX];
    err_t why = ERR_INIT;
    if (rt_cache_root(root, sizeof root, e) != 0) goto fail;
    if (strlen(root) > PATH_MAX - 256) {
      err_set(e, "kernel cache directory path too long: %.80s...", root);
      goto fail;
    }
    snprintf(c->dir, sizeof c->dir, "%s/%s", root, comp->target);
    if (io_mkdirs_mode(c->dir, 0700, &why) != 0 || check_dir(root, &why) != 0 || check_dir(c->dir, &why) != 0) {
      char was[PATH_MAX];
      snprintf(was, sizeof was, "%s", c->dir);
      if (make_temporary(c, e) != 0) {
        err_clear(&why);
        goto fail;
      }
      fprintf(stderr,
              "parsec: warning: cannot use the kernel cache %s (%s); using the temporary cache %s for this run "
              "(set PARSEC_CACHE_DIR to a private, writable directory to keep compiled kernels)\n",
              was, err_msg(&why), c->dir);
      err_clear(&why);
    } else {
      prune(c->dir);
      tag(root);
    }
  }
  *out = c;
  return 0;
fail:
  rt_cache_close(c);
  return -1;
}

void rt_cache_close(rt_cache *c) {
  if (!c) return;
  if (c->temporary && c->dir[0]) rm_tree(c->dir);
  free(c->target);
  free(c->identity);
  free(c->ext);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

const char *rt_cache_dir(const rt_cache *c) { return c->dir; }
int rt_cache_is_temporary(const rt_cache *c) { return c->temporary; }
rt_cache_stats *rt_cache_stats_of(rt_cache *c) { return &c->stats; }

static void key_of(const rt_cache *c, const char *src, char key[SHA256_HEX]) {
  const void *parts[4] = {cg_generator_version, c->target, src, c->identity};
  size_t lens[4] = {strlen(cg_generator_version), strlen(c->target), strlen(src), strlen(c->identity)};
  sha256_parts(parts, lens, 4, key);
}

static void entry_path(const rt_cache *c, const char *key, const char *suffix, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%.2s/%s%s", c->dir, key, key, suffix);
}

/* 1: a valid entry; 0: none; a corrupt or foreign entry is removed (0). */
static int entry_valid(rt_cache *c, const char *key) {
  char path[PATH_MAX], sum[PATH_MAX];
  entry_path(c, key, c->ext, path, sizeof path);
  entry_path(c, key, ".sha256", sum, sizeof sum);
  struct stat st;
  if (lstat(path, &st) != 0) return 0;
  if (!S_ISREG(st.st_mode) || st.st_uid != getuid()) {
    /* a directory, a FIFO or a link where an entry belongs, or a file of
       someone else's: never loaded, never waited on; removed, so the
       entry is compiled again in its place */
    fprintf(stderr, "parsec: warning: kernel cache entry %s is not a regular file of yours; replacing it\n", path);
    if (S_ISDIR(st.st_mode)) rm_tree(path);
    else unlink(path);
    return 0;
  }
  char got[SHA256_HEX];
  char *want = io_read_file(sum, NULL, 256, NULL, NULL); /* a regular file, bounded: a FIFO cannot hang us */
  if (!want || sha256_file(path, got) != 0 || strncmp(want, got, SHA256_HEX - 1) != 0) {
    free(want);
    want = NULL;
    if (lstat(sum, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(sum);
    fprintf(stderr, "parsec: warning: kernel cache entry %s failed its checksum (truncated or altered); "
                    "recompiling it\n", path);
    unlink(path);
    unlink(sum);
    pthread_mutex_lock(&c->mu);
    c->stats.corrupt++;
    pthread_mutex_unlock(&c->mu);
    return 0;
  }
  free(want);
  utimensat(AT_FDCWD, path, NULL, 0); /* recently used: pruned last */
  return 1;
}

int rt_cache_evict(rt_cache *c, const char *src) {
  char key[SHA256_HEX], path[PATH_MAX], sum[PATH_MAX];
  key_of(c, src, key);
  entry_path(c, key, c->ext, path, sizeof path);
  entry_path(c, key, ".sha256", sum, sizeof sum);
  pthread_mutex_lock(&c->mu);
  c->stats.corrupt++;
  pthread_mutex_unlock(&c->mu);
  return unlink(path) == 0 && unlink(sum) == 0 ? 0 : -1;
}

/* Compiles one missing key under its lock. */
static int fill(rt_cache *c, const char *key, const char *src, err_t *e) {
  char path[PATH_MAX], lock[PATH_MAX], sub[PATH_MAX], tmp[PATH_MAX + 32], sum[PATH_MAX];
  snprintf(sub, sizeof sub, "%s/%.2s", c->dir, key);
  if (mkdir(sub, 0700) != 0 && errno != EEXIST) return err_set(e, "%s: cannot create: %s", sub, strerror(errno));
  entry_path(c, key, c->ext, path, sizeof path);
  entry_path(c, key, ".lock", lock, sizeof lock);
  entry_path(c, key, ".sha256", sum, sizeof sum);
  int fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return err_set(e, "%s: cannot open the lock: %s", lock, strerror(errno));
  int rc = 0;
  if (flock(fd, LOCK_EX) != 0) {
    rc = err_set(e, "%s: cannot lock: %s", lock, strerror(errno));
  } else if (!entry_valid(c, key)) { /* another process may have filled it meanwhile */
    snprintf(tmp, sizeof tmp, "%s/%.2s/%s.tmp%d%s", c->dir, key, key, (int)getpid(), c->ext);
    double t0 = now_s();
    rc = c->comp.compile(c->comp.ctx, src, tmp, e);
    double dt = now_s() - t0;
    char digest[SHA256_HEX];
    if (rc == 0 && sha256_file(tmp, digest) != 0) rc = err_set(e, "%s: cannot read the compiled kernel", tmp);
    if (rc == 0) rc = io_write_text(sum, digest, e);
    if (rc == 0 && rename(tmp, path) != 0) rc = err_set(e, "%s: cannot store: %s", path, strerror(errno));
    if (rc != 0) unlink(tmp);
    pthread_mutex_lock(&c->mu);
    c->stats.misses++;
    c->stats.compile_seconds += dt;
    pthread_mutex_unlock(&c->mu);
  } else {
    pthread_mutex_lock(&c->mu);
    c->stats.disk_hits++;
    pthread_mutex_unlock(&c->mu);
  }
  flock(fd, LOCK_UN);
  close(fd);
  return rc;
}

typedef struct {
  rt_cache *c;
  const char *const *srcs;
  char (*keys)[SHA256_HEX];
  int *todo;
  int ntodo;
  int next;
  err_t *errs;
  pthread_mutex_t mu;
} job;

static void *worker(void *arg) {
  job *j = arg;
  for (;;) {
    pthread_mutex_lock(&j->mu);
    int t = j->next < j->ntodo ? j->todo[j->next++] : -1;
    pthread_mutex_unlock(&j->mu);
    if (t < 0) return NULL;
    fill(j->c, j->keys[t], j->srcs[t], &j->errs[t]);
  }
}

int rt_cache_get(rt_cache *c, const char *const *srcs, int n, char **paths, err_t *e) {
  char (*keys)[SHA256_HEX] = calloc((size_t)n, sizeof *keys);
  int *todo = calloc((size_t)n, sizeof *todo);
  err_t *errs = calloc((size_t)n, sizeof *errs);
  if (!keys || !todo || !errs) {
    free(keys);
    free(todo);
    free(errs);
    return err_set(e, "out of memory");
  }
  int ntodo = 0;
  for (int i = 0; i < n; i++) {
    key_of(c, srcs[i], keys[i]);
    int dup = 0;
    for (int k = 0; k < ntodo && !dup; k++) dup = strcmp(keys[todo[k]], keys[i]) == 0;
    if (dup) continue;
    if (entry_valid(c, keys[i])) c->stats.disk_hits++;
    else todo[ntodo++] = i;
  }
  int rc = 0;
  if (ntodo > 0) {
    int jobs = c->comp.jobs > 0 ? c->comp.jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (jobs < 1) jobs = 1;
    if (jobs > ntodo) jobs = ntodo;
    if (jobs > 32) jobs = 32;
    job j = {c, srcs, keys, todo, ntodo, 0, errs, PTHREAD_MUTEX_INITIALIZER};
    pthread_t th[32];
    int started = 0;
    for (int i = 1; i < jobs; i++)
      if (pthread_create(&th[started], NULL, worker, &j) == 0) started++;
    worker(&j);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    for (int k = 0; k < ntodo && rc == 0; k++)
      if (errs[todo[k]].msg) rc = err_set(e, "%s", errs[todo[k]].msg);
  }
  for (int i = 0; i < n && rc == 0; i++) {
    char p[PATH_MAX];
    entry_path(c, keys[i], c->ext, p, sizeof p);
    paths[i] = strdup(p);
    if (!paths[i]) rc = err_set(e, "out of memory");
  }
  for (int i = 0; i < n; i++) err_clear(&errs[i]);
  free(keys);
  free(todo);
  free(errs);
  return rc;
}

typedef struct {
  long entries;
  long long bytes;
  long removed;
  int remove;
} usage;

static int is_compiled(const char *name) {
  size_t n = strlen(name);
  return (n > 3 && strcmp(name + n - 3, ".so") == 0 && !strstr(name, ".tmp")) ||
         (n > 6 && strcmp(name + n - 6, ".cubin") == 0 && !strstr(name, ".tmp"));
}

static void count(void *ud, const char *path, const char *name, const struct stat *st) {
  usage *u = ud;
  if (u->remove) {
    if (unlink(path) == 0 && is_compiled(name)) u->removed++;
    return;
  }
  u->bytes += st->st_size;
  if (is_compiled(name)) u->entries++;
}

int rt_cache_usage(const char *root, long *entries, long long *bytes, err_t *e) {
  usage u = {0};
  struct stat st;
  if (stat(root, &st) == 0 && check_dir(root, e) != 0) return -1;
  walk(root, count, &u);
  *entries = u.entries;
  *bytes = u.bytes;
  return 0;
}

/* The emptied two-hex and target directories go too. */
static void remove_empty_dirs(const char *root) {
  DIR *d = opendir(root);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!is_target_dir(de->d_name)) continue;
    char t[PATH_MAX];
    snprintf(t, sizeof t, "%s/%s", root, de->d_name);
    DIR *s = opendir(t);
    struct dirent *xe;
    while (s && (xe = readdir(s)) != NULL) {
      if (strlen(xe->d_name) != 2 || !all_hex(xe->d_name, 2)) continue;
      char x[PATH_MAX];
      snprintf(x, sizeof x, "%s/%s", t, xe->d_name);
      rmdir(x); /* fails, harmlessly, where anything else was left */
    }
    if (s) closedir(s);
    rmdir(t);
  }
  closedir(d);
}

int rt_cache_clear(const char *root, long *removed, err_t *e) {
  struct stat st;
  *removed = 0;
  if (stat(root, &st) != 0) return 0;
  if (check_dir(root, e) != 0) return -1;
  /* a tagged root is ours (the tag is written only where nothing else
     lived); an untagged one must hold nothing but a cache's directories */
  char foreign[256] = "", tagpath[PATH_MAX];
  snprintf(tagpath, sizeof tagpath, "%s/%s", root, TAG_NAME);
  if (access(tagpath, F_OK) != 0 && !only_cache(root, foreign, sizeof foreign))
    return err_set(e,
                   "%s does not look like a parsec kernel cache: it holds '%s', which parsec did not write; nothing was "
                   "removed (point PARSEC_CACHE_DIR at a directory of its own)",
                   root, foreign);
  usage u = {0};
  u.remove = 1;
  walk(root, count, &u);
  remove_empty_dirs(root);
  *removed = u.removed;
  return 0;
}
