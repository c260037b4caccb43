/* metricsio.c: metrics and ROC files, and the string buffer they are built in (metricsio.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "metricsio.h"

void fl_sb_printf(fl_sbuf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(b->buf + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (k < 0) fl_die("formatting error");
		if ((size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		b->cap = 2 * b->cap + (size_t)k + 4096;
		if (!(b->buf = realloc(b->buf, b->cap))) fl_die("out of memory");
	}
}

void fl_sb_flush(fl_sbuf *b, gu_out *o)
{
	if (b->n && gu_out_write(o, b->buf, b->n) < 0) fl_die("%s", gu_errmsg());
	b->n = 0;
}

const char *const fl_rate_keys[FL_N_RATES] = {"accuracy", "sensitivity", "specificity", "precision",
						     "f1",	 "mcc",		"roc_auc"};

void fl_rate_values(double vals[FL_N_RATES], const gu_binary_metrics *bm, double accuracy)
{
	const double v[FL_N_RATES] = {accuracy, bm->sensitivity, bm->specificity, bm->precision,
				      bm->f1,	bm->mcc,	 bm->roc_auc};
	for (int i = 0; i < FL_N_RATES; i++) vals[i] = v[i];
}

void fl_metrics_text(fl_sbuf *b, const gu_binary_metrics *bm, double accuracy, const char *positive)
{
	double vals[FL_N_RATES];
	fl_rate_values(vals, bm, accuracy);
	fl_sb_printf(b, "n\t%lld\npositive\t%s\n", (long long)bm->n, positive);
	for (int i = 0; i < FL_N_RATES; i++) fl_sb_printf(b, "%s\t%.6f\n", fl_rate_keys[i], vals[i]);
	fl_sb_printf(b, "tp\t%lld\nfp\t%lld\ntn\t%lld\nfn\t%lld\n", (long long)bm->tp, (long long)bm->fp,
		     (long long)bm->tn, (long long)bm->fn);
}

void fl_roc_text(fl_sbuf *b, const double *score, const int *truth, size_t n, const char *what)
{
	double *fpr = malloc((n + 1) * sizeof *fpr), *tpr = malloc((n + 1) * sizeof *tpr);
	double *th = malloc((n + 1) * sizeof *th);
	if (!fpr || !tpr || !th) fl_die("out of memory");
	int64_t np = gu_roc_curve(fpr, tpr, th, score, truth, n);
	if (np < 0) fl_die("%s: %s", what, gu_errmsg());
	fl_sb_printf(b, "fpr\ttpr\tthreshold\n");
	for (int64_t i = 0; i < np; i++) fl_sb_printf(b, "%.6f\t%.6f\t%.6g\n", fpr[i], tpr[i], th[i]);
	free(fpr), free(tpr), free(th);
}

gu_out *fl_outs[FL_MAX_OUTS];

void fl_outs_abort(void)
{
	for (int i = 0; i < FL_MAX_OUTS; i++)
		if (fl_outs[i]) gu_out_close(fl_outs[i], 1), fl_outs[i] = NULL;
}

void fl_outs_write_close(int i, fl_sbuf *b)
{
	fl_sb_flush(b, fl_outs[i]);
	gu_out *o = fl_outs[i];
	fl_outs[i] = NULL;
	if (gu_out_close(o, 0) < 0) fl_die("%s", gu_errmsg());
}
