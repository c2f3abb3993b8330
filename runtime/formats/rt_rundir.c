#include "rt_rundir.h"
#include "io.h"
#include "rt_ckpt.h"
#include "sp_json.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME ".parsec.lock"

/* The files a job writes: a directory with any of them holds a run. */
static const char *const run_files[] = {"checkpoint.bin", "log.jsonl", "weights.safetensors", "distribution.json",
                                       "config.json"};
#define NRUN_FILES ((int)(sizeof run_files / sizeof run_files[0]))

static const char *held_run(const char *dir) {
  char p[4200];
  for (int i = 0; i < NRUN_FILES; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, run_files[i]);
    if (access(p, F_OK) == 0) return run_files[i];
  }
  return NULL;
}

/* The lock, with our pid in it (a second job reads it to name the holder). */
static int lock_dir(rt_rundir *r, err_t *e) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", r->dir, LOCK_NAME);
  r->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (r->lock_fd < 0) return err_set(e, "%s: cannot write in the run directory: %s", r->dir, strerror(errno));
  if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = "";
    ssize_t n = pread(r->lock_fd, buf, sizeof buf - 1, 0);
    return err_set(e, "%s is in use by another parsec-run (process %ld): wait for it to finish, or give another --out",
                   r->dir, n > 0 ? strtol(buf, NULL, 10) : 0L);
  }
  r->locked = 1;
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(r->lock_fd, 0) != 0 || pwrite(r->lock_fd, pid, (size_t)n, 0) != n)
    return err_set(e, "%s: cannot write in the run directory: %s", r->dir, strerror(errno));
  return 0;
}

int rt_rundir_claim(rt_rundir *r, const char *dir, int resume, err_t *e) {
  memset(r, 0, sizeof *r);
  r->lock_fd = -1;
  if (snprintf(r->dir, sizeof r->dir, "%s", dir) >= (int)sizeof r->dir) return err_set(e, "%.80s...: path too long", dir);
  struct stat st;
  int exists = stat(dir, &st) == 0;
  if (exists && !S_ISDIR(st.st_mode))
    return err_set_code(e, ERR_USAGE, "--out %s exists and is not a directory: give a directory for the run's outputs",
                        dir);
  if (resume && !exists) return err_set(e, "--resume --out %s: there is no such run directory", dir);
  const char *held = exists && !resume ? held_run(dir) : NULL;
  if (held)
    return err_set_code(e, ERR_USAGE,
                        "%s already holds a run (%s): continue it with --resume, or start afresh with another --out "
                        "(or remove %s)",
                        dir, held, dir);
  if (!exists) {
    if (io_mkdirs(dir, e) != 0) return err_prefix(e, "--out %s cannot be a run directory", dir);
    r->created = 1;
  }
  if (lock_dir(r, e) != 0) {
    rt_rundir_release(r);
    return -1;
  }
  return 0;
}

void rt_rundir_release(rt_rundir *r) {
  if (!r->dir[0]) return; /* never claimed (a zeroed struct: its lock_fd 0 is not ours) */
  if (r->locked && r->created && !held_run(r->dir)) { /* still ours: nobody else can hold the lock */
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", r->dir, LOCK_NAME);
    unlink(p);
    rmdir(r->dir); /* only when empty: a job that wrote its genotype keeps it */
  }
  if (r->lock_fd >= 0) close(r->lock_fd); /* the lock goes with the descriptor */
  r->lock_fd = -1;
  r->locked = r->created = 0;
}

int rt_rundir_trim_log(const char *dir, long long bytes, err_t *e) {
  char p[4200];
  snprintf(p, sizeof p, "%s/log.jsonl", dir);
  struct stat st;
  if (bytes < 0 || stat(p, &st) != 0 || st.st_size <= bytes) return 0;
  if (truncate(p, (off_t)bytes) != 0) return err_set(e, "%s: cannot cut back to its checkpoint: %s", p, strerror(errno));
  return 0;
}

int rt_rundir_space(const char *run, const char *kind, const char *noun, const char *hint, sp_space *sp, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.bin", run);
  rt_ckpt c;
  if (rt_ckpt_read(path, &c, e) != 0) return err_prefix(e, "%s is not a %s run", run, noun);
  cJSON *h = cJSON_Parse(c.header);
  const cJSON *k = h ? cJSON_GetObjectItemCaseSensitive(h, "kind") : NULL;
  int rc;
  if (!cJSON_IsString(k) || strcmp(k->valuestring, kind) != 0) {
    rc = err_set(e, "%s is not a %s run (its checkpoint is a %s checkpoint)%s%s", run, noun,
                 cJSON_IsString(k) ? k->valuestring : "damaged", hint ? ": " : "", hint ? hint : "");
  } else {
    char *space = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(h, "space"));
    rc = space ? sp_from_json(sp, space, path, e) : err_set(e, "%s: damaged checkpoint header", path);
    free(space);
  }
  cJSON_Delete(h);
  rt_ckpt_free(&c);
  return rc;
}

int rt_rundir_genotype(const sp_space *sp, const char *path, gt_genotype *g, err_t *e) {
  char *text = io_read_file(path, "the genotype", IO_TEXT_MAX, NULL, e);
  if (!text) return -1;
  int rc = gt_parse(sp, text, g, path, e);
  free(text);
  return rc;
}

/* Graphviz's `dot`, when it is installed: 1 when it drew the SVG. */
static int render_svg(const char *dot_path, const char *svg_path) {
  char out[4200];
  snprintf(out, sizeof out, "-o%s", svg_path);
  char *argv[] = {"dot", "-Tsvg", out, (char *)dot_path, NULL};
  err_t e = ERR_INIT;
  int st = 0;
  int rc = io_spawn(argv, NULL, &st, &e);
  err_clear(&e);
  return rc == 0 && st == 0;
}

int rt_rundir_write_cells(const char *dir, const sp_space *sp, const gt_genotype *g, const char *title, int with_text,
                          int *svg, err_t *e) {
  char path[4200], svgpath[4200];
  char *text = with_text ? gt_to_text(sp, g) : NULL, *dot = gt_to_dot(sp, g, title);
  int rc = dot && (text || !with_text) ? 0 : err_set(e, "out of memory");
  if (rc == 0 && with_text) {
    snprintf(path, sizeof path, "%s/genotype.txt", dir);
    io_part lines[2] = {{text, strlen(text)}, {"\n", 1}};
    rc = io_write_parts(path, lines, 2, 0, e);
  }
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/cells.dot", dir);
    rc = io_write_text(path, dot, e);
  }
  if (rc == 0) {
    snprintf(svgpath, sizeof svgpath, "%s/cells.svg", dir);
    int drawn = render_svg(path, svgpath);
    if (svg) *svg = drawn;
  }
  free(text);
  free(dot);
  return rc;
}
