#include "rt_rundir.h"
#include "io.h"
#include "rt_ckpt.h"
#include "sp_json.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
