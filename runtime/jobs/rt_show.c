#include "rt_show.h"
#include "io.h"
#include "rt_rundir.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* One line chart of Y against epochs 1..N, at (x0, y0), as SVG. */
static void chart(FILE *s, double x0, double y0, const double *y, int n, const char *title, const char *colour) {
  const double w = 380, h = 220;
  double lo = y[0], hi = y[0];
  for (int i = 1; i < n; i++) lo = y[i] < lo ? y[i] : lo, hi = y[i] > hi ? y[i] : hi;
  if (hi - lo < 1e-9) hi = lo + 1;
  fprintf(s, "<g transform=\"translate(%g,%g)\">\n", x0, y0);
  fprintf(s, "<text x=\"%g\" y=\"-10\" text-anchor=\"middle\" font-size=\"14\">%s</text>\n", w / 2, title);
  fprintf(s, "<rect width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#999\"/>\n", w, h);
  fprintf(s, "<text x=\"-6\" y=\"10\" text-anchor=\"end\" font-size=\"11\">%.3g</text>\n", hi);
  fprintf(s, "<text x=\"-6\" y=\"%g\" text-anchor=\"end\" font-size=\"11\">%.3g</text>\n", h, lo);
  fprintf(s, "<text x=\"0\" y=\"%g\" font-size=\"11\">1</text>\n", h + 16);
  fprintf(s, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\" font-size=\"11\">epoch %d</text>\n", w, h + 16, n);
  fprintf(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
  for (int i = 0; i < n; i++)
    fprintf(s, "%.1f,%.1f ", n > 1 ? w * i / (n - 1) : w / 2, h - h * (y[i] - lo) / (hi - lo));
  fprintf(s, "\"/>\n</g>\n");
}

/* The paper's Figure 3 for this run: entropy and the mode's accuracy per epoch. */
static int plot(const char *run, const double *ent, const double *acc, int n, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/curves.svg", run);
  FILE *s = fopen(path, "w");
  if (!s) return err_set(e, "%s: cannot write", path);
  fprintf(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"300\" font-family=\"sans-serif\">\n"
             "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  chart(s, 50, 40, ent, n, "entropy of p(alpha | pi)", "#c0392b");
  chart(s, 500, 40, acc, n, "accuracy of the mode (search split)", "#2471a3");
  fprintf(s, "</svg>\n");
  return fclose(s) == 0 ? 0 : err_set(e, "%s: cannot write", path);
}

static int show_curve(FILE *f, const char *run, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/log.jsonl", run);
  char *log = io_read_file(path, NULL, IO_TEXT_MAX, NULL, e);
  if (!log) return err_prefix(e, "%s is not a finished epoch of a search run", run);
  fprintf(f, "\nepoch  entropy  mode acc (search split)  train loss  train acc  seconds  children/s\n");
  int lineno = 0, n = 0, cap = 0;
  double *ent = NULL, *acc = NULL;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    lineno++;
    cJSON *j = cJSON_Parse(line);
    if (!j) {
      free(log);
      free(ent);
      free(acc);
      return err_set(e, "%s:%d: not a JSON line", path, lineno);
    }
    fprintf(f, "%5d  %7.3f  %22.2f%%  %10.4f  %8.2f%%  %7.1f  %10.2f\n", (int)num(j, "epoch"), num(j, "entropy"),
            100 * num(j, "mode_search_acc"), num(j, "train_loss"), 100 * num(j, "train_acc"), num(j, "seconds"),
            num(j, "children_per_s"));
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      ent = realloc(ent, sizeof *ent * (size_t)cap);
      acc = realloc(acc, sizeof *acc * (size_t)cap);
    }
    if (ent && acc) {
      ent[n] = num(j, "entropy");
      acc[n++] = num(j, "mode_search_acc");
    }
    cJSON_Delete(j);
  }
  free(log);
  int rc = n > 0 ? plot(run, ent, acc, n, e) : 0;
  if (rc == 0 && n > 0) fprintf(f, "(curves drawn in %s/curves.svg)\n", run);
  free(ent);
  free(acc);
  return rc;
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
  char *text = io_read_file(path, NULL, IO_TEXT_MAX, NULL, e);
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

/* cells.dot (and cells.svg with Graphviz) from the mode in genotype.txt */
static int draw_cells(FILE *f, const char *run, const char *gtext, err_t *e) {
  sp_space sp;
  gt_genotype g;
  if (rt_rundir_space(run, "search", "search", NULL, &sp, e) != 0) return -1;
  int rc = gt_parse(&sp, gtext, &g, "genotype.txt", e), svg = 0;
  if (rc == 0) rc = rt_rundir_write_cells(run, &sp, &g, "mode", 0, &svg, e);
  if (rc == 0)
    fprintf(f, "(cells drawn in %s/cells.dot%s)\n", run, svg ? " and cells.svg" : "; install Graphviz for an SVG");
  sp_free(&sp);
  return rc;
}

int rt_show_run(FILE *f, const char *run, int top, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/genotype.txt", run);
  char *g = io_read_file(path, NULL, IO_TEXT_MAX, NULL, e);
  if (!g) return err_prefix(e, "%s does not look like a search run (it has no genotype.txt yet)", run);
  fprintf(f, "run %s\nmode: %s", run, g);
  int rc = draw_cells(f, run, g, e);
  free(g);
  if (rc != 0) return -1;
  if (show_curve(f, run, e) != 0) return -1;
  return show_alternatives(f, run, top, e);
}
