/* trainer.c: loop control shared by lmtrain, lmtune and clstrain (see trainer.h). Under
 * mpirun every rank runs the same loop: the stop decision (par_any of the signal flags) and
 * the clock (par_clock, rank 0's) are collective, so all ranks stop, plan and checkpoint at the
 * same step; rank 0 alone writes and removes files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"
#include "trainer.h"

#define TR_MAGIC "GUTRAIN1"

/* The trainer's head of a checkpoint's opaque state (host byte order, little-endian on every
 * supported machine), followed by the program's payload of payload_len bytes. */
typedef struct {
	char magic[8];
	char prog[16];          /* the program family that wrote it: "lmfit", "clstrain" */
	tr_pos pos;
	double div, pct_start, mom0, mom1; /* the one-cycle's options: a resume uses the same */
	uint64_t payload_len;
} tr_head;

void tr_defaults(tr_opts *o)
{
	memset(o, 0, sizeof *o);
	o->div = 25, o->pct_start = 0.3, o->mom0 = 0.8, o->mom1 = 0.7;
	o->ckpt_minutes = 10;
}

int tr_parse_option(tr_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case TR_O_DIV: o->div = fl_parse_double(arg, "--div", 1, 1e9); return 1;
	case TR_O_PCT: o->pct_start = fl_parse_double(arg, "--pct-start", 0, 1); return 1;
	case TR_O_MOMS:
		if (sscanf(arg, "%lf,%lf", &o->mom0, &o->mom1) != 2 || !(o->mom0 >= 0 && o->mom0 < 1 && o->mom1 >= 0 && o->mom1 < 1))
			fl_usage_error("--moms: '%s' is not two momenta in [0,1) like 0.8,0.7", arg);
		return 1;
	case TR_O_TIME: o->time_budget = fl_parse_duration(arg, "--time"); return 1;
	case TR_O_MAXSTEPS: o->max_steps = fl_parse_long(arg, "--max-steps", 1, 1L << 40); return 1;
	case TR_O_CKPT: o->ckpt_path = arg, o->ckpt_named = 1; return 1;
	case TR_O_CKPTEVERY: o->ckpt_minutes = fl_parse_double(arg, "--checkpoint-every", 0, 1e9); return 1;
	case TR_O_NOCKPT: o->no_ckpt = 1; return 1;
	case TR_O_RESUME: o->resume = arg; return 1;
	case TR_O_KEEPBEST: o->keep_best = 1; return 1;
	case TR_O_NOKEEPBEST: o->keep_best = 0; return 1;
	default: return 0;
	}
}

void tr_check_options(tr_opts *o, const char *out)
{
	if (o->no_ckpt) {
		if (o->ckpt_named) fl_usage_error("--checkpoint and --no-checkpoint are exclusive");
		o->ckpt_path = NULL;
		return;
	}
	if (!o->ckpt_path && out) {
		snprintf(o->ckpt_buf, sizeof o->ckpt_buf, "%s.ckpt", out);
		o->ckpt_path = o->ckpt_buf;
	}
}

void tr_init(trainer *t, const tr_opts *o, uint64_t seed)
{
	memset(t, 0, sizeof *t);
	t->o = o;
	t->pos.seed = seed;
	t->pos.best_loss = INFINITY;
}

static void best_path(char *buf, size_t n, const char *ckpt) { snprintf(buf, n, "%s.best", ckpt); }

/* The trainer family a checkpoint belongs to, by its model's kind. */
static const char *prog_of(int kind) { return kind == GU_MODEL_LM ? "lmfit" : "clstrain"; }

gu_model *tr_resume(trainer *t, const tr_opts *o, int kind)
{
	const char *prog = prog_of(kind);
	const char *path = o->resume;
	memset(t, 0, sizeof *t);
	t->o = o;
	if (gu_checkpoint_read(path, &t->ck) < 0) fl_die("%s", gu_errmsg());
	if (t->ck.model->hp.kind != kind)
		fl_die("%s: not a %s checkpoint", path, kind == GU_MODEL_LM ? "language-model" : "classifier");
	tr_head h;
	if (t->ck.trainer_len < sizeof h) fl_die("%s: not a checkpoint of this trainer (state too short)", path);
	memcpy(&h, t->ck.trainer_state, sizeof h);
	h.prog[sizeof h.prog - 1] = 0;
	if (memcmp(h.magic, TR_MAGIC, sizeof h.magic) != 0)
		fl_die("%s: not a checkpoint of this trainer (bad state magic or version)", path);
	if (strcmp(h.prog, prog) != 0) fl_die("%s: a checkpoint of %s, not of %s", path, h.prog, prog);
	if (h.payload_len != t->ck.trainer_len - sizeof h) fl_die("%s: trainer state has the wrong size", path);
	if (h.div != o->div || h.pct_start != o->pct_start || h.mom0 != o->mom0 || h.mom1 != o->mom1)
		fl_die("%s: made with --div %g --pct-start %g --moms %g,%g; resume with the same", path, h.div, h.pct_start, h.mom0, h.mom1);
	t->pos = h.pos;
	t->payload = (const unsigned char *)t->ck.trainer_state + sizeof h;
	t->payload_len = (size_t)h.payload_len;
	gu_model *m = t->ck.model;
	t->ck.model = NULL;
	return m;
}

void tr_attach(trainer *t, gu_model *m, gu_opt *opt)
{
	const tr_opts *o = t->o;
	t->m = m, t->opt = opt;
	if (o->keep_best) {
		t->best_params = malloc(m->n_params * sizeof(float));
		t->best_buffers = malloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
		if (!t->best_params || !t->best_buffers) fl_die("out of memory");
	}
	if (!t->ck.adam_m) return;
	memcpy(opt->adam_m, t->ck.adam_m, m->n_params * sizeof(float));
	memcpy(opt->adam_v, t->ck.adam_v, m->n_params * sizeof(float));
	memcpy(opt->step, t->ck.group_steps, (size_t)m->n_groups * sizeof(int64_t));
	free(t->ck.adam_m), free(t->ck.adam_v), free(t->ck.group_steps);
	t->ck.adam_m = t->ck.adam_v = NULL, t->ck.group_steps = NULL;
	if (o->keep_best && t->pos.best_step > 0) {
		char bp[4200];
		best_path(bp, sizeof bp, o->resume);
		gu_model *b = gu_model_read(bp);
		if (!b) fl_die("%s", gu_errmsg());
		if (b->n_params != m->n_params || b->n_buffers != m->n_buffers) fl_die("%s: does not match the checkpoint", bp);
		memcpy(t->best_params, b->params, m->n_params * sizeof(float));
		memcpy(t->best_buffers, b->buffers, m->n_buffers * sizeof(float));
		gu_model_free(b);
	}
}

double tr_update_elapsed(trainer *t)
{
	t->pos.elapsed = t->elapsed_before + (par_clock() - t->t_session);
	return t->pos.elapsed;
}

double tr_onecycle(const tr_opts *o, int64_t step, int64_t n, double lr_max, double *beta1)
{
	return gu_onecycle(step, n, lr_max, o->div, o->pct_start, o->mom0, o->mom1, beta1);
}

/* Rank 0's part of tr_write_checkpoint: the checkpoint file (blob: head and payload) and, with
 * keep-best, the best model beside it. */
static void write_files(trainer *t, const unsigned char *blob, size_t len)
{
	const tr_opts *o = t->o;
	gu_model *m = t->m;
	if (gu_checkpoint_write(o->ckpt_path, m, t->opt->adam_m, t->opt->adam_v, t->opt->step, m->n_groups, blob, len) < 0)
		fl_die("%s", gu_errmsg());
	if (o->keep_best && t->pos.best_step > 0) {
		/* the best epoch's model beside the checkpoint, so a resume can still keep it */
		char bp[4200];
		best_path(bp, sizeof bp, o->ckpt_path);
		float *p = m->params, *b = m->buffers;
		m->params = t->best_params, m->buffers = t->best_buffers;
		int rc = gu_model_write(m, bp);
		m->params = p, m->buffers = b;
		if (rc < 0) fl_die("%s", gu_errmsg());
	}
}

void tr_write_checkpoint(trainer *t, const tr_loop *L)
{
	const tr_opts *o = t->o;
	if (!o->ckpt_path) return;
	size_t plen = L->payload ? L->payload(L->ctx, NULL) : 0;
	tr_head h;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, TR_MAGIC, sizeof h.magic);
	unsigned char *blob = malloc(sizeof h + plen);
	if (!blob) fl_die("out of memory");
	if (plen) L->payload(L->ctx, blob + sizeof h); /* collective: on every rank */
	h.pos = t->pos;
	h.div = o->div, h.pct_start = o->pct_start, h.mom0 = o->mom0, h.mom1 = o->mom1;
	h.payload_len = plen;
	snprintf(h.prog, sizeof h.prog, "%s", prog_of(t->m->hp.kind));
	memcpy(blob, &h, sizeof h);
	if (par_leader()) write_files(t, blob, sizeof h + plen);
	free(blob);
	t->t_ckpt = par_clock();
}

void tr_remove_checkpoint(const trainer *t)
{
	const tr_opts *o = t->o;
	if (!o->ckpt_path || o->ckpt_epochs || !par_leader()) return; /* epoch checkpoints asked for are kept */
	remove(o->ckpt_path);
	char bp[4200];
	best_path(bp, sizeof bp, o->ckpt_path);
	remove(bp);
}

void tr_offer_best(trainer *t, double loss)
{
	tr_pos *p = &t->pos;
	if (!t->o->keep_best || !(loss < p->best_loss)) return;
	gu_model *m = t->m;
	p->best_loss = loss, p->best_epoch = p->epochs_done, p->best_step = p->step;
	memcpy(t->best_params, m->params, m->n_params * sizeof(float));
	memcpy(t->best_buffers, m->buffers, m->n_buffers * sizeof(float));
}

int tr_use_best(trainer *t)
{
	if (!t->o->keep_best || t->pos.best_step <= 0) return 0;
	gu_model *m = t->m;
	memcpy(m->params, t->best_params, m->n_params * sizeof(float));
	memcpy(m->buffers, t->best_buffers, m->n_buffers * sizeof(float));
	return 1;
}

/* Why the loop stops after the batch just run, TR_DONE for not. */
static int stop_reason(trainer *t)
{
	const tr_opts *o = t->o;
	if (par_any(fl_signalled())) return TR_SIGNAL; /* every rank stops at the same step */
	if (o->time_budget > 0 && t->pos.elapsed >= o->time_budget) return TR_TIME;
	if (o->max_steps > 0 && t->session_steps >= o->max_steps) return TR_MAX_STEPS;
	return TR_DONE;
}

/* The epoch's end: the program's validation, then keep-best. */
static void end_epoch(trainer *t, const tr_loop *L)
{
	tr_pos *p = &t->pos;
	p->epochs_done++;
	tr_offer_best(t, L->epoch_end(L->ctx, p));
	tr_update_elapsed(t);
}

int tr_run(trainer *t, const tr_loop *L)
{
	const tr_opts *o = t->o;
	tr_pos *p = &t->pos;
	t->t_session = t->t_ckpt = par_clock();
	t->elapsed_before = p->elapsed;
	t->session_steps = 0;
	for (; p->stage < L->n_stages; p->stage++, p->epoch = 0) {
		const int64_t n_epochs = L->n_epochs(L->ctx, p->stage);
		for (; p->epoch < n_epochs; p->epoch++) {
			const int64_t nb = L->epoch_begin(L->ctx, p);
			int over = 0;
			while (p->batch < nb) {
				L->batch(L->ctx, p);
				p->batch++, p->step++, t->session_steps++;
				tr_update_elapsed(t);
				over = L->after_batch ? L->after_batch(L->ctx, p) : 0;
				int last = p->batch == nb && p->epoch + 1 == n_epochs && p->stage + 1 == L->n_stages;
				if (over || last) break;
				int why = stop_reason(t);
				if (why) return why; /* the epoch's end, if due, runs in the session that resumes */
				if (o->ckpt_minutes > 0 && par_clock() - t->t_ckpt > 60 * o->ckpt_minutes) tr_write_checkpoint(t, L);
			}
			if (p->batch == nb) {
				end_epoch(t, L);
				p->batch = 0;
			}
			if (over) return TR_DONE;
			/* after the last epoch only checkpoints asked for at every epoch are written: a
			 * resume of that one finishes at once */
			const int end = p->epoch + 1 == n_epochs && p->stage + 1 == L->n_stages;
			int why = end ? TR_DONE : stop_reason(t);
			if (why || o->ckpt_epochs || (!end && o->ckpt_minutes > 0 && par_clock() - t->t_ckpt > 60 * o->ckpt_minutes)) {
				/* stop or checkpoint at the position after this epoch */
				tr_pos keep = *p;
				if (++p->epoch == n_epochs) p->stage++, p->epoch = 0;
				if (why) return why;
				tr_write_checkpoint(t, L);
				*p = keep;
			}
		}
	}
	return TR_DONE;
}

char **tr_prov_argv(int argc, char **argv, int *argc_out)
{
	static char **out;
	free(out);
	if (!(out = malloc((size_t)(argc + 1) * sizeof *out))) fl_die("out of memory");
	int n = 0;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--max-steps") == 0 && i + 1 < argc) {
			i++;
			continue;
		}
		if (i > 0 && strncmp(argv[i], "--max-steps=", 12) == 0) continue;
		out[n++] = argv[i];
	}
	out[n] = NULL;
	*argc_out = n;
	return out;
}

void tr_free(trainer *t)
{
	free(t->best_params), free(t->best_buffers);
	t->best_params = t->best_buffers = NULL;
	gu_checkpoint_free(&t->ck);
	t->payload = NULL;
}
