/* test_lm_parity.c: the whole LM and classifier of lm.c against PyTorch.
 *
 * tests/fixtures/model_parity.safetensors is written by tests/fixtures/make_model_fixtures.py
 * (float64 PyTorch, all dropouts at p = 0, BatchNorm in training mode). This test copies its
 * weights into a gu_model, runs gu_lm_step / gu_cls_step and compares logits, losses, every
 * parameter gradient, the carried LM state (second batch), classifier probabilities in eval
 * mode and the updated BatchNorm running statistics. It also checks that freezing layer groups
 * zeroes exactly their gradients and leaves the others unchanged.
 *
 * Tolerance |got - want| <= 1e-5 + 1e-4 |want|: the C side is float32 throughout (sums of a few
 * hundred products, rounding ~1e-7 relative each), the fixture float64. */
#include <stdint.h>
#include <string.h>

#include "gulm.h"
#include "testutil.h"

#define ATOL 1e-5
#define RTOL 1e-4

static const char *fixture = "tests/fixtures/model_parity.safetensors";
static gu_st_file *fx;

static const gu_st_tensor *get(const char *name, const char *dtype, size_t numel)
{
	return tu_fixture(fx, name, dtype, numel);
}

static const float *getf(const char *name, size_t numel)
{
	return get(name, "F32", numel)->data;
}

static double getd(const char *name)
{
	return *(const double *)get(name, "F64", 1)->data;
}

static const int32_t *geti(const char *name, size_t numel)
{
	return get(name, "I32", numel)->data;
}

static int meta_int(const char *key)
{
	const char *v = gu_st_meta(fx, key);
	CHECK(v != NULL, "fixture metadata has no %s", key);
	return atoi(v);
}

/* Compares n floats; returns the max abs difference, fails on the first outside tolerance. */
static double compare(const char *what, const float *got, const float *want, size_t n)
{
	double md = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		if (d > md) md = d;
		CHECK(d <= ATOL + RTOL * fabs(want[i]) && !isnan(got[i]), "%s[%zu]: got %.9g want %.9g",
		      what, i, got[i], want[i]);
	}
	return md;
}

static gu_model *make_model(int kind, const char *wpre)
{
	gu_hparams hp;
	gu_hparams_default(&hp, kind);
	hp.vocab_size = meta_int("V"), hp.emb = meta_int("E"), hp.hidden = meta_int("H");
	hp.n_layers = meta_int("n_layers");
	hp.output_p = hp.hidden_p = hp.input_p = hp.embed_p = hp.weight_p = 0;
	hp.drop_mult = 1;
	hp.alpha = (float)atof(gu_st_meta(fx, "alpha")), hp.beta = (float)atof(gu_st_meta(fx, "beta"));
	char *labels[2] = {"a", "b"};
	if (kind == GU_MODEL_CLS) {
		hp.bptt = meta_int("cls_bptt"), hp.max_len = meta_int("cls_max_len");
		hp.n_lin = meta_int("cls_n_lin"), hp.n_classes = meta_int("cls_C");
		CHECK(hp.n_classes == 2, "fixture classes %d", hp.n_classes);
	}
	uint32_t codes[64];
	for (int i = 0; i < 64; i++) codes[i] = (uint32_t)i;
	gu_vocab *v = gu_vocab_from_codes(hp.k, hp.stride, codes, hp.vocab_size - GU_N_SPECIAL);
	CHECK(v != NULL, "vocab: %s", gu_errmsg());
	gu_model *m = gu_model_new(&hp, v, kind == GU_MODEL_CLS ? 2 : 0, labels);
	CHECK(m != NULL, "model: %s", gu_errmsg());
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		char name[160];
		snprintf(name, sizeof name, "%s%s", wpre, t->name);
		memcpy(gu_tensor_data(m, t), getf(name, t->numel), t->numel * sizeof(float));
	}
	return m;
}

/* Every parameter gradient against the fixture's "<pre><name>"; frozen groups must be 0. */
static double compare_grads(const gu_model *m, const float *grad, const char *pre, uint32_t frozen)
{
	double md = 0;
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (t->buffer) continue;
		const float *g = grad + t->off;
		if (frozen >> t->group & 1) {
			for (size_t j = 0; j < t->numel; j++)
				CHECK(g[j] == 0.0f, "frozen %s[%zu] = %g", t->name, j, g[j]);
			continue;
		}
		char name[160];
		snprintf(name, sizeof name, "%s%s", pre, t->name);
		double d = compare(name, g, getf(name, t->numel), t->numel);
		if (d > md) md = d;
	}
	return md;
}

static void test_lm(void)
{
	gu_model *m = make_model(GU_MODEL_LM, "lm.w.");
	int T = meta_int("lm_T"), B = meta_int("lm_B"), V = m->hp.vocab_size, M = T * B;
	gu_lm *w = gu_lm_new(m, T, B);
	CHECK(w != NULL, "gu_lm_new: %s", gu_errmsg());
	float *grad = calloc(m->n_params, sizeof(float));
	gu_rng rng;
	gu_rng_seed(&rng, 1);
	gu_loss ls;
	double md_logits = 0, md_loss = 0, md_grad = 0;

	for (int step = 1; step <= 2; step++) {
		char pre[64], name[96];
		snprintf(pre, sizeof pre, "lm.%d.", step);
		snprintf(name, sizeof name, "%sx", pre);
		const int32_t *x = geti(name, (size_t)M);
		snprintf(name, sizeof name, "%sy", pre);
		const int32_t *y = geti(name, (size_t)M);

		/* eval on the carried state: logits, CE, accuracy; then restore the state */
		float *hs[GU_MAX_LAYERS], *cs[GU_MAX_LAYERS];
		for (int l = 0; l < w->L; l++) {
			size_t n = (size_t)B * w->n[l] * sizeof(float);
			hs[l] = malloc(n), cs[l] = malloc(n);
			memcpy(hs[l], w->h[l], n), memcpy(cs[l], w->c[l], n);
		}
		CHECK(gu_lm_step(w, NULL, x, y, 0, NULL, &ls) == GU_OK, "eval: %s", gu_errmsg());
		snprintf(name, sizeof name, "%slogits", pre);
		double d = compare(name, w->logits, getf(name, (size_t)M * V), (size_t)M * V);
		if (d > md_logits) md_logits = d;
		snprintf(name, sizeof name, "%sce", pre);
		CHECK_CLOSE(ls.ce, getd(name), 1e-6, 1e-5, name);
		CHECK_CLOSE(ls.ce_sum, getd(name) * M, 1e-5, 1e-5, "ce_sum");
		CHECK(ls.n == M, "n %lld", (long long)ls.n);
		snprintf(name, sizeof name, "%scorrect", pre);
		CHECK(ls.correct == *geti(name, 1), "correct %lld want %d", (long long)ls.correct,
		      *geti(name, 1));
		CHECK(ls.ar_tar == 0 && ls.loss == ls.ce, "eval has no AR/TAR");
		for (int l = 0; l < w->L; l++) {
			size_t n = (size_t)B * w->n[l] * sizeof(float);
			memcpy(w->h[l], hs[l], n), memcpy(w->c[l], cs[l], n);
			free(hs[l]), free(cs[l]);
		}

		/* train step (p = 0): losses and every gradient */
		memset(grad, 0, m->n_params * sizeof(float));
		CHECK(gu_lm_step(w, grad, x, y, 1, &rng, &ls) == GU_OK, "train: %s", gu_errmsg());
		snprintf(name, sizeof name, "%sce", pre);
		CHECK_CLOSE(ls.ce, getd(name), 1e-6, 1e-5, name);
		d = fabs(ls.ce - getd(name));
		if (d > md_loss) md_loss = d;
		snprintf(name, sizeof name, "%sloss", pre);
		CHECK_CLOSE(ls.loss, getd(name), 1e-6, 1e-5, name);
		d = fabs(ls.loss - getd(name));
		if (d > md_loss) md_loss = d;
		snprintf(name, sizeof name, "%sgrad.", pre);
		d = compare_grads(m, grad, name, 0);
		if (d > md_grad) md_grad = d;
	}

	/* freezing: batch 1 again from a zero state with LSTM 0 and the embedding group frozen
	 * (their gradients exactly zero, the rest unchanged), then only the embedding group */
	uint32_t fr[2] = {1u << 0 | 1u << 3, 1u << 3};
	for (int k = 0; k < 2; k++) {
		gu_lm_reset_state(w);
		w->frozen = fr[k];
		memset(grad, 0, m->n_params * sizeof(float));
		CHECK(gu_lm_step(w, grad, geti("lm.1.x", (size_t)M), geti("lm.1.y", (size_t)M), 1, &rng,
				 &ls) == GU_OK, "frozen: %s", gu_errmsg());
		compare_grads(m, grad, "lm.1.grad.", fr[k]);
	}
	/* everything frozen: nothing accumulated */
	w->frozen = 0xf;
	memset(grad, 0, m->n_params * sizeof(float));
	CHECK(gu_lm_step(w, grad, geti("lm.1.x", (size_t)M), geti("lm.1.y", (size_t)M), 1, &rng, &ls) ==
		      GU_OK, "all frozen");
	for (size_t i = 0; i < m->n_params; i++) CHECK(grad[i] == 0.0f, "all frozen: grad[%zu]", i);

	/* bad ids are refused */
	int32_t *bad = malloc((size_t)M * sizeof(int32_t));
	memcpy(bad, geti("lm.1.x", (size_t)M), (size_t)M * sizeof(int32_t));
	bad[M - 1] = V;
	CHECK(gu_lm_step(w, NULL, bad, geti("lm.1.y", (size_t)M), 0, NULL, &ls) == GU_EARG, "bad id");
	free(bad);

	printf("LM: max |diff| logits %.3g, losses %.3g, gradients %.3g\n", md_logits, md_loss, md_grad);
	free(grad);
	gu_lm_free(w);
	gu_model_free(m);
}

static void test_cls(void)
{
	gu_model *m = make_model(GU_MODEL_CLS, "cls.w.");
	int B = meta_int("cls_B"), S = meta_int("cls_S"), C = m->hp.n_classes;
	const int32_t *ids = geti("cls.ids", (size_t)S * B), *labels = geti("cls.labels", (size_t)B);
	float *buf0 = malloc(m->n_buffers * sizeof(float));
	memcpy(buf0, m->buffers, m->n_buffers * sizeof(float));
	float *grad = calloc(m->n_params, sizeof(float));
	float probs[64];
	gu_rng rng;
	gu_rng_seed(&rng, 2);
	gu_loss ls;

	/* eval: running statistics; once with B_max == B, once with a larger workspace */
	double md_probs = 0;
	for (int k = 0; k < 2; k++) {
		gu_cls *w = gu_cls_new(m, k ? 2 * B + 1 : B);
		CHECK(w != NULL, "gu_cls_new: %s", gu_errmsg());
		CHECK(gu_cls_step(w, NULL, probs, ids, labels, S, B, 0, NULL, &ls) == GU_OK, "eval: %s",
		      gu_errmsg());
		md_probs = compare("cls.eval.probs", probs, getf("cls.eval.probs", (size_t)B * C),
				   (size_t)B * C);
		CHECK(ls.n == B && ls.ar_tar == 0, "eval counts");
		CHECK(memcmp(buf0, m->buffers, m->n_buffers * sizeof(float)) == 0,
		      "eval changed the running statistics");
		gu_cls_free(w);
	}

	/* train (p = 0, the head's fixed 0.1 too; BatchNorm on batch statistics) */
	gu_cls *w = gu_cls_new(m, B);
	CHECK(w != NULL, "gu_cls_new: %s", gu_errmsg());
	w->p_head = 0;
	CHECK(gu_cls_step(w, grad, probs, ids, labels, S, B, 1, &rng, &ls) == GU_OK, "train: %s",
	      gu_errmsg());
	CHECK(w->L_kept == 8, "kept %d steps, want 8 (chunks 5 and 10 of 13)", w->L_kept);
	double md_logits = compare("cls.logits", w->logits, getf("cls.logits", (size_t)B * C),
				   (size_t)B * C);
	CHECK_CLOSE(ls.ce, getd("cls.ce"), 1e-6, 1e-5, "cls.ce");
	CHECK_CLOSE(ls.loss, getd("cls.loss"), 1e-6, 1e-5, "cls.loss");
	double md_loss = fmax(fabs(ls.ce - getd("cls.ce")), fabs(ls.loss - getd("cls.loss")));
	double md_grad = compare_grads(m, grad, "cls.grad.", 0);
	double md_run = 0;
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (!t->buffer) continue;
		char name[160];
		snprintf(name, sizeof name, "cls.after.%s", t->name);
		double d = compare(name, gu_tensor_data(m, t), getf(name, t->numel), t->numel);
		if (d > md_run) md_run = d;
	}

	/* freeze_to(3): embedding, LSTM 0 and 1 frozen; LSTM 2 and the head unchanged. Then
	 * freeze_to(4) (head only) and a head bit that must be ignored. */
	uint32_t fr[3] = {gu_freeze_to_mask(3), gu_freeze_to_mask(4), 0x1f};
	for (int k = 0; k < 3; k++) {
		w->frozen = fr[k];
		memset(grad, 0, m->n_params * sizeof(float));
		CHECK(gu_cls_step(w, grad, NULL, ids, labels, S, B, 1, &rng, &ls) == GU_OK, "frozen: %s",
		      gu_errmsg());
		compare_grads(m, grad, "cls.grad.", fr[k] & 0xf);
	}
	gu_cls_free(w);

	/* a larger workspace gives the same gradient (B < B_max) */
	w = gu_cls_new(m, B + 3);
	CHECK(w != NULL, "gu_cls_new: %s", gu_errmsg());
	w->p_head = 0;
	memset(grad, 0, m->n_params * sizeof(float));
	CHECK(gu_cls_step(w, grad, NULL, ids, labels, S, B, 1, &rng, &ls) == GU_OK, "B_max: %s",
	      gu_errmsg());
	compare_grads(m, grad, "cls.grad.", 0);
	/* refused: more rows than B_max, a bad label, a max_len that keeps nothing */
	CHECK(gu_cls_step(w, NULL, NULL, ids, labels, S, B + 4, 0, NULL, &ls) == GU_EARG, "B > B_max");
	int32_t badl[16];
	memcpy(badl, labels, (size_t)B * sizeof(int32_t));
	badl[0] = C;
	CHECK(gu_cls_step(w, NULL, NULL, ids, badl, S, B, 0, NULL, &ls) == GU_EARG, "bad label");
	w->max_len = 1;
	CHECK(gu_cls_step(w, NULL, NULL, ids, labels, S, B, 0, NULL, &ls) == GU_EARG, "max_len");
	gu_cls_free(w);

	printf("CLS: max |diff| eval probs %.3g, logits %.3g, losses %.3g, gradients %.3g, running "
	       "stats %.3g\n", md_probs, md_logits, md_loss, md_grad, md_run);
	free(buf0), free(grad);
	gu_model_free(m);
}

int main(int argc, char **argv)
{
	if (argc > 1) fixture = argv[1];
	fx = gu_st_read(fixture);
	CHECK(fx != NULL, "%s: %s", fixture, gu_errmsg());
	test_lm();
	test_cls();
	gu_st_free(fx);
	return tu_done("test_lm_parity");
}
