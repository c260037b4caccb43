/* clspredict: class probabilities of every record of token streams from a classifier, and the
 * classification metrics when the records carry labels. */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clsdata.h"
#include "common.h"
#include "metricsio.h"

void openblas_set_num_threads(int);

#define MAX_MODELS 16

enum { TRACK_NONE, TRACK_BED, TRACK_BEDGRAPH };
/* -S: which window strands the track takes (bit 0 '+', bit 1 '-'); 0 = the track's default */
enum { STRAND_FWD = 1, STRAND_REV = 2, STRAND_BOTH = 3 };

typedef struct {
	const char *model[MAX_MODELS], *out, *positive, *metrics, *roc;
	int n_models, B, threads;
	int track, strand; /* --bed / --bedgraph, -S */
} opts_t;

static void usage(FILE *fp, const opts_t *o)
{
	fprintf(fp,
		"Usage: clspredict -m CLS [options] [STREAM...]\n"
		"       clspredict -m CLS1 -m CLS2 ... STREAM1 STREAM2 ...\n"
		"Classify every record of token streams (man 5 tokstream; '-' or none for stdin) with a\n"
		"classifier made by clstrain. Writes TSV: a header, then per record, in input order,\n"
		"NAME<TAB>PREDICTED<TAB>P_<LABEL>... (one probability per class, the model's label order).\n"
		"When records carry labels, prints accuracy, sensitivity, specificity, precision, F1, MCC,\n"
		"ROC-AUC and the confusion matrix on stderr (metrics over the labelled records).\n"
		"With several -m (an ensemble), model i reads stream i, the streams hold the same records\n"
		"in the same order (e.g. fa2kmer -S fwd and -S rev of one file), and the class\n"
		"probabilities are the mean over the models.\n\n"
		"Options:\n"
		"  -m, --model FILE    classifier model (man 5 ulmmodel) [required; repeat for an ensemble]\n"
		"  -o FILE             predictions (TSV or track), written atomically [stdout]\n"
		"  -b, --batch INT     records per batch (length-sorted) [%d]\n"
		"  -t, --threads INT   threads [%d]\n"
		"      --positive STR  positive class for the binary metrics [the model's first label]\n"
		"      --metrics FILE  also write the metrics as KEY<TAB>VALUE lines\n"
		"      --roc FILE      write the ROC curve (fpr, tpr, threshold TSV) of the positive class\n"
		"Tracks of genome windows (records named CHROM:START-END(+|-) by fa2kmer --window), streamed\n"
		"in input order in groups of 16 batches per thread, so memory does not grow with the genome:\n"
		"      --bed           BED6: CHROM START END PREDICTED round(1000 P) STRAND (P: probability\n"
		"                      of --positive); windows of both strands in one file\n"
		"      --bedgraph      bedGraph: CHROM START END P, windows of one strand\n"
		"  -S, --strand STR    the windows a track takes: fwd (+), rev (-) or both (--bed only)\n"
		"                      [--bed: both, --bedgraph: fwd]\n"
		"  -q                  quiet: no progress, metrics table or summary\n"
		"  -h, --help          this help;  --version  print the version\n",
		o->B, o->threads);
}

/* ---- batched inference over worker threads --------------------------------------------- */

/* One worker's classifier workspace and batch buffers, kept from call to call. */
typedef struct {
	gu_cls *w;
	int32_t *ids; /* (S,B) */
	size_t ids_cap;
	float *pb; /* (B,C) */
} wbuf_t;

/* A model and the workspaces of up to `threads` workers. */
typedef struct {
	gu_model *m;
	int B, threads;
	wbuf_t *wb; /* (threads) */
} predictor_t;

static void predictor_init(predictor_t *p, gu_model *m, int B, int threads)
{
	*p = (predictor_t){.m = m, .B = B, .threads = threads, .wb = calloc((size_t)threads, sizeof(wbuf_t))};
	if (!p->wb) fl_die("out of memory");
}

static void predictor_free(predictor_t *p)
{
	for (int i = 0; i < p->threads; i++) gu_cls_free(p->wb[i].w), free(p->wb[i].ids), free(p->wb[i].pb);
	free(p->wb);
}

typedef struct {
	const cd_set *s;
	predictor_t *p;
	const uint32_t *order; /* records sorted by length, longest first */
	int B, C, progress;
	int64_t n_batches;
	float *probs;          /* (n,C) by record index */
	atomic_llong next;     /* next batch to take */
	atomic_llong done_tok;
	atomic_int failed;
	pthread_mutex_t mu;
	char err[512];
} job_t;

typedef struct {
	job_t *job;
	int id;
} worker_arg;

static void job_fail(job_t *j, const char *msg)
{
	pthread_mutex_lock(&j->mu);
	if (!j->failed) snprintf(j->err, sizeof j->err, "%s", msg);
	atomic_store(&j->failed, 1);
	pthread_mutex_unlock(&j->mu);
}

/* Makes the worker's buffers ready for batches of up to S tokens; 0 or -1 (message in j). */
static int wbuf_ready(job_t *j, wbuf_t *wb, int64_t S)
{
	int B = j->B;
	if (!wb->w && !(wb->w = gu_cls_new(j->p->m, B))) {
		job_fail(j, gu_errmsg());
		return -1;
	}
	if (!wb->pb && !(wb->pb = malloc((size_t)B * (size_t)j->C * sizeof *wb->pb))) goto oom;
	size_t need = (size_t)(S > 0 ? S : 1) * (size_t)B;
	if (need > wb->ids_cap) {
		free(wb->ids);
		if (!(wb->ids = malloc(need * sizeof *wb->ids))) goto oom;
		wb->ids_cap = need;
	}
	return 0;
oom:
	job_fail(j, "out of memory");
	return -1;
}

static void *worker(void *arg)
{
	worker_arg *wa = arg;
	job_t *j = wa->job;
	const cd_set *s = j->s;
	int B = j->B, C = j->C;
	wbuf_t *wb = &j->p->wb[wa->id];
	if (wbuf_ready(j, wb, s->max_len) < 0) return NULL;
	for (;;) {
		if (atomic_load(&j->failed)) break;
		int64_t k = atomic_fetch_add(&j->next, 1);
		if (k >= j->n_batches) break;
		const uint32_t *rows = j->order + k * B;
		int nb = (int)(s->n - k * B < B ? s->n - k * B : B);
		int S = cd_batch(s, rows, nb, wb->ids, NULL);
		gu_loss ls;
		if (gu_cls_step(wb->w, NULL, wb->pb, wb->ids, NULL, S, nb, 0, NULL, &ls) < 0) {
			job_fail(j, gu_errmsg());
			break;
		}
		int64_t tok = 0;
		for (int b = 0; b < nb; b++) {
			memcpy(j->probs + (size_t)rows[b] * C, wb->pb + (size_t)b * C, (size_t)C * sizeof *wb->pb);
			tok += cd_len(s, rows[b]);
		}
		long long done = atomic_fetch_add(&j->done_tok, tok) + tok;
		if (wa->id == 0 && j->progress)
			fl_progress("predicting: %lld of %lld batches, %lld of %lld tokens", (long long)k + 1,
				    (long long)j->n_batches, done, (long long)s->n_tok);
	}
	return NULL;
}

/* Fills probs (n,C) for the records of s, in batches of p->B sorted by length, on up to
 * p->threads workers; progress: per-batch progress lines. Returns the seconds it took. */
static double predict(predictor_t *p, const cd_set *s, float *probs, int progress)
{
	int B = p->B, threads = p->threads;
	job_t j = {.s = s, .p = p, .B = B, .C = p->m->hp.n_classes, .probs = probs, .progress = progress};
	uint32_t *order = malloc((size_t)(s->n ? s->n : 1) * sizeof *order);
	if (!order) fl_die("out of memory");
	cd_sort_desc(s, order);
	j.order = order;
	j.n_batches = (s->n + B - 1) / B;
	atomic_init(&j.next, 0), atomic_init(&j.done_tok, 0), atomic_init(&j.failed, 0);
	pthread_mutex_init(&j.mu, NULL);
	/* one thread pool at a time: batches in parallel with single-threaded GEMMs, or (a single
	 * batch) one worker with threaded GEMMs */
	int workers = (int)(j.n_batches < threads ? j.n_batches : threads);
	if (workers < 1) workers = 1;
	openblas_set_num_threads(workers > 1 ? 1 : threads);
	pthread_t tid[256];
	worker_arg args[256];
	double t0 = gu_realtime();
	int started = 1;
	for (int i = 0; i < workers; i++) args[i] = (worker_arg){&j, i};
	for (int i = 1; i < workers; i++, started++)
		if (pthread_create(&tid[i], NULL, worker, &args[i]) != 0) break;
	worker(&args[0]);
	for (int i = 1; i < started; i++) pthread_join(tid[i], NULL);
	double secs = gu_realtime() - t0;
	if (progress) fl_progress_end();
	if (atomic_load(&j.failed)) fl_die("%s", j.err);
	pthread_mutex_destroy(&j.mu);
	free(order);
	return secs;
}

/* ---- output ------------------------------------------------------------------------------- */

static void report_metrics(const cd_set *s, const gu_model *m, const float *probs, int pos, const opts_t *o)
{
	int C = m->hp.n_classes;
	size_t n = 0;
	int *pred = malloc((size_t)s->n * sizeof *pred), *truth = malloc((size_t)s->n * sizeof *truth);
	int *bpred = malloc((size_t)s->n * sizeof *bpred), *btruth = malloc((size_t)s->n * sizeof *btruth);
	double *score = malloc((size_t)s->n * sizeof *score);
	int64_t *cm = calloc((size_t)C * C, sizeof *cm);
	if (!pred || !truth || !bpred || !btruth || !score || !cm) fl_die("out of memory");
	for (int64_t i = 0; i < s->n; i++) {
		if (s->label[i] < 0) continue;
		const float *p = probs + (size_t)i * C;
		int am = 0;
		for (int c = 1; c < C; c++)
			if (p[c] > p[am]) am = c;
		pred[n] = am, truth[n] = s->label[i];
		bpred[n] = am == pos, btruth[n] = s->label[i] == pos, score[n] = p[pos];
		n++;
	}
	gu_binary_metrics bm;
	double acc;
	if (gu_binary_metrics_compute(&bm, score, bpred, btruth, n) < 0 ||
	    gu_confusion(cm, &acc, pred, truth, n, C) < 0)
		fl_die("metrics: %s", gu_errmsg());
	double vals[FL_N_RATES];
	fl_rate_values(vals, &bm, acc);
	fl_sbuf b = {0};
	if (!fl_quiet) {
		fl_progress_end();
		fprintf(stderr, "%s: metrics over %zu labelled records, positive class '%s'%s\n", fl_prog, n,
			m->labels[pos], n < (size_t)s->n ? " (records without a label skipped)" : "");
		for (int i = 0; i < FL_N_RATES; i++) fprintf(stderr, "  %-12s %.4f\n", fl_rate_keys[i], vals[i]);
		fprintf(stderr, "  tp %lld  fp %lld  tn %lld  fn %lld\n", (long long)bm.tp, (long long)bm.fp,
			(long long)bm.tn, (long long)bm.fn);
		int wdt = 9;
		for (int c = 0; c < C; c++)
			if ((int)strlen(m->labels[c]) > wdt) wdt = (int)strlen(m->labels[c]);
		fprintf(stderr, "  confusion matrix (rows: truth, columns: predicted)\n  %-*s", wdt, "");
		for (int c = 0; c < C; c++) fprintf(stderr, " %*s", wdt, m->labels[c]);
		fputc('\n', stderr);
		for (int t = 0; t < C; t++) {
			fprintf(stderr, "  %-*s", wdt, m->labels[t]);
			for (int c = 0; c < C; c++) fprintf(stderr, " %*lld", wdt, (long long)cm[t * C + c]);
			fputc('\n', stderr);
		}
	}
	if (o->metrics) {
		fl_metrics_text(&b, &bm, acc, m->labels[pos]);
		for (int t = 0; t < C; t++)
			for (int c = 0; c < C; c++)
				fl_sb_printf(&b, "confusion.%s.%s\t%lld\n", m->labels[t], m->labels[c], (long long)cm[t * C + c]);
		fl_outs_write_close(1, &b);
	}
	if (o->roc) {
		fl_roc_text(&b, score, btruth, n, "--roc");
		fl_outs_write_close(2, &b);
	}
	free(b.buf);
	free(pred), free(truth), free(bpred), free(btruth), free(score), free(cm);
}

/* ---- genome tracks ---------------------------------------------------------------------- */

/* A window record's name CHROM:START-END(+) or (-) (fa2kmer --window, man 5 tokstream): 0 and
 * the chrom length, start, end and strand ('+' or '-'), or -1 when name is not one. */
static int parse_window(const char *name, size_t *chrom_len, long long *beg, long long *end, char *strand)
{
	size_t n = strlen(name);
	if (n < 8 || name[n - 1] != ')' || name[n - 3] != '(' || (name[n - 2] != '+' && name[n - 2] != '-')) return -1;
	size_t c = n - 3; /* the colon before START */
	while (c > 0 && name[c - 1] != ':') c--;
	if (c < 2) return -1;
	const char *p = name + c, *stop = name + n - 3;
	long long v[2] = {0, 0};
	for (int i = 0; i < 2; i++) {
		if (p >= stop || *p < '0' || *p > '9') return -1;
		for (; p < stop && *p >= '0' && *p <= '9'; p++) {
			if (v[i] > (1LL << 50)) return -1;
			v[i] = v[i] * 10 + (*p - '0');
		}
		if (i == 0 && (p >= stop || *p++ != '-')) return -1;
	}
	if (p != stop || v[1] <= v[0]) return -1;
	*chrom_len = c - 1, *beg = v[0], *end = v[1], *strand = name[n - 2];
	return 0;
}

/* cd_read's filter: every record must be a window; keeps those of the strands asked for. */
static int keep_window(const char *name, const char *path, int64_t rec_no, void *arg)
{
	int strands = *(const int *)arg;
	size_t cl;
	long long b, e;
	char st;
	if (parse_window(name, &cl, &b, &e, &st) < 0)
		fl_die("%s: record %lld: name '%.200s' is not a window CHROM:START-END(+) or (-) (make windows with "
		       "fa2kmer --window)", path, (long long)rec_no, name);
	return st == '+' ? (strands & STRAND_FWD) != 0 : (strands & STRAND_REV) != 0;
}

/* --bed / --bedgraph: reads groups of windows from every stream (stream i for model i), scores
 * them, writes their track lines and goes on, so memory holds one group. */
static void scan_tracks(const opts_t *o, gu_model **ms, int M, char **inputs, int n_in, int pos)
{
	gu_model *m = ms[0];
	int C = m->hp.n_classes;
	int64_t G = (int64_t)o->B * o->threads * 16; /* records per group */
	cd_set sets[MAX_MODELS];
	cd_reader *rd[MAX_MODELS];
	predictor_t pr[MAX_MODELS];
	for (int i = 0; i < M; i++) {
		rd[i] = cd_open(&sets[i], M > 1 ? inputs + i : inputs, M > 1 ? 1 : n_in, ms[i]->vocab, "input");
		predictor_init(&pr[i], ms[i], o->B, o->threads);
	}
	float *probs = malloc((size_t)G * (size_t)C * sizeof *probs), *pm = M > 1 ? malloc((size_t)G * (size_t)C * sizeof *pm) : NULL;
	if (!probs || (M > 1 && !pm)) fl_die("out of memory");
	int strands = o->strand;
	fl_sbuf b = {0};
	int64_t n_rec = 0, n_tok = 0, n_unk = 0;
	double secs = 0, t0 = gu_realtime();
	for (;;) {
		int64_t n = cd_read(rd[0], G, keep_window, &strands);
		for (int i = 1; i < M; i++) {
			int64_t ni = cd_read(rd[i], G, keep_window, &strands);
			for (int64_t r = 0; r < (n < ni ? n : ni); r++)
				if (strcmp(cd_name(&sets[i], r), cd_name(&sets[0], r)) != 0)
					fl_die("%s: window %lld is %s, but %s has %s there (an ensemble needs the same windows in "
					       "each stream)", inputs[i], (long long)(n_rec + r + 1), cd_name(&sets[i], r), inputs[0],
					       cd_name(&sets[0], r));
			if (ni != n)
				fl_die("%s: %s windows than %s (an ensemble needs the same windows in each stream)", inputs[i],
				       ni < n ? "fewer" : "more", inputs[0]);
		}
		if (n == 0) break;
		if (fl_signalled()) fl_die("interrupted by a signal after %lld windows (no track written)", (long long)n_rec);
		for (int i = 0; i < M; i++) {
			cd_map_labels(&sets[i], m->labels, C, 0);
			secs += predict(&pr[i], &sets[i], M > 1 ? pm : probs, 0);
			n_tok += sets[i].n_tok, n_unk += sets[i].n_unk;
			if (M == 1) break;
			for (size_t j = 0; j < (size_t)n * C; j++) probs[j] = i ? probs[j] + pm[j] : pm[j];
		}
		const cd_set *s = &sets[0];
		for (int64_t r = 0; r < n; r++) {
			float *p = probs + (size_t)r * C;
			if (M > 1)
				for (int k = 0; k < C; k++) p[k] /= (float)M;
			int am = 0;
			for (int k = 1; k < C; k++)
				if (p[k] > p[am]) am = k;
			size_t cl;
			long long wb, we;
			char st;
			parse_window(cd_name(s, r), &cl, &wb, &we, &st); /* checked by keep_window */
			if (o->track == TRACK_BED)
				fl_sb_printf(&b, "%.*s\t%lld\t%lld\t%s\t%d\t%c\n", (int)cl, cd_name(s, r), wb, we, m->labels[am],
					     (int)lrint(1000.0 * p[pos]), st);
			else
				fl_sb_printf(&b, "%.*s\t%lld\t%lld\t%.6g\n", (int)cl, cd_name(s, r), wb, we, p[pos]);
		}
		fl_sb_flush(&b, fl_outs[0]);
		n_rec += n;
		double el = gu_realtime() - t0;
		fl_progress("%lld windows, %lld tokens in %.0f s: %.0f windows/s", (long long)n_rec, (long long)n_tok, el,
			    el > 0 ? n_rec / el : 0.0);
	}
	fl_progress_end();
	if (n_rec == 0)
		fl_die("%s: no window records%s", inputs[0], strands == STRAND_BOTH ? "" : strands == STRAND_FWD ? " of strand +" : " of strand -");
	fl_outs_write_close(0, &b);
	free(b.buf);
	fl_close_stdout();
	fl_info("%lld windows, %lld tokens (%lld unknown) scored in %.2f s: %.0f tokens/s, %d threads, batch %d%s",
		(long long)n_rec, (long long)n_tok, (long long)n_unk, secs, secs > 0 ? n_tok / secs : 0.0, o->threads,
		o->B, M > 1 ? " (all models)" : "");
	for (int i = 0; i < M; i++) cd_close(rd[i]), cd_free(&sets[i]), predictor_free(&pr[i]);
	free(probs), free(pm);
}

/* --bed / --bedgraph against -S, --metrics and --roc; fills in the default strands. */
static void check_track_opts(opts_t *o)
{
	if (!o->track) {
		if (o->strand) fl_usage_error("-S chooses the windows of a track: give --bed or --bedgraph");
		return;
	}
	if (o->metrics || o->roc) fl_usage_error("%s needs the TSV output, not a track", o->metrics ? "--metrics" : "--roc");
	if (!o->strand) o->strand = o->track == TRACK_BED ? STRAND_BOTH : STRAND_FWD;
	if (o->track == TRACK_BEDGRAPH && o->strand == STRAND_BOTH)
		fl_usage_error("--bedgraph holds one strand: -S fwd or -S rev (or --bed for both)");
}

int main(int argc, char **argv)
{
	opts_t o = {.out = "-", .B = 64, .threads = 1};
	static const struct option lopts[] = {
		{"model", required_argument, 0, 'm'},	{"batch", required_argument, 0, 'b'},
		{"threads", required_argument, 0, 't'}, {"positive", required_argument, 0, 1},
		{"metrics", required_argument, 0, 2},	{"roc", required_argument, 0, 3},
		{"help", no_argument, 0, 'h'},		{"version", no_argument, 0, 4},
		{"bed", no_argument, 0, 5},		{"bedgraph", no_argument, 0, 6},
		{"strand", required_argument, 0, 'S'},
		{0, 0, 0, 0}};
	fl_init("clspredict", argc, argv);
	signal(SIGPIPE, SIG_IGN); /* a closed pipe is a write error with a message, not a silent death */
	int c;
	while ((c = getopt_long(argc, argv, "m:o:b:t:S:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (o.n_models == MAX_MODELS) fl_usage_error("-m: at most %d models", MAX_MODELS);
			o.model[o.n_models++] = optarg;
			break;
		case 'o': o.out = optarg; break;
		case 'b': o.B = (int)fl_parse_long(optarg, "-b", 1, 65536); break;
		case 't': o.threads = (int)fl_parse_long(optarg, "-t", 1, 256); break;
		case 1: o.positive = optarg; break;
		case 2: o.metrics = optarg; break;
		case 3: o.roc = optarg; break;
		case 5:
		case 6:
			if (o.track && o.track != (c == 5 ? TRACK_BED : TRACK_BEDGRAPH)) fl_usage_error("--bed and --bedgraph are exclusive");
			o.track = c == 5 ? TRACK_BED : TRACK_BEDGRAPH;
			break;
		case 'S':
			o.strand = (const int[]){STRAND_FWD, STRAND_REV, STRAND_BOTH}
				[fl_parse_choice(optarg, "--strand", (const char *const[]){"fwd", "rev", "both", NULL})];
			break;
		case 'q': fl_quiet = 1; break;
		case 'h': usage(stdout, &o); fl_close_stdout(); return 0;
		case 4: printf("clspredict %s\n", GU_VERSION); fl_close_stdout(); return 0;
		default: fl_bad_option(argv);
		}
	}
	if (o.n_models == 0) fl_usage_error("a classifier is required (-m CLS)");
	check_track_opts(&o);
	int n_in = argc - optind, M = o.n_models;
	char *stdin_arg[] = {"-"};
	char **inputs = n_in > 0 ? argv + optind : stdin_arg;
	if (n_in == 0) n_in = 1;
	for (int i = 0; i < n_in; i++)
		if (strcmp(inputs[i], "-") == 0 && n_in > 1) fl_usage_error("'-' (stdin) cannot be combined with other inputs");
	if (M > 1 && n_in != M)
		fl_usage_error("%d models need %d streams, one per model in the same order (got %d)", M, M, n_in);

	gu_model *ms[MAX_MODELS] = {0};
	for (int i = 0; i < M; i++) {
		if (!(ms[i] = gu_model_read(o.model[i]))) fl_die("%s", gu_errmsg());
		if (ms[i]->hp.kind != GU_MODEL_CLS)
			fl_die("%s: a language model, not a classifier (make one with clstrain)", o.model[i]);
		if (i == 0) continue;
		int same = ms[i]->hp.n_classes == ms[0]->hp.n_classes;
		for (int k = 0; same && k < ms[0]->hp.n_classes; k++) same = strcmp(ms[i]->labels[k], ms[0]->labels[k]) == 0;
		if (!same) fl_die("%s: its classes differ from those of %s", o.model[i], o.model[0]);
	}
	gu_model *m = ms[0];
	int C = m->hp.n_classes, pos = 0;
	if (o.positive) {
		pos = -1;
		for (int i = 0; i < C; i++)
			if (strcmp(m->labels[i], o.positive) == 0) pos = i;
		if (pos < 0) fl_die("--positive: '%s' is not one of the model's labels", o.positive);
	}
	if (o.track) {
		fl_on_die(fl_outs_abort);
		fl_catch_signals(); /* SIGINT/SIGTERM end the scan between groups, removing the temporary */
		if (!(fl_outs[0] = gu_out_open(o.out))) fl_die("%s", gu_errmsg());
		scan_tracks(&o, ms, M, inputs, n_in, pos);
		fl_summary();
		for (int i = 0; i < M; i++) gu_model_free(ms[i]);
		return 0;
	}

	/* everything is read and checked before any work; with an ensemble, stream i through
	 * model i's vocabulary, and every stream must list the records of the first */
	cd_set sets[MAX_MODELS];
	for (int i = 0; i < M; i++) {
		cd_load(&sets[i], M > 1 ? inputs + i : inputs, M > 1 ? 1 : n_in, ms[i]->vocab, "input");
		if (sets[i].n == 0) fl_die("%s: no records", M > 1 ? inputs[i] : inputs[0]);
		cd_map_labels(&sets[i], m->labels, C, 0);
		if (i == 0) continue;
		if (sets[i].n != sets[0].n)
			fl_die("%s: %lld records, but %s has %lld (an ensemble needs the same records in each stream)",
			       inputs[i], (long long)sets[i].n, inputs[0], (long long)sets[0].n);
		for (int64_t r = 0; r < sets[0].n; r++)
			if (strcmp(cd_name(&sets[i], r), cd_name(&sets[0], r)) != 0 || sets[i].label[r] != sets[0].label[r])
				fl_die("%s: record %lld is %s, but %s has %s there (an ensemble needs the same records, "
				       "labels and order in each stream)", inputs[i], (long long)r + 1, cd_name(&sets[i], r),
				       inputs[0], cd_name(&sets[0], r));
	}
	cd_set s = sets[0];
	if ((o.metrics || o.roc) && s.n_labelled == 0)
		fl_die("%s needs labelled records, but no record carries a label", o.metrics ? "--metrics" : "--roc");
	if (o.roc) {
		int has[2] = {0, 0};
		for (int64_t i = 0; i < s.n; i++)
			if (s.label[i] >= 0) has[s.label[i] == pos] = 1;
		if (!has[0] || !has[1]) fl_die("--roc needs labelled records of both the positive and another class");
	}
	fl_on_die(fl_outs_abort);
	const char *paths[3] = {o.out, o.metrics, o.roc};
	for (int i = 0; i < 3; i++)
		if (paths[i] && !(fl_outs[i] = gu_out_open(paths[i]))) fl_die("%s", gu_errmsg());

	size_t np = (size_t)s.n * (size_t)C;
	float *probs = malloc(np * sizeof *probs), *pm = M > 1 ? malloc(np * sizeof *pm) : NULL;
	if (!probs || (M > 1 && !pm)) fl_die("out of memory");
	double secs = 0;
	int64_t n_tok = 0, n_unk = 0;
	for (int i = 0; i < M; i++) {
		predictor_t pr;
		predictor_init(&pr, ms[i], o.B, o.threads);
		secs += predict(&pr, &sets[i], M > 1 ? pm : probs, 1);
		predictor_free(&pr);
		n_tok += sets[i].n_tok, n_unk += sets[i].n_unk;
		if (M == 1) break;
		for (size_t j = 0; j < np; j++) probs[j] = i ? probs[j] + pm[j] : pm[j];
	}
	if (M > 1)
		for (size_t j = 0; j < np; j++) probs[j] /= (float)M;
	free(pm);

	fl_sbuf b = {0};
	fl_sb_printf(&b, "name\tpredicted");
	for (int i = 0; i < C; i++) fl_sb_printf(&b, "\tp_%s", m->labels[i]);
	fl_sb_printf(&b, "\n");
	for (int64_t i = 0; i < s.n; i++) {
		const float *p = probs + (size_t)i * C;
		int am = 0;
		for (int k = 1; k < C; k++)
			if (p[k] > p[am]) am = k;
		fl_sb_printf(&b, "%s\t%s", cd_name(&s, i), m->labels[am]);
		for (int k = 0; k < C; k++) fl_sb_printf(&b, "\t%.6g", p[k]);
		fl_sb_printf(&b, "\n");
		if (b.n > (1 << 20)) fl_sb_flush(&b, fl_outs[0]);
	}
	fl_sb_flush(&b, fl_outs[0]);
	free(b.buf);
	if (s.n_labelled > 0) report_metrics(&s, m, probs, pos, &o);
	b = (fl_sbuf){0};
	fl_outs_write_close(0, &b);
	fl_close_stdout();
	fl_info("%lld records, %lld tokens (%lld unknown) in %.2f s: %.0f tokens/s, %d threads, batch %d%s",
		(long long)s.n, (long long)n_tok, (long long)n_unk, secs, secs > 0 ? n_tok / secs : 0.0, o.threads,
		o.B, M > 1 ? " (all models)" : "");
	fl_summary();
	free(probs);
	for (int i = 0; i < M; i++) cd_free(&sets[i]), gu_model_free(ms[i]);
	return 0;
}
