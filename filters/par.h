/* par.h: data-parallel ranks over MPI (OpenMPI) for the training programs.
 *
 * Under mpirun (OMPI_COMM_WORLD_SIZE > 1 in the environment) par_init starts MPI and every
 * call below is a collective over MPI_COMM_WORLD: every rank must make the same calls in the
 * same order. Without mpirun (or with one rank) no MPI function is ever called: par_rank() is
 * 0, par_size() 1, and every call is a cheap local no-op, so a program behaves exactly as a
 * single process.
 *
 * Failures: a collective that fails (a rank died, a connection was lost) ends this rank at
 * once with one line "prog: rank R: MPI_Xxx failed: ...; the last checkpoint is kept" and exit
 * status 1 (MPI_ERRORS_RETURN on the communicator); fl_die on any rank aborts the whole job.
 * A rank blocked in a collective that gets SIGINT/SIGTERM and stays blocked for
 * PAR_STALL_SECONDS (its peers are gone) ends the same way, so a job never hangs on a dead
 * peer that mpirun failed to notice. */
#ifndef GU_PAR_H
#define GU_PAR_H
#include <stddef.h>

#define PAR_STALL_SECONDS 60

/* Starts MPI when run under mpirun with more than one rank; ranks other than 0 become quiet
 * (fl_quiet). Call first in main, after fl_init. Registers MPI_Finalize at exit. */
void par_init(int *argc, char ***argv);
/* Ranks mpirun started (OMPI_COMM_WORLD_SIZE; 1 without mpirun), known before and without
 * par_init: for programs that do not take part. */
int par_launched(void);
int par_rank(void);
int par_size(void);
/* 1 when this process may write files and messages (rank 0). */
static inline int par_leader(void) { return par_rank() == 0; }
/* Rank 0's clock (gu_realtime), the same value on every rank, so that time-based decisions
 * (budgets, plans, checkpoint times) agree. */
double par_clock(void);
/* The OR of flag over ranks. */
int par_any(int flag);
/* In-place sums over ranks. */
void par_sum_floats(float *x, size_t n);
void par_sum_doubles(double *x, int n);
/* Every rank gets every rank's rows: rank r's n[r] floats at all + off[r] (its own already
 * there). */
void par_allgather_floats(float *all, const int *n, const int *off);
/* Rank 0 receives every rank's n floats, rank r's at all + r*n (all: size*n floats on rank
 * 0, ignored elsewhere). */
void par_gather_floats(const float *mine, size_t n, float *all);
#endif
