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

static void progress(uint64_t records, uint64_t tokens, void *arg)
{
	(void)arg;
	fl_progress("%llu records, %llu tokens", (unsigned long long)records, (unsigned long long)tokens);
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

	uint64_t n_rec = 0, n_tok = 0;
	gu_vocab *v = gu_vocab_count(inputs, n_in, max_size, (uint64_t)min_count, progress, NULL, &n_rec, &n_tok);
	if (!v) fl_die("%s", gu_errmsg());
	if (gu_vocab_write(v, out) < 0) fl_die("%s", gu_errmsg());
	fl_close_stdout();
	fl_info("%llu records, %llu tokens -> %d ids (k=%d, stride=%d)", (unsigned long long)n_rec, (unsigned long long)n_tok, v->size,
		v->k, v->stride);
	fl_summary();
	gu_vocab_free(v);
	return 0;
}
