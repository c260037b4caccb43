/* metricsio.h: the text of the files clspredict writes beside its predictions (--metrics,
 * --roc), shared with baselines/lncbaseline so that a classical baseline is scored, tabulated and
 * plotted by the same keys; and the growing string buffer both build them in. */
#ifndef GU_METRICSIO_H
#define GU_METRICSIO_H
#include <stddef.h>

#include "gulm.h"

typedef struct {
	char *buf;
	size_t n, cap;
} fl_sbuf;

/* Appends to b (dies when out of memory). */
void fl_sb_printf(fl_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes b to o and empties it (dies on a write error). */
void fl_sb_flush(fl_sbuf *b, gu_out *o);

/* The output files of a scoring program (predictions, metrics, ROC, ...), opened by the caller
 * into fl_outs[i]; fl_outs_abort (an fl_on_die handler) discards those still open, so a fatal
 * error leaves no partial file under a final name. */
enum { FL_MAX_OUTS = 4 };
extern gu_out *fl_outs[FL_MAX_OUTS];
void fl_outs_abort(void);
/* Writes b to output i and closes it (dies on a write error). */
void fl_outs_write_close(int i, fl_sbuf *b);

/* The seven rates of a metrics file, in its order, and their values from bm and accuracy (see
 * fl_metrics_text); clspredict prints them on stderr too. */
enum { FL_N_RATES = 7 };
extern const char *const fl_rate_keys[FL_N_RATES];
void fl_rate_values(double vals[FL_N_RATES], const gu_binary_metrics *bm, double accuracy);
/* The KEY<TAB>VALUE lines of a metrics file: n, positive, accuracy, sensitivity, specificity,
 * precision, f1, mcc, roc_auc (%.6f), tp, fp, tn, fn. accuracy is passed apart: clspredict's
 * counts every class (the confusion matrix's trace), which equals bm->accuracy with two. */
void fl_metrics_text(fl_sbuf *b, const gu_binary_metrics *bm, double accuracy, const char *positive);
/* The ROC file: "fpr<TAB>tpr<TAB>threshold", then one line per point of gu_roc_curve. Dies
 * (naming what) when the curve cannot be made. */
void fl_roc_text(fl_sbuf *b, const double *score, const int *truth, size_t n, const char *what);
#endif
