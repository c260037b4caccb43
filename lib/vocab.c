/* vocab.c: the k-mer vocabulary (ids 0 xxpad, 1 xxunk, 2 xxbos, then k-mers by count) and its
 * TSV file (format in man/kmervocab.1). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gulm.h"

#define DENSE_KMAX 12 /* 4^12 ids = 64 MiB of lookup; above that, a hash table */

static const char *special_name[GU_N_SPECIAL] = {"xxpad", "xxunk", "xxbos"};

static inline size_t hash32(uint32_t x)
{
	x ^= x >> 16, x *= 0x7feb352d, x ^= x >> 15, x *= 0x846ca68b, x ^= x >> 16;
	return x;
}

/* Allocates a vocab of size ids and fills specials; the caller fills ids >= 3, then index(). */
static gu_vocab *vocab_alloc(int k, int stride, int32_t size)
{
	gu_vocab *v = gu_calloc(1, sizeof *v);
	if (!v) return NULL;
	v->k = k, v->stride = stride, v->size = size;
	v->code = gu_calloc((size_t)size, sizeof *v->code);
	v->count = gu_calloc((size_t)size, sizeof *v->count);
	if (!v->code || !v->count) {
		gu_vocab_free(v);
		return NULL;
	}
	for (int i = 0; i < GU_N_SPECIAL; i++) v->code[i] = gu_kmer_unknown(k);
	return v;
}

/* Builds the code -> id lookup; fails on duplicate or out-of-range codes. */
static int vocab_index(gu_vocab *v)
{
	const uint32_t unk = gu_kmer_unknown(v->k);
	if (v->k <= DENSE_KMAX) {
		v->dense = gu_malloc(((size_t)unk + 1) * sizeof *v->dense);
		if (!v->dense) return GU_ENOMEM;
		for (size_t i = 0; i <= unk; i++) v->dense[i] = -1;
	} else {
		v->hcap = 16;
		while (v->hcap < 2 * (size_t)v->size) v->hcap *= 2;
		v->hkeys = gu_malloc(v->hcap * sizeof *v->hkeys);
		v->hvals = gu_malloc(v->hcap * sizeof *v->hvals);
		if (!v->hkeys || !v->hvals) return GU_ENOMEM;
		for (size_t i = 0; i < v->hcap; i++) v->hkeys[i] = UINT32_MAX;
	}
	for (int32_t id = GU_N_SPECIAL; id < v->size; id++) {
		uint32_t c = v->code[id];
		if (c >= unk) return gu_err(GU_EFORMAT, "vocabulary id %d: k-mer code %u out of range for k=%d", id, c, v->k);
		if (v->dense) {
			if (v->dense[c] >= 0) return gu_err(GU_EFORMAT, "vocabulary id %d: duplicate k-mer", id);
			v->dense[c] = id;
		} else {
			size_t h = hash32(c) & (v->hcap - 1);
			while (v->hkeys[h] != UINT32_MAX) {
				if (v->hkeys[h] == c) return gu_err(GU_EFORMAT, "vocabulary id %d: duplicate k-mer", id);
				h = (h + 1) & (v->hcap - 1);
			}
			v->hkeys[h] = c, v->hvals[h] = id;
		}
	}
	return 0;
}

int32_t gu_vocab_id(const gu_vocab *v, uint32_t code)
{
	if (v->dense) return code <= gu_kmer_unknown(v->k) && v->dense[code] >= 0 ? v->dense[code] : GU_UNK;
	size_t h = hash32(code) & (v->hcap - 1);
	while (v->hkeys[h] != UINT32_MAX) {
		if (v->hkeys[h] == code) return v->hvals[h];
		h = (h + 1) & (v->hcap - 1);
	}
	return GU_UNK;
}

typedef struct {
	uint32_t code;
	uint64_t count;
} kc_t;

static int cmp_kc(const void *a, const void *b)
{
	const kc_t *x = a, *y = b;
	if (x->count != y->count) return x->count > y->count ? -1 : 1;
	return x->code < y->code ? -1 : x->code > y->code;
}

gu_vocab *gu_vocab_build(int k, int stride, const uint32_t *codes, const uint64_t *counts, size_t n,
			 uint64_t unk_count, int64_t max_size, uint64_t min_count)
{
	if (k < 1 || k > GU_KMAX) {
		gu_err(GU_EARG, "k=%d out of range", k);
		return NULL;
	}
	kc_t *kc = gu_malloc((n ? n : 1) * sizeof *kc);
	if (!kc) return NULL;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (counts[i] > 0 && counts[i] >= min_count && codes[i] < gu_kmer_unknown(k))
			kc[m].code = codes[i], kc[m++].count = counts[i];
	qsort(kc, m, sizeof *kc, cmp_kc);
	if (max_size > 0 && (int64_t)m > max_size - GU_N_SPECIAL)
		m = max_size > GU_N_SPECIAL ? (size_t)(max_size - GU_N_SPECIAL) : 0;
	if (m > INT32_MAX - GU_N_SPECIAL) {
		free(kc);
		gu_err(GU_EARG, "vocabulary too large");
		return NULL;
	}
	gu_vocab *v = vocab_alloc(k, stride, (int32_t)m + GU_N_SPECIAL);
	if (v) {
		v->count[GU_UNK] = unk_count;
		for (size_t i = 0; i < m; i++) v->code[GU_N_SPECIAL + i] = kc[i].code, v->count[GU_N_SPECIAL + i] = kc[i].count;
		if (vocab_index(v) < 0) gu_vocab_free(v), v = NULL;
	}
	free(kc);
	return v;
}

/* k-mer counts: dense for k <= DENSE_KMAX, open addressing above */
typedef struct {
	int k;
	uint64_t *dense; /* (4^k + 1) */
	uint32_t *keys;
	uint64_t *vals;
	size_t cap, used;
	uint64_t unk;
} counter_t;

static int counter_init(counter_t *c, int k)
{
	memset(c, 0, sizeof *c);
	c->k = k;
	if (k <= DENSE_KMAX) return (c->dense = gu_calloc((size_t)gu_kmer_unknown(k) + 1, sizeof *c->dense)) ? 0 : GU_ENOMEM;
	c->cap = 1 << 20;
	c->keys = gu_malloc(c->cap * sizeof *c->keys);
	c->vals = gu_calloc(c->cap, sizeof *c->vals);
	if (!c->keys || !c->vals) return GU_ENOMEM;
	memset(c->keys, 0xff, c->cap * sizeof *c->keys);
	return 0;
}

static int counter_grow(counter_t *c)
{
	size_t cap = c->cap * 2;
	uint32_t *keys = gu_malloc(cap * sizeof *keys);
	uint64_t *vals = gu_calloc(cap, sizeof *vals);
	if (!keys || !vals) {
		free(keys), free(vals);
		return GU_ENOMEM;
	}
	memset(keys, 0xff, cap * sizeof *keys);
	for (size_t i = 0; i < c->cap; i++) {
		if (c->keys[i] == UINT32_MAX) continue;
		size_t h = hash32(c->keys[i]) & (cap - 1);
		while (keys[h] != UINT32_MAX) h = (h + 1) & (cap - 1);
		keys[h] = c->keys[i], vals[h] = c->vals[i];
	}
	free(c->keys), free(c->vals);
	c->keys = keys, c->vals = vals, c->cap = cap;
	return 0;
}

static int counter_add(counter_t *c, const uint32_t *tok, size_t n)
{
	const uint32_t unk = gu_kmer_unknown(c->k);
	if (c->dense) {
		for (size_t i = 0; i < n; i++) c->dense[tok[i]]++;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (tok[i] == unk) {
			c->unk++;
			continue;
		}
		if (2 * (c->used + 1) > c->cap && counter_grow(c) < 0) return GU_ENOMEM;
		size_t h = hash32(tok[i]) & (c->cap - 1);
		while (c->keys[h] != UINT32_MAX && c->keys[h] != tok[i]) h = (h + 1) & (c->cap - 1);
		if (c->keys[h] == UINT32_MAX) c->keys[h] = tok[i], c->used++;
		c->vals[h]++;
	}
	return 0;
}

gu_vocab *gu_vocab_count(char *const *paths, int n_paths, int64_t max_size, uint64_t min_count,
			 void (*progress)(uint64_t records, uint64_t tokens, void *arg), void *arg,
			 uint64_t *n_records, uint64_t *n_tokens)
{
	counter_t cnt = {0};
	int k = 0, stride = 0, ret = 0;
	uint64_t n_rec = 0, n_tok = 0;
	gu_vocab *v = NULL;
	uint32_t *codes = NULL;
	uint64_t *counts = NULL;
	for (int f = 0; f < n_paths && ret >= 0; f++) {
		gu_tokreader *r = gu_tok_open(paths[f]);
		if (!r) goto out;
		if (f == 0) {
			k = gu_tok_k(r), stride = gu_tok_stride(r);
			ret = counter_init(&cnt, k);
		} else if (gu_tok_k(r) != k || gu_tok_stride(r) != stride) {
			ret = gu_err(GU_EARG, "%s: k=%d stride=%d, but %s has k=%d stride=%d", paths[f], gu_tok_k(r), gu_tok_stride(r), paths[0], k, stride);
		}
		gu_record rec;
		while (ret >= 0 && (ret = gu_tok_read(r, &rec)) > 0) {
			ret = counter_add(&cnt, rec.tok, rec.n);
			n_rec++, n_tok += rec.n;
			if (progress) progress(n_rec, n_tok, arg);
		}
		gu_tok_close(r);
	}
	if (ret < 0) goto out;
	size_t n = cnt.dense ? (size_t)gu_kmer_unknown(k) : cnt.used, m = 0;
	codes = gu_malloc((n ? n : 1) * sizeof *codes);
	counts = gu_malloc((n ? n : 1) * sizeof *counts);
	if (!codes || !counts) goto out;
	if (cnt.dense) {
		for (uint32_t i = 0; i < gu_kmer_unknown(k); i++)
			if (cnt.dense[i]) codes[m] = i, counts[m++] = cnt.dense[i];
		cnt.unk = cnt.dense[gu_kmer_unknown(k)];
	} else {
		for (size_t i = 0; i < cnt.cap; i++)
			if (cnt.keys[i] != UINT32_MAX) codes[m] = cnt.keys[i], counts[m++] = cnt.vals[i];
	}
	v = gu_vocab_build(k, stride, codes, counts, m, cnt.unk, max_size, min_count);
	if (n_records) *n_records = n_rec;
	if (n_tokens) *n_tokens = n_tok;
out:
	free(codes), free(counts);
	free(cnt.dense), free(cnt.keys), free(cnt.vals);
	return v;
}

gu_vocab *gu_vocab_from_codes(int k, int stride, const uint32_t *codes, int32_t n_kmers)
{
	if (k < 1 || k > GU_KMAX || n_kmers < 0 || n_kmers > INT32_MAX - GU_N_SPECIAL) {
		gu_err(GU_EARG, "bad vocabulary (k=%d, %d k-mers)", k, n_kmers);
		return NULL;
	}
	gu_vocab *v = vocab_alloc(k, stride, n_kmers + GU_N_SPECIAL);
	if (!v) return NULL;
	memcpy(v->code + GU_N_SPECIAL, codes, (size_t)n_kmers * sizeof *codes);
	if (vocab_index(v) < 0) {
		gu_vocab_free(v);
		return NULL;
	}
	return v;
}

int gu_vocab_write(const gu_vocab *v, const char *path)
{
	gu_out *o = gu_out_open(path);
	if (!o) return GU_EIO;
	char line[128], km[32];
	int n = snprintf(line, sizeof line, "# gulm-vocab 1 k=%d stride=%d size=%d\n#id\ttoken\tcount\n", v->k, v->stride, v->size);
	int ret = gu_out_write(o, line, (size_t)n);
	for (int32_t id = 0; id < v->size && ret >= 0; id++) {
		const char *tok = id < GU_N_SPECIAL ? special_name[id] : gu_kmer_str(v->code[id], v->k, km);
		n = snprintf(line, sizeof line, "%d\t%s\t%llu\n", id, tok, (unsigned long long)v->count[id]);
		ret = gu_out_write(o, line, (size_t)n);
	}
	int cret = gu_out_close(o, ret < 0);
	return ret < 0 ? ret : cret;
}

gu_vocab *gu_vocab_read(const char *path)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!fp) {
		gu_err(GU_EIO, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	gu_vocab *v = NULL;
	char line[1024];
	int k = 0, stride = 0, size = 0;
	long lineno = 1;
	if (!fgets(line, sizeof line, fp) || sscanf(line, "# gulm-vocab 1 k=%d stride=%d size=%d", &k, &stride, &size) != 3) {
		gu_err(GU_EFORMAT, "%s: line 1: not a vocabulary (expected '# gulm-vocab 1 k=K stride=S size=N')", path);
		goto out;
	}
	if (k < 1 || k > GU_KMAX || stride < 1 || size < GU_N_SPECIAL || (k <= DENSE_KMAX && (uint64_t)size > gu_kmer_unknown(k) + GU_N_SPECIAL)) {
		gu_err(GU_EFORMAT, "%s: line 1: k=%d stride=%d size=%d out of range", path, k, stride, size);
		goto out;
	}
	if (!(v = vocab_alloc(k, stride, size))) goto out;
	int32_t id = 0;
	while (fgets(line, sizeof line, fp)) {
		lineno++;
		if (line[0] == '#') continue;
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			gu_err(GU_EFORMAT, "%s: line %ld: line too long or missing newline", path, lineno);
			goto fail;
		}
		char tok[64];
		long got_id;
		unsigned long long cnt;
		if (sscanf(line, "%ld\t%63[^\t]\t%llu", &got_id, tok, &cnt) != 3) {
			gu_err(GU_EFORMAT, "%s: line %ld: expected 'id<TAB>token<TAB>count'", path, lineno);
			goto fail;
		}
		if (got_id != id || id >= size) {
			gu_err(GU_EFORMAT, "%s: line %ld: id %ld out of order or beyond size %d", path, lineno, got_id, size);
			goto fail;
		}
		if (id < GU_N_SPECIAL) {
			if (strcmp(tok, special_name[id]) != 0) {
				gu_err(GU_EFORMAT, "%s: line %ld: id %d must be %s", path, lineno, id, special_name[id]);
				goto fail;
			}
		} else {
			int64_t c = (int64_t)strlen(tok) == k ? gu_kmer_parse(tok, k) : -1;
			if (c < 0) {
				gu_err(GU_EFORMAT, "%s: line %ld: '%s' is not a %d-mer", path, lineno, tok, k);
				goto fail;
			}
			v->code[id] = (uint32_t)c;
		}
		v->count[id++] = cnt;
	}
	if (ferror(fp)) {
		gu_err(GU_EIO, "%s: read error: %s", path, strerror(errno));
		goto fail;
	}
	if (id != size) {
		gu_err(GU_EFORMAT, "%s: truncated: %d of %d ids", path, id, size);
		goto fail;
	}
	if (vocab_index(v) < 0) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", gu_errmsg());
		gu_err(GU_EFORMAT, "%s: %s", path, msg);
		goto fail;
	}
	goto out;
fail:
	gu_vocab_free(v);
	v = NULL;
out:
	if (fp != stdin) fclose(fp);
	return v;
}

void gu_vocab_free(gu_vocab *v)
{
	if (!v) return;
	free(v->code);
	free(v->count);
	free(v->dense);
	free(v->hkeys);
	free(v->hvals);
	free(v);
}
