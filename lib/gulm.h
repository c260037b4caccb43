/* gulm.h: the one public header of libgulm, the library behind the Genomic ULMFiT filters.
 *
 * Conventions
 *  - Every public symbol starts with gu_ (types gu_*, macros GU_*).
 *  - The library never exits and never prints. Functions that can fail return an int:
 *    >= 0 success, < 0 one of the GU_E* codes below, and leave a one-line description in
 *    gu_errmsg() (thread-local). Filters turn that into "prog: message" and an exit code.
 *  - Functions returning a pointer return NULL on failure, with gu_errmsg() set.
 *  - Dimension legend for the numerical core:
 *      T  time steps in a chunk (bptt, 70)      B  batch rows
 *      V  vocabulary size                       E  embedding width (400)
 *      H  LSTM hidden width (1150)              n  output width of one LSTM layer (H or E)
 *      In input width of one LSTM layer         C  channels / classes
 *    Activations inside the encoder are TIME-MAJOR: (T, B, width), row (t, b) at (t*B + b)*width.
 *    Token batches handed in by callers are time-major too: ids[t*B + b].
 *    Weights follow PyTorch shapes exactly (W_ih (4n, In), gate blocks i|f|g|o), so tensors map
 *    one to one onto a PyTorch state dict.
 *  - Backward functions ACCUMULATE (+=) into parameter gradients; input gradients are
 *    overwritten unless the comment says otherwise.
 */
#ifndef GULM_H
#define GULM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GU_VERSION "0.1.0"

/* ---- errors (util.c) ------------------------------------------------------------------ */

enum {
	GU_OK = 0,
	GU_EOF = -1,     /* clean end of input (readers only) */
	GU_EIO = -2,     /* system I/O error (errno text in the message) */
	GU_EFORMAT = -3, /* malformed, truncated or corrupted input */
	GU_ENOMEM = -4,  /* allocation failed */
	GU_EARG = -5,    /* invalid argument or incompatible inputs */
	GU_ENUM = -6     /* NaN or inf met in numbers */
};

/* The message of the last failure in this thread ("" when none). */
const char *gu_errmsg(void);
/* Set the message (printf format); returns code so callers can `return gu_err(GU_EARG, ...)`. */
int gu_err(int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Checked allocation: NULL with gu_errmsg() set on failure (size 0 returns a valid pointer). */
void *gu_malloc(size_t n);
void *gu_calloc(size_t n, size_t size);
void *gu_realloc(void *p, size_t n);
char *gu_strdup(const char *s);

/* CRC-32 (zlib polynomial) of buf, continuing from crc (start with 0). */
uint32_t gu_crc32(uint32_t crc, const void *buf, size_t n);

/* Whether this CPU runs the library's AVX-512F kernels (checked once; 0 off x86-64). The
 * environment variable GULM_NO_AVX512 (set and not empty) turns them off, so that the AVX2 /
 * OpenBLAS paths can be tested on an AVX-512 machine; results then differ by float rounding. */
int gu_cpu_avx512(void);

/* ---- atomic output files (util.c) --------------------------------------------------------
 * Writes go to "PATH.tmp.PID"; gu_out_close renames it to PATH only when every write, the flush
 * and the close succeeded, else removes it. path "-" means stdout (no rename). */
typedef struct gu_out gu_out;
gu_out *gu_out_open(const char *path);
int gu_out_write(gu_out *o, const void *buf, size_t n);
/* Returns 0 or GU_EIO; always frees o. abort != 0 discards the output (temporary removed). */
int gu_out_close(gu_out *o, int abort);
const char *gu_out_path(const gu_out *o);

/* ---- k-mers (kmer.c) ----------------------------------------------------------------------
 * A k-mer code packs bases A=0 C=1 G=2 T=3, first base most significant. The unknown token of a
 * k has code gu_kmer_unknown(k) = 4^k. k is 1..GU_KMAX. */
#define GU_KMAX 15
static inline uint32_t gu_kmer_unknown(int k) { return (uint32_t)1 << (2 * k); }
/* Writes the k letters of code (or "xxunk") into buf (>= 16 bytes) and returns buf. */
char *gu_kmer_str(uint32_t code, int k, char *buf);
/* Parses k letters of ACGT (case-insensitive); returns the code or -1. */
int64_t gu_kmer_parse(const char *s, int k);
/* Tokenises seq[0..len) at offsets 0, s, 2s, ...: writes floor((len-k)/s)+1 codes (0 when
 * len < k) into out (size >= that) and returns the count. Case is folded; a k-mer holding any
 * letter other than ACGT becomes gu_kmer_unknown(k). */
size_t gu_kmer_tokenise(uint32_t *out, const char *seq, size_t len, int k, int stride);
/* Writes the reverse complement of src[0..len) into dst (len bytes, no NUL; must not overlap
 * src): ACGT in either case -> upper-case complement, every other byte -> 'N'. */
void gu_kmer_revcomp(char *dst, const char *src, size_t len);
static inline size_t gu_kmer_count(size_t len, int k, int stride)
{
	return len < (size_t)k ? 0 : (len - (size_t)k) / (size_t)stride + 1;
}

/* ---- token streams (tokstream.c, format in man/tokstream.5) ------------------------------ */

typedef struct gu_tokreader gu_tokreader;
typedef struct gu_tokwriter gu_tokwriter;

typedef struct {
	char *name;     /* record name (NUL-terminated), owned by the reader */
	int label;      /* index into the reader's label table, -1 when none */
	size_t n;       /* number of tokens */
	uint32_t *tok;  /* (n) k-mer codes, owned by the reader, valid until the next read */
} gu_record;

/* Opens a stream file or "-" (stdin); detects zstd or raw by magic and reads the header. */
gu_tokreader *gu_tok_open(const char *path);
/* Same on an open FILE (not closed by gu_tok_close); name is used in messages. */
gu_tokreader *gu_tok_open_file(FILE *fp, const char *name);
/* Reads the next record: 1 a record, 0 clean end (end marker seen, no more data),
 * < 0 an error (truncation, corruption, incompatible concatenation). */
int gu_tok_read(gu_tokreader *r, gu_record *rec);
int gu_tok_k(const gu_tokreader *r);
int gu_tok_stride(const gu_tokreader *r);
int gu_tok_n_labels(const gu_tokreader *r);
const char *gu_tok_label(const gu_tokreader *r, int id);
const char *gu_tok_path(const gu_tokreader *r);
void gu_tok_close(gu_tokreader *r);

/* Writer. path "-" is stdout; files are written atomically (see gu_out). level: zstd level,
 * 0 = raw (uncompressed) stream. threads: zstd worker threads (0 = none). */
gu_tokwriter *gu_tokw_open(const char *path, int k, int stride, int level, int threads);
/* Declares a label name (idempotent); returns its id or < 0. */
int gu_tokw_label(gu_tokwriter *w, const char *name);
/* Writes one record; label -1 for none. */
int gu_tokw_write(gu_tokwriter *w, const char *name, int label, const uint32_t *tok, size_t n);
/* Writes the end record and closes; abort != 0 discards the output. Always frees w. */
int gu_tokw_close(gu_tokwriter *w, int abort);

/* ---- vocabulary (vocab.c, format in man/kmervocab.1) -------------------------------------
 * ids: 0 xxpad, 1 xxunk, 2 xxbos, then k-mers. */
enum { GU_PAD = 0, GU_UNK = 1, GU_BOS = 2, GU_N_SPECIAL = 3 };

typedef struct {
	int k, stride;
	int32_t size;      /* number of ids, specials included */
	uint32_t *code;    /* (size) k-mer code of each id; specials hold gu_kmer_unknown(k) */
	uint64_t *count;   /* (size) counts as read from the file (0 when unknown) */
	/* lookup (private): code -> id */
	int32_t *dense;    /* (4^k + 1) when k <= 12, else NULL */
	uint32_t *hkeys;   /* open addressing for k > 12 */
	int32_t *hvals;
	size_t hcap;
} gu_vocab;

/* Builds a vocabulary from n counted k-mers (codes[i] seen counts[i] times; unk_count = unknown
 * tokens): k-mers with count >= min_count (and > 0) by descending count, ties by code, at most
 * max_size ids in all, specials included (0 = no limit). */
gu_vocab *gu_vocab_build(int k, int stride, const uint32_t *codes, const uint64_t *counts, size_t n,
			 uint64_t unk_count, int64_t max_size, uint64_t min_count);
/* Counts the k-mers of token streams (all with the same k and stride) and builds the vocabulary
 * as gu_vocab_build. progress (may be NULL) is called after every record; *n_records and
 * *n_tokens (may be NULL) receive the totals. */
gu_vocab *gu_vocab_count(char *const *paths, int n_paths, int64_t max_size, uint64_t min_count,
			 void (*progress)(uint64_t records, uint64_t tokens, void *arg), void *arg,
			 uint64_t *n_records, uint64_t *n_tokens);
gu_vocab *gu_vocab_read(const char *path);
int gu_vocab_write(const gu_vocab *v, const char *path);
/* Builds a vocabulary from explicit codes of ids 3.. (used by model readers). */
gu_vocab *gu_vocab_from_codes(int k, int stride, const uint32_t *codes, int32_t n_kmers);
/* id of a code: the k-mer's id, or GU_UNK when absent or unknown. */
int32_t gu_vocab_id(const gu_vocab *v, uint32_t code);
void gu_vocab_free(gu_vocab *v);

/* ---- random numbers (rng.c): xoshiro256**, seeded through splitmix64 ------------------------ */

typedef struct {
	uint64_t s[4];
} gu_rng;

void gu_rng_seed(gu_rng *r, uint64_t seed);
uint64_t gu_rng_next(gu_rng *r);
double gu_rng_uniform(gu_rng *r);            /* [0, 1) with 53 bits */
double gu_rng_normal(gu_rng *r);             /* N(0, 1) */
uint64_t gu_rng_below(gu_rng *r, uint64_t n); /* uniform in [0, n), unbiased */
void gu_rng_shuffle(gu_rng *r, uint32_t *a, size_t n);
/* Fills x[0..n) with U(lo, hi). */
void gu_rng_fill_uniform(gu_rng *r, float *x, size_t n, float lo, float hi);

/* ---- layers (layers.c) --------------------------------------------------------------------
 * Masks hold 0 or 1/(1-p) (keep probability 1-p), as PyTorch/fastai dropout. */

/* mask[0..n) for dropout probability p (p == 0: all ones). */
void gu_dropout_mask(float *mask, size_t n, float p, gu_rng *rng);

/* Embedding lookup with embedding dropout: out[t,b,:] = w[ids[t,b],:] * row_mask[ids[t,b]].
 * row_mask (V) or NULL for none. M = T*B rows. */
void gu_embedding_forward(float *out /* (M,E) */, const float *w /* (V,E) */,
			  const float *row_mask /* (V) */, const int32_t *ids /* (M) */, int M, int E);
/* dw[id,:] += dout[m,:] * row_mask[id], except for rows with id == skip_id (pass -1 for none). */
void gu_embedding_backward(float *dw /* (V,E) */, const float *dout /* (M,E) */,
			   const float *row_mask, const int32_t *ids, int M, int E, int skip_id);

/* Locked (variational) dropout: x[t,b,c] *= mask[b,c] in place, for every t. */
void gu_locked_dropout(float *x /* (T,B,C) */, const float *mask /* (B,C) */, int T, int B, int C);
/* The backward is the same operation on the gradient. */

/* Elementwise: y = x * mask (in place allowed); backward is the same. */
void gu_mul(float *y, const float *x, const float *mask, size_t n);

/* Linear: y (M,out) = x (M,in) W^T + b, W (out,in) as PyTorch; b may be NULL. */
void gu_linear_forward(float *y, const float *x, const float *w, const float *b, int M, int in,
		       int out);
/* dx (M,in) = dy W (NULL to skip, overwritten); dw += dy^T x; db += sum_m dy (NULL to skip). */
void gu_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			const float *w, int M, int in, int out);

/* ReLU in place; backward zeroes dy where y <= 0. */
void gu_relu_forward(float *x, size_t n);
void gu_relu_backward(float *dy, const float *y, size_t n);

/* Softmax cross-entropy over rows of logits (M,V) against targets (M); rows whose target is
 * ignore (e.g. -1) are skipped. Returns the SUM of -log p over counted rows; *n_counted and
 * *n_correct (argmax == target) if non-NULL. If dlogits is non-NULL it receives
 * (softmax - onehot) * dscale for counted rows, 0 for skipped rows (may alias logits). */
double gu_softmax_xent(float *dlogits, const float *logits, const int32_t *targets, int M, int V,
		       int32_t ignore, float dscale, int64_t *n_counted, int64_t *n_correct);

/* Activation regularisation on the last LSTM output h (T,B,C):
 *   alpha * mean(h^2) + beta * mean over t>=1 of (h[t]-h[t-1])^2
 * (means over every element; TAR skipped when B == 1, as the reference, or T < 2).
 * Adds the gradient into dh (same shape) and returns the value. */
double gu_ar_tar(float *dh, const float *h, int T, int B, int C, float alpha, float beta);
/* The same for B rows that are a share of a batch of B_all rows (data-parallel training):
 * means over the whole batch's elements (T*B_all*C, (T-1)*B_all*C), TAR skipped when
 * B_all == 1; returns this share's part of the value, so the shares' values add up to the
 * whole batch's. B_all == B is gu_ar_tar. */
double gu_ar_tar_share(float *dh, const float *h, int T, int B, int B_all, int C, float alpha,
		       float beta);

/* Concat pooling over the valid steps of o (T,B,C): out (B,3C) = [o at the last valid step,
 * max over valid steps, mean over valid steps]. valid (T,B) 0/1 (NULL = all valid). Left
 * padding is assumed but not required; a row without valid steps gives zeros. argmax (B,C)
 * and last (B) are caches for the backward. */
void gu_concat_pool_forward(float *out, int32_t *argmax, int32_t *last, const float *o,
			    const uint8_t *valid, int T, int B, int C);
/* do_ (T,B,C) += gradient from dout (B,3C). */
void gu_concat_pool_backward(float *do_, const float *dout, const int32_t *argmax,
			     const int32_t *last, const uint8_t *valid, int T, int B, int C);

/* BatchNorm1d over x (M,C). train: batch mean and biased variance, running stats updated with
 * momentum (PyTorch: running = (1-m)*running + m*batch, unbiased variance); eval: running
 * stats. xhat (M,C) and rstd (C) are caches for the backward (train mode). */
void gu_batchnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
			  const float *beta, float *running_mean, float *running_var, int M, int C,
			  int train, float momentum, float eps);
/* dx (M,C) overwritten; dgamma, dbeta (C) accumulated. Train-mode backward. */
void gu_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
			   const float *xhat, const float *gamma, const float *rstd, int M, int C);

/* ---- LSTM (lstm.c) -------------------------------------------------------------------------
 * One layer, PyTorch semantics: a = W_ih x + b_ih + W_hh h + b_hh, gates i|f|g|o,
 * c' = f c + i g, h' = o tanh(c'). One GEMM for the input projection of the whole chunk, one
 * GEMM per step for the recurrence, a fused pointwise pass for the gates. */
typedef struct {
	int in, n;          /* input width, hidden (= output) width */
	const float *w_ih;  /* (4n, in) */
	const float *w_hh;  /* (4n, n): the EFFECTIVE matrix (DropConnect mask already applied) */
	const float *b_ih;  /* (4n) */
	const float *b_hh;  /* (4n) */
} gu_lstm_w;

/* Floats of scratch the backward needs for (T, B, n). */
size_t gu_lstm_scratch_floats(int T, int B, int n);

/* Forward over T steps from state (h0, c0) (B,n) each (NULL = zeros).
 * valid (T,B) or NULL: where valid[t,b] == 0 the step is a pad: h and c of row b are forced to
 * zero at t (so left padding leaves the state at zero until the first real token).
 * Outputs: y (T,B,n); h_last, c_last (B,n) the state after step T-1 (may be NULL);
 * caches for the backward: gates (T,B,4n) post-activation i,f,g,o and cells (T,B,n) c_t. */
void gu_lstm_forward(float *y, float *h_last, float *c_last, float *gates, float *cells,
		     const gu_lstm_w *w, const float *x /* (T,B,in) */, const float *h0,
		     const float *c0, const uint8_t *valid, int T, int B);
/* The same with caller-provided scratch (gu_lstm_scratch_floats(T,B,n) floats, or NULL): lets
 * the recurrent GEMM reuse a packed W_hh without allocating (gu_lstm_forward allocates it). */
void gu_lstm_forward_ws(float *y, float *h_last, float *c_last, float *gates, float *cells,
			const gu_lstm_w *w, const float *x, const float *h0, const float *c0,
			const uint8_t *valid, int T, int B, float *scratch);

/* Backward through the chunk (truncated: no gradient leaves through h0/c0).
 * dy (T,B,n) gradient of the loss w.r.t. y. dx (T,B,in) overwritten (NULL to skip);
 * dw_ih, dw_hh (gradient w.r.t. the effective W_hh), db_ih, db_hh accumulated.
 * scratch: gu_lstm_scratch_floats(T,B,n) floats. */
void gu_lstm_backward(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
		      const float *dy, const gu_lstm_w *w, const float *x, const float *y,
		      const float *gates, const float *cells, const float *h0, const float *c0,
		      const uint8_t *valid, int T, int B, float *scratch);

/* ---- optimiser and schedules (optim.c) ---------------------------------------------------- */

/* One AdamW step over n parameters (reference order: decay p *= 1 - lr*wd, then Adam with the
 * bias correction of the current beta1; eps added as PyTorch 1.13: denom = sqrt(v)/sqrt(1-b2^s)
 * + eps). step is the step count AFTER this update (1 for the first). */
void gu_adamw_step(float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,
		   double beta2, double eps, double wd, int64_t step);
/* One-cycle schedule for batch t of N (fastai fit_one_cycle): returns lr, sets *beta1. */
double gu_onecycle(int64_t t, int64_t N, double lr_max, double div, double pct_start, double m0,
		   double m1, double *beta1);
/* Global L2 norm of g; when max_norm > 0 and clip = max_norm/(norm+1e-6) < 1, scales g by it.
 * Returns the norm before clipping. */
double gu_clip_grad(float *g, size_t n, double max_norm);

/* ---- model (model.c, modelio.c, safetensors.c; format in man/ulmmodel.5) ----------------- */

enum { GU_MODEL_LM = 1, GU_MODEL_CLS = 2 };

typedef struct {
	int32_t kind;          /* GU_MODEL_LM or GU_MODEL_CLS */
	int32_t k, stride;     /* tokenisation the model was trained on */
	int32_t vocab_size;    /* V, specials included */
	int32_t emb;           /* E */
	int32_t hidden;        /* H */
	int32_t n_layers;      /* 3 */
	int32_t n_lin;         /* classifier head hidden width (50) */
	int32_t n_classes;     /* classifier classes (0 for LMs) */
	int32_t bptt;          /* 70 */
	int32_t max_len;       /* classifier: pooled tokens bound (reference max_len) */
	/* base dropout probabilities; the effective value is base * drop_mult */
	float output_p, hidden_p, input_p, embed_p, weight_p, drop_mult;
	float alpha, beta;     /* AR, TAR */
	int32_t lm_output;     /* LM output layer: GU_LM_KMER or GU_LM_BASES (classifiers: 0) */
} gu_hparams;

/* The LM's output layer (gu_hparams.lm_output).
 * GU_LM_KMER: the reference's decoder, tied to the embedding, V classes (every token).
 * GU_LM_BASES: an untied Linear E -> 4^stride with bias, whose class is the code of the stride
 *   NEW bases of the next token (its last stride bases, 2 bits each, first base most
 *   significant). Consecutive tokens of a record overlap by k - stride bases, so given a k-mer
 *   input the next k-mer is fully determined by them: the same prediction with a 4^s-way
 *   softmax instead of a V-way one (V = 65,539 for k = 8). Needs stride <= k. A target is
 *   ignored (in the loss, accuracy and bits) when it or the input at its step is a special
 *   token (gu_lm_bases_targets). */
enum { GU_LM_KMER = 0, GU_LM_BASES = 1 };
/* Classes of the LM decoder of hp: V (GU_LM_KMER) or 4^stride (GU_LM_BASES). */
static inline int32_t gu_lm_n_out(const gu_hparams *hp)
{
	return hp->lm_output == GU_LM_BASES ? (int32_t)1 << (2 * hp->stride) : hp->vocab_size;
}

/* One named tensor inside the parameter (or buffer) block. */
typedef struct {
	char name[48];   /* PyTorch-style name, e.g. "rnns.1.weight_hh" */
	size_t off;      /* offset in floats into params (or buffers) */
	int ndim;        /* 1 or 2 */
	int64_t shape[2];
	size_t numel;
	int group;       /* layer group for discriminative lr / freezing */
	int buffer;      /* 1: lives in the buffer block (BN running stats), not trained */
} gu_tensor;

typedef struct {
	gu_hparams hp;
	gu_vocab *vocab;      /* k-mer ids */
	int n_labels;         /* classifier label names (sorted), 0 for LMs */
	char **labels;
	int n_prov;           /* provenance lines, one per stage: "prog\tversion\tdate\tcmdline" */
	char **prov;
	float *params;        /* all trainable parameters, one block, layout = tensors */
	size_t n_params;
	float *buffers;       /* BatchNorm running statistics */
	size_t n_buffers;
	gu_tensor *tensors;   /* parameters then buffers, in file order */
	int n_tensors;
	int n_groups;         /* LM: 4 (lstm0, lstm1, lstm2, embedding+decoder);
			       * CLS: 5 (embedding, lstm0, lstm1, lstm2, head) */
} gu_model;

/* Fills hp with the reference defaults for kind (REFERENCE-SEMANTICS 2, 6.3, 7).
 * Both: E 400, H 1150, 3 layers, bptt 70, alpha 2, beta 1, k 3, stride 1, vocab_size 0 (the
 * caller sets k, stride and vocab_size from its vocabulary), lm_output GU_LM_KMER.
 * LM: output_p 0.25, hidden_p 0.1, input_p 0.2, embed_p 0.02, weight_p 0.15, drop_mult 1,
 *     n_lin 50 (unused), n_classes 0, max_len 0 (unused).
 * CLS: output_p 0.4, hidden_p 0.2, input_p 0.6, embed_p 0.1, weight_p 0.5, drop_mult 0.5,
 *     n_lin 50, n_classes 2, max_len 4000*70 (Genomic's value: every chunk pooled). */
void gu_hparams_default(gu_hparams *hp, int kind);
/* Checks every field for sane values (positive sizes within bounds, probabilities with
 * base*drop_mult in [0,1), finite alpha/beta >= 0, vocab_size <= 4^k + 3, lm_output
 * GU_LM_KMER or, for LMs, GU_LM_BASES with stride <= k and stride <= 14). Returns 0, or
 * GU_EARG with a message naming the field. Bounds in man/ulmmodel.5. */
int gu_hparams_check(const gu_hparams *hp);
/* Floats in all tensors of a model with hp (parameters and buffers, without padding), i.e. the
 * tensor data of a model file is 4 times this many bytes. 0 when hp fails gu_hparams_check. */
uint64_t gu_hparams_numel(const gu_hparams *hp);
/* Allocates a model for hp with the tensor layout computed; parameters and buffers zero.
 * vocab must match hp (k, stride, size); on success the model owns it, on failure (NULL) the
 * caller still does. labels (n_labels == n_classes for classifiers, 0 for LMs) are copied.
 * Tensor layout (file order): encoder.weight (V,E); per layer i: rnns.i.weight_ih (4n,In),
 * rnns.i.weight_hh (4n,n), rnns.i.bias_ih (4n), rnns.i.bias_hh (4n) [n = H except the last
 * layer's n = E; In = E for layer 0, else H]; LM: decoder.bias (V), or with GU_LM_BASES
 * decoder.weight (4^stride,E) and decoder.bias (4^stride); CLS: head.bn0.weight (3E),
 * head.bn0.bias (3E), head.lin0.weight (n_lin,3E), head.lin0.bias (n_lin), head.bn1.weight
 * (n_lin), head.bn1.bias (n_lin), head.lin1.weight (C,n_lin), head.lin1.bias (C); then the
 * buffers head.bn0.running_mean, head.bn0.running_var (3E), head.bn1.running_mean,
 * head.bn1.running_var (n_lin). Every tensor starts at a multiple of 16 floats (64 bytes) of
 * its block, and params/buffers are 64-byte aligned; n_params and n_buffers include the
 * padding (kept at zero), so an optimiser may run one loop over the whole block. The kmer
 * decoder's weight is tied to encoder.weight. The decoder is in the embedding's layer group. */
gu_model *gu_model_new(const gu_hparams *hp, gu_vocab *vocab, int n_labels, char *const *labels);
/* Reference initialisation (REFERENCE-SEMANTICS 1.7, 9): LSTM U(+-1/sqrt(n)), embedding
 * U(-0.1,0.1), decoder bias 0, untied decoder weight U(-0.1,0.1) (fastai LinearDecoder's
 * initrange), Linear U(+-1/sqrt(fan_in)), BN gamma 1 beta 0, running 0/1. */
void gu_model_init(gu_model *m, gu_rng *rng);
const gu_tensor *gu_model_tensor(const gu_model *m, const char *name);
/* Pointer to a tensor's first float in its block (params or buffers). */
static inline float *gu_tensor_data(const gu_model *m, const gu_tensor *t)
{
	return (t->buffer ? m->buffers : m->params) + t->off;
}
/* Appends a provenance line "prog\tGU_VERSION\tYYYY-MM-DDTHH:MM:SSZ\tcommand line" (UTC; the
 * date comes from SOURCE_DATE_EPOCH when set). argv is joined with spaces, words holding
 * shell metacharacters single-quoted, control characters replaced by '?'. */
int gu_model_add_prov(gu_model *m, const char *prog, int argc, char *const *argv);
void gu_model_free(gu_model *m);

/* Model files (man/ulmmodel.5). The reader checks magic, version, every length against what
 * remains, the hyperparameters, the tensor table against the layout of hp, that every value
 * is finite, and the CRC-32; errors are GU_EIO or GU_EFORMAT with "PATH: what is wrong". The
 * writer refuses non-finite values (GU_ENUM) and writes atomically (gu_out). */
gu_model *gu_model_read(const char *path);
int gu_model_write(const gu_model *m, const char *path); /* atomic */

/* Checkpoints for resuming training (man/ulmmodel.5): the model, the Adam moments (same
 * layout as m->params, n_params floats each), the Adam step count of every layer group
 * (n_groups == m->n_groups) and an opaque blob the training program defines (epoch, step,
 * RNG state, schedule position...). Same integrity rules as model files; written atomically.
 * Moments may hold any finite values. */
int gu_checkpoint_write(const char *path, const gu_model *m, const float *adam_m,
			const float *adam_v, const int64_t *group_steps, int n_groups,
			const void *trainer_state, size_t trainer_len);
typedef struct {
	gu_model *model;
	float *adam_m, *adam_v;  /* (model->n_params) each, 64-byte aligned, free() */
	int64_t *group_steps;    /* (model->n_groups) */
	void *trainer_state;     /* (trainer_len) bytes, NULL when trainer_len == 0 */
	size_t trainer_len;
} gu_checkpoint;
/* Fills ck (all fields owned by the caller; release with gu_checkpoint_free). Returns 0 or
 * < 0 with ck zeroed. */
int gu_checkpoint_read(const char *path, gu_checkpoint *ck);
void gu_checkpoint_free(gu_checkpoint *ck);

/* safetensors interop (tensor names as gu_tensor.name, F32, buffers included; hparams, k,
 * stride, vocabulary, labels and provenance in __metadata__, keys in man/ulmmodel.5). */
int gu_model_export_safetensors(const gu_model *m, const char *path); /* atomic */
gu_model *gu_model_import_safetensors(const char *path);

/* Raw safetensors access for tests and tools. The reader is strict: header length within the
 * file (and <= 100 MB), a JSON object (parsed by libjansson) of name -> {"dtype", "shape",
 * "data_offsets"} plus an optional "__metadata__" object of string values, no duplicate keys in
 * any object, no other keys, known dtypes, byte span = numel * dtype size, offsets inside the
 * data area which the tensors cover exactly without overlap (as the Rust reference
 * implementation). */
typedef struct {
	char name[128];
	char dtype[8];   /* "F32", "F64", "I32", "I64", ... */
	int ndim;
	int64_t shape[8];
	size_t nbytes;
	void *data;      /* (nbytes) bytes as stored (little-endian), malloc-aligned */
} gu_st_tensor;
typedef struct {
	int n;
	gu_st_tensor *t;        /* in header order */
	char *metadata_json;    /* "__metadata__" as compact JSON, keys in file order, or NULL */
	int n_meta;             /* parsed __metadata__ (keys and values unescaped, UTF-8) */
	char **meta_key, **meta_val;
} gu_st_file;
gu_st_file *gu_st_read(const char *path);
const gu_st_tensor *gu_st_get(const gu_st_file *f, const char *name);
/* Value of a __metadata__ key, or NULL. */
const char *gu_st_meta(const gu_st_file *f, const char *key);
void gu_st_free(gu_st_file *f);

/* ---- whole models (lm.c) -----------------------------------------------------------------
 * The AWD-LSTM language model and classifier built from the layers above
 * (REFERENCE-SEMANTICS 1-3, 6). A workspace holds every activation for one shape, allocated
 * once; the parameters are read from the model's params block at each call (so optimiser
 * updates are seen) and gradients are ACCUMULATED into a block of the same layout
 * (m->n_params floats; zero it before a step).
 *
 * Dropout masks are drawn from the rng passed to each training call, in a fixed order, so they
 * are a deterministic function of the rng's state: passing copies of one saved gu_rng holds
 * every mask fixed (this is how the finite-difference tests work). Eval calls use no dropout
 * and no rng (may be NULL).
 *
 * Layer widths: layer l has input width In_l = E (l = 0) or H, output width n_l = H, except
 * the last layer's E. At most GU_MAX_LAYERS layers. */
#define GU_MAX_LAYERS 8

/* Inference-only LSTM layer step (lstm.c), for the classifier's eval path: the input
 * projection is fused into the recurrent GEMM over weights packed once per call, no caches.
 * gu_lstm_infer_pack_floats(in, n): floats of a packed layer, 0 when this CPU lacks the kernel
 * (AVX-512F; use gu_lstm_forward_ws). gu_lstm_infer_pack packs w (w->w_hh the raw matrix).
 * gu_lstm_infer_step: one step of B rows; x row b at x + (xrow ? xrow[b] : b) * ldx (in
 * floats); hprev (B,n) the previous output or NULL (zero state); c (B,n) the cell state, updated
 * in place (zero it for a zero state); h (B,n) receives the output (must not be hprev); rows
 * with valid[b] == 0 (pad) get h = c = 0 (valid NULL: all valid). scratch:
 * gu_lstm_infer_scratch_floats(B) floats. */
size_t gu_lstm_infer_pack_floats(int in, int n);
void gu_lstm_infer_pack(float *pk, const gu_lstm_w *w);
size_t gu_lstm_infer_scratch_floats(int B);
void gu_lstm_infer_step(float *h, float *c, const float *pk, int in, int n, const float *x,
			int ldx, const int32_t *xrow, const float *hprev, const uint8_t *valid,
			int B, float *scratch);

/* Losses of one call. */
typedef struct {
	double loss;     /* ce + ar_tar: the training objective (train mode) */
	double ce;       /* mean cross-entropy over the counted items */
	double ar_tar;   /* alpha*AR + beta*TAR (train mode only, else 0) */
	double ce_sum;   /* sum of -log p over the counted items (for weighted means) */
	int64_t n;       /* items counted: tokens (LM) or sequences (classifier) */
	int64_t correct; /* items whose argmax is the target */
} gu_loss;

/* Gradient of one training call is skipped for every layer group g with bit g of `frozen` set:
 * no gradient is accumulated into its tensors and backward work that nothing trainable needs is
 * not done (frozen layers still apply their dropouts). Groups are gu_tensor.group: with 3
 * layers, LM 0-2 the LSTMs, 3 embedding + decoder; classifier 0 embedding, 1-3 the
 * LSTMs, 4 the head (the head always trains; its bit is ignored). gu_freeze_to_mask(n) is
 * fastai's freeze_to(n) for n >= 0: groups [0, n) frozen. */
static inline uint32_t gu_freeze_to_mask(int n)
{
	return n <= 0 ? 0u : n >= 32 ? 0xffffffffu : ((1u << n) - 1u);
}

/* Language-model workspace for fixed (T, B). The hidden state (h, c) of every layer is carried
 * from call to call, detached (truncated BPTT), in train and eval calls alike. */
typedef struct gu_lm_priv gu_lm_priv;
typedef struct {
	/* settings: filled by gu_lm_new from the model's hparams; may be changed between calls */
	float p_output, p_hidden, p_input, p_embed, p_weight; /* effective: base * drop_mult */
	float alpha, beta;        /* AR, TAR */
	uint32_t frozen;          /* layer groups without gradient (see gu_freeze_to_mask) */
	/* data-parallel share (gu_lm_new sets B_all = B, row0 = 0: the whole batch): this
	 * workspace's B rows are rows [row0, row0+B) of a batch of B_all rows split over
	 * workspaces (threads, MPI ranks). A train call then draws every row mask for all B_all
	 * rows from rng and keeps its own rows, and scales the loss as the whole batch's mean, so
	 * that the shares' gradients add up to that of one call on all B_all rows, and every
	 * share's rng ends in the same state (see gu_lm_step). */
	int B_all, row0;
	/* shapes (read-only) */
	const gu_model *m;
	int T, B, V, E, L;
	int n_out;                /* decoder classes: gu_lm_n_out (V, or 4^stride for bases) */
	int in[GU_MAX_LAYERS], n[GU_MAX_LAYERS];
	/* carried state (tests may save and restore it) */
	float *h[GU_MAX_LAYERS];  /* (B,n_l) */
	float *c[GU_MAX_LAYERS];  /* (B,n_l) */
	/* results of the last call (read-only) */
	float *logits;            /* (T*B,n_out) logits; after a call with a gradient: dloss/dlogits */
	int32_t *target;          /* bases output only (NULL for kmer, whose classes are y): (T*B)
				   * gu_lm_bases_targets' class of each target of the last call,
				   * -1 where ignored */
	float *out;               /* (T,B,E) last LSTM output, undropped (what AR/TAR read) */
	gu_lm_priv *p;            /* caches, masks and scratch */
} gu_lm;

/* Allocates the workspace for model m (kind GU_MODEL_LM) and shape (T, B); state zero. */
gu_lm *gu_lm_new(const gu_model *m, int T, int B);
void gu_lm_free(gu_lm *w);
/* Sets the carried hidden state to zero (epoch start; validation may start from zero). */
void gu_lm_reset_state(gu_lm *w);

/* The decoder classes of the bases output (GU_LM_BASES) for n steps with input ids x and
 * next-token ids y (ids in [0, v->size)): cls[i] = the code of the last v->stride bases of
 * y[i]'s k-mer, code & (4^stride - 1), or -1 (ignored) when y[i] or x[i] is a special token
 * (xxpad, xxunk, xxbos: after a special input the next token's first k - stride bases are not
 * known from the input). Returns the number of counted (>= 0) classes. */
int64_t gu_lm_bases_targets(int32_t *cls, const int32_t *x, const int32_t *y, size_t n,
			    const gu_vocab *v);

/* One LM call on ids x (T,B) time-major with next-token targets y (T,B), ids in [0, V).
 * The decoder's targets are y (kmer output) or gu_lm_bases_targets(x, y) (bases output, whose
 *   ignored targets count nowhere: out->n is the counted targets).
 * train == 0 (eval): no dropout, no AR/TAR, no gradient (grad must be NULL); out->ce_sum, n,
 *   correct, ce and loss (= ce) are filled.
 * train != 0: masks drawn from rng (REFERENCE-SEMANTICS 1.2-1.4, 2: embedding rows (V),
 *   input locked (B,E), hidden locked (B,n_l) after every layer but the last, DropConnect
 *   (4n_l,n_l) on each raw W_hh, output locked (B,E) before the decoder); the loss is
 *   mean CE + AR + TAR on the undropped last output. If grad != NULL the gradient of out->loss
 *   is accumulated into grad (m->n_params floats, params layout); with ignored targets (bases)
 *   the CE term differentiated is the sum over counted targets over T*B_all, the batch's
 *   positions (out->ce * n / (T*B_all)), so that shares need not exchange their counts.
 * As a share of a batch (B_all > B): the gradient accumulated is this share's part of the
 *   gradient of the whole batch's loss, out->ce_sum, n and correct count this share's tokens,
 *   out->ce is their mean and out->ar_tar this share's part of the whole batch's AR + TAR
 *   (gu_ar_tar_share); the whole batch's loss is sum(ce_sum)/sum(n) + sum(ar_tar).
 * Returns GU_OK, GU_EARG (ids out of range, missing rng, bad share), or GU_ENUM when the loss
 * is not finite (nothing is then accumulated into grad; the carried state has advanced). */
int gu_lm_step(gu_lm *w, float *grad, const int32_t *x, const int32_t *y, int train, gu_rng *rng,
	       gu_loss *out);

/* Classifier workspace for batches of up to B_max rows. Sequences are run through the encoder
 * in chunks of hp.bptt steps, from a zero state, carrying the detached state between chunks;
 * only the chunks starting after S - max_len (every chunk when max_len <= 0) are pooled and
 * get gradient (REFERENCE-SEMANTICS 6.1); no gradient crosses a chunk boundary. Activation
 * caches are kept for the pooled chunks only (train calls with a gradient) and grow on demand:
 * (In + 6n) floats per layer, row and pooled step, plus 2E for the pooled outputs. */
typedef struct gu_cls_priv gu_cls_priv;
typedef struct {
	/* settings: filled by gu_cls_new from the model's hparams; may be changed between calls */
	float p_output;           /* head dropout after BN(3E): output_p * drop_mult */
	float p_head;             /* head dropout after BN(n_lin): 0.1 (not scaled by drop_mult) */
	float p_hidden, p_input, p_embed, p_weight; /* encoder, effective */
	float alpha, beta;        /* AR, TAR over the kept last-layer outputs */
	float bn_momentum, bn_eps; /* 0.1, 1e-5 */
	int max_len;              /* pool the chunks starting after S - max_len; <= 0: all */
	uint32_t frozen;          /* layer groups without gradient (see gu_freeze_to_mask) */
	/* shapes (read-only) */
	gu_model *m;              /* BatchNorm running statistics are updated in train mode */
	int B_max, V, E, L, bptt, n_lin, C;
	/* results of the last call (read-only) */
	int S, B, L_kept;         /* padded length, rows, pooled (kept) steps */
	float *feat;              /* (B,3E) concat-pooled features */
	float *logits;            /* (B,C) */
	gu_cls_priv *p;           /* everything else */
} gu_cls;

gu_cls *gu_cls_new(gu_model *m, int B_max);
/* A workspace for gu_cls_head_step alone (batches of up to B_max rows), without the encoder's
 * buffers for B_max rows: every other call on it fails with GU_EARG. */
gu_cls *gu_cls_new_head(gu_model *m, int B_max);
void gu_cls_free(gu_cls *w);

/* One classifier call on ids (S,B) time-major, rows left-padded with GU_PAD, B <= B_max. A pad
 * step keeps the LSTM state at zero, is masked out of the pooling (a row without a real token
 * in the pooled span pools to zeros) and gives the pad embedding row no gradient; AR/TAR count
 * pad steps (their output is 0) as the reference. labels (B) in [0, C) or NULL (no loss).
 * train == 0: no dropout, BatchNorm running statistics, no AR/TAR, no gradient (grad NULL).
 * train != 0: masks drawn from rng (per chunk for the encoder, then the head's), BatchNorm on
 *   batch statistics (running statistics updated); loss = mean CE + AR + TAR; with grad != NULL
 *   (and labels) the gradient is accumulated into grad (m->n_params floats).
 * probs (B,C) receives softmax(logits) when non-NULL.
 * Returns GU_OK, GU_EARG, GU_ENOMEM (growing the caches) or GU_ENUM (loss not finite; nothing
 * accumulated). */
int gu_cls_step(gu_cls *w, float *grad, float *probs, const int32_t *ids, const int32_t *labels,
		int S, int B, int train, gu_rng *rng, gu_loss *out);

/* The train step of gu_cls_step in three parts, for data parallelism (filters/clsteam.c): the
 * rows of a batch of B_all records (ids (S,B_all), one padded length S) are split into shares,
 * each run through the encoder in its own workspace, the pooled features of all rows go through
 * the head in one workspace (BatchNorm sees the whole batch), and the head's input gradient goes
 * back to the shares. Calls, in this order, with copies of one rng:
 *  gu_cls_share_forward: the encoder on this share's B rows, ids (S,B) (the whole batch's
 *    columns [row0, row0+B)), masks drawn for all B_all rows (every share draws the same
 *    numbers), pooled into w->feat (B,3E); AR/TAR of these rows as parts of the whole batch's
 *    means (gu_ar_tar_share) into *ar_tar, its gradient kept when grad != 0.
 *  gu_cls_head_step: the head (train mode) on feat (B_all,3E) of every row, labels (B_all), its
 *    masks drawn from rng after the encoder's; loss, head gradient accumulated into grad,
 *    dfeat (B_all,3E) the gradient w.r.t. feat; running statistics updated; out as gu_cls_step
 *    fills it without AR/TAR. Needs B_all <= w->B_max.
 *  gu_cls_share_backward: the pooling and encoder backward of the last share_forward from
 *    dfeat (B,3E) (this share's rows), accumulated into grad for unfrozen groups.
 * With one share (B = B_all, row0 = 0) the three give gu_cls_step's results exactly. GU_OK,
 * GU_EARG, GU_ENOMEM or GU_ENUM (loss not finite). */
int gu_cls_share_forward(gu_cls *w, const int32_t *ids, int S, int B, int B_all, int row0,
			 gu_rng *rng, int grad, double *ar_tar);
int gu_cls_head_step(gu_cls *w, float *grad, float *dfeat, const float *feat,
		     const int32_t *labels, int B_all, gu_rng *rng, gu_loss *out);
int gu_cls_share_backward(gu_cls *w, float *grad, const float *dfeat);

/* Eval-mode encoder and concat pooling of ids (S,B) (as gu_cls_step takes them) into w->feat
 * (B,3E): the head's input, as an eval gu_cls_step computes it. GU_OK, GU_EARG or GU_ENOMEM. */
int gu_cls_pool(gu_cls *w, const int32_t *ids, int S, int B);

/* "Precise BatchNorm": sets the head's BatchNorm running statistics from the eval-mode
 * features feat (N,3E) of N >= 2 records (gu_cls_pool): BN0 gets their exact mean and unbiased
 * variance, BN1 those of ReLU(Linear(BN0(feat))) with BN0 on its new statistics. The running
 * averages of training were taken with every dropout on and while the weights moved; eval mode
 * sees neither, and on a small model the shift can push every record into one class while the
 * ranking (ROC-AUC) stays good. Parameters and gradients are untouched. GU_OK, GU_EARG (N < 2)
 * or GU_ENOMEM. */
int gu_cls_bn_recompute(gu_cls *w, const float *feat, int64_t N);

/* ---- classification metrics (metrics.c) ---------------------------------------------------
 * Binary: truth and pred are 1 (positive) or 0 (negative); pred is the predicted label (argmax
 * over classes == the positive class), score the predicted probability of the positive class.
 * Undefined ratios (0/0) are NaN, except: mcc is 0 when its denominator is 0 (sklearn), f1 is
 * 2tp/(2tp+fp+fn) (= 2PR/(P+R) where defined; 0 when tp == 0 < fp+fn; NaN only when no item is
 * positive in truth or prediction), roc_auc is NaN when only one class is present. */
typedef struct {
	int64_t n, tp, fp, tn, fn;
	double accuracy;    /* (tp+tn)/n */
	double sensitivity; /* recall, true positive rate: tp/(tp+fn) */
	double specificity; /* true negative rate: tn/(tn+fp) */
	double precision;   /* tp/(tp+fp) */
	double f1;          /* 2tp/(2tp+fp+fn) */
	double mcc;         /* (tp*tn-fp*fn)/sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)), 0 if that is 0 */
	double roc_auc;     /* P(score of a positive > a negative's), ties 1/2 (Mann-Whitney); NaN
			     * with one class or score == NULL; equals sklearn's roc_auc_score */
} gu_binary_metrics;

/* Fills *out from n items (score may be NULL: roc_auc NaN). O(n log n).
 * Returns GU_OK, GU_EARG (a label not 0/1, NULL arrays), GU_ENUM (a NaN score) or GU_ENOMEM;
 * *out is written only on success. */
int gu_binary_metrics_compute(gu_binary_metrics *out, const double *score, const int *pred,
			      const int *truth, size_t n);
/* Multi-class confusion matrix cm (C,C): cm[t*C + p] counts items of truth t predicted p (rows =
 * truth, columns = prediction). accuracy (NULL to skip) = trace/n, NaN when n == 0.
 * Returns GU_OK or GU_EARG (C < 1, a label outside [0, C)); cm is untouched on failure. */
int gu_confusion(int64_t *cm, double *accuracy, const int *pred, const int *truth, size_t n, int C);
/* ROC curve for plotting, one point per distinct score: fpr, tpr (and thresh, NULL to skip) get
 * at most n+1 points, from (0, 0) at thresh +inf down to (1, 1); point k > 0 counts items with
 * score >= thresh[k] as positive. Returns the number of points, or GU_EARG (NULL arrays, labels
 * not 0/1, one class only), GU_ENUM (a NaN score), GU_ENOMEM. */
int64_t gu_roc_curve(double *fpr, double *tpr, double *thresh, const double *score,
		     const int *truth, size_t n);

/* ---- language-model corpora and batches (lmdata.c) ----------------------------------------
 * REFERENCE-SEMANTICS 4: each epoch the records are joined in a (shuffled) order, each preceded
 * by xxbos, into one sequence S of N ids; batch k row b reads S from offset floor(b*N/B) + k*T,
 * wrapping around the end; nb = ceil(N/(T*B)) batches an epoch. */
typedef struct {
	int32_t *ids;     /* (n) vocabulary ids of all records, back to back */
	size_t n;
	size_t *start;    /* (n_docs+1): record i is ids[start[i] .. start[i+1]) */
	size_t n_docs;
	uint64_t n_unk;   /* tokens that mapped to xxunk (unknown k-mers or not in the vocabulary) */
} gu_corpus;

/* Reads every record (with at least one token) of the token streams through vocab; the streams'
 * k and stride must equal the vocabulary's. max_tokens > 0 refuses (GU_ENOMEM, with a message)
 * a corpus larger than that, before allocating it. */
int gu_corpus_load(gu_corpus *c, const gu_vocab *v, char *const *paths, int n_paths,
		   uint64_t max_tokens);
void gu_corpus_free(gu_corpus *c);
/* Length N of an epoch sequence: tokens plus one xxbos per record. */
static inline size_t gu_corpus_epoch_len(const gu_corpus *c) { return c->n + c->n_docs; }
/* Writes the epoch sequence into S (gu_corpus_epoch_len ids): records in the order perm
 * (n_docs indices; NULL for file order), each preceded by xxbos. */
void gu_corpus_epoch(const gu_corpus *c, int32_t *S, const uint32_t *perm);
/* Batches in an epoch of N ids: ceil(N / (T*B)). */
int64_t gu_lm_n_batches(size_t N, int B, int T);
/* Batch k: x[t*B+b] = S[(off_b + k*T + t) mod N], y the next id; off_b = floor(b * (N/B)). */
void gu_lm_batch(int32_t *x, int32_t *y, const int32_t *S, size_t N, int B, int T, int64_t k);

/* ---- optimiser state over a model (train.c) -------------------------------------------------
 * One gradient block and two Adam moment blocks of the params layout; per layer group an Adam
 * step count. A step skips the tensors of frozen groups entirely (no decay, no update), as a
 * PyTorch optimiser that does not hold them. */
#define GU_MAX_GROUPS 16
typedef struct {
	gu_model *m;
	float *grad, *adam_m, *adam_v;  /* (m->n_params) each */
	int64_t step[GU_MAX_GROUPS];    /* Adam steps taken by each group */
	double wd, beta2, eps;          /* 1e-2, 0.99, 1e-8 */
	double clip;                    /* global gradient-norm bound, 0 = off */
} gu_opt;

gu_opt *gu_opt_new(gu_model *m);
void gu_opt_free(gu_opt *o);
void gu_opt_zero_grad(gu_opt *o);
/* Forgets the moments and step counts (what freeze/unfreeze do to the reference's optimiser). */
void gu_opt_reset(gu_opt *o);
/* Clips (if o->clip > 0) and applies AdamW to every tensor of the unfrozen groups, group g with
 * learning rate lr[g]. Returns the gradient norm over the unfrozen groups before clipping
 * (NaN or inf: nothing was changed, the caller should stop). */
double gu_opt_step(gu_opt *o, const double *lr, double beta1, uint32_t frozen);
/* Discriminative rates: lr[g] = lr_max / factor^(n_groups-1-g). */
void gu_discriminative_lr(double *lr, int n_groups, double lr_max, double factor);

/* ---- logging and progress (log.c) --------------------------------------------------------- */

double gu_realtime(void);  /* seconds since an arbitrary origin */
double gu_cputime(void);   /* process CPU seconds */
long gu_peak_rss_kb(void);

#endif
