/* lmteam.c: a language-model step over shares of the batch: threads inside a rank, MPI ranks
 * across (see lmteam.h). Thread 0 is the caller; threads 1.. wait in a pool for jobs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "lmteam.h"
#include "par.h"
#include "pool.h"

void openblas_set_num_threads(int);

enum { JOB_TRAIN, JOB_EVAL, JOB_SUM };

typedef struct {
	gu_lm *w;
	float *grad;      /* (n_params) own gradient block (thread j > 0), NULL for thread 0 */
	int32_t *x, *y;   /* (T,b) this share's batch */
	gu_rng rng;       /* a copy of the caller's rng for this step */
	gu_loss loss;
	int rc;
	char err[256];
} worker;

struct lmteam {
	const gu_model *m;
	int T, B, B_all, nt;
	worker *wk;           /* (nt) */
	int32_t *xg, *yg;     /* (T,B_all) the whole batch */
	float *grad0;         /* thread 0's gradient block of this step (the caller's) */
	tpool *pool;          /* threads 1.. (thread 0 is the caller) */
};

/* Copies the share's columns [row0, row0+b) of the whole batch (T,B_all) into (T,b). */
static void slice_rows(int32_t *dst, const int32_t *src, int T, int B_all, int row0, int b)
{
	for (int t = 0; t < T; t++)
		memcpy(dst + (size_t)t * b, src + (size_t)t * B_all + row0, (size_t)b * sizeof *dst);
}

/* Thread j's part of a job. */
static void run_job(void *arg, int j, int job)
{
	lmteam *t = arg;
	worker *k = &t->wk[j];
	gu_lm *w = k->w;
	if (job == JOB_TRAIN || job == JOB_EVAL) {
		int train = job == JOB_TRAIN;
		slice_rows(k->x, t->xg, t->T, t->B_all, w->row0, w->B);
		slice_rows(k->y, t->yg, t->T, t->B_all, w->row0, w->B);
		float *g = train ? (j ? k->grad : t->grad0) : NULL;
		if (g && j) memset(g, 0, t->m->n_params * sizeof *g);
		k->rc = gu_lm_step(w, g, k->x, k->y, train, train ? &k->rng : NULL, &k->loss);
		if (k->rc < 0) snprintf(k->err, sizeof k->err, "%s", gu_errmsg());
	} else if (job == JOB_SUM) {
		/* grad0 += grad_1 + ... over this thread's slice of the block, in thread order */
		for (int i = 1; i < t->nt; i++)
			if (t->wk[i].rc >= 0) /* else nothing accumulated */
				tpool_add_slice(t->grad0, t->wk[i].grad, t->m->n_params, j, t->nt);
	}
}

void lmteam_free(lmteam *t)
{
	if (!t) return;
	tpool_free(t->pool);
	for (int j = 0; t->wk && j < t->nt; j++) {
		gu_lm_free(t->wk[j].w);
		free(t->wk[j].grad), free(t->wk[j].x), free(t->wk[j].y);
	}
	free(t->wk), free(t->xg), free(t->yg);
	free(t);
}

lmteam *lmteam_new(const gu_model *m, int T, int B, int threads)
{
	lmteam *t = gu_calloc(1, sizeof *t);
	if (!t) return NULL;
	int nt = threads < 1 ? 1 : threads > B ? B : threads;
	t->m = m, t->T = T, t->B = B, t->B_all = B * par_size(), t->nt = nt;
	size_t TBa = (size_t)T * t->B_all;
	if (!(t->wk = gu_calloc((size_t)nt, sizeof *t->wk)) || !(t->xg = gu_malloc(TBa * sizeof *t->xg)) ||
	    !(t->yg = gu_malloc(TBa * sizeof *t->yg)))
		goto fail;
	int row = par_rank() * B;
	for (int j = 0; j < nt; j++) {
		worker *k = &t->wk[j];
		int b = B / nt + (j < B % nt);
		if (!(k->w = gu_lm_new(m, T, b))) goto fail;
		k->w->B_all = t->B_all, k->w->row0 = row;
		row += b;
		if (!(k->x = gu_malloc((size_t)T * b * sizeof *k->x)) || !(k->y = gu_malloc((size_t)T * b * sizeof *k->y))) goto fail;
		if (j && !(k->grad = gu_malloc(m->n_params * sizeof(float)))) goto fail;
	}
	if (nt > 1) openblas_set_num_threads(1); /* one BLAS thread in each of ours */
	if (!(t->pool = tpool_new(nt, run_job, t))) goto fail;
	return t;
fail:
	lmteam_free(t);
	return NULL;
}

int lmteam_rows(const lmteam *t) { return t->B_all; }

void lmteam_set_frozen(lmteam *t, uint32_t frozen)
{
	for (int j = 0; j < t->nt; j++) t->wk[j].w->frozen = frozen;
}

/* Sums the threads' losses, then over ranks; returns the first local error, or GU_ENUM when a
 * share anywhere had a non-finite loss. */
static int gather_losses(lmteam *t, gu_loss *out)
{
	double v[6] = {0};
	int rc = GU_OK;
	for (int j = 0; j < t->nt; j++) {
		const worker *k = &t->wk[j];
		if (k->rc == GU_ENUM) v[5] = 1;
		else if (k->rc < 0 && rc == GU_OK) rc = gu_err(k->rc, "%s", k->err);
		v[0] += k->loss.ce_sum, v[1] += (double)k->loss.n, v[2] += (double)k->loss.correct;
		v[3] += k->loss.ar_tar;
	}
	par_sum_doubles(v, 6);
	memset(out, 0, sizeof *out);
	out->ce_sum = v[0], out->n = (int64_t)v[1], out->correct = (int64_t)v[2];
	out->ce = out->n > 0 ? out->ce_sum / (double)out->n : 0;
	out->ar_tar = v[3], out->loss = out->ce + out->ar_tar;
	if (rc < 0) return rc;
	return v[5] > 0 || !isfinite(out->loss) ? gu_err(GU_ENUM, "LM loss is not finite") : GU_OK;
}

int lmteam_step(lmteam *t, float *grad, const int32_t *S, size_t N, int64_t k, gu_rng *rng,
		gu_loss *out)
{
	gu_lm_batch(t->xg, t->yg, S, N, t->B_all, t->T, k);
	for (int j = 0; j < t->nt; j++) t->wk[j].rng = *rng, t->wk[j].rc = 0;
	t->grad0 = grad;
	tpool_run(t->pool, JOB_TRAIN);
	/* every share drew the same numbers: the rng moves on as one step's would */
	*rng = t->wk[0].rng;
	if (t->nt > 1) tpool_run(t->pool, JOB_SUM);
	/* a share that failed accumulated nothing; the collectives run on every rank regardless */
	par_sum_floats(grad, t->m->n_params);
	return gather_losses(t, out);
}

int lmteam_eval(lmteam *t, const int32_t *S, size_t N, gu_loss *tot)
{
	/* keep the training state: validation starts from zero (REFERENCE-SEMANTICS 1.6 allows it) */
	size_t n = 0;
	for (int j = 0; j < t->nt; j++)
		for (int l = 0; l < t->wk[j].w->L; l++) n += 2 * (size_t)t->wk[j].w->B * t->wk[j].w->n[l];
	float *save = gu_malloc(n * sizeof *save), *p = save;
	if (!save) return GU_ENOMEM;
	for (int j = 0; j < t->nt; j++) {
		gu_lm *w = t->wk[j].w;
		for (int l = 0; l < w->L; l++) {
			size_t c = (size_t)w->B * w->n[l];
			memcpy(p, w->h[l], c * sizeof *p), p += c;
			memcpy(p, w->c[l], c * sizeof *p), p += c;
		}
		gu_lm_reset_state(w);
	}
	memset(tot, 0, sizeof *tot);
	int64_t nb = gu_lm_n_batches(N, t->B_all, t->T);
	int rc = GU_OK;
	for (int64_t k = 0; k < nb; k++) {
		gu_lm_batch(t->xg, t->yg, S, N, t->B_all, t->T, k);
		tpool_run(t->pool, JOB_EVAL);
		gu_loss l;
		int r = gather_losses(t, &l);
		if (r < 0 && rc == GU_OK) rc = r;
		tot->ce_sum += l.ce_sum, tot->n += l.n, tot->correct += l.correct;
		fl_progress("evaluating: %.0f%%", 100.0 * (double)(k + 1) / (double)nb);
	}
	tot->ce = tot->loss = tot->n ? tot->ce_sum / (double)tot->n : NAN;
	p = save;
	for (int j = 0; j < t->nt; j++) {
		gu_lm *w = t->wk[j].w;
		for (int l = 0; l < w->L; l++) {
			size_t c = (size_t)w->B * w->n[l];
			memcpy(w->h[l], p, c * sizeof *p), p += c;
			memcpy(w->c[l], p, c * sizeof *p), p += c;
		}
	}
	free(save);
	return rc;
}

size_t lmteam_state_floats(const lmteam *t)
{
	const gu_lm *w = t->wk[0].w;
	size_t n = 0;
	for (int l = 0; l < w->L; l++) n += 2 * (size_t)t->B_all * w->n[l];
	return n;
}

/* This rank's state, in the global layout restricted to its B rows: per layer h (B,n), c
 * (B,n); dir 0 copies out of the workspaces into buf, 1 into them. */
static void rank_state(lmteam *t, float *buf, int dir)
{
	const gu_lm *w0 = t->wk[0].w;
	for (int l = 0; l < w0->L; l++) {
		int n = w0->n[l];
		for (int hc = 0; hc < 2; hc++) {
			float *p = buf;
			for (int j = 0; j < t->nt; j++) {
				gu_lm *w = t->wk[j].w;
				float *s = hc ? w->c[l] : w->h[l];
				size_t c = (size_t)w->B * n;
				if (dir) memcpy(s, p, c * sizeof *p);
				else memcpy(p, s, c * sizeof *p);
				p += c;
			}
			buf += (size_t)t->B * n;
		}
	}
}

void lmteam_get_state(lmteam *t, float *all)
{
	size_t per = lmteam_state_floats(t) / (size_t)par_size(), R = (size_t)par_size();
	float *mine = malloc(per * sizeof *mine), *g = par_leader() ? malloc(per * R * sizeof *g) : NULL;
	if (!mine || (par_leader() && !g)) fl_die("out of memory");
	rank_state(t, mine, 0);
	par_gather_floats(mine, per, g);
	if (par_leader()) { /* rank blocks (per layer h, c of B rows) -> per layer h, c of B_all rows */
		const gu_lm *w0 = t->wk[0].w;
		size_t off = 0; /* offset of layer l's h, c inside a rank block and (x R) in all */
		for (int l = 0; l < w0->L; l++) {
			size_t c = (size_t)t->B * w0->n[l];
			for (int hc = 0; hc < 2; hc++)
				for (size_t r = 0; r < R; r++)
					memcpy(all + off * R + (size_t)hc * c * R + r * c, g + r * per + off + (size_t)hc * c, c * sizeof *g);
			off += 2 * c;
		}
	}
	free(mine), free(g);
}

void lmteam_set_state(lmteam *t, const float *all)
{
	size_t per = lmteam_state_floats(t) / (size_t)par_size(), R = (size_t)par_size(), r = (size_t)par_rank();
	float *mine = malloc(per * sizeof *mine);
	if (!mine) fl_die("out of memory");
	const gu_lm *w0 = t->wk[0].w;
	size_t off = 0;
	for (int l = 0; l < w0->L; l++) {
		size_t c = (size_t)t->B * w0->n[l];
		for (int hc = 0; hc < 2; hc++) memcpy(mine + off + (size_t)hc * c, all + off * R + (size_t)hc * c * R + r * c, c * sizeof *mine);
		off += 2 * c;
	}
	rank_state(t, mine, 1);
	free(mine);
}

void lmteam_reset_state(lmteam *t)
{
	for (int j = 0; j < t->nt; j++) gu_lm_reset_state(t->wk[j].w);
}
