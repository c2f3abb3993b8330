/* The CPU backend: kernels compiled by the system C compiler (OpenMP loops),
 * GEMMs through OpenBLAS (see rt_cpu.c). */
#ifndef PARSEC_RT_CPU_H
#define PARSEC_RT_CPU_H
#include "rt_backend.h"

/* In float (the runtime) or double (numerical tests); THREADS 0 keeps
 * OpenMP's default. */
int rt_cpu_open(rt_backend **b, cg_prec prec, int threads, err_t *e);
/* Whether the compiled kernel at PATH holds every byte its ELF headers
 * promise (checked before dlopen, which would map a truncated library and
 * die of SIGBUS touching it). */
int rt_cpu_elf_whole(const char *path, err_t *e);

#endif
