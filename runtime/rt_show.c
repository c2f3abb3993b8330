#include "rt_show.h"
#include "rt_files.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int show_curve(FILE *f, const char *run, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/log.jsonl", run);
  char *log = rt_read_text(path, NULL, e);
  if (!log) return err_prefix(e, "%s is not a finished epoch of a search run", run);
  fprintf(f, "\nepoch  entropy  mode acc (search split)  train loss  train acc  seconds  children/s\n");
  int lineno = 0;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    lineno++;
    cJSON *j = cJSON_Parse(line);
    if (!j) {
      free(log);
      return err_set(e, "%s:%d: not a JSON line", path, lineno);
    }
    fprintf(f, "%5d  %7.3f  %22.2f%%  %10.4f  %8.2f%%  %7.1f  %10.2f\n", (int)num(j, "epoch"), num(j, "entropy"),
            100 * num(j, "mode_search_acc"), num(j, "train_loss"), 100 * num(j, "train_acc"), num(j, "seconds"),
            num(j, "children_per_s"));
    cJSON_Delete(j);
  }
  free(log);
  return 0;
}

typedef struct {
  double p;
  int input;
  const char *prim;
} choice;

static int by_p(const void *a, const void *b) {
  const choice *x = a, *y = b;
  return (x->p < y->p) - (x->p > y->p);
}

static int show_alternatives(FILE *f, const char *run, int top, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/distribution.json", run);
  char *text = rt_read_text(path, NULL, e);
  if (!text) return -1;
  cJSON *root = cJSON_Parse(text);
  free(text);
  const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categoricals");
  if (!root || !cJSON_IsArray(cats)) {
    cJSON_Delete(root);
    return err_set(e, "%s: not a parsec distribution", path);
  }
  fprintf(f, "\nmost probable choices per node input (p):\n");
  const cJSON *c;
  cJSON_ArrayForEach(c, cats) {
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(c, "choices");
    int n = cJSON_GetArraySize(ch);
    choice *v = calloc((size_t)n + 1, sizeof *v);
    if (!v) break;
    int k = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, ch) {
      const cJSON *pr = cJSON_GetObjectItemCaseSensitive(x, "primitive");
      v[k++] = (choice){num(x, "p"), (int)num(x, "input"), cJSON_IsString(pr) ? pr->valuestring : "?"};
    }
    qsort(v, (size_t)n, sizeof *v, by_p);
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(c, "cell");
    fprintf(f, "  %-6s node %d input %d:", cJSON_IsString(cell) ? cell->valuestring : "?", (int)num(c, "node"),
            (int)num(c, "slot"));
    for (int i = 0; i < n && i < top; i++) fprintf(f, "  %s(%d) %.3f", v[i].prim, v[i].input, v[i].p);
    fprintf(f, "\n");
    free(v);
  }
  cJSON_Delete(root);
  return 0;
}

int rt_show_run(FILE *f, const char *run, int top, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/genotype.txt", run);
  char *g = rt_read_text(path, NULL, e);
  if (!g) return err_prefix(e, "%s does not look like a search run (it has no genotype.txt yet)", run);
  fprintf(f, "run %s\nmode: %s", run, g);
  free(g);
  if (show_curve(f, run, e) != 0) return -1;
  return show_alternatives(f, run, top, e);
}
