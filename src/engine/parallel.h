/* parallel.h — the engine's one door to OpenMP.
 *
 * Built with OpenMP (-fopenmp: every native build), this is <omp.h>. Built
 * without it (the WebAssembly module: wasm has no OpenMP runtime), every
 * `#pragma omp` is ignored by the compiler and the few runtime calls the
 * engine makes answer as the single thread of a team of one, so each parallel
 * loop runs its whole range on the calling thread, in the same order as one
 * OpenMP thread would. Nothing else in src/ includes <omp.h>. */
#ifndef SHENDU_PARALLEL_H
#define SHENDU_PARALLEL_H

#ifdef _OPENMP
#include <omp.h>
#define SD_HAVE_OPENMP 1
#else
#define SD_HAVE_OPENMP 0
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_in_parallel(void) { return 0; }
static inline int omp_get_active_level(void) { return 0; }
#endif

#endif
