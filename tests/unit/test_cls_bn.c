/* test_cls_bn.c: gu_cls_pool and gu_cls_bn_recompute ("precise BatchNorm").
 *
 * A small random classifier (E=8, H=12, n_lin 6, bptt 5, rows of 3..17 tokens, left-padded).
 *   1. gu_cls_pool gives the features an eval gu_cls_step pools, bit for bit.
 *   2. After gu_cls_bn_recompute over N records, BN0's running mean and variance are the
 *      features' exact mean and unbiased variance (computed here in double), and no parameter
 *      changed.
 *   3. BN1: lin1 is rewritten to copy two BN1 outputs into the logits (gamma 1, beta 0), so that
 *      eval-mode logits over the same N records must have mean 0 and unbiased variance
 *      v / (v + eps) in every BN1 channel, v being the recomputed running variance.
 *   4. With the statistics recomputed, eval mode agrees with train mode on a batch of all N
 *      records (dropout off, batch statistics): the same class for every record, logits within
 *      the variance's N/(N-1) factor.
 *   5. Fewer than 2 records is an error. */
#include <stdint.h>
#include <string.h>

#include "gulm.h"
#include "testutil.h"

enum { N = 40, SMAX = 17 };

int main(void)
{
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_CLS);
	hp.vocab_size = 20, hp.emb = 8, hp.hidden = 12, hp.n_layers = 3, hp.bptt = 5;
	hp.max_len = 0, hp.n_lin = 6, hp.n_classes = 2;
	uint32_t codes[17];
	for (int i = 0; i < 17; i++) codes[i] = (uint32_t)i;
	gu_vocab *v = gu_vocab_from_codes(hp.k, hp.stride, codes, 17);
	CHECK(v != NULL, "vocab: %s", gu_errmsg());
	char *labels[2] = {"a", "b"};
	gu_model *m = gu_model_new(&hp, v, 2, labels);
	CHECK(m != NULL, "model: %s", gu_errmsg());
	gu_rng rng;
	gu_rng_seed(&rng, 7);
	gu_model_init(m, &rng);
	gu_cls *w = gu_cls_new(m, N);
	CHECK(w != NULL, "cls: %s", gu_errmsg());
	int E = w->E, F = 3 * E, NL = w->n_lin, C = w->C;

	/* N rows, left-padded to SMAX (time-major ids (SMAX,N)) */
	static int32_t ids[SMAX * N];
	int32_t lab[N];
	for (int b = 0; b < N; b++) {
		int len = 3 + (int)gu_rng_below(&rng, SMAX - 2);
		for (int t = 0; t < SMAX; t++)
			ids[t * N + b] = t < SMAX - len ? GU_PAD : GU_N_SPECIAL + (int32_t)gu_rng_below(&rng, 17);
		lab[b] = b & 1;
	}

	/* 1. gu_cls_pool == the eval step's pooled features */
	static float feat[N * 24], feat2[N * 24];
	CHECK(F == 24, "F %d", F);
	CHECK(gu_cls_step(w, NULL, NULL, ids, lab, SMAX, N, 0, NULL, NULL) == GU_OK, "%s", gu_errmsg());
	memcpy(feat, w->feat, sizeof(float) * N * F);
	CHECK(gu_cls_pool(w, ids, SMAX, N) == GU_OK, "%s", gu_errmsg());
	CHECK(memcmp(feat, w->feat, sizeof(float) * N * F) == 0, "gu_cls_pool differs from the eval step");
	/* in two batches of 16 and 24 rows (each padded to its own longest row) */
	for (int part = 0; part < 2; part++) {
		int b0 = part ? 16 : 0, nb = part ? 24 : 16, S = 0;
		static int32_t sub[SMAX * N];
		for (int b = 0; b < nb; b++) {
			int len = 0;
			for (int t = 0; t < SMAX; t++) len += ids[t * N + b0 + b] != GU_PAD;
			if (len > S) S = len;
		}
		for (int t = 0; t < S; t++)
			for (int b = 0; b < nb; b++) sub[t * nb + b] = ids[(SMAX - S + t) * N + b0 + b];
		CHECK(gu_cls_pool(w, sub, S, nb) == GU_OK, "%s", gu_errmsg());
		memcpy(feat2 + (size_t)b0 * F, w->feat, sizeof(float) * nb * F);
	}
	for (int i = 0; i < N * F; i++) CHECK_CLOSE(feat2[i], feat[i], 1e-6, 1e-5, "features by batch");

	/* 2. BN0 statistics; the parameters untouched */
	float *params0 = malloc(m->n_params * sizeof(float));
	memcpy(params0, m->params, m->n_params * sizeof(float));
	const float *rm0 = gu_tensor_data(m, gu_model_tensor(m, "head.bn0.running_mean"));
	const float *rv0 = gu_tensor_data(m, gu_model_tensor(m, "head.bn0.running_var"));
	const float *rm1 = gu_tensor_data(m, gu_model_tensor(m, "head.bn1.running_mean"));
	const float *rv1 = gu_tensor_data(m, gu_model_tensor(m, "head.bn1.running_var"));
	CHECK(rm0[0] == 0 && rv0[0] == 1, "fresh running statistics are 0 / 1");
	CHECK(gu_cls_bn_recompute(w, feat, N) == GU_OK, "%s", gu_errmsg());
	CHECK(memcmp(params0, m->params, m->n_params * sizeof(float)) == 0, "a parameter changed");
	for (int c = 0; c < F; c++) {
		double s = 0, ss = 0;
		for (int i = 0; i < N; i++) s += feat[i * F + c];
		double mean = s / N;
		for (int i = 0; i < N; i++) ss += (feat[i * F + c] - mean) * (feat[i * F + c] - mean);
		CHECK_CLOSE(rm0[c], mean, 1e-7, 1e-6, "BN0 running mean");
		CHECK_CLOSE(rv0[c], ss / (N - 1), 1e-9, 1e-5, "BN0 running variance");
	}
	int moved = 0;
	for (int c = 0; c < NL; c++) moved += rm1[c] != 0 || rv1[c] != 1;
	CHECK(moved == NL, "BN1 statistics left at their initial values in %d channels", NL - moved);

	/* 3. BN1: copy channels (j, j+1) into the two logits */
	float *W1 = gu_tensor_data(m, gu_model_tensor(m, "head.lin1.weight"));
	float *b1 = gu_tensor_data(m, gu_model_tensor(m, "head.lin1.bias"));
	float *g1 = gu_tensor_data(m, gu_model_tensor(m, "head.bn1.weight"));
	float *be1 = gu_tensor_data(m, gu_model_tensor(m, "head.bn1.bias"));
	for (int c = 0; c < NL; c++) g1[c] = 1, be1[c] = 0;
	for (int j = 0; j < NL; j += 2) {
		memset(W1, 0, sizeof(float) * C * NL);
		W1[0 * NL + j] = 1, W1[1 * NL + j + 1] = 1, b1[0] = b1[1] = 0;
		CHECK(gu_cls_step(w, NULL, NULL, ids, NULL, SMAX, N, 0, NULL, NULL) == GU_OK, "%s", gu_errmsg());
		for (int k = 0; k < 2; k++) {
			double s = 0, ss = 0;
			for (int i = 0; i < N; i++) s += w->logits[i * C + k];
			for (int i = 0; i < N; i++) ss += (w->logits[i * C + k] - s / N) * (w->logits[i * C + k] - s / N);
			double var = rv1[j + k], want = var / (var + w->bn_eps);
			CHECK_CLOSE(s / N, 0, 1e-5, 0, "BN1 output mean over the records");
			CHECK_CLOSE(ss / (N - 1), want, 1e-5, 1e-4, "BN1 output variance over the records");
		}
	}
	memcpy(m->params, params0, m->n_params * sizeof(float));

	/* 4. eval (recomputed statistics) against train mode on the same batch, dropout off */
	static float lg_eval[N * 2];
	CHECK(gu_cls_step(w, NULL, NULL, ids, NULL, SMAX, N, 0, NULL, NULL) == GU_OK, "%s", gu_errmsg());
	memcpy(lg_eval, w->logits, sizeof(float) * N * C);
	w->p_output = w->p_head = w->p_hidden = w->p_input = w->p_embed = w->p_weight = 0;
	float keep[64];
	size_t nb = m->n_buffers < 64 ? m->n_buffers : 64;
	memcpy(keep, m->buffers, nb * sizeof(float)); /* train mode moves the running statistics */
	CHECK(gu_cls_step(w, NULL, NULL, ids, NULL, SMAX, N, 1, &rng, NULL) == GU_OK, "%s", gu_errmsg());
	memcpy(m->buffers, keep, nb * sizeof(float));
	double maxd = 0, maxl = 0;
	for (int i = 0; i < N; i++) {
		int ce = lg_eval[i * C + 1] > lg_eval[i * C], ct = w->logits[i * C + 1] > w->logits[i * C];
		double d = fabs(lg_eval[i * C + 1] - lg_eval[i * C] - (w->logits[i * C + 1] - w->logits[i * C]));
		double l = fabs(w->logits[i * C + 1] - w->logits[i * C]);
		if (d > maxd) maxd = d;
		if (l > maxl) maxl = l;
		if (l > 0.05) CHECK(ce == ct, "record %d: eval and train mode disagree on the class", i);
	}
	CHECK(maxd <= 0.05 * maxl + 1e-4, "logit margins differ by %g (largest margin %g)", maxd, maxl);

	/* 5. bad input */
	CHECK(gu_cls_bn_recompute(w, feat, 1) == GU_EARG, "one record accepted");

	free(params0);
	gu_cls_free(w);
	gu_model_free(m);
	return tu_done("test_cls_bn");
}
