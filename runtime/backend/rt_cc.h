/* The C compiler that builds CPU kernels at run time (see rt_cc.c). */
#ifndef PARSEC_RT_CC_H
#define PARSEC_RT_CC_H
#include "err.h"
#include "rt_cache.h"

typedef struct {
  char cc[256];         /* $CC, else "cc" */
  char identity[1024];  /* compiler, version, CPU, flags: part of the cache key */
} rt_cc;

/* Finds the compiler and checks once that it builds OpenMP code; the error
 * says what to install when it does not. */
int rt_cc_init(rt_cc *cc, err_t *e);
int rt_cc_compile(void *ctx, const char *src, const char *out, err_t *e);
rt_compiler rt_cc_compiler(rt_cc *cc);

/* SRC with line numbers, for compile errors. */
char *rt_numbered(const char *src);

#endif
