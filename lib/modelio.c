/* modelio.c: model files and training checkpoints (format in man/ulmmodel.5).
 *
 * Both are little-endian, length-prefixed and end in a CRC-32 of every byte before it. Readers
 * stream the file, check every count and length against the bytes that remain before they
 * allocate, and check the hyperparameters and the tensor table before the (large) data. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gulm.h"

/* gu_err with the current message appended: "PATH: what: <previous message>" (the message
 * buffer is copied first, as gu_err writes into it). */
static int err_wrap(int code, const char *path, const char *what)
{
	char prev[512];
	snprintf(prev, sizeof prev, "%s", gu_errmsg());
	return gu_err(code, "%s: %s%s%s", path, what, *what ? ": " : "", prev);
}

#define MODEL_MAGIC "GULMMODL"
#define CKPT_MAGIC "GULMCKPT"
/* Version 2 adds the LM output layer (i32 after beta). A model that version 1 can hold (kmer
 * output) is written as version 1, byte for byte as before, so older readers keep reading it. */
#define FORMAT_VERSION 2u
#define MAX_STR (1u << 20) /* longest label or provenance line */
#define MAX_LABEL 4096u

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BE 1
#else
#define HOST_BE 0
#endif

static uint32_t get_u32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t get_u64(const unsigned char *b)
{
	return (uint64_t)get_u32(b) | (uint64_t)get_u32(b + 4) << 32;
}
static void put_u32(unsigned char *b, uint32_t x)
{
	for (int i = 0; i < 4; i++) b[i] = (unsigned char)(x >> (8 * i));
}
static void put_u64(unsigned char *b, uint64_t x)
{
	for (int i = 0; i < 8; i++) b[i] = (unsigned char)(x >> (8 * i));
}
static float u32_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}
static uint32_t float_u32(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}
static void swap32(void *p, size_t n)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++, b += 4) {
		unsigned char t = b[0];
		b[0] = b[3], b[3] = t, t = b[1], b[1] = b[2], b[2] = t;
	}
}

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct {
	gu_out *o;
	uint32_t crc;
	int err;
} wr;

static void w_bytes(wr *w, const void *p, size_t n)
{
	if (w->err || n == 0) return;
	w->crc = gu_crc32(w->crc, p, n);
	w->err = gu_out_write(w->o, p, n);
}
static void w_u32(wr *w, uint32_t x)
{
	unsigned char b[4];
	put_u32(b, x);
	w_bytes(w, b, 4);
}
static void w_u64(wr *w, uint64_t x)
{
	unsigned char b[8];
	put_u64(b, x);
	w_bytes(w, b, 8);
}
static void w_f32(wr *w, float f) { w_u32(w, float_u32(f)); }
static void w_str(wr *w, const char *s)
{
	size_t n = strlen(s);
	w_u32(w, (uint32_t)n);
	w_bytes(w, s, n);
}
static void w_floats(wr *w, const float *x, size_t n)
{
#if HOST_BE
	float buf[4096];
	while (n > 0 && !w->err) {
		size_t c = n < 4096 ? n : 4096;
		memcpy(buf, x, c * 4);
		swap32(buf, c);
		w_bytes(w, buf, c * 4);
		x += c, n -= c;
	}
#else
	w_bytes(w, x, n * sizeof(float));
#endif
}

static int all_finite(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i])) return 0;
	return 1;
}

static int bad_label(const char *s)
{
	if (!*s || strlen(s) > MAX_LABEL) return 1;
	for (; *s; s++)
		if (*s == '\t' || *s == '\n' || *s == '\r') return 1;
	return 0;
}
static int bad_prov(const char *s) { return strlen(s) > MAX_STR || strchr(s, '\n') != NULL; }

/* Checks that m can be written; path for messages. */
static int check_model(const gu_model *m, const char *path)
{
	if (gu_hparams_check(&m->hp) < 0)
		return err_wrap(GU_EARG, path, "bad hyperparameters");
	if (!m->vocab || m->vocab->size != m->hp.vocab_size)
		return gu_err(GU_EARG, "%s: vocabulary does not match the hyperparameters", path);
	if (m->n_labels != m->hp.n_classes)
		return gu_err(GU_EARG, "%s: %d label names for %d classes", path, m->n_labels,
			      m->hp.n_classes);
	for (int i = 0; i < m->n_labels; i++)
		if (bad_label(m->labels[i]))
			return gu_err(GU_EARG, "%s: label %d is empty, too long or holds a tab or newline",
				      path, i);
	for (int i = 0; i < m->n_prov; i++)
		if (bad_prov(m->prov[i]))
			return gu_err(GU_EARG, "%s: provenance line %d is too long or holds a newline",
				      path, i);
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (!all_finite(gu_tensor_data(m, t), t->numel))
			return gu_err(GU_ENUM, "%s: tensor %s holds NaN or inf; not written", path,
				      t->name);
	}
	return 0;
}

/* The oldest format version that holds m. */
static uint32_t model_version(const gu_model *m)
{
	return m->hp.lm_output != GU_LM_KMER ? 2u : 1u;
}

/* Everything between the version field and the CRC of a model file (of model_version(m)). */
static void write_body(wr *w, const gu_model *m)
{
	const gu_hparams *hp = &m->hp;
	int32_t iv[11] = {hp->kind,	 hp->k,	       hp->stride,    hp->vocab_size,
			  hp->emb,	 hp->hidden,   hp->n_layers,  hp->n_lin,
			  hp->n_classes, hp->bptt,     hp->max_len};
	float fv[8] = {hp->output_p, hp->hidden_p, hp->input_p, hp->embed_p,
		       hp->weight_p, hp->drop_mult, hp->alpha,	 hp->beta};
	for (int i = 0; i < 11; i++) w_u32(w, (uint32_t)iv[i]);
	for (int i = 0; i < 8; i++) w_f32(w, fv[i]);
	if (model_version(m) >= 2) w_u32(w, (uint32_t)hp->lm_output);
	w_u32(w, (uint32_t)m->vocab->size);
	for (int32_t i = 0; i < m->vocab->size; i++) w_u32(w, m->vocab->code[i]);
	w_u32(w, (uint32_t)m->n_labels);
	for (int i = 0; i < m->n_labels; i++) w_str(w, m->labels[i]);
	w_u32(w, (uint32_t)m->n_prov);
	for (int i = 0; i < m->n_prov; i++) w_str(w, m->prov[i]);
	w_u32(w, (uint32_t)m->n_tensors);
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		w_str(w, t->name);
		w_u32(w, (uint32_t)t->ndim);
		for (int d = 0; d < t->ndim; d++) w_u64(w, (uint64_t)t->shape[d]);
	}
	for (int i = 0; i < m->n_tensors; i++)
		w_floats(w, gu_tensor_data(m, &m->tensors[i]), m->tensors[i].numel);
}

/* Parameter-block-shaped arrays (Adam moments): every parameter tensor, buffers excluded. */
static void write_param_like(wr *w, const gu_model *m, const float *x)
{
	for (int i = 0; i < m->n_tensors; i++)
		if (!m->tensors[i].buffer) w_floats(w, x + m->tensors[i].off, m->tensors[i].numel);
}

static int finish(wr *w)
{
	uint32_t crc = w->crc;
	w_u32(w, crc);
	int r = w->err;
	int rc = gu_out_close(w->o, r != 0);
	return r ? r : rc;
}

int gu_model_write(const gu_model *m, const char *path)
{
	int r = check_model(m, path);
	if (r < 0) return r;
	wr w = {gu_out_open(path), 0, 0};
	if (!w.o) return GU_EIO;
	w_bytes(&w, MODEL_MAGIC, 8);
	w_u32(&w, model_version(m));
	write_body(&w, m);
	return finish(&w);
}

int gu_checkpoint_write(const char *path, const gu_model *m, const float *adam_m,
			const float *adam_v, const int64_t *group_steps, int n_groups,
			const void *trainer_state, size_t trainer_len)
{
	int r = check_model(m, path);
	if (r < 0) return r;
	if (n_groups != m->n_groups)
		return gu_err(GU_EARG, "%s: %d step counts for %d layer groups", path, n_groups,
			      m->n_groups);
	for (int g = 0; g < n_groups; g++)
		if (group_steps[g] < 0)
			return gu_err(GU_EARG, "%s: negative step count in group %d", path, g);
	if (trainer_len && !trainer_state) return gu_err(GU_EARG, "%s: no trainer state", path);
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (t->buffer) continue;
		if (!all_finite(adam_m + t->off, t->numel) || !all_finite(adam_v + t->off, t->numel))
			return gu_err(GU_ENUM, "%s: Adam moments of %s hold NaN or inf; not written",
				      path, t->name);
	}
	wr w = {gu_out_open(path), 0, 0};
	if (!w.o) return GU_EIO;
	w_bytes(&w, CKPT_MAGIC, 8);
	w_u32(&w, model_version(m));
	write_body(&w, m);
	w_u32(&w, (uint32_t)n_groups);
	for (int g = 0; g < n_groups; g++) w_u64(&w, (uint64_t)group_steps[g]);
	write_param_like(&w, m, adam_m);
	write_param_like(&w, m, adam_v);
	w_u64(&w, (uint64_t)trainer_len);
	w_bytes(&w, trainer_state, trainer_len);
	return finish(&w);
}

/* ---- reader ---------------------------------------------------------------------------- */

typedef struct {
	FILE *fp;
	const char *path;
	uint64_t left; /* bytes not yet read, CRC included; UINT64_MAX when unknown (pipe) */
	uint32_t crc;
	uint32_t version; /* of the file: 1..FORMAT_VERSION */
	int err;       /* first error code; later reads are no-ops */
} rd;

static int rd_fail(rd *r, int code, const char *fmt, const char *what)
{
	if (!r->err) r->err = gu_err(code, fmt, r->path, what);
	return r->err;
}

/* Bytes available to fields before the 4-byte CRC trailer. */
static uint64_t rd_avail(const rd *r)
{
	if (r->left == UINT64_MAX) return UINT64_MAX;
	return r->left > 4 ? r->left - 4 : 0;
}

/* Reads n bytes of a field (what names it in messages), into the CRC. */
static int rd_bytes(rd *r, void *dst, size_t n, const char *what)
{
	if (r->err) return r->err;
	if (n == 0) return 0;
	if ((uint64_t)n > rd_avail(r)) return rd_fail(r, GU_EFORMAT, "%s: truncated (in %s)", what);
	size_t got = fread(dst, 1, n, r->fp);
	if (got != n) {
		if (ferror(r->fp))
			return rd_fail(r, GU_EIO, "%s: read error: %s", strerror(errno));
		return rd_fail(r, GU_EFORMAT, "%s: truncated (in %s)", what);
	}
	r->crc = gu_crc32(r->crc, dst, n);
	if (r->left != UINT64_MAX) r->left -= n;
	return 0;
}
static uint32_t rd_u32(rd *r, const char *what)
{
	unsigned char b[4] = {0};
	rd_bytes(r, b, 4, what);
	return get_u32(b);
}
static uint64_t rd_u64(rd *r, const char *what)
{
	unsigned char b[8] = {0};
	rd_bytes(r, b, 8, what);
	return get_u64(b);
}
/* Fails unless n items of at least size bytes each can still follow. */
static int rd_need(rd *r, uint64_t n, uint64_t size, const char *what)
{
	if (r->err) return r->err;
	uint64_t a = rd_avail(r);
	if (a != UINT64_MAX && (size ? n > a / size : 0))
		return rd_fail(r, GU_EFORMAT, "%s: truncated (%s runs past the end of the file)", what);
	return 0;
}
/* A length-prefixed string of at most maxlen bytes without NUL; malloc'd. */
static char *rd_str(rd *r, uint32_t maxlen, const char *what)
{
	uint32_t n = rd_u32(r, what);
	if (r->err) return NULL;
	if (n > maxlen) {
		char msg[96];
		snprintf(msg, sizeof msg, "%s: length %u exceeds %u", what, n, maxlen);
		rd_fail(r, GU_EFORMAT, "%s: bad %s", msg);
		return NULL;
	}
	if (rd_need(r, n, 1, what) < 0) return NULL;
	char *s = gu_malloc((size_t)n + 1);
	if (!s) {
		r->err = GU_ENOMEM;
		return NULL;
	}
	if (rd_bytes(r, s, n, what) < 0) {
		free(s);
		return NULL;
	}
	s[n] = 0;
	if (strlen(s) != n) {
		free(s);
		rd_fail(r, GU_EFORMAT, "%s: %s holds a NUL byte", what);
		return NULL;
	}
	return s;
}
/* n floats into x, converted from little-endian. */
static int rd_floats(rd *r, float *x, size_t n, const char *what)
{
	if (rd_need(r, n, 4, what) < 0) return r->err;
	if (rd_bytes(r, x, n * 4, what) < 0) return r->err;
	if (HOST_BE) swap32(x, n);
	return 0;
}

static int rd_open(rd *r, const char *path, const char *magic, const char *other_magic,
		   const char *kind_name, const char *other_name)
{
	memset(r, 0, sizeof *r);
	r->path = path;
	r->left = UINT64_MAX;
	if (strcmp(path, "-") == 0) {
		r->fp = stdin;
	} else if (!(r->fp = fopen(path, "rb"))) {
		return r->err = gu_err(GU_EIO, "%s: cannot open: %s", path, strerror(errno));
	}
	struct stat st;
	if (fstat(fileno(r->fp), &st) == 0 && S_ISREG(st.st_mode)) r->left = (uint64_t)st.st_size;
	unsigned char b[12];
	size_t got = fread(b, 1, 12, r->fp);
	if (got < 12 && ferror(r->fp))
		return r->err = gu_err(GU_EIO, "%s: read error: %s", path, strerror(errno));
	if (got < 8 || memcmp(b, magic, 8) != 0) {
		if (got >= 8 && memcmp(b, other_magic, 8) == 0)
			return r->err = gu_err(GU_EFORMAT, "%s: is a %s, not a %s", path, other_name,
					       kind_name);
		if (got == 0)
			return r->err = gu_err(GU_EFORMAT, "%s: empty file, expected a %s", path, kind_name);
		if (got < 8 && memcmp(b, magic, got) == 0)
			return r->err = gu_err(GU_EFORMAT, "%s: truncated (in the magic)", path);
		return r->err = gu_err(GU_EFORMAT, "%s: bad magic (not a gulm %s)", path, kind_name);
	}
	if (got < 12) return r->err = gu_err(GU_EFORMAT, "%s: truncated (in the version)", path);
	uint32_t version = get_u32(b + 8);
	if (version < 1 || version > FORMAT_VERSION)
		return r->err = gu_err(GU_EFORMAT, "%s: unsupported version %u (this build reads "
				       "versions 1 to %u)", path, version, FORMAT_VERSION);
	r->version = version;
	r->crc = gu_crc32(0, b, 12);
	if (r->left != UINT64_MAX) r->left -= 12;
	return 0;
}

/* Reads the CRC trailer, checks it and the end of the file, closes. */
static int rd_close(rd *r)
{
	if (!r->err) {
		uint32_t want = r->crc;
		unsigned char b[4];
		if (fread(b, 1, 4, r->fp) != 4) {
			rd_fail(r, GU_EFORMAT, "%s: truncated (in the %s)", "checksum");
		} else if (get_u32(b) != want) {
			rd_fail(r, GU_EFORMAT, "%s: checksum mismatch%s", "");
		} else if (fgetc(r->fp) != EOF) {
			rd_fail(r, GU_EFORMAT, "%s: trailing data after the checksum%s", "");
		}
	}
	if (r->fp && r->fp != stdin) fclose(r->fp);
	r->fp = NULL;
	return r->err;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The model body (see write_body); returns the model or NULL with r->err set. */
static gu_model *read_body(rd *r)
{
	gu_hparams hp;
	uint32_t iv[11];
	float fv[8];
	for (int i = 0; i < 11; i++) iv[i] = rd_u32(r, "hyperparameters");
	for (int i = 0; i < 8; i++) fv[i] = u32_float(rd_u32(r, "hyperparameters"));
	/* version 1 files predate the choice: the kmer output */
	hp.lm_output = r->version >= 2 ? (int32_t)rd_u32(r, "hyperparameters") : GU_LM_KMER;
	if (r->err) return NULL;
	hp.kind = (int32_t)iv[0], hp.k = (int32_t)iv[1], hp.stride = (int32_t)iv[2];
	hp.vocab_size = (int32_t)iv[3], hp.emb = (int32_t)iv[4], hp.hidden = (int32_t)iv[5];
	hp.n_layers = (int32_t)iv[6], hp.n_lin = (int32_t)iv[7], hp.n_classes = (int32_t)iv[8];
	hp.bptt = (int32_t)iv[9], hp.max_len = (int32_t)iv[10];
	hp.output_p = fv[0], hp.hidden_p = fv[1], hp.input_p = fv[2], hp.embed_p = fv[3];
	hp.weight_p = fv[4], hp.drop_mult = fv[5], hp.alpha = fv[6], hp.beta = fv[7];
	if (gu_hparams_check(&hp) < 0) {
		r->err = err_wrap(GU_EFORMAT, r->path, "bad hyperparameters");
		return NULL;
	}
	/* the vocabulary and the tensor data must fit in what remains before anything is
	 * allocated for them */
	uint64_t numel = gu_hparams_numel(&hp);
	if (rd_need(r, numel + (uint64_t)hp.vocab_size, 4, "tensor data") < 0) return NULL;

	gu_vocab *vocab = NULL;
	char **labels = NULL, **prov = NULL;
	uint32_t n_labels = 0, n_prov = 0;
	gu_model *m = NULL;
	uint32_t *codes = NULL, *sorted = NULL;

	uint32_t n_ids = rd_u32(r, "vocabulary");
	if (r->err) goto done;
	if (n_ids != (uint32_t)hp.vocab_size) {
		r->err = gu_err(GU_EFORMAT, "%s: vocabulary has %u ids, the hyperparameters say %d",
				r->path, n_ids, hp.vocab_size);
		goto done;
	}
	codes = gu_malloc((size_t)n_ids * 4);
	sorted = gu_malloc((size_t)n_ids * 4);
	if (!codes || !sorted) {
		r->err = GU_ENOMEM;
		goto done;
	}
	if (rd_bytes(r, codes, (size_t)n_ids * 4, "vocabulary") < 0) goto done;
	uint32_t unk = gu_kmer_unknown(hp.k);
	for (uint32_t i = 0; i < n_ids; i++) {
		codes[i] = get_u32((unsigned char *)&codes[i]);
		if (i < GU_N_SPECIAL ? codes[i] != unk : codes[i] >= unk) {
			r->err = gu_err(GU_EFORMAT, "%s: vocabulary id %u has bad k-mer code %u (k = %d)",
					r->path, i, codes[i], hp.k);
			goto done;
		}
	}
	memcpy(sorted, codes + GU_N_SPECIAL, (n_ids - GU_N_SPECIAL) * 4);
	qsort(sorted, n_ids - GU_N_SPECIAL, 4, cmp_u32);
	for (uint32_t i = 1; i < n_ids - GU_N_SPECIAL; i++)
		if (sorted[i] == sorted[i - 1]) {
			r->err = gu_err(GU_EFORMAT, "%s: vocabulary lists k-mer code %u twice", r->path,
					sorted[i]);
			goto done;
		}
	vocab = gu_vocab_from_codes(hp.k, hp.stride, codes + GU_N_SPECIAL,
				    (int32_t)(n_ids - GU_N_SPECIAL));
	if (!vocab) {
		r->err = err_wrap(GU_EFORMAT, r->path, "bad vocabulary");
		goto done;
	}

	n_labels = rd_u32(r, "label count");
	if (r->err) goto done;
	if (n_labels != (uint32_t)hp.n_classes) {
		r->err = gu_err(GU_EFORMAT, "%s: %u label names for %d classes", r->path, n_labels,
				hp.n_classes);
		goto done;
	}
	if (rd_need(r, n_labels, 5, "label names") < 0) goto done;
	if (n_labels && !(labels = gu_calloc(n_labels, sizeof(char *)))) {
		r->err = GU_ENOMEM;
		goto done;
	}
	for (uint32_t i = 0; i < n_labels; i++) {
		if (!(labels[i] = rd_str(r, MAX_LABEL, "label name"))) goto done;
		if (bad_label(labels[i])) {
			r->err = gu_err(GU_EFORMAT, "%s: label %u is empty or holds a tab or newline",
					r->path, i);
			goto done;
		}
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0) {
				r->err = gu_err(GU_EFORMAT, "%s: label '%s' appears twice", r->path,
						labels[i]);
				goto done;
			}
	}

	n_prov = rd_u32(r, "provenance count");
	if (rd_need(r, n_prov, 4, "provenance") < 0) goto done;
	if (n_prov && !(prov = gu_calloc(n_prov, sizeof(char *)))) {
		r->err = GU_ENOMEM;
		goto done;
	}
	for (uint32_t i = 0; i < n_prov; i++) {
		if (!(prov[i] = rd_str(r, MAX_STR, "provenance line"))) goto done;
		if (strchr(prov[i], '\n')) {
			r->err = gu_err(GU_EFORMAT, "%s: provenance line %u holds a newline", r->path, i);
			goto done;
		}
	}

	m = gu_model_new(&hp, vocab, (int)n_labels, labels);
	if (!m) {
		r->err = err_wrap(GU_EFORMAT, r->path, "");
		goto done;
	}
	vocab = NULL; /* owned by m */
	m->prov = prov, m->n_prov = (int)n_prov;
	prov = NULL, n_prov = 0;

	uint32_t nt = rd_u32(r, "tensor table");
	if (r->err) goto done;
	if (nt != (uint32_t)m->n_tensors) {
		r->err = gu_err(GU_EFORMAT, "%s: tensor table has %u entries, the hyperparameters "
				"give %d", r->path, nt, m->n_tensors);
		goto done;
	}
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		char *name = rd_str(r, 255, "tensor name");
		if (!name) goto done;
		int same = strcmp(name, t->name) == 0;
		if (!same) {
			r->err = gu_err(GU_EFORMAT, "%s: tensor %d is '%.64s', expected '%s'", r->path, i,
					name, t->name);
			free(name);
			goto done;
		}
		free(name);
		uint32_t ndim = rd_u32(r, "tensor table");
		if (r->err) goto done;
		if (ndim != (uint32_t)t->ndim) {
			r->err = gu_err(GU_EFORMAT, "%s: tensor %s has %u dimensions, expected %d",
					r->path, t->name, ndim, t->ndim);
			goto done;
		}
		for (int d = 0; d < t->ndim; d++) {
			uint64_t s = rd_u64(r, "tensor table");
			if (r->err) goto done;
			if (s != (uint64_t)t->shape[d]) {
				r->err = gu_err(GU_EFORMAT, "%s: tensor %s has size %llu in dimension %d, "
						"expected %lld", r->path, t->name,
						(unsigned long long)s, d, (long long)t->shape[d]);
				goto done;
			}
		}
	}
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		float *x = gu_tensor_data(m, t);
		if (rd_floats(r, x, t->numel, t->name) < 0) goto done;
		if (!all_finite(x, t->numel)) {
			r->err = gu_err(GU_EFORMAT, "%s: tensor %s holds NaN or inf", r->path, t->name);
			goto done;
		}
	}
done:
	free(codes);
	free(sorted);
	if (vocab) gu_vocab_free(vocab);
	for (uint32_t i = 0; labels && i < n_labels; i++) free(labels[i]);
	free(labels);
	for (uint32_t i = 0; prov && i < n_prov; i++) free(prov[i]);
	free(prov);
	if (r->err) {
		gu_model_free(m);
		return NULL;
	}
	return m;
}

gu_model *gu_model_read(const char *path)
{
	rd r;
	if (rd_open(&r, path, MODEL_MAGIC, CKPT_MAGIC, "model file", "checkpoint") < 0) {
		if (r.fp && r.fp != stdin) fclose(r.fp);
		return NULL;
	}
	gu_model *m = read_body(&r);
	if (rd_close(&r) < 0) {
		gu_model_free(m);
		return NULL;
	}
	return m;
}

static float *alloc_floats(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
	float *p = aligned_alloc(64, bytes ? bytes : 64);
	if (!p) {
		gu_err(GU_ENOMEM, "out of memory allocating %zu bytes", bytes);
		return NULL;
	}
	memset(p, 0, bytes ? bytes : 64);
	return p;
}

static int read_param_like(rd *r, const gu_model *m, float *x, const char *what)
{
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (t->buffer) continue;
		if (rd_floats(r, x + t->off, t->numel, what) < 0) return r->err;
		if (!all_finite(x + t->off, t->numel))
			return r->err = gu_err(GU_EFORMAT, "%s: %s of %s hold NaN or inf", r->path, what,
					       t->name);
	}
	return 0;
}

void gu_checkpoint_free(gu_checkpoint *ck)
{
	if (!ck) return;
	gu_model_free(ck->model);
	free(ck->adam_m);
	free(ck->adam_v);
	free(ck->group_steps);
	free(ck->trainer_state);
	memset(ck, 0, sizeof *ck);
}

int gu_checkpoint_read(const char *path, gu_checkpoint *ck)
{
	rd r;
	memset(ck, 0, sizeof *ck);
	if (rd_open(&r, path, CKPT_MAGIC, MODEL_MAGIC, "checkpoint", "model file") < 0) {
		if (r.fp && r.fp != stdin) fclose(r.fp);
		return r.err;
	}
	gu_model *m = ck->model = read_body(&r);
	if (!m) goto done;
	uint32_t ng = rd_u32(&r, "group step counts");
	if (r.err) goto done;
	if (ng != (uint32_t)m->n_groups) {
		r.err = gu_err(GU_EFORMAT, "%s: %u step counts for %d layer groups", path, ng,
			       m->n_groups);
		goto done;
	}
	if (!(ck->group_steps = gu_calloc(ng, sizeof(int64_t)))) {
		r.err = GU_ENOMEM;
		goto done;
	}
	for (uint32_t g = 0; g < ng && !r.err; g++) {
		uint64_t s = rd_u64(&r, "group step counts");
		if (!r.err && s > (uint64_t)INT64_MAX) {
			r.err = gu_err(GU_EFORMAT, "%s: negative step count in group %u", path, g);
			goto done;
		}
		ck->group_steps[g] = (int64_t)s;
	}
	uint64_t np = 0;
	for (int i = 0; i < m->n_tensors; i++)
		if (!m->tensors[i].buffer) np += m->tensors[i].numel;
	if (rd_need(&r, 2 * np, 4, "Adam moments") < 0) goto done;
	if (!(ck->adam_m = alloc_floats(m->n_params)) || !(ck->adam_v = alloc_floats(m->n_params))) {
		r.err = GU_ENOMEM;
		goto done;
	}
	if (read_param_like(&r, m, ck->adam_m, "first Adam moments") < 0) goto done;
	if (read_param_like(&r, m, ck->adam_v, "second Adam moments") < 0) goto done;
	uint64_t tl = rd_u64(&r, "trainer state length");
	if (rd_need(&r, tl, 1, "trainer state") < 0) goto done;
	if (tl > SIZE_MAX / 2) {
		r.err = gu_err(GU_EFORMAT, "%s: trainer state too long", path);
		goto done;
	}
	ck->trainer_len = (size_t)tl;
	if (tl) {
		if (!(ck->trainer_state = gu_malloc((size_t)tl))) {
			r.err = GU_ENOMEM;
			goto done;
		}
		rd_bytes(&r, ck->trainer_state, (size_t)tl, "trainer state");
	}
done:
	if (rd_close(&r) < 0) {
		gu_checkpoint_free(ck);
		return r.err;
	}
	return 0;
}
