/* trainer.h: the loop control shared by lmtrain, lmtune (through lmfit.c) and clstrain: the
 * position (stage, epoch, batch, step), the one-cycle schedule's options, the time budget,
 * SIGINT/SIGTERM, --max-steps, checkpoint timing and files, keep-best on validation. The
 * programs supply the work through callbacks (tr_loop): prepare an epoch, run one batch,
 * finish an epoch (validate), write their part of a checkpoint. */
#ifndef GU_TRAINER_H
#define GU_TRAINER_H
#include <getopt.h>

#include "common.h"

/* ---- options ------------------------------------------------------------------------------ */

typedef struct {
	double div, pct_start;    /* one-cycle: starts at lr/div, warms up for pct_start of it */
	double mom0, mom1;        /* Adam beta1 at the ends and at the peak of the cycle */
	double time_budget;       /* seconds of training over all sessions, 0 = none */
	long max_steps;           /* stop (as if interrupted) after this many steps of a session */
	double ckpt_minutes;      /* minutes between periodic checkpoints, 0 = only when stopped */
	const char *ckpt_path;    /* checkpoint file; NULL with --no-checkpoint */
	int ckpt_named;           /* --checkpoint FILE given */
	int no_ckpt;              /* --no-checkpoint */
	int ckpt_epochs;          /* also checkpoint at every epoch's end */
	const char *resume;       /* checkpoint to continue from, or NULL */
	int keep_best;            /* write the epoch with the lowest validation loss; -1: the
	                           * program's default (clstrain: on whenever -V is given) */
	int seed_set;             /* --seed given (a resume checks it against the checkpoint's) */
	char ckpt_buf[4096];
} tr_opts;

enum {
	TR_O_DIV = 0x1000, TR_O_PCT, TR_O_MOMS, TR_O_TIME, TR_O_MAXSTEPS, TR_O_CKPT, TR_O_CKPTEVERY,
	TR_O_NOCKPT, TR_O_RESUME, TR_O_KEEPBEST, TR_O_NOKEEPBEST
};
/* getopt_long entries of the trainer's options */
#define TR_LONG_OPTIONS                                                                                         \
	{"div", required_argument, 0, TR_O_DIV}, {"pct-start", required_argument, 0, TR_O_PCT},                \
	{"moms", required_argument, 0, TR_O_MOMS}, {"time", required_argument, 0, TR_O_TIME},                  \
	{"max-steps", required_argument, 0, TR_O_MAXSTEPS}, {"checkpoint", required_argument, 0, TR_O_CKPT}, \
	{"checkpoint-every", required_argument, 0, TR_O_CKPTEVERY},                                           \
	{"no-checkpoint", no_argument, 0, TR_O_NOCKPT}, {"resume", required_argument, 0, TR_O_RESUME},       \
	{"keep-best", no_argument, 0, TR_O_KEEPBEST}, {"no-keep-best", no_argument, 0, TR_O_NOKEEPBEST}

/* Defaults: div 25, pct-start 0.3, moms 0.8,0.7, checkpoints every 10 minutes. */
void tr_defaults(tr_opts *o);
/* Takes getopt's ch and optarg when ch is one of the trainer's options (bad values are usage
 * errors); returns 1 when it was, 0 otherwise. */
int tr_parse_option(tr_opts *o, int ch, const char *arg);
/* After parsing: the checkpoint file defaults to OUT.ckpt; checks the combinations. */
void tr_check_options(tr_opts *o, const char *out);

/* ---- the loop ----------------------------------------------------------------------------- */

/* Where a run is: the next batch to run, and what has been done over all sessions. */
typedef struct {
	int64_t stage, epoch, batch; /* the next batch: batch of epoch of stage */
	int64_t step;                /* batches (optimiser steps) done */
	int64_t epochs_done;         /* epochs finished, over all stages */
	double elapsed;              /* seconds of training (validation included) */
	uint64_t seed;               /* the run's --seed */
	double best_loss;            /* keep-best: lowest validation loss, +inf none */
	int64_t best_epoch;          /* its epochs_done (0 inside the first epoch) */
	int64_t best_step;           /* its step, 0 = none */
} tr_pos;

typedef struct {
	void *ctx;
	int n_stages;
	/* epochs of stage s */
	int64_t (*n_epochs)(void *ctx, int64_t s);
	/* An epoch starts, or continues after a resume (p->batch > 0): set up its order (and, at
	 * a stage's first batch, the stage). Returns its number of batches (>= 1). */
	int64_t (*epoch_begin)(void *ctx, const tr_pos *p);
	/* Runs batch p->batch (step p->step): the gradient and the optimiser step. */
	void (*batch)(void *ctx, const tr_pos *p);
	/* After a batch, with p advanced past it: logging and the like. Returns 1 when training is
	 * over after it (a schedule that ends inside an epoch), else 0. May be NULL. */
	int (*after_batch)(void *ctx, const tr_pos *p);
	/* An epoch's last batch ran (p->epochs_done counts it): validation and logging. Returns
	 * the validation loss for keep-best, NAN when there is none. */
	double (*epoch_end)(void *ctx, const tr_pos *p);
	/* The program's part of a checkpoint: its size, written to dst when dst != NULL. Under
	 * mpirun it is called on every rank (it may gather: collective), and rank 0's dst is
	 * written. */
	size_t (*payload)(void *ctx, void *dst);
} tr_loop;

/* How a run of tr_run ended. */
enum { TR_DONE = 0, TR_TIME, TR_SIGNAL, TR_MAX_STEPS };

typedef struct {
	const tr_opts *o;
	gu_model *m;                 /* the model trained (params, buffers) */
	gu_opt *opt;
	tr_pos pos;
	double t_session, elapsed_before, t_ckpt;
	int64_t session_steps;
	float *best_params, *best_buffers; /* keep-best copy */
	gu_checkpoint ck;            /* a resumed checkpoint until tr_attach takes its optimiser */
	const void *payload;         /* the program's part of the resumed checkpoint */
	size_t payload_len;
} trainer;

/* A fresh run: position zero, seed recorded. */
void tr_init(trainer *t, const tr_opts *o, uint64_t seed);
/* Continues o->resume: reads the checkpoint (dies on any error), checks its model kind, sets
 * t->pos and t->payload (valid until tr_free) and returns the model (owned by the caller). A
 * --seed that differs from the checkpoint's is an error. */
gu_model *tr_resume(trainer *t, const tr_opts *o, int kind);
/* The model and optimiser trained (after tr_init or tr_resume): a resume restores the Adam
 * moments and steps and the keep-best copy. */
void tr_attach(trainer *t, gu_model *m, gu_opt *opt);
/* Runs the loop from t->pos until the end, the time budget, a signal or --max-steps; every
 * stop comes after a whole batch. Periodic checkpoints as the options say. Returns TR_*. */
int tr_run(trainer *t, const tr_loop *L);
/* Writes the checkpoint (and, with keep-best, the best epoch's model beside it as FILE.best);
 * nothing with --no-checkpoint. Collective under mpirun; rank 0 writes the files. */
void tr_write_checkpoint(trainer *t, const tr_loop *L);
/* The run is over: removes the checkpoint files (unless kept by the options; rank 0). */
void tr_remove_checkpoint(const trainer *t);
/* Keep-best: a validation loss of the model as it is now; the model is copied when it is the
 * lowest so far. tr_run offers every epoch's; a program may offer others. */
void tr_offer_best(trainer *t, double loss);
/* Keep-best: puts the best parameters and buffers into the model; returns 1 when there were
 * some. */
int tr_use_best(trainer *t);
/* Seconds since the session began, added to what earlier sessions took: updates pos.elapsed. */
double tr_update_elapsed(trainer *t);
/* One-cycle lr at step of n for the peak lr_max; sets *beta1. */
double tr_onecycle(const tr_opts *o, int64_t step, int64_t n, double lr_max, double *beta1);
/* The command line for a model's provenance: argv without the options that only steer a
 * session (--max-steps N), so a run stopped by them and resumed writes the same file. The
 * returned array is static; *argc_out receives its length. */
char **tr_prov_argv(int argc, char **argv, int *argc_out);
void tr_free(trainer *t);
#endif
