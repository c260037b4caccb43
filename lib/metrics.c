/* metrics.c: classification metrics for clspredict: binary counts and ratios, MCC, ROC-AUC by
 * the rank (Mann-Whitney) formula, ROC curve points, multi-class confusion matrix.
 *
 * Conventions follow scikit-learn where it defines them: roc_auc_score (ties count 1/2),
 * matthews_corrcoef (0 when the denominator is 0), f1_score (2tp / (2tp + fp + fn)). Other
 * undefined ratios (0/0) are NaN rather than sklearn's warned-about 0, so a report shows that a
 * number does not exist instead of a misleading value. Counts are int64_t and every product is
 * formed in double, so nothing overflows for any n that fits in memory. */
#include <math.h>
#include <stdlib.h>

#include "gulm.h"

/* One item for sorting by score. */
typedef struct {
	double s;
	int y;
} scored;

static int cmp_scored_desc(const void *a, const void *b)
{
	double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
	return (x < y) - (x > y);
}

/* Copies (score, truth) into a new array sorted by descending score (qsort: O(n log n)).
 * Counts positives and negatives. Rejects truth outside {0, 1} and NaN scores. */
static int sort_scored(scored **out, int64_t *npos, int64_t *nneg, const double *score,
		       const int *truth, size_t n, const char *fn)
{
	*out = NULL;
	*npos = *nneg = 0;
	if (n > SIZE_MAX / sizeof(scored)) return gu_err(GU_ENOMEM, "%s: %zu items is too many", fn, n);
	scored *a = gu_malloc(n * sizeof *a);
	if (!a) return GU_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (truth[i] != 0 && truth[i] != 1) {
			free(a);
			return gu_err(GU_EARG, "%s: truth[%zu] = %d is not 0 or 1", fn, i, truth[i]);
		}
		if (isnan(score[i])) {
			free(a);
			return gu_err(GU_ENUM, "%s: score[%zu] is NaN", fn, i);
		}
		a[i].s = score[i];
		a[i].y = truth[i];
		if (truth[i]) ++*npos;
		else ++*nneg;
	}
	qsort(a, n, sizeof *a, cmp_scored_desc);
	*out = a;
	return GU_OK;
}

/* Mann-Whitney AUC over a descending sort: every (positive, negative) pair with the positive
 * scored higher counts 1, a tie counts 1/2, divided by npos*nneg. Walking the groups of equal
 * score from the top, each positive in a group beats every negative below it and ties with the
 * negatives in the group. */
static double auc_sorted(const scored *a, size_t n, int64_t npos, int64_t nneg)
{
	if (npos == 0 || nneg == 0) return NAN;
	double wins = 0.0;          /* pair credit, counting a tie as 1/2 */
	int64_t neg_below = nneg;   /* negatives strictly below the current group */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		int64_t gp = 0, gn = 0;
		for (; j < n && a[j].s == a[i].s; j++) {
			if (a[j].y) gp++;
			else gn++;
		}
		neg_below -= gn;
		wins += (double)gp * ((double)neg_below + 0.5 * (double)gn);
		i = j;
	}
	return wins / ((double)npos * (double)nneg);
}

static double ratio(int64_t num, int64_t den)
{
	return den == 0 ? NAN : (double)num / (double)den;
}

int gu_binary_metrics_compute(gu_binary_metrics *out, const double *score, const int *pred,
			      const int *truth, size_t n)
{
	static const char fn[] = "binary metrics";
	if (!out || !pred || !truth) return gu_err(GU_EARG, "%s: NULL argument", fn);
	gu_binary_metrics m = {0};
	for (size_t i = 0; i < n; i++) {
		if (truth[i] != 0 && truth[i] != 1)
			return gu_err(GU_EARG, "%s: truth[%zu] = %d is not 0 or 1", fn, i, truth[i]);
		if (pred[i] != 0 && pred[i] != 1)
			return gu_err(GU_EARG, "%s: pred[%zu] = %d is not 0 or 1", fn, i, pred[i]);
		if (truth[i]) {
			if (pred[i]) m.tp++;
			else m.fn++;
		} else {
			if (pred[i]) m.fp++;
			else m.tn++;
		}
	}
	m.n = (int64_t)n;
	m.accuracy = ratio(m.tp + m.tn, m.n);
	m.sensitivity = ratio(m.tp, m.tp + m.fn);
	m.specificity = ratio(m.tn, m.tn + m.fp);
	m.precision = ratio(m.tp, m.tp + m.fp);
	/* Equals 2PR/(P+R) whenever that is defined, and is 0 (not NaN) when tp == 0 but some
	 * item is positive in truth or prediction (sklearn). */
	m.f1 = ratio(2 * m.tp, 2 * m.tp + m.fp + m.fn);
	/* tp*tn and fp*fn are each <= the denominator (tp <= tp+fp, tp+fn; likewise tn), so the
	 * double products lose nothing that matters relative to the result. */
	double den = sqrt((double)(m.tp + m.fp)) * sqrt((double)(m.tp + m.fn)) *
		     sqrt((double)(m.tn + m.fp)) * sqrt((double)(m.tn + m.fn));
	if (den == 0.0) {
		m.mcc = 0.0;
	} else {
		m.mcc = ((double)m.tp * (double)m.tn - (double)m.fp * (double)m.fn) / den;
		if (m.mcc > 1.0) m.mcc = 1.0;
		if (m.mcc < -1.0) m.mcc = -1.0;
	}
	m.roc_auc = NAN;
	if (score && n > 0) {
		scored *a;
		int64_t npos, nneg;
		int rc = sort_scored(&a, &npos, &nneg, score, truth, n, fn);
		if (rc < 0) return rc;
		m.roc_auc = auc_sorted(a, n, npos, nneg);
		free(a);
	}
	*out = m;
	return GU_OK;
}

int gu_confusion(int64_t *cm, double *accuracy, const int *pred, const int *truth, size_t n, int C)
{
	static const char fn[] = "confusion matrix";
	if (!cm || !pred || !truth) return gu_err(GU_EARG, "%s: NULL argument", fn);
	if (C < 1) return gu_err(GU_EARG, "%s: %d classes", fn, C);
	for (size_t i = 0; i < n; i++) {
		if (truth[i] < 0 || truth[i] >= C)
			return gu_err(GU_EARG, "%s: truth[%zu] = %d is outside [0, %d)", fn, i,
				      truth[i], C);
		if (pred[i] < 0 || pred[i] >= C)
			return gu_err(GU_EARG, "%s: pred[%zu] = %d is outside [0, %d)", fn, i, pred[i],
				      C);
	}
	/* validated first, so a failure leaves cm untouched */
	for (size_t k = 0; k < (size_t)C * (size_t)C; k++) cm[k] = 0;
	int64_t correct = 0;
	for (size_t i = 0; i < n; i++) {
		cm[(size_t)truth[i] * (size_t)C + (size_t)pred[i]]++;
		correct += truth[i] == pred[i];
	}
	if (accuracy) *accuracy = ratio(correct, (int64_t)n);
	return GU_OK;
}

int64_t gu_roc_curve(double *fpr, double *tpr, double *thresh, const double *score,
		     const int *truth, size_t n)
{
	static const char fn[] = "ROC curve";
	if (!fpr || !tpr || !score || !truth) return gu_err(GU_EARG, "%s: NULL argument", fn);
	scored *a;
	int64_t npos, nneg;
	int rc = sort_scored(&a, &npos, &nneg, score, truth, n, fn);
	if (rc < 0) return rc;
	if (npos == 0 || nneg == 0) {
		free(a);
		return gu_err(GU_EARG, "%s: needs both classes (%lld positive, %lld negative)", fn,
			      (long long)npos, (long long)nneg);
	}
	int64_t k = 0, tp = 0, fp = 0;
	fpr[k] = 0.0, tpr[k] = 0.0;
	if (thresh) thresh[k] = INFINITY;
	k++;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		for (; j < n && a[j].s == a[i].s; j++) {
			if (a[j].y) tp++;
			else fp++;
		}
		fpr[k] = (double)fp / (double)nneg;
		tpr[k] = (double)tp / (double)npos;
		if (thresh) thresh[k] = a[i].s;
		k++;
		i = j;
	}
	free(a);
	return k;
}
