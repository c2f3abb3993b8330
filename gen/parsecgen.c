/* parsecgen: reads and validates a search space, prints its summary, and
 * writes the compiled space (and, with -o, the kernels it can need). */
#include "sp_json.h"
#include "sp_summary.h"
#include "version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: parsecgen SPACE [-o DIR] [-q]\n"
          "\n"
          "Reads a search space, checks it, and prints a summary: the primitives and\n"
          "their layers, the categoricals, each cell's channels and resolution, the\n"
          "parent network's parameter count and the size of the space.\n"
          "\n"
          "  SPACE     a space file (.lua), a directory written by parsecgen -o, or the\n"
          "            name of a bundled space: darts, small, custom_op\n"
          "  -o DIR    write the compiled space to DIR/space.json (created if needed)\n"
          "  -q        print nothing but errors\n"
          "  --version print the version\n"
          "\n"
          "Exit status: 0 success, 1 invalid space, 2 bad usage.\n");
}

static int write_file(const char *dir, const char *name, const char *text, err_t *e) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return err_set(e, "%s: cannot create: %s", dir, strerror(errno));
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return err_set(e, "%s: cannot write: %s", tmp, strerror(errno));
  int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) return err_set(e, "%s: cannot write: %s", path, strerror(errno));
  return 0;
}

int main(int argc, char **argv) {
  const char *space = NULL, *out = NULL;
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--version") == 0) {
      printf("parsecgen %s\n", PARSEC_VERSION);
      return 0;
    } else if (strcmp(argv[i], "-o") == 0) {
      if (++i >= argc) {
        fprintf(stderr, "parsecgen: -o needs a directory\n");
        return 2;
      }
      out = argv[i];
    } else if (strcmp(argv[i], "-q") == 0) {
      quiet = 1;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "parsecgen: unknown option '%s' (see parsecgen --help)\n", argv[i]);
      return 2;
    } else if (space) {
      fprintf(stderr, "parsecgen: one space at a time (got '%s' and '%s')\n", space, argv[i]);
      return 2;
    } else {
      space = argv[i];
    }
  }
  if (!space) {
    usage(stderr);
    return 2;
  }
  err_t e = ERR_INIT;
  sp_space sp;
  if (sp_open(&sp, space, &e) != 0) {
    fprintf(stderr, "parsecgen: %s\n", err_msg(&e));
    err_clear(&e);
    return 1;
  }
  int rc = 0;
  if (!quiet && sp_print_summary(stdout, &sp, &e) != 0) rc = 1;
  if (rc == 0 && out) {
    char *json = sp_to_json(&sp);
    if (!json || write_file(out, "space.json", json, &e) != 0) rc = 1;
    else if (!quiet) printf("\nwrote %s/space.json\n", out);
    free(json);
  }
  if (rc) fprintf(stderr, "parsecgen: %s\n", err_msg(&e));
  err_clear(&e);
  sp_free(&sp);
  return rc;
}
