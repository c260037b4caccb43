/* lmfit.h: the language-model training loop shared by lmtrain and lmtune: corpus loading,
 * the reference's batches and one-cycle schedule, validation, logging, time budget,
 * checkpoints, resume and signals. */
#ifndef GU_LMFIT_H
#define GU_LMFIT_H
#include "common.h"

typedef struct {
	char **train;          /* training streams */
	int n_train;
	const char *valid;     /* validation stream or NULL */
	int B, T;              /* batch rows, bptt */
	int epochs;            /* 0 with a time budget: as many as fit */
	double lr;             /* max learning rate (of the last group) */
	double lr_factor;      /* discriminative: group g gets lr / factor^(n-1-g); 1 = one lr */
	double div, pct_start, mom0, mom1, wd, clip;
	int freeze_to;         /* groups [0, freeze_to) get no updates */
	uint64_t seed;
	double time_budget;    /* seconds of training (validation included), 0 = none */
	const char *out;       /* final model */
	const char *log_path;  /* TSV log or NULL */
	long log_every;        /* steps between log rows */
	long valid_every;      /* steps between validations (0: at epoch ends only) */
	const char *ckpt_path; /* checkpoint file */
	double ckpt_minutes;   /* checkpoint interval */
	const char *resume;    /* checkpoint to resume from, or NULL */
	long max_steps;        /* stop (as if interrupted) after this many steps; 0 = none */
	int argc;
	char **argv;
} lmfit_opts;

void lmfit_defaults(lmfit_opts *o);
/* Trains m in place and writes o->out. On an error it prints and exits (fl_die). Returns the
 * exit status: 0 finished, 3 stopped by a signal or --max-steps (checkpoint written). */
int lmfit_run(gu_model *m, const lmfit_opts *o);
/* Evaluates m on streams (no dropout, state from zero, file order, batches of B x T); fills
 * loss. */
void lmfit_eval(const gu_model *m, char *const *paths, int n_paths, int B, int T, gu_loss *loss);
/* Available memory in bytes (MemAvailable), 0 when unknown. */
uint64_t lmfit_mem_available(void);

/* Command line shared by lmtrain and lmtune: parsed once, validated by each program. */
typedef struct {
	lmfit_opts o;          /* training options (defaults set by the caller) */
	gu_hparams hp;         /* architecture and regularisation (defaults set by the caller) */
	int arch_set;          /* -E, -H or --layers given */
	int drop_set;          /* bits: drop-mult, output, hidden, input, embed, weight, alpha, beta */
	int lr_factor_set;
	const char *vocab, *model, *export_path, *import_path;
	int eval, threads, help, version;
	int n_in;
	char **inputs;
	char ckpt_buf[4096];
} lmfit_cli;
/* Parses the options (usage errors exit 2), sets BLAS threads and signal handling; stops early
 * with c->help or c->version set. */
void lmfit_parse_args(lmfit_cli *c, int argc, char **argv);
#endif
