#include "rt_files.h"
#include "rt_cc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rt_write_text(const char *path, const char *text, err_t *e) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()); /* one per writer: the cache has many */
  FILE *f = fopen(tmp, "w");
  if (!f) return err_set(e, "%s: cannot write: %s", tmp, strerror(errno));
  int ok = fputs(text, f) >= 0;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return err_set(e, "%s: cannot write: %s", path, strerror(errno));
  }
  return 0;
}

int rt_append_line(const char *path, const char *line, err_t *e) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return err_set(e, "%s: cannot write: %s", path, strerror(errno));
  size_t n = strlen(line);
  int ok = write(fd, line, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  return ok ? 0 : err_set(e, "%s: cannot write: %s", path, strerror(errno));
}

int rt_mkdirs_mode(const char *path, unsigned mode, err_t *e) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST) return err_set(e, "%s: cannot create: %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST) return err_set(e, "%s: cannot create: %s", tmp, strerror(errno));
  return 0;
}

int rt_mkdirs(const char *path, err_t *e) { return rt_mkdirs_mode(path, 0755, e); }

char *rt_read_text(const char *path, size_t *len, err_t *e) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    err_set(e, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  size_t got = s ? fread(s, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!s) {
    err_set(e, "%s: cannot read", path);
    return NULL;
  }
  s[got] = 0;
  if (len) *len = got;
  return s;
}

int rt_render_svg(const char *dot_path, const char *svg_path) {
  char out[4200];
  snprintf(out, sizeof out, "-o%s", svg_path);
  char *argv[] = {"dot", "-Tsvg", out, (char *)dot_path, NULL};
  err_t e = ERR_INIT;
  int st = 0;
  char *log = NULL;
  int rc = rt_run(argv, &log, &st, &e);
  free(log);
  err_clear(&e);
  return rc == 0 && st == 0;
}
