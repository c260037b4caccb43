/* markov.c: the count-based baseline the language models must beat: order-j Markov models of DNA
 * bases (j = 0..K) with add-one smoothing, counted on training FASTA and scored on a validation
 * FASTA in bits per base.
 *
 *   markov [-k MAXORDER] [-r] [-q] TRAIN.fa[.gz] [TRAIN2...] -V VALID.fa[.gz]
 *
 * Counting: cnt[j] holds, for every context of j bases and next base b, the number of (j+1)-base
 * windows of the training sequence(s) that read ctx.b (index ctx * 4 + b, bases A=0 C=1 G=2 T=3,
 * first base most significant); windows holding a non-ACGT letter (case folded) are skipped.
 * One pass over the sequence updates every order from a rolling code of the last K+1 bases.
 * With -r the reverse complement of every training sequence is counted too.
 *
 * Scoring: P(b | ctx) = (cnt[j][ctx.b] + 1) / (sum_b' cnt[j][ctx.b'] + 4). Every order is scored
 * on the same positions: those whose base and K preceding bases are all ACGT (so the first K bases
 * of each validation record, and K bases after each non-ACGT letter, are not predicted).
 * Output (stdout, TSV): order, bits_per_base, predicted_bases; the best order goes to stderr. */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/hts.h>

#include "common.h"
#include "seqfile.h"

#define PROG "markov"
#define MAX_ORDER 13 /* order 13: 4^14 uint32 counts = 1.07 GB */

typedef struct {
	int k, revcomp;
	const char *valid;
	char **train;
	int n_train;
} opts_t;

typedef struct {
	int k;
	uint32_t *cnt[MAX_ORDER + 1]; /* cnt[j]: (4^j contexts, 4 next bases) */
	uint64_t mask[MAX_ORDER + 1]; /* mask[j] = 4^(j+1) - 1: the last j+1 bases of the rolling code */
	uint64_t n_windows;           /* order-0 windows counted (ACGT bases), bounds every count */
	double bits[MAX_ORDER + 1];   /* validation: summed -log2 P per order */
	uint64_t n_pred;              /* validation positions scored */
} markov_t;

static int8_t base_code[256]; /* A/a=0 C/c=1 G/g=2 T/t=3, anything else -1 */

/* log2 of small integers from a table: scoring calls it twice per position and order */
#define LOG2_TAB 65536
static double log2_tab[LOG2_TAB];

static inline double log2_count(uint64_t x) { return x < LOG2_TAB ? log2_tab[x] : log2((double)x); }

static void init_base_code(void)
{
	memset(base_code, -1, sizeof base_code);
	base_code['A'] = base_code['a'] = 0;
	base_code['C'] = base_code['c'] = 1;
	base_code['G'] = base_code['g'] = 2;
	base_code['T'] = base_code['t'] = 3;
	log2_tab[0] = -INFINITY;
	for (int i = 1; i < LOG2_TAB; i++) log2_tab[i] = log2((double)i);
}

static void usage(FILE *fp, const opts_t *o)
{
	fprintf(fp,
		"Usage: %s [options] TRAIN.fa[.gz] [TRAIN2...] -V VALID.fa[.gz]\n"
		"Order-j Markov models of DNA bases (j = 0..K, add-one smoothing) counted on the training\n"
		"FASTA and scored on the validation FASTA in bits per base. Windows holding a non-ACGT\n"
		"letter are skipped; every order is scored on the validation positions whose base and K\n"
		"preceding bases are ACGT. Prints 'order<TAB>bits_per_base<TAB>predicted_bases' on stdout\n"
		"and the best order on stderr.\n\n"
		"  -V FILE     validation FASTA (plain or gzip; required)\n"
		"  -k INT      highest order K, 0..%d (order j needs 4^(j+1) x 4 bytes) [%d]\n"
		"  -r          also count the reverse complement of the training sequences\n"
		"  -q          quiet: errors only on stderr\n"
		"  -h, --help  this help;  --version  print the version\n",
		PROG, MAX_ORDER, o->k);
}

/* Walks the ACGT runs of s. train: counts every window of length 1..K+1 ending at each base;
 * otherwise adds the cost of every base with K preceding ACGT bases, for every order. */
static void walk_seq(markov_t *m, const char *s, size_t len, int train)
{
	const int kk = m->k + 1;
	const uint64_t full = m->mask[m->k];
	uint64_t code = 0;
	int run = 0; /* ACGT bases ending here, capped at K+1 */
	for (size_t i = 0; i < len; i++) {
		int b = base_code[(unsigned char)s[i]];
		if (b < 0) {
			run = 0;
			continue;
		}
		code = ((code << 2) | (uint64_t)b) & full;
		if (run < kk) run++;
		if (train) {
			m->n_windows++;
			for (int j = 0; j < run; j++) m->cnt[j][code & m->mask[j]]++;
			continue;
		}
		if (run < kk) continue;
		m->n_pred++;
		for (int j = 0; j <= m->k; j++) {
			uint64_t idx = code & m->mask[j];
			const uint32_t *c = m->cnt[j] + (idx & ~(uint64_t)3);
			uint64_t tot = (uint64_t)c[0] + c[1] + c[2] + c[3];
			m->bits[j] += log2_count(tot + 4) - log2_count((uint64_t)m->cnt[j][idx] + 1);
		}
	}
}

static void revcomp(char *dst, const char *src, size_t len)
{
	static const char comp[4] = {'T', 'G', 'C', 'A'};
	for (size_t i = 0; i < len; i++) {
		int b = base_code[(unsigned char)src[len - 1 - i]];
		dst[i] = b < 0 ? 'N' : comp[b];
	}
}

/* Streams the records of file through walk_seq: counting (train) or scoring. */
static void process_file(markov_t *m, const char *file, int train, int rc)
{
	double t0 = gu_realtime();
	fl_seqfile *f = fl_seq_open(file, 1);
	char *rcbuf = NULL;
	size_t rc_cap = 0;
	uint64_t n_bases = 0;
	while (fl_seq_read(f)) {
		size_t len = f->len;
		n_bases += len;
		if (!train) {
			walk_seq(m, f->seq, len, 0);
			continue;
		}
		/* every count is at most the number of order-0 windows */
		if (m->n_windows + (uint64_t)len * (rc ? 2 : 1) > UINT32_MAX)
			fl_die("%s: training data too large for 32-bit counts (over %u bases)", file, UINT32_MAX);
		walk_seq(m, f->seq, len, 1);
		if (rc) {
			if (len > rc_cap) {
				free(rcbuf);
				rc_cap = len;
				if (!(rcbuf = malloc(rc_cap))) fl_die("out of memory (%zu bytes)", rc_cap);
			}
			revcomp(rcbuf, f->seq, len);
			walk_seq(m, rcbuf, len, 1);
		}
	}
	uint64_t n_rec = f->n_records;
	fl_seq_close(f);
	free(rcbuf);
	fl_info("%s %s: %llu records, %.3f Mb in %.1f s", train ? "counted" : "scored", file,
		(unsigned long long)n_rec, n_bases / 1e6, gu_realtime() - t0);
}

int main(int argc, char **argv)
{
	opts_t o = {.k = 12};
	static const struct option lopts[] = {
		{"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 1}, {0, 0, 0, 0}};
	fl_init(PROG, argc, argv);
	hts_set_log_level(HTS_LOG_OFF); /* our messages name the file */
	int c;
	while ((c = getopt_long(argc, argv, "k:V:rqh", lopts, NULL)) != -1) {
		switch (c) {
		case 'k': o.k = (int)fl_parse_long(optarg, "-k", 0, MAX_ORDER); break;
		case 'V':
			if (o.valid) fl_usage_error("-V given twice");
			o.valid = optarg;
			break;
		case 'r': o.revcomp = 1; break;
		case 'q': fl_quiet = 1; break;
		case 'h':
			usage(stdout, &o);
			fl_close_stdout();
			return 0;
		case 1: printf("%s %s\n", PROG, GU_VERSION); return 0;
		default:
			fl_bad_option(argv);
		}
	}
	o.train = argv + optind;
	o.n_train = argc - optind;
	if (o.n_train == 0) fl_usage_error("no training FASTA given");
	if (!o.valid) fl_usage_error("no validation FASTA given (-V FILE)");
	int n_stdin = strcmp(o.valid, "-") == 0;
	for (int i = 0; i < o.n_train; i++) n_stdin += strcmp(o.train[i], "-") == 0;
	if (n_stdin > 1) fl_usage_error("'-' (stdin) can be given only once");

	/* a missing input fails now, not after minutes of counting */
	for (int i = 0; i <= o.n_train; i++) {
		const char *f = i < o.n_train ? o.train[i] : o.valid;
		if (strcmp(f, "-") == 0) continue;
		fl_seq_close(fl_seq_open(f, 1));
	}

	double t0 = gu_realtime();
	init_base_code();
	markov_t m = {.k = o.k};
	size_t bytes = 0;
	for (int j = 0; j <= o.k; j++) {
		size_t n = (size_t)1 << (2 * (j + 1));
		m.mask[j] = n - 1;
		/* calloc: pages of contexts never seen stay unmapped */
		if (!(m.cnt[j] = calloc(n, sizeof(uint32_t)))) fl_die("out of memory (order %d: %zu bytes)", j, n * sizeof(uint32_t));
		bytes += n * sizeof(uint32_t);
	}
	fl_info("orders 0..%d, %.1f MB of counts%s", o.k, bytes / 1e6, o.revcomp ? ", both strands" : "");
	for (int i = 0; i < o.n_train; i++) process_file(&m, o.train[i], 1, o.revcomp);
	process_file(&m, o.valid, 0, 0);
	if (m.n_pred == 0) fl_die("%s: no position has %d preceding ACGT bases: nothing to score (try a smaller -k)", o.valid, o.k);

	int best = 0;
	printf("order\tbits_per_base\tpredicted_bases\n");
	for (int j = 0; j <= o.k; j++) {
		double bpb = m.bits[j] / (double)m.n_pred;
		if (bpb < m.bits[best] / (double)m.n_pred) best = j;
		printf("%d\t%.6f\t%llu\n", j, bpb, (unsigned long long)m.n_pred);
	}
	fl_close_stdout();
	fl_info("best order %d: %.4f bits per base on %llu bases (%llu training windows; %.1f s, peak RSS %.0f MB)", best,
		m.bits[best] / (double)m.n_pred, (unsigned long long)m.n_pred, (unsigned long long)m.n_windows,
	     gu_realtime() - t0, gu_peak_rss_kb() / 1e3);
	for (int j = 0; j <= o.k; j++) free(m.cnt[j]);
	return 0;
}
