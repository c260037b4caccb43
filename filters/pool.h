/* pool.h: a fixed team of threads that run one job at a time, each on its own share: the
 * caller is thread 0, threads 1..n-1 wait for jobs. Used by lmteam.c and clsteam.c. Named
 * tpool: htslib exports pool_new and pool_free, and a program's own would replace them. */
#ifndef GU_POOL_H
#define GU_POOL_H
#include <stddef.h>

typedef struct tpool tpool;
/* fn(arg, j, job) runs thread j's part of a job. */
typedef void (*tpool_fn)(void *arg, int j, int job);

/* Starts n-1 threads (none for n <= 1); NULL with gu_errmsg() on failure. */
tpool *tpool_new(int n, tpool_fn fn, void *arg);
/* Runs job on threads 0..n-1 (0 is the caller) and returns when every one has finished. */
void tpool_run(tpool *p, int job);
/* Stops and joins the threads. */
void tpool_free(tpool *p);
/* Thread j of nt's part of a gradient sum: dst += src over j's slice of n floats (the teams'
 * JOB_SUM, one call per source in thread order, so the sums do not depend on nt's slicing). */
void tpool_add_slice(float *restrict dst, const float *restrict src, size_t n, int j, int nt);
#endif
