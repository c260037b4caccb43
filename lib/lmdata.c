/* lmdata.c: language-model corpora held in memory as vocabulary ids, and the reference's
 * contiguous-stream batches (REFERENCE-SEMANTICS 4). */
#include <stdlib.h>
#include <string.h>

#include "gulm.h"

int gu_corpus_load(gu_corpus *c, const gu_vocab *v, char *const *paths, int n_paths,
		   uint64_t max_tokens)
{
	memset(c, 0, sizeof *c);
	size_t cap = 0, dcap = 0;
	int ret = 0;
	for (int f = 0; f < n_paths && ret >= 0; f++) {
		gu_tokreader *r = gu_tok_open(paths[f]);
		if (!r) {
			ret = GU_EIO;
			break;
		}
		if (gu_tok_k(r) != v->k || gu_tok_stride(r) != v->stride) {
			ret = gu_err(GU_EARG, "%s: k=%d stride=%d, but the vocabulary has k=%d stride=%d", paths[f],
				     gu_tok_k(r), gu_tok_stride(r), v->k, v->stride);
			gu_tok_close(r);
			break;
		}
		gu_record rec;
		while ((ret = gu_tok_read(r, &rec)) > 0) {
			if (rec.n == 0) continue;
			if (max_tokens && c->n + c->n_docs + rec.n + 1 > max_tokens) {
				ret = gu_err(GU_ENOMEM, "%s: the corpus exceeds the memory budget of %llu tokens", paths[f],
					     (unsigned long long)max_tokens);
				break;
			}
			if (c->n + rec.n > cap) {
				size_t nc = cap ? cap : 1 << 20;
				while (nc < c->n + rec.n) nc *= 2;
				int32_t *p = gu_realloc(c->ids, nc * sizeof *p);
				if (!p) {
					ret = GU_ENOMEM;
					break;
				}
				c->ids = p, cap = nc;
			}
			if (c->n_docs + 2 > dcap) {
				size_t nc = dcap ? 2 * dcap : 1024;
				size_t *p = gu_realloc(c->start, nc * sizeof *p);
				if (!p) {
					ret = GU_ENOMEM;
					break;
				}
				c->start = p, dcap = nc;
			}
			c->start[c->n_docs++] = c->n;
			int32_t *dst = c->ids + c->n;
			for (size_t i = 0; i < rec.n; i++) {
				dst[i] = gu_vocab_id(v, rec.tok[i]);
				c->n_unk += dst[i] == GU_UNK;
			}
			c->n += rec.n;
		}
		gu_tok_close(r);
	}
	if (ret >= 0 && c->n == 0) ret = gu_err(GU_EARG, "%s%s: no tokens (empty corpus)", paths[0], n_paths > 1 ? " ..." : "");
	if (ret < 0) {
		gu_corpus_free(c);
		return ret;
	}
	if (!c->start && !(c->start = gu_malloc(sizeof *c->start))) return GU_ENOMEM;
	c->start[c->n_docs] = c->n;
	return 0;
}

void gu_corpus_free(gu_corpus *c)
{
	free(c->ids);
	free(c->start);
	memset(c, 0, sizeof *c);
}

void gu_corpus_epoch(const gu_corpus *c, int32_t *S, const uint32_t *perm)
{
	size_t j = 0;
	for (size_t d = 0; d < c->n_docs; d++) {
		size_t i = perm ? perm[d] : d;
		size_t len = c->start[i + 1] - c->start[i];
		S[j++] = GU_BOS;
		memcpy(S + j, c->ids + c->start[i], len * sizeof *S);
		j += len;
	}
}

int64_t gu_lm_n_batches(size_t N, int B, int T)
{
	uint64_t per = (uint64_t)B * (uint64_t)T;
	return (int64_t)((N + per - 1) / per);
}

void gu_lm_batch(int32_t *x, int32_t *y, const int32_t *S, size_t N, int B, int T, int64_t k)
{
	const double per_row = (double)N / (double)B; /* as the reference: N/B in double, truncated */
	for (int b = 0; b < B; b++) {
		size_t pos = ((size_t)((double)b * per_row) + (size_t)k * (size_t)T) % N;
		for (int t = 0; t < T; t++) {
			x[(size_t)t * B + b] = S[pos];
			pos = pos + 1 == N ? 0 : pos + 1;
			y[(size_t)t * B + b] = S[pos];
		}
	}
}
