/* lncbaseline.c: the classical baseline of the lncRNA benchmark (issue 6, part 3), measured on
 * the same splits as the ULMFiT classifiers: an L2-regularised logistic regression on the
 * coding-potential features that ORF-based tools (CPAT and kin) use, trained on the training
 * set, its penalty chosen on the validation set, scored on any other sets.
 *
 *   lncbaseline [options] DIR [SET...]
 *
 * DIR holds POS.NAME.fa[.gz] and NEG.NAME.fa[.gz] for NAME = train, valid and each SET (POS,
 * NEG: --pos mRNA, --neg lncRNA, the layout of ../shared/data/lncrna). Letters are case-folded,
 * U read as T; anything but ACGT breaks codons and k-mers.
 *
 * Features of a transcript of L bases (all of them computed on the forward strand), by group:
 *   coverage  log_len = ln L; orf_cov = ORF bases / L and orf_start = its start / L (1 without
 *             an ORF), of the longest ORF over the three frames: an ATG up to and including the
 *             first stop codon in frame (TAA, TAG, TGA), or to the last whole codon when none
 *             follows (the first of equally long ones). Together with orf_len these give the
 *             ORF's share of the transcript, the feature that the challenge set is built to
 *             mislead: leaving this group out (-g orf,fickett,...) makes a coverage-blind model.
 *   orf       orf_len = ln(1 + ORF bases), orf_stop = 1 when it ends in a stop codon.
 *   fickett   the eight statistics of Fickett's TESTCODE on the ORF (the whole transcript when
 *             it has none): for each base the position value max/(min + 1) of its counts at the
 *             three codon positions, and its share of the bases. The regression weighs them;
 *             Fickett's published lookup tables are not used.
 *   hexamer   CPAT's hexamer score: the mean over the ORF's in-frame hexamers of
 *             ln(P_pos(h) / P_neg(h)), P the in-frame hexamer frequencies (add-one) of the
 *             longest ORFs of the training transcripts of each class. A training transcript is
 *             scored with the tables of the other half of the training set (records alternate
 *             between two halves), so that its own hexamers do not vouch for it; other sets with
 *             the tables of the whole training set.
 *   kmer      the 1-, 2- and 3-mer frequencies of the whole transcript (84).
 *   codon     the codon usage of the ORF (64 in-frame codon frequencies).
 *   segment   the best coding segment, found without ATG or stop codons: over the three frames,
 *             the run of consecutive in-frame hexamers with the largest sum of the same
 *             ln(P_pos(h) / P_neg(h)) (Kadane's scan); ln(1 + sum), the sum per hexamer, and
 *             ln(1 + hexamers). It finds a coding region that is not the longest ORF and
 *             measures it whatever the transcript's length.
 *   kmer4     the 4-mer frequencies of the whole transcript (256); off by default.
 *   start     the longest ORF's ATG in its context: 1 when base -3 is a purine (Kozak), 0 when
 *             not, 0.5 without that base or an ORF; ln(1 + ATGs upstream of it, any frame), as
 *             a scanning ribosome would meet them first: 5' leaders of mRNAs are poor in them.
 *
 * -g LIST keeps only those groups (default: all but kmer4, which raised the validation
 * log-loss, 0.0886 against 0.0984; start lowered it to 0.0776): the others are 0 for every
 * record, so the regression cannot use them.
 *
 * --balance-orf weighs the training records so that the longest ORF's length alone tells
 * nothing of the class (orf_balance_weights). On the real splits this lowered every set's
 * accuracy (2026-12-05: 0.941 / 0.783 / 0.884 on test / challenge / mouse): it is kept as a
 * measured negative result.
 *
 * --boost replaces the regression by gradient-boosted trees on the same features (boost_fit;
 * the depth, 1 to 4, and the number of trees chosen on the validation log-loss). On the real
 * splits they won on validation (log-loss 0.0551 against 0.0776) but leant on ORF coverage even
 * more and fell to 0.527 on challenge (2026-12-05: 0.980 / 0.527 / 0.925 on test / challenge /
 * mouse): kept as a measured negative result.
 *
 * Each feature is standardised by its training mean and standard deviation. The regression
 * minimises the summed log-loss + lambda/2 |w|^2 (the bias unpenalised) by Newton's method with
 * step halving, for lambda = 10^(j/2), j = -4..8; the lambda with the lowest validation log-loss
 * is kept. P(POS) > 0.5 predicts POS.
 *
 * --stack PREFIX adds a hybrid: another classifier's predictions of each set, PREFIX.NAME.tsv as
 * clspredict writes them (say a ULMFiT ensemble's, valid's included), and the baseline's, joined
 * by a second logistic regression fit on the validation set: logit P = a * baseline logit +
 * b * logit of the other P(POS) + c (lambda 1, the bias unpenalised). --stack-hard fits it on
 * valid's challenge-like records only (challenge_like); on the real splits that changed nothing
 * that matters (challenge 0.843 against 0.845 with ensemble-h8). --hard prints those records of
 * train and of valid instead of fitting: the pipelines' LN_HARD trains classifiers on them.
 *
 * Output: a table on stdout (set, model, n, accuracy, MCC, ROC-AUC, log-loss) for valid and each
 * SET: the baseline, and with --stack the input classifier alone (stacked_input) and the hybrid.
 * With -o PREFIX, for each of those sets and of baseline and hybrid, PREFIX.MODEL.SET.tsv
 * (predictions as clspredict writes them), PREFIX.MODEL.SET.metrics and PREFIX.MODEL.SET.roc
 * (clspredict's --metrics and --roc files), and PREFIX.weights.tsv (each feature's mean, sd
 * and weight, the bias, lambda, and the hybrid's three weights) or, with --boost,
 * PREFIX.trees.tsv (each feature the trees split on, its splits and summed gain, the depth and
 * number of trees, the hybrid's weights): each value in the file's last column. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <htslib/hts.h>

#include "common.h"
#include "metricsio.h"
#include "seqfile.h"

#define PROG "lncbaseline"
void openblas_set_num_threads(int);
/* Features: the offset of each group's first in x[] (group_first), in the order of group_names */
enum { F_COVERAGE = 0, F_ORF = 3, F_FICKETT = 5, F_HEXAMER = 13, F_KMER = 14, F_CODON = 98, F_SEGMENT = 162, F_KMER4 = 165, F_START = 421, NF = 423 };
enum { N_HEX = 4096 };
/* The stack's 3 weights fit on the validation set's few hundred records: a light penalty only
 * keeps them finite when valid is separable. */
#define STACK_LAMBDA 1.0

typedef struct {
	const char *pos, *neg, *out, *dir, *stack;
	int features_only;
	int hard_only;  /* --hard */
	int balance; /* --balance-orf */
	int boost;   /* --boost */
	int stack_hard; /* --stack-hard */
	unsigned groups; /* -g: bit i set = feature group i used (group_names) */
	char **sets;
	int n_sets;
} opts_t;

typedef struct {
	char *name;
	char *seq; /* cleaned: ACGT, anything else 'N' */
	size_t len;
	int y;                    /* 1: POS, 0: NEG */
	size_t orf_start, orf_len; /* orf_len 0: no ATG in any frame */
	int orf_stop;
	double x[NF];
} rec_t;

typedef struct {
	const char *name;
	rec_t *r;
	size_t n, cap;
} set_t;

static int8_t base_code[256]; /* A=0 C=1 G=2 T=3 (case folded, U as T), else -1 */

static void init_base_code(void)
{
	memset(base_code, -1, sizeof base_code);
	const char *b = "ACGT";
	for (int i = 0; i < 4; i++) base_code[(unsigned char)b[i]] = base_code[(unsigned char)b[i] + 32] = (int8_t)i;
	base_code['U'] = base_code['u'] = 3;
}

static void usage(FILE *fp)
{
	fprintf(fp,
		"Usage: %s [options] DIR [SET...]\n"
		"Classical baseline of mRNA vs lncRNA: logistic regression (L2, penalty chosen on the\n"
		"validation set) on ORF length, coverage and start, Fickett's statistics, CPAT's hexamer\n"
		"score, 1- to 3-mer frequencies, the ORF's codon usage, the best coding segment's\n"
		"hexamer score and the start codon's context. Trains on DIR/POS.train.fa[.gz] and\n"
		"DIR/NEG.train.fa[.gz], validates on DIR/{POS,NEG}.valid.fa[.gz], scores each SET the\n"
		"same way, and prints set, model, n, accuracy, MCC, ROC-AUC and log-loss (positive class\n"
		"POS).\n\n"
		"      --pos NAME      file prefix and label of the positive class [mRNA]\n"
		"      --neg NAME      file prefix and label of the negative class [lncRNA]\n"
		"      --stack PREFIX  also a hybrid: the baseline and the classifier whose predictions\n"
		"                      (clspredict's) of each set are PREFIX.NAME.tsv, joined by a logistic\n"
		"                      regression on their two logits fit on the validation set\n"
		"      --stack-hard    fit that regression on valid's challenge-like records only: the\n"
		"                      quarter of its POS records whose longest ORF covers the smallest\n"
		"                      fraction of the transcript, the quarter of its NEG records with\n"
		"                      the longest ORFs\n"
		"  -o PREFIX           also write PREFIX.MODEL.SET.tsv (predictions), .metrics and .roc\n"
		"                      (as clspredict --metrics, --roc) for valid and each SET, MODEL\n"
		"                      baseline (and hybrid), and PREFIX.weights.tsv (the weights) or\n"
		"                      PREFIX.trees.tsv (--boost: the features split on, with their gain)\n"
		"      --boost         gradient-boosted trees instead of the regression (depth 1-4 and the\n"
		"                      number of trees chosen on the validation log-loss)\n"
		"      --balance-orf   weigh the training records so that the longest ORF's length\n"
		"                      alone tells nothing of the class (within half-octave bins of its\n"
		"                      length the larger class weighs as much as the smaller)\n"
		"  -g LIST             feature groups to use, comma-separated, of coverage (transcript\n"
		"                      length, ORF coverage and start), orf (ORF length, stop), fickett,\n"
		"                      hexamer, kmer (1- to 3-mers), codon, segment (best coding\n"
		"                      segment), kmer4 (4-mers), start (the ORF's ATG: purine at -3,\n"
		"                      ATGs upstream) [all but kmer4]\n"
		"      --features      print every record's features instead of fitting: set, name,\n"
		"                      label, length, ORF bases, then one column per feature, before\n"
		"                      standardising\n"
		"      --hard          print the challenge-like records of train and of valid instead\n"
		"                      of fitting (those --stack-hard picks in valid), \"SET<TAB>NAME\" a line\n"
		"  -q                  quiet: errors only on stderr\n"
		"  -h, --help          this help;  --version  print the version\n",
		PROG);
}

/* ---- reading ------------------------------------------------------------------------------ */

static void add_file(set_t *s, const char *path, int y)
{
	fl_seqfile *f = fl_seq_open(path, 1);
	while (fl_seq_read(f)) {
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 1024;
			if (!(s->r = realloc(s->r, s->cap * sizeof *s->r))) fl_die("out of memory");
		}
		rec_t *r = &s->r[s->n++];
		memset(r, 0, sizeof *r);
		r->y = y;
		r->len = f->len;
		if (!(r->name = strdup(f->name)) || !(r->seq = malloc(f->len + 1))) fl_die("out of memory");
		for (size_t i = 0; i < f->len; i++) {
			int b = base_code[(unsigned char)f->seq[i]];
			r->seq[i] = b < 0 ? 'N' : "ACGT"[b];
		}
		r->seq[f->len] = 0;
		if (f->len == 0) fl_die("%s: record %s is empty", path, f->name);
	}
	fl_seq_close(f);
}

/* DIR/PREFIX.NAME.fa.gz, or .fa when that does not exist */
static char *set_path(const char *dir, const char *prefix, const char *name)
{
	char *p = NULL;
	for (int gz = 1; gz >= 0; gz--) {
		free(p);
		if (asprintf(&p, "%s/%s.%s.fa%s", dir, prefix, name, gz ? ".gz" : "") < 0) fl_die("out of memory");
		FILE *fp = fopen(p, "r");
		if (fp) {
			fclose(fp);
			break;
		}
	}
	return p;
}

static void load_set(set_t *s, const opts_t *o, const char *name)
{
	s->name = name;
	for (int y = 1; y >= 0; y--) {
		char *p = set_path(o->dir, y ? o->pos : o->neg, name);
		add_file(s, p, y);
		free(p);
	}
}

/* ---- features ----------------------------------------------------------------------------- */

/* Code of the codon (or hexamer, n = 6) at s: 2 bits a base, first most significant; -1 when a
 * letter is not ACGT. */
static int word_code(const char *s, int n)
{
	int c = 0;
	for (int i = 0; i < n; i++) {
		int b = base_code[(unsigned char)s[i]];
		if (b < 0) return -1;
		c = c << 2 | b;
	}
	return c;
}

static int is_stop(int codon) { return codon == 48 || codon == 50 || codon == 56; } /* TAA TAG TGA */
enum { ATG = 14 };

static void find_orf(rec_t *r)
{
	r->orf_len = 0;
	for (size_t f = 0; f < 3; f++) {
		long start = -1;
		size_t i = f;
		for (; i + 3 <= r->len; i += 3) {
			int c = word_code(r->seq + i, 3);
			if (start < 0 && c == ATG) start = (long)i;
			else if (start >= 0 && is_stop(c)) {
				size_t len = i + 3 - (size_t)start;
				if (len > r->orf_len || (len == r->orf_len && (size_t)start < r->orf_start))
					r->orf_len = len, r->orf_start = (size_t)start, r->orf_stop = 1;
				start = -1;
			}
		}
		if (start >= 0) { /* open to the last whole codon */
			size_t len = i - (size_t)start;
			if (len > r->orf_len || (len == r->orf_len && (size_t)start < r->orf_start))
				r->orf_len = len, r->orf_start = (size_t)start, r->orf_stop = 0;
		}
	}
}

/* In-frame hexamer counts of the ORFs of the records of s with r->y == y, skipping those of
 * half `skip` (0 or 1; -1 none): record i is in half i % 2. */
static void count_hexamers(double *cnt, const set_t *s, int y, int skip)
{
	memset(cnt, 0, N_HEX * sizeof *cnt);
	for (size_t i = 0; i < s->n; i++) {
		const rec_t *r = &s->r[i];
		if (r->y != y || (int)(i % 2) == skip) continue;
		for (size_t j = r->orf_start; j + 6 <= r->orf_start + r->orf_len; j += 3) {
			int h = word_code(r->seq + j, 6);
			if (h >= 0) cnt[h]++;
		}
	}
}

/* ln(P_pos(h) / P_neg(h)) with add-one smoothing */
static void hexamer_table(double *lr, const double *cpos, const double *cneg)
{
	double tp = N_HEX, tn = N_HEX;
	for (int h = 0; h < N_HEX; h++) tp += cpos[h], tn += cneg[h];
	for (int h = 0; h < N_HEX; h++) lr[h] = log((cpos[h] + 1) / tp) - log((cneg[h] + 1) / tn);
}

/* Feature groups (-g): each feature's is found by its index. */
static const char *group_names[] = {"coverage", "orf", "fickett", "hexamer", "kmer", "codon", "segment", "kmer4", "start"};
static const int group_first[] = {F_COVERAGE, F_ORF, F_FICKETT, F_HEXAMER, F_KMER, F_CODON, F_SEGMENT, F_KMER4, F_START, NF};
enum { N_GROUPS = 9 };
/* all but kmer4: the 4-mer frequencies raised the validation log-loss (0.0886 -> 0.0984) */
#define DEFAULT_GROUPS (((1u << N_GROUPS) - 1) & ~(1u << 7))
static int feature_group(int j)
{
	int g = 0;
	while (j >= group_first[g + 1]) g++;
	return g;
}

static unsigned parse_groups(const char *s)
{
	unsigned g = 0;
	char *copy = strdup(s), *save = NULL;
	if (!copy) fl_die("out of memory");
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int i = 0;
		while (i < N_GROUPS && strcmp(t, group_names[i]) != 0) i++;
		if (i == N_GROUPS) {
			char known[128] = "";
			for (int k = 0; k < N_GROUPS; k++) strcat(strcat(known, k ? ", " : ""), group_names[k]);
			fl_usage_error("-g: unknown feature group '%s' (%s)", t, known);
		}
		g |= 1u << i;
	}
	free(copy);
	if (!g) fl_usage_error("-g: no feature group given");
	return g;
}

static const char *feature_name(int j, char *buf)
{
	static const char *fixed[] = {"log_len", "orf_cov", "orf_start", "orf_len", "orf_stop",
				      "fickett_pos_A", "fickett_pos_C", "fickett_pos_G", "fickett_pos_T",
				      "fickett_comp_A", "fickett_comp_C", "fickett_comp_G", "fickett_comp_T",
				      "hexamer"};
	static const char *segment[] = {"segment_score", "segment_mean", "segment_len"};
	static const char *start[] = {"start_purine", "start_upstream_atg"};
	if (j < F_KMER) return fixed[j];
	if (j >= F_SEGMENT && j < F_KMER4) return segment[j - F_SEGMENT];
	if (j >= F_START) return start[j - F_START];
	int k, code;
	if (j >= F_KMER4) k = 4, code = j - F_KMER4;
	else if (j >= F_CODON) k = 0, code = j - F_CODON;
	else {
		j -= F_KMER;
		k = j < 4 ? 1 : j < 20 ? 2 : 3, code = j < 4 ? j : j < 20 ? j - 4 : j - 20;
	}
	int n = k ? k : 3, o = 0;
	o += sprintf(buf, "%s", k ? "kmer_" : "codon_");
	for (int i = n - 1; i >= 0; i--) buf[o++] = "ACGT"[(code >> (2 * i)) & 3];
	buf[o] = 0;
	return buf;
}

/* The best-scoring coding segment over the three frames: the run of consecutive in-frame
 * hexamers (any letters but ACGT break it) with the largest sum of ln(P_pos(h) / P_neg(h)), by
 * Kadane's scan. Unlike the hexamer score it needs no ATG or stop, so it finds a coding region
 * that is not the longest ORF. x: ln(1 + its sum), the sum per hexamer, ln(1 + hexamers). */
static void coding_segment(const rec_t *r, const double *hex_lr, double *x)
{
	double best = 0;
	size_t best_n = 0;
	for (size_t f = 0; f < 3; f++) {
		double run = 0;
		size_t n = 0;
		for (size_t j = f; j + 6 <= r->len; j += 3) {
			int h = word_code(r->seq + j, 6);
			if (h < 0 || run + hex_lr[h] <= 0) {
				run = 0, n = 0;
				continue;
			}
			run += hex_lr[h], n++;
			if (run > best) best = run, best_n = n;
		}
	}
	x[0] = log1p(best);
	x[1] = best_n ? best / (double)best_n : 0;
	x[2] = log1p((double)best_n);
}

/* The longest ORF's start as a ribosome scanning from the 5' end meets it: x[0] = 1 when base
 * -3 of its ATG is a purine (Kozak's strongest position), 0 when not, 0.5 when there is no such
 * base or no ORF; x[1] = ln(1 + ATGs upstream of it, in any frame). */
static void start_context(const rec_t *r, double *x)
{
	size_t s = r->orf_start;
	x[0] = 0.5, x[1] = 0;
	if (!r->orf_len) return;
	if (s >= 3) x[0] = r->seq[s - 3] == 'A' || r->seq[s - 3] == 'G';
	double n = 0;
	for (size_t i = 0; i + 3 <= s; i++) n += word_code(r->seq + i, 3) == ATG;
	x[1] = log1p(n);
}

/* Frequencies of the k-mers of the whole transcript into x (4^k) */
static void kmer_freqs(const rec_t *r, int k, double *x)
{
	double nw = 0;
	for (size_t i = 0; i + (size_t)k <= r->len; i++) {
		int c = word_code(r->seq + i, k);
		if (c >= 0) x[c]++, nw++;
	}
	for (int c = 0; c < 1 << (2 * k) && nw > 0; c++) x[c] /= nw;
}

static void features(rec_t *r, const double *hex_lr)
{
	double *x = r->x;
	memset(x, 0, sizeof r->x);
	x[F_COVERAGE] = log((double)r->len);
	x[F_COVERAGE + 1] = (double)r->orf_len / (double)r->len;
	x[F_COVERAGE + 2] = r->orf_len ? (double)r->orf_start / (double)r->len : 1.0;
	x[F_ORF] = log1p((double)r->orf_len);
	x[F_ORF + 1] = r->orf_stop;
	/* Fickett: on the ORF, or the whole transcript from its first base */
	size_t a = r->orf_len ? r->orf_start : 0, n = r->orf_len ? r->orf_len : r->len;
	double pc[4][3] = {{0}}, tot = 0;
	for (size_t i = 0; i < n; i++) {
		int b = base_code[(unsigned char)r->seq[a + i]];
		if (b >= 0) pc[b][i % 3]++, tot++;
	}
	for (int b = 0; b < 4; b++) {
		double mx = fmax(pc[b][0], fmax(pc[b][1], pc[b][2])), mn = fmin(pc[b][0], fmin(pc[b][1], pc[b][2]));
		x[F_FICKETT + b] = mx / (mn + 1);
		x[F_FICKETT + 4 + b] = tot > 0 ? (pc[b][0] + pc[b][1] + pc[b][2]) / tot : 0;
	}
	/* hexamer score and codon usage of the ORF */
	double hs = 0, nh = 0, nc = 0;
	for (size_t j = r->orf_start; r->orf_len && j + 3 <= r->orf_start + r->orf_len; j += 3) {
		int c = word_code(r->seq + j, 3);
		if (c >= 0) x[F_CODON + c]++, nc++;
		int h = j + 6 <= r->orf_start + r->orf_len ? word_code(r->seq + j, 6) : -1;
		if (h >= 0) hs += hex_lr[h], nh++;
	}
	x[F_HEXAMER] = nh > 0 ? hs / nh : 0;
	for (int c = 0; c < 64 && nc > 0; c++) x[F_CODON + c] /= nc;
	/* 1- to 4-mer frequencies of the whole transcript */
	for (int k = 1, off = F_KMER; k <= 3; off += 1 << (2 * k), k++) kmer_freqs(r, k, x + off);
	kmer_freqs(r, 4, x + F_KMER4);
	coding_segment(r, hex_lr, x + F_SEGMENT);
	start_context(r, x + F_START);
}

/* The features of every set; the hexamer tables come from train (sets[0]), cross-fitted on it. */
static void all_features(set_t *sets, int n_sets)
{
	double *cp = malloc(N_HEX * sizeof *cp), *cn = malloc(N_HEX * sizeof *cn);
	double *lr[3];
	for (int h = 0; h < 3; h++)
		if (!(lr[h] = malloc(N_HEX * sizeof **lr))) fl_die("out of memory");
	if (!cp || !cn) fl_die("out of memory");
	for (int k = 0; k < n_sets; k++)
		for (size_t i = 0; i < sets[k].n; i++) find_orf(&sets[k].r[i]);
	/* lr[h]: tables without half h (h = 0, 1), lr[2] from the whole training set */
	for (int h = 0; h < 3; h++) {
		int skip = h < 2 ? h : -1;
		count_hexamers(cp, &sets[0], 1, skip);
		count_hexamers(cn, &sets[0], 0, skip);
		hexamer_table(lr[h], cp, cn);
	}
	for (int k = 0; k < n_sets; k++)
		for (size_t i = 0; i < sets[k].n; i++) features(&sets[k].r[i], lr[k == 0 ? (int)(i % 2) : 2]);
	free(cp), free(cn);
	for (int h = 0; h < 3; h++) free(lr[h]);
}

/* ---- logistic regression ------------------------------------------------------------------ */

/* A model's weights: d - 1 features, then the bias (the baseline: d = NF + 1; the stack: 3). */
enum { D = NF + 1 };

typedef struct {
	double mean[NF], sd[NF];
} scaler_t;

/* Standardised design matrix (n, D) of set s, last column 1. */
static double *design(const set_t *s, const scaler_t *sc)
{
	double *X = malloc(s->n * D * sizeof *X);
	if (!X) fl_die("out of memory");
	for (size_t i = 0; i < s->n; i++) {
		for (int j = 0; j < NF; j++) X[i * D + j] = (s->r[i].x[j] - sc->mean[j]) / sc->sd[j];
		X[i * D + NF] = 1;
	}
	return X;
}

static double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }
/* -ln P(y | z), stable for large |z| */
static double nll(double z, int y) { return y ? log1p(exp(-fabs(z))) + fmax(-z, 0) : log1p(exp(-fabs(z))) + fmax(z, 0); }

/* The penalised log-loss of weights w; sw: each record's weight in the sum (NULL: 1 each). */
static double objective(const double *X, const int *y, const double *sw, size_t n, int d, const double *w, double lambda,
			double *z)
{
	cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, d, 1.0, X, d, w, 1, 0.0, z, 1);
	double f = 0;
	for (size_t i = 0; i < n; i++) f += (sw ? sw[i] : 1) * nll(z[i], y[i]);
	for (int j = 0; j < d - 1; j++) f += 0.5 * lambda * w[j] * w[j];
	return f;
}

/* Solves A x = b in place (b becomes x) for symmetric positive definite A (d, d), upper
 * triangle used and overwritten by its Cholesky factor. Returns -1 when A is not positive
 * definite. */
static int chol_solve(double *A, double *b, int d)
{
	for (int j = 0; j < d; j++) {
		double s = A[j * d + j];
		for (int k = 0; k < j; k++) s -= A[k * d + j] * A[k * d + j];
		if (!(s > 0)) return -1;
		A[j * d + j] = sqrt(s);
		for (int i = j + 1; i < d; i++) {
			double t = A[j * d + i];
			for (int k = 0; k < j; k++) t -= A[k * d + j] * A[k * d + i];
			A[j * d + i] = t / A[j * d + j];
		}
	}
	for (int i = 0; i < d; i++) { /* U^T y = b */
		double t = b[i];
		for (int k = 0; k < i; k++) t -= A[k * d + i] * b[k];
		b[i] = t / A[i * d + i];
	}
	for (int i = d - 1; i >= 0; i--) { /* U x = y */
		double t = b[i];
		for (int k = i + 1; k < d; k++) t -= A[i * d + k] * b[k];
		b[i] = t / A[i * d + i];
	}
	return 0;
}

/* Fits w (d) to the rows of X (n, d) from zero: Newton steps, halved until the objective does
 * not rise. */
static void fit(double *w, const double *X, const int *y, const double *sw, size_t n, int d, double lambda)
{
	double *z = malloc(n * sizeof *z), *Xs = malloc(n * d * sizeof *Xs), *H = malloc(d * d * sizeof *H);
	double *g = malloc(d * sizeof *g), *w1 = malloc(d * sizeof *w1);
	if (!z || !Xs || !H || !g || !w1) fl_die("out of memory");
	memset(w, 0, d * sizeof *w);
	double f = objective(X, y, sw, n, d, w, lambda, z);
	for (int it = 0; it < 100; it++) {
		/* gradient X^T A (p - y) + lambda w; Hessian X^T S X + lambda I, S = A diag(p (1 - p)),
		 * A = diag(sw) */
		for (int j = 0; j < d; j++) g[j] = j < d - 1 ? lambda * w[j] : 0;
		for (size_t i = 0; i < n; i++) {
			double a = sw ? sw[i] : 1, p = sigmoid(z[i]), s = sqrt(a * p * (1 - p));
			cblas_daxpy(d, a * (p - y[i]), X + i * d, 1, g, 1);
			for (int j = 0; j < d; j++) Xs[i * d + j] = s * X[i * d + j];
		}
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)n, 1.0, Xs, d, 0.0, H, d);
		for (int j = 0; j < d; j++) H[j * d + j] += j < d - 1 ? lambda : 1e-9;
		if (chol_solve(H, g, d) < 0) fl_die("lambda %g: the Hessian is not positive definite", lambda);
		double step = 1, f1 = f, dmax = 0;
		for (int k = 0; k < 40; k++, step /= 2) {
			for (int j = 0; j < d; j++) w1[j] = w[j] - step * g[j];
			f1 = objective(X, y, sw, n, d, w1, lambda, z);
			if (f1 <= f) break;
		}
		for (int j = 0; j < d; j++) dmax = fmax(dmax, fabs(w1[j] - w[j]));
		memcpy(w, w1, d * sizeof *w);
		double df = f - f1;
		f = f1;
		if (dmax < 1e-9 || df < 1e-12 * (1 + f)) break;
	}
	free(z), free(Xs), free(H), free(g), free(w1);
}

/* --balance-orf: weights that make the longest ORF's length tell nothing of the class in
 * training. Records are binned by half octaves of ORF bases + 1; in each bin the larger class
 * is weighed down to the smaller one's count (weight n_other / n_own, at most 1), so a bin
 * that holds one class only weighs 0. The regression then learns what tells the classes apart
 * at the same ORF length, as on the challenge set, where the mRNAs' ORFs are short. */
enum { N_ORF_BINS = 64 };
static double *orf_balance_weights(const set_t *tr)
{
	double n[N_ORF_BINS][2] = {{0}}, sum = 0;
	double *sw = malloc(tr->n * sizeof *sw);
	int *bin = malloc(tr->n * sizeof *bin);
	if (!sw || !bin) fl_die("out of memory");
	for (size_t i = 0; i < tr->n; i++) {
		int b = (int)floor(2 * log2((double)tr->r[i].orf_len + 1));
		bin[i] = b < N_ORF_BINS ? b : N_ORF_BINS - 1;
		n[bin[i]][tr->r[i].y]++;
	}
	for (size_t i = 0; i < tr->n; i++) {
		int y = tr->r[i].y;
		sw[i] = fmin(1.0, n[bin[i]][!y] / n[bin[i]][y]);
		sum += sw[i];
	}
	if (!(sum > 0)) fl_die("--balance-orf: no ORF length holds training records of both classes");
	fl_info("--balance-orf: the training records weigh %.1f in all (of %zu)", sum, tr->n);
	free(bin);
	return sw;
}

/* ---- gradient-boosted trees (--boost) ----------------------------------------------------- */

/* A tree of depth at most BOOST_DEPTH_MAX in heap order: node k sends x to 2k + 1 when
 * x[feat] <= thr, else to 2k + 2; a node that found no split (feat -1) sends everything to
 * 2k + 1. Leaves are numbered from 0 at the bottom level. */
enum { BOOST_DEPTH_MAX = 4, BOOST_NODES = (1 << BOOST_DEPTH_MAX) - 1, BOOST_BINS = 64 };
enum { BOOST_ROUNDS = 4000, BOOST_PATIENCE = 300 };
#define BOOST_ETA 0.05     /* shrinkage of each tree */
#define BOOST_LAMBDA 1.0   /* L2 penalty on a leaf's value */
#define BOOST_MIN_HESS 1.0 /* least summed p (1 - p) in a child */

typedef struct {
	int feat[BOOST_NODES];
	double thr[BOOST_NODES], gain[BOOST_NODES];
	double leaf[1 << BOOST_DEPTH_MAX];
} tree_t;

typedef struct {
	int depth, n_trees;
	double base; /* the training set's prior logit */
	tree_t *t;
} boost_t;

static int tree_leaf(const tree_t *t, int depth, const double *x)
{
	int k = 0;
	for (int d = 0; d < depth; d++) k = 2 * k + 1 + (t->feat[k] >= 0 && x[t->feat[k]] > t->thr[k]);
	return k - ((1 << depth) - 1);
}

static void boost_logits(const boost_t *b, const set_t *s, double *z)
{
	for (size_t i = 0; i < s->n; i++) {
		z[i] = b->base;
		for (int k = 0; k < b->n_trees; k++) z[i] += b->t[k].leaf[tree_leaf(&b->t[k], b->depth, s->r[i].x)];
	}
}

/* The training records' features as bins: for each used feature (feats, nf of them) up to
 * BOOST_BINS - 1 cuts at its quantiles (distinct values; x <= cut goes left), and each
 * record's bin, the number of cuts below its value (bins[i * nf + a]). */
typedef struct {
	int nf, feats[NF], ncut[NF];
	double cut[NF][BOOST_BINS - 1];
	uint8_t *bins;
} binned_t;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void bin_features(binned_t *bd, const set_t *tr, unsigned groups)
{
	double *v = malloc(tr->n * sizeof *v);
	if (!v || !(bd->bins = malloc(tr->n * NF))) fl_die("out of memory");
	bd->nf = 0;
	for (int j = 0; j < NF; j++) {
		if (!(groups >> feature_group(j) & 1)) continue;
		for (size_t i = 0; i < tr->n; i++) v[i] = tr->r[i].x[j];
		qsort(v, tr->n, sizeof *v, cmp_double);
		int a = bd->nf, nc = 0;
		for (int q = 1; q < BOOST_BINS; q++) {
			double c = v[(size_t)q * (tr->n - 1) / BOOST_BINS];
			if (c < v[tr->n - 1] && (nc == 0 || c > bd->cut[a][nc - 1])) bd->cut[a][nc++] = c;
		}
		if (!nc) continue; /* constant: no split */
		bd->feats[a] = j, bd->ncut[a] = nc, bd->nf++;
	}
	for (size_t i = 0; i < tr->n; i++)
		for (int a = 0; a < bd->nf; a++) {
			double x = tr->r[i].x[bd->feats[a]];
			int b = 0;
			while (b < bd->ncut[a] && bd->cut[a][b] < x) b++;
			bd->bins[i * bd->nf + a] = (uint8_t)b;
		}
	free(v);
}

/* One tree of the given depth fit to gradients g and Hessians h (n) of the training records,
 * split by split gain (second order, leaf penalty BOOST_LAMBDA); leaf[i] (n) gets each record's
 * leaf. hist: scratch of (1 << (depth - 1)) * nf * BOOST_BINS * 2. */
static void grow_tree(tree_t *t, int depth, const binned_t *bd, const double *g, const double *h, size_t n, int *leaf,
		      double *hist)
{
	int nf = bd->nf;
	memset(leaf, 0, n * sizeof *leaf);
	for (int d = 0; d < depth; d++) {
		int nodes = 1 << d, first = nodes - 1, split_bin[1 << (BOOST_DEPTH_MAX - 1)];
		memset(hist, 0, (size_t)nodes * nf * BOOST_BINS * 2 * sizeof *hist);
		for (size_t i = 0; i < n; i++) {
			double *hn = hist + (size_t)leaf[i] * nf * BOOST_BINS * 2;
			const uint8_t *bi = bd->bins + i * nf;
			for (int a = 0; a < nf; a++) {
				double *c = hn + (a * BOOST_BINS + bi[a]) * 2;
				c[0] += g[i], c[1] += h[i];
			}
		}
		for (int k = 0; k < nodes; k++) {
			const double *hn = hist + (size_t)k * nf * BOOST_BINS * 2;
			double G = 0, H = 0, best = 1e-9;
			for (int b = 0; b < BOOST_BINS; b++) G += hn[2 * b], H += hn[2 * b + 1];
			double parent = G * G / (H + BOOST_LAMBDA);
			t->feat[first + k] = -1, t->thr[first + k] = 0, t->gain[first + k] = 0;
			for (int a = 0; a < nf; a++) {
				double GL = 0, HL = 0;
				for (int b = 0; b < bd->ncut[a]; b++) {
					GL += hn[(a * BOOST_BINS + b) * 2], HL += hn[(a * BOOST_BINS + b) * 2 + 1];
					double GR = G - GL, HR = H - HL;
					if (HL < BOOST_MIN_HESS || HR < BOOST_MIN_HESS) continue;
					double gain = GL * GL / (HL + BOOST_LAMBDA) + GR * GR / (HR + BOOST_LAMBDA) - parent;
					if (gain > best) {
						best = gain, split_bin[k] = b;
						t->feat[first + k] = a, t->thr[first + k] = bd->cut[a][b], t->gain[first + k] = gain;
					}
				}
			}
		}
		for (size_t i = 0; i < n; i++) {
			int k = leaf[i], a = t->feat[first + k];
			leaf[i] = 2 * k + (a >= 0 && bd->bins[i * nf + a] > split_bin[k]);
		}
	}
	/* leaf values: a Newton step each, shrunk by BOOST_ETA; the features by their index in x */
	double G[1 << BOOST_DEPTH_MAX] = {0}, H[1 << BOOST_DEPTH_MAX] = {0};
	for (size_t i = 0; i < n; i++) G[leaf[i]] += g[i], H[leaf[i]] += h[i];
	for (int l = 0; l < 1 << depth; l++) t->leaf[l] = -BOOST_ETA * G[l] / (H[l] + BOOST_LAMBDA);
	for (int k = 0; k < (1 << depth) - 1; k++)
		if (t->feat[k] >= 0) t->feat[k] = bd->feats[t->feat[k]];
}

/* Boosting on the log-loss from the prior logit, for depth 1..BOOST_DEPTH_MAX: trees are added
 * until the validation log-loss has not fallen for BOOST_PATIENCE rounds (at most BOOST_ROUNDS);
 * the depth and number of trees with the lowest validation log-loss are kept. */
static boost_t boost_fit(const set_t *tr, const set_t *va, const double *sw, unsigned groups)
{
	binned_t *bd = malloc(sizeof *bd);
	if (!bd) fl_die("out of memory");
	bin_features(bd, tr, groups);
	size_t n = tr->n;
	double *f = malloc(n * sizeof *f), *g = malloc(n * sizeof *g), *h = malloc(n * sizeof *h);
	double *fv = malloc(va->n * sizeof *fv);
	/* (no feature varies: the trees cannot split, and the model is the prior) */
	double *hist = malloc((size_t)(1 << (BOOST_DEPTH_MAX - 1)) * (bd->nf ? bd->nf : 1) * BOOST_BINS * 2 * sizeof *hist);
	int *leaf = malloc(n * sizeof *leaf);
	boost_t best = {0}, cur = {0};
	if (!f || !g || !h || !fv || !hist || !leaf || !(cur.t = malloc(BOOST_ROUNDS * sizeof *cur.t)))
		fl_die("out of memory");
	double npos = 0, nall = 0, best_ll = INFINITY;
	for (size_t i = 0; i < n; i++) npos += (sw ? sw[i] : 1) * tr->r[i].y, nall += sw ? sw[i] : 1;
	cur.base = log((npos + 1) / (nall - npos + 1));
	for (int depth = 1; depth <= BOOST_DEPTH_MAX; depth++) {
		double ll_d = INFINITY;
		int at = 0;
		cur.depth = depth;
		for (size_t i = 0; i < n; i++) f[i] = cur.base;
		for (size_t i = 0; i < va->n; i++) fv[i] = cur.base;
		for (int k = 0; k < BOOST_ROUNDS && k - at < BOOST_PATIENCE; k++) {
			for (size_t i = 0; i < n; i++) {
				double p = sigmoid(f[i]), a = sw ? sw[i] : 1;
				g[i] = a * (p - tr->r[i].y), h[i] = a * fmax(p * (1 - p), 1e-12);
			}
			tree_t *t = &cur.t[k];
			grow_tree(t, depth, bd, g, h, n, leaf, hist);
			for (size_t i = 0; i < n; i++) f[i] += t->leaf[leaf[i]];
			double ll = 0;
			for (size_t i = 0; i < va->n; i++) {
				fv[i] += t->leaf[tree_leaf(t, depth, va->r[i].x)];
				ll += nll(fv[i], va->r[i].y) / (double)va->n;
			}
			if (ll < ll_d) ll_d = ll, at = k + 1;
		}
		fl_info("boosting depth %d: valid log-loss %.4f with %d trees", depth, ll_d, at);
		if (ll_d < best_ll) {
			best_ll = ll_d;
			free(best.t);
			best = cur, best.n_trees = at;
			if (!(cur.t = malloc(BOOST_ROUNDS * sizeof *cur.t))) fl_die("out of memory");
		}
	}
	fl_info("kept depth %d, %d trees (valid log-loss %.4f)", best.depth, best.n_trees, best_ll);
	free(bd->bins), free(bd), free(f), free(g), free(h), free(fv), free(hist), free(leaf), free(cur.t);
	return best;
}

/* The trees' summary, PREFIX.trees.tsv: each feature that a kept tree splits on, with its
 * number of splits and their summed gain (largest first), then the depth and number of trees */
static void boost_text(fl_sbuf *b, const boost_t *bo)
{
	double gain[NF] = {0};
	int splits[NF] = {0}, order[NF], n = 0;
	char buf[16];
	for (int k = 0; k < bo->n_trees; k++)
		for (int m = 0; m < (1 << bo->depth) - 1; m++)
			if (bo->t[k].feat[m] >= 0) gain[bo->t[k].feat[m]] += bo->t[k].gain[m], splits[bo->t[k].feat[m]]++;
	for (int j = 0; j < NF; j++)
		if (splits[j]) order[n++] = j;
	for (int i = 1; i < n; i++) /* insertion sort by gain, largest first */
		for (int k = i; k > 0 && gain[order[k]] > gain[order[k - 1]]; k--) {
			int t = order[k];
			order[k] = order[k - 1], order[k - 1] = t;
		}
	fl_sb_printf(b, "feature\tsplits\tgain\n");
	for (int i = 0; i < n; i++) fl_sb_printf(b, "%s\t%d\t%.6g\n", feature_name(order[i], buf), splits[order[i]], gain[order[i]]);
	fl_sb_printf(b, "depth\t\t%d\ntrees\t\t%d\n", bo->depth, bo->n_trees);
}

/* --stack-hard: weights (s->n) that keep the records of s that the challenge set's rule
 * (SOURCES.md) would pick, 1 each, the others 0: the quarter of the positives whose longest
 * ORF covers the smallest fraction of the transcript, and the quarter of the negatives with
 * the longest ORFs (ties: the earlier record). */
typedef struct {
	double key; /* smaller: picked first */
	size_t i;
} ranked_t;
static int cmp_ranked(const void *a, const void *b)
{
	const ranked_t *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key ? 1 : (x->i > y->i) - (x->i < y->i);
}
static double *challenge_like(const set_t *s)
{
	double *w = calloc(s->n, sizeof *w);
	ranked_t *rk = malloc(s->n * sizeof *rk);
	if (!w || !rk) fl_die("out of memory");
	for (int y = 0; y <= 1; y++) {
		size_t n = 0;
		for (size_t i = 0; i < s->n; i++) {
			const rec_t *r = &s->r[i];
			if (r->y != y) continue;
			rk[n].key = y ? (double)r->orf_len / (double)r->len : -(double)r->orf_len, rk[n++].i = i;
		}
		qsort(rk, n, sizeof *rk, cmp_ranked);
		for (size_t k = 0; k < (n + 3) / 4; k++) w[rk[k].i] = 1;
		fl_info("challenge-like: %zu of %s's %zu %s", (n + 3) / 4, s->name, n, y ? "positives" : "negatives");
	}
	free(rk);
	return w;
}

/* ---- scoring ------------------------------------------------------------------------------ */

typedef struct {
	gu_binary_metrics bm;
	double logloss;
} score_t;

/* The baseline's logits z (s->n) of the records of s: the trees bo's, or (bo NULL) the
 * regression's with weights w. */
static void baseline_logits(const boost_t *bo, const set_t *s, const scaler_t *sc, const double *w, double *z)
{
	if (bo) {
		boost_logits(bo, s, z);
		return;
	}
	double *X = design(s, sc);
	cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)s->n, D, 1.0, X, D, w, 1, 0.0, z, 1);
	free(X);
}

/* P(POS) = sigmoid(z) of every record of s into p (s->n), and their metrics. */
static score_t score_logits(const set_t *s, const double *z, double *p)
{
	int *y = malloc(s->n * sizeof *y), *pred = malloc(s->n * sizeof *pred);
	if (!y || !pred) fl_die("out of memory");
	score_t r = {0};
	for (size_t i = 0; i < s->n; i++) {
		y[i] = s->r[i].y;
		p[i] = sigmoid(z[i]);
		pred[i] = p[i] > 0.5;
		r.logloss += nll(z[i], y[i]) / (double)s->n;
	}
	if (gu_binary_metrics_compute(&r.bm, p, pred, y, s->n) < 0) fl_die("%s: metrics: %s", s->name, gu_errmsg());
	free(y), free(pred);
	return r;
}

/* The logits of P(POS) in a clspredict predictions file (name, predicted, p_CLASS...) of the
 * records of s, which it must list in the same order. P is clipped to [1e-6, 1 - 1e-6]. */
static void read_logits(const char *path, const set_t *s, const char *pos, double *z)
{
	FILE *fp = fopen(path, "r");
	if (!fp) fl_die("%s: cannot open: %s", path, strerror(errno));
	char *line = NULL, *col;
	size_t cap = 0, i = 0;
	int pcol = -1;
	ssize_t len;
	for (long ln = 1; (len = getline(&line, &cap, fp)) > 0; ln++) {
		if (line[len - 1] == '\n') line[--len] = 0;
		char *save = NULL, *name = NULL;
		int c = 0;
		double v = NAN;
		for (col = strtok_r(line, "\t", &save); col; col = strtok_r(NULL, "\t", &save), c++) {
			if (ln == 1 && strncmp(col, "p_", 2) == 0 && strcmp(col + 2, pos) == 0) pcol = c;
			if (ln > 1 && c == 0) name = col;
			if (ln > 1 && c == pcol) v = strtod(col, NULL);
		}
		if (ln == 1) {
			if (pcol < 0) fl_die("%s: no column p_%s (clspredict's predictions needed)", path, pos);
			continue;
		}
		if (i == s->n) fl_die("%s: more records than the %zu of %s", path, s->n, s->name);
		if (!name || strcmp(name, s->r[i].name) != 0)
			fl_die("%s: line %ld is record %s, but %s has %s there (the predictions must list the set's "
			       "records in the order of its files, %s's first)", path, ln, name ? name : "(none)", s->name,
			       s->r[i].name, pos);
		if (!(v >= 0 && v <= 1)) fl_die("%s: line %ld: p_%s is not a probability", path, ln, pos);
		v = fmin(fmax(v, 1e-6), 1 - 1e-6);
		z[i++] = log(v / (1 - v));
	}
	if (ferror(fp)) fl_die("%s: read error", path);
	if (i < s->n) fl_die("%s: %zu records, but %s has %zu", path, i, s->name, s->n);
	free(line);
	fclose(fp);
}

/* Writes b (emptied) to the file named by fmt, atomically. */
static void write_text(fl_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void write_text(fl_sbuf *b, const char *fmt, ...)
{
	char *path;
	va_list ap;
	va_start(ap, fmt);
	int k = vasprintf(&path, fmt, ap);
	va_end(ap);
	if (k < 0) fl_die("out of memory");
	gu_out *o = gu_out_open(path);
	if (!o) fl_die("%s", gu_errmsg());
	fl_sb_flush(b, o);
	if (gu_out_close(o, 0) < 0) fl_die("%s", gu_errmsg());
	free(path);
}

/* PREFIX.MODEL.SET.tsv, .metrics and .roc of set s with probabilities p */
static void write_set(const opts_t *o, const char *model, const set_t *s, const double *p, const score_t *sc)
{
	fl_sbuf b = {0};
	int *y = malloc(s->n * sizeof *y);
	if (!y) fl_die("out of memory");
	fl_sb_printf(&b, "name\tpredicted\tp_%s\tp_%s\n", o->neg, o->pos);
	for (size_t i = 0; i < s->n; i++) {
		y[i] = s->r[i].y;
		fl_sb_printf(&b, "%s\t%s\t%.6g\t%.6g\n", s->r[i].name, p[i] > 0.5 ? o->pos : o->neg, 1 - p[i], p[i]);
	}
	write_text(&b, "%s.%s.%s.tsv", o->out, model, s->name);
	fl_metrics_text(&b, &sc->bm, sc->bm.accuracy, o->pos);
	write_text(&b, "%s.%s.%s.metrics", o->out, model, s->name);
	fl_roc_text(&b, p, y, s->n, s->name);
	write_text(&b, "%s.%s.%s.roc", o->out, model, s->name);
	free(b.buf);
	free(y);
}

static void print_row(const char *set, const char *model, size_t n, const score_t *r)
{
	printf("%s\t%s\t%zu\t%.4f\t%.4f\t%.4f\t%.4f\n", set, model, n, r->bm.accuracy, r->bm.mcc, r->bm.roc_auc, r->logloss);
}

static void print_features(const set_t *sets, int n_sets)
{
	char buf[16];
	printf("set\tname\tlabel\tlength\torf_bases");
	for (int j = 0; j < NF; j++) printf("\t%s", feature_name(j, buf));
	putchar('\n');
	for (int k = 0; k < n_sets; k++)
		for (size_t i = 0; i < sets[k].n; i++) {
			const rec_t *r = &sets[k].r[i];
			printf("%s\t%s\t%d\t%zu\t%zu", sets[k].name, r->name, r->y, r->len, r->orf_len);
			for (int j = 0; j < NF; j++) printf("\t%.6g", r->x[j]);
			putchar('\n');
		}
}

/* --hard: train's and valid's challenge-like records (challenge_like), a "set<TAB>name" line each */
static void print_hard(const set_t *sets, int n_sets)
{
	for (int k = 0; k < n_sets; k++) {
		double *w = challenge_like(&sets[k]);
		for (size_t i = 0; i < sets[k].n; i++)
			if (w[i] > 0) printf("%s\t%s\n", sets[k].name, sets[k].r[i].name);
		free(w);
	}
}

int main(int argc, char **argv)
{
	opts_t o = {.pos = "mRNA", .neg = "lncRNA", .groups = DEFAULT_GROUPS};
	static const struct option lopts[] = {{"pos", required_argument, 0, 1},	 {"neg", required_argument, 0, 2},
					      {"features", no_argument, 0, 3},	 {"stack", required_argument, 0, 5},
					      {"groups", required_argument, 0, 'g'},
					      {"balance-orf", no_argument, 0, 6},
					      {"boost", no_argument, 0, 7},
					      {"stack-hard", no_argument, 0, 8},
					      {"hard", no_argument, 0, 9},
					      {"help", no_argument, 0, 'h'},
					      {"version", no_argument, 0, 4},	 {0, 0, 0, 0}};
	fl_init(PROG, argc, argv);
	hts_set_log_level(HTS_LOG_OFF); /* our messages name the file */
	openblas_set_num_threads(1);   /* small products: threads would only wait on each other */
	int c;
	while ((c = getopt_long(argc, argv, "g:o:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 1: o.pos = optarg; break;
		case 2: o.neg = optarg; break;
		case 3: o.features_only = 1; break;
		case 5: o.stack = optarg; break;
		case 6: o.balance = 1; break;
		case 7: o.boost = 1; break;
		case 8: o.stack_hard = 1; break;
		case 9: o.hard_only = 1; break;
		case 'g': o.groups = parse_groups(optarg); break;
		case 'o': o.out = optarg; break;
		case 'q': fl_quiet = 1; break;
		case 'h': usage(stdout); fl_close_stdout(); return 0;
		case 4: printf("%s %s\n", PROG, GU_VERSION); fl_close_stdout(); return 0;
		default: fl_bad_option(argv);
		}
	}
	if (optind >= argc) fl_usage_error("no data folder given (DIR)");
	if (o.stack_hard && !o.stack) fl_usage_error("--stack-hard needs --stack");
	if (o.hard_only && o.features_only) fl_usage_error("--hard and --features: give one");
	if (strcmp(o.pos, o.neg) == 0) fl_usage_error("--pos and --neg name the same class '%s'", o.pos);
	o.dir = argv[optind];
	o.sets = argv + optind + 1;
	o.n_sets = argc - optind - 1;
	for (int k = 0; k < o.n_sets; k++)
		if (strcmp(o.sets[k], "train") == 0 || strcmp(o.sets[k], "valid") == 0)
			fl_usage_error("SET '%s': train and valid are always read; name the other sets", o.sets[k]);

	init_base_code();
	int ns = o.n_sets + 2;
	set_t *sets = calloc((size_t)ns, sizeof *sets);
	if (!sets) fl_die("out of memory");
	for (int k = 0; k < ns; k++) {
		load_set(&sets[k], &o, k == 0 ? "train" : k == 1 ? "valid" : o.sets[k - 2]);
		size_t npos = 0;
		for (size_t i = 0; i < sets[k].n; i++) npos += (size_t)sets[k].r[i].y;
		fl_info("%s: %zu %s, %zu %s", sets[k].name, npos, o.pos, sets[k].n - npos, o.neg);
	}
	all_features(sets, ns);
	/* a group left out: its features are 0 for every record (standardised, they stay 0) */
	for (int k = 0; k < ns; k++)
		for (size_t i = 0; i < sets[k].n; i++)
			for (int j = 0; j < NF; j++)
				if (!(o.groups >> feature_group(j) & 1)) sets[k].r[i].x[j] = 0;
	if (o.groups != DEFAULT_GROUPS) {
		char list[64] = "";
		for (int i = 0; i < N_GROUPS; i++)
			if (o.groups >> i & 1) strcat(strcat(list, *list ? "," : ""), group_names[i]);
		fl_info("feature groups: %s", list);
	}
	if (o.features_only) {
		print_features(sets, ns);
		fl_close_stdout();
		return 0;
	}
	if (o.hard_only) {
		print_hard(sets, 2);
		fl_close_stdout();
		return 0;
	}

	scaler_t sc;
	const set_t *tr = &sets[0];
	for (int j = 0; j < NF; j++) {
		double m = 0, v = 0;
		for (size_t i = 0; i < tr->n; i++) m += tr->r[i].x[j];
		m /= (double)tr->n;
		for (size_t i = 0; i < tr->n; i++) v += (tr->r[i].x[j] - m) * (tr->r[i].x[j] - m);
		v = tr->n > 1 ? sqrt(v / (double)(tr->n - 1)) : 0;
		sc.mean[j] = m, sc.sd[j] = v > 1e-12 ? v : 1; /* a constant feature stays 0 */
	}
	double w[D], best_w[D] = {0}, best_lambda = 0, best_ll = INFINITY;
	int *y = malloc(tr->n * sizeof *y);
	double *zb[ns], *p = NULL;
	for (int k = 1; k < ns; k++)
		if (!(zb[k] = malloc(sets[k].n * sizeof **zb))) fl_die("out of memory");
	size_t pmax = 0;
	for (int k = 0; k < ns; k++) pmax = sets[k].n > pmax ? sets[k].n : pmax;
	if (!y || !(p = malloc(pmax * sizeof *p))) fl_die("out of memory");
	for (size_t i = 0; i < tr->n; i++) y[i] = tr->r[i].y;
	double *sw = o.balance ? orf_balance_weights(tr) : NULL;
	/* the model: the trees (--boost), or the regression with the penalty of lowest validation
	 * log-loss (best_w; trees NULL) */
	boost_t bo = {0};
	const boost_t *trees = NULL;
	if (o.boost) {
		bo = boost_fit(tr, &sets[1], sw, o.groups);
		trees = &bo;
	} else {
		double *X = design(tr, &sc);
		for (int j = -4; j <= 8; j++) {
			double lambda = pow(10, j / 2.0);
			fit(w, X, y, sw, tr->n, D, lambda);
			baseline_logits(NULL, &sets[1], &sc, w, zb[1]);
			score_t v = score_logits(&sets[1], zb[1], p);
			fl_info("lambda %-8g valid log-loss %.4f, accuracy %.4f", lambda, v.logloss, v.bm.accuracy);
			if (v.logloss < best_ll) best_ll = v.logloss, best_lambda = lambda, memcpy(best_w, w, sizeof w);
		}
		free(X);
		fl_info("kept lambda %g (valid log-loss %.4f)", best_lambda, best_ll);
	}

	printf("set\tmodel\tn\taccuracy\tmcc\troc_auc\tlog_loss\n");
	/* the stack: [baseline logit, the other classifier's logit, 1] of valid's records */
	double ws[3] = {0};
	double *zu[ns];
	if (o.stack) {
		for (int k = 1; k < ns; k++) {
			char *path;
			if (asprintf(&path, "%s.%s.tsv", o.stack, sets[k].name) < 0 || !(zu[k] = malloc(sets[k].n * sizeof **zu)))
				fl_die("out of memory");
			read_logits(path, &sets[k], o.pos, zu[k]);
			free(path);
		}
		const set_t *v = &sets[1];
		double *X3 = malloc(v->n * 3 * sizeof *X3);
		int *yv = malloc(v->n * sizeof *yv);
		if (!X3 || !yv) fl_die("out of memory");
		baseline_logits(trees, v, &sc, best_w, zb[1]);
		for (size_t i = 0; i < v->n; i++) X3[3 * i] = zb[1][i], X3[3 * i + 1] = zu[1][i], X3[3 * i + 2] = 1, yv[i] = v->r[i].y;
		double *hw = o.stack_hard ? challenge_like(v) : NULL;
		fit(ws, X3, yv, hw, v->n, 3, STACK_LAMBDA);
		free(hw);
		fl_info("stack fit on valid%s: logit = %.4f x baseline + %.4f x %s + %.4f", o.stack_hard ? "'s challenge-like records" : "", ws[0],
			ws[1], o.stack, ws[2]);
		free(X3), free(yv);
	}
	for (int k = 1; k < ns; k++) {
		const set_t *st = &sets[k];
		baseline_logits(trees, st, &sc, best_w, zb[k]);
		for (int m = 0; m < (o.stack ? 3 : 1); m++) {
			const char *model = m == 0 ? "baseline" : m == 1 ? "stacked_input" : "hybrid";
			if (m == 2)
				for (size_t i = 0; i < st->n; i++) zu[k][i] = ws[0] * zb[k][i] + ws[1] * zu[k][i] + ws[2];
			const double *z = m == 0 ? zb[k] : zu[k];
			score_t r = score_logits(st, z, p);
			print_row(st->name, model, st->n, &r);
			if (o.out && m != 1) write_set(&o, model, st, p, &r);
		}
	}
	if (o.out) {
		/* the model, then the stack's weights, each value in the last column */
		fl_sbuf b = {0};
		const char *cols = trees ? "\t\t" : "\t\t\t";
		if (trees) boost_text(&b, trees);
		else {
			char buf[16];
			fl_sb_printf(&b, "feature\tmean\tsd\tweight\n");
			for (int j = 0; j < NF; j++)
				fl_sb_printf(&b, "%s\t%.6g\t%.6g\t%.6g\n", feature_name(j, buf), sc.mean[j], sc.sd[j], best_w[j]);
			fl_sb_printf(&b, "bias%s%.6g\nlambda%s%g\n", cols, best_w[NF], cols, best_lambda);
		}
		if (o.stack)
			fl_sb_printf(&b, "hybrid_baseline%s%.6g\nhybrid_stacked_input%s%.6g\nhybrid_bias%s%.6g\n", cols, ws[0],
				     cols, ws[1], cols, ws[2]);
		write_text(&b, "%s.%s.tsv", o.out, trees ? "trees" : "weights");
		free(b.buf);
	}
	fl_close_stdout();
	for (int k = 0; k < ns; k++) {
		for (size_t i = 0; i < sets[k].n; i++) free(sets[k].r[i].name), free(sets[k].r[i].seq);
		free(sets[k].r);
	}
	for (int k = 1; k < ns; k++) free(zb[k]), free(o.stack ? zu[k] : NULL);
	free(sets), free(y), free(p), free(sw), free(bo.t);
	fl_summary();
	return 0;
}
