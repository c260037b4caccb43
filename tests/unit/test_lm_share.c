/* test_lm_share.c: shares of a batch, the basis of data-parallel training
 * (filters/lmteam.c, filters/clsteam.c). LM: a batch of B_all rows split into shares
 * (gu_lm.B_all, row0), each run in its own workspace from a copy of one rng, must give the
 * whole batch's gradient (summed), loss (combined), carried state (row by row) and rng state,
 * with every dropout and AR/TAR on, for shares of 2 rows and of 1 row (TAR must still count:
 * the whole batch has 4), with the kmer and the bases output (whose ignored targets each share
 * skips on its own). Classifier: gu_cls_share_forward on shares, gu_cls_head_step on the
 * gathered features, gu_cls_share_backward must give gu_cls_step's loss, gradient, BatchNorm
 * statistics and rng state on a padded batch longer than one chunk. */
#include <string.h>

#include "gulm.h"
#include "testutil.h"

enum { T = 6, BA = 4 };

static gu_model *make_model(int lm_output)
{
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_LM);
	hp.vocab_size = 11, hp.emb = 5, hp.hidden = 7, hp.n_layers = 3;
	hp.lm_output = lm_output; /* bases: k 3 stride 1, 4 classes */
	hp.output_p = 0.3f, hp.hidden_p = 0.3f, hp.input_p = 0.3f, hp.embed_p = 0.2f;
	hp.weight_p = 0.3f, hp.drop_mult = 1.0f, hp.alpha = 2.0f, hp.beta = 1.0f;
	uint32_t codes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	gu_vocab *v = gu_vocab_from_codes(hp.k, hp.stride, codes, hp.vocab_size - GU_N_SPECIAL);
	CHECK(v != NULL, "vocab: %s", gu_errmsg());
	gu_model *m = gu_model_new(&hp, v, 0, NULL);
	CHECK(m != NULL, "model: %s", gu_errmsg());
	gu_rng r;
	gu_rng_seed(&r, 5);
	for (size_t j = 0; j < m->n_params; j++) m->params[j] = (float)(gu_rng_uniform(&r) - 0.5);
	return m;
}

/* Two steps (the state carried between them) of the whole batch against nshare shares. */
static void compare(gu_model *m, int nshare)
{
	int b = BA / nshare;
	size_t P = m->n_params;
	int32_t x[2][T * BA], y[2][T * BA];
	gu_rng data;
	gu_rng_seed(&data, 9);
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < T * BA; i++)
			x[s][i] = (int32_t)gu_rng_below(&data, 11), y[s][i] = (int32_t)gu_rng_below(&data, 11);
	float *g_all = calloc(P, sizeof(float)), *g_sum = calloc(P, sizeof(float)), *g = calloc(P, sizeof(float));
	CHECK(g_all && g_sum && g, "memory");
	gu_lm *whole = gu_lm_new(m, T, BA), *sh[BA];
	CHECK(whole != NULL, "%s", gu_errmsg());
	for (int k = 0; k < nshare; k++) {
		CHECK((sh[k] = gu_lm_new(m, T, b)) != NULL, "%s", gu_errmsg());
		sh[k]->B_all = BA, sh[k]->row0 = k * b;
	}
	gu_rng r_all, r_sh[BA];
	gu_rng_seed(&r_all, 77);
	for (int k = 0; k < nshare; k++) r_sh[k] = r_all;
	for (int s = 0; s < 2; s++) {
		gu_loss l_all, l;
		memset(g_all, 0, P * sizeof(float)), memset(g_sum, 0, P * sizeof(float));
		CHECK(gu_lm_step(whole, g_all, x[s], y[s], 1, &r_all, &l_all) == GU_OK, "%s", gu_errmsg());
		double ce_sum = 0, ar_tar = 0;
		int64_t n = 0, correct = 0;
		for (int k = 0; k < nshare; k++) {
			int32_t xs[T * BA], ys[T * BA];
			for (int t = 0; t < T; t++)
				for (int i = 0; i < b; i++)
					xs[t * b + i] = x[s][t * BA + k * b + i], ys[t * b + i] = y[s][t * BA + k * b + i];
			memset(g, 0, P * sizeof(float));
			CHECK(gu_lm_step(sh[k], g, xs, ys, 1, &r_sh[k], &l) == GU_OK, "%s", gu_errmsg());
			for (size_t j = 0; j < P; j++) g_sum[j] += g[j];
			ce_sum += l.ce_sum, ar_tar += l.ar_tar, n += l.n, correct += l.correct;
			CHECK(memcmp(&r_sh[k], &r_all, sizeof r_all) == 0, "share %d: rng state differs after step %d", k, s);
		}
		CHECK(n == l_all.n && correct == l_all.correct, "counts %lld/%lld vs %lld/%lld", (long long)n,
		      (long long)correct, (long long)l_all.n, (long long)l_all.correct);
		CHECK(l_all.ar_tar > 0, "AR/TAR is on");
		if (m->hp.lm_output == GU_LM_BASES) /* ids 0-2 are special: some targets ignored */
			CHECK(l_all.n > 0 && l_all.n < T * BA, "bases: %lld of %d targets counted",
			      (long long)l_all.n, T * BA);
		else
			CHECK(l_all.n == T * BA, "kmer: every target counted");
		CHECK_CLOSE(ce_sum / (double)n + ar_tar, l_all.loss, 1e-9, 1e-6, "combined loss");
		CHECK_CLOSE(ar_tar, l_all.ar_tar, 1e-9, 1e-6, "combined AR + TAR");
		double gmax = 0, dmax = 0;
		for (size_t j = 0; j < P; j++) {
			double d = fabs((double)g_sum[j] - g_all[j]);
			if (fabs(g_all[j]) > gmax) gmax = fabs(g_all[j]);
			if (d > dmax) dmax = d;
		}
		CHECK(gmax > 0 && dmax <= 1e-5 * gmax, "%d shares, step %d: gradient differs by %g (max %g)", nshare, s, dmax, gmax);
		/* carried state: share k's rows are the whole batch's rows k*b.. */
		for (int ly = 0; ly < whole->L; ly++)
			for (int k = 0; k < nshare; k++)
				for (int i = 0; i < b * whole->n[ly]; i++) {
					size_t o = (size_t)k * b * whole->n[ly] + i;
					CHECK_CLOSE(sh[k]->h[ly][i], whole->h[ly][o], 1e-6, 1e-5, "carried h");
					CHECK_CLOSE(sh[k]->c[ly][i], whole->c[ly][o], 1e-6, 1e-5, "carried c");
				}
	}
	/* a share outside the batch is refused */
	sh[0]->row0 = BA - b + 1;
	int32_t xs[T * BA] = {0};
	CHECK(gu_lm_step(sh[0], g, xs, xs, 1, &r_all, NULL) == GU_EARG, "a share past the batch's rows");
	for (int k = 0; k < nshare; k++) gu_lm_free(sh[k]);
	gu_lm_free(whole);
	free(g_all), free(g_sum), free(g);
}

static void compare_cls(int nshare)
{
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_CLS);
	hp.vocab_size = 11, hp.emb = 5, hp.hidden = 7, hp.n_layers = 3, hp.bptt = 4, hp.max_len = 6;
	hp.n_lin = 4, hp.n_classes = 3;
	hp.output_p = 0.3f, hp.hidden_p = 0.3f, hp.input_p = 0.3f, hp.embed_p = 0.2f, hp.weight_p = 0.3f;
	hp.drop_mult = 1, hp.alpha = 2, hp.beta = 1;
	char *names[3] = {"a", "b", "c"};
	uint32_t codes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	gu_vocab *v = gu_vocab_from_codes(hp.k, hp.stride, codes, 8);
	gu_model *m = v ? gu_model_new(&hp, v, 3, names) : NULL;
	CHECK(m != NULL, "classifier: %s", gu_errmsg());
	gu_rng r;
	gu_rng_seed(&r, 5);
	for (size_t j = 0; j < m->n_params; j++) m->params[j] = (float)(gu_rng_uniform(&r) - 0.5);
	for (size_t j = 0; j < m->n_buffers; j++) m->buffers[j] = 1;
	enum { S = 10, F = 15 };
	int32_t ids[S * BA], lab[BA] = {0, 1, 2, 1};
	for (int i = 0; i < S * BA; i++) ids[i] = 3 + (int32_t)gu_rng_below(&r, 8);
	ids[0] = ids[BA] = ids[2 * BA] = ids[1] = 0; /* rows 0 and 1 left-padded */
	size_t P = m->n_params;
	float *g1 = calloc(P, sizeof(float)), *g2 = calloc(P, sizeof(float));
	float *feat = calloc(BA * F, sizeof(float)), *dfeat = calloc(BA * F, sizeof(float));
	float *buf0 = malloc(m->n_buffers * sizeof(float)), *buf1 = malloc(m->n_buffers * sizeof(float));
	CHECK(g1 && g2 && feat && dfeat && buf0 && buf1, "memory");
	memcpy(buf0, m->buffers, m->n_buffers * sizeof(float));
	gu_cls *whole = gu_cls_new(m, BA), *head = gu_cls_new(m, BA), *sh[BA];
	CHECK(whole && head, "%s", gu_errmsg());
	gu_rng d1, d2[BA];
	gu_rng_seed(&d1, 3);
	for (int k = 0; k < nshare; k++) d2[k] = d1;
	gu_loss l1, l2;
	CHECK(gu_cls_step(whole, g1, NULL, ids, lab, S, BA, 1, &d1, &l1) == GU_OK, "%s", gu_errmsg());
	memcpy(buf1, m->buffers, m->n_buffers * sizeof(float));
	memcpy(m->buffers, buf0, m->n_buffers * sizeof(float));
	int b = BA / nshare;
	int32_t sid[BA][S * BA];
	double ar_tar = 0;
	for (int k = 0; k < nshare; k++) {
		CHECK((sh[k] = gu_cls_new(m, b)) != NULL, "%s", gu_errmsg());
		for (int t = 0; t < S; t++)
			for (int i = 0; i < b; i++) sid[k][t * b + i] = ids[t * BA + k * b + i];
		double a;
		CHECK(gu_cls_share_forward(sh[k], sid[k], S, b, BA, k * b, &d2[k], 1, &a) == GU_OK, "%s", gu_errmsg());
		ar_tar += a;
		memcpy(feat + (size_t)k * b * F, sh[k]->feat, (size_t)b * F * sizeof(float));
		CHECK(memcmp(&d2[k], &d2[0], sizeof d1) == 0, "share %d drew other numbers", k);
	}
	for (int i = 0; i < BA * F; i++) CHECK_CLOSE(feat[i], whole->feat[i], 1e-6, 1e-5, "pooled features");
	CHECK(gu_cls_head_step(head, g2, dfeat, feat, lab, BA, &d2[0], &l2) == GU_OK, "%s", gu_errmsg());
	CHECK(memcmp(&d2[0], &d1, sizeof d1) == 0, "rng state after the head");
	CHECK(l1.ar_tar > 0, "AR/TAR is on");
	CHECK_CLOSE(ar_tar, l1.ar_tar, 1e-9, 1e-6, "combined AR + TAR");
	CHECK_CLOSE(l2.ce + ar_tar, l1.loss, 1e-9, 1e-6, "loss");
	for (size_t j = 0; j < m->n_buffers; j++) CHECK_CLOSE(m->buffers[j], buf1[j], 1e-6, 1e-5, "BatchNorm statistics");
	for (int k = 0; k < nshare; k++)
		CHECK(gu_cls_share_backward(sh[k], g2, dfeat + (size_t)k * b * F) == GU_OK, "%s", gu_errmsg());
	double gmax = 0, dmax = 0;
	for (size_t j = 0; j < P; j++) {
		double d = fabs((double)g1[j] - g2[j]);
		if (fabs(g1[j]) > gmax) gmax = fabs(g1[j]);
		if (d > dmax) dmax = d;
	}
	CHECK(gmax > 0 && dmax <= 1e-5 * gmax, "classifier, %d shares: gradient differs by %g (max %g)", nshare, dmax, gmax);
	for (int k = 0; k < nshare; k++) gu_cls_free(sh[k]);
	gu_cls_free(whole), gu_cls_free(head);
	free(g1), free(g2), free(feat), free(dfeat), free(buf0), free(buf1);
	gu_model_free(m);
}

int main(void)
{
	for (int out = GU_LM_KMER; out <= GU_LM_BASES; out++) {
		gu_model *m = make_model(out);
		compare(m, 2);
		compare(m, 4);
		gu_model_free(m);
	}
	compare_cls(1);
	compare_cls(2);
	compare_cls(4);
	return tu_done("test_lm_share");
}
