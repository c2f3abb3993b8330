#include "rt_genotypes.h"
#include "gt_builtin.h"
#include "nw_layout.h"
#include "sp_json.h"

#include <stdlib.h>

/* Parameters of G's evaluation network in SP (the papers' count: without
 * the auxiliary head); -1 when G does not fit. */
static long count(const sp_space *sp, const gt_genotype *g, err_t *e) {
  nw_layout lay;
  if (nw_eval_layout(&lay, sp, &sp->eval_net, g, e) != 0) return -1;
  long n = (long)nw_param_count_main(&lay);
  nw_free(&lay);
  return n;
}

static int list(FILE *out, const sp_space *sp, err_t *e) {
  fprintf(out, "%-16s %-10s %-12s %s\n", "name", "published", "in this space", "source");
  for (int i = 0; gt_builtin_at(i); i++) {
    const gt_builtin *b = gt_builtin_at(i);
    if (b->alias_of) {
      fprintf(out, "%-16s = %s\n", b->name, b->alias_of);
      continue;
    }
    gt_genotype g;
    char pub[32] = "-", here[32] = "does not fit";
    if (b->cifar_m > 0) snprintf(pub, sizeof pub, "%.1f M", b->cifar_m);
    long n = gt_parse(sp, b->text, &g, b->name, e) == 0 ? count(sp, &g, e) : -1;
    if (n >= 0) snprintf(here, sizeof here, "%.3f M", n / 1e6);
    err_clear(e);
    fprintf(out, "%-16s %-10s %-12s %s%s%s\n", b->name, pub, here, b->source, b->note ? "; " : "",
            b->note ? b->note : "");
  }
  fprintf(out, "(parameters of the evaluation network, C %d, %d cells, without the auxiliary head)\n",
          sp->eval_net.channels, sp->eval_net.cells);
  return 0;
}

int rt_genotypes_run(FILE *out, const rt_genotypes_opts *o, err_t *e) {
  if (o->names) {
    for (int i = 0; gt_builtin_at(i); i++) fprintf(out, "%s\n", gt_builtin_at(i)->name);
    return 0;
  }
  sp_space sp;
  if (sp_open(&sp, o->space ? o->space : "darts", e) != 0) return -1;
  int rc = 0;
  if (!o->genotype) {
    rc = list(out, &sp, e);
  } else {
    gt_genotype g;
    char from[4200];
    long n = -1;
    rc = gt_resolve(&sp, o->genotype, &g, from, sizeof from, e);
    if (rc == 0 && (n = count(&sp, &g, e)) < 0) rc = -1;
    char *text = rc == 0 ? gt_to_text(&sp, &g) : NULL;
    if (text)
      fprintf(out, "%s\n# %s; %.6f M parameters in the space '%s' (C %d, %d cells, without the auxiliary head)\n", text,
              from, n / 1e6, sp.name, sp.eval_net.channels, sp.eval_net.cells);
    free(text);
  }
  sp_free(&sp);
  return rc;
}
