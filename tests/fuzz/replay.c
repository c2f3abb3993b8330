/* Runs every file of the corpus directories given on the command line
 * through the fuzz target once: the corpora's replay in the test suite
 * (under ASan and UBSan in CI), where no libFuzzer is needed. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)(n > 0 ? n : 1));
  size_t got = b && n >= 0 ? fread(b, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!b) return -1;
  LLVMFuzzerTestOneInput(b, got);
  free(b);
  return 0;
}

int main(int argc, char **argv) {
  long runs = 0;
  for (int i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    if (!d) {
      fprintf(stderr, "replay: cannot open the corpus %s\n", argv[i]);
      return 1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (de->d_name[0] == '.') continue;
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", argv[i], de->d_name);
      struct stat st;
      if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (run_file(p) != 0) {
        fprintf(stderr, "replay: cannot read %s\n", p);
        return 1;
      }
      runs++;
    }
    closedir(d);
  }
  printf("replayed %ld inputs\n", runs);
  return runs > 0 ? 0 : 1; /* an empty corpus proves nothing */
}
