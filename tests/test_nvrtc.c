/* Every CUDA kernel the generator can emit for the bundled spaces compiles
 * with NVRTC for sm_80 and sm_90: one NVRTC program per space and
 * architecture.  NVRTC needs no GPU; the test skips where NVRTC is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pl_plan.h"
#include "rt_nvrtc.h"
#include "sp_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void compile_space(const char *name) {
  char why[512];
  if (!rt_nvrtc_available(why, sizeof why)) {
    fprintf(stderr, "skipped: %s\n", why);
    skip();
  }
  err_t e = ERR_INIT;
  sp_space sp;
  nw_layout lay;
  cg_spec *specs;
  int n;
  if (sp_load_example(&sp, name, &e) != 0 || nw_search_layout(&lay, &sp, &sp.net, &e) != 0 ||
      pl_space_specs(&sp, &sp.net, &lay, &specs, &n, &e) != 0)
    fail_msg("%s", err_msg(&e));
  char *src = cg_render(specs, n, CG_TARGET_CUDA, CG_F32, &e);
  if (!src) fail_msg("%s", err_msg(&e));
  const char *archs[2] = {"sm_80", "sm_90"};
  for (int a = 0; a < 2; a++) {
    rt_nvrtc_out out;
    if (rt_nvrtc_compile(src, archs[a], 0, &out, &e) != 0) fail_msg("%s: %s", name, err_msg(&e));
    assert_true(out.cubin_size > 1000);
    /* every kernel is in the cubin under its symbol */
    for (int i = 0; i < n; i++) {
      char sym[128];
      cg_symbol(&specs[i], CG_F32, sym, sizeof sym);
      int found = 0;
      for (size_t k = 0; k + strlen(sym) <= out.cubin_size && !found; k++)
        found = memcmp(out.cubin + k, sym, strlen(sym)) == 0;
      if (!found) fail_msg("%s: kernel %s missing from the %s cubin", name, sym, archs[a]);
    }
    fprintf(stderr, "%s: %d kernels for %s, cubin %zu bytes\n", name, n, archs[a], out.cubin_size);
    rt_nvrtc_out_free(&out);
  }
  free(src);
  free(specs);
  nw_free(&lay);
  sp_free(&sp);
}

static void test_darts(void **state) { (void)state; compile_space("darts"); }
static void test_small(void **state) { (void)state; compile_space("small"); }
static void test_custom_op(void **state) { (void)state; compile_space("custom_op"); }

/* A kernel that does not compile reports the log and the numbered source. */
static void test_error_report(void **state) {
  (void)state;
  if (!rt_nvrtc_available(NULL, 0)) skip();
  rt_nvrtc_out out;
  err_t e = ERR_INIT;
  assert_int_equal(rt_nvrtc_compile("extern \"C\" __global__ void k() { undefined_thing(); }\n", "sm_90", 0, &out, &e), -1);
  assert_non_null(strstr(err_msg(&e), "undefined_thing"));
  assert_non_null(strstr(err_msg(&e), "    1 | extern"));
  assert_non_null(strstr(err_msg(&e), "--gpu-architecture=sm_90"));
  err_clear(&e);
  rt_nvrtc_out_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_report),
      cmocka_unit_test(test_small),
      cmocka_unit_test(test_custom_op),
      cmocka_unit_test(test_darts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
