/* model.c: hyperparameters, tensor layout, initialisation and provenance of AWD-LSTM language
 * models and classifiers. File I/O lives in modelio.c and safetensors.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gulm.h"

#define ALIGN_FLOATS 16 /* tensor offsets in multiples of 64 bytes, for SIMD loads */
#define MAX_TENSORS (1 + 4 * 16 + 2 + 8 + 4)

void gu_hparams_default(gu_hparams *hp, int kind)
{
	memset(hp, 0, sizeof *hp);
	hp->kind = kind;
	hp->k = 3;
	hp->stride = 1;
	hp->vocab_size = 0;
	hp->emb = 400;
	hp->hidden = 1150;
	hp->n_layers = 3;
	hp->n_lin = 50;
	hp->bptt = 70;
	hp->alpha = 2.0f;
	hp->beta = 1.0f;
	if (kind == GU_MODEL_CLS) {
		/* Genomic's classifier config (REFERENCE-SEMANTICS 7) */
		hp->n_classes = 2;
		hp->max_len = 4000 * 70;
		hp->output_p = 0.4f, hp->hidden_p = 0.2f, hp->input_p = 0.6f;
		hp->embed_p = 0.1f, hp->weight_p = 0.5f, hp->drop_mult = 0.5f;
	} else {
		hp->n_classes = 0;
		hp->max_len = 0;
		hp->output_p = 0.25f, hp->hidden_p = 0.1f, hp->input_p = 0.2f;
		hp->embed_p = 0.02f, hp->weight_p = 0.15f, hp->drop_mult = 1.0f;
	}
}

static int check_range(const char *name, int64_t x, int64_t lo, int64_t hi)
{
	if (x < lo || x > hi)
		return gu_err(GU_EARG, "%s = %lld out of range [%lld, %lld]", name, (long long)x,
			      (long long)lo, (long long)hi);
	return 0;
}

int gu_hparams_check(const gu_hparams *hp)
{
	int cls = hp->kind == GU_MODEL_CLS, r;
	if (hp->kind != GU_MODEL_LM && !cls)
		return gu_err(GU_EARG, "kind = %d is neither LM (1) nor classifier (2)", hp->kind);
	if ((r = check_range("k", hp->k, 1, GU_KMAX)) < 0) return r;
	if ((r = check_range("stride", hp->stride, 1, 1 << 20)) < 0) return r;
	int64_t vmax = ((int64_t)1 << (2 * hp->k)) + GU_N_SPECIAL;
	if (vmax > (1 << 28)) vmax = 1 << 28;
	if ((r = check_range("vocab_size", hp->vocab_size, GU_N_SPECIAL + 1, vmax)) < 0) return r;
	if ((r = check_range("emb", hp->emb, 1, 65536)) < 0) return r;
	if ((r = check_range("hidden", hp->hidden, 1, 65536)) < 0) return r;
	if ((r = check_range("n_layers", hp->n_layers, 1, 16)) < 0) return r;
	if ((r = check_range("n_lin", hp->n_lin, cls ? 1 : 0, 65536)) < 0) return r;
	if ((r = check_range("n_classes", hp->n_classes, cls ? 2 : 0, cls ? 65536 : 0)) < 0) return r;
	if ((r = check_range("bptt", hp->bptt, 1, 1 << 20)) < 0) return r;
	/* max_len 0: every chunk is pooled (LMs store 0) */
	if ((r = check_range("max_len", hp->max_len, 0, INT32_MAX)) < 0) return r;
	if (!isfinite(hp->drop_mult) || hp->drop_mult < 0 || hp->drop_mult > 1e6)
		return gu_err(GU_EARG, "drop_mult = %g out of range [0, 1e6]", hp->drop_mult);
	const char *pn[5] = {"output_p", "hidden_p", "input_p", "embed_p", "weight_p"};
	float pv[5] = {hp->output_p, hp->hidden_p, hp->input_p, hp->embed_p, hp->weight_p};
	for (int i = 0; i < 5; i++) {
		if (!isfinite(pv[i]) || pv[i] < 0 || pv[i] >= 1)
			return gu_err(GU_EARG, "%s = %g out of range [0, 1)", pn[i], pv[i]);
		if (pv[i] * hp->drop_mult >= 1)
			return gu_err(GU_EARG, "%s * drop_mult = %g is not below 1", pn[i],
				      pv[i] * hp->drop_mult);
	}
	if (!isfinite(hp->alpha) || hp->alpha < 0 || hp->alpha > 1e6)
		return gu_err(GU_EARG, "alpha = %g out of range [0, 1e6]", hp->alpha);
	if (!isfinite(hp->beta) || hp->beta < 0 || hp->beta > 1e6)
		return gu_err(GU_EARG, "beta = %g out of range [0, 1e6]", hp->beta);
	if (hp->lm_output != GU_LM_KMER && (cls || hp->lm_output != GU_LM_BASES))
		return gu_err(GU_EARG, "lm_output = %d is not %s", hp->lm_output,
			      cls ? "0 (a classifier has no LM output)" : "0 (kmer) or 1 (bases)");
	/* the bases output predicts the stride new bases of the next token, which the input token
	 * determines only when the two overlap or touch; 4^stride classes stay within V's bound */
	if (hp->lm_output == GU_LM_BASES && (hp->stride > hp->k || hp->stride > 14))
		return gu_err(GU_EARG, "lm_output bases needs stride <= k and stride <= 14 "
			      "(k = %d, stride = %d)", hp->k, hp->stride);
	return 0;
}

static void add_tensor(gu_tensor *t, int *nt, size_t *off, const char *name, int ndim,
		       int64_t d0, int64_t d1, int group, int buffer)
{
	gu_tensor *x = &t[(*nt)++];
	memset(x, 0, sizeof *x);
	snprintf(x->name, sizeof x->name, "%s", name);
	x->ndim = ndim;
	x->shape[0] = d0;
	x->shape[1] = ndim == 2 ? d1 : 0;
	x->numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
	x->group = group;
	x->buffer = buffer;
	x->off = *off;
	*off += (x->numel + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* Fills t (MAX_TENSORS) with the layout of hp (already checked). */
static void layout(const gu_hparams *hp, gu_tensor *t, int *n_tensors, size_t *n_params,
		   size_t *n_buffers, int *n_groups)
{
	int nt = 0, L = hp->n_layers, cls = hp->kind == GU_MODEL_CLS;
	int64_t V = hp->vocab_size, E = hp->emb, H = hp->hidden;
	size_t po = 0, bo = 0;
	char name[48];
	int g_emb = cls ? 0 : L, g_rnn0 = cls ? 1 : 0, g_head = L + 1;
	add_tensor(t, &nt, &po, "encoder.weight", 2, V, E, g_emb, 0);
	for (int i = 0; i < L; i++) {
		int64_t n = i == L - 1 ? E : H, in = i == 0 ? E : H;
		snprintf(name, sizeof name, "rnns.%d.weight_ih", i);
		add_tensor(t, &nt, &po, name, 2, 4 * n, in, g_rnn0 + i, 0);
		snprintf(name, sizeof name, "rnns.%d.weight_hh", i);
		add_tensor(t, &nt, &po, name, 2, 4 * n, n, g_rnn0 + i, 0);
		snprintf(name, sizeof name, "rnns.%d.bias_ih", i);
		add_tensor(t, &nt, &po, name, 1, 4 * n, 0, g_rnn0 + i, 0);
		snprintf(name, sizeof name, "rnns.%d.bias_hh", i);
		add_tensor(t, &nt, &po, name, 1, 4 * n, 0, g_rnn0 + i, 0);
	}
	if (!cls) {
		int64_t C = gu_lm_n_out(hp); /* V, tied to encoder.weight, or 4^s (bases) */
		if (hp->lm_output == GU_LM_BASES)
			add_tensor(t, &nt, &po, "decoder.weight", 2, C, E, g_emb, 0);
		add_tensor(t, &nt, &po, "decoder.bias", 1, C, 0, g_emb, 0);
	} else {
		int64_t F = 3 * E, NL = hp->n_lin, C = hp->n_classes;
		add_tensor(t, &nt, &po, "head.bn0.weight", 1, F, 0, g_head, 0);
		add_tensor(t, &nt, &po, "head.bn0.bias", 1, F, 0, g_head, 0);
		add_tensor(t, &nt, &po, "head.lin0.weight", 2, NL, F, g_head, 0);
		add_tensor(t, &nt, &po, "head.lin0.bias", 1, NL, 0, g_head, 0);
		add_tensor(t, &nt, &po, "head.bn1.weight", 1, NL, 0, g_head, 0);
		add_tensor(t, &nt, &po, "head.bn1.bias", 1, NL, 0, g_head, 0);
		add_tensor(t, &nt, &po, "head.lin1.weight", 2, C, NL, g_head, 0);
		add_tensor(t, &nt, &po, "head.lin1.bias", 1, C, 0, g_head, 0);
		add_tensor(t, &nt, &bo, "head.bn0.running_mean", 1, F, 0, g_head, 1);
		add_tensor(t, &nt, &bo, "head.bn0.running_var", 1, F, 0, g_head, 1);
		add_tensor(t, &nt, &bo, "head.bn1.running_mean", 1, NL, 0, g_head, 1);
		add_tensor(t, &nt, &bo, "head.bn1.running_var", 1, NL, 0, g_head, 1);
	}
	*n_tensors = nt;
	*n_params = po;
	*n_buffers = bo;
	*n_groups = cls ? L + 2 : L + 1;
}

uint64_t gu_hparams_numel(const gu_hparams *hp)
{
	gu_tensor t[MAX_TENSORS];
	int nt, ng;
	size_t np, nb;
	if (gu_hparams_check(hp) < 0) return 0;
	layout(hp, t, &nt, &np, &nb, &ng);
	uint64_t s = 0;
	for (int i = 0; i < nt; i++) s += t[i].numel;
	return s;
}

/* 64-byte aligned, zeroed block of n floats (n may be 0). */
static float *alloc_block(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
	if (bytes == 0) bytes = 64;
	if (n > SIZE_MAX / sizeof(float) / 2) {
		gu_err(GU_ENOMEM, "out of memory allocating %zu floats", n);
		return NULL;
	}
	float *p = aligned_alloc(64, bytes);
	if (!p) {
		gu_err(GU_ENOMEM, "out of memory allocating %zu bytes", bytes);
		return NULL;
	}
	memset(p, 0, bytes);
	return p;
}

gu_model *gu_model_new(const gu_hparams *hp, gu_vocab *vocab, int n_labels, char *const *labels)
{
	int r = gu_hparams_check(hp);
	if (r < 0) return NULL;
	if (!vocab) {
		gu_err(GU_EARG, "model without a vocabulary");
		return NULL;
	}
	if (vocab->k != hp->k || vocab->stride != hp->stride || vocab->size != hp->vocab_size) {
		gu_err(GU_EARG, "vocabulary (k %d, stride %d, %d ids) does not match the model "
		       "(k %d, stride %d, %d ids)", vocab->k, vocab->stride, (int)vocab->size, hp->k,
		       hp->stride, (int)hp->vocab_size);
		return NULL;
	}
	if (n_labels != hp->n_classes) {
		gu_err(GU_EARG, "%d label names for %d classes", n_labels, hp->n_classes);
		return NULL;
	}
	gu_tensor t[MAX_TENSORS];
	gu_model *m = gu_calloc(1, sizeof *m);
	if (!m) return NULL;
	m->hp = *hp;
	layout(hp, t, &m->n_tensors, &m->n_params, &m->n_buffers, &m->n_groups);
	m->tensors = gu_malloc(sizeof(gu_tensor) * (size_t)m->n_tensors);
	if (!m->tensors) goto fail;
	memcpy(m->tensors, t, sizeof(gu_tensor) * (size_t)m->n_tensors);
	m->params = alloc_block(m->n_params);
	m->buffers = alloc_block(m->n_buffers);
	if (!m->params || !m->buffers) goto fail;
	if (n_labels > 0) {
		m->labels = gu_calloc((size_t)n_labels, sizeof(char *));
		if (!m->labels) goto fail;
		for (int i = 0; i < n_labels; i++) {
			if (!(m->labels[i] = gu_strdup(labels[i]))) goto fail;
			m->n_labels = i + 1;
		}
	}
	m->vocab = vocab;
	return m;
fail:
	gu_model_free(m); /* vocab not yet attached: stays the caller's */
	return NULL;
}

void gu_model_init(gu_model *m, gu_rng *rng)
{
	const gu_hparams *hp = &m->hp;
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		float *x = gu_tensor_data(m, t);
		const char *nm = t->name;
		if (strcmp(nm, "encoder.weight") == 0) {
			/* fastai overwrites the whole matrix, pad row included, with U(-0.1, 0.1) */
			gu_rng_fill_uniform(rng, x, t->numel, -0.1f, 0.1f);
		} else if (strncmp(nm, "rnns.", 5) == 0) {
			/* torch nn.LSTM: every tensor U(+-1/sqrt(hidden)), the layer's own width;
			 * no forget-gate bias */
			int layer = atoi(nm + 5);
			int n = layer == hp->n_layers - 1 ? hp->emb : hp->hidden;
			float b = (float)(1.0 / sqrt((double)n));
			gu_rng_fill_uniform(rng, x, t->numel, -b, b);
		} else if (strcmp(nm, "decoder.bias") == 0) {
			memset(x, 0, t->numel * sizeof(float));
		} else if (strcmp(nm, "decoder.weight") == 0) {
			/* untied (bases output): fastai LinearDecoder's U(-initrange, initrange),
			 * initrange 0.1 */
			gu_rng_fill_uniform(rng, x, t->numel, -0.1f, 0.1f);
		} else if (strncmp(nm, "head.lin", 8) == 0) {
			/* torch nn.Linear: weight (kaiming_uniform a=sqrt(5)) and bias both come out
			 * as U(+-1/sqrt(fan_in)) */
			int fan_in = nm[8] == '0' ? 3 * hp->emb : hp->n_lin;
			float b = (float)(1.0 / sqrt((double)fan_in));
			gu_rng_fill_uniform(rng, x, t->numel, -b, b);
		} else {
			/* BatchNorm: gamma 1, beta 0, running mean 0, running var 1 (torch >= 1.0) */
			size_t len = strlen(nm);
			float v = (len > 7 && strcmp(nm + len - 7, ".weight") == 0) ||
					  (len > 12 && strcmp(nm + len - 12, ".running_var") == 0)
				  ? 1.0f
				  : 0.0f;
			for (size_t j = 0; j < t->numel; j++) x[j] = v;
		}
	}
}

const gu_tensor *gu_model_tensor(const gu_model *m, const char *name)
{
	for (int i = 0; i < m->n_tensors; i++)
		if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
	return NULL;
}

/* Appends s[0..n) to the growing string *buf (len, cap). */
static int sb_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = (*len + n + 1) * 2;
		char *p = gu_realloc(*buf, c);
		if (!p) return GU_ENOMEM;
		*buf = p, *cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = 0;
	return 0;
}

static int needs_quote(const char *s)
{
	if (!*s) return 1;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "-_./:=,+@%", *s))
			return 1;
	return 0;
}

int gu_model_add_prov(gu_model *m, const char *prog, int argc, char *const *argv)
{
	char *buf = NULL, date[32];
	size_t len = 0, cap = 0;
	time_t now = time(NULL);
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && *sde) now = (time_t)strtoll(sde, NULL, 10);
	struct tm tmv;
	if (!gmtime_r(&now, &tmv) || !strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv))
		snprintf(date, sizeof date, "unknown");
	int r = 0;
	r |= sb_add(&buf, &len, &cap, prog, strlen(prog));
	r |= sb_add(&buf, &len, &cap, "\t" GU_VERSION "\t", strlen(GU_VERSION) + 2);
	r |= sb_add(&buf, &len, &cap, date, strlen(date));
	r |= sb_add(&buf, &len, &cap, "\t", 1);
	for (int i = 0; i < argc && !r; i++) {
		const char *a = argv[i];
		if (i) r |= sb_add(&buf, &len, &cap, " ", 1);
		int q = needs_quote(a);
		if (q) r |= sb_add(&buf, &len, &cap, "'", 1);
		for (; *a && !r; a++) {
			if (*a == '\'') r |= sb_add(&buf, &len, &cap, "'\\''", 4);
			else if ((unsigned char)*a < 0x20 || *a == 0x7f) r |= sb_add(&buf, &len, &cap, "?", 1);
			else r |= sb_add(&buf, &len, &cap, a, 1);
		}
		if (q) r |= sb_add(&buf, &len, &cap, "'", 1);
	}
	if (r) {
		free(buf);
		return GU_ENOMEM;
	}
	char **p = gu_realloc(m->prov, sizeof(char *) * (size_t)(m->n_prov + 1));
	if (!p) {
		free(buf);
		return GU_ENOMEM;
	}
	m->prov = p;
	m->prov[m->n_prov++] = buf;
	return 0;
}

void gu_model_free(gu_model *m)
{
	if (!m) return;
	if (m->vocab) gu_vocab_free(m->vocab);
	for (int i = 0; i < m->n_labels; i++) free(m->labels[i]);
	free(m->labels);
	for (int i = 0; i < m->n_prov; i++) free(m->prov[i]);
	free(m->prov);
	free(m->params);
	free(m->buffers);
	free(m->tensors);
	free(m);
}
