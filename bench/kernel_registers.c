/* Registers and spills of every CUDA kernel a space can need, as ptxas
 * reports them through NVRTC (no GPU needed):
 *   build/bench/kernel_registers [SPACE] [sm_90]
 * One line per kernel: registers, spill stores/loads (bytes), the spec. */
#include "pl_plan.h"
#include "rt_nvrtc.h"
#include "sp_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *space = argc > 1 ? argv[1] : "darts", *arch = argc > 2 ? argv[2] : "sm_90";
  err_t e = ERR_INIT;
  sp_space sp;
  nw_layout lay;
  cg_spec *specs;
  int n;
  if (sp_open(&sp, space, &e) != 0 || nw_search_layout(&lay, &sp, &sp.net, &e) != 0 ||
      pl_space_specs(&sp, &sp.net, &lay, &specs, &n, &e) != 0) {
    fprintf(stderr, "kernel_registers: %s\n", err_msg(&e));
    return 1;
  }
  char *src = cg_render(specs, n, CG_TARGET_CUDA, CG_F32, &e);
  rt_nvrtc_out out;
  if (!src || rt_nvrtc_compile(src, arch, 1, &out, &e) != 0) {
    fprintf(stderr, "kernel_registers: %s\n", err_msg(&e));
    return 1;
  }
  printf("# %s, %s: %d kernels\n# regs spill-stores spill-loads kernel\n", space, arch, n);
  int spilling = 0, maxregs = 0;
  for (int i = 0; i < n; i++) {
    char sym[128], key[1024], pat[160];
    const cg_spec on = cg_spec_on(&specs[i], CG_TARGET_CUDA);
    cg_symbol(&on, CG_F32, sym, sizeof sym);
    cg_spec_key(&on, key, sizeof key);
    snprintf(pat, sizeof pat, "Compiling entry function '%s'", sym);
    const char *at = out.log ? strstr(out.log, pat) : NULL;
    int regs = -1, st = -1, ld = -1;
    if (at) {
      const char *sp_ = strstr(at, "bytes spill stores");
      const char *u = strstr(at, "Used ");
      if (sp_) {
        const char *b = sp_;
        while (b > at && b[-1] != ',' && b[-1] != ':') b--;
        sscanf(b, " %d", &st);
        const char *l = strstr(sp_, ",");
        if (l) sscanf(l + 1, " %d", &ld);
      }
      if (u) sscanf(u, "Used %d registers", &regs);
    }
    spilling += st > 0 || ld > 0;
    if (regs > maxregs) maxregs = regs;
    printf("%4d %5d %5d %s\n", regs, st, ld, key);
  }
  printf("# %d kernels spill; at most %d registers\n", spilling, maxregs);
  rt_nvrtc_out_free(&out);
  free(src);
  free(specs);
  nw_free(&lay);
  sp_free(&sp);
  return 0;
}
