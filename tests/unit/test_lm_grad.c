/* test_lm_grad.c: finite-difference checks of the whole-model gradients of lm.c.
 *
 * LM: loss = mean CE + AR + TAR of gu_lm_step in train mode with every dropout NONZERO
 * (embedding rows, input, hidden, DropConnect, output), from a non-zero carried state.
 * Then the same with alpha = beta = 0 (mean CE alone), the path of lmtrain --alpha 0 --beta 0,
 * and with the bases output (untied decoder E -> 4^stride, k 3 stride 2), whose targets hold
 * ignored (special) ones: its CE term is the sum over counted targets over T*B.
 * The bases output's target mapping is checked on a hand-made sequence (test_bases_targets).
 * Classifier: mean CE + AR + TAR of gu_cls_step on a left-padded batch of several chunks
 * (one of them only warms the state up), BatchNorm in train mode, head dropouts on.
 *
 * The masks are held fixed by handing every call a copy of one saved rng (lm.c draws them in
 * a fixed order), and the carried LM state is restored before each call.
 *
 * Checks: the directional derivative along a random N(0,1) direction over the WHOLE parameter
 * block, and single entries of every tensor, against central differences refined by one
 * Richardson step, D = (4 D(e/2) - D(e)) / 3 with D(e) = (f(p+e d) - f(p-e d)) / 2e, whose
 * truncation error is O(e^4).
 *
 * eps and tolerance: the loss is a float32 computation (~1-3 in size) whose rounding noise
 * delta is about one ulp, ~1e-7 (BatchNorm over 5 rows amplifies it a little). The refined
 * difference has noise ~2.7 delta / e and truncation O(e^4) for a smooth loss; ReLU and the
 * max pool are only piecewise smooth, so e must also be small enough that no kink is crossed.
 * Measured on these models (|fd - analytic|):
 *   direction (entries N(0,1), step norm e*sqrt(n_params) ~ 30e):
 *     e = 3e-4: LM 2.9e-5, CLS 4.9e-4 (noise)   e = 1e-3: LM 1.1e-5, CLS 1.8e-4
 *     e = 1e-2: CLS 6.9e-2 (a max-pool/ReLU kink is crossed)
 *   single entries: e = 1e-2: max 1.5e-4 (truncation), e = 3e-3: 7e-5, e = 1e-3: 1.9e-4 (noise)
 * so e = 1e-3 for the direction (|g.d| ~ 0.2-1.5) and 3e-3 for single entries, with
 * tolerances |fd - g| <= 2e-3 |g| + 3e-4 and <= 1e-2 |g| + 3e-4: 4-10x above the measured
 * errors, far below what a wrong term gives (a missing mask or TAR pair, or a gradient taken
 * across a chunk boundary, moves these by 1e-2 to 1e-1). The seeds are fixed. The printed
 * errors show the margin on every run.
 */
#include <stdint.h>
#include <string.h>

#include "gulm.h"
#include "testutil.h"

static gu_rng trng; /* the test's own numbers */

static double nrand(void)
{
	return gu_rng_normal(&trng);
}

static gu_model *make_model(int kind, int bptt, int max_len, int lm_output)
{
	gu_hparams hp;
	gu_hparams_default(&hp, kind);
	hp.vocab_size = 11, hp.emb = 5, hp.hidden = 7, hp.n_layers = 3;
	hp.lm_output = lm_output;
	if (lm_output == GU_LM_BASES) hp.stride = 2; /* k 3: 16 classes */
	/* nonzero dropouts everywhere; effective = base * drop_mult */
	hp.output_p = 0.3f, hp.hidden_p = 0.3f, hp.input_p = 0.3f, hp.embed_p = 0.2f;
	hp.weight_p = 0.3f, hp.drop_mult = 1.0f, hp.alpha = 2.0f, hp.beta = 1.0f;
	char *labels[3] = {"a", "b", "c"};
	if (kind == GU_MODEL_CLS) hp.bptt = bptt, hp.max_len = max_len, hp.n_lin = 4, hp.n_classes = 3;
	/* for the bases output, k-mers whose last two bases (low 4 bits) differ */
	uint32_t codes[8] = {0, 1, 2, 3, 4, 5, 6, 7}, bcodes[8] = {27, 4, 50, 13, 62, 33, 8, 41};
	gu_vocab *v = gu_vocab_from_codes(hp.k, hp.stride, lm_output == GU_LM_BASES ? bcodes : codes,
					  hp.vocab_size - GU_N_SPECIAL);
	CHECK(v != NULL, "vocab: %s", gu_errmsg());
	gu_model *m = gu_model_new(&hp, v, kind == GU_MODEL_CLS ? 3 : 0, labels);
	CHECK(m != NULL, "model: %s", gu_errmsg());
	/* every parameter U(-0.5, 0.5), larger than the reference init so each term matters;
	 * BN gamma around 1 */
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		float *x = gu_tensor_data(m, t);
		int gamma = strstr(t->name, "bn") && strstr(t->name, ".weight");
		for (size_t j = 0; j < t->numel; j++)
			x[j] = t->buffer ? (strstr(t->name, "var") ? 1.0f : 0.0f)
					 : (float)(gu_rng_uniform(&trng) - 0.5) + (gamma ? 1.0f : 0.0f);
	}
	return m;
}

/* The loss as a function of the parameters, masks fixed. */
typedef double (*loss_fn)(void *ctx);

/* Richardson-refined central difference of f along d (n floats) at step e. */
static double fd_dir(loss_fn f, void *ctx, float *p, const float *d, size_t n, double e)
{
	double D[2];
	for (int k = 0; k < 2; k++) {
		double h = k ? e / 2 : e, fp, fm;
		float *save = malloc(n * sizeof(float));
		memcpy(save, p, n * sizeof(float));
		for (size_t i = 0; i < n; i++) p[i] = save[i] + (float)(h * d[i]);
		fp = f(ctx);
		for (size_t i = 0; i < n; i++) p[i] = save[i] - (float)(h * d[i]);
		fm = f(ctx);
		memcpy(p, save, n * sizeof(float));
		free(save);
		D[k] = (fp - fm) / (2 * h);
	}
	return (4 * D[1] - D[0]) / 3;
}

/* Single entry j: the same with d = e_j, but only p[j] moves (the float step is exact-ish:
 * h is applied to a float, so use the actually represented difference). */
static double fd_entry(loss_fn f, void *ctx, float *p, size_t j, double e)
{
	double D[2];
	float save = p[j];
	for (int k = 0; k < 2; k++) {
		double h = k ? e / 2 : e;
		float up = (float)(save + h), dn = (float)(save - h);
		p[j] = up;
		double fp = f(ctx);
		p[j] = dn;
		double fm = f(ctx);
		p[j] = save;
		D[k] = (fp - fm) / ((double)up - (double)dn);
	}
	return (4 * D[1] - D[0]) / 3;
}

/* Runs the direction check and the single-entry checks for model m and analytic gradient g,
 * over the tensors of the layer groups in `groups` (bit g). */
static void check_model(const char *what, gu_model *m, const float *g, loss_fn f, void *ctx,
			uint32_t groups)
{
	size_t n = m->n_params;
	float *d = calloc(n, sizeof(float));
	for (int i = 0; i < m->n_tensors; i++) { /* padding between tensors stays 0 */
		const gu_tensor *t = &m->tensors[i];
		if (t->buffer || !(groups >> t->group & 1)) continue;
		for (size_t j = 0; j < t->numel; j++) d[t->off + j] = (float)nrand();
	}
	double an = 0;
	for (size_t i = 0; i < n; i++) an += (double)g[i] * d[i];
	double fd = fd_dir(f, ctx, m->params, d, n, 1e-3);
	printf("%s: random direction: analytic %.8g, finite difference %.8g, |diff| %.3g\n", what, an,
	       fd, fabs(fd - an));
	CHECK(fabs(fd - an) <= 2e-3 * fabs(an) + 3e-4, "%s direction: analytic %.9g fd %.9g", what, an,
	      fd);
	free(d);

	double worst = 0;
	int n_checked = 0;
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (t->buffer || !(groups >> t->group & 1)) continue;
		/* the entry with the largest gradient and two random ones */
		size_t js[3] = {0, gu_rng_below(&trng, t->numel), gu_rng_below(&trng, t->numel)};
		for (size_t j = 0; j < t->numel; j++)
			if (fabsf(g[t->off + j]) > fabsf(g[t->off + js[0]])) js[0] = j;
		for (int k = 0; k < 3; k++) {
			size_t j = t->off + js[k];
			double a = g[j], fdj = fd_entry(f, ctx, m->params, j, 3e-3);
			double err = fabs(fdj - a);
			CHECK(err <= 1e-2 * fabs(a) + 3e-4, "%s %s[%zu]: analytic %.9g fd %.9g", what,
			      t->name, js[k], a, fdj);
			if (err > worst) worst = err;
			n_checked++;
		}
	}
	printf("%s: %d single entries, max |diff| %.3g\n", what, n_checked, worst);
}

/* ---- LM ----------------------------------------------------------------------------------- */

typedef struct {
	gu_lm *w;
	const int32_t *x, *y;
	int bases;                   /* bases output: the CE term is ce_sum / (T*B) */
	gu_rng rng0;                 /* masks */
	float *h0[GU_MAX_LAYERS];    /* (B,n_l) carried state to restore */
	float *c0[GU_MAX_LAYERS];
} lm_ctx;

static void lm_restore(lm_ctx *c)
{
	for (int l = 0; l < c->w->L; l++) {
		size_t nb = (size_t)c->w->B * c->w->n[l] * sizeof(float);
		memcpy(c->w->h[l], c->h0[l], nb), memcpy(c->w->c[l], c->c0[l], nb);
	}
}

static double lm_loss(void *ctx)
{
	lm_ctx *c = ctx;
	gu_rng r = c->rng0;
	gu_loss ls;
	lm_restore(c);
	CHECK(gu_lm_step(c->w, NULL, c->x, c->y, 1, &r, &ls) == GU_OK, "lm: %s", gu_errmsg());
	/* with ignored targets the objective differentiated is the counted CE over every position
	 * (gulm.h, gu_lm_step); without any (kmer) it is ls.loss itself */
	return c->bases ? ls.ce_sum / (double)(c->w->T * c->w->B) + ls.ar_tar : ls.loss;
}

/* alpha, beta: the AR/TAR weights (0, 0: the cross-entropy alone, as lmtrain --alpha 0 --beta 0);
 * lm_output: the output layer */
static void test_lm(float alpha, float beta, int lm_output, const char *what)
{
	gu_model *m = make_model(GU_MODEL_LM, 70, 0, lm_output);
	m->hp.alpha = alpha, m->hp.beta = beta;
	int T = 5, B = 3, V = m->hp.vocab_size, M = T * B;
	gu_lm *w = gu_lm_new(m, T, B);
	CHECK(w != NULL, "gu_lm_new: %s", gu_errmsg());
	CHECK(fabsf(w->p_weight - 0.3f) < 1e-6f && w->p_embed > 0, "dropouts from hparams");
	int32_t x[15], y[15], x0[15], y0[15];
	for (int i = 0; i < M; i++) { /* no pad id in the inputs (see test_lm_parity for that) */
		x[i] = 1 + (int32_t)gu_rng_below(&trng, (uint64_t)V - 1);
		y[i] = (int32_t)gu_rng_below(&trng, (uint64_t)V);
		x0[i] = 1 + (int32_t)gu_rng_below(&trng, (uint64_t)V - 1);
		y0[i] = (int32_t)gu_rng_below(&trng, (uint64_t)V);
	}
	lm_ctx c = {.w = w, .x = x, .y = y, .bases = lm_output == GU_LM_BASES};
	gu_rng_seed(&c.rng0, 7);
	/* warm-up call so that the state the checked call starts from is not zero */
	gu_rng r = c.rng0;
	gu_loss ls;
	CHECK(gu_lm_step(w, NULL, x0, y0, 1, &r, &ls) == GU_OK, "warm-up");
	for (int l = 0; l < w->L; l++) {
		size_t nb = (size_t)B * w->n[l] * sizeof(float);
		c.h0[l] = malloc(nb), c.c0[l] = malloc(nb);
		memcpy(c.h0[l], w->h[l], nb), memcpy(c.c0[l], w->c[l], nb);
	}
	c.rng0 = r;

	float *g = calloc(m->n_params, sizeof(float));
	r = c.rng0;
	lm_restore(&c);
	CHECK(gu_lm_step(w, g, x, y, 1, &r, &ls) == GU_OK, "lm grad: %s", gu_errmsg());
	if (c.bases) {
		/* some targets ignored, some counted; ignored rows get no gradient */
		int64_t ign = 0;
		for (int i = 0; i < M; i++) {
			int special = x[i] < GU_N_SPECIAL || y[i] < GU_N_SPECIAL;
			CHECK((w->target[i] < 0) == special, "target %d: class %d", i, w->target[i]);
			for (int j = 0; special && j < w->n_out; j++)
				CHECK(w->logits[(size_t)i * w->n_out + j] == 0, "ignored row %d has gradient", i);
			ign += special;
		}
		CHECK(w->n_out == 16 && ign > 0 && ls.n == M - ign && ls.n > M / 2, "counted %lld of %d",
		      (long long)ls.n, M);
		CHECK(gu_model_tensor(m, "decoder.weight") != NULL, "untied decoder");
	}
	if (alpha > 0 || beta > 0)
		CHECK(ls.ar_tar > 0 && ls.loss > ls.ce, "AR/TAR present");
	else
		CHECK(ls.ar_tar == 0 && ls.loss == ls.ce, "AR/TAR absent at alpha = beta = 0");
	/* the masks really drop something: the train loss differs from the eval loss */
	gu_loss le;
	lm_restore(&c);
	CHECK(gu_lm_step(w, NULL, x, y, 0, NULL, &le) == GU_OK, "eval");
	CHECK(fabs(le.ce - ls.ce) > 1e-3, "dropout had no effect");
	/* the same masks reproduce the same loss exactly */
	CHECK(lm_loss(&c) == (c.bases ? ls.ce_sum / (double)M + ls.ar_tar : ls.loss),
	      "masks not reproducible");
	printf("%s: loss %.6f (CE %.6f, AR+TAR %.6f), eval CE %.6f\n", what, ls.loss, ls.ce,
	       ls.ar_tar, le.ce);
	check_model(what, m, g, lm_loss, &c, 0xf);

	for (int l = 0; l < w->L; l++) free(c.h0[l]), free(c.c0[l]);
	free(g);
	gu_lm_free(w);
	gu_model_free(m);
}

/* ---- classifier --------------------------------------------------------------------------- */

typedef struct {
	gu_cls *w;
	const int32_t *ids, *labels;
	int S, B;
	gu_rng rng0;
} cls_ctx;

static double cls_loss(void *ctx)
{
	cls_ctx *c = ctx;
	gu_rng r = c->rng0;
	gu_loss ls;
	CHECK(gu_cls_step(c->w, NULL, NULL, c->ids, c->labels, c->S, c->B, 1, &r, &ls) == GU_OK,
	      "cls: %s", gu_errmsg());
	return ls.loss;
}

/* bptt 12: the batch is one chunk, so the truncated gradient is the whole gradient and every
 * parameter is checked. bptt 4, max_len 8: chunks 0-3 (warm-up only), 4-7 and 8-10 (pooled).
 * Finite differences then see the dependence through the carried state, which the model
 * deliberately truncates (REFERENCE-SEMANTICS 6.1), so only the head (whose parameters do not
 * reach the encoder) is checked here; the truncated encoder gradient of several chunks is
 * compared with PyTorch in test_lm_parity. */
static void test_cls(int bptt, int max_len, int L_kept, uint32_t groups, const char *what)
{
	gu_model *m = make_model(GU_MODEL_CLS, bptt, max_len, GU_LM_KMER);
	enum { S = 11, B = 5 };
	int V = m->hp.vocab_size;
	gu_cls *w = gu_cls_new(m, B);
	CHECK(w != NULL, "gu_cls_new: %s", gu_errmsg());
	w->p_head = 0.2f;
	int lengths[B] = {11, 9, 6, 3, 1};
	int32_t ids[S * B], labels[B];
	for (int t = 0; t < S; t++)
		for (int b = 0; b < B; b++)
			ids[t * B + b] = t >= S - lengths[b] ? 1 + (int32_t)gu_rng_below(&trng, (uint64_t)V - 1)
							     : GU_PAD;
	for (int b = 0; b < B; b++) labels[b] = (int32_t)gu_rng_below(&trng, 3);
	cls_ctx c = {.w = w, .ids = ids, .labels = labels, .S = S, .B = B};
	gu_rng_seed(&c.rng0, 11);

	float *g = calloc(m->n_params, sizeof(float));
	gu_rng r = c.rng0;
	gu_loss ls, le;
	CHECK(gu_cls_step(w, g, NULL, ids, labels, S, B, 1, &r, &ls) == GU_OK, "cls grad: %s",
	      gu_errmsg());
	CHECK(w->L_kept == L_kept, "kept %d steps, want %d", w->L_kept, L_kept);
	CHECK(ls.ar_tar > 0, "AR/TAR present");
	CHECK(cls_loss(&c) == ls.loss, "masks not reproducible");
	/* eval CE uses running statistics; train CE must differ (dropouts, batch statistics) */
	CHECK(gu_cls_step(w, NULL, NULL, ids, labels, S, B, 0, NULL, &le) == GU_OK, "eval");
	CHECK(fabs(le.ce - ls.ce) > 1e-3, "train and eval agree");
	printf("%s: loss %.6f (CE %.6f, AR+TAR %.6f)\n", what, ls.loss, ls.ce, ls.ar_tar);
	check_model(what, m, g, cls_loss, &c, groups);

	free(g);
	gu_cls_free(w);
	gu_model_free(m);
}

/* The bases output's classes on a hand-made record: k 3, stride 2, so a token's class is the
 * code of its last two bases; a target is ignored when it or its input is special. */
static void test_bases_targets(void)
{
	/* every 3-mer of the record below, in the vocabulary (ids 3..) */
	const char *seq = "ACGTTGCAAGTC";
	enum { K = 3, S = 2, NT = (12 - K) / S + 1 }; /* 5 tokens: ACG GTT TGC CAA AGT */
	uint32_t tok[NT], codes[NT];
	CHECK(gu_kmer_tokenise(tok, seq, strlen(seq), K, S) == NT, "tokenise");
	for (int i = 0; i < NT; i++) codes[i] = tok[NT - 1 - i]; /* ids not in code order */
	gu_vocab *v = gu_vocab_from_codes(K, S, codes, NT);
	CHECK(v != NULL, "vocab: %s", gu_errmsg());
	/* an epoch sequence: xxbos, the record with an xxunk in the middle, xxbos, its start, and
	 * a pad (no LM batch holds one, but it is special) */
	int32_t seqid[10];
	int n = 0;
	seqid[n++] = GU_BOS;
	for (int i = 0; i < NT; i++) {
		if (i == 3) seqid[n++] = GU_UNK;
		seqid[n++] = gu_vocab_id(v, tok[i]);
	}
	seqid[n++] = GU_BOS;
	seqid[n++] = gu_vocab_id(v, tok[0]);
	seqid[n++] = GU_PAD;
	CHECK(n == 10, "n %d", n);
	int32_t x[9], y[9], cls[9];
	for (int i = 0; i < 9; i++) x[i] = seqid[i], y[i] = seqid[i + 1];
	CHECK(gu_lm_bases_targets(cls, x, y, 9, v) == 3, "three counted targets");
	/* step  0     1   2   3     4     5   6     7     8
	 * x     xxbos ACG GTT TGC   xxunk CAA AGT   xxbos ACG
	 * y     ACG   GTT TGC xxunk CAA   AGT xxbos ACG   xxpad
	 * class -     TT  GC  -     -     GT  -     -     -     */
	const char *want[9] = {NULL, "TT", "GC", NULL, NULL, "GT", NULL, NULL, NULL};
	for (int i = 0; i < 9; i++) {
		int32_t w = want[i] ? (int32_t)gu_kmer_parse(want[i], S) : -1;
		CHECK(cls[i] == w, "step %d: class %d, want %d (%s)", i, cls[i], w, want[i] ? want[i] : "ignored");
	}
	/* consistency: the next token's k-mer is the input's last k - s bases and the class */
	for (int i = 0; i < 9; i++)
		if (cls[i] >= 0)
			CHECK(v->code[y[i]] == ((v->code[x[i]] << (2 * S)) & ((1u << (2 * K)) - 1)) + (uint32_t)cls[i],
			      "step %d: overlap", i);
	gu_vocab_free(v);
	printf("bases targets: ok\n");
}

int main(void)
{
	gu_rng_seed(&trng, 20240601);
	test_lm(2.0f, 1.0f, GU_LM_KMER, "LM");
	gu_rng t0 = trng;
	test_lm(0.0f, 0.0f, GU_LM_KMER, "LM without AR/TAR");
	test_lm(2.0f, 1.0f, GU_LM_BASES, "LM bases output");
	test_bases_targets();
	trng = t0; /* the classifier checks draw the numbers they were measured with */
	test_cls(12, 20, 11, 0x1f, "CLS one chunk");
	trng = t0; /* max_len 0 pools every chunk too: the same batch, checked on its own */
	test_cls(12, 0, 11, 0x1f, "CLS max_len 0 (every chunk)");
	test_cls(4, 8, 7, 1u << 4, "CLS 3 chunks, head");
	return tu_done("test_lm_grad");
}
