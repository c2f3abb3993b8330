/* Rendering a spec for a target.  Everything that differs between the C and
 * the CUDA target is in the two tables below; the kernels' bodies are shared. */
#include "cg_kernel.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cg_generator_version[] = "parsec-cg-1";

typedef struct {
  const char *prelude;   /* types and helpers, after the precision's typedefs */
  const char *fn_open;   /* %s: symbol, %s: parameter list (CUDA) */
  int unpack_args;       /* C: arguments arrive as void **args_, CUDA-style */
  const char *restrict_kw;
  const char *grid_open; /* %s: outer grid, %s: inner grid; C also %s: work per item, %s: SIMD or not */
  const char *block_open; /* the same for an @block kernel */
  const char *grid_close;
} target_desc;

static const target_desc targets[2] = {
    [CG_TARGET_C] =
        {
            "#include <math.h>\n"
            "#define PARSEC_PRAGMA(x) _Pragma(#x)\n"
            "#define SIMD PARSEC_PRAGMA(omp simd)\n"
            "#define SIMD_SUM(v) PARSEC_PRAGMA(omp simd reduction(+ : v))\n"
            "#define SIMD_SUM2(a, b) PARSEC_PRAGMA(omp simd reduction(+ : a, b))\n"
            "#define LANE 0L\n"
            "#define LANES 1L\n"
            "#define BLOCK_SUM(v)\n"
            "#define BLOCK_SUM2(a, b)\n"
            "static inline long imin(long a, long b) { return a < b ? a : b; }\n"
            "static inline long ceil_div(long a, long b) { return a <= 0 ? -(-a / b) : (a + b - 1) / b; }\n"
            "static inline long floor_div(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }\n"
            "static inline long imax(long a, long b) { return a > b ? a : b; }\n",
            "void %s(void **args_) {\n  const long N = *(const long *)args_[0];\n",
            1,
            "restrict",
            "  const long G0_ = (long)(%s), G1_ = (long)(%s);\n"
            "  #pragma omp parallel for schedule(static) if (G0_ * G1_ * (long)(%s) >= 16384)\n"
            "  for (long g0 = 0; g0 < G0_; g0++)\n"
            "    %sfor (long g1 = 0; g1 < G1_; g1++)\n",
            NULL,
            "}\n",
        },
    [CG_TARGET_CUDA] =
        {
            "#ifndef INFINITY\n#define INFINITY __int_as_float(0x7f800000)\n#endif\n"
            "#define SIMD _Pragma(\"unroll 4\")\n"
            "#define SIMD_SUM(v)\n"
            "#define SIMD_SUM2(a, b)\n"
            /* every thread of the block gets the same total: xor shuffles
               give each lane its warp's sum, then each thread adds the warps'
               sums in one order */
            "__device__ acc_t parsec_block_sum(acc_t v) {\n"
            "  __shared__ acc_t part_[32];\n"
            "  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);\n"
            "  __syncthreads(); /* a previous sum may still be reading part_ */\n"
            "  if ((threadIdx.x & 31) == 0) part_[threadIdx.x >> 5] = v;\n"
            "  __syncthreads();\n"
            "  v = 0;\n"
            "  for (int w = 0; w < (int)(blockDim.x >> 5); w++) v += part_[w];\n"
            "  return v;\n"
            "}\n"
            "#define BLOCK_SUM(v) do { if (LANES > 1) (v) = parsec_block_sum(v); } while (0)\n"
            "#define BLOCK_SUM2(a, b) do { BLOCK_SUM(a); BLOCK_SUM(b); } while (0)\n"
            "__device__ __forceinline__ long imin(long a, long b) { return a < b ? a : b; }\n"
            "__device__ __forceinline__ long ceil_div(long a, long b) { return a <= 0 ? -(-a / b) : (a + b - 1) / b; }\n"
            "__device__ __forceinline__ long floor_div(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }\n"
            "__device__ __forceinline__ long imax(long a, long b) { return a > b ? a : b; }\n",
            "extern \"C\" __global__ void %s(long N%s) {\n",
            0,
            "__restrict__",
            "  const long G0_ = (long)(%s), G1_ = (long)(%s);\n"
            "  const long gid_ = (long)blockIdx.x * blockDim.x + threadIdx.x;\n"
            "  if (gid_ >= G0_ * G1_) return;\n"
            "  const long g0 = gid_ / G1_, g1 = gid_ %% G1_;\n  (void)g0; (void)g1;\n"
            "  const long LANE = 0, LANES = 1;\n  (void)LANE; (void)LANES;\n",
            "  const long G0_ = (long)(%s), G1_ = (long)(%s);\n"
            "  const long gid_ = (long)blockIdx.x;\n"
            "  if (gid_ >= G0_ * G1_) return;\n"
            "  const long g0 = gid_ / G1_, g1 = gid_ %% G1_;\n  (void)g0; (void)g1;\n"
            "  const long LANE = (long)threadIdx.x, LANES = (long)blockDim.x;\n",
            "}\n",
        },
};

static const char *const prec_types[2] = {
    [CG_F32] = "typedef float real;\ntypedef double acc_t;\n",
    [CG_F64] = "typedef double real;\ntypedef double acc_t;\n",
};

static const char *const acc_math =
    "#define SQRT_ACC(x) sqrt((acc_t)(x))\n#define EXP_ACC(x) exp((acc_t)(x))\n#define LOG_ACC(x) log((acc_t)(x))\n";

const char *cg_prelude(cg_target t, cg_prec prec) {
  static char buf[2][2][4096];
  if (!buf[t][prec][0])
    snprintf(buf[t][prec], sizeof buf[t][prec], "/* rendered by parsec (%s) */\n%s%s%s\n", cg_generator_version,
             prec_types[prec], acc_math, targets[t].prelude);
  return buf[t][prec];
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

void cg_symbol(const cg_spec *s, cg_prec prec, char *buf, size_t cap) {
  char key[1024];
  cg_spec_key(s, key, sizeof key);
  uint64_t h = fnv1a(key) ^ (prec == CG_F64 ? 0x9e3779b97f4a7c15ULL : 0);
  snprintf(buf, cap, "%s_%016llx", s->k->name, (unsigned long long)h);
}

/* printf onto a growing buffer */
static int put(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
  va_list ap, cp;
  va_start(ap, fmt);
  va_copy(cp, ap);
  int n = vsnprintf(NULL, 0, fmt, cp);
  va_end(cp);
  if (*len + (size_t)n + 1 > *cap) {
    size_t nc = (*cap ? *cap : 4096);
    while (nc < *len + (size_t)n + 1) nc *= 2;
    char *b = realloc(*buf, nc);
    if (!b) {
      va_end(ap);
      return -1;
    }
    *buf = b;
    *cap = nc;
  }
  vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
  *len += (size_t)n;
  va_end(ap);
  return 0;
}

/* "const real *" -> "const real *restrict " */
static void arg_decl(const cg_kernel *k, int i, const char *restrict_kw, char *out, size_t cap) {
  if (k->arg_kind[i] == CG_ARG_PTR) snprintf(out, cap, "%s%s %s", k->arg_type[i], restrict_kw, k->arg_name[i]);
  else snprintf(out, cap, "%s%s", k->arg_type[i], k->arg_name[i]);
}

static int render_one(char **buf, size_t *len, size_t *cap, const cg_spec *spec, cg_target t, cg_prec prec,
                      err_t *e) {
  const cg_spec on = cg_spec_on(spec, t), *s = &on;
  const cg_kernel *k = s->k;
  const target_desc *td = &targets[t];
  cg_vars v;
  if (cg_spec_vars(s, &v, e) != 0) return -1;
  char sym[128], key[1024];
  cg_symbol(s, prec, sym, sizeof sym);
  cg_spec_key(s, key, sizeof key);
  int rc = put(buf, len, cap, "\n/* %s (%s:%d) */\n", key, k->file, k->line);
  for (int i = 0; i < v.n; i++) rc |= put(buf, len, cap, "#define %s %ldL\n", v.names[i], v.values[i]);
  char params[1024] = "";
  size_t po = 0;
  if (!td->unpack_args)
    for (int i = 0; i < k->nargs; i++) {
      char d[96];
      arg_decl(k, i, td->restrict_kw, d, sizeof d);
      po += (size_t)snprintf(params + po, sizeof params - po, ", %s", d);
    }
  rc |= put(buf, len, cap, td->fn_open, sym, params);
  if (td->unpack_args)
    for (int i = 0; i < k->nargs; i++) {
      char d[96];
      arg_decl(k, i, td->restrict_kw, d, sizeof d);
      rc |= put(buf, len, cap, "  %s = *(%s *)args_[%d];\n", d, k->arg_type[i], i + 1);
    }
  /* a vector pragma on an inner grid of 1 would make the compiler keep one
     copy of the body's local arrays per vector lane */
  const char *g1 = k->grid1;
  while (isspace((unsigned char)*g1)) g1++;
  const int one = g1[0] == '1' && (g1[1] == 0 || isspace((unsigned char)g1[1]));
  const char *open = k->block && td->block_open ? td->block_open : td->grid_open;
  rc |= put(buf, len, cap, open, k->grid0, k->grid1, k->work, one ? "" : "SIMD ");
  rc |= put(buf, len, cap, "%s", k->body);
  rc |= put(buf, len, cap, "%s", td->grid_close);
  for (int i = 0; i < v.n; i++) rc |= put(buf, len, cap, "#undef %s\n", v.names[i]);
  if (rc) return err_set(e, "out of memory rendering %s", k->name);
  return 0;
}

char *cg_render(const cg_spec *specs, int n, cg_target t, cg_prec prec, err_t *e) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  if (put(&buf, &len, &cap, "%s", cg_prelude(t, prec)) != 0) {
    err_set(e, "out of memory");
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (render_one(&buf, &len, &cap, &specs[i], t, prec, e) != 0) {
      free(buf);
      return NULL;
    }
  return buf;
}
