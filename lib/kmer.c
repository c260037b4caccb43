/* kmer.c: k-mer codes (A=0 C=1 G=2 T=3, first base most significant) and tokenisation. */
#include <string.h>

#include "gulm.h"

/* 0..3 for ACGT in either case, 4 for every other byte */
static const unsigned char base_code[256] = {
	['A'] = 0, ['C'] = 1, ['G'] = 2, ['T'] = 3, ['a'] = 0, ['c'] = 1, ['g'] = 2, ['t'] = 3,
};
static unsigned char code_of[256];
static int code_of_ready;

static void init_code_of(void)
{
	/* base_code leaves every other byte at 0; mark them 4 here once */
	for (int i = 0; i < 256; i++) code_of[i] = 4;
	for (const char *p = "ACGTacgt"; *p; p++) code_of[(unsigned char)*p] = base_code[(unsigned char)*p];
	code_of_ready = 1;
}

char *gu_kmer_str(uint32_t code, int k, char *buf)
{
	if (k < 1 || k > GU_KMAX || code >= gu_kmer_unknown(k)) {
		strcpy(buf, "xxunk");
		return buf;
	}
	for (int i = k - 1; i >= 0; i--, code >>= 2) buf[i] = "ACGT"[code & 3];
	buf[k] = '\0';
	return buf;
}

int64_t gu_kmer_parse(const char *s, int k)
{
	if (!code_of_ready) init_code_of();
	if (k < 1 || k > GU_KMAX) return -1;
	int64_t code = 0;
	for (int i = 0; i < k; i++) {
		unsigned v = code_of[(unsigned char)s[i]];
		if (v > 3) return -1;
		code = code << 2 | v;
	}
	return s[k] == '\0' ? code : -1;
}

void gu_kmer_revcomp(char *dst, const char *src, size_t len)
{
	static const char comp[5] = {'T', 'G', 'C', 'A', 'N'};
	if (!code_of_ready) init_code_of();
	for (size_t i = 0; i < len; i++) dst[len - 1 - i] = comp[code_of[(unsigned char)src[i]]];
}

size_t gu_kmer_tokenise(uint32_t *out, const char *seq, size_t len, int k, int stride)
{
	if (!code_of_ready) init_code_of();
	size_t n = gu_kmer_count(len, k, stride);
	if (n == 0) return 0;
	const uint32_t mask = gu_kmer_unknown(k) - 1, unk = gu_kmer_unknown(k);
	const unsigned char *s = (const unsigned char *)seq;
	if (stride == 1) {
		/* rolling code; run = consecutive ACGT bases ending here */
		uint32_t code = 0;
		int run = 0;
		size_t i = 0, j = 0;
		/* branch-free body: a non-ACGT base restarts the run (its 2 bits are never used) */
		for (; i + 1 < (size_t)k; i++) {
			unsigned v = code_of[s[i]];
			code = ((code << 2) | (v & 3)) & mask;
			run = v < 4 ? run + 1 : 0;
		}
		for (; i < len; i++) {
			unsigned v = code_of[s[i]];
			code = ((code << 2) | (v & 3)) & mask;
			run = v < 4 ? (run < k ? run + 1 : k) : 0;
			out[j++] = run >= k ? code : unk;
		}
		return j;
	}
	/* strided: build each k-mer on its own (stride may exceed k) */
	for (size_t j = 0; j < n; j++) {
		const unsigned char *p = s + j * (size_t)stride;
		uint32_t code = 0;
		unsigned bad = 0;
		for (int i = 0; i < k; i++) {
			unsigned v = code_of[p[i]];
			bad |= v >> 2;
			code = code << 2 | (v & 3);
		}
		out[j] = bad ? unk : code;
	}
	return n;
}
