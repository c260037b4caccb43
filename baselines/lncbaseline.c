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
 * Each feature is standardised by its training mean and standard deviation. The regression
 * minimises the summed log-loss + lambda/2 |w|^2 (the bias unpenalised) by Newton's method with
 * step halving, for lambda = 10^(j/2), j = -4..8; the lambda with the lowest validation log-loss
 * is kept. P(POS) > 0.5 predicts POS.
 *
 * Output: a table on stdout (set, model, n, accuracy, MCC, ROC-AUC, log-loss) for valid and each
 * SET. With -o PREFIX, for each of those sets, PREFIX.baseline.SET.tsv (predictions as
 * clspredict writes them), PREFIX.baseline.SET.metrics and PREFIX.baseline.SET.roc (clspredict's
 * --metrics and --roc files), and PREFIX.weights.tsv (each feature's mean, sd and weight, the
 * bias and lambda: each value in the file's last column). */
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

typedef struct {
	const char *pos, *neg, *out, *dir;
	int features_only;
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
		"  -o PREFIX           also write PREFIX.baseline.SET.tsv (predictions), .metrics and\n"
		"                      .roc (as clspredict --metrics, --roc) for valid and each SET, and\n"
		"                      PREFIX.weights.tsv (the weights)\n"
		"  -g LIST             feature groups to use, comma-separated, of coverage (transcript\n"
		"                      length, ORF coverage and start), orf (ORF length, stop), fickett,\n"
		"                      hexamer, kmer (1- to 3-mers), codon, segment (best coding\n"
		"                      segment), kmer4 (4-mers), start (the ORF's ATG: purine at -3,\n"
		"                      ATGs upstream) [all but kmer4]\n"
		"      --features      print every record's features instead of fitting: set, name,\n"
		"                      label, length, ORF bases, then one column per feature, before\n"
		"                      standardising\n"
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

/* The model's weights: NF features, then the bias. */
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

/* The penalised log-loss of weights w. */
static double objective(const double *X, const int *y, size_t n, int d, const double *w, double lambda, double *z)
{
	cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, d, 1.0, X, d, w, 1, 0.0, z, 1);
	double f = 0;
	for (size_t i = 0; i < n; i++) f += nll(z[i], y[i]);
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
static void fit(double *w, const double *X, const int *y, size_t n, int d, double lambda)
{
	double *z = malloc(n * sizeof *z), *Xs = malloc(n * d * sizeof *Xs), *H = malloc(d * d * sizeof *H);
	double *g = malloc(d * sizeof *g), *w1 = malloc(d * sizeof *w1);
	if (!z || !Xs || !H || !g || !w1) fl_die("out of memory");
	memset(w, 0, d * sizeof *w);
	double f = objective(X, y, n, d, w, lambda, z);
	for (int it = 0; it < 100; it++) {
		/* gradient X^T (p - y) + lambda w; Hessian X^T S X + lambda I, S = diag(p (1 - p)) */
		for (int j = 0; j < d; j++) g[j] = j < d - 1 ? lambda * w[j] : 0;
		for (size_t i = 0; i < n; i++) {
			double p = sigmoid(z[i]), s = sqrt(p * (1 - p));
			cblas_daxpy(d, p - y[i], X + i * d, 1, g, 1);
			for (int j = 0; j < d; j++) Xs[i * d + j] = s * X[i * d + j];
		}
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)n, 1.0, Xs, d, 0.0, H, d);
		for (int j = 0; j < d; j++) H[j * d + j] += j < d - 1 ? lambda : 1e-9;
		if (chol_solve(H, g, d) < 0) fl_die("lambda %g: the Hessian is not positive definite", lambda);
		double step = 1, f1 = f, dmax = 0;
		for (int k = 0; k < 40; k++, step /= 2) {
			for (int j = 0; j < d; j++) w1[j] = w[j] - step * g[j];
			f1 = objective(X, y, n, d, w1, lambda, z);
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

/* ---- scoring ------------------------------------------------------------------------------ */

typedef struct {
	gu_binary_metrics bm;
	double logloss;
} score_t;

/* The baseline's logits z (s->n) of the records of s: the regression's with weights w. */
static void baseline_logits(const set_t *s, const scaler_t *sc, const double *w, double *z)
{
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

static void parse_options(opts_t *o, int argc, char **argv)
{
	static const struct option lopts[] = {{"pos", required_argument, 0, 1},	 {"neg", required_argument, 0, 2},
					      {"features", no_argument, 0, 3},	 {"groups", required_argument, 0, 'g'},
					      {"help", no_argument, 0, 'h'},	 {"version", no_argument, 0, 4},
					      {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "g:o:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 1: o->pos = optarg; break;
		case 2: o->neg = optarg; break;
		case 3: o->features_only = 1; break;
		case 'g': o->groups = parse_groups(optarg); break;
		case 'o': o->out = optarg; break;
		case 'q': fl_quiet = 1; break;
		case 'h': usage(stdout); fl_close_stdout(); exit(0);
		case 4: printf("%s %s\n", PROG, GU_VERSION); fl_close_stdout(); exit(0);
		default: fl_bad_option(argv);
		}
	}
	if (optind >= argc) fl_usage_error("no data folder given (DIR)");
	if (strcmp(o->pos, o->neg) == 0) fl_usage_error("--pos and --neg name the same class '%s'", o->pos);
	o->dir = argv[optind];
	o->sets = argv + optind + 1;
	o->n_sets = argc - optind - 1;
	for (int k = 0; k < o->n_sets; k++)
		if (strcmp(o->sets[k], "train") == 0 || strcmp(o->sets[k], "valid") == 0)
			fl_usage_error("SET '%s': train and valid are always read; name the other sets", o->sets[k]);
}

/* train, valid and the named sets (ns of them), with every record's features; the features of
 * a group left out are 0 for every record (standardised, they stay 0) */
static set_t *load_sets(const opts_t *o, int ns)
{
	set_t *sets = calloc((size_t)ns, sizeof *sets);
	if (!sets) fl_die("out of memory");
	for (int k = 0; k < ns; k++) {
		load_set(&sets[k], o, k == 0 ? "train" : k == 1 ? "valid" : o->sets[k - 2]);
		size_t npos = 0;
		for (size_t i = 0; i < sets[k].n; i++) npos += (size_t)sets[k].r[i].y;
		fl_info("%s: %zu %s, %zu %s", sets[k].name, npos, o->pos, sets[k].n - npos, o->neg);
	}
	all_features(sets, ns);
	for (int k = 0; k < ns; k++)
		for (size_t i = 0; i < sets[k].n; i++)
			for (int j = 0; j < NF; j++)
				if (!(o->groups >> feature_group(j) & 1)) sets[k].r[i].x[j] = 0;
	if (o->groups != DEFAULT_GROUPS) {
		char list[64] = "";
		for (int i = 0; i < N_GROUPS; i++)
			if (o->groups >> i & 1) strcat(strcat(list, *list ? "," : ""), group_names[i]);
		fl_info("feature groups: %s", list);
	}
	return sets;
}

/* Each feature's training mean and standard deviation. */
static void fit_scaler(scaler_t *sc, const set_t *tr)
{
	for (int j = 0; j < NF; j++) {
		double m = 0, v = 0;
		for (size_t i = 0; i < tr->n; i++) m += tr->r[i].x[j];
		m /= (double)tr->n;
		for (size_t i = 0; i < tr->n; i++) v += (tr->r[i].x[j] - m) * (tr->r[i].x[j] - m);
		v = tr->n > 1 ? sqrt(v / (double)(tr->n - 1)) : 0;
		sc->mean[j] = m, sc->sd[j] = v > 1e-12 ? v : 1; /* a constant feature stays 0 */
	}
}

/* The regression fit on tr with the penalty of lowest log-loss on va: its weights best_w (D),
 * and that penalty returned. */
static double fit_best_lambda(double *best_w, const set_t *tr, const set_t *va, const scaler_t *sc)
{
	double w[D], best_lambda = 0, best_ll = INFINITY;
	int *y = malloc(tr->n * sizeof *y);
	double *z = malloc(va->n * sizeof *z), *p = malloc(va->n * sizeof *p);
	if (!y || !z || !p) fl_die("out of memory");
	for (size_t i = 0; i < tr->n; i++) y[i] = tr->r[i].y;
	double *X = design(tr, sc);
	for (int j = -4; j <= 8; j++) {
		double lambda = pow(10, j / 2.0);
		fit(w, X, y, tr->n, D, lambda);
		baseline_logits(va, sc, w, z);
		score_t v = score_logits(va, z, p);
		fl_info("lambda %-8g valid log-loss %.4f, accuracy %.4f", lambda, v.logloss, v.bm.accuracy);
		if (v.logloss < best_ll) best_ll = v.logloss, best_lambda = lambda, memcpy(best_w, w, sizeof w);
	}
	fl_info("kept lambda %g (valid log-loss %.4f)", best_lambda, best_ll);
	free(X), free(y), free(z), free(p);
	return best_lambda;
}

/* PREFIX.weights.tsv: each feature's mean, sd and weight, then the bias and lambda, each value
 * in the last column */
static void write_weights(const opts_t *o, const scaler_t *sc, const double *w, double lambda)
{
	fl_sbuf b = {0};
	char buf[16];
	fl_sb_printf(&b, "feature\tmean\tsd\tweight\n");
	for (int j = 0; j < NF; j++) fl_sb_printf(&b, "%s\t%.6g\t%.6g\t%.6g\n", feature_name(j, buf), sc->mean[j], sc->sd[j], w[j]);
	fl_sb_printf(&b, "bias\t\t\t%.6g\nlambda\t\t\t%g\n", w[NF], lambda);
	write_text(&b, "%s.weights.tsv", o->out);
	free(b.buf);
}

int main(int argc, char **argv)
{
	opts_t o = {.pos = "mRNA", .neg = "lncRNA", .groups = DEFAULT_GROUPS};
	fl_init(PROG, argc, argv);
	hts_set_log_level(HTS_LOG_OFF); /* our messages name the file */
	openblas_set_num_threads(1);   /* small products: threads would only wait on each other */
	parse_options(&o, argc, argv);
	init_base_code();
	int ns = o.n_sets + 2;
	set_t *sets = load_sets(&o, ns);
	if (o.features_only) {
		print_features(sets, ns);
		fl_close_stdout();
		return 0;
	}

	scaler_t sc;
	double best_w[D] = {0};
	fit_scaler(&sc, &sets[0]);
	double lambda = fit_best_lambda(best_w, &sets[0], &sets[1], &sc);
	printf("set\tmodel\tn\taccuracy\tmcc\troc_auc\tlog_loss\n");
	for (int k = 1; k < ns; k++) {
		const set_t *st = &sets[k];
		double *z = malloc(st->n * sizeof *z), *p = malloc(st->n * sizeof *p);
		if (!z || !p) fl_die("out of memory");
		baseline_logits(st, &sc, best_w, z);
		score_t r = score_logits(st, z, p);
		print_row(st->name, "baseline", st->n, &r);
		if (o.out) write_set(&o, "baseline", st, p, &r);
		free(z), free(p);
	}
	if (o.out) write_weights(&o, &sc, best_w, lambda);
	fl_close_stdout();
	for (int k = 0; k < ns; k++) {
		for (size_t i = 0; i < sets[k].n; i++) free(sets[k].r[i].name), free(sets[k].r[i].seq);
		free(sets[k].r);
	}
	free(sets);
	fl_summary();
	return 0;
}
