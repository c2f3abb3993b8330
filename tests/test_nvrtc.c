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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *space, *arch;
  int nkernels;
  size_t cubin;
  char error[4096];
} job;

/* one NVRTC program per space and architecture, each checked for every
   kernel's symbol */
static void *compile_job(void *arg) {
  job *j = arg;
  err_t e = ERR_INIT;
  sp_space sp;
  nw_layout lay;
  cg_spec *specs = NULL;
  int n = 0;
  char *src = NULL;
  rt_nvrtc_out out = {0};
  if (sp_load_example(&sp, j->space, &e) != 0 || nw_search_layout(&lay, &sp, &sp.net, &e) != 0 ||
      pl_space_specs(&sp, &sp.net, &lay, &specs, &n, &e) != 0 || !(src = cg_render(specs, n, CG_TARGET_CUDA, CG_F32, &e)) ||
      rt_nvrtc_compile(src, j->arch, 0, &out, &e) != 0) {
    snprintf(j->error, sizeof j->error, "%s", err_msg(&e));
    return NULL;
  }
  j->nkernels = n;
  j->cubin = out.cubin_size;
  for (int i = 0; i < n; i++) {
    char sym[128];
    const cg_spec on = cg_spec_on(&specs[i], CG_TARGET_CUDA);
    cg_symbol(&on, CG_F32, sym, sizeof sym);
    int found = 0;
    for (size_t k = 0; k + strlen(sym) <= out.cubin_size && !found; k++) found = memcmp(out.cubin + k, sym, strlen(sym)) == 0;
    if (!found) snprintf(j->error, sizeof j->error, "kernel %s missing from the cubin", sym);
  }
  rt_nvrtc_out_free(&out);
  free(src);
  free(specs);
  nw_free(&lay);
  sp_free(&sp);
  return NULL;
}

static void test_bundled_spaces(void **state) {
  (void)state;
  char why[512];
  if (!rt_nvrtc_available(why, sizeof why)) {
    fprintf(stderr, "skipped: %s\n", why);
    skip();
  }
  job jobs[6];
  const char *spaces[3] = {"darts", "small", "custom_op"}, *archs[2] = {"sm_80", "sm_90"};
  pthread_t th[6];
  for (int i = 0; i < 6; i++) {
    jobs[i] = (job){spaces[i / 2], archs[i % 2], 0, 0, ""};
    pthread_create(&th[i], NULL, compile_job, &jobs[i]);
  }
  for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 6; i++) {
    if (jobs[i].error[0]) fail_msg("%s for %s: %s", jobs[i].space, jobs[i].arch, jobs[i].error);
    assert_true(jobs[i].cubin > 1000);
    fprintf(stderr, "%s: %d kernels for %s, cubin %zu bytes\n", jobs[i].space, jobs[i].nkernels, jobs[i].arch,
            jobs[i].cubin);
  }
}

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

/* PTX, for GPUs newer than this NVRTC: compute_90 gives text PTX */
static void test_ptx(void **state) {
  (void)state;
  if (!rt_nvrtc_available(NULL, 0)) skip();
  rt_nvrtc_out out;
  err_t e = ERR_INIT;
  if (rt_nvrtc_compile("extern \"C\" __global__ void k(float *x) { x[threadIdx.x] *= 2; }\n", "compute_90", 0, &out, &e))
    fail_msg("%s", err_msg(&e));
  assert_non_null(strstr(out.cubin, ".visible .entry k("));
  rt_nvrtc_out_free(&out);
}

int main(void) {
  char why[512];
  if (!rt_nvrtc_available(why, sizeof why)) { /* ctest reports the test skipped, not passed */
    fprintf(stderr, "skipped: %s\n", why);
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_report),
      cmocka_unit_test(test_ptx),
      cmocka_unit_test(test_bundled_spaces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
