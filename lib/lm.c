/* lm.c: the whole AWD-LSTM language model and classifier (REFERENCE-SEMANTICS 1-3, 6).
 *
 * Both models share one encoder pass over a chunk of T steps (chunk_forward/chunk_backward):
 *   x_0 = locked_in(lookup(E_w * emb_row_mask, ids))
 *   y_l = LSTM_l(x_l; W_hh_l * dropconnect_mask_l), x_{l+1} = locked_hid_l(y_l)   (l < L-1)
 * The language model adds the decoder, logits = locked_out(y_{L-1}) W^T + b with W = E_w (tied,
 * kmer output: V classes) or its own decoder.weight (bases output: 4^stride classes, the new
 * bases of the next token), and the classifier runs the chunks of a padded batch,
 * concat-pools the kept ones and adds the head.
 *
 * DropConnect masks (4n,n) are the only big masks: instead of storing one per layer and chunk,
 * the rng state just before each draw is saved and the mask is drawn again in the backward.
 * Every other mask is stored. All activations are time-major: (T,B,width).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gulm.h"

/* ---- encoder ---------------------------------------------------------------------------- */

typedef struct {
	float embed, input, hidden, weight; /* effective dropout probabilities */
} drops;

typedef struct {
	const gu_model *m;
	int V, E, L, B, Tmax;                /* B, Tmax: rows and steps the scratch is sized for */
	int in[GU_MAX_LAYERS], n[GU_MAX_LAYERS];
	size_t off_enc;                      /* encoder.weight (V,E) */
	size_t off_wih[GU_MAX_LAYERS];       /* rnns.l.weight_ih (4n,In) */
	size_t off_whh[GU_MAX_LAYERS];       /* rnns.l.weight_hh (4n,n): the raw matrix */
	size_t off_bih[GU_MAX_LAYERS];       /* rnns.l.bias_ih (4n) */
	size_t off_bhh[GU_MAX_LAYERS];       /* rnns.l.bias_hh (4n) */
	int g_enc, g_lstm[GU_MAX_LAYERS];    /* layer groups */
	size_t wmax;                         /* max over layers of 4n*n */
	float *wmask;                        /* (4n,n) DropConnect mask of the layer at hand */
	float *weff;                         /* (4n,n) effective W_hh of the layer at hand */
	float *dweff;                        /* (4n,n) gradient w.r.t. the effective W_hh */
	float *lstm_scratch;                 /* gu_lstm_scratch_floats(Tmax,B,n) of the widest layer */
	float *dA, *dB;                      /* (Tmax,B,wide) ping-pong input gradients, wide = max n,In */
	float *discard;                      /* gradients of frozen tensors kernels must write (lazy) */
	size_t n_discard;                    /* floats in discard */
	int B_all, row0;                     /* this call's rows: [row0, row0+B) of B_all (masks) */
	float *mask_all;                     /* (B_all,wide) a row mask of the whole batch (lazy) */
	size_t n_mask_all;                   /* floats in mask_all */
} encoder;

/* Activations of one chunk (shapes for the encoder's B and the chunk's T). */
typedef struct {
	int T;                               /* steps allocated */
	int own_top;                         /* y[L-1] allocated here (else always the caller's) */
	float *x[GU_MAX_LAYERS];             /* (T,B,In_l) layer inputs, dropout applied */
	float *y[GU_MAX_LAYERS];             /* (T,B,n_l) layer outputs (undropped) */
	float *gates[GU_MAX_LAYERS];         /* (T,B,4n_l) post-activation gates */
	float *cells[GU_MAX_LAYERS];         /* (T,B,n_l) cell states */
	float *h0[GU_MAX_LAYERS];            /* (B,n_l) state at the chunk start */
	float *c0[GU_MAX_LAYERS];            /* (B,n_l) */
	float *emb_mask;                     /* (V) embedding row mask */
	float *in_mask;                      /* (B,E) input locked mask */
	float *hid_mask[GU_MAX_LAYERS];      /* (B,n_l) hidden locked masks, l < L-1 */
	gu_rng wrng[GU_MAX_LAYERS];          /* rng state before layer l's DropConnect draw */
	drops p;                             /* probabilities of the last forward (0 in eval) */
} chunk;

static float *falloc(size_t n) { return gu_calloc(n, sizeof(float)); }

static int tensor_off(const gu_model *m, const char *name, int64_t d0, int64_t d1, size_t *off,
		      int *group, int want_buffer)
{
	const gu_tensor *t = gu_model_tensor(m, name);
	if (!t) return gu_err(GU_EARG, "model has no tensor %s", name);
	int64_t want = d1 > 0 ? d0 * d1 : d0;
	if ((size_t)want != t->numel || (d1 > 0 && (t->ndim != 2 || t->shape[0] != d0)) ||
	    t->buffer != want_buffer)
		return gu_err(GU_EARG, "tensor %s has an unexpected shape", name);
	*off = t->off;
	if (group) *group = t->group;
	return GU_OK;
}

static void encoder_free(encoder *e)
{
	free(e->wmask), free(e->weff), free(e->dweff), free(e->lstm_scratch);
	free(e->dA), free(e->dB), free(e->discard), free(e->mask_all);
	memset(e, 0, sizeof *e);
}

static int encoder_init(encoder *e, const gu_model *m, int Tmax, int B)
{
	const gu_hparams *hp = &m->hp;
	memset(e, 0, sizeof *e);
	e->m = m;
	e->V = hp->vocab_size, e->E = hp->emb, e->L = hp->n_layers, e->B = B, e->Tmax = Tmax;
	e->B_all = B, e->row0 = 0;
	if (e->L < 1 || e->L > GU_MAX_LAYERS || e->V < 1 || e->E < 1 || hp->hidden < 1 || B < 1 ||
	    Tmax < 1)
		return gu_err(GU_EARG, "bad model shape (V %d, E %d, H %d, %d layers) or batch %dx%d",
			      e->V, e->E, hp->hidden, e->L, Tmax, B);
	if (m->params == NULL) return gu_err(GU_EARG, "model has no parameters");
	int rc = tensor_off(m, "encoder.weight", e->V, e->E, &e->off_enc, &e->g_enc, 0);
	if (rc < 0) return rc;
	size_t wide = 0, lscr = 0;
	for (int l = 0; l < e->L; l++) {
		int in = l == 0 ? e->E : hp->hidden, n = l == e->L - 1 ? e->E : hp->hidden;
		char name[64];
		e->in[l] = in, e->n[l] = n;
		snprintf(name, sizeof name, "rnns.%d.weight_ih", l);
		if ((rc = tensor_off(m, name, 4 * n, in, &e->off_wih[l], &e->g_lstm[l], 0)) < 0) return rc;
		snprintf(name, sizeof name, "rnns.%d.weight_hh", l);
		if ((rc = tensor_off(m, name, 4 * n, n, &e->off_whh[l], NULL, 0)) < 0) return rc;
		snprintf(name, sizeof name, "rnns.%d.bias_ih", l);
		if ((rc = tensor_off(m, name, 4 * n, 0, &e->off_bih[l], NULL, 0)) < 0) return rc;
		snprintf(name, sizeof name, "rnns.%d.bias_hh", l);
		if ((rc = tensor_off(m, name, 4 * n, 0, &e->off_bhh[l], NULL, 0)) < 0) return rc;
		size_t w = (size_t)4 * n * n, s = gu_lstm_scratch_floats(Tmax, B, n);
		if (w > e->wmax) e->wmax = w;
		if (s > lscr) lscr = s;
		if ((size_t)n > wide) wide = n;
		if ((size_t)in > wide) wide = in;
	}
	size_t TB = (size_t)Tmax * B;
	e->wmask = falloc(e->wmax), e->weff = falloc(e->wmax), e->dweff = falloc(e->wmax);
	e->lstm_scratch = falloc(lscr);
	e->dA = falloc(TB * wide), e->dB = falloc(TB * wide);
	if (!e->wmask || !e->weff || !e->dweff || !e->lstm_scratch || !e->dA || !e->dB) {
		encoder_free(e);
		return GU_ENOMEM;
	}
	return GU_OK;
}

/* A buffer of at least n floats for gradients that are computed but not wanted. */
static float *encoder_discard(encoder *e, size_t n)
{
	if (n > e->n_discard) {
		float *d = gu_realloc(e->discard, n * sizeof(float));
		if (!d) return NULL;
		e->discard = d, e->n_discard = n;
	}
	return e->discard;
}

/* A row mask (B,width) for dropout p: rows [row0, row0+B) of the mask of the whole batch
 * (B_all,width), drawn in full so that every share consumes the same random numbers. */
static int row_mask(encoder *e, float *mask, int B, int width, float p, gu_rng *rng)
{
	if (e->B_all == B) {
		gu_dropout_mask(mask, (size_t)B * width, p, rng);
		return GU_OK;
	}
	size_t n = (size_t)e->B_all * width;
	if (n > e->n_mask_all) {
		float *d = gu_realloc(e->mask_all, n * sizeof(float));
		if (!d) return GU_ENOMEM;
		e->mask_all = d, e->n_mask_all = n;
	}
	gu_dropout_mask(e->mask_all, n, p, rng);
	memcpy(mask, e->mask_all + (size_t)e->row0 * width, (size_t)B * width * sizeof(float));
	return GU_OK;
}

static void chunk_free(chunk *ch)
{
	if (!ch) return;
	for (int l = 0; l < GU_MAX_LAYERS; l++) {
		free(ch->x[l]), free(ch->gates[l]), free(ch->cells[l]);
		free(ch->h0[l]), free(ch->c0[l]), free(ch->hid_mask[l]), free(ch->y[l]);
	}
	free(ch->emb_mask), free(ch->in_mask);
	free(ch);
}

/* A chunk of T steps for the encoder's B; own_top == 0 leaves the last layer's output to the
 * caller (chunk_forward's ytop). */
static chunk *chunk_new(const encoder *e, int T, int own_top)
{
	chunk *ch = gu_calloc(1, sizeof *ch);
	if (!ch) return NULL;
	size_t TB = (size_t)T * e->B;
	ch->T = T, ch->own_top = own_top;
	int ok = (ch->emb_mask = falloc(e->V)) && (ch->in_mask = falloc((size_t)e->B * e->E));
	for (int l = 0; ok && l < e->L; l++) {
		ok = (ch->x[l] = falloc(TB * e->in[l])) && (ch->gates[l] = falloc(TB * 4 * e->n[l])) &&
		     (ch->cells[l] = falloc(TB * e->n[l])) && (ch->h0[l] = falloc((size_t)e->B * e->n[l])) &&
		     (ch->c0[l] = falloc((size_t)e->B * e->n[l]));
		if (ok && (l < e->L - 1 || own_top)) ok = (ch->y[l] = falloc(TB * e->n[l])) != NULL;
		if (ok && l < e->L - 1) ok = (ch->hid_mask[l] = falloc((size_t)e->B * e->n[l])) != NULL;
	}
	if (!ok) {
		chunk_free(ch);
		return NULL;
	}
	return ch;
}

/* acc += x * mask (mask NULL: acc += x). Fixed blocks of 8 and restrict, so that it vectorises at
 * -O2 (whose cost model adds neither alias checks nor epilogues). */
static void add_mul(float *restrict acc, const float *restrict x, const float *restrict mask,
		    size_t n)
{
	size_t i = 0;
	if (mask) {
		for (; i + 8 <= n; i += 8)
			for (int k = 0; k < 8; k++) acc[i + k] += x[i + k] * mask[i + k];
		for (; i < n; i++) acc[i] += x[i] * mask[i];
	} else {
		for (; i + 8 <= n; i += 8)
			for (int k = 0; k < 8; k++) acc[i + k] += x[i + k];
		for (; i < n; i++) acc[i] += x[i];
	}
}

/* dst (T,B,C) = src * mask (B,C) for every t: a copy and gu_locked_dropout in one pass. */
static void locked_copy(float *dst, const float *src, const float *mask, int T, int B, int C)
{
	const size_t bc = (size_t)B * C;
	for (int t = 0; t < T; t++) gu_mul(dst + (size_t)t * bc, src + (size_t)t * bc, mask, bc);
}

/* Effective W_hh of layer l into e->weff, DropConnect mask into e->wmask, drawn from *rng. */
static const float *dropconnect(encoder *e, int l, float p, gu_rng *rng)
{
	size_t n = (size_t)4 * e->n[l] * e->n[l];
	const float *raw = e->m->params + e->off_whh[l];
	gu_dropout_mask(e->wmask, n, p, rng);
	gu_mul(e->weff, raw, e->wmask, n);
	return e->weff;
}

static void lstm_weights(const encoder *e, int l, const float *w_hh, gu_lstm_w *w)
{
	const float *P = e->m->params;
	w->in = e->in[l], w->n = e->n[l];
	w->w_ih = P + e->off_wih[l], w->w_hh = w_hh;
	w->b_ih = P + e->off_bih[l], w->b_hh = P + e->off_bhh[l];
}

/* Runs the encoder over ids (T,B) from the state (h, c) (B,n_l) each, which is overwritten with
 * the final state. valid (T,B) or NULL. p == NULL: eval (no dropout). The last layer's output
 * goes to ytop (T,B,E), or to the chunk's own buffer when ytop is NULL. Mask draw order:
 * embedding rows, input, hidden l = 0..L-2, then DropConnect l = 0..L-1 as each layer runs. */
static int chunk_forward(encoder *e, chunk *ch, float *ytop, float **h, float **c,
			 const int32_t *ids, const uint8_t *valid, int T, int B, const drops *p,
			 gu_rng *rng)
{
	int E = e->E, L = e->L;
	size_t TB = (size_t)T * B;
	drops none = {0, 0, 0, 0};
	ch->p = p ? *p : none;
	const drops *q = &ch->p;
	if (q->embed > 0) gu_dropout_mask(ch->emb_mask, e->V, q->embed, rng);
	if (q->input > 0 && row_mask(e, ch->in_mask, B, E, q->input, rng) < 0) return GU_ENOMEM;
	if (q->hidden > 0)
		for (int l = 0; l < L - 1; l++)
			if (row_mask(e, ch->hid_mask[l], B, e->n[l], q->hidden, rng) < 0) return GU_ENOMEM;

	const float *P = e->m->params;
	gu_embedding_forward(ch->x[0], P + e->off_enc, q->embed > 0 ? ch->emb_mask : NULL, ids,
			     (int)TB, E);
	if (q->input > 0) gu_locked_dropout(ch->x[0], ch->in_mask, T, B, E);
	for (int l = 0; l < L; l++) {
		int n = e->n[l];
		const float *w_hh = P + e->off_whh[l];
		if (q->weight > 0) {
			ch->wrng[l] = *rng;
			w_hh = dropconnect(e, l, q->weight, rng);
		}
		gu_lstm_w w;
		lstm_weights(e, l, w_hh, &w);
		memcpy(ch->h0[l], h[l], (size_t)B * n * sizeof(float));
		memcpy(ch->c0[l], c[l], (size_t)B * n * sizeof(float));
		float *y = l == L - 1 && ytop ? ytop : ch->y[l];
		gu_lstm_forward_ws(y, h[l], c[l], ch->gates[l], ch->cells[l], &w, ch->x[l], ch->h0[l],
				   ch->c0[l], valid, T, B, e->lstm_scratch);
		if (l < L - 1) {
			if (q->hidden > 0)
				locked_copy(ch->x[l + 1], y, ch->hid_mask[l], T, B, n);
			else
				memcpy(ch->x[l + 1], y, TB * n * sizeof(float));
		}
	}
	return GU_OK;
}

/* 1 when some part of the encoder at or below layer l (or the embedding, l == -1) trains. */
static int trains_below(const encoder *e, int l, uint32_t frozen)
{
	if (!(frozen >> e->g_enc & 1)) return 1;
	for (int k = 0; k <= l; k++)
		if (!(frozen >> e->g_lstm[k] & 1)) return 1;
	return 0;
}

/* Backward of chunk_forward (train mode) from dtop (T,B,E), the gradient w.r.t. the last
 * layer's output ytop; dtop is used as scratch. Accumulates into grad for unfrozen groups. */
static int chunk_backward(encoder *e, chunk *ch, float *dtop, const float *ytop,
			  const int32_t *ids, const uint8_t *valid, int T, int B, float *grad,
			  uint32_t frozen)
{
	int E = e->E, L = e->L;
	size_t TB = (size_t)T * B;
	const float *P = e->m->params;
	const drops *q = &ch->p;
	float *dy = dtop;
	for (int l = L - 1; l >= 0; l--) {
		int n = e->n[l], in = e->in[l];
		int need_w = !(frozen >> e->g_lstm[l] & 1);
		int need_dx = trains_below(e, l - 1, frozen);
		if (!need_w && !need_dx) break;
		size_t nw = (size_t)4 * n * n;
		const float *w_hh = P + e->off_whh[l];
		if (q->weight > 0) {
			gu_rng r = ch->wrng[l];
			w_hh = dropconnect(e, l, q->weight, &r);
		}
		gu_lstm_w w;
		lstm_weights(e, l, w_hh, &w);
		float *dw_ih, *dw_hh, *db_ih, *db_hh;
		if (need_w) {
			dw_ih = grad + e->off_wih[l], db_ih = grad + e->off_bih[l];
			db_hh = grad + e->off_bhh[l];
			dw_hh = q->weight > 0 ? e->dweff : grad + e->off_whh[l];
		} else {
			size_t nd = (size_t)4 * n * in + (size_t)8 * n;
			float *d = encoder_discard(e, nd);
			if (!d) return GU_ENOMEM;
			dw_ih = d, db_ih = d + (size_t)4 * n * in, db_hh = db_ih + 4 * n;
			dw_hh = e->dweff;
		}
		if (dw_hh == e->dweff) memset(e->dweff, 0, nw * sizeof(float));
		float *dx = need_dx ? (dy == e->dA ? e->dB : e->dA) : NULL;
		gu_lstm_backward(dx, dw_ih, dw_hh, db_ih, db_hh, dy, &w, ch->x[l],
				 l == L - 1 ? ytop : ch->y[l], ch->gates[l], ch->cells[l], ch->h0[l],
				 ch->c0[l], valid, T, B, e->lstm_scratch);
		if (need_w && q->weight > 0) /* DropConnect: dW_raw += dW_eff * mask */
			add_mul(grad + e->off_whh[l], e->dweff, e->wmask, nw);
		if (!need_dx) break;
		if (l > 0) {
			if (q->hidden > 0) gu_locked_dropout(dx, ch->hid_mask[l - 1], T, B, in);
			dy = dx;
		} else {
			if (q->input > 0) gu_locked_dropout(dx, ch->in_mask, T, B, E);
			gu_embedding_backward(grad + e->off_enc, dx, q->embed > 0 ? ch->emb_mask : NULL,
					      ids, (int)TB, E, GU_PAD);
		}
	}
	return GU_OK;
}

static int check_ids(const int32_t *ids, size_t n, int32_t V, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= V)
			return gu_err(GU_EARG, "%s id %d at %zu is outside [0, %d)", what, (int)ids[i], i,
				      (int)V);
	return GU_OK;
}

/* ---- language model --------------------------------------------------------------------- */

struct gu_lm_priv {
	encoder e;
	chunk *ch;         /* caches and masks of the last call */
	int bases;         /* the bases output (GU_LM_BASES) */
	size_t off_dec_w;  /* decoder.weight (n_out,E): encoder.weight when tied (kmer) */
	size_t off_dec_b;  /* decoder.bias (n_out) */
	int g_dec_w, g_dec_b;
	float *out_mask;   /* (B,E) output locked mask */
	float *dec_in;     /* (T*B,E) decoder input: out * out_mask */
	float *d_out;      /* (T,B,E) gradient w.r.t. out */
};

void gu_lm_free(gu_lm *w)
{
	if (!w) return;
	if (w->p) {
		encoder_free(&w->p->e);
		chunk_free(w->p->ch);
		free(w->p->out_mask), free(w->p->dec_in), free(w->p->d_out);
		free(w->p);
	}
	for (int l = 0; l < GU_MAX_LAYERS; l++) free(w->h[l]), free(w->c[l]);
	free(w->logits), free(w->out), free(w->target);
	free(w);
}

int64_t gu_lm_bases_targets(int32_t *cls, const int32_t *x, const int32_t *y, size_t n,
			    const gu_vocab *v)
{
	/* the last s bases are the low 2s bits of a code (first base most significant) */
	const uint32_t mask = ((uint32_t)1 << (2 * v->stride)) - 1;
	int64_t counted = 0;
	for (size_t i = 0; i < n; i++) {
		if (x[i] < GU_N_SPECIAL || y[i] < GU_N_SPECIAL) {
			cls[i] = -1;
		} else {
			cls[i] = (int32_t)(v->code[y[i]] & mask);
			counted++;
		}
	}
	return counted;
}

gu_lm *gu_lm_new(const gu_model *m, int T, int B)
{
	if (!m || m->hp.kind != GU_MODEL_LM) {
		gu_err(GU_EARG, "not a language model");
		return NULL;
	}
	gu_lm *w = gu_calloc(1, sizeof *w);
	if (!w) return NULL;
	if (!(w->p = gu_calloc(1, sizeof *w->p))) goto fail;
	gu_lm_priv *p = w->p;
	if (encoder_init(&p->e, m, T, B) < 0) goto fail;
	const gu_hparams *hp = &m->hp;
	int n_out = gu_lm_n_out(hp);
	p->bases = hp->lm_output == GU_LM_BASES;
	if (p->bases) {
		if (!m->vocab || m->vocab->stride != hp->stride || m->vocab->size != hp->vocab_size) {
			gu_err(GU_EARG, "the bases output needs the model's vocabulary");
			goto fail;
		}
		if (tensor_off(m, "decoder.weight", n_out, hp->emb, &p->off_dec_w, &p->g_dec_w, 0) < 0)
			goto fail;
	} else {
		p->off_dec_w = p->e.off_enc, p->g_dec_w = p->e.g_enc; /* tied */
	}
	if (tensor_off(m, "decoder.bias", n_out, 0, &p->off_dec_b, &p->g_dec_b, 0) < 0) goto fail;
	float dm = hp->drop_mult;
	w->p_output = hp->output_p * dm, w->p_hidden = hp->hidden_p * dm;
	w->p_input = hp->input_p * dm, w->p_embed = hp->embed_p * dm, w->p_weight = hp->weight_p * dm;
	w->alpha = hp->alpha, w->beta = hp->beta;
	w->m = m, w->T = T, w->B = B, w->V = p->e.V, w->E = p->e.E, w->L = p->e.L, w->n_out = n_out;
	w->B_all = B, w->row0 = 0;
	for (int l = 0; l < w->L; l++) {
		w->in[l] = p->e.in[l], w->n[l] = p->e.n[l];
		if (!(w->h[l] = falloc((size_t)B * w->n[l])) || !(w->c[l] = falloc((size_t)B * w->n[l])))
			goto fail;
	}
	size_t TB = (size_t)T * B;
	if (!(p->ch = chunk_new(&p->e, T, 0))) goto fail;
	if (!(w->logits = falloc(TB * n_out)) || !(w->out = falloc(TB * w->E)) ||
	    (p->bases && !(w->target = gu_calloc(TB, sizeof *w->target))) ||
	    !(p->out_mask = falloc((size_t)B * w->E)) || !(p->dec_in = falloc(TB * w->E)) ||
	    !(p->d_out = falloc(TB * w->E)))
		goto fail;
	return w;
fail:
	gu_lm_free(w);
	return NULL;
}

void gu_lm_reset_state(gu_lm *w)
{
	for (int l = 0; l < w->L; l++) {
		memset(w->h[l], 0, (size_t)w->B * w->n[l] * sizeof(float));
		memset(w->c[l], 0, (size_t)w->B * w->n[l] * sizeof(float));
	}
}

int gu_lm_step(gu_lm *w, float *grad, const int32_t *x, const int32_t *y, int train, gu_rng *rng,
	       gu_loss *out)
{
	gu_lm_priv *p = w->p;
	encoder *e = &p->e;
	int T = w->T, B = w->B, V = w->V, E = w->E, M = T * B, C = w->n_out;
	int rc;
	if (out) memset(out, 0, sizeof *out);
	if (!train && grad) return gu_err(GU_EARG, "gu_lm_step: a gradient needs train mode");
	if (train && !rng) return gu_err(GU_EARG, "gu_lm_step: train mode needs an rng");
	if ((rc = check_ids(x, (size_t)M, V, "input")) < 0) return rc;
	if ((rc = check_ids(y, (size_t)M, V, "target")) < 0) return rc;
	if (w->B_all < B || w->row0 < 0 || w->row0 > w->B_all - B)
		return gu_err(GU_EARG, "gu_lm_step: rows [%d, %d) are not a share of a batch of %d", w->row0,
			      w->row0 + B, w->B_all);
	e->B_all = w->B_all, e->row0 = w->row0;

	/* encoder */
	drops d = {w->p_embed, w->p_input, w->p_hidden, w->p_weight};
	if ((rc = chunk_forward(e, p->ch, w->out, w->h, w->c, x, NULL, T, B, train ? &d : NULL, rng)) < 0)
		return rc;

	/* the decoder (tied, or the bases output's own) on the output-dropped last layer */
	const float *P = w->m->params;
	const float *dec_w = P + p->off_dec_w;
	const int32_t *tgt = y;
	if (p->bases) {
		gu_lm_bases_targets(w->target, x, y, (size_t)M, w->m->vocab);
		tgt = w->target;
	}
	const float *dec_in = w->out;
	int out_drop = train && w->p_output > 0;
	if (out_drop) {
		if ((rc = row_mask(e, p->out_mask, B, E, w->p_output, rng)) < 0) return rc;
		locked_copy(p->dec_in, w->out, p->out_mask, T, B, E);
		dec_in = p->dec_in;
	}
	gu_linear_forward(w->logits, dec_in, dec_w, P + p->off_dec_b, M, E, C);
	int64_t n = 0, correct = 0;
	/* the mean over the whole batch's T*B_all tokens (ignored ones add 0: see gulm.h) */
	double ce_sum = gu_softmax_xent(train && grad ? w->logits : NULL, w->logits, tgt, M, C, -1,
					1.0f / (float)(T * w->B_all), &n, &correct);
	double artar = 0;
	if (train && grad) memset(p->d_out, 0, (size_t)M * E * sizeof(float));
	if (train)
		artar = gu_ar_tar_share(grad ? p->d_out : NULL, w->out, T, B, w->B_all, E, w->alpha,
					w->beta);
	double ce = n > 0 ? ce_sum / (double)n : 0;
	if (out) {
		out->ce_sum = ce_sum, out->n = n, out->correct = correct;
		out->ce = ce, out->ar_tar = artar, out->loss = ce + artar;
	}
	if (!isfinite(ce + artar)) return gu_err(GU_ENUM, "LM loss is not finite");
	if (!train || !grad) return GU_OK;

	/* backward: decoder, then the encoder from d_out */
	int need_dw = !(w->frozen >> p->g_dec_w & 1), need_db = !(w->frozen >> p->g_dec_b & 1);
	int enc = trains_below(e, w->L - 1, w->frozen);
	float *d_dec = e->dA; /* (M,E) gradient w.r.t. dec_in */
	gu_linear_backward(enc ? d_dec : NULL, need_dw ? grad + p->off_dec_w : NULL,
			   need_db ? grad + p->off_dec_b : NULL, w->logits, dec_in, dec_w, M, E, C);
	if (!enc) return GU_OK;
	if (out_drop) gu_locked_dropout(d_dec, p->out_mask, T, B, E);
	add_mul(p->d_out, d_dec, NULL, (size_t)M * E);
	return chunk_backward(e, p->ch, p->d_out, w->out, x, NULL, T, B, grad, w->frozen);
}

/* ---- classifier ------------------------------------------------------------------------- */

struct gu_cls_priv {
	encoder e;
	chunk *scratch;          /* chunk for runs that keep no caches (owns its top output) */
	chunk **kept;            /* (n_kept) caches of the pooled chunks, train with gradient */
	int n_kept;
	float *h[GU_MAX_LAYERS]; /* (B_max,n_l) running state */
	float *c[GU_MAX_LAYERS]; /* (B_max,n_l) */
	uint8_t *valid;          /* (S_cap,B_max) 1 = real token, 0 = pad */
	int S_cap;
	float *O;                /* (L_cap,B_max,E) last-layer outputs of the kept chunks, in order */
	float *dO;               /* (L_cap,B_max,E) gradient w.r.t. O */
	int L_cap;
	int g_head;              /* head layer group (always trains) */
	size_t bn0_w, bn0_b, lin0_w, lin0_b, bn1_w, bn1_b, lin1_w, lin1_b; /* params offsets */
	size_t bn0_rm, bn0_rv, bn1_rm, bn1_rv;                             /* buffers offsets */
	int32_t *argmax;         /* (B_max,E) pooling caches */
	int32_t *last;           /* (B_max) */
	float *x0hat, *rstd0;    /* (B_max,3E), (3E) BN0 caches */
	float *mask0;            /* (B_max,3E) dropout after BN0 */
	float *z0;               /* (B_max,3E) input of lin0: dropout(BN0(feat)) */
	float *r;                /* (B_max,n_lin) ReLU(lin0) */
	float *x1hat, *rstd1;    /* (B_max,n_lin), (n_lin) BN1 caches */
	float *mask1;            /* (B_max,n_lin) dropout after BN1 */
	float *z1;               /* (B_max,n_lin) input of lin1: dropout(BN1(r)) */
	float *dlogits;          /* (B_max,C) */
	float *dz1, *dr;         /* (B_max,n_lin) each */
	float *dz0, *dfeat;      /* (B_max,3E) each */
	/* eval (inference) path, allocated by the first eval call: gu_lstm_infer_step over
	 * weights packed once per call, two output buffers per layer (the step's and the previous
	 * one), the cell state in c; pooled on the fly */
	int infer;               /* 0: not set up yet, 1: packed kernel, -1: gu_lstm_forward_ws */
	float *ipack;            /* packed layers, layer l at ipk_off[l] */
	size_t ipk_off[GU_MAX_LAYERS];
	float *ih[GU_MAX_LAYERS][2]; /* (B_max,n_l) each */
	float *iscr;             /* gu_lstm_infer_scratch_floats(B_max) */
	/* the last gu_cls_share_forward, for gu_cls_share_backward */
	int share_k0, share_nc;
	const int32_t *share_ids;
};

void gu_cls_free(gu_cls *w)
{
	if (!w) return;
	gu_cls_priv *p = w->p;
	if (p) {
		encoder_free(&p->e);
		chunk_free(p->scratch);
		for (int i = 0; i < p->n_kept; i++) chunk_free(p->kept[i]);
		free(p->kept);
		for (int l = 0; l < GU_MAX_LAYERS; l++) free(p->h[l]), free(p->c[l]);
		free(p->valid), free(p->O), free(p->dO);
		free(p->argmax), free(p->last), free(p->x0hat), free(p->rstd0), free(p->mask0);
		free(p->z0), free(p->r), free(p->x1hat), free(p->rstd1), free(p->mask1), free(p->z1);
		free(p->dlogits), free(p->dz1), free(p->dr), free(p->dz0), free(p->dfeat);
		free(p->ipack), free(p->iscr);
		for (int l = 0; l < GU_MAX_LAYERS; l++) free(p->ih[l][0]), free(p->ih[l][1]);
		free(p);
	}
	free(w->feat), free(w->logits);
	free(w);
}

/* enc_rows: rows the encoder's buffers hold (B_max, or 1 for a head-only workspace) */
static gu_cls *cls_new(gu_model *m, int B_max, int enc_rows)
{
	if (!m || m->hp.kind != GU_MODEL_CLS) {
		gu_err(GU_EARG, "not a classifier");
		return NULL;
	}
	const gu_hparams *hp = &m->hp;
	if (hp->bptt < 1 || hp->n_lin < 1 || hp->n_classes < 1 || B_max < 1) {
		gu_err(GU_EARG, "bad classifier shape (bptt %d, n_lin %d, %d classes, batch %d)",
		       hp->bptt, hp->n_lin, hp->n_classes, B_max);
		return NULL;
	}
	gu_cls *w = gu_calloc(1, sizeof *w);
	if (!w) return NULL;
	gu_cls_priv *p = w->p = gu_calloc(1, sizeof *w->p);
	if (!p || encoder_init(&p->e, m, hp->bptt, enc_rows) < 0) goto fail;
	int E = hp->emb, F = 3 * E, NL = hp->n_lin, C = hp->n_classes, B = B_max;
	if (tensor_off(m, "head.bn0.weight", F, 0, &p->bn0_w, &p->g_head, 0) < 0 ||
	    tensor_off(m, "head.bn0.bias", F, 0, &p->bn0_b, NULL, 0) < 0 ||
	    tensor_off(m, "head.lin0.weight", NL, F, &p->lin0_w, NULL, 0) < 0 ||
	    tensor_off(m, "head.lin0.bias", NL, 0, &p->lin0_b, NULL, 0) < 0 ||
	    tensor_off(m, "head.bn1.weight", NL, 0, &p->bn1_w, NULL, 0) < 0 ||
	    tensor_off(m, "head.bn1.bias", NL, 0, &p->bn1_b, NULL, 0) < 0 ||
	    tensor_off(m, "head.lin1.weight", C, NL, &p->lin1_w, NULL, 0) < 0 ||
	    tensor_off(m, "head.lin1.bias", C, 0, &p->lin1_b, NULL, 0) < 0 ||
	    tensor_off(m, "head.bn0.running_mean", F, 0, &p->bn0_rm, NULL, 1) < 0 ||
	    tensor_off(m, "head.bn0.running_var", F, 0, &p->bn0_rv, NULL, 1) < 0 ||
	    tensor_off(m, "head.bn1.running_mean", NL, 0, &p->bn1_rm, NULL, 1) < 0 ||
	    tensor_off(m, "head.bn1.running_var", NL, 0, &p->bn1_rv, NULL, 1) < 0)
		goto fail;
	if (!m->buffers) {
		gu_err(GU_EARG, "classifier without BatchNorm buffers");
		goto fail;
	}
	float dm = hp->drop_mult;
	w->p_output = hp->output_p * dm, w->p_head = 0.1f;
	w->p_hidden = hp->hidden_p * dm, w->p_input = hp->input_p * dm;
	w->p_embed = hp->embed_p * dm, w->p_weight = hp->weight_p * dm;
	w->alpha = hp->alpha, w->beta = hp->beta;
	w->bn_momentum = 0.1f, w->bn_eps = 1e-5f;
	w->m = m, w->B_max = B, w->V = hp->vocab_size, w->E = E, w->L = hp->n_layers;
	w->bptt = hp->bptt, w->max_len = hp->max_len, w->n_lin = NL, w->C = C;
	for (int l = 0; l < w->L; l++)
		if (!(p->h[l] = falloc((size_t)enc_rows * p->e.n[l])) || !(p->c[l] = falloc((size_t)enc_rows * p->e.n[l])))
			goto fail;
	if (!(p->scratch = chunk_new(&p->e, hp->bptt, 1))) goto fail;
	size_t BF = (size_t)B * F, BN = (size_t)B * NL;
	if (!(w->feat = falloc(BF)) || !(w->logits = falloc((size_t)B * C)) ||
	    !(p->argmax = gu_calloc((size_t)B * E, sizeof(int32_t))) ||
	    !(p->last = gu_calloc((size_t)B, sizeof(int32_t))) || !(p->x0hat = falloc(BF)) ||
	    !(p->rstd0 = falloc(F)) || !(p->mask0 = falloc(BF)) || !(p->z0 = falloc(BF)) ||
	    !(p->r = falloc(BN)) || !(p->x1hat = falloc(BN)) || !(p->rstd1 = falloc(NL)) ||
	    !(p->mask1 = falloc(BN)) || !(p->z1 = falloc(BN)) ||
	    !(p->dlogits = falloc((size_t)B * C)) || !(p->dz1 = falloc(BN)) ||
	    !(p->dr = falloc(BN)) || !(p->dz0 = falloc(BF)) || !(p->dfeat = falloc(BF)))
		goto fail;
	return w;
fail:
	gu_cls_free(w);
	return NULL;
}

gu_cls *gu_cls_new(gu_model *m, int B_max) { return cls_new(m, B_max, B_max); }

gu_cls *gu_cls_new_head(gu_model *m, int B_max) { return cls_new(m, B_max, 1); }

/* Grows the per-call buffers to S padded steps, Lk kept steps and nk kept-chunk caches. */
static int cls_reserve(gu_cls *w, int S, int Lk, int nk)
{
	gu_cls_priv *p = w->p;
	size_t B = (size_t)w->B_max;
	if (S > p->S_cap) {
		uint8_t *v = gu_realloc(p->valid, (size_t)S * B);
		if (!v) return GU_ENOMEM;
		p->valid = v, p->S_cap = S;
	}
	if (Lk > p->L_cap) {
		size_t n = (size_t)Lk * B * w->E * sizeof(float);
		float *o = gu_realloc(p->O, n);
		if (!o) return GU_ENOMEM;
		p->O = o;
		float *d = gu_realloc(p->dO, n);
		if (!d) return GU_ENOMEM;
		p->dO = d, p->L_cap = Lk;
	}
	if (nk > p->n_kept) {
		chunk **k = gu_realloc(p->kept, (size_t)nk * sizeof *k);
		if (!k) return GU_ENOMEM;
		p->kept = k;
		while (p->n_kept < nk) {
			if (!(p->kept[p->n_kept] = chunk_new(&p->e, w->bptt, 0))) return GU_ENOMEM;
			p->n_kept++;
		}
	}
	return GU_OK;
}

/* Sets up the eval path on first use: the packed kernel when this CPU has it for every layer. */
static int cls_infer_setup(gu_cls *w)
{
	gu_cls_priv *p = w->p;
	if (p->infer) return GU_OK;
	const encoder *e = &p->e;
	size_t tot = 0;
	for (int l = 0; l < w->L; l++) {
		size_t k = gu_lstm_infer_pack_floats(e->in[l], e->n[l]);
		if (!k) {
			p->infer = -1;
			return GU_OK;
		}
		p->ipk_off[l] = tot, tot += k;
	}
	size_t B = (size_t)w->B_max;
	if (!(p->ipack = gu_malloc(tot * sizeof(float))) ||
	    !(p->iscr = gu_malloc(gu_lstm_infer_scratch_floats(w->B_max) * sizeof(float))))
		return GU_ENOMEM;
	for (int l = 0; l < w->L; l++)
		for (int k = 0; k < 2; k++)
			if (!(p->ih[l][k] = falloc(B * e->n[l]))) return GU_ENOMEM;
	p->infer = 1;
	return GU_OK;
}

/* Running concat pooling for the eval path: while the steps come, feat (B,3E) holds [last,
 * max, sum] of the valid steps and cnt (B) their number; pool_end turns the sum into the mean.
 * The same operations in the same order as gu_concat_pool_forward, so the same results. */
static void pool_begin(float *feat, int32_t *cnt, int B, int E)
{
	memset(feat, 0, (size_t)B * 3 * E * sizeof(float));
	memset(cnt, 0, (size_t)B * sizeof(int32_t));
}

/* Adds T steps of o (T,B,E) with valid (T,B). */
static void pool_step(float *feat, int32_t *cnt, const float *o, const uint8_t *valid, int T,
		      int B, int E)
{
	for (int t = 0; t < T; t++)
		for (int b = 0; b < B; b++) {
			if (!valid[(size_t)t * B + b]) continue;
			const float *restrict ot = o + ((size_t)t * B + b) * E;
			float *restrict fl = feat + (size_t)b * 3 * E, *restrict mx = fl + E,
					*restrict sm = mx + E;
			memcpy(fl, ot, (size_t)E * sizeof(float));
			if (cnt[b]++ == 0)
				memcpy(mx, ot, (size_t)E * sizeof(float));
			else
				for (int c = 0; c < E; c++) mx[c] = ot[c] > mx[c] ? ot[c] : mx[c];
			for (int c = 0; c < E; c++) sm[c] += ot[c];
		}
}

static void pool_end(float *feat, const int32_t *cnt, int B, int E)
{
	for (int b = 0; b < B; b++) {
		if (cnt[b] == 0) continue; /* no valid step: zeros */
		float *sm = feat + (size_t)b * 3 * E + 2 * E;
		const float inv = 1.0f / (float)cnt[b];
		for (int c = 0; c < E; c++) sm[c] *= inv;
	}
}

/* Eval encoder and pooling into w->feat: no dropout, no caches, no mask work. Without state
 * carried across calls and without gradient, the chunking only decides which steps are pooled
 * (from t_pool on); the packed path runs the layers step by step over the whole sequence. */
static int cls_eval_encoder(gu_cls *w, const int32_t *ids, int S, int B, int k0)
{
	gu_cls_priv *p = w->p;
	encoder *e = &p->e;
	int E = w->E, L = w->L, bptt = w->bptt, t_pool = k0 * bptt, rc;
	int32_t *cnt = p->last;
	if ((rc = cls_infer_setup(w)) < 0) return rc;
	pool_begin(w->feat, cnt, B, E);
	const float *P = w->m->params;
	if (p->infer > 0) {
		for (int l = 0; l < L; l++) {
			gu_lstm_w lw;
			lstm_weights(e, l, P + e->off_whh[l], &lw);
			gu_lstm_infer_pack(p->ipack + p->ipk_off[l], &lw);
			memset(p->c[l], 0, (size_t)B * e->n[l] * sizeof(float));
		}
		for (int t = 0; t < S; t++) {
			const uint8_t *vt = p->valid + (size_t)t * B;
			const float *x = P + e->off_enc;
			for (int l = 0; l < L; l++) {
				float *h = p->ih[l][t & 1];
				const float *hprev = t ? p->ih[l][(t - 1) & 1] : NULL;
				gu_lstm_infer_step(h, p->c[l], p->ipack + p->ipk_off[l], e->in[l], e->n[l],
						   x, e->in[l], l ? NULL : ids + (size_t)t * B, hprev, vt, B,
						   p->iscr);
				x = h;
			}
			if (t >= t_pool) pool_step(w->feat, cnt, x, vt, 1, B, E);
		}
	} else {
		for (int l = 0; l < L; l++) {
			memset(p->h[l], 0, (size_t)B * e->n[l] * sizeof(float));
			memset(p->c[l], 0, (size_t)B * e->n[l] * sizeof(float));
		}
		int nc = (S + bptt - 1) / bptt;
		for (int c = 0; c < nc; c++) {
			int i = c * bptt, Tc = S - i < bptt ? S - i : bptt;
			const uint8_t *vc = p->valid + (size_t)i * B;
			chunk_forward(e, p->scratch, NULL, p->h, p->c, ids + (size_t)i * B, vc, Tc, B, NULL,
				      NULL);
			if (c >= k0) pool_step(w->feat, cnt, p->scratch->y[L - 1], vc, Tc, B, E);
		}
	}
	pool_end(w->feat, cnt, B, E);
	return GU_OK;
}

/* Row-wise softmax of z (B,C) into probs. */
static void softmax_rows(float *probs, const float *z, int B, int C)
{
	for (int b = 0; b < B; b++) {
		const float *zb = z + (size_t)b * C;
		float *pb = probs + (size_t)b * C;
		float mx = zb[0];
		for (int c = 1; c < C; c++) mx = zb[c] > mx ? zb[c] : mx;
		double s = 0;
		for (int c = 0; c < C; c++) s += exp((double)zb[c] - mx);
		for (int c = 0; c < C; c++) pb[c] = (float)(exp((double)zb[c] - mx) / s);
	}
}

/* The checks and set-up shared by gu_cls_step and gu_cls_pool: ids (S,B) in range, the first
 * pooled chunk *k0 of *nc, the buffers for a call of this shape, the pad mask. */
static int cls_begin(gu_cls *w, const char *fn, const int32_t *ids, int S, int B, int train,
		     int cache, int *k0_out, int *nc_out)
{
	gu_cls_priv *p = w->p;
	int bptt = w->bptt, rc;
	if (B < 1 || B > w->B_max || S < 1)
		return gu_err(GU_EARG, "%s: batch %dx%d outside 1..%d rows", fn, S, B, w->B_max);
	if (B > p->e.B) return gu_err(GU_EARG, "%s: a head-only workspace (gu_cls_new_head)", fn);
	if ((rc = check_ids(ids, (size_t)S * B, w->V, "input")) < 0) return rc;
	/* chunks: c covers [c*bptt, min(S, (c+1)*bptt)); kept when c*bptt > S - max_len */
	int nc = (S + bptt - 1) / bptt, k0 = 0;
	if (w->max_len > 0 && S - w->max_len >= 0) k0 = (S - w->max_len) / bptt + 1;
	if (k0 >= nc)
		return gu_err(GU_EARG, "%s: max_len %d keeps no chunk of %d steps", fn, w->max_len, S);
	int Lk = S - k0 * bptt;
	if ((rc = cls_reserve(w, S, train ? Lk : 0, cache ? nc - k0 : 0)) < 0) return rc;
	w->S = S, w->B = B, w->L_kept = Lk;
	for (size_t i = 0; i < (size_t)S * B; i++) p->valid[i] = ids[i] != GU_PAD;
	*k0_out = k0, *nc_out = nc;
	return GU_OK;
}

int gu_cls_pool(gu_cls *w, const int32_t *ids, int S, int B)
{
	int k0, nc, rc;
	if ((rc = cls_begin(w, "gu_cls_pool", ids, S, B, 0, 0, &k0, &nc)) < 0) return rc;
	return cls_eval_encoder(w, ids, S, B, k0);
}

int gu_cls_bn_recompute(gu_cls *w, const float *feat, int64_t N)
{
	gu_cls_priv *p = w->p;
	int F = 3 * w->E, NL = w->n_lin, Bm = w->B_max;
	if (N < 2) return gu_err(GU_EARG, "gu_cls_bn_recompute: %lld records, at least 2 needed", (long long)N);
	float *r = gu_malloc((size_t)N * NL * sizeof(float));
	if (!r) return GU_ENOMEM;
	const float *P = w->m->params;
	float *Bf = w->m->buffers;
	/* exact mean and unbiased variance per channel of x (N,C), in double, two passes */
	float *x_rm[2] = {Bf + p->bn0_rm, Bf + p->bn1_rm}, *x_rv[2] = {Bf + p->bn0_rv, Bf + p->bn1_rv};
	for (int layer = 0; layer < 2; layer++) {
		const float *x = layer ? r : feat;
		int C = layer ? NL : F;
		for (int c = 0; c < C; c++) {
			double s = 0, ss = 0;
			for (int64_t i = 0; i < N; i++) s += x[(size_t)i * C + c];
			double mean = s / (double)N;
			for (int64_t i = 0; i < N; i++) {
				double d = x[(size_t)i * C + c] - mean;
				ss += d * d;
			}
			x_rm[layer][c] = (float)mean, x_rv[layer][c] = (float)(ss / (double)(N - 1));
		}
		if (layer) break;
		/* BN1's input under the new BN0 statistics, eval mode: ReLU(Linear(BN0(feat))) */
		for (int64_t i0 = 0; i0 < N; i0 += Bm) {
			int nb = (int)(N - i0 < Bm ? N - i0 : Bm);
			gu_batchnorm_forward(p->z0, NULL, NULL, feat + (size_t)i0 * F, P + p->bn0_w,
					     P + p->bn0_b, Bf + p->bn0_rm, Bf + p->bn0_rv, nb, F, 0,
					     w->bn_momentum, w->bn_eps);
			gu_linear_forward(r + (size_t)i0 * NL, p->z0, P + p->lin0_w, P + p->lin0_b, nb, F, NL);
			gu_relu_forward(r + (size_t)i0 * NL, (size_t)nb * NL);
		}
	}
	free(r);
	return GU_OK;
}

/* Train-mode encoder over chunks [0, nc) of ids (S,B) from a zero state, chunks from k0 on
 * kept (their caches too when cache), then concat pooling of the kept outputs into w->feat.
 * The encoder's B_all and row0 say which rows of a whole batch these are (dropout masks). */
static int cls_train_encoder(gu_cls *w, const int32_t *ids, int S, int B, int cache, int k0, int nc, gu_rng *rng)
{
	gu_cls_priv *p = w->p;
	encoder *e = &p->e;
	int E = w->E, L = w->L, bptt = w->bptt, rc = GU_OK;
	for (int l = 0; l < L; l++) {
		memset(p->h[l], 0, (size_t)B * e->n[l] * sizeof(float));
		memset(p->c[l], 0, (size_t)B * e->n[l] * sizeof(float));
	}
	drops d = {w->p_embed, w->p_input, w->p_hidden, w->p_weight};
	for (int c = 0; c < nc && rc == GU_OK; c++) {
		int i = c * bptt, Tc = S - i < bptt ? S - i : bptt;
		chunk *ch = cache && c >= k0 ? p->kept[c - k0] : p->scratch;
		float *ytop = c >= k0 ? p->O + (size_t)(i - k0 * bptt) * B * E : NULL;
		rc = chunk_forward(e, ch, ytop, p->h, p->c, ids + (size_t)i * B, p->valid + (size_t)i * B, Tc, B, &d, rng);
	}
	if (rc < 0) return rc;
	gu_concat_pool_forward(w->feat, p->argmax, p->last, p->O, p->valid + (size_t)k0 * bptt * B, w->L_kept, B, E);
	return GU_OK;
}

/* Backward of cls_train_encoder (with cache) from dfeat: pooling, then each kept chunk on its
 * own (no gradient crosses a chunk boundary); p->dO holds the AR/TAR gradient already. */
static int cls_encoder_backward(gu_cls *w, float *grad, const float *dfeat, const int32_t *ids, int S, int B, int k0, int nc,
				uint32_t frozen)
{
	gu_cls_priv *p = w->p;
	int E = w->E, bptt = w->bptt, rc;
	gu_concat_pool_backward(p->dO, dfeat, p->argmax, p->last, p->valid + (size_t)k0 * bptt * B, w->L_kept, B, E);
	for (int c = k0; c < nc; c++) {
		int i = c * bptt, Tc = S - i < bptt ? S - i : bptt;
		size_t o = (size_t)(i - k0 * bptt) * B * E;
		rc = chunk_backward(&p->e, p->kept[c - k0], p->dO + o, p->O + o, ids + (size_t)i * B, p->valid + (size_t)i * B, Tc, B,
				    grad, frozen);
		if (rc < 0) return rc;
	}
	return GU_OK;
}

/* The head on feat (B,3E) into w->logits: BN(3E) -> drop -> Linear -> ReLU -> BN(n_lin) -> drop
 * -> Linear. Train mode draws its dropout masks from rng and updates the BN statistics. */
static void cls_head_forward(gu_cls *w, const float *feat, int B, int train, gu_rng *rng)
{
	gu_cls_priv *p = w->p;
	int F = 3 * w->E, NL = w->n_lin, C = w->C;
	const float *P = w->m->params;
	float *Bf = w->m->buffers;
	gu_batchnorm_forward(p->z0, p->x0hat, p->rstd0, feat, P + p->bn0_w, P + p->bn0_b, Bf + p->bn0_rm, Bf + p->bn0_rv, B, F,
			     train, w->bn_momentum, w->bn_eps);
	if (train && w->p_output > 0) {
		gu_dropout_mask(p->mask0, (size_t)B * F, w->p_output, rng);
		gu_mul(p->z0, p->z0, p->mask0, (size_t)B * F);
	}
	gu_linear_forward(p->r, p->z0, P + p->lin0_w, P + p->lin0_b, B, F, NL);
	gu_relu_forward(p->r, (size_t)B * NL);
	gu_batchnorm_forward(p->z1, p->x1hat, p->rstd1, p->r, P + p->bn1_w, P + p->bn1_b, Bf + p->bn1_rm, Bf + p->bn1_rv, B, NL,
			     train, w->bn_momentum, w->bn_eps);
	if (train && w->p_head > 0) {
		gu_dropout_mask(p->mask1, (size_t)B * NL, w->p_head, rng);
		gu_mul(p->z1, p->z1, p->mask1, (size_t)B * NL);
	}
	gu_linear_forward(w->logits, p->z1, P + p->lin1_w, P + p->lin1_b, B, NL, C);
}

/* Backward of a train-mode cls_head_forward from p->dlogits into grad's head tensors, and into
 * dfeat (B,3E) unless NULL. */
static void cls_head_backward(gu_cls *w, float *G, float *dfeat, int B)
{
	gu_cls_priv *p = w->p;
	int F = 3 * w->E, NL = w->n_lin, C = w->C;
	const float *P = w->m->params;
	gu_linear_backward(p->dz1, G + p->lin1_w, G + p->lin1_b, p->dlogits, p->z1, P + p->lin1_w, B, NL, C);
	if (w->p_head > 0) gu_mul(p->dz1, p->dz1, p->mask1, (size_t)B * NL);
	gu_batchnorm_backward(p->dr, G + p->bn1_w, G + p->bn1_b, p->dz1, p->x1hat, P + p->bn1_w, p->rstd1, B, NL);
	gu_relu_backward(p->dr, p->r, (size_t)B * NL);
	gu_linear_backward(p->dz0, G + p->lin0_w, G + p->lin0_b, p->dr, p->z0, P + p->lin0_w, B, F, NL);
	if (w->p_output > 0) gu_mul(p->dz0, p->dz0, p->mask0, (size_t)B * F);
	gu_batchnorm_backward(dfeat, G + p->bn0_w, G + p->bn0_b, p->dz0, p->x0hat, P + p->bn0_w, p->rstd0, B, F);
}

int gu_cls_step(gu_cls *w, float *grad, float *probs, const int32_t *ids, const int32_t *labels,
		int S, int B, int train, gu_rng *rng, gu_loss *out)
{
	gu_cls_priv *p = w->p;
	encoder *e = &p->e;
	int E = w->E, C = w->C, L = w->L, rc;
	if (out) memset(out, 0, sizeof *out);
	if (!train && grad) return gu_err(GU_EARG, "gu_cls_step: a gradient needs train mode");
	if (grad && !labels) return gu_err(GU_EARG, "gu_cls_step: a gradient needs labels");
	if (train && !rng) return gu_err(GU_EARG, "gu_cls_step: train mode needs an rng");
	int nc, k0, cache = train && grad;
	if ((rc = cls_begin(w, "gu_cls_step", ids, S, B, train, cache, &k0, &nc)) < 0) return rc;
	if (labels && (rc = check_ids(labels, (size_t)B, C, "label")) < 0) return rc;
	int Lk = w->L_kept;

	if (train) {
		if ((rc = cls_train_encoder(w, ids, S, B, cache, k0, nc, rng)) < 0) return rc;
	} else if ((rc = cls_eval_encoder(w, ids, S, B, k0)) < 0) {
		return rc;
	}
	cls_head_forward(w, w->feat, B, train, rng);
	if (probs) softmax_rows(probs, w->logits, B, C);

	/* loss */
	double ce_sum = 0, artar = 0;
	int64_t n = 0, correct = 0;
	if (labels)
		ce_sum = gu_softmax_xent(grad ? p->dlogits : NULL, w->logits, labels, B, C, -1,
					 1.0f / (float)B, &n, &correct);
	size_t nO = (size_t)Lk * B * E;
	if (grad) memset(p->dO, 0, nO * sizeof(float));
	if (train) artar = gu_ar_tar(grad ? p->dO : NULL, p->O, Lk, B, E, w->alpha, w->beta);
	double ce = n > 0 ? ce_sum / (double)n : 0;
	if (out) {
		out->ce_sum = ce_sum, out->n = n, out->correct = correct;
		out->ce = ce, out->ar_tar = artar, out->loss = ce + artar;
	}
	if (!isfinite(ce + artar)) return gu_err(GU_ENUM, "classifier loss is not finite");
	if (!grad) return GU_OK;

	/* backward through the head (always trained), then the encoder when a group of it trains */
	uint32_t frozen = w->frozen & ~(1u << p->g_head);
	int enc = trains_below(e, L - 1, frozen);
	cls_head_backward(w, grad, enc ? p->dfeat : NULL, B);
	if (!enc) return GU_OK;
	return cls_encoder_backward(w, grad, p->dfeat, ids, S, B, k0, nc, frozen);
}

/* ---- classifier in shares (data parallelism) ---------------------------------------------- */

int gu_cls_share_forward(gu_cls *w, const int32_t *ids, int S, int B, int B_all, int row0,
			 gu_rng *rng, int grad, double *ar_tar)
{
	gu_cls_priv *p = w->p;
	encoder *e = &p->e;
	int E = w->E, rc, nc, k0;
	if (!rng) return gu_err(GU_EARG, "gu_cls_share_forward: needs an rng");
	if (B_all < B || row0 < 0 || row0 > B_all - B)
		return gu_err(GU_EARG, "gu_cls_share_forward: rows [%d, %d) are not a share of a batch of %d", row0,
			      row0 + B, B_all);
	if ((rc = cls_begin(w, "gu_cls_share_forward", ids, S, B, 1, grad, &k0, &nc)) < 0) return rc;
	int Lk = w->L_kept;
	e->B_all = B_all, e->row0 = row0;
	rc = cls_train_encoder(w, ids, S, B, grad, k0, nc, rng);
	e->B_all = e->B, e->row0 = 0;
	if (rc < 0) return rc;
	size_t nO = (size_t)Lk * B * E;
	if (grad) memset(p->dO, 0, nO * sizeof(float));
	*ar_tar = gu_ar_tar_share(grad ? p->dO : NULL, p->O, Lk, B, B_all, E, w->alpha, w->beta);
	w->S = S, w->B = B;
	p->share_k0 = k0, p->share_nc = nc, p->share_ids = ids;
	return isfinite(*ar_tar) ? GU_OK : gu_err(GU_ENUM, "classifier loss is not finite");
}

int gu_cls_head_step(gu_cls *w, float *grad, float *dfeat, const float *feat,
		     const int32_t *labels, int B, gu_rng *rng, gu_loss *out)
{
	gu_cls_priv *p = w->p;
	int C = w->C;
	if (out) memset(out, 0, sizeof *out);
	if (B < 1 || B > w->B_max || !labels || !rng)
		return gu_err(GU_EARG, "gu_cls_head_step: %d rows outside 1..%d, or no labels or rng", B, w->B_max);
	int rc;
	if ((rc = check_ids(labels, (size_t)B, C, "label")) < 0) return rc;
	cls_head_forward(w, feat, B, 1, rng);
	int64_t n = 0, correct = 0;
	double ce_sum = gu_softmax_xent(p->dlogits, w->logits, labels, B, C, -1, 1.0f / (float)B, &n, &correct);
	double ce = n > 0 ? ce_sum / (double)n : 0;
	if (out) out->ce_sum = ce_sum, out->n = n, out->correct = correct, out->ce = out->loss = ce;
	if (!isfinite(ce)) return gu_err(GU_ENUM, "classifier loss is not finite");
	cls_head_backward(w, grad, dfeat, B);
	return GU_OK;
}

int gu_cls_share_backward(gu_cls *w, float *grad, const float *dfeat)
{
	gu_cls_priv *p = w->p;
	uint32_t frozen = w->frozen & ~(1u << p->g_head);
	if (!trains_below(&p->e, w->L - 1, frozen)) return GU_OK;
	return cls_encoder_backward(w, grad, dfeat, p->share_ids, w->S, w->B, p->share_k0, p->share_nc, frozen);
}
