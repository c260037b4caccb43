/* clsteam.c: a classifier step over shares of the batch: threads inside a rank, MPI ranks
 * across (see clsteam.h). Thread 0 is the caller; threads 1.. wait in a pool for jobs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clsteam.h"
#include "common.h"
#include "par.h"
#include "pool.h"

void openblas_set_num_threads(int);

enum { JOB_FWD, JOB_BWD, JOB_SUM };

typedef struct {
	gu_cls *w;
	float *grad;      /* (n_params) own gradient block (thread j > 0), NULL for thread 0 */
	int32_t *ids;     /* (S_cap,b_max) this share's columns */
	size_t ids_cap;
	int row0, b;      /* this step's rows of the whole batch; b = 0: a dummy row, not kept */
	gu_rng rng;       /* a copy of the caller's rng */
	double ar_tar;
	int rc;
	char err[256];
} worker;

struct clsteam {
	gu_model *m;
	int B, B_all, nt, F;
	worker *wk;           /* (nt) */
	gu_cls *head;         /* head workspace for the whole batch (thread 0's with one share) */
	float *feat, *dfeat;  /* (B_all,3E) pooled features of every row, their gradient */
	float *hgrad;         /* (n_params) head gradient of ranks other than 0 (discarded) */
	int *cnt, *off;       /* (ranks) floats of each rank's rows in feat, and their offsets */
	/* the step at hand */
	const int32_t *ids;
	int S, nb;
	float *grad0;
	tpool *pool;          /* threads 1.. (thread 0 is the caller) */
};

/* Rows [*r0, *r0 + *b) of share q of P for a batch of nb rows. */
static void share_rows(int q, int P, int nb, int *r0, int *b)
{
	int a = (int)((int64_t)q * nb / P), e = (int)((int64_t)(q + 1) * nb / P);
	*r0 = a, *b = e - a;
}

static void run_job(void *arg, int j, int job)
{
	clsteam *t = arg;
	worker *k = &t->wk[j];
	if (job == JOB_FWD) {
		int P = t->nt * par_size(), r0, b;
		share_rows(par_rank() * t->nt + j, P, t->nb, &r0, &b);
		k->row0 = r0, k->b = b;
		int rows = b ? b : 1, first = b ? r0 : 0; /* a dummy: the batch's row 0 */
		size_t need = (size_t)t->S * rows;
		if (need > k->ids_cap) {
			int32_t *p = realloc(k->ids, need * sizeof *p);
			if (!p) {
				k->rc = GU_ENOMEM, snprintf(k->err, sizeof k->err, "out of memory");
				return;
			}
			k->ids = p, k->ids_cap = need;
		}
		for (int s = 0; s < t->S; s++)
			memcpy(k->ids + (size_t)s * rows, t->ids + (size_t)s * t->nb + first, (size_t)rows * sizeof *k->ids);
		k->rc = gu_cls_share_forward(k->w, k->ids, t->S, rows, t->nb, first, &k->rng, b > 0, &k->ar_tar);
		if (k->rc < 0) snprintf(k->err, sizeof k->err, "%s", gu_errmsg());
		if (!b) k->ar_tar = 0;
		else if (k->rc == GU_OK) memcpy(t->feat + (size_t)r0 * t->F, k->w->feat, (size_t)b * t->F * sizeof(float));
	} else if (job == JOB_BWD) {
		if (!k->b || k->rc < 0) return;
		float *g = j ? k->grad : t->grad0;
		k->rc = gu_cls_share_backward(k->w, g, t->dfeat + (size_t)k->row0 * t->F);
		if (k->rc < 0) snprintf(k->err, sizeof k->err, "%s", gu_errmsg());
	} else if (job == JOB_SUM) {
		for (int i = 1; i < t->nt; i++)
			if (t->wk[i].b) tpool_add_slice(t->grad0, t->wk[i].grad, t->m->n_params, j, t->nt);
	}
}

void clsteam_free(clsteam *t)
{
	if (!t) return;
	tpool_free(t->pool);
	for (int j = 0; t->wk && j < t->nt; j++) {
		gu_cls_free(t->wk[j].w);
		free(t->wk[j].grad), free(t->wk[j].ids);
	}
	if (t->head != (t->wk ? t->wk[0].w : NULL)) gu_cls_free(t->head);
	free(t->wk), free(t->feat), free(t->dfeat), free(t->hgrad), free(t->cnt), free(t->off);
	free(t);
}

clsteam *clsteam_new(gu_model *m, int B, int threads)
{
	clsteam *t = gu_calloc(1, sizeof *t);
	if (!t) return NULL;
	int R = par_size(), nt = threads < 1 ? 1 : threads > B ? B : threads;
	t->m = m, t->B = B, t->B_all = B * R, t->nt = nt, t->F = 3 * m->hp.emb;
	int P = nt * R, b_max = (t->B_all + P - 1) / P;
	if (!(t->wk = gu_calloc((size_t)nt, sizeof *t->wk)) || !(t->feat = gu_malloc((size_t)t->B_all * t->F * sizeof(float))) ||
	    !(t->dfeat = gu_malloc((size_t)t->B_all * t->F * sizeof(float))) ||
	    !(t->cnt = gu_calloc((size_t)R, sizeof(int))) || !(t->off = gu_calloc((size_t)R, sizeof(int))))
		goto fail;
	if (par_rank() != 0 && !(t->hgrad = gu_malloc(m->n_params * sizeof(float)))) goto fail;
	for (int j = 0; j < nt; j++) {
		worker *k = &t->wk[j];
		if (!(k->w = gu_cls_new(m, b_max))) goto fail;
		if (j && !(k->grad = gu_malloc(m->n_params * sizeof(float)))) goto fail;
	}
	/* one share: its workspace holds the whole batch (as gu_cls_step's does) */
	if (!(t->head = P == 1 ? t->wk[0].w : gu_cls_new_head(m, t->B_all))) goto fail;
	if (nt > 1) openblas_set_num_threads(1); /* one BLAS thread in each of ours */
	if (!(t->pool = tpool_new(nt, run_job, t))) goto fail;
	return t;
fail:
	clsteam_free(t);
	return NULL;
}

int clsteam_rows(const clsteam *t) { return t->B_all; }

gu_cls *clsteam_workspace(clsteam *t) { return t->wk[0].w; }

void clsteam_set_frozen(clsteam *t, uint32_t frozen)
{
	for (int j = 0; j < t->nt; j++) t->wk[j].w->frozen = frozen;
	t->head->frozen = frozen;
}

int clsteam_step(clsteam *t, float *grad, const int32_t *ids, const int32_t *labels, int S, int nb,
		 gu_rng *rng, gu_loss *out)
{
	if (nb < 1 || nb > t->B_all) return gu_err(GU_EARG, "clsteam_step: %d records outside 1..%d", nb, t->B_all);
	int R = par_size(), P = t->nt * R, rc = GU_OK, bad = 0;
	t->ids = ids, t->S = S, t->nb = nb, t->grad0 = grad;
	for (int j = 0; j < t->nt; j++) {
		t->wk[j].rng = *rng, t->wk[j].rc = 0;
		if (j) memset(t->wk[j].grad, 0, t->m->n_params * sizeof(float));
	}
	tpool_run(t->pool, JOB_FWD);
	*rng = t->wk[0].rng; /* every share drew the encoder's numbers */
	double v[2] = {0, 0}; /* AR/TAR, non-finite flag */
	for (int j = 0; j < t->nt; j++) {
		const worker *k = &t->wk[j];
		if (k->rc == GU_ENUM) bad = 1;
		else if (k->rc < 0 && rc == GU_OK) rc = gu_err(k->rc, "%s", k->err);
		v[0] += k->ar_tar;
	}
	/* every rank's rows of feat, then the head on the whole batch, the same on every rank */
	for (int r = 0; r < R; r++) {
		int a, e, b;
		share_rows(r * t->nt, P, nb, &a, &b);
		share_rows(r * t->nt + t->nt - 1, P, nb, &e, &b);
		t->off[r] = a * t->F, t->cnt[r] = (e + b - a) * t->F;
	}
	par_allgather_floats(t->feat, t->cnt, t->off);
	float *hg = par_rank() == 0 ? grad : t->hgrad; /* the head's gradient is counted once */
	if (hg != grad) memset(hg, 0, t->m->n_params * sizeof(float));
	int hrc = gu_cls_head_step(t->head, hg, t->dfeat, t->feat, labels, nb, rng, out);
	if (hrc == GU_ENUM) bad = 1;
	else if (hrc < 0 && rc == GU_OK) rc = hrc;
	if (!bad && rc == GU_OK) {
		tpool_run(t->pool, JOB_BWD);
		for (int j = 0; j < t->nt; j++)
			if (t->wk[j].rc < 0 && rc == GU_OK) rc = gu_err(t->wk[j].rc, "%s", t->wk[j].err);
		if (t->nt > 1) tpool_run(t->pool, JOB_SUM);
	}
	/* the collectives run on every rank whatever happened here */
	par_sum_floats(grad, t->m->n_params);
	v[1] = bad;
	par_sum_doubles(v, 2);
	if (out) out->ar_tar = v[0], out->loss = out->ce + v[0];
	if (rc < 0) return rc;
	return v[1] > 0 || (out && !isfinite(out->loss)) ? gu_err(GU_ENUM, "classifier loss is not finite") : GU_OK;
}
