/* par.c: data-parallel ranks over MPI (see par.h). Built without MPI (no ompi-c at build
 * time, GU_MPI undefined) every function is the single-rank one. */
#include <errno.h>
#include <signal.h>
#include <sys/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "par.h"

static int rank, size = 1;

#ifdef GU_MPI
#include <limits.h>
#include <mpi.h>

static int active;                   /* MPI started */
static volatile sig_atomic_t in_coll; /* inside a collective: the name's index + 1 */
static const char *const coll_name[] = {"MPI_Allreduce", "MPI_Bcast", "MPI_Gather", "MPI_Allgatherv"};

/* A signal that arrives while this rank waits in a collective: the peers may be gone (mpirun
 * sends SIGTERM to the survivors of a rank that died). The caught signal (common.c) only sets
 * a flag, so while in a collective a 1 s interval timer looks at that flag and gives the
 * collective PAR_STALL_SECONDS after the signal to finish, then ends with a line of ours. */
static volatile sig_atomic_t stalled;
static void on_tick(int sig)
{
	(void)sig;
	if (!in_coll || !fl_signalled() || ++stalled < PAR_STALL_SECONDS) return;
	char msg[256];
	int n = snprintf(msg, sizeof msg,
			 "%s: rank %d: stopped after waiting in %s for %d s since a signal: another rank "
			 "died or the connection was lost; the last checkpoint is kept\n",
			 fl_prog, rank, coll_name[in_coll - 1], PAR_STALL_SECONDS);
	if (n > 0) (void)!write(2, msg, (size_t)n);
	_exit(EXIT_RUNTIME);
}

static void ticks(int on)
{
	struct itimerval it;
	memset(&it, 0, sizeof it);
	if (on) it.it_interval.tv_sec = it.it_value.tv_sec = 1;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void enter(int which)
{
	in_coll = which + 1;
	stalled = 0;
	ticks(1);
}

static void leave(int which, int rc)
{
	in_coll = 0;
	ticks(0);
	if (rc == MPI_SUCCESS) return;
	char err[MPI_MAX_ERROR_STRING];
	int len = 0;
	MPI_Error_string(rc, err, &len);
	err[len < MPI_MAX_ERROR_STRING ? len : MPI_MAX_ERROR_STRING - 1] = 0;
	fl_progress_end();
	fprintf(stderr, "%s: rank %d: %s failed (%s): another rank died or the connection was lost; the last checkpoint is kept\n", fl_prog,
		rank, coll_name[which], err);
	_exit(EXIT_RUNTIME);
}

/* The pids of the ranks on this host (-1 elsewhere), to tell a dead peer when mpirun ends the
 * job: it sends SIGCONT at once to the survivors of a rank that died, SIGTERM a second later,
 * then SIGKILL. */
static int *local_pid;

static void on_cont(int sig)
{
	(void)sig;
	int dead = -1, first_alive = -1;
	for (int r = 0; r < size; r++) {
		if (local_pid[r] < 0) continue;
		if (r != rank && kill(local_pid[r], 0) != 0 && errno == ESRCH) {
			if (dead < 0) dead = r;
		} else if (first_alive < 0) {
			first_alive = r;
		}
	}
	if (dead < 0) return; /* an ordinary SIGCONT (after a stop) */
	if (first_alive == rank) { /* one line for the whole job */
		char msg[256];
		int n = snprintf(msg, sizeof msg, "%s: rank %d (pid %d) died; every rank stopped, the last checkpoint is kept\n", fl_prog,
				 dead, local_pid[dead]);
		if (n > 0) (void)!write(2, msg, (size_t)n);
	}
	_exit(EXIT_RUNTIME);
}

/* At exit: once every rank is here, a peer that ends with a non-zero status (3, stopped) makes
 * mpirun end the job, which is no news any more: no message from on_cont. */
static void finish(void)
{
	if (active) {
		active = 0;
		MPI_Barrier(MPI_COMM_WORLD);
		signal(SIGCONT, SIG_DFL);
		MPI_Finalize();
	}
}

/* fl_die on one rank: end the whole job (the others would wait for it forever). */
static void die_all(void)
{
	if (active) {
		active = 0;
		MPI_Abort(MPI_COMM_WORLD, EXIT_RUNTIME);
	}
}

void par_init(int *argc, char ***argv)
{
	const char *s = getenv("OMPI_COMM_WORLD_SIZE");
	if (!s || atoi(s) <= 1) return;
	int provided;
	if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) fl_die("MPI_Init failed");
	active = 1;
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (rank != 0) fl_quiet = 1;
	/* who runs where: pid and host name of every rank */
	struct {
		int pid;
		char host[60];
	} me, *all = malloc((size_t)size * sizeof *all);
	if (!all || !(local_pid = malloc((size_t)size * sizeof *local_pid))) fl_die("out of memory");
	memset(&me, 0, sizeof me);
	me.pid = (int)getpid();
	gethostname(me.host, sizeof me.host - 1);
	if (MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, MPI_COMM_WORLD) != MPI_SUCCESS)
		fl_die("MPI_Allgather failed");
	for (int r = 0; r < size; r++) local_pid[r] = strcmp(all[r].host, me.host) == 0 ? all[r].pid : -1;
	free(all);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_cont;
	sigaction(SIGCONT, &sa, NULL);
	atexit(finish);
	fl_on_die(die_all);
}

double par_clock(void)
{
	double t = gu_realtime();
	if (!active) return t;
	enter(1);
	leave(1, MPI_Bcast(&t, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD));
	return t;
}

int par_any(int flag)
{
	if (!active) return flag;
	int v = flag != 0, r = 0;
	enter(0);
	leave(0, MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
	return r;
}

void par_sum_floats(float *x, size_t n)
{
	if (!active) return;
	/* counts are ints: large blocks go in pieces */
	for (size_t i = 0; i < n;) {
		int k = n - i > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)(n - i);
		enter(0);
		leave(0, MPI_Allreduce(MPI_IN_PLACE, x + i, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
		i += (size_t)k;
	}
}

void par_sum_doubles(double *x, int n)
{
	if (!active) return;
	enter(0);
	leave(0, MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
}

void par_gather_floats(const float *mine, size_t n, float *all)
{
	if (!active) {
		memcpy(all, mine, n * sizeof *mine);
		return;
	}
	if (n > (size_t)INT_MAX) fl_die("MPI_Gather: %zu floats are too many", n);
	enter(2);
	leave(2, MPI_Gather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD));
}
void par_allgather_floats(float *all, const int *n, const int *off)
{
	if (!active) return;
	enter(3);
	leave(3, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, n, off, MPI_FLOAT, MPI_COMM_WORLD));
}
#else
void par_init(int *argc, char ***argv)
{
	(void)argc, (void)argv;
}
double par_clock(void) { return gu_realtime(); }
int par_any(int flag) { return flag; }
void par_sum_floats(float *x, size_t n) { (void)x, (void)n; }
void par_sum_doubles(double *x, int n) { (void)x, (void)n; }
void par_gather_floats(const float *mine, size_t n, float *all) { memcpy(all, mine, n * sizeof *mine); }
void par_allgather_floats(float *all, const int *n, const int *off) { (void)all, (void)n, (void)off; }
#endif

int par_launched(void)
{
	const char *s = getenv("OMPI_COMM_WORLD_SIZE");
	return s && atoi(s) > 1 ? atoi(s) : 1;
}

int par_rank(void) { return rank; }
int par_size(void) { return size; }
