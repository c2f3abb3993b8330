#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Reads exactly N bytes (EINTR and short reads retried). */
static int read_all(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

int io_open_regular(const char *path, const char *what, err_t *e) {
  const char *sep = what ? " " : "";
  if (!what) what = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
  if (fd < 0) return err_set(e, "%s: cannot open%s%s: %s", path, sep, what, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    err_set(e, "%s: cannot read%s%s: %s", path, sep, what, strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    err_set(e, "%s: not a regular file (a %s): give %s", path,
            S_ISDIR(st.st_mode)    ? "directory"
            : S_ISFIFO(st.st_mode) ? "pipe"
                                   : "device or socket",
            *what ? what : "a file");
  } else {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
  }
  close(fd);
  return -1;
}

char *io_read_file(const char *path, const char *what, size_t max, size_t *len, err_t *e) {
  int fd = io_open_regular(path, what, e);
  if (fd < 0) return NULL;
  if (!what) what = "";
  struct stat st;
  char *s = NULL;
  if (fstat(fd, &st) != 0) {
    err_set(e, "%s: cannot read: %s", path, strerror(errno));
  } else if ((unsigned long long)st.st_size > (unsigned long long)max) {
    err_set(e, "%s: %lld bytes, more than %s may hold (%zu): not the file expected?", path, (long long)st.st_size,
            *what ? what : "this file", max);
  } else if (!(s = malloc((size_t)st.st_size + 1))) {
    err_set(e, "%s: out of memory reading %lld bytes", path, (long long)st.st_size);
  } else if (read_all(fd, s, (size_t)st.st_size) != 0) {
    err_set(e, "%s: cannot read%s%s: %s", path, *what ? " " : "", what,
            errno ? strerror(errno) : "it shrank while being read");
    free(s);
    s = NULL;
  } else {
    s[st.st_size] = 0;
    if (len) *len = (size_t)st.st_size;
  }
  close(fd);
  return s;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int io_write_parts(const char *path, const io_part *parts, int n, int sync, err_t *e) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()); /* one per writer: the cache has many */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return err_set(e, "%s: cannot write: %s", tmp, strerror(errno));
  int ok = 1;
  for (int i = 0; i < n && ok; i++) ok = write_all(fd, parts[i].data, parts[i].len) == 0;
  if (ok && sync) ok = fsync(fd) == 0;
  int saved = errno;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    if (ok) saved = errno;
    unlink(tmp);
    return err_set(e, "%s: cannot write: %s", path, strerror(saved ? saved : EIO));
  }
  return 0;
}

int io_write_text(const char *path, const char *text, err_t *e) {
  io_part p = {text, strlen(text)};
  return io_write_parts(path, &p, 1, 0, e);
}

int io_append_line(const char *path, const char *line, err_t *e) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return err_set(e, "%s: cannot write: %s", path, strerror(errno));
  int ok = write_all(fd, line, strlen(line)) == 0 && write_all(fd, "\n", 1) == 0;
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  return ok ? 0 : err_set(e, "%s: cannot write: %s", path, strerror(errno));
}

int io_mkdirs_mode(const char *path, unsigned mode, err_t *e) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return err_set(e, "%.64s...: path too long", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
      return err_set(e, "%s: cannot create: %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
    return err_set(e, "%s: cannot create: %s", tmp, strerror(errno));
  return 0;
}

int io_mkdirs(const char *path, err_t *e) { return io_mkdirs_mode(path, 0755, e); }

/* Everything the child writes, until it closes its end. */
static char *drain(int fd) {
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  ssize_t n;
  while (buf && (n = read(fd, buf + len, cap - len - 1)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    len += (size_t)n;
    if (len + 1 == cap) {
      char *b = realloc(buf, cap * 2);
      if (!b) break;
      buf = b;
      cap *= 2;
    }
  }
  if (buf) buf[len] = 0;
  return buf;
}

int io_spawn(char *const argv[], char **output, int *status, err_t *e) {
  int fds[2];
  if (pipe(fds) != 0) return err_set(e, "pipe: %s", strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return err_set(e, "cannot run '%s': %s", argv[0], strerror(rc));
  }
  char *buf = drain(fds[0]);
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  if (output)
    *output = buf ? buf : strdup("");
  else
    free(buf);
  return 0;
}
