/* lmfit.c: the language-model training loop shared by lmtrain and lmtune
 * (REFERENCE-SEMANTICS 4-5): epochs over BOS-joined records in a shuffled order, B contiguous
 * streams of bptt-long batches with the hidden state carried, one-cycle lr and momentum,
 * AdamW with decoupled decay, discriminative rates per layer group, validation, a TSV log, a
 * wall-clock budget the schedule is planned for, checkpoints and bit-for-bit resume. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmfit.h"

void openblas_set_num_threads(int);

#define STATE_MAGIC 0x53464c47u /* "GLFS" */
#define STATE_VERSION 1

/* The trainer's part of a checkpoint (host byte order; little-endian on every supported
 * machine), followed by the carried hidden state h, c of every layer. */
typedef struct {
	uint32_t magic, version;
	int32_t B, T, V, n_layers;
	int64_t epoch, batch, step;  /* current epoch, next batch in it, steps done */
	int64_t n_total, n_epochs;   /* schedule length (steps), planned epochs */
	int64_t sched_fixed;         /* plans made of n_total from the time budget (0-4) */
	double elapsed;              /* training seconds so far, over all sessions */
	double smooth, smooth_w;     /* moving average of the training CE (beta 0.98) */
	double lr, lr_factor;        /* checked on resume */
	uint64_t epoch_rng[4];       /* shuffle rng at the start of the epoch */
	uint64_t drop_rng[4];        /* dropout-mask rng now */
	int64_t freeze_to;
} state_t;

void lmfit_defaults(lmfit_opts *o)
{
	memset(o, 0, sizeof *o);
	o->B = 64, o->T = 70, o->epochs = 1;
	o->lr = 5e-3, o->lr_factor = 1;
	o->div = 25, o->pct_start = 0.3, o->mom0 = 0.8, o->mom1 = 0.7, o->wd = 1e-2;
	o->seed = 1;
	o->log_every = 50;
	o->ckpt_minutes = 10;
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

/* Evaluates the LM on S (N ids) from a zero state; the caller saves and restores the carried
 * state when it matters. */
static void eval_corpus(gu_lm *w, const int32_t *S, size_t N, int32_t *x, int32_t *y, gu_loss *tot)
{
	memset(tot, 0, sizeof *tot);
	gu_lm_reset_state(w);
	int64_t nb = gu_lm_n_batches(N, w->B, w->T);
	for (int64_t k = 0; k < nb; k++) {
		gu_loss l;
		gu_lm_batch(x, y, S, N, w->B, w->T, k);
		int ret = gu_lm_step(w, NULL, x, y, 0, NULL, &l);
		if (ret < 0) fl_die("evaluation: %s", gu_errmsg());
		tot->ce_sum += l.ce_sum, tot->n += l.n, tot->correct += l.correct;
		fl_progress("evaluating: %.0f%%", 100.0 * (double)(k + 1) / (double)nb);
	}
	tot->ce = tot->loss = tot->n ? tot->ce_sum / (double)tot->n : NAN;
}

void lmfit_eval(const gu_model *m, char *const *paths, int n_paths, int B, int T, gu_loss *loss)
{
	gu_corpus c;
	load_corpus(&c, m->vocab, paths, n_paths, lmfit_mem_available() / 10, "evaluation");
	size_t N = gu_corpus_epoch_len(&c);
	int32_t *S = malloc(N * sizeof *S), *x = malloc((size_t)T * B * sizeof *x), *y = malloc((size_t)T * B * sizeof *y);
	if (!S || !x || !y) fl_die("out of memory");
	gu_corpus_epoch(&c, S, NULL);
	gu_lm *w = gu_lm_new(m, T, B);
	if (!w) fl_die("%s", gu_errmsg());
	eval_corpus(w, S, N, x, y, loss);
	gu_lm_free(w);
	gu_corpus_free(&c);
	free(S), free(x), free(y);
}

typedef struct {
	const lmfit_opts *o;
	gu_model *m;
	gu_lm *w;
	gu_opt *opt;
	state_t st;
	gu_rng shuffle, drop;
	FILE *log;
	/* validation */
	int32_t *vS;
	size_t vN;
	gu_loss vloss;
	int have_vloss;
	int32_t *x, *y;
	double cur_lr;          /* scheduled lr of the last group at the last step */
} fit_t;

static void write_checkpoint(fit_t *f)
{
	const gu_lm *w = f->w;
	size_t nstate = 0;
	for (int l = 0; l < w->L; l++) nstate += 2 * (size_t)w->B * (size_t)w->n[l];
	size_t len = sizeof f->st + nstate * sizeof(float);
	unsigned char *blob = malloc(len);
	if (!blob) fl_die("out of memory");
	memcpy(f->st.drop_rng, f->drop.s, sizeof f->st.drop_rng);
	memcpy(blob, &f->st, sizeof f->st);
	float *p = (float *)(blob + sizeof f->st);
	for (int l = 0; l < w->L; l++) {
		size_t n = (size_t)w->B * (size_t)w->n[l];
		memcpy(p, w->h[l], n * sizeof *p), p += n;
		memcpy(p, w->c[l], n * sizeof *p), p += n;
	}
	if (gu_checkpoint_write(f->o->ckpt_path, f->m, f->opt->adam_m, f->opt->adam_v, f->opt->step, f->m->n_groups, blob, len) < 0)
		fl_die("%s", gu_errmsg());
	free(blob);
}

/* Restores model, optimiser and trainer state from a checkpoint; returns the model. */
static gu_model *read_checkpoint(const lmfit_opts *o, gu_checkpoint *ck, state_t *st)
{
	if (gu_checkpoint_read(o->resume, ck) < 0) fl_die("%s", gu_errmsg());
	if (ck->model->hp.kind != GU_MODEL_LM) fl_die("%s: not a language-model checkpoint", o->resume);
	if (ck->trainer_len < sizeof *st) fl_die("%s: not a checkpoint of this trainer (state too short)", o->resume);
	memcpy(st, ck->trainer_state, sizeof *st);
	if (st->magic != STATE_MAGIC || st->version != STATE_VERSION) fl_die("%s: not a checkpoint of this trainer (bad state magic or version)", o->resume);
	if (st->B != o->B || st->T != o->T) fl_die("%s: checkpoint was made with -b %d --bptt %d; resume with the same", o->resume, st->B, st->T);
	return ck->model;
}

static void log_row(fit_t *f, double tok_per_s)
{
	if (!f->log) return;
	const state_t *st = &f->st;
	double bpb = f->have_vloss ? f->vloss.ce / log(2.0) / f->m->hp.stride : NAN;
	fprintf(f->log, "%lld\t%lld\t%.6g\t%.6f\t", (long long)st->step, (long long)st->epoch, f->cur_lr, st->smooth_w > 0 ? st->smooth / st->smooth_w : NAN);
	if (f->have_vloss)
		fprintf(f->log, "%.6f\t%.6f\t%.4f\t%.6f", f->vloss.ce, (double)f->vloss.correct / (double)f->vloss.n, exp(f->vloss.ce), bpb);
	else
		fprintf(f->log, "nan\tnan\tnan\tnan");
	fprintf(f->log, "\t%.1f\t%.1f\n", tok_per_s, st->elapsed);
	fflush(f->log);
	if (ferror(f->log)) fl_die("%s: write failed", f->o->log_path);
	f->have_vloss = 0;
}

static void validate(fit_t *f)
{
	if (!f->vS) return;
	gu_lm *w = f->w;
	/* keep the training state: validation starts from zero (REFERENCE-SEMANTICS 1.6 allows it) */
	size_t tot = 0;
	for (int l = 0; l < w->L; l++) tot += 2 * (size_t)w->B * (size_t)w->n[l];
	float *save = malloc(tot * sizeof *save), *p = save;
	if (!save) fl_die("out of memory");
	for (int l = 0; l < w->L; l++) {
		size_t n = (size_t)w->B * (size_t)w->n[l];
		memcpy(p, w->h[l], n * sizeof *p), p += n;
		memcpy(p, w->c[l], n * sizeof *p), p += n;
	}
	eval_corpus(w, f->vS, f->vN, f->x, f->y, &f->vloss);
	p = save;
	for (int l = 0; l < w->L; l++) {
		size_t n = (size_t)w->B * (size_t)w->n[l];
		memcpy(w->h[l], p, n * sizeof *p), p += n;
		memcpy(w->c[l], p, n * sizeof *p), p += n;
	}
	free(save);
	f->have_vloss = 1;
	fl_info("epoch %lld step %lld: valid loss %.4f accuracy %.4f perplexity %.3f bits/base %.4f", (long long)f->st.epoch + 1,
		(long long)f->st.step, f->vloss.ce, (double)f->vloss.correct / (double)f->vloss.n, exp(f->vloss.ce),
		f->vloss.ce / log(2.0) / f->m->hp.stride);
}

/* What a run that stops on a non-finite number leaves behind. */
static const char *ckpt_note(const char *path)
{
	static char buf[4200];
	FILE *fp = fopen(path, "rb");
	if (fp) {
		fclose(fp);
		snprintf(buf, sizeof buf, "the last good checkpoint %s is kept (try a lower --lr or --clip)", path);
	} else {
		snprintf(buf, sizeof buf, "no checkpoint was written yet (try a lower --lr or --clip)");
	}
	return buf;
}

/* Schedule of step t: lr of every group and beta1. */
static void schedule(const fit_t *f, int64_t t, double *lr, double *beta1)
{
	const lmfit_opts *o = f->o;
	double top = gu_onecycle(t, f->st.n_total, o->lr, o->div, o->pct_start, o->mom0, o->mom1, beta1);
	gu_discriminative_lr(lr, f->m->n_groups, top, o->lr_factor);
}

int lmfit_run(gu_model *m, const lmfit_opts *o)
{
	fit_t f = {0};
	f.o = o;
	state_t *st = &f.st;
	const int B = o->B, T = o->T;
	gu_checkpoint ck = {0};
	if (o->resume) {
		if (m) gu_model_free(m);
		m = read_checkpoint(o, &ck, st);
	}
	f.m = m;
	/* this stage's provenance goes in now, so a resumed run writes the same file as an
	 * uninterrupted one */
	if (!o->resume && gu_model_add_prov(m, fl_prog, o->argc, o->argv) < 0) fl_die("%s", gu_errmsg());
	uint64_t mem = lmfit_mem_available();
	uint64_t model_bytes = (uint64_t)m->n_params * 4 * 4; /* params, grad, 2 moments */
	uint64_t max_tokens = mem > model_bytes ? (mem - model_bytes) * 8 / 10 / 8 : 0;

	gu_corpus train, valid = {0};
	load_corpus(&train, m->vocab, o->train, o->n_train, max_tokens, "training");
	size_t N = gu_corpus_epoch_len(&train);
	if (N < (size_t)B) fl_die("the training corpus (%zu ids) is smaller than one batch row per stream (-b %d)", N, B);
	int32_t *S = malloc(N * sizeof *S);
	uint32_t *perm = malloc(train.n_docs * sizeof *perm);
	f.x = malloc((size_t)T * B * sizeof *f.x), f.y = malloc((size_t)T * B * sizeof *f.y);
	if (!S || !perm || !f.x || !f.y) fl_die("out of memory for the training corpus (%zu ids)", N);
	if (o->valid) {
		char *vp[1] = {(char *)o->valid};
		load_corpus(&valid, m->vocab, vp, 1, max_tokens, "validation");
		f.vN = gu_corpus_epoch_len(&valid);
		if (!(f.vS = malloc(f.vN * sizeof *f.vS))) fl_die("out of memory");
		gu_corpus_epoch(&valid, f.vS, NULL);
	}
	fl_info("training corpus: %zu records, %zu tokens (%.2f%% xxunk); model V=%d E=%d H=%d, %zu parameters", train.n_docs, train.n,
		100.0 * (double)train.n_unk / (double)train.n, m->hp.vocab_size, m->hp.emb, m->hp.hidden, m->n_params);
	if (f.vS) fl_info("validation corpus: %zu records, %zu tokens", valid.n_docs, valid.n);

	if (!(f.w = gu_lm_new(m, T, B))) fl_die("%s", gu_errmsg());
	if (!(f.opt = gu_opt_new(m))) fl_die("%s", gu_errmsg());
	f.opt->wd = o->wd, f.opt->clip = o->clip;
	const int64_t nb = gu_lm_n_batches(N, B, T);
	f.w->frozen = gu_freeze_to_mask(o->freeze_to);

	if (o->resume) {
		if (st->V != m->hp.vocab_size || st->n_layers != m->hp.n_layers) fl_die("%s: trainer state disagrees with its model", o->resume);
		if (st->lr != o->lr || st->lr_factor != o->lr_factor || st->freeze_to != o->freeze_to)
			fl_die("%s: checkpoint was made with --lr %g, lr factor %g, freeze-to %lld; resume with the same", o->resume, st->lr,
			       st->lr_factor, (long long)st->freeze_to);
		size_t need = sizeof *st;
		for (int l = 0; l < f.w->L; l++) need += 2 * (size_t)B * (size_t)f.w->n[l] * sizeof(float);
		if (ck.trainer_len != need) fl_die("%s: trainer state has the wrong size", o->resume);
		const float *p = (const float *)((const unsigned char *)ck.trainer_state + sizeof *st);
		for (int l = 0; l < f.w->L; l++) {
			size_t n = (size_t)B * (size_t)f.w->n[l];
			memcpy(f.w->h[l], p, n * sizeof *p), p += n;
			memcpy(f.w->c[l], p, n * sizeof *p), p += n;
		}
		memcpy(f.opt->adam_m, ck.adam_m, m->n_params * sizeof(float));
		memcpy(f.opt->adam_v, ck.adam_v, m->n_params * sizeof(float));
		memcpy(f.opt->step, ck.group_steps, (size_t)m->n_groups * sizeof(int64_t));
		memcpy(f.shuffle.s, st->epoch_rng, sizeof f.shuffle.s);
		memcpy(f.drop.s, st->drop_rng, sizeof f.drop.s);
		free(ck.adam_m), free(ck.adam_v), free(ck.group_steps), free(ck.trainer_state);
		fl_info("resuming %s at epoch %lld, step %lld of %lld", o->resume, (long long)st->epoch + 1, (long long)st->step, (long long)st->n_total);
	} else {
		memset(st, 0, sizeof *st);
		st->magic = STATE_MAGIC, st->version = STATE_VERSION;
		st->B = B, st->T = T, st->V = m->hp.vocab_size, st->n_layers = m->hp.n_layers;
		st->lr = o->lr, st->lr_factor = o->lr_factor, st->freeze_to = o->freeze_to;
		st->n_epochs = o->epochs > 0 ? o->epochs : (o->time_budget > 0 ? 1000000 : 1);
		st->n_total = st->n_epochs * nb;
		gu_rng_seed(&f.shuffle, o->seed);
		gu_rng_seed(&f.drop, o->seed ^ 0x9e3779b97f4a7c15ull);
	}
	if (o->log_path) {
		FILE *probe = o->resume ? fopen(o->log_path, "r") : NULL;
		int exists = probe != NULL;
		if (probe) fclose(probe);
		f.log = fopen(o->log_path, o->resume ? "a" : "w");
		if (!f.log) fl_die("%s: cannot open log: %s", o->log_path, strerror(errno));
		if (!exists) fprintf(f.log, "step\tepoch\tlr\ttrain_loss\tvalid_loss\tvalid_accuracy\tvalid_perplexity\tvalid_bits_per_base\ttokens_per_s\telapsed_s\n");
	}
	fl_catch_signals();

	double lr[GU_MAX_GROUPS], beta1;
	/* elapsed counts everything since the run (all sessions) began: steps, validation, I/O */
	const double t_session = gu_realtime(), elapsed_before = st->elapsed;
	double t_ckpt = t_session, t_rate = t_session, t_plan = t_session, valid_secs = 0, last_valid_secs = 0;
	int64_t step_plan = st->step;
	int64_t rate_steps = 0, steps_this_session = 0;
	const double tok_per_step = (double)B * T;
	int stop = 0, finished = 0;
	while (!stop && !finished) {
		if (st->batch == 0) { /* epoch start: new order, state from zero */
			memcpy(st->epoch_rng, f.shuffle.s, sizeof st->epoch_rng);
		}
		/* the order of this epoch is a function of epoch_rng (so a resume redraws it) */
		memcpy(f.shuffle.s, st->epoch_rng, sizeof f.shuffle.s);
		for (size_t i = 0; i < train.n_docs; i++) perm[i] = (uint32_t)i;
		gu_rng_shuffle(&f.shuffle, perm, train.n_docs);
		gu_corpus_epoch(&train, S, perm);
		if (st->batch == 0) gu_lm_reset_state(f.w);
		for (; st->batch < nb; st->batch++) {
			if (st->step >= st->n_total) break;
			gu_lm_batch(f.x, f.y, S, N, B, T, st->batch);
			gu_opt_zero_grad(f.opt);
			gu_loss l;
			int ret = gu_lm_step(f.w, f.opt->grad, f.x, f.y, 1, &f.drop, &l);
			if (ret == GU_ENUM || !isfinite(l.loss))
				fl_die("non-finite loss at step %lld (epoch %lld); training stopped, %s", (long long)st->step, (long long)st->epoch + 1,
				       ckpt_note(o->ckpt_path));
			if (ret < 0) fl_die("%s", gu_errmsg());
			schedule(&f, st->step, lr, &beta1);
			double norm = gu_opt_step(f.opt, lr, beta1, f.w->frozen);
			if (!isfinite(norm))
				fl_die("non-finite gradient at step %lld (epoch %lld); training stopped, %s", (long long)st->step, (long long)st->epoch + 1,
				       ckpt_note(o->ckpt_path));
			f.cur_lr = lr[m->n_groups - 1];
			st->smooth = 0.98 * st->smooth + 0.02 * l.ce, st->smooth_w = 0.98 * st->smooth_w + 0.02;
			st->step++, steps_this_session++, rate_steps++;
			double now = gu_realtime();
			st->elapsed = elapsed_before + (now - t_session);
			double rate = now > t_rate ? (double)rate_steps * tok_per_step / (now - t_rate) : 0;
			/* plan the schedule for the time budget once the speed is known (after 10 steps),
			 * and plan again at 8%, 20% and 50% of the budget from the speed since the last
			 * plan (the first steps are often slower, and the machine's load changes: a plan
			 * made while another job shared the core left 20% of a 25-minute budget unused;
			 * at 50% the schedule is just past its peak, so a new length moves the rate little) */
			static const double replan_at[] = {0, 0.08, 0.2, 0.5};
			if (o->time_budget > 0 && st->sched_fixed < 4 && st->step > step_plan &&
			    (st->sched_fixed == 0 ? steps_this_session >= 10 || st->elapsed > 0.1 * o->time_budget
						  : st->elapsed > replan_at[st->sched_fixed] * o->time_budget)) {
				double per_step = (now - t_plan - valid_secs) / (double)(st->step - step_plan);
				/* one validation: measured when one ran, else a guess (evaluation costs about a
				 * fifth of training per token) */
				double vcost = !f.vS ? 0 : last_valid_secs > 0 ? last_valid_secs : per_step / 5.0 * (double)f.vN / tok_per_step;
				/* steps S that fit: S*per_step + (one per --valid-every, one per epoch, one at the
				 * end) validations <= what is left */
				double left = o->time_budget - st->elapsed - vcost;
				double per = per_step + (o->valid_every > 0 ? vcost / (double)o->valid_every : 0) + vcost / (double)nb;
				int64_t fit = st->step + (int64_t)(left > 0 ? left / per : 0);
				if (fit < st->step + 1) fit = st->step + 1;
				st->n_total = fit < st->n_epochs * nb ? fit : st->n_epochs * nb;
				st->sched_fixed++;
				t_plan = now, step_plan = st->step, valid_secs = 0;
				fl_info("time budget %.0f s: %.3g s a step, %.3g s a validation, schedule planned for %lld steps (%.2f epochs)",
					o->time_budget, per_step, vcost, (long long)st->n_total, (double)st->n_total / (double)nb);
			}
			fl_progress("epoch %lld step %lld/%lld lr %.2e loss %.4f %.0f tok/s ETA %.0fs", (long long)st->epoch + 1, (long long)st->step,
				    (long long)st->n_total, lr[m->n_groups - 1], st->smooth / st->smooth_w, rate,
				    rate > 0 ? (double)(st->n_total - st->step) * tok_per_step / rate : 0.0);
			if (o->log_every > 0 && st->step % o->log_every == 0 && !(o->valid_every > 0 && st->step % o->valid_every == 0)) log_row(&f, rate);
			if (o->valid_every > 0 && st->step % o->valid_every == 0) {
				double tv = gu_realtime();
				validate(&f);
				last_valid_secs = gu_realtime() - tv;
				valid_secs += last_valid_secs;
				log_row(&f, rate);
				st->elapsed = elapsed_before + (gu_realtime() - t_session);
			}
			if (o->time_budget > 0 && st->elapsed >= o->time_budget) {
				fl_info("time budget reached after %lld steps", (long long)st->step);
				finished = 1;
			}
			if (st->step >= st->n_total) finished = 1;
			if (fl_signalled() || (o->max_steps > 0 && steps_this_session >= o->max_steps)) stop = 1;
			if (stop || finished) {
				st->batch++;
				break;
			}
			if (o->ckpt_minutes > 0 && now - t_ckpt > 60 * o->ckpt_minutes) {
				st->batch++;
				write_checkpoint(&f);
				st->batch--;
				t_ckpt = gu_realtime();
			}
		}
		if (st->batch >= nb) { /* end of an epoch */
			if (!stop) {
				double tv = gu_realtime();
				validate(&f);
				last_valid_secs = gu_realtime() - tv;
				log_row(&f, 0);
				st->elapsed = elapsed_before + (gu_realtime() - t_session);
			}
			st->epoch++, st->batch = 0;
			memcpy(st->epoch_rng, f.shuffle.s, sizeof st->epoch_rng);
			if (st->epoch >= st->n_epochs) finished = 1;
		}
	}
	int status = 0;
	if (stop && !finished) {
		write_checkpoint(&f);
		fl_info("%s after step %lld: checkpoint written to %s; continue with --resume %s", fl_signalled() ? "interrupted" : "stopped",
			(long long)st->step, o->ckpt_path, o->ckpt_path);
		status = EXIT_STOPPED;
	} else {
		if (st->batch != 0) { /* stopped inside an epoch: validate the final model */
			validate(&f);
			log_row(&f, 0);
		}
		if (gu_model_write(m, o->out) < 0) fl_die("%s", gu_errmsg());
		remove(o->ckpt_path); /* finished: nothing to resume */
		fl_info("wrote %s after %lld steps (%.2f epochs, %.0f s of training)", o->out, (long long)st->step, (double)st->step / (double)nb, st->elapsed);
	}
	if (f.log && fclose(f.log) != 0) fl_die("%s: write failed", o->log_path);
	gu_lm_free(f.w);
	gu_opt_free(f.opt);
	gu_corpus_free(&train);
	gu_corpus_free(&valid);
	free(S), free(perm), free(f.x), free(f.y), free(f.vS);
	gu_model_free(m);
	return status;
}

enum {
	O_LAYERS = 256, O_DROPMULT, O_OUTP, O_HIDP, O_INP, O_EMBP, O_WP, O_ALPHA, O_BETA, O_BPTT, O_LR, O_WD, O_MOMS, O_DIV,
	O_PCT, O_CLIP, O_TIME, O_SEED, O_LOG, O_LOGEVERY, O_VALIDEVERY, O_CKPT, O_CKPTEVERY, O_RESUME, O_MAXSTEPS, O_EVAL,
	O_EXPORT, O_IMPORT, O_VERSION, O_LRFACTOR, O_FREEZETO
};

void lmfit_parse_args(lmfit_cli *c, int argc, char **argv)
{
	static const struct option lopts[] = {
		{"emb", required_argument, 0, 'E'}, {"hidden", required_argument, 0, 'H'}, {"layers", required_argument, 0, O_LAYERS},
		{"drop-mult", required_argument, 0, O_DROPMULT}, {"output-p", required_argument, 0, O_OUTP},
		{"hidden-p", required_argument, 0, O_HIDP}, {"input-p", required_argument, 0, O_INP}, {"embed-p", required_argument, 0, O_EMBP},
		{"weight-p", required_argument, 0, O_WP}, {"alpha", required_argument, 0, O_ALPHA}, {"beta", required_argument, 0, O_BETA},
		{"batch", required_argument, 0, 'b'}, {"bptt", required_argument, 0, O_BPTT}, {"epochs", required_argument, 0, 'e'},
		{"lr", required_argument, 0, O_LR}, {"wd", required_argument, 0, O_WD}, {"moms", required_argument, 0, O_MOMS},
		{"div", required_argument, 0, O_DIV}, {"pct-start", required_argument, 0, O_PCT}, {"clip", required_argument, 0, O_CLIP},
		{"time", required_argument, 0, O_TIME}, {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, 't'},
		{"log", required_argument, 0, O_LOG}, {"log-every", required_argument, 0, O_LOGEVERY},
		{"valid-every", required_argument, 0, O_VALIDEVERY}, {"checkpoint", required_argument, 0, O_CKPT},
		{"checkpoint-every", required_argument, 0, O_CKPTEVERY}, {"resume", required_argument, 0, O_RESUME},
		{"max-steps", required_argument, 0, O_MAXSTEPS}, {"eval", no_argument, 0, O_EVAL},
		{"export-safetensors", required_argument, 0, O_EXPORT}, {"import-safetensors", required_argument, 0, O_IMPORT},
		{"lr-factor", required_argument, 0, O_LRFACTOR}, {"freeze-to", required_argument, 0, O_FREEZETO},
		{"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
	gu_hparams *hp = &c->hp;
	lmfit_opts *o = &c->o;
	int ch;
	while ((ch = getopt_long(argc, argv, "o:v:V:E:H:b:e:t:m:qh", lopts, NULL)) != -1) {
		if (ch == 'E' || ch == 'H' || ch == O_LAYERS) c->arch_set = 1;
		switch (ch) {
		case 'o': o->out = optarg; break;
		case 'v': c->vocab = optarg; break;
		case 'V': o->valid = optarg; break;
		case 'm': c->model = optarg; break;
		case 'E': hp->emb = (int)fl_parse_long(optarg, "--emb", 1, 100000); break;
		case 'H': hp->hidden = (int)fl_parse_long(optarg, "--hidden", 1, 100000); break;
		case O_LAYERS: hp->n_layers = (int)fl_parse_long(optarg, "--layers", 1, GU_MAX_LAYERS); break;
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
		case O_LR: o->lr = fl_parse_double(optarg, "--lr", 1e-12, 100); break;
		case O_WD: o->wd = fl_parse_double(optarg, "--wd", 0, 10); break;
		case O_MOMS:
			if (sscanf(optarg, "%lf,%lf", &o->mom0, &o->mom1) != 2 || !(o->mom0 >= 0 && o->mom0 < 1 && o->mom1 >= 0 && o->mom1 < 1))
				fl_usage_error("--moms: '%s' is not two momenta in [0,1) like 0.8,0.7", optarg);
			break;
		case O_DIV: o->div = fl_parse_double(optarg, "--div", 1, 1e9); break;
		case O_PCT: o->pct_start = fl_parse_double(optarg, "--pct-start", 0, 1); break;
		case O_CLIP: o->clip = fl_parse_double(optarg, "--clip", 0, 1e9); break;
		case O_TIME: o->time_budget = fl_parse_duration(optarg, "--time"); break;
		case O_SEED: o->seed = (uint64_t)fl_parse_long(optarg, "--seed", 0, 0x7fffffffffffffffL); break;
		case 't': c->threads = (int)fl_parse_long(optarg, "--threads", 1, 1024); break;
		case O_LOG: o->log_path = optarg; break;
		case O_LOGEVERY: o->log_every = fl_parse_long(optarg, "--log-every", 0, 1L << 40); break;
		case O_VALIDEVERY: o->valid_every = fl_parse_long(optarg, "--valid-every", 0, 1L << 40); break;
		case O_CKPT: o->ckpt_path = optarg; break;
		case O_CKPTEVERY: o->ckpt_minutes = fl_parse_double(optarg, "--checkpoint-every", 0, 1e9); break;
		case O_RESUME: o->resume = optarg; break;
		case O_MAXSTEPS: o->max_steps = fl_parse_long(optarg, "--max-steps", 1, 1L << 40); break;
		case O_EVAL: c->eval = 1; break;
		case O_EXPORT: c->export_path = optarg; break;
		case O_IMPORT: c->import_path = optarg; break;
		case O_LRFACTOR: o->lr_factor = fl_parse_double(optarg, "--lr-factor", 1, 1e6), c->lr_factor_set = 1; break;
		case O_FREEZETO: o->freeze_to = (int)fl_parse_long(optarg, "--freeze-to", 0, GU_MAX_GROUPS); break;
		case 'q': fl_quiet = 1; break;
		case 'h': c->help = 1; return;
		case O_VERSION: c->version = 1; return;
		default: fl_bad_option(argv);
		}
	}
	c->inputs = argv + optind, c->n_in = argc - optind;
	o->train = c->inputs, o->n_train = c->n_in;
	o->argc = argc, o->argv = argv;
	openblas_set_num_threads(c->threads);
	fl_catch_signals();
	if (!o->ckpt_path && o->out) {
		snprintf(c->ckpt_buf, sizeof c->ckpt_buf, "%s.ckpt", o->out);
		o->ckpt_path = c->ckpt_buf;
	}
	for (int i = 0; i < c->n_in; i++)
		if (strcmp(c->inputs[i], "-") == 0 && (c->n_in > 1 || (o->valid && strcmp(o->valid, "-") == 0)))
			fl_usage_error("'-' (stdin) can be used once only");
}
