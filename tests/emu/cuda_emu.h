/* A test double of the CUDA execution model, so that CUDA source parsec
 * generates (the kernels' CUDA rendering, the exported network.cu) runs on
 * the CPU unchanged, compiled by the host C++ compiler with this header
 * included first.
 *
 * What it models: every thread of a block is a fiber (its own stack), so
 * threadIdx, blockIdx, blockDim and gridDim are per thread; __shared__
 * variables are shared by the block's threads (blocks run one after
 * another); __syncthreads() is a barrier of the whole block; the xor
 * shuffle is an exchange within a warp of 32 consecutive threads that waits
 * for every lane its mask names.  Fibers switch only at those calls, in one
 * of two deterministic schedules chosen by PARSEC_EMU_ORDER: "up" runs the
 * lowest-numbered thread that can run, so warp 0 races ahead of the others
 * up to each barrier; "down" runs the highest first.  Code that reads
 * shared memory another warp has not yet written, or already overwrote for
 * the next phase (a missing __syncthreads), gives different numbers in one
 * schedule or both.  Reported as errors, never silently run: a barrier some
 * threads never reach (exited, or waiting elsewhere), barriers at different
 * lines met together, a shuffle whose mask leaves out its own lane, names a
 * lane that exited or does not exist, disagrees with its partner lanes'
 * masks, or reads a lane outside the mask; a block that can no longer make
 * progress.
 *
 * What it does not model: timing and memory coalescing; warps running in
 * lock step (a kernel that relies on warp-synchronous execution without a
 * shuffle or barrier between its accesses is caught only where a schedule
 * exposes it); races within one phase that both schedules happen to order
 * the same way; data races on global memory between blocks (blocks run in
 * order); atomics, other warp intrinsics, dynamic shared memory and
 * streams (a launch runs at once, to completion). */
#ifndef PARSEC_CUDA_EMU_H
#define PARSEC_CUDA_EMU_H

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <utility>

#include <sys/mman.h>
#include <ucontext.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
/* one block runs at a time, so one static copy is the block's shared memory */
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
static const int warpSize = 32;

namespace emu {

enum { RUN, BAR, WARP, DONE };

/* A fiber starts on its own stack (a jump onto it where the architecture
   is known, else through a ucontext) and then switches with GCC's
   __builtin_setjmp/__builtin_longjmp: a handful of registers, no signal
   mask, no system call. */
struct fiber {
  ucontext_t ctx;
  void *jb[5];
  int started, state, line; /* line: of the barrier it waits at */
  unsigned mask;            /* of the shuffle it waits at */
  int src;                  /* the lane it reads */
  unsigned char val[8], res[8];
};

struct block_state {
  fiber *t = nullptr;
  char *stacks = nullptr;
  int cap = 0, n = 0, cur = 0, down = 0, lo = 0, hi = -1;
  ucontext_t tmpl; /* the context each fiber starts from (no known architecture) */
  void *sched[5];
  dim3 tid, bid, bdim, gdim;
  void (*fn)(void *) = nullptr;
  void *arg = nullptr;
  long errors = 0;
  char err[512] = "";
};
static block_state B;
static const size_t STACK = 128 * 1024;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  if (B.errors++ == 0) {
    int o = snprintf(B.err, sizeof B.err, "block (%u,%u,%u) thread %d: ", B.bid.x, B.bid.y, B.bid.z, B.cur);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(B.err + o, sizeof B.err - (size_t)o, fmt, ap);
    va_end(ap);
  }
}

static void set_ids(int i) {
  B.cur = i;
  if (B.bdim.y == 1 && B.bdim.z == 1)
    B.tid.x = (unsigned)i;
  else
    B.tid = dim3((unsigned)i % B.bdim.x, (unsigned)i / B.bdim.x % B.bdim.y, (unsigned)i / (B.bdim.x * B.bdim.y));
}

static int pick();
/* __builtin_longjmp may not share a function with its __builtin_setjmp */
static __attribute__((noinline)) void jump(void **buf) { __builtin_longjmp(buf, 1); }

static void entry();

/* runs entry() on the stack that ends at TOP (it never returns: it jumps back
   to the scheduler) */
static void start(fiber *f, char *top) {
#if defined(__x86_64__)
  (void)f;
  __asm__ volatile("mov %0, %%rsp\n\tcall *%1" : : "r"(top), "r"(entry) : "memory");
#elif defined(__aarch64__)
  (void)f;
  __asm__ volatile("mov sp, %0\n\tblr %1" : : "r"(top), "r"(entry) : "memory");
#else
  f->ctx = B.tmpl;
  f->ctx.uc_stack.ss_sp = top - STACK;
  f->ctx.uc_stack.ss_size = STACK;
  f->ctx.uc_link = nullptr;
  makecontext(&f->ctx, entry, 0);
  setcontext(&f->ctx);
#endif
  __builtin_unreachable();
}

static void yield() {
  if (!__builtin_setjmp(B.t[B.cur].jb)) jump(B.sched);
}

/* A fiber runs its thread; when that ends and the next thread to run has
   not started, it runs that one on the same stack (no switch: a kernel
   without barriers runs a block on one fiber); else back to the scheduler.
   A stack is only ever handed on by the thread that finished on it, so the
   stack of a thread that has not started is always free. */
static void entry() {
  for (;;) {
    B.fn(B.arg);
    B.t[B.cur].state = DONE;
    const int next = pick();
    if (next < 0 || B.t[next].started) break;
    B.t[next].started = 1;
    set_ids(next);
  }
  jump(B.sched); /* the stack is left as it is, reused by the next launch */
}

static int grow(int n) {
  if (n <= B.cap) return 0;
  if (B.stacks) munmap(B.stacks, STACK * (size_t)B.cap);
  free(B.t);
  B.t = (fiber *)calloc((size_t)n, sizeof(fiber));
  void *m =
      mmap(nullptr, STACK * (size_t)n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  B.stacks = m == MAP_FAILED ? nullptr : (char *)m;
  B.cap = B.t && B.stacks ? n : 0;
  return B.cap ? 0 : -1;
}

/* the fibers go with the module (dlclose) */
__attribute__((destructor)) static void release_fibers() {
  if (B.stacks) munmap(B.stacks, STACK * (size_t)B.cap);
  free(B.t);
  B.t = nullptr;
  B.stacks = nullptr;
  B.cap = 0;
}

/* the next thread to run in this schedule, or -1.  No thread below lo
   (above hi) can run: a scan resumes where the last one stopped. */
static int pick() {
  if (B.down) {
    while (B.hi >= 0 && B.t[B.hi].state != RUN) B.hi--;
    return B.hi;
  }
  while (B.lo < B.n && B.t[B.lo].state != RUN) B.lo++;
  return B.lo < B.n ? B.lo : -1;
}

/* threads FIRST..LAST can run again */
static void wake(int first, int last) {
  for (int i = first; i <= last; i++) B.t[i].state = RUN;
  if (first < B.lo) B.lo = first;
  if (last > B.hi) B.hi = last;
}

/* No thread can run: release a barrier every live thread has reached, or
   report why the block is stuck.  1: released. */
static int release() {
  int bar = 0, warp = 0, done = 0, line = -1;
  for (int i = 0; i < B.n; i++) {
    const fiber *f = &B.t[i];
    bar += f->state == BAR;
    warp += f->state == WARP;
    done += f->state == DONE;
    if (f->state == BAR) {
      if (line >= 0 && f->line != line) fail("__syncthreads at line %d met one at line %d", f->line, line);
      line = f->line;
    }
  }
  if (bar == 0 && warp == 0) return 0; /* all done */
  if (bar == B.n) {
    wake(0, B.n - 1);
    return 1;
  }
  if (done > 0 && warp == 0)
    fail("__syncthreads at line %d: %d of %d threads wait there, %d have exited", line, bar, B.n, done);
  else
    fail("stuck: %d threads at a barrier, %d at a shuffle waiting for lanes that never come, %d exited", bar, warp,
         done);
  return 0;
}

static void run_block() {
  for (int i = 0; i < B.n; i++) B.t[i].started = 0;
  B.lo = B.n;
  B.hi = -1;
  wake(0, B.n - 1);
  for (;;) {
    int i = pick();
    if (i < 0 && !release()) break;
    if (i < 0) continue;
    set_ids(i);
    fiber *f = &B.t[i];
    if (!__builtin_setjmp(B.sched)) {
      if (f->started) jump(f->jb);
      f->started = 1;
      start(f, B.stacks + STACK * (size_t)(i + 1));
    }
  }
}

/* Runs FN(ARG) on every thread of a GRID of BLOCKs.  0, or the errors seen. */
static long run(dim3 grid, dim3 block, void (*fn)(void *), void *arg) {
  const char *o = getenv("PARSEC_EMU_ORDER");
  B.down = o && strcmp(o, "down") == 0;
  B.n = (int)(block.x * block.y * block.z);
  B.errors = 0;
  B.err[0] = 0;
  if (B.n < 1 || B.n > 1024 || grow(B.n) != 0) {
    snprintf(B.err, sizeof B.err, "a block of %u x %u x %u threads", block.x, block.y, block.z);
    return B.errors = 1;
  }
  getcontext(&B.tmpl);
  B.bdim = block;
  B.gdim = grid;
  B.fn = fn;
  B.arg = arg;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x && !B.errors; x++) {
        B.bid = dim3(x, y, z);
        run_block();
      }
  return B.errors;
}

static void syncthreads(int line) {
  B.t[B.cur].state = BAR;
  B.t[B.cur].line = line;
  yield();
}

/* The exchange of a warp: each lane leaves its value, the last lane of the
   mask to arrive hands every lane the value of the lane it reads. */
static void exchange(unsigned mask, const void *v, size_t size, int src, void *out) {
  const int lane = B.cur & 31, base = B.cur & ~31;
  fiber *me = &B.t[B.cur];
  if (!(mask >> lane & 1u)) fail("a shuffle's mask %#x leaves out the calling lane %d", mask, lane);
  memcpy(me->val, v, size);
  memcpy(me->res, v, size);
  me->mask = mask;
  me->src = src;
  me->state = WARP;
  int all = 1;
  for (int l = 0; l < 32; l++) {
    if (!(mask >> l & 1u)) continue;
    if (base + l >= B.n || B.t[base + l].state == DONE) {
      fail("a shuffle's mask %#x names lane %d, which %s", mask, l, base + l >= B.n ? "does not exist" : "has exited");
      all = 0;
      break;
    }
    const fiber *f = &B.t[base + l];
    if (f->state != WARP)
      all = 0;
    else if (f->mask != mask)
      fail("lanes %d and %d meet at a shuffle with masks %#x and %#x", lane, l, mask, f->mask);
  }
  if (all)
    for (int l = 0; l < 32; l++) {
      if (!(mask >> l & 1u)) continue;
      fiber *f = &B.t[base + l];
      if (f->src < 0 || f->src > 31 || !(mask >> f->src & 1u))
        fail("lane %d reads lane %d, outside the shuffle's mask %#x", l, f->src, mask);
      else
        memcpy(f->res, B.t[base + f->src].val, size);
      wake(base + l, base + l);
    }
  yield();
  memcpy(out, me->res, size);
}

/* kernel<<<g, b>>>(args) is written EMU_LAUNCH(kernel, g, b)(args) */
template <class... P>
struct launcher {
  void (*fn)(P...);
  dim3 g, b;
  /* the launch; the number of errors detected (the first in B.err) */
  template <class... A>
  long collect(A... a) {
    std::tuple<P...> args(a...); /* converted as a call converts them */
    struct call {
      void (*fn)(P...);
      std::tuple<P...> *args;
      static void go(void *p) {
        call *c = (call *)p;
        std::apply(c->fn, *c->args); /* each thread gets its own copy of the parameters */
      }
    } c = {fn, &args};
    return run(g, b, call::go, &c);
  }
  /* kernel<<<g, b>>>(a...): a detected error ends the program, as a kernel
     fault ends it on a GPU */
  template <class... A>
  void operator()(A... a) {
    if (collect(a...)) {
      fprintf(stderr, "emulated CUDA: %s\n", B.err);
      abort();
    }
  }
};
template <class... P>
launcher<P...> make_launcher(void (*fn)(P...), dim3 g, dim3 b) {
  return {fn, g, b};
}

}  // namespace emu

#define threadIdx (emu::B.tid)
#define blockIdx (emu::B.bid)
#define blockDim (emu::B.bdim)
#define gridDim (emu::B.gdim)
#define __syncthreads() emu::syncthreads(__LINE__)
#define EMU_LAUNCH(kernel, g, b) emu::make_launcher(kernel, g, b)

template <class T>
static T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  static_assert(sizeof(T) <= 8, "a shuffle moves at most 8 bytes");
  if (width != warpSize) emu::fail("a shuffle of width %d: only whole warps are modelled", width);
  T out;
  emu::exchange(mask, &v, sizeof v, (emu::B.cur & 31) ^ lane_mask, &out);
  return out;
}

static inline float __int_as_float(int i) {
  float f;
  memcpy(&f, &i, sizeof f);
  return f;
}

#endif
