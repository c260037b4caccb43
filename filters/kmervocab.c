/* kmervocab: count k-mers over token streams and write the vocabulary; `kmervocab dump` prints
 * a stream as text. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void usage(FILE *fp)
{
	fprintf(fp,
		"Usage: kmervocab [options] [STREAM...]\n"
		"       kmervocab dump [STREAM...]\n"
		"Count the k-mers of token streams (man 5 tokstream; '-' or none for stdin) and write the\n"
		"vocabulary TSV: xxpad, xxunk, xxbos as ids 0-2, then k-mers by descending count (ties by\n"
		"code). `dump` prints every record as NAME<TAB>LABEL<TAB>TOKENS instead.\n\n"
		"Options:\n"
		"  -o FILE            output file, written atomically [stdout]\n"
		"  -M, --max-size INT at most INT ids in all, specials included [no limit]\n"
		"  -c, --min-count INT keep k-mers seen at least INT times [1]\n"
		"  -q                 quiet: no progress or summary\n"
		"  -h, --help         this help;  --version  print the version\n");
}

/* k-mer counts: dense for small k, open addressing above */
typedef struct {
	int k;
	uint64_t *dense; /* (4^k + 1) */
	uint32_t *keys;
	uint64_t *vals;
	size_t cap, used;
	uint64_t unk;
} counter_t;

static inline size_t hash32(uint32_t x)
{
	x ^= x >> 16, x *= 0x7feb352d, x ^= x >> 15, x *= 0x846ca68b, x ^= x >> 16;
	return x;
}

static void counter_init(counter_t *c, int k)
{
	memset(c, 0, sizeof *c);
	c->k = k;
	if (k <= 12) {
		c->dense = calloc((size_t)gu_kmer_unknown(k) + 1, sizeof *c->dense);
		if (!c->dense) fl_die("out of memory");
	} else {
		c->cap = 1 << 20;
		c->keys = malloc(c->cap * sizeof *c->keys);
		c->vals = calloc(c->cap, sizeof *c->vals);
		if (!c->keys || !c->vals) fl_die("out of memory");
		memset(c->keys, 0xff, c->cap * sizeof *c->keys);
	}
}

static void counter_grow(counter_t *c)
{
	counter_t n = *c;
	n.cap = c->cap * 2;
	n.keys = malloc(n.cap * sizeof *n.keys);
	n.vals = calloc(n.cap, sizeof *n.vals);
	if (!n.keys || !n.vals) fl_die("out of memory");
	memset(n.keys, 0xff, n.cap * sizeof *n.keys);
	for (size_t i = 0; i < c->cap; i++) {
		if (c->keys[i] == UINT32_MAX) continue;
		size_t h = hash32(c->keys[i]) & (n.cap - 1);
		while (n.keys[h] != UINT32_MAX) h = (h + 1) & (n.cap - 1);
		n.keys[h] = c->keys[i], n.vals[h] = c->vals[i];
	}
	free(c->keys);
	free(c->vals);
	*c = n;
}

static void counter_add(counter_t *c, const uint32_t *tok, size_t n)
{
	const uint32_t unk = gu_kmer_unknown(c->k);
	if (c->dense) {
		for (size_t i = 0; i < n; i++) c->dense[tok[i]]++;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (tok[i] == unk) {
			c->unk++;
			continue;
		}
		if (2 * (c->used + 1) > c->cap) counter_grow(c);
		size_t h = hash32(tok[i]) & (c->cap - 1);
		while (c->keys[h] != UINT32_MAX && c->keys[h] != tok[i]) h = (h + 1) & (c->cap - 1);
		if (c->keys[h] == UINT32_MAX) c->keys[h] = tok[i], c->used++;
		c->vals[h]++;
	}
}

static int dump(int n_in, char **inputs)
{
	char km[32];
	for (int f = 0; f < n_in; f++) {
		gu_tokreader *r = gu_tok_open(inputs[f]);
		if (!r) fl_die("%s", gu_errmsg());
		int k = gu_tok_k(r), ret;
		gu_record rec;
		/* precomputed strings for small k make dumping a genome bearable */
		char (*tab)[16] = NULL;
		if (k <= 8) {
			tab = malloc(((size_t)gu_kmer_unknown(k) + 1) * sizeof *tab);
			if (!tab) fl_die("out of memory");
			for (uint32_t c = 0; c <= gu_kmer_unknown(k); c++) gu_kmer_str(c, k, tab[c]);
		}
		while ((ret = gu_tok_read(r, &rec)) > 0) {
			const char *lab = rec.label >= 0 ? gu_tok_label(r, rec.label) : ".";
			fputs(rec.name, stdout);
			putchar('\t');
			fputs(lab, stdout);
			putchar('\t');
			for (size_t i = 0; i < rec.n; i++) {
				if (i) putchar(' ');
				fputs(tab ? tab[rec.tok[i]] : gu_kmer_str(rec.tok[i], k, km), stdout);
			}
			putchar('\n');
		}
		if (ret < 0) fl_die("%s", gu_errmsg());
		free(tab);
		gu_tok_close(r);
	}
	fl_close_stdout();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {{"max-size", required_argument, 0, 'M'},
					      {"min-count", required_argument, 0, 'c'},
					      {"help", no_argument, 0, 'h'},
					      {"version", no_argument, 0, 1},
					      {0, 0, 0, 0}};
	const char *out = "-";
	long max_size = 0, min_count = 1;
	int c, is_dump = 0;
	fl_init("kmervocab", argc, argv);
	if (argc > 1 && strcmp(argv[1], "dump") == 0) {
		is_dump = 1;
		argv++, argc--;
	}
	while ((c = getopt_long(argc, argv, "o:M:c:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'M': max_size = fl_parse_size(optarg, "--max-size", GU_N_SPECIAL, INT32_MAX); break;
		case 'c': min_count = fl_parse_size(optarg, "--min-count", 1, 1L << 62); break;
		case 'q': fl_quiet = 1; break;
		case 'h': usage(stdout); fl_close_stdout(); return 0;
		case 1: printf("kmervocab %s\n", GU_VERSION); fl_close_stdout(); return 0;
		default: fl_bad_option(argv);
		}
	}
	char *stdin_arg[] = {"-"};
	int n_in = argc - optind;
	char **inputs = n_in > 0 ? argv + optind : stdin_arg;
	if (n_in == 0) n_in = 1;
	if (is_dump) {
		if (strcmp(out, "-") != 0 || max_size || min_count != 1) fl_usage_error("dump takes no options but -q");
		return dump(n_in, inputs);
	}

	counter_t cnt;
	int k = 0, stride = 0;
	uint64_t n_rec = 0, n_tok = 0;
	for (int f = 0; f < n_in; f++) {
		gu_tokreader *r = gu_tok_open(inputs[f]);
		if (!r) fl_die("%s", gu_errmsg());
		if (f == 0) {
			k = gu_tok_k(r), stride = gu_tok_stride(r);
			counter_init(&cnt, k);
		} else if (gu_tok_k(r) != k || gu_tok_stride(r) != stride) {
			fl_die("%s: k=%d stride=%d, but %s has k=%d stride=%d", inputs[f], gu_tok_k(r), gu_tok_stride(r), inputs[0], k, stride);
		}
		gu_record rec;
		int ret;
		while ((ret = gu_tok_read(r, &rec)) > 0) {
			counter_add(&cnt, rec.tok, rec.n);
			n_rec++, n_tok += rec.n;
			fl_progress("%llu records, %llu tokens", (unsigned long long)n_rec, (unsigned long long)n_tok);
		}
		if (ret < 0) fl_die("%s", gu_errmsg());
		gu_tok_close(r);
	}
	/* gather (code, count) pairs */
	size_t n = cnt.dense ? (size_t)gu_kmer_unknown(k) : cnt.used, m = 0;
	uint32_t *codes = malloc((n ? n : 1) * sizeof *codes);
	uint64_t *counts = malloc((n ? n : 1) * sizeof *counts);
	if (!codes || !counts) fl_die("out of memory");
	if (cnt.dense) {
		for (uint32_t i = 0; i < gu_kmer_unknown(k); i++)
			if (cnt.dense[i]) codes[m] = i, counts[m++] = cnt.dense[i];
		cnt.unk = cnt.dense[gu_kmer_unknown(k)];
	} else {
		for (size_t i = 0; i < cnt.cap; i++)
			if (cnt.keys[i] != UINT32_MAX) codes[m] = cnt.keys[i], counts[m++] = cnt.vals[i];
	}
	gu_vocab *v = gu_vocab_build(k, stride, codes, counts, m, cnt.unk, max_size, (uint64_t)min_count);
	if (!v) fl_die("%s", gu_errmsg());
	if (gu_vocab_write(v, out) < 0) fl_die("%s", gu_errmsg());
	fl_close_stdout();
	fl_info("%llu records, %llu tokens, %zu distinct k-mers -> %d ids (k=%d, stride=%d)", (unsigned long long)n_rec,
		(unsigned long long)n_tok, m, v->size, k, stride);
	fl_summary();
	gu_vocab_free(v);
	free(codes);
	free(counts);
	free(cnt.dense);
	free(cnt.keys);
	free(cnt.vals);
	return 0;
}
