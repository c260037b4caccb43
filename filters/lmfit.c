/* lmfit.c: the language-model training loop shared by lmtrain and lmtune
 * (REFERENCE-SEMANTICS 4-5): epochs over BOS-joined records in a shuffled order, B contiguous
 * streams of bptt-long batches with the hidden state carried, one-cycle lr and momentum,
 * AdamW with decoupled decay, discriminative rates per layer group, validation, a TSV log, a
 * wall-clock budget the schedule is planned for. The loop itself (position, signals,
 * --max-steps, checkpoint timing, bit-for-bit resume) is trainer.c's, driven through the
 * callbacks lm_epoch_begin, lm_batch, lm_after_batch, lm_epoch_end and lm_payload. Each step
 * is computed by a team (lmteam.h): the batch's rows split over threads and MPI ranks (par.h);
 * every rank takes the same decisions, rank 0 alone writes files. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmfit.h"
#include "lmteam.h"
#include "par.h"

void openblas_set_num_threads(int);

#define STATE_MAGIC 0x53464c47u /* "GLFS" */
#define STATE_VERSION 2

/* The LM's part of a checkpoint after the trainer's (position, elapsed time: trainer.h), in
 * host byte order (little-endian on every supported machine), followed by the carried hidden
 * state h, c of every layer. */
typedef struct {
	uint32_t magic, version;
	int32_t B, T, V, n_layers;   /* B: rows of the whole batch (all ranks) */
	int64_t n_total, n_epochs;   /* schedule length (steps), planned epochs */
	int64_t sched_fixed;         /* plans made of n_total from the time budget (0-4) */
	double smooth, smooth_w;     /* moving average of the training CE (beta 0.98) */
	double lr, lr_factor;        /* checked on resume */
	uint64_t epoch_rng[4];       /* shuffle rng at the start of the epoch */
	uint64_t drop_rng[4];        /* dropout-mask rng now */
	int64_t freeze_to;
} state_t;

void lmfit_defaults(lmfit_opts *o)
{
	memset(o, 0, sizeof *o);
	tr_defaults(&o->tr);
	o->B = 64, o->T = 70, o->epochs = 1;
	o->lr = 5e-3, o->lr_factor = 1;
	o->wd = 1e-2;
	o->seed = 1;
	o->log_every = 50;
}

uint64_t lmfit_mem_available(void)
{
	FILE *fp = fopen("/proc/meminfo", "r");
	if (!fp) return 0;
	char line[256];
	unsigned long long kb = 0;
	while (fgets(line, sizeof line, fp))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
	fclose(fp);
	return (uint64_t)kb * 1024;
}

static void load_corpus(gu_corpus *c, const gu_vocab *v, char *const *paths, int n, uint64_t max_tokens, const char *what)
{
	if (gu_corpus_load(c, v, paths, n, max_tokens) < 0) {
		if (strstr(gu_errmsg(), "memory budget"))
			fl_die("%s (%s corpus; each token costs 8 bytes in memory: free memory or use fewer streams)", gu_errmsg(), what);
		fl_die("%s", gu_errmsg());
	}
}

void lmfit_eval(const gu_model *m, char *const *paths, int n_paths, int B, int T, int threads, gu_loss *loss)
{
	gu_corpus c;
	load_corpus(&c, m->vocab, paths, n_paths, lmfit_mem_available() / 10, "evaluation");
	size_t N = gu_corpus_epoch_len(&c);
	int32_t *S = malloc(N * sizeof *S);
	if (!S) fl_die("out of memory");
	gu_corpus_epoch(&c, S, NULL);
	lmteam *t = lmteam_new(m, T, B, threads);
	if (!t) fl_die("%s", gu_errmsg());
	if (lmteam_eval(t, S, N, loss) < 0) fl_die("evaluation: %s", gu_errmsg());
	lmteam_free(t);
	gu_corpus_free(&c);
	free(S);
}

typedef struct {
	const lmfit_opts *o;
	trainer tr;             /* loop control: position, budget, signals, checkpoints */
	gu_model *m;
	lmteam *team;           /* the step's shares over threads and ranks */
	gu_opt *opt;
	state_t st;
	gu_rng shuffle, drop;
	FILE *log;
	/* training corpus and this epoch's order */
	gu_corpus train;
	int32_t *S;             /* (N) this epoch's ids */
	size_t N;
	uint32_t *perm;         /* (train.n_docs) record order */
	int64_t B;              /* rows of the whole batch: -b on each of the ranks */
	int64_t nb;             /* batches per epoch */
	/* validation */
	gu_corpus valid;
	int32_t *vS;
	size_t vN;
	gu_loss vloss;
	int have_vloss;
	/* this step */
	double lr[GU_MAX_GROUPS], beta1;
	gu_loss loss;
	double cur_lr;          /* scheduled lr of the last group at the last step */
	/* speed and the time budget's plans, this session */
	double t_rate, t_plan, valid_secs, last_valid_secs, rate;
	int64_t step_plan, rate_steps;
} fit_t;

/* tr_loop.payload: the LM's state, then the carried hidden state of every row of the batch.
 * Collective (called on every rank): the state is gathered into rank 0's dst. */
static size_t lm_payload(void *ctx, void *dst)
{
	fit_t *f = ctx;
	size_t len = sizeof f->st + lmteam_state_floats(f->team) * sizeof(float);
	if (!dst) return len;
	memcpy(f->st.drop_rng, f->drop.s, sizeof f->st.drop_rng);
	memcpy(dst, &f->st, sizeof f->st);
	lmteam_get_state(f->team, par_leader() ? (float *)((unsigned char *)dst + sizeof f->st) : NULL);
	return len;
}

/* Restores the LM's state from a resumed checkpoint's payload (after tr_attach). */
static void lm_restore(fit_t *f)
{
	const lmfit_opts *o = f->o;
	const char *path = o->tr.resume;
	const trainer *t = &f->tr;
	state_t *st = &f->st;
	if (t->payload_len < sizeof *st) fl_die("%s: not a checkpoint of this trainer (state too short)", path);
	memcpy(st, t->payload, sizeof *st);
	if (st->magic != STATE_MAGIC || st->version != STATE_VERSION) fl_die("%s: not a checkpoint of this trainer (bad state magic or version)", path);
	if (st->B != f->B || st->T != o->T)
		fl_die("%s: checkpoint was made with -b %d --bptt %d (-b: rows of a batch, times the ranks under mpirun); resume with the same",
		       path, st->B, st->T);
	if (st->V != f->m->hp.vocab_size || st->n_layers != f->m->hp.n_layers) fl_die("%s: trainer state disagrees with its model", path);
	if (st->lr != o->lr || st->lr_factor != o->lr_factor || st->freeze_to != o->freeze_to)
		fl_die("%s: checkpoint was made with --lr %g, lr factor %g, freeze-to %lld; resume with the same", path, st->lr,
		       st->lr_factor, (long long)st->freeze_to);
	if (t->payload_len != sizeof *st + lmteam_state_floats(f->team) * sizeof(float)) fl_die("%s: trainer state has the wrong size", path);
	lmteam_set_state(f->team, (const float *)((const unsigned char *)t->payload + sizeof *st));
	memcpy(f->shuffle.s, st->epoch_rng, sizeof f->shuffle.s);
	memcpy(f->drop.s, st->drop_rng, sizeof f->drop.s);
	fl_info("resuming %s at epoch %lld, step %lld of %lld", path, (long long)t->pos.epoch + 1, (long long)t->pos.step, (long long)st->n_total);
}

/* A fresh run's LM state: schedule length, rngs from the seed. */
static void lm_start(fit_t *f)
{
	const lmfit_opts *o = f->o;
	state_t *st = &f->st;
	memset(st, 0, sizeof *st);
	st->magic = STATE_MAGIC, st->version = STATE_VERSION;
	st->B = (int32_t)f->B, st->T = o->T, st->V = f->m->hp.vocab_size, st->n_layers = f->m->hp.n_layers;
	st->lr = o->lr, st->lr_factor = o->lr_factor, st->freeze_to = o->freeze_to;
	st->n_epochs = o->epochs > 0 ? o->epochs : (o->tr.time_budget > 0 ? 1000000 : 1);
	st->n_total = st->n_epochs * f->nb;
	if (o->steps > 0 && o->steps < st->n_total) {
		/* a fixed length: the time budget, if any, only stops the run */
		st->n_total = o->steps;
		st->n_epochs = (o->steps + f->nb - 1) / f->nb;
		st->sched_fixed = 4;
	}
	gu_rng_seed(&f->shuffle, o->seed);
	gu_rng_seed(&f->drop, o->seed ^ 0x9e3779b97f4a7c15ull);
}

static void log_row(fit_t *f, double tok_per_s)
{
	if (!f->log) return;
	const state_t *st = &f->st;
	const tr_pos *p = &f->tr.pos;
	double bpb = f->have_vloss ? f->vloss.ce / log(2.0) / f->m->hp.stride : NAN;
	fprintf(f->log, "%lld\t%lld\t%.6g\t%.6f\t", (long long)p->step, (long long)p->epoch, f->cur_lr, st->smooth_w > 0 ? st->smooth / st->smooth_w : NAN);
	if (f->have_vloss)
		fprintf(f->log, "%.6f\t%.6f\t%.4f\t%.6f", f->vloss.ce, (double)f->vloss.correct / (double)f->vloss.n, exp(f->vloss.ce), bpb);
	else
		fprintf(f->log, "nan\tnan\tnan\tnan");
	fprintf(f->log, "\t%.1f\t%.1f\n", tok_per_s, p->elapsed);
	fflush(f->log);
	if (ferror(f->log)) fl_die("%s: write failed", f->o->log_path);
	f->have_vloss = 0;
}

static void open_log(fit_t *f)
{
	const lmfit_opts *o = f->o;
	if (!o->log_path || !par_leader()) return;
	const int resumed = o->tr.resume != NULL;
	FILE *probe = resumed ? fopen(o->log_path, "r") : NULL;
	int exists = probe != NULL;
	if (probe) fclose(probe);
	f->log = fopen(o->log_path, resumed ? "a" : "w");
	if (!f->log) fl_die("%s: cannot open log: %s", o->log_path, strerror(errno));
	if (!exists) fprintf(f->log, "step\tepoch\tlr\ttrain_loss\tvalid_loss\tvalid_accuracy\tvalid_perplexity\tvalid_bits_per_base\ttokens_per_s\telapsed_s\n");
}

static void validate(fit_t *f)
{
	if (!f->vS) return;
	/* the training state is kept: validation starts from zero (REFERENCE-SEMANTICS 1.6) */
	if (lmteam_eval(f->team, f->vS, f->vN, &f->vloss) < 0) fl_die("evaluation: %s", gu_errmsg());
	f->have_vloss = 1;
	fl_info("epoch %lld step %lld: valid loss %.4f accuracy %.4f perplexity %.3f bits/base %.4f", (long long)f->tr.pos.epoch + 1,
		(long long)f->tr.pos.step, f->vloss.ce, (double)f->vloss.correct / (double)f->vloss.n, exp(f->vloss.ce),
		f->vloss.ce / log(2.0) / f->m->hp.stride);
}

/* Validates and measures how long it took (for the time budget's plans). */
static void validate_timed(fit_t *f)
{
	double tv = par_clock();
	validate(f);
	f->last_valid_secs = par_clock() - tv;
	f->valid_secs += f->last_valid_secs;
}

/* What a run that stops on a non-finite number leaves behind. */
static const char *ckpt_note(const char *path)
{
	static char buf[4200];
	FILE *fp = path ? fopen(path, "rb") : NULL;
	if (fp) {
		fclose(fp);
		snprintf(buf, sizeof buf, "the last good checkpoint %s is kept (try a lower --lr or --clip)", path);
	} else {
		snprintf(buf, sizeof buf, "no checkpoint was written yet (try a lower --lr or --clip)");
	}
	return buf;
}

/* Schedule of step t: lr of every group and beta1. */
static void schedule(fit_t *f, int64_t t)
{
	const lmfit_opts *o = f->o;
	double top = tr_onecycle(&o->tr, t, f->st.n_total, o->lr, &f->beta1);
	gu_discriminative_lr(f->lr, f->m->n_groups, top, o->lr_factor);
}

/* One training step on batch k (the step-th): the batch, the gradient, the optimiser. */
static void lm_train_batch(fit_t *f, int64_t k, int64_t step)
{
	gu_opt_zero_grad(f->opt);
	int ret = lmteam_step(f->team, f->opt->grad, f->S, f->N, k, &f->drop, &f->loss);
	if (ret == GU_ENUM || !isfinite(f->loss.loss))
		fl_die("non-finite loss at step %lld (epoch %lld); training stopped, %s", (long long)step, (long long)f->tr.pos.epoch + 1,
		       ckpt_note(f->o->tr.ckpt_path));
	if (ret < 0) fl_die("%s", gu_errmsg());
	schedule(f, step);
	double norm = gu_opt_step(f->opt, f->lr, f->beta1, gu_freeze_to_mask(f->o->freeze_to));
	if (!isfinite(norm))
		fl_die("non-finite gradient at step %lld (epoch %lld); training stopped, %s", (long long)step, (long long)f->tr.pos.epoch + 1,
		       ckpt_note(f->o->tr.ckpt_path));
}

/* tr_loop.n_epochs: one stage of the planned epochs. */
static int64_t lm_n_epochs(void *ctx, int64_t s) { return ((fit_t *)ctx)->st.n_epochs; }

/* tr_loop.epoch_begin: the epoch's order is a function of epoch_rng (so a resume redraws it);
 * the carried state starts from zero. */
static int64_t lm_epoch_begin(void *ctx, const tr_pos *p)
{
	fit_t *f = ctx;
	if (p->batch == 0) memcpy(f->st.epoch_rng, f->shuffle.s, sizeof f->st.epoch_rng);
	memcpy(f->shuffle.s, f->st.epoch_rng, sizeof f->shuffle.s);
	for (size_t i = 0; i < f->train.n_docs; i++) f->perm[i] = (uint32_t)i;
	gu_rng_shuffle(&f->shuffle, f->perm, f->train.n_docs);
	gu_corpus_epoch(&f->train, f->S, f->perm);
	if (p->batch == 0) lmteam_reset_state(f->team);
	return f->nb;
}

/* tr_loop.batch */
static void lm_batch(void *ctx, const tr_pos *p)
{
	fit_t *f = ctx;
	lm_train_batch(f, p->batch, p->step);
	f->cur_lr = f->lr[f->m->n_groups - 1];
	state_t *st = &f->st;
	st->smooth = 0.98 * st->smooth + 0.02 * f->loss.ce, st->smooth_w = 0.98 * st->smooth_w + 0.02;
	f->rate_steps++;
}

/* Plans the schedule for the time budget once the speed is known (after 10 steps), and plans
 * again at 8%, 20% and 50% of the budget from the speed since the last plan (the first steps
 * are often slower, and the machine's load changes: a plan made while another job shared the
 * core left 20% of a 25-minute budget unused; at 50% the schedule is just past its peak, so a
 * new length moves the rate little). */
static void plan_for_budget(fit_t *f, double now)
{
	const lmfit_opts *o = f->o;
	const double budget = o->tr.time_budget, tok_per_step = (double)f->B * o->T;
	state_t *st = &f->st;
	const tr_pos *p = &f->tr.pos;
	static const double replan_at[] = {0, 0.08, 0.2, 0.5};
	if (!(budget > 0 && st->sched_fixed < 4 && p->step > f->step_plan &&
	      (st->sched_fixed == 0 ? f->tr.session_steps >= 10 || p->elapsed > 0.1 * budget : p->elapsed > replan_at[st->sched_fixed] * budget)))
		return;
	double per_step = (now - f->t_plan - f->valid_secs) / (double)(p->step - f->step_plan);
	/* one validation: measured when one ran, else a guess (evaluation costs about a fifth of
	 * training per token) */
	double vcost = !f->vS ? 0 : f->last_valid_secs > 0 ? f->last_valid_secs : per_step / 5.0 * (double)f->vN / tok_per_step;
	/* steps S that fit: S*per_step + (one per --valid-every, one per epoch, one at the end)
	 * validations <= what is left */
	double left = budget - p->elapsed - vcost;
	double per = per_step + (o->valid_every > 0 ? vcost / (double)o->valid_every : 0) + vcost / (double)f->nb;
	int64_t fit = p->step + (int64_t)(left > 0 ? left / per : 0);
	if (fit < p->step + 1) fit = p->step + 1;
	st->n_total = fit < st->n_epochs * f->nb ? fit : st->n_epochs * f->nb;
	st->sched_fixed++;
	f->t_plan = now, f->step_plan = p->step, f->valid_secs = 0;
	fl_info("time budget %.0f s: %.3g s a step, %.3g s a validation, schedule planned for %lld steps (%.2f epochs)", budget, per_step,
		vcost, (long long)st->n_total, (double)st->n_total / (double)f->nb);
}

/* tr_loop.after_batch: speed, the budget's plans, progress, the log, --valid-every. */
static int lm_after_batch(void *ctx, const tr_pos *p)
{
	fit_t *f = ctx;
	const lmfit_opts *o = f->o;
	const double tok_per_step = (double)f->B * o->T;
	state_t *st = &f->st;
	double now = par_clock(); /* rank 0's: every rank plans alike */
	f->rate = now > f->t_rate ? (double)f->rate_steps * tok_per_step / (now - f->t_rate) : 0;
	plan_for_budget(f, now);
	fl_progress("epoch %lld step %lld/%lld lr %.2e loss %.4f %.0f tok/s ETA %.0fs", (long long)p->epoch + 1, (long long)p->step,
		    (long long)st->n_total, f->cur_lr, st->smooth / st->smooth_w, f->rate,
		    f->rate > 0 ? (double)(st->n_total - p->step) * tok_per_step / f->rate : 0.0);
	int valid_now = o->valid_every > 0 && p->step % o->valid_every == 0;
	if (o->log_every > 0 && p->step % o->log_every == 0 && !valid_now) log_row(f, f->rate);
	if (valid_now) {
		validate_timed(f);
		tr_offer_best(&f->tr, f->vloss.ce);
		log_row(f, f->rate);
		tr_update_elapsed(&f->tr);
	}
	return p->step >= st->n_total;
}

/* tr_loop.epoch_end: validation, a log row; the next epoch's order starts from here. */
static double lm_epoch_end(void *ctx, const tr_pos *p)
{
	fit_t *f = ctx;
	double tv = par_clock();
	validate(f);
	f->last_valid_secs = par_clock() - tv;
	log_row(f, 0);
	memcpy(f->st.epoch_rng, f->shuffle.s, sizeof f->st.epoch_rng);
	return f->vS ? f->vloss.ce : NAN;
}

/* Reads the training and validation corpora within the memory left beside the model. */
static void load_data(fit_t *f)
{
	const lmfit_opts *o = f->o;
	const gu_model *m = f->m;
	const int B = (int)f->B, T = o->T;
	uint64_t mem = lmfit_mem_available();
	uint64_t model_bytes = (uint64_t)m->n_params * 4 * 4; /* params, grad, 2 moments */
	uint64_t max_tokens = mem > model_bytes ? (mem - model_bytes) * 8 / 10 / 8 : 0;
	load_corpus(&f->train, m->vocab, o->train, o->n_train, max_tokens, "training");
	f->N = gu_corpus_epoch_len(&f->train);
	if (f->N < (size_t)B) fl_die("the training corpus (%zu ids) is smaller than one batch row per stream (-b %d)", f->N, B);
	f->S = malloc(f->N * sizeof *f->S);
	f->perm = malloc(f->train.n_docs * sizeof *f->perm);
	if (!f->S || !f->perm) fl_die("out of memory for the training corpus (%zu ids)", f->N);
	f->nb = gu_lm_n_batches(f->N, B, T);
	if (o->valid) {
		char *vp[1] = {(char *)o->valid};
		load_corpus(&f->valid, m->vocab, vp, 1, max_tokens, "validation");
		f->vN = gu_corpus_epoch_len(&f->valid);
		if (!(f->vS = malloc(f->vN * sizeof *f->vS))) fl_die("out of memory");
		gu_corpus_epoch(&f->valid, f->vS, NULL);
	}
	fl_info("training corpus: %zu records, %zu tokens (%.2f%% xxunk); model V=%d E=%d H=%d, %zu parameters", f->train.n_docs, f->train.n,
		100.0 * (double)f->train.n_unk / (double)f->train.n, m->hp.vocab_size, m->hp.emb, m->hp.hidden, m->n_params);
	if (m->hp.lm_output == GU_LM_BASES)
		fl_info("output: the next token's %d new bases (%d classes); a target that is or follows a special token is not counted",
			m->hp.stride, gu_lm_n_out(&m->hp));
	if (f->vS) fl_info("validation corpus: %zu records, %zu tokens", f->valid.n_docs, f->valid.n);
}

/* The end of a session: a checkpoint when stopped, else the final model (validated when the
 * run ended inside an epoch). Returns the exit status. */
static int lm_finish(fit_t *f, const tr_loop *L, int why)
{
	const lmfit_opts *o = f->o;
	const tr_pos *p = &f->tr.pos;
	if (why == TR_SIGNAL || why == TR_MAX_STEPS) {
		tr_write_checkpoint(&f->tr, L);
		if (o->tr.ckpt_path)
			fl_info("%s after step %lld: checkpoint written to %s; continue with --resume %s", why == TR_SIGNAL ? "interrupted" : "stopped",
				(long long)p->step, o->tr.ckpt_path, o->tr.ckpt_path);
		else
			fl_info("%s after step %lld: nothing saved (--no-checkpoint)", why == TR_SIGNAL ? "interrupted" : "stopped", (long long)p->step);
		return EXIT_STOPPED;
	}
	if (why == TR_TIME) fl_info("time budget reached after %lld steps", (long long)p->step);
	if (p->batch != 0) { /* stopped inside an epoch: validate the final model */
		validate(f);
		if (f->vS) tr_offer_best(&f->tr, f->vloss.ce);
		log_row(f, 0);
	}
	if (tr_use_best(&f->tr))
		fl_info("keeping the model of step %lld (validation loss %.4f)", (long long)p->best_step, p->best_loss);
	if (par_leader() && gu_model_write(f->m, o->out) < 0) fl_die("%s", gu_errmsg());
	tr_remove_checkpoint(&f->tr); /* finished: nothing to resume */
	fl_info("wrote %s after %lld steps (%.2f epochs, %.0f s of training)", o->out, (long long)p->step, (double)p->step / (double)f->nb,
		p->elapsed);
	return 0;
}

int lmfit_run(gu_model *m, const lmfit_opts *o)
{
	fit_t f = {0};
	f.o = o;
	if (o->tr.resume) {
		if (m) gu_model_free(m);
		m = tr_resume(&f.tr, &o->tr, GU_MODEL_LM);
	} else {
		tr_init(&f.tr, &o->tr, o->seed);
		/* this stage's provenance goes in now, so a resumed run writes the same file as an
		 * uninterrupted one */
		int pargc;
		char **pargv = tr_prov_argv(o->argc, o->argv, &pargc);
		if (gu_model_add_prov(m, fl_prog, pargc, pargv) < 0) fl_die("%s", gu_errmsg());
	}
	f.m = m;
	f.B = (int64_t)o->B * par_size();
	load_data(&f);
	if (!(f.team = lmteam_new(m, o->T, o->B, o->threads))) fl_die("%s", gu_errmsg());
	if (par_size() > 1 || o->threads > 1)
		fl_info("data-parallel: %d rank%s x %d thread%s, batches of %lld rows (%d a rank)", par_size(), par_size() > 1 ? "s" : "",
			o->threads < o->B ? o->threads : o->B, o->threads > 1 ? "s" : "", (long long)f.B, o->B);
	if (!(f.opt = gu_opt_new(m))) fl_die("%s", gu_errmsg());
	f.opt->wd = o->wd, f.opt->clip = o->clip;
	lmteam_set_frozen(f.team, gu_freeze_to_mask(o->freeze_to));
	tr_attach(&f.tr, m, f.opt);
	if (o->tr.resume) lm_restore(&f);
	else lm_start(&f);
	open_log(&f);
	fl_catch_signals();

	const tr_loop L = {.ctx = &f, .n_stages = 1, .n_epochs = lm_n_epochs, .epoch_begin = lm_epoch_begin, .batch = lm_batch,
			   .after_batch = lm_after_batch, .epoch_end = lm_epoch_end, .payload = lm_payload};
	f.t_rate = f.t_plan = par_clock();
	f.step_plan = f.tr.pos.step;
	int status = lm_finish(&f, &L, tr_run(&f.tr, &L));
	if (f.log && fclose(f.log) != 0) fl_die("%s: write failed", o->log_path);
	lmteam_free(f.team);
	gu_opt_free(f.opt);
	gu_corpus_free(&f.train);
	gu_corpus_free(&f.valid);
	free(f.S), free(f.perm), free(f.vS);
	tr_free(&f.tr);
	gu_model_free(m);
	return status;
}

enum {
	O_LAYERS = 256, O_DROPMULT, O_OUTP, O_HIDP, O_INP, O_EMBP, O_WP, O_ALPHA, O_BETA, O_BPTT, O_LR, O_WD, O_CLIP, O_SEED,
	O_LOG, O_LOGEVERY, O_VALIDEVERY, O_EVAL, O_EXPORT, O_IMPORT, O_VERSION, O_LRFACTOR, O_FREEZETO, O_STEPS, O_OUTPUT
};

void lmfit_parse_args(lmfit_cli *c, int argc, char **argv)
{
	static const struct option lopts[] = {
		{"emb", required_argument, 0, 'E'}, {"hidden", required_argument, 0, 'H'}, {"layers", required_argument, 0, O_LAYERS},
		{"drop-mult", required_argument, 0, O_DROPMULT}, {"output-p", required_argument, 0, O_OUTP},
		{"hidden-p", required_argument, 0, O_HIDP}, {"input-p", required_argument, 0, O_INP}, {"embed-p", required_argument, 0, O_EMBP},
		{"weight-p", required_argument, 0, O_WP}, {"alpha", required_argument, 0, O_ALPHA}, {"beta", required_argument, 0, O_BETA},
		{"batch", required_argument, 0, 'b'}, {"bptt", required_argument, 0, O_BPTT}, {"epochs", required_argument, 0, 'e'},
		{"steps", required_argument, 0, O_STEPS}, {"output", required_argument, 0, O_OUTPUT},
		{"lr", required_argument, 0, O_LR}, {"wd", required_argument, 0, O_WD}, {"clip", required_argument, 0, O_CLIP},
		{"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, 't'},
		{"log", required_argument, 0, O_LOG}, {"log-every", required_argument, 0, O_LOGEVERY},
		{"valid-every", required_argument, 0, O_VALIDEVERY}, TR_LONG_OPTIONS, {"eval", no_argument, 0, O_EVAL},
		{"export-safetensors", required_argument, 0, O_EXPORT}, {"import-safetensors", required_argument, 0, O_IMPORT},
		{"lr-factor", required_argument, 0, O_LRFACTOR}, {"freeze-to", required_argument, 0, O_FREEZETO},
		{"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
	gu_hparams *hp = &c->hp;
	lmfit_opts *o = &c->o;
	int ch;
	while ((ch = getopt_long(argc, argv, "o:v:V:E:H:b:e:t:m:qh", lopts, NULL)) != -1) {
		if (ch == 'E' || ch == 'H' || ch == O_LAYERS || ch == O_OUTPUT) c->arch_set = 1;
		switch (ch) {
		case 'o': o->out = optarg; break;
		case 'v': c->vocab = optarg; break;
		case 'V': o->valid = optarg; break;
		case 'm': c->model = optarg; break;
		case 'E': hp->emb = (int)fl_parse_long(optarg, "--emb", 1, 100000); break;
		case 'H': hp->hidden = (int)fl_parse_long(optarg, "--hidden", 1, 100000); break;
		case O_LAYERS: hp->n_layers = (int)fl_parse_long(optarg, "--layers", 1, GU_MAX_LAYERS); break;
		case O_OUTPUT:
			hp->lm_output = (const int[]){GU_LM_KMER, GU_LM_BASES}
				[fl_parse_choice(optarg, "--output", (const char *const[]){"kmer", "bases", NULL})];
			break;
		case O_DROPMULT: hp->drop_mult = (float)fl_parse_double(optarg, "--drop-mult", 0, 100), c->drop_set |= 1; break;
		case O_OUTP: hp->output_p = (float)fl_parse_double(optarg, "--output-p", 0, 0.999), c->drop_set |= 2; break;
		case O_HIDP: hp->hidden_p = (float)fl_parse_double(optarg, "--hidden-p", 0, 0.999), c->drop_set |= 4; break;
		case O_INP: hp->input_p = (float)fl_parse_double(optarg, "--input-p", 0, 0.999), c->drop_set |= 8; break;
		case O_EMBP: hp->embed_p = (float)fl_parse_double(optarg, "--embed-p", 0, 0.999), c->drop_set |= 16; break;
		case O_WP: hp->weight_p = (float)fl_parse_double(optarg, "--weight-p", 0, 0.999), c->drop_set |= 32; break;
		case O_ALPHA: hp->alpha = (float)fl_parse_double(optarg, "--alpha", 0, 1e6), c->drop_set |= 64; break;
		case O_BETA: hp->beta = (float)fl_parse_double(optarg, "--beta", 0, 1e6), c->drop_set |= 128; break;
		case 'b': o->B = (int)fl_parse_long(optarg, "--batch", 1, 1 << 20); break;
		case O_BPTT: o->T = (int)fl_parse_long(optarg, "--bptt", 1, 1 << 20); break;
		case 'e': o->epochs = (int)fl_parse_long(optarg, "--epochs", 1, 1000000); break;
		case O_STEPS: o->steps = fl_parse_long(optarg, "--steps", 1, 1L << 40); break;
		case O_LR: o->lr = fl_parse_double(optarg, "--lr", 1e-12, 100); break;
		case O_WD: o->wd = fl_parse_double(optarg, "--wd", 0, 10); break;
		case O_CLIP: o->clip = fl_parse_double(optarg, "--clip", 0, 1e9); break;
		case O_SEED: o->seed = (uint64_t)fl_parse_long(optarg, "--seed", 0, 0x7fffffffffffffffL), o->tr.seed_set = 1; break;
		case 't': c->threads = (int)fl_parse_long(optarg, "--threads", 1, 1024); break;
		case O_LOG: o->log_path = optarg; break;
		case O_LOGEVERY: o->log_every = fl_parse_long(optarg, "--log-every", 0, 1L << 40); break;
		case O_VALIDEVERY: o->valid_every = fl_parse_long(optarg, "--valid-every", 0, 1L << 40); break;
		case O_EVAL: c->eval = 1; break;
		case O_EXPORT: c->export_path = optarg; break;
		case O_IMPORT: c->import_path = optarg; break;
		case O_LRFACTOR: o->lr_factor = fl_parse_double(optarg, "--lr-factor", 1, 1e6), c->lr_factor_set = 1; break;
		case O_FREEZETO: o->freeze_to = (int)fl_parse_long(optarg, "--freeze-to", 0, GU_MAX_GROUPS); break;
		case 'q': fl_quiet = 1; break;
		case 'h': c->help = 1; return;
		case O_VERSION: c->version = 1; return;
		default:
			if (!tr_parse_option(&o->tr, ch, optarg)) fl_bad_option(argv);
		}
	}
	c->inputs = argv + optind, c->n_in = argc - optind;
	o->train = c->inputs, o->n_train = c->n_in;
	o->threads = c->threads;
	o->argc = argc, o->argv = argv;
	openblas_set_num_threads(c->threads);
	fl_catch_signals();
	tr_check_options(&o->tr, o->out);
	if (o->tr.keep_best && !o->valid) fl_usage_error("--keep-best needs validation data (-V)");
	for (int i = 0; i < c->n_in; i++)
		if (strcmp(c->inputs[i], "-") == 0 && (c->n_in > 1 || (o->valid && strcmp(o->valid, "-") == 0)))
			fl_usage_error("'-' (stdin) can be used once only");
}
