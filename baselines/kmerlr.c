/* kmerlr.c: the k-mer baseline of public benchmarks (GUE, issue 38): an L2-regularised logistic
 * regression on the 1- to K-mer profile of each sequence, fit on the training set, its penalty
 * C and feature scaling chosen on the dev set, scored on a test set.
 *
 *   kmerlr [options] TRAIN DEV [TEST]
 *
 * Inputs are labelled sequences: sequence,label CSV (GUE's format) or FASTA with -L (the label
 * is the header text before the first '|'), plain or gzip (filters/seqfile.c). Exactly two
 * classes, the training set's label names sorted: the regression's P is that of the second
 * ("1" in GUE).
 *
 * Features of a sequence (letters case-folded; anything but ACGT breaks k-mers): for each
 * k = 1..K the counts of all 4^k k-mers (5460 for K = 6), stored sparse. Two scalings (--scale):
 *   count  the raw counts (as scikit-learn's CountVectorizer gives them);
 *   std    the frequencies (count / k-mers of that k in the sequence), each standardised by its
 *          training mean and standard deviation (applied implicitly, so the data stay sparse).
 * For every scaling and C (-C, ascending, each fit warm-started from the last), the regression
 * minimises  sum_i logloss_i + |w|^2 / (2C)  (the bias unpenalised, scikit-learn's form) by
 * L-BFGS (10 pairs, backtracking line search) until the largest gradient entry is below
 * 1e-5 * n or 1000 iterations. A scaling's sweep stops early once its dev log-loss has risen
 * for 3 C values in a row and the last dev MCC is below its best (weak penalties on counts take
 * the most iterations and overfit). The fit with the highest dev MCC (ties: the lower dev
 * log-loss) is kept: dev only chooses, the test set is scored once.
 *
 * Output: the predictions of TEST (of DEV when no TEST is given) as clspredict writes them
 * (name, predicted, p_LABEL per class) on stdout or -o, --metrics and --roc files as clspredict's
 * (filters/metricsio.c), --weights the chosen model; the search and the metrics on stderr. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "metricsio.h"
#include "seqfile.h"

#define KMAX 8
#define MAX_C 64
#define LBFGS_M 10
#define MAX_ITER 1000
#define PATIENCE 3 /* C values tried after the dev log-loss has started to rise */

enum { SCALE_COUNT = 1, SCALE_STD = 2 };
static const char *const scale_names[] = {"", "count", "std"};

typedef struct {
	int kmax, from_header, scales; /* scales: bits SCALE_* to try */
	int n_c;
	double c[MAX_C];
	const char *out, *metrics, *roc, *weights, *positive;
} opts_t;

/* A data set in CSR form: record i has features idx[ptr[i] .. ptr[i+1]) with counts val[]. */
typedef struct {
	const char *path;
	int64_t n;
	int64_t *ptr;   /* (n+1) */
	int32_t *idx;   /* (nnz) feature index: offset of k + the k-mer's code */
	float *val;     /* (nnz) count */
	float *inv_nk;  /* (n, K) 1 / the k-mers of each k in the record (0 when none) */
	int *y;         /* (n) class 0/1 */
	char **name;    /* (n) */
	int64_t cap, nnz_cap;
} set_t;

typedef struct {
	int F, K;
	int koff[KMAX + 2]; /* feature offset of each k (koff[k-1]) */
	int scale;
	double *mu, *sd;    /* (F) std scaling: training mean and sd of the frequencies */
} feat_t;

static void usage(FILE *fp, const opts_t *o)
{
	fprintf(fp,
		"Usage: kmerlr [options] TRAIN DEV [TEST]\n"
		"L2 logistic regression on the 1- to K-mer counts of labelled sequences (sequence,label CSV,\n"
		"or FASTA with -L), fit on TRAIN, its penalty C and scaling chosen on DEV (highest MCC),\n"
		"scored on TEST (or DEV). Writes the predictions of that set as clspredict does.\n\n"
		"Options:\n"
		"  -k INT           longest k-mer, 1..%d [%d]\n"
		"  -C LIST          penalties to try, ascending, comma-separated [1e-4 to 100, half decades]\n"
		"      --scale LIST count (raw counts), std (standardised frequencies), or both [count,std]\n"
		"  -L               FASTA labels: the header text before the first '|'\n"
		"      --positive STR  positive class for the binary metrics [the second label, sorted]\n"
		"  -o FILE          predictions TSV, written atomically [stdout]\n"
		"      --metrics FILE  the metrics as KEY<TAB>VALUE lines (clspredict's format)\n"
		"      --roc FILE   the ROC curve (fpr, tpr, threshold TSV) of the positive class\n"
		"      --weights FILE  the chosen model: scale, C, bias, then feature<TAB>weight\n"
		"  -q               quiet: no progress, search table or summary\n"
		"  -h, --help       this help;  --version  print the version\n",
		KMAX, o->kmax);
}

/* ---- reading ----------------------------------------------------------------------------- */

static int8_t base_code[256];

static int class_of(char ***labels, int *n_labels, int grow, const char *lab, const char *path, const char *name)
{
	for (int i = 0; i < *n_labels; i++)
		if (strcmp((*labels)[i], lab) == 0) return i;
	if (!grow) fl_die("%s: record %s: label '%s' is not one of the training labels", path, name, lab);
	if (*n_labels == 2) fl_die("%s: record %s: a third label '%s' (kmerlr takes two classes)", path, name, lab);
	char *d = strdup(lab);
	if (!d) fl_die("out of memory");
	(*labels)[(*n_labels)++] = d;
	return *n_labels - 1;
}

/* Reads path into s: the k-mer counts of every record; y holds the index of its label text
 * in labels (added to them when grow). */
static void read_set(set_t *s, const char *path, const feat_t *ft, const opts_t *o, char ***labels, int *n_labels,
		     int grow)
{
	memset(s, 0, sizeof *s);
	s->path = path;
	int K = ft->K;
	double *cnt = calloc((size_t)ft->F, sizeof *cnt);
	int32_t *touched = malloc((size_t)ft->F * sizeof *touched);
	if (!cnt || !touched) fl_die("out of memory");
	fl_seqfile *f = fl_seq_open(path, 1);
	while (fl_seq_read(f)) {
		const char *lab = f->label;
		char hdr[256];
		if (!lab) {
			if (!o->from_header) fl_die("%s: record %s has no label (CSV labels, or -L for FASTA)", path, f->name);
			const char *bar = strchr(f->name, '|');
			size_t n = bar ? (size_t)(bar - f->name) : 0;
			if (n == 0 || n >= sizeof hdr) fl_die("%s: sequence %s: no label before a '|' in the header", path, f->name);
			memcpy(hdr, f->name, n), hdr[n] = 0, lab = hdr;
		}
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 1024;
			s->ptr = realloc(s->ptr, (size_t)(s->cap + 1) * sizeof *s->ptr);
			s->y = realloc(s->y, (size_t)s->cap * sizeof *s->y);
			s->name = realloc(s->name, (size_t)s->cap * sizeof *s->name);
			s->inv_nk = realloc(s->inv_nk, (size_t)s->cap * K * sizeof *s->inv_nk);
			if (!s->ptr || !s->y || !s->name || !s->inv_nk) fl_die("out of memory");
			if (s->n == 0) s->ptr[0] = 0;
		}
		int64_t i = s->n;
		s->y[i] = class_of(labels, n_labels, grow, lab, path, f->name);
		if (!(s->name[i] = strdup(f->name))) fl_die("out of memory");
		/* k-mer counts: the code of the run of ACGT ending here, for each k it is long enough for */
		int nt = 0;
		int64_t nk[KMAX + 1] = {0};
		uint32_t code = 0;
		int run = 0;
		for (size_t p = 0; p < f->len; p++) {
			int b = base_code[(unsigned char)f->seq[p]];
			if (b < 0) {
				run = 0;
				continue;
			}
			code = (code << 2 | (uint32_t)b) & ((1u << (2 * KMAX)) - 1);
			run++;
			for (int k = 1; k <= K && k <= run; k++) {
				int j = ft->koff[k - 1] + (int)(code & ((1u << (2 * k)) - 1));
				if (cnt[j] == 0) touched[nt++] = j;
				cnt[j]++, nk[k]++;
			}
		}
		for (int k = 1; k <= K; k++) s->inv_nk[i * K + k - 1] = nk[k] ? 1.0f / (float)nk[k] : 0.0f;
		int64_t need = s->ptr[i] + nt;
		if (need > s->nnz_cap) {
			s->nnz_cap = need + need / 2 + 4096;
			s->idx = realloc(s->idx, (size_t)s->nnz_cap * sizeof *s->idx);
			s->val = realloc(s->val, (size_t)s->nnz_cap * sizeof *s->val);
			if (!s->idx || !s->val) fl_die("out of memory");
		}
		for (int t = 0; t < nt; t++) {
			s->idx[s->ptr[i] + t] = touched[t];
			s->val[s->ptr[i] + t] = (float)cnt[touched[t]];
			cnt[touched[t]] = 0;
		}
		s->ptr[i + 1] = need;
		s->n++;
		fl_progress("%s: %lld records", path, (long long)s->n);
	}
	fl_seq_close(f);
	free(cnt), free(touched);
}

static void free_set(set_t *s)
{
	for (int64_t i = 0; i < s->n; i++) free(s->name[i]);
	free(s->name), free(s->ptr), free(s->idx), free(s->val), free(s->inv_nk), free(s->y);
}

/* The value of entry e (record i) under the scaling, before standardisation. */
static inline double feat_value(const set_t *s, const feat_t *ft, int64_t i, int64_t e)
{
	if (ft->scale == SCALE_COUNT) return s->val[e];
	int j = s->idx[e], k = 0;
	while (j >= ft->koff[k + 1]) k++;
	return s->val[e] * s->inv_nk[i * ft->K + k];
}

/* std scaling: the training mean and sd of every frequency (a constant feature gets sd 1). */
static void fit_scaling(feat_t *ft, const set_t *tr)
{
	double *s1 = calloc((size_t)ft->F, sizeof *s1), *s2 = calloc((size_t)ft->F, sizeof *s2);
	if (!s1 || !s2) fl_die("out of memory");
	for (int64_t i = 0; i < tr->n; i++)
		for (int64_t e = tr->ptr[i]; e < tr->ptr[i + 1]; e++) {
			double v = feat_value(tr, ft, i, e);
			s1[tr->idx[e]] += v, s2[tr->idx[e]] += v * v;
		}
	for (int j = 0; j < ft->F; j++) {
		double m = s1[j] / (double)tr->n, var = s2[j] / (double)tr->n - m * m;
		ft->mu[j] = m;
		ft->sd[j] = var > 1e-12 * (m * m + 1e-12) && var > 0 ? sqrt(var) : 1.0;
	}
	free(s1), free(s2);
}

/* ---- the regression ---------------------------------------------------------------------- */

/* z[i] = b + x_i . w under the scaling: with std, sum_j (x_ij - mu_j) w_j / sd_j. */
static void margins(double *z, const set_t *s, const feat_t *ft, const double *w, double b, double *ws)
{
	double c0 = b;
	const double *u = w;
	if (ft->scale == SCALE_STD) {
		for (int j = 0; j < ft->F; j++) ws[j] = w[j] / ft->sd[j], c0 -= ft->mu[j] * ws[j];
		u = ws;
	}
	for (int64_t i = 0; i < s->n; i++) {
		double a = c0;
		for (int64_t e = s->ptr[i]; e < s->ptr[i + 1]; e++) a += feat_value(s, ft, i, e) * u[s->idx[e]];
		z[i] = a;
	}
}

static inline double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }
static inline double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

typedef struct {
	const set_t *s;
	const feat_t *ft;
	double lambda; /* 1/C */
	double *z, *ws;
} problem_t;

/* f and its gradient g at x = (w (F), b). */
static double objective(problem_t *pb, const double *x, double *g)
{
	const set_t *s = pb->s;
	const feat_t *ft = pb->ft;
	int F = ft->F;
	margins(pb->z, s, ft, x, x[F], pb->ws);
	double f = 0, rsum = 0;
	memset(g, 0, (size_t)(F + 1) * sizeof *g);
	for (int64_t i = 0; i < s->n; i++) {
		double z = pb->z[i];
		f += softplus(z) - s->y[i] * z;
		double r = sigmoid(z) - s->y[i];
		rsum += r;
		for (int64_t e = s->ptr[i]; e < s->ptr[i + 1]; e++) g[s->idx[e]] += feat_value(s, ft, i, e) * r;
	}
	for (int j = 0; j < F; j++) {
		if (ft->scale == SCALE_STD) g[j] = (g[j] - ft->mu[j] * rsum) / ft->sd[j];
		g[j] += pb->lambda * x[j];
		f += 0.5 * pb->lambda * x[j] * x[j];
	}
	g[F] = rsum;
	return f;
}

static double dot(const double *a, const double *b, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++) s += a[i] * b[i];
	return s;
}

/* Minimises the objective from x (changed in place) by L-BFGS; returns the iterations. */
static int lbfgs(problem_t *pb, double *x)
{
	int n = pb->ft->F + 1;
	double *g = malloc((size_t)n * sizeof *g), *d = malloc((size_t)n * sizeof *d);
	double *xn = malloc((size_t)n * sizeof *xn), *gn = malloc((size_t)n * sizeof *gn);
	double *S = malloc((size_t)LBFGS_M * n * sizeof *S), *Y = malloc((size_t)LBFGS_M * n * sizeof *Y);
	double rho[LBFGS_M], alpha[LBFGS_M];
	if (!g || !d || !xn || !gn || !S || !Y) fl_die("out of memory");
	double f = objective(pb, x, g), gtol = 1e-5 * (double)pb->s->n;
	int m = 0, head = 0, it;
	for (it = 0; it < MAX_ITER; it++) {
		double gmax = 0;
		for (int i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
		if (gmax <= gtol) break;
		/* two-loop recursion: d = -H g */
		for (int i = 0; i < n; i++) d[i] = -g[i];
		for (int k = 0; k < m; k++) {
			int j = (head - 1 - k + LBFGS_M) % LBFGS_M;
			alpha[j] = rho[j] * dot(S + (size_t)j * n, d, n);
			for (int i = 0; i < n; i++) d[i] -= alpha[j] * Y[(size_t)j * n + i];
		}
		if (m > 0) {
			int j = (head - 1 + LBFGS_M) % LBFGS_M;
			double gamma = dot(S + (size_t)j * n, Y + (size_t)j * n, n) / dot(Y + (size_t)j * n, Y + (size_t)j * n, n);
			for (int i = 0; i < n; i++) d[i] *= gamma;
		} else {
			double gn2 = sqrt(dot(g, g, n));
			for (int i = 0; i < n; i++) d[i] /= gn2;
		}
		for (int k = m - 1; k >= 0; k--) {
			int j = (head - 1 - k + LBFGS_M) % LBFGS_M;
			double beta = rho[j] * dot(Y + (size_t)j * n, d, n);
			for (int i = 0; i < n; i++) d[i] += (alpha[j] - beta) * S[(size_t)j * n + i];
		}
		double gd = dot(g, d, n);
		if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
			m = 0;
			double gn2 = sqrt(dot(g, g, n));
			for (int i = 0; i < n; i++) d[i] = -g[i] / gn2;
			gd = dot(g, d, n);
		}
		double step = 1, fn = 0;
		int ok = 0;
		for (int ls = 0; ls < 40; ls++, step *= 0.5) {
			for (int i = 0; i < n; i++) xn[i] = x[i] + step * d[i];
			fn = objective(pb, xn, gn);
			if (isfinite(fn) && fn <= f + 1e-4 * step * gd) {
				ok = 1;
				break;
			}
		}
		if (!ok) break; /* no decrease left at double precision */
		double *s = S + (size_t)head * n, *y = Y + (size_t)head * n;
		for (int i = 0; i < n; i++) s[i] = xn[i] - x[i], y[i] = gn[i] - g[i];
		double sy = dot(s, y, n);
		if (sy > 1e-12) {
			rho[head] = 1 / sy;
			head = (head + 1) % LBFGS_M;
			if (m < LBFGS_M) m++;
		}
		double rel = (f - fn) / fmax(fabs(fn), 1);
		memcpy(x, xn, (size_t)n * sizeof *x), memcpy(g, gn, (size_t)n * sizeof *g);
		f = fn;
		if (rel < 1e-12) break;
	}
	free(g), free(d), free(xn), free(gn), free(S), free(Y);
	return it;
}

/* ---- scoring ----------------------------------------------------------------------------- */

typedef struct {
	gu_binary_metrics bm;
	double logloss;
} score_t;

/* Metrics of s under the model x; p[i] (may be NULL) gets P(class 1). pos: the positive class. */
static void score_set(score_t *sc, const set_t *s, const feat_t *ft, const double *x, int pos, double *p)
{
	double *z = malloc((size_t)s->n * sizeof *z), *sp = malloc((size_t)s->n * sizeof *sp);
	double *ws = malloc((size_t)ft->F * sizeof *ws);
	int *pred = malloc((size_t)s->n * sizeof *pred), *truth = malloc((size_t)s->n * sizeof *truth);
	if (!z || !sp || !ws || !pred || !truth) fl_die("out of memory");
	margins(z, s, ft, x, x[ft->F], ws);
	double ll = 0;
	for (int64_t i = 0; i < s->n; i++) {
		double p1 = sigmoid(z[i]);
		if (p) p[i] = p1;
		ll += softplus(z[i]) - s->y[i] * z[i];
		int c = z[i] > 0;
		pred[i] = c == pos, truth[i] = s->y[i] == pos, sp[i] = pos ? p1 : 1 - p1;
	}
	if (gu_binary_metrics_compute(&sc->bm, sp, pred, truth, (size_t)s->n) < 0) fl_die("metrics: %s", gu_errmsg());
	sc->logloss = ll / (double)s->n;
	free(z), free(sp), free(ws), free(pred), free(truth);
}


/* The k-mer of feature j, for --weights. */
static void feature_name(char *buf, const feat_t *ft, int j)
{
	int k = 0;
	while (j >= ft->koff[k + 1]) k++;
	int code = j - ft->koff[k];
	k++;
	for (int p = k - 1; p >= 0; p--, code >>= 2) buf[p] = "ACGT"[code & 3];
	buf[k] = 0;
}

static void parse_c_list(opts_t *o, const char *list)
{
	char *dup = strdup(list), *save = NULL;
	if (!dup) fl_die("out of memory");
	o->n_c = 0;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->n_c == MAX_C) fl_usage_error("-C: more than %d values", MAX_C);
		o->c[o->n_c] = fl_parse_double(t, "-C", 1e-12, 1e12);
		if (o->n_c > 0 && o->c[o->n_c] <= o->c[o->n_c - 1]) fl_usage_error("-C: '%s' is not ascending", list);
		o->n_c++;
	}
	free(dup);
	if (o->n_c == 0) fl_usage_error("-C: no value in '%s'", list);
}

static int parse_scales(const char *list)
{
	char *dup = strdup(list), *save = NULL;
	if (!dup) fl_die("out of memory");
	int bits = 0;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "count") == 0) bits |= SCALE_COUNT;
		else if (strcmp(t, "std") == 0) bits |= SCALE_STD;
		else fl_usage_error("--scale: '%s' is not count or std", t);
	}
	free(dup);
	if (!bits) fl_usage_error("--scale: nothing in '%s'", list);
	return bits;
}

int main(int argc, char **argv)
{
	opts_t o = {.kmax = 6, .scales = SCALE_COUNT | SCALE_STD, .out = "-"};
	enum { O_SCALE = 256, O_POS, O_METRICS, O_ROC, O_WEIGHTS, O_VERSION };
	static const struct option lopts[] = {
		{"scale", required_argument, 0, O_SCALE},     {"positive", required_argument, 0, O_POS},
		{"metrics", required_argument, 0, O_METRICS}, {"roc", required_argument, 0, O_ROC},
		{"weights", required_argument, 0, O_WEIGHTS}, {"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, O_VERSION},	      {0, 0, 0, 0}};
	fl_init("kmerlr", argc, argv);
	for (int j = -8; j <= 4; j++) o.c[o.n_c++] = pow(10, j / 2.0);
	int c;
	while ((c = getopt_long(argc, argv, "k:C:Lo:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'k': o.kmax = (int)fl_parse_long(optarg, "-k", 1, KMAX); break;
		case 'C': parse_c_list(&o, optarg); break;
		case O_SCALE: o.scales = parse_scales(optarg); break;
		case 'L': o.from_header = 1; break;
		case O_POS: o.positive = optarg; break;
		case 'o': o.out = optarg; break;
		case O_METRICS: o.metrics = optarg; break;
		case O_ROC: o.roc = optarg; break;
		case O_WEIGHTS: o.weights = optarg; break;
		case 'q': fl_quiet = 1; break;
		case 'h': usage(stdout, &o); fl_close_stdout(); return 0;
		case O_VERSION: printf("kmerlr %s\n", GU_VERSION); fl_close_stdout(); return 0;
		default: fl_bad_option(argv);
		}
	}
	int n_in = argc - optind;
	if (n_in < 2 || n_in > 3) fl_usage_error("give TRAIN DEV [TEST] (%d inputs given)", n_in);
	char **in = argv + optind;
	for (int i = 0; i < n_in; i++)
		if (strcmp(in[i], "-") == 0) fl_usage_error("inputs are read more than once: no stdin ('-')");

	memset(base_code, -1, sizeof base_code);
	for (int i = 0; i < 4; i++) base_code[(unsigned char)"ACGT"[i]] = base_code[(unsigned char)"acgt"[i]] = (int8_t)i;
	feat_t ft = {.K = o.kmax};
	for (int k = 1; k <= o.kmax; k++) ft.koff[k] = ft.koff[k - 1] + (1 << (2 * k));
	ft.F = ft.koff[o.kmax];
	ft.mu = calloc((size_t)ft.F, sizeof *ft.mu), ft.sd = malloc((size_t)ft.F * sizeof *ft.sd);
	if (!ft.mu || !ft.sd) fl_die("out of memory");

	char *lab_store[2], **labels = lab_store;
	int n_labels = 0;
	set_t tr, dv, te;
	read_set(&tr, in[0], &ft, &o, &labels, &n_labels, 1);
	if (n_labels < 2) fl_die("%s: the training records carry only one label (%s)", in[0], labels[0]);
	if (strcmp(labels[0], labels[1]) > 0) { /* sorted, as clstrain's classes */
		char *t = labels[0];
		labels[0] = labels[1], labels[1] = t;
		for (int64_t i = 0; i < tr.n; i++) tr.y[i] = 1 - tr.y[i];
	}
	read_set(&dv, in[1], &ft, &o, &labels, &n_labels, 0);
	if (n_in == 3) read_set(&te, in[2], &ft, &o, &labels, &n_labels, 0);
	const set_t *scored = n_in == 3 ? &te : &dv;
	int pos = 1;
	if (o.positive) {
		pos = strcmp(labels[0], o.positive) == 0 ? 0 : strcmp(labels[1], o.positive) == 0 ? 1 : -1;
		if (pos < 0) fl_die("--positive: '%s' is not one of the labels (%s, %s)", o.positive, labels[0], labels[1]);
	}
	fl_on_die(fl_outs_abort);
	const char *paths[4] = {o.out, o.metrics, o.roc, o.weights};
	for (int i = 0; i < 4; i++)
		if (paths[i] && !(fl_outs[i] = gu_out_open(paths[i]))) fl_die("%s", gu_errmsg());
	fl_info("%lld training, %lld dev%s records; classes %s, %s; 1..%d-mers (%d features, %.0f per record)",
		(long long)tr.n, (long long)dv.n, n_in == 3 ? "" : " (scored)", labels[0], labels[1], o.kmax, ft.F,
		(double)tr.ptr[tr.n] / (double)tr.n);
	if (n_in == 3) fl_info("%lld test records (scored)", (long long)te.n);

	/* the search: every scaling and C, warm-started along C */
	int n = ft.F + 1;
	double *x = malloc((size_t)n * sizeof *x), *best = malloc((size_t)n * sizeof *best);
	problem_t pb = {.s = &tr, .ft = &ft};
	pb.z = malloc((size_t)tr.n * sizeof *pb.z), pb.ws = malloc((size_t)ft.F * sizeof *pb.ws);
	if (!x || !best || !pb.z || !pb.ws) fl_die("out of memory");
	int best_scale = 0;
	double best_c = 0, best_mcc = -2, best_ll = INFINITY;
	for (int sc = SCALE_COUNT; sc <= SCALE_STD; sc <<= 1) {
		if (!(o.scales & sc)) continue;
		ft.scale = sc;
		if (sc == SCALE_STD) fit_scaling(&ft, &tr);
		memset(x, 0, (size_t)n * sizeof *x);
		double sc_best = -2, prev_ll = INFINITY;
		int rises = 0;
		for (int ci = 0; ci < o.n_c; ci++) {
			double t0 = gu_realtime();
			pb.lambda = 1 / o.c[ci];
			int it = lbfgs(&pb, x);
			score_t s;
			score_set(&s, &dv, &ft, x, pos, NULL);
			if (!fl_quiet)
				fl_info("scale %-5s C %-8.3g dev mcc %.4f accuracy %.4f log-loss %.4f (%d iterations, %.1f s)",
					scale_names[sc], o.c[ci], s.bm.mcc, s.bm.accuracy, s.logloss, it, gu_realtime() - t0);
			if (s.bm.mcc > best_mcc || (s.bm.mcc == best_mcc && s.logloss < best_ll)) {
				best_mcc = s.bm.mcc, best_ll = s.logloss, best_c = o.c[ci], best_scale = sc;
				memcpy(best, x, (size_t)n * sizeof *x);
			}
			/* past the penalty that fits dev best: the weakly penalised fits are the slow ones */
			rises = s.logloss > prev_ll ? rises + 1 : 0;
			prev_ll = s.logloss;
			sc_best = fmax(sc_best, s.bm.mcc);
			if (rises >= PATIENCE && s.bm.mcc < sc_best && ci + 1 < o.n_c) {
				if (!fl_quiet) fl_info("scale %s: dev log-loss rose %d times in a row, larger C not tried", scale_names[sc], rises);
				break;
			}
		}
	}
	ft.scale = best_scale;
	if (best_scale == SCALE_STD) fit_scaling(&ft, &tr);
	fl_info("chose scale %s, C %g on dev (mcc %.4f, log-loss %.4f)", scale_names[best_scale], best_c, best_mcc, best_ll);

	/* the scored set: predictions, metrics, ROC */
	double *p = malloc((size_t)scored->n * sizeof *p);
	if (!p) fl_die("out of memory");
	score_t s;
	score_set(&s, scored, &ft, best, pos, p);
	fl_sbuf b = {0};
	fl_sb_printf(&b, "name\tpredicted\tp_%s\tp_%s\n", labels[0], labels[1]);
	for (int64_t i = 0; i < scored->n; i++) {
		fl_sb_printf(&b, "%s\t%s\t%.6g\t%.6g\n", scored->name[i], labels[p[i] > 0.5], 1 - p[i], p[i]);
		if (b.n > (1 << 20)) fl_sb_flush(&b, fl_outs[0]);
	}
	fl_outs_write_close(0, &b);
	if (o.metrics) {
		fl_metrics_text(&b, &s.bm, s.bm.accuracy, labels[pos]);
		fl_sb_printf(&b, "log_loss\t%.6f\n", s.logloss);
		fl_outs_write_close(1, &b);
	}
	if (o.roc) {
		double *sp = malloc((size_t)scored->n * sizeof *sp);
		int *truth = malloc((size_t)scored->n * sizeof *truth);
		if (!sp || !truth) fl_die("out of memory");
		for (int64_t i = 0; i < scored->n; i++) sp[i] = pos ? p[i] : 1 - p[i], truth[i] = scored->y[i] == pos;
		fl_roc_text(&b, sp, truth, (size_t)scored->n, "--roc");
		fl_outs_write_close(2, &b);
		free(sp), free(truth);
	}
	if (o.weights) {
		char km[KMAX + 1];
		fl_sb_printf(&b, "scale\t%s\nC\t%g\nbias\t%.9g\n", scale_names[best_scale], best_c, best[ft.F]);
		for (int j = 0; j < ft.F; j++) {
			feature_name(km, &ft, j);
			fl_sb_printf(&b, "%s\t%.9g\n", km, best[j]);
		}
		fl_outs_write_close(3, &b);
	}
	free(b.buf);
	fl_close_stdout();
	if (!fl_quiet) {
		fprintf(stderr, "%s: %s: %lld records, positive class '%s'\n", fl_prog, scored->path, (long long)scored->n,
			labels[pos]);
		double vals[FL_N_RATES];
		fl_rate_values(vals, &s.bm, s.bm.accuracy);
		for (int i = 0; i < FL_N_RATES; i++) fprintf(stderr, "  %-12s %.4f\n", fl_rate_keys[i], vals[i]);
		fprintf(stderr, "  log_loss     %.4f\n", s.logloss);
	}
	fl_summary();
	free(p), free(x), free(best), free(pb.z), free(pb.ws), free(ft.mu), free(ft.sd);
	free_set(&tr), free_set(&dv);
	if (n_in == 3) free_set(&te);
	free(labels[0]), free(labels[1]);
	return 0;
}
