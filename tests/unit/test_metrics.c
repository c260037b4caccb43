/* test_metrics.c: binary metrics, ROC-AUC and ROC curve, confusion matrix against hand-computed
 * values, and the O(n log n) AUC against a brute-force pair count on random data with ties. */
#include <string.h>

#include "gulm.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The definition itself: over all (positive, negative) pairs, 1 when the positive scores higher,
 * 1/2 on a tie. O(n^2). */
static double auc_bruteforce(const double *s, const int *y, size_t n)
{
	double wins = 0;
	int64_t pairs = 0;
	for (size_t i = 0; i < n; i++) {
		if (!y[i]) continue;
		for (size_t j = 0; j < n; j++) {
			if (y[j]) continue;
			pairs++;
			wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
		}
	}
	return pairs ? wins / (double)pairs : NAN;
}

/* Trapezoid area under the curve gu_roc_curve returns. */
static double trapezoid(const double *x, const double *y, int64_t k)
{
	double a = 0;
	for (int64_t i = 1; i < k; i++) a += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
	return a;
}

static void test_ten_items(void)
{
	/* truth 1 1 1 1 0 0 0 0 0 0 | pred 1 1 1 0 1 0 0 0 0 0: tp 3, fn 1, fp 1, tn 5 */
	const int truth[10] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
	const int pred[10] = {1, 1, 1, 0, 1, 0, 0, 0, 0, 0};
	/* scores: positives 0.9 0.8 0.7 0.3; negatives 0.6 0.4 0.3 0.2 0.1 0.05.
	 * pairs 4*6 = 24: 0.9, 0.8, 0.7 beat all 6 (18); 0.3 beats 0.2 0.1 0.05 (3), ties 0.3
	 * (0.5), loses to 0.6 0.4 -> 21.5/24 */
	const double score[10] = {0.9, 0.8, 0.7, 0.3, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05};
	gu_binary_metrics m;
	CHECK(gu_binary_metrics_compute(&m, score, pred, truth, 10) == GU_OK, "%s", gu_errmsg());
	CHECK(m.n == 10 && m.tp == 3 && m.fn == 1 && m.fp == 1 && m.tn == 5,
	      "counts n %lld tp %lld fn %lld fp %lld tn %lld", (long long)m.n, (long long)m.tp,
	      (long long)m.fn, (long long)m.fp, (long long)m.tn);
	CHECK_CLOSE(m.accuracy, 0.8, 0, 1e-15, "accuracy");
	CHECK_CLOSE(m.sensitivity, 0.75, 0, 1e-15, "sensitivity");
	CHECK_CLOSE(m.specificity, 5.0 / 6, 0, 1e-15, "specificity");
	CHECK_CLOSE(m.precision, 0.75, 0, 1e-15, "precision");
	CHECK_CLOSE(m.f1, 0.75, 0, 1e-15, "f1");
	/* (3*5 - 1*1) / sqrt(4*4*6*6) = 14/24 */
	CHECK_CLOSE(m.mcc, 14.0 / 24, 0, 1e-15, "mcc");
	CHECK_CLOSE(m.roc_auc, 21.5 / 24, 0, 1e-15, "roc_auc");
	CHECK_CLOSE(m.roc_auc, auc_bruteforce(score, truth, 10), 0, 1e-15, "roc_auc brute force");

	/* ROC curve: distinct scores descending 0.9 0.8 0.7 0.6 0.4 0.3 0.2 0.1 0.05 -> 10 points */
	double fpr[11], tpr[11], thr[11];
	int64_t k = gu_roc_curve(fpr, tpr, thr, score, truth, 10);
	CHECK(k == 10, "points %lld", (long long)k);
	const double want_fpr[10] = {0, 0, 0, 0, 1.0 / 6, 2.0 / 6, 3.0 / 6, 4.0 / 6, 5.0 / 6, 1};
	const double want_tpr[10] = {0, .25, .5, .75, .75, .75, 1, 1, 1, 1};
	const double want_thr[9] = {0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05};
	CHECK(isinf(thr[0]) && thr[0] > 0, "thresh[0] %g", thr[0]);
	for (int i = 0; i < 10; i++) {
		CHECK_CLOSE(fpr[i], want_fpr[i], 1e-15, 0, "fpr");
		CHECK_CLOSE(tpr[i], want_tpr[i], 1e-15, 0, "tpr");
		if (i) CHECK(thr[i] == want_thr[i - 1], "thresh[%d] %g", i, thr[i]);
	}
	CHECK_CLOSE(trapezoid(fpr, tpr, k), m.roc_auc, 1e-15, 0, "trapezoid area = AUC");
	/* thresh may be NULL */
	CHECK(gu_roc_curve(fpr, tpr, NULL, score, truth, 10) == 10, "no thresh");
}

static void test_auc_ties(void)
{
	/* positives 0.35, 0.8; negatives 0.1, 0.4: pairs (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4)
	 * -> 3/4 */
	const double s1[4] = {0.1, 0.4, 0.35, 0.8};
	const int y1[4] = {0, 0, 1, 1};
	const int p1[4] = {0, 0, 0, 1};
	gu_binary_metrics m;
	CHECK(gu_binary_metrics_compute(&m, s1, p1, y1, 4) == GU_OK, "%s", gu_errmsg());
	CHECK_CLOSE(m.roc_auc, 0.75, 0, 1e-15, "auc 0.75");
	/* with a tie: positives 0.4, 0.8; negatives 0.1, 0.4 -> (1 + 0.5 + 1 + 1)/4 = 0.875 */
	const double s2[4] = {0.1, 0.4, 0.4, 0.8};
	CHECK(gu_binary_metrics_compute(&m, s2, p1, y1, 4) == GU_OK, "%s", gu_errmsg());
	CHECK_CLOSE(m.roc_auc, 0.875, 0, 1e-15, "auc with tie");
	/* every score equal -> 0.5 */
	const double s3[4] = {0.5, 0.5, 0.5, 0.5};
	CHECK(gu_binary_metrics_compute(&m, s3, p1, y1, 4) == GU_OK, "%s", gu_errmsg());
	CHECK_CLOSE(m.roc_auc, 0.5, 0, 1e-15, "auc all tied");
	double fpr[5], tpr[5];
	CHECK(gu_roc_curve(fpr, tpr, NULL, s3, y1, 4) == 2, "all tied: two points");
	CHECK(fpr[1] == 1 && tpr[1] == 1, "all tied: (1,1)");
	/* infinities are ordinary scores */
	const double s4[4] = {-INFINITY, 0.4, INFINITY, 0.8};
	CHECK(gu_binary_metrics_compute(&m, s4, p1, y1, 4) == GU_OK, "%s", gu_errmsg());
	CHECK_CLOSE(m.roc_auc, 1.0, 0, 1e-15, "auc with infinities");
}

static void test_extremes(void)
{
	const int truth[6] = {1, 0, 1, 0, 0, 1};
	const double score[6] = {0.9, 0.2, 0.7, 0.4, 0.1, 0.6};
	int pred[6], inv[6];
	double iscore[6];
	for (int i = 0; i < 6; i++) pred[i] = truth[i], inv[i] = !truth[i], iscore[i] = 1 - score[i];
	gu_binary_metrics m;
	CHECK(gu_binary_metrics_compute(&m, score, pred, truth, 6) == GU_OK, "%s", gu_errmsg());
	CHECK(m.tp == 3 && m.tn == 3 && m.fp == 0 && m.fn == 0, "all correct counts");
	CHECK_CLOSE(m.roc_auc, 1, 0, 0, "all correct auc");
	CHECK_CLOSE(m.mcc, 1, 0, 0, "all correct mcc");
	CHECK_CLOSE(m.accuracy, 1, 0, 0, "all correct accuracy");
	CHECK_CLOSE(m.f1, 1, 0, 0, "all correct f1");
	CHECK(gu_binary_metrics_compute(&m, iscore, inv, truth, 6) == GU_OK, "%s", gu_errmsg());
	CHECK(m.tp == 0 && m.tn == 0 && m.fp == 3 && m.fn == 3, "all inverted counts");
	CHECK_CLOSE(m.roc_auc, 0, 0, 0, "all inverted auc");
	CHECK_CLOSE(m.mcc, -1, 0, 0, "all inverted mcc");
	CHECK_CLOSE(m.accuracy, 0, 0, 0, "all inverted accuracy");
	CHECK_CLOSE(m.f1, 0, 0, 0, "all inverted f1 (tp 0, fp+fn > 0)");
	CHECK_CLOSE(m.precision, 0, 0, 0, "all inverted precision");

	/* one class only: AUC NaN, MCC 0 (denominator 0), specificity NaN (no negatives) */
	const int ones[3] = {1, 1, 1}, p3[3] = {1, 0, 1};
	const double s3[3] = {0.9, 0.2, 0.8};
	CHECK(gu_binary_metrics_compute(&m, s3, p3, ones, 3) == GU_OK, "%s", gu_errmsg());
	CHECK(isnan(m.roc_auc), "single class auc %g", m.roc_auc);
	CHECK(m.mcc == 0, "single class mcc %g", m.mcc);
	CHECK(isnan(m.specificity), "single class specificity %g", m.specificity);
	CHECK_CLOSE(m.sensitivity, 2.0 / 3, 0, 1e-15, "single class sensitivity");
	CHECK_CLOSE(m.precision, 1, 0, 0, "single class precision");
	CHECK_CLOSE(m.f1, 0.8, 0, 1e-15, "single class f1");
	double fpr[4], tpr[4];
	CHECK(gu_roc_curve(fpr, tpr, NULL, s3, ones, 3) == GU_EARG, "roc curve, one class");

	/* nothing predicted positive: precision NaN, f1 0, mcc 0 */
	const int zeros[6] = {0};
	CHECK(gu_binary_metrics_compute(&m, score, zeros, truth, 6) == GU_OK, "%s", gu_errmsg());
	CHECK(isnan(m.precision) && m.f1 == 0 && m.mcc == 0, "no predicted positive: %g %g %g",
	      m.precision, m.f1, m.mcc);
	CHECK_CLOSE(m.roc_auc, 1, 0, 0, "auc independent of pred");

	/* score NULL: AUC NaN, the rest computed */
	CHECK(gu_binary_metrics_compute(&m, NULL, pred, truth, 6) == GU_OK, "%s", gu_errmsg());
	CHECK(isnan(m.roc_auc) && m.mcc == 1, "NULL score");

	/* n = 0: everything NaN, mcc 0 */
	CHECK(gu_binary_metrics_compute(&m, score, pred, truth, 0) == GU_OK, "%s", gu_errmsg());
	CHECK(m.n == 0 && isnan(m.accuracy) && isnan(m.f1) && isnan(m.roc_auc) && m.mcc == 0,
	      "empty");
}

static void test_errors(void)
{
	gu_binary_metrics m;
	m.tp = 12345;
	const int truth[3] = {0, 2, 1}, pred[3] = {0, 1, 1}, good[3] = {0, 1, 1};
	const double score[3] = {0.1, 0.2, 0.3}, nscore[3] = {0.1, NAN, 0.3};
	CHECK(gu_binary_metrics_compute(&m, score, pred, truth, 3) == GU_EARG, "truth 2");
	CHECK(strstr(gu_errmsg(), "truth[1]") != NULL, "message: %s", gu_errmsg());
	CHECK(m.tp == 12345, "out untouched on failure");
	CHECK(gu_binary_metrics_compute(&m, score, truth, good, 3) == GU_EARG, "pred 2");
	CHECK(gu_binary_metrics_compute(&m, nscore, pred, good, 3) == GU_ENUM, "NaN score");
	CHECK(gu_binary_metrics_compute(NULL, score, pred, good, 3) == GU_EARG, "NULL out");
	CHECK(gu_binary_metrics_compute(&m, score, NULL, good, 3) == GU_EARG, "NULL pred");
	double fpr[4], tpr[4];
	CHECK(gu_roc_curve(fpr, tpr, NULL, score, truth, 3) == GU_EARG, "roc: truth 2");
	CHECK(gu_roc_curve(fpr, tpr, NULL, nscore, good, 3) == GU_ENUM, "roc: NaN score");
	int64_t cm[4] = {7, 7, 7, 7};
	CHECK(gu_confusion(cm, NULL, pred, truth, 3, 2) == GU_EARG, "confusion: truth 2 of C 2");
	CHECK(cm[0] == 7 && cm[3] == 7, "cm untouched on failure");
	const int neg[1] = {-1}, zero[1] = {0};
	CHECK(gu_confusion(cm, NULL, neg, zero, 1, 2) == GU_EARG, "confusion: pred -1");
	CHECK(gu_confusion(cm, NULL, zero, zero, 1, 0) == GU_EARG, "confusion: C 0");
}

static void test_confusion(void)
{
	/* 3 classes, 9 items:
	 * truth 0 0 0 1 1 1 2 2 2
	 * pred  0 0 1 1 1 2 2 0 2
	 * rows truth, columns prediction:
	 *   2 1 0
	 *   0 2 1
	 *   1 0 2   trace 6 of 9 */
	const int truth[9] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
	const int pred[9] = {0, 0, 1, 1, 1, 2, 2, 0, 2};
	const int64_t want[9] = {2, 1, 0, 0, 2, 1, 1, 0, 2};
	int64_t cm[9];
	memset(cm, 0xff, sizeof cm);
	double acc = -1;
	CHECK(gu_confusion(cm, &acc, pred, truth, 9, 3) == GU_OK, "%s", gu_errmsg());
	for (int i = 0; i < 9; i++)
		CHECK(cm[i] == want[i], "cm[%d][%d] = %lld want %lld", i / 3, i % 3,
		      (long long)cm[i], (long long)want[i]);
	CHECK_CLOSE(acc, 6.0 / 9, 0, 1e-15, "3-class accuracy");
	CHECK(gu_confusion(cm, NULL, pred, truth, 9, 3) == GU_OK, "NULL accuracy");
	CHECK(gu_confusion(cm, &acc, pred, truth, 0, 3) == GU_OK && isnan(acc) && cm[4] == 0,
	      "empty confusion");
	/* two classes agree with the binary counts (positive = class 1) */
	const int t2[10] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
	const int p2[10] = {1, 1, 1, 0, 1, 0, 0, 0, 0, 0};
	int64_t c2[4];
	gu_binary_metrics m;
	CHECK(gu_confusion(c2, &acc, p2, t2, 10, 2) == GU_OK, "%s", gu_errmsg());
	CHECK(gu_binary_metrics_compute(&m, NULL, p2, t2, 10) == GU_OK, "%s", gu_errmsg());
	CHECK(c2[0] == m.tn && c2[1] == m.fp && c2[2] == m.fn && c2[3] == m.tp, "2-class layout");
	CHECK_CLOSE(acc, m.accuracy, 0, 0, "2-class accuracy");
}

static void test_random(void)
{
	enum { N = 2000 };
	static double score[N];
	static int truth[N], pred[N];
	static double fpr[N + 1], tpr[N + 1], thr[N + 1];
	gu_rng r;
	gu_rng_seed(&r, 20240607);
	for (int rep = 0; rep < 4; rep++) {
		/* scores on a coarse grid (many ties; rep 3: only 5 levels), positives shifted up,
		 * class balance varying per rep */
		int levels = rep == 3 ? 5 : 50;
		double ppos = rep == 2 ? 0.05 : 0.4;
		for (int i = 0; i < N; i++) {
			truth[i] = gu_rng_uniform(&r) < ppos;
			double u = gu_rng_uniform(&r) + (truth[i] ? 0.3 : 0.0);
			score[i] = floor(u / 1.3 * levels) / levels;
			pred[i] = score[i] >= 0.5;
		}
		gu_binary_metrics m;
		CHECK(gu_binary_metrics_compute(&m, score, pred, truth, N) == GU_OK, "%s",
		      gu_errmsg());
		double want = auc_bruteforce(score, truth, N);
		CHECK(want > 0.55 && want < 0.95, "rep %d: test data AUC %g", rep, want);
		CHECK_CLOSE(m.roc_auc, want, 1e-12, 0, "random AUC vs pair count");
		int64_t k = gu_roc_curve(fpr, tpr, thr, score, truth, N);
		CHECK(k >= 2 && k <= levels + 2, "rep %d: points %lld", rep, (long long)k);
		CHECK(fpr[0] == 0 && tpr[0] == 0 && fpr[k - 1] == 1 && tpr[k - 1] == 1, "ends");
		for (int64_t i = 1; i < k; i++)
			CHECK(fpr[i] >= fpr[i - 1] && tpr[i] >= tpr[i - 1] && thr[i] < thr[i - 1],
			      "monotone at %lld", (long long)i);
		CHECK_CLOSE(trapezoid(fpr, tpr, k), want, 1e-12, 0, "random trapezoid vs pair count");
		/* counts and MCC from their definitions */
		int64_t tp = 0, fp = 0, tn = 0, fn = 0;
		for (int i = 0; i < N; i++) {
			tp += truth[i] && pred[i];
			fp += !truth[i] && pred[i];
			tn += !truth[i] && !pred[i];
			fn += truth[i] && !pred[i];
		}
		CHECK(m.tp == tp && m.fp == fp && m.tn == tn && m.fn == fn, "random counts");
		double mcc = ((double)tp * tn - (double)fp * fn) /
			     sqrt((double)(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
		CHECK_CLOSE(m.mcc, mcc, 1e-12, 0, "random mcc");
		double p = (double)tp / (tp + fp), rc = (double)tp / (tp + fn);
		CHECK_CLOSE(m.f1, 2 * p * rc / (p + rc), 1e-12, 0, "random f1 = 2PR/(P+R)");
	}
}

int main(void)
{
	test_ten_items();
	test_auc_ties();
	test_extremes();
	test_errors();
	test_confusion();
	test_random();
	return tu_done("test_metrics");
}
