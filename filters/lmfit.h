/* lmfit.h: the language-model training shared by lmtrain and lmtune: corpus loading, the
 * reference's batches and one-cycle schedule, validation, logging, the time budget's plans;
 * the loop control (checkpoints, resume, signals, --max-steps) is trainer.h's. */
#ifndef GU_LMFIT_H
#define GU_LMFIT_H
#include "trainer.h"

typedef struct {
	char **train;          /* training streams */
	int n_train;
	const char *valid;     /* validation stream or NULL */
	int B, T;              /* batch rows, bptt */
	int epochs;            /* 0 with a time budget: as many as fit */
	long steps;            /* schedule length in steps when fewer than the epochs' (0 = the
				* epochs'): a budget that does not depend on the machine's speed */
	double lr;             /* max learning rate (of the last group) */
	double lr_factor;      /* discriminative: group g gets lr / factor^(n-1-g); 1 = one lr */
	double wd, clip;
	int freeze_to;         /* groups [0, freeze_to) get no updates */
	uint64_t seed;
	const char *out;       /* final model */
	const char *log_path;  /* TSV log or NULL */
	long log_every;        /* steps between log rows */
	long valid_every;      /* steps between validations (0: at epoch ends only) */
	tr_opts tr;            /* loop control: --div --pct-start --moms, --time, --max-steps,
				* checkpoints, --resume (trainer.h) */
	int threads;           /* threads over shares of each batch (lmteam.h) */
	int argc;
	char **argv;
} lmfit_opts;

void lmfit_defaults(lmfit_opts *o);
/* Trains m in place and writes o->out. On an error it prints and exits (fl_die). Returns the
 * exit status: 0 finished, 3 stopped by a signal or --max-steps (checkpoint written). */
int lmfit_run(gu_model *m, const lmfit_opts *o);
/* Evaluates m on streams (no dropout, state from zero, file order, batches of B x T, B rows a
 * rank, split over threads); fills loss (the same on every rank). */
void lmfit_eval(const gu_model *m, char *const *paths, int n_paths, int B, int T, int threads, gu_loss *loss);
/* Available memory in bytes (MemAvailable), 0 when unknown. */
uint64_t lmfit_mem_available(void);

/* Command line shared by lmtrain and lmtune: parsed once, validated by each program. */
typedef struct {
	lmfit_opts o;          /* training options (defaults set by the caller) */
	gu_hparams hp;         /* architecture and regularisation (defaults set by the caller) */
	int arch_set;          /* -E, -H, --layers or --output given */
	int drop_set;          /* bits: drop-mult, output, hidden, input, embed, weight, alpha, beta */
	int lr_factor_set;
	const char *vocab, *model, *export_path, *import_path;
	int eval, threads, help, version;
	int n_in;
	char **inputs;
} lmfit_cli;
/* Parses the options (usage errors exit 2), sets BLAS threads and signal handling; stops early
 * with c->help or c->version set. */
void lmfit_parse_args(lmfit_cli *c, int argc, char **argv);
#endif
