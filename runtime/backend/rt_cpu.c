/* The CPU backend: host memory, kernels compiled by the system C compiler
 * (OpenMP loops) and loaded with dlopen, GEMMs through OpenBLAS.
 *
 * Threads: the kernels' OpenMP loops and OpenBLAS share one OpenMP runtime
 * (Debian's OpenMP build of OpenBLAS); rt_blas calls BLAS either whole or
 * single-threaded from inside its own parallel region, so the two never
 * oversubscribe the cores.  With a fixed thread count every kernel and GEMM
 * partitions its work the same way each run, so runs are bit-for-bit
 * repeatable. */
#include "rt_cpu.h"
#include "rt_blas.h"
#include "rt_cc.h"
#include "rt_kernels.h"

#include <cblas.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  rt_cc cc;
  void **handles;
  int nhandles, cap;
} cpu;

static void *cpu_alloc(rt_backend *b, size_t bytes, err_t *e) {
  size_t n = (bytes + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, n ? n : 64);
  if (!p) err_set(e, "out of memory: cannot allocate %.1f MiB", (double)bytes / (1 << 20));
  return p;
}

static void cpu_free(rt_backend *b, void *p) { free(p); }

static void *cpu_host_alloc(rt_backend *b, size_t bytes, err_t *e) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) err_set(e, "out of memory: cannot allocate %.1f MiB", (double)bytes / (1 << 20));
  return p;
}

static void cpu_host_free(rt_backend *b, void *p) { free(p); }

static size_t cpu_mem_used(rt_backend *b) { return 0; } /* the process's peak RSS says it */

static int cpu_copy(rt_backend *b, void *dst, const void *src, size_t bytes, err_t *e) {
  memcpy(dst, src, bytes);
  return 0;
}

static int cpu_zero(rt_backend *b, void *dst, size_t bytes, err_t *e) {
  memset(dst, 0, bytes);
  return 0;
}

/* Whether PATH holds every byte its ELF headers promise: dlopen maps a
 * truncated library and the process dies of SIGBUS when it touches the
 * missing pages, so a file cut short is refused before dlopen sees it. */
int rt_cpu_elf_whole(const char *path, err_t *e) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  Elf64_Ehdr h;
  int ok = fd >= 0 && fstat(fd, &st) == 0 && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
           memcmp(h.e_ident, ELFMAG, SELFMAG) == 0 && h.e_ident[EI_CLASS] == ELFCLASS64 &&
           h.e_phentsize == sizeof(Elf64_Phdr) && h.e_phnum < 64;
  uint64_t need = ok ? h.e_shoff + (uint64_t)h.e_shnum * h.e_shentsize : 0;
  for (int i = 0; ok && i < h.e_phnum; i++) {
    Elf64_Phdr ph;
    ok = pread(fd, &ph, sizeof ph, (off_t)(h.e_phoff + (uint64_t)i * sizeof ph)) == (ssize_t)sizeof ph;
    if (ok && ph.p_offset + ph.p_filesz > need) need = ph.p_offset + ph.p_filesz;
  }
  if (fd >= 0) close(fd);
  if (ok && need <= (uint64_t)st.st_size) return 0;
  return err_set(e, "the compiled kernel %s is not a whole shared object (truncated or damaged)", path);
}

static int cpu_load(rt_backend *b, const char *path, const char *sym, void **fn, err_t *e) {
  cpu *c = b->impl;
  if (rt_cpu_elf_whole(path, e) != 0) return -1;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) return err_set(e, "cannot load the compiled kernel %s: %s", path, dlerror());
  *fn = dlsym(h, sym);
  if (!*fn) {
    dlclose(h);
    return err_set(e, "compiled kernel %s lacks the symbol %s", path, sym);
  }
  if (c->nhandles == c->cap) {
    int nc = c->cap ? 2 * c->cap : 64;
    void **v = realloc(c->handles, (size_t)nc * sizeof *v);
    if (!v) return err_set(e, "out of memory");
    c->handles = v;
    c->cap = nc;
  }
  c->handles[c->nhandles++] = h;
  return 0;
}

static int cpu_launch(rt_backend *b, const rt_kernel *k, long N, void **params, err_t *e) {
  ((void (*)(void **))k->fn)(params);
  return 0;
}

/* The 1x1-convolution shapes where the generated pw_gemm (templates/pw.k)
 * beats OpenBLAS, which packs B and zeroes C before it multiplies: measured
 * in DARTS children, 1.1-1.5x from 32 inputs up; no gain under 32 inputs
 * (memory-bound either way), and slower with many more rows than inputs
 * (M 48, K 16: too many output streams for the little work per value). */
static int pw_fits(int tb, long m, long n, long k) {
  return !tb && m % 8 == 0 && m <= 256 && k >= 32 && k <= 512 && 2 * k >= m && n % 32 == 0 && n >= 1024;
}

static int cpu_gemm(rt_backend *b, int ta, int tb, long m, long n, long k, float alpha, const void *A, long lda,
                    const void *B, long ldb, float beta, void *C, long ldc, err_t *e) {
  if (!pw_fits(tb, m, n, k))
    return rt_blas_gemm(b->prec == CG_F64, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, e);
  cg_spec s;
  const rt_kernel *kr;
  if (cg_spec_make(&s, "pw_gemm", CG_CONSTS({"M", m}, {"K", k}, {"TA", ta != 0}), e) != 0 ||
      rt_kernels_get(b, &s, 1, &kr, e) != 0)
    return -1;
  long blocks = n / 32;
  void *params[] = {&blocks, &C, &A, &B, &lda, &ldb, &ldc, &alpha, &beta};
  return cpu_launch(b, kr, blocks, params, e);
}

static int cpu_sync(rt_backend *b, err_t *e) { return 0; }

static void cpu_destroy(rt_backend *b) {
  cpu *c = b->impl;
  /* kernels stay mapped until exit: dlclose would unmap code that OpenMP's
     worker threads may still reference */
  free(c->handles);
  free(c);
}

int rt_cpu_open(rt_backend **out, cg_prec prec, int threads, err_t *e) {
  rt_backend *b = calloc(1, sizeof *b);
  cpu *c = calloc(1, sizeof *c);
  if (!b || !c) {
    free(b);
    free(c);
    return err_set(e, "out of memory");
  }
  b->impl = c;
  b->name = "cpu";
  b->target = CG_TARGET_C;
  b->prec = prec;
  b->elem = prec == CG_F64 ? 8 : 4;
  b->alloc = cpu_alloc;
  b->free = cpu_free;
  b->host_alloc = cpu_host_alloc;
  b->host_free = cpu_host_free;
  b->mem_used = cpu_mem_used;
  b->upload = cpu_copy;
  b->download = cpu_copy;
  b->fetch = cpu_copy;
  b->zero = cpu_zero;
  b->load = cpu_load;
  b->launch = cpu_launch;
  b->gemm = cpu_gemm;
  b->sync = cpu_sync;
  b->destroy = cpu_destroy;
  if (threads > 0) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
  }
  snprintf(b->device, sizeof b->device, "CPU, %d threads (OpenMP), %s", omp_get_max_threads(),
           openblas_get_config());
  if (rt_cc_init(&c->cc, e) != 0) goto fail;
  rt_compiler comp = rt_cc_compiler(&c->cc);
  if (rt_cache_open(&b->cache, &comp, e) != 0) goto fail;
  *out = b;
  return 0;
fail:
  rt_backend_close(b);
  return -1;
}
