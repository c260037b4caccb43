/* clstrain: build a classifier from a (fine-tuned) language model's encoder and train it on
 * labelled token streams with gradual unfreezing (REFERENCE-SEMANTICS 5, 6). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clsdata.h"
#include "common.h"

void openblas_set_num_threads(int);

#define DEFAULT_STAGES "1:3:1e-2,2:3:1e-2,3:3:5e-3,all:3:1e-3"
#define MAX_STAGES 32

typedef struct {
	int groups; /* trainable layer groups counted from the top; 0 = all */
	int epochs;
	double lr;  /* max lr of the top group */
} stage_t;

typedef struct {
	const char *lm, *vocab, *out, *log, *checkpoint, *resume, *stages_text;
	char **valid;
	int n_valid;
	int no_pretrain, keep_best, B, bptt, threads, emb, hidden, layers;
	long max_len, precise_bn;
	double drop_mult, wd, clip, time_budget, alpha, beta, lr_factor;
	uint64_t seed;
	stage_t stage[MAX_STAGES];
	int n_stages;
} opts_t;

static void usage(FILE *fp, const opts_t *o)
{
	fprintf(fp,
		"Usage: clstrain -m LM -o CLS [-V VALID] [options] TRAIN...\n"
		"       clstrain --no-pretrain -v VOCAB -o CLS [-V VALID] [options] TRAIN...\n"
		"Build an AWD-LSTM classifier from a language model's encoder (or from scratch) and train\n"
		"it on labelled token streams (man 5 tokstream) with gradual unfreezing. The classes are\n"
		"the label names the training records carry, sorted; every record needs a label.\n\n"
		"Model:\n"
		"  -m, --lm FILE        language model (lmtrain/lmtune) whose encoder starts the classifier,\n"
		"                       or a classifier (clstrain) to train further with these --stages\n"
		"      --no-pretrain    random encoder instead (the ablation); needs -v and takes -E/-H\n"
		"  -v, --vocab FILE     vocabulary (kmervocab) for --no-pretrain\n"
		"  -E, --emb INT        embedding width, --no-pretrain [%d]\n"
		"  -H, --hidden INT     LSTM hidden width, --no-pretrain [%d]\n"
		"      --layers INT     LSTM layers, --no-pretrain [%d]\n"
		"      --drop-mult F    scales the classifier dropouts 0.4,0.2,0.6,0.1,0.5 [%g]\n"
		"      --bptt INT       encoder chunk length [the LM's, 70]\n"
		"      --alpha F        activation regularisation (AR) of the last LSTM output [%g]\n"
		"      --beta F         temporal activation regularisation (TAR) [%g]\n"
		"      --max-len INT    pool only the chunks within the last INT tokens, 0 = all [%ld]\n"
		"Training:\n"
		"  -V, --valid FILE     labelled validation stream (repeatable): loss and accuracy per epoch\n"
		"      --stages SPEC    gradual unfreezing: comma-separated GROUPS:EPOCHS:LR stages, GROUPS\n"
		"                       the trainable layer groups from the top (1 = head, 2 = + last LSTM,\n"
		"                       ..., or all), LR the top group's max lr (lower groups\n"
		"                       LR/F^d, F = --lr-factor)\n"
		"                       [%s]\n"
		"                       e.g. all:4:1e-2 (one stage, everything trains), 1:2:2e-2,all:5:1e-3\n"
		"      --lr-factor F    discriminative rates: each group down divides the lr by F [2.6]\n"
		"  -b, --batch INT      records per batch [%d]\n"
		"      --wd F           decoupled weight decay [%g]\n"
		"      --clip F         clip the gradient norm to F, 0 = off [%g]\n"
		"      --keep-best      write the epoch with the lowest validation loss (needs -V)\n"
		"      --precise-bn N   after every epoch, set the BatchNorm statistics from N training\n"
		"                       records in eval mode (0: keep the running averages of training,\n"
		"                       as the reference) [%ld]\n"
		"      --seed INT       random seed (initialisation, batch order, dropout) [%llu]\n"
		"      --time DURATION  stop after this long (90s, 30m, 1h30m), writing model and checkpoint\n"
		"Output:\n"
		"  -o FILE              classifier model (man 5 ulmmodel), written atomically [required]\n"
		"      --log FILE       TSV of epochs: epoch, stage, lr, train_loss, valid_loss,\n"
		"                       valid_accuracy, seconds, running_valid_loss, running_valid_accuracy\n"
		"      --checkpoint FILE  checkpoint after every epoch (and at --time), for --resume\n"
		"      --resume FILE    continue from a checkpoint (same data and options; no -m/-v)\n"
		"  -t, --threads INT    threads [%d]\n"
		"  -q                   quiet: no progress or summary\n"
		"  -h, --help           this help;  --version  print the version\n",
		o->emb, o->hidden, o->layers, o->drop_mult, o->alpha, o->beta, o->max_len, DEFAULT_STAGES, o->B, o->wd, o->clip,
		o->precise_bn, (unsigned long long)o->seed, o->threads);
}

/* Parses --stages; syntax errors are usage errors. Group counts are checked against the model
 * later (check_stages). */
static void parse_stages(opts_t *o, const char *spec)
{
	char *dup = strdup(spec), *save = NULL;
	if (!dup) fl_die("out of memory");
	o->n_stages = 0;
	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->n_stages == MAX_STAGES) fl_usage_error("--stages: more than %d stages", MAX_STAGES);
		char *f[3], *s2 = NULL;
		int nf = 0;
		for (char *p = strtok_r(tok, ":", &s2); p && nf < 4; p = strtok_r(NULL, ":", &s2)) {
			if (nf == 3) nf = 4;
			else f[nf++] = p;
		}
		if (nf != 3) fl_usage_error("--stages: '%s' is not GROUPS:EPOCHS:LR", tok);
		stage_t *st = &o->stage[o->n_stages++];
		if (strcmp(f[0], "all") == 0) st->groups = 0;
		else if (strcmp(f[0], "head") == 0) st->groups = 1;
		else st->groups = (int)fl_parse_long(f[0], "--stages groups", 1, GU_MAX_GROUPS);
		st->epochs = (int)fl_parse_long(f[1], "--stages epochs", 1, 100000);
		st->lr = fl_parse_double(f[2], "--stages lr", 1e-12, 10);
	}
	free(dup);
	if (o->n_stages == 0) fl_usage_error("--stages: no stage in '%s'", spec);
}

static void check_stages(const opts_t *o, int n_groups)
{
	for (int i = 0; i < o->n_stages; i++)
		if (o->stage[i].groups > n_groups)
			fl_usage_error("--stages: stage %d trains %d layer groups, but the classifier has %d "
				       "(embedding, %d LSTMs, head)", i + 1, o->stage[i].groups, n_groups, n_groups - 2);
}

/* ---- the model -------------------------------------------------------------------------- */

/* The settings of this run, not of the model's shape: --bptt (when given), --max-len, the
 * dropouts and AR/TAR; the same whether the classifier starts from an LM, a classifier or
 * nothing. */
static void set_run_hparams(gu_hparams *hp, const opts_t *o)
{
	if (o->bptt > 0) hp->bptt = o->bptt;
	hp->max_len = (int32_t)o->max_len, hp->drop_mult = (float)o->drop_mult;
	hp->alpha = (float)o->alpha, hp->beta = (float)o->beta;
}

/* The classifier from an LM: same vocabulary and encoder shape, classifier dropouts, a freshly
 * initialised head, the LM's encoder tensors copied by name (its decoder bias dropped). */
static gu_model *model_from_lm(const gu_model *lm, const opts_t *o, char **labels, int n_labels,
			       gu_rng *rng)
{
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_CLS);
	hp.k = lm->hp.k, hp.stride = lm->hp.stride, hp.vocab_size = lm->hp.vocab_size;
	hp.emb = lm->hp.emb, hp.hidden = lm->hp.hidden, hp.n_layers = lm->hp.n_layers;
	hp.bptt = lm->hp.bptt;
	set_run_hparams(&hp, o);
	hp.n_classes = n_labels;
	if (gu_hparams_check(&hp) < 0) fl_usage_error("%s", gu_errmsg());
	const gu_vocab *lv = lm->vocab;
	gu_vocab *v = gu_vocab_from_codes(lv->k, lv->stride, lv->code + GU_N_SPECIAL, lv->size - GU_N_SPECIAL);
	if (!v) fl_die("%s", gu_errmsg());
	gu_model *m = gu_model_new(&hp, v, n_labels, labels);
	if (!m) fl_die("%s", gu_errmsg());
	gu_model_init(m, rng);
	int copied = 0;
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (strncmp(t->name, "encoder.", 8) != 0 && strncmp(t->name, "rnns.", 5) != 0) continue;
		const gu_tensor *s = gu_model_tensor(lm, t->name);
		if (!s || s->numel != t->numel)
			fl_die("%s: language model has no tensor %s of %zu values", o->lm, t->name, t->numel);
		memcpy(gu_tensor_data(m, t), gu_tensor_data(lm, s), t->numel * sizeof(float));
		copied++;
	}
	/* provenance: the LM's stages first */
	char **p = realloc(m->prov, (size_t)(m->n_prov + lm->n_prov) * sizeof *p);
	if (!p) fl_die("out of memory");
	m->prov = p;
	for (int i = 0; i < lm->n_prov; i++)
		if (!(m->prov[m->n_prov++] = strdup(lm->prov[i]))) fl_die("out of memory");
	fl_info("classifier from %s: %d encoder tensors copied, head initialised (seed %llu)", o->lm, copied,
		(unsigned long long)o->seed);
	return m;
}

/* A finished classifier to train further (-m CLS): its weights, head and BatchNorm statistics
 * kept; the dropouts, AR/TAR, --bptt and --max-len of this run, as with an LM. */
static gu_model *model_from_cls(gu_model *cls, const opts_t *o)
{
	gu_hparams hp = cls->hp;
	set_run_hparams(&hp, o);
	if (gu_hparams_check(&hp) < 0) fl_usage_error("%s", gu_errmsg());
	cls->hp = hp;
	fl_info("classifier from %s: trained further, its head and statistics kept", o->lm);
	return cls;
}

static gu_model *model_from_scratch(gu_vocab *v, const opts_t *o, char **labels, int n_labels, gu_rng *rng)
{
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_CLS);
	hp.k = v->k, hp.stride = v->stride, hp.vocab_size = v->size;
	hp.emb = o->emb, hp.hidden = o->hidden, hp.n_layers = o->layers;
	set_run_hparams(&hp, o);
	hp.n_classes = n_labels;
	if (gu_hparams_check(&hp) < 0) fl_usage_error("%s", gu_errmsg());
	gu_model *m = gu_model_new(&hp, v, n_labels, labels);
	if (!m) fl_die("%s", gu_errmsg());
	gu_model_init(m, rng);
	fl_info("classifier from scratch (--no-pretrain): E=%d H=%d, %d layers, seed %llu", hp.emb, hp.hidden,
		hp.n_layers, (unsigned long long)o->seed);
	return m;
}

/* ---- trainer state (the checkpoint's opaque blob) ---------------------------------------- */

typedef struct {
	char magic[8];          /* "GUCLST2" */
	char stages[256];       /* the --stages text: a resume must use the same schedule */
	int64_t B;
	double lr_factor;
	int64_t stage, epoch, batch; /* position: the next batch to run */
	int64_t epochs_done;    /* epochs finished over all stages */
	uint64_t samp_epoch[4]; /* sampler RNG at the current epoch's start (rebuilds its order) */
	uint64_t samp[4];       /* sampler RNG after that epoch's order */
	uint64_t drop[4];       /* dropout RNG */
	double loss_sum;        /* CE sum and rows of the current epoch so far */
	int64_t loss_n;
	double best_loss;       /* lowest validation loss so far (keep-best), +inf none */
	int64_t best_epoch;     /* its epoch, 0 = none */
} trainer_state;

/* ---- training ---------------------------------------------------------------------------- */

typedef struct {
	opts_t *o;
	gu_model *m;
	gu_opt *opt;
	gu_cls *w;
	cd_set *train, *valid;
	int32_t *ids, *labels;
	uint32_t *order;
	float *best_params, *best_buffers; /* keep-best copy */
	uint32_t *bn_rows;  /* --precise-bn: the training records it reads, longest first */
	int64_t bn_n;
	float *bn_feat;     /* (bn_n, 3E) their pooled features */
	FILE *log;
	trainer_state st;
	double t_start;
} trainer;

static void write_checkpoint(trainer *tr, const char *path)
{
	gu_model *m = tr->m;
	if (gu_checkpoint_write(path, m, tr->opt->adam_m, tr->opt->adam_v, tr->opt->step, m->n_groups, &tr->st,
				sizeof tr->st) < 0)
		fl_die("%s", gu_errmsg());
	if (tr->o->keep_best && tr->st.best_epoch > 0) {
		/* the best epoch's model beside the checkpoint, so a resume can still keep it */
		char bp[4096];
		snprintf(bp, sizeof bp, "%s.best", path);
		float *p = m->params, *b = m->buffers;
		m->params = tr->best_params, m->buffers = tr->best_buffers;
		int rc = gu_model_write(m, bp);
		m->params = p, m->buffers = b;
		if (rc < 0) fl_die("%s", gu_errmsg());
	}
}

/* --precise-bn: the BatchNorm statistics from the eval-mode features of the bn_rows records. */
static void precise_bn(trainer *tr)
{
	int B = tr->o->B, F = 3 * tr->w->E;
	for (int64_t k = 0; k < tr->bn_n; k += B) {
		int nb = (int)(tr->bn_n - k < B ? tr->bn_n - k : B);
		int S = cd_batch(tr->train, tr->bn_rows + k, nb, tr->ids, NULL);
		if (gu_cls_pool(tr->w, tr->ids, S, nb) < 0) fl_die("BatchNorm statistics: %s", gu_errmsg());
		memcpy(tr->bn_feat + (size_t)k * F, tr->w->feat, (size_t)nb * F * sizeof(float));
		fl_progress("BatchNorm statistics: %lld of %lld records", (long long)(k + nb), (long long)tr->bn_n);
	}
	if (gu_cls_bn_recompute(tr->w, tr->bn_feat, tr->bn_n) < 0) fl_die("BatchNorm statistics: %s", gu_errmsg());
}

/* Mean CE and accuracy over the validation set (eval mode). */
static void validate(trainer *tr, double *loss, double *acc)
{
	cd_set *v = tr->valid;
	int B = tr->o->B;
	cd_sort_desc(v, tr->order);
	double ce = 0;
	int64_t n = 0, correct = 0;
	for (int64_t k = 0; k < v->n; k += B) {
		int nb = (int)(v->n - k < B ? v->n - k : B);
		int S = cd_batch(v, tr->order + k, nb, tr->ids, tr->labels);
		gu_loss ls;
		if (gu_cls_step(tr->w, NULL, NULL, tr->ids, tr->labels, S, nb, 0, NULL, &ls) < 0)
			fl_die("validation: %s", gu_errmsg());
		ce += ls.ce_sum, n += ls.n, correct += ls.correct;
		fl_progress("validating: %lld of %lld records", (long long)(k + nb), (long long)v->n);
	}
	*loss = ce / (double)n, *acc = (double)correct / (double)n;
}

static void finish_model(trainer *tr)
{
	gu_model *m = tr->m;
	if (tr->o->keep_best && tr->st.best_epoch > 0) {
		memcpy(m->params, tr->best_params, m->n_params * sizeof(float));
		memcpy(m->buffers, tr->best_buffers, m->n_buffers * sizeof(float));
		fl_info("keeping epoch %lld (validation loss %.4f)", (long long)tr->st.best_epoch, tr->st.best_loss);
	} else if (tr->bn_n > 0 && tr->st.batch > 0) {
		precise_bn(tr); /* stopped within an epoch: its statistics are not set yet */
	}
	if (gu_model_write(m, tr->o->out) < 0) fl_die("%s", gu_errmsg());
}

/* Runs the schedule from tr->st's position; returns 1 when the time budget stopped it, 2 when
 * SIGINT/SIGTERM did (both after a whole batch, with tr->st at the next one). */
static int train(trainer *tr)
{
	opts_t *o = tr->o;
	gu_model *m = tr->m;
	cd_set *s = tr->train;
	int B = o->B, G = m->n_groups;
	trainer_state *st = &tr->st;
	gu_rng samp, drop;
	memcpy(drop.s, st->drop, sizeof drop.s);
	for (; st->stage < o->n_stages; st->stage++, st->epoch = 0) {
		const stage_t *sg = &o->stage[st->stage];
		int trainable = sg->groups ? sg->groups : G;
		uint32_t frozen = gu_freeze_to_mask(G - trainable);
		tr->w->frozen = frozen;
		if (st->epoch == 0 && st->batch == 0) gu_opt_reset(tr->opt); /* a new optimiser per stage */
		for (; st->epoch < sg->epochs; st->epoch++) {
			double t0 = gu_realtime();
			if (st->batch == 0) {
				memcpy(st->samp_epoch, st->samp, sizeof st->samp);
				st->loss_sum = 0, st->loss_n = 0;
			}
			memcpy(samp.s, st->samp_epoch, sizeof samp.s);
			int64_t used = cd_sortish(s, B, &samp, tr->order);
			memcpy(st->samp, samp.s, sizeof samp.s);
			int64_t nbpe = used / B > 0 ? used / B : 1, N = nbpe * sg->epochs;
			for (; st->batch < nbpe; st->batch++) {
				int64_t k = st->batch, t = st->epoch * nbpe + k;
				int nb = (int)(used - k * B < B ? used - k * B : B);
				int S = cd_batch(s, tr->order + k * B, nb, tr->ids, tr->labels);
				double beta1, lr[GU_MAX_GROUPS];
				double lr_t = gu_onecycle(t, N, sg->lr, 25.0, 0.3, 0.8, 0.7, &beta1);
				gu_discriminative_lr(lr, G, lr_t, o->lr_factor);
				gu_opt_zero_grad(tr->opt);
				gu_loss ls;
				int rc = gu_cls_step(tr->w, tr->opt->grad, NULL, tr->ids, tr->labels, S, nb, 1, &drop, &ls);
				if (rc == GU_ENUM)
					fl_die("training diverged (loss not finite) in stage %lld, epoch %lld, batch %lld; "
					       "try a lower learning rate%s", (long long)st->stage + 1, (long long)st->epoch + 1,
					       (long long)k + 1, o->checkpoint ? " (the last checkpoint is kept)" : "");
				if (rc < 0) fl_die("%s", gu_errmsg());
				double norm = gu_opt_step(tr->opt, lr, beta1, frozen);
				if (!isfinite(norm))
					fl_die("training diverged (gradient not finite) in stage %lld, epoch %lld, batch %lld",
					       (long long)st->stage + 1, (long long)st->epoch + 1, (long long)k + 1);
				st->loss_sum += ls.ce_sum, st->loss_n += ls.n;
				fl_progress("stage %lld/%d epoch %lld/%d batch %lld/%lld: loss %.4f, lr %.3g",
					    (long long)st->stage + 1, o->n_stages, (long long)st->epoch + 1, sg->epochs,
					    (long long)k + 1, (long long)nbpe, st->loss_sum / (double)st->loss_n, lr_t);
				int last = st->batch + 1 == nbpe && st->epoch + 1 == sg->epochs && st->stage + 1 == o->n_stages;
				int why = fl_signalled() ? 2 : o->time_budget > 0 && gu_realtime() - tr->t_start > o->time_budget;
				if (why && !last) {
					st->batch++;
					memcpy(st->drop, drop.s, sizeof drop.s);
					return why;
				}
			}
			memcpy(st->drop, drop.s, sizeof drop.s);
			st->batch = 0;
			st->epochs_done++;
			double vl = NAN, va = NAN, rl = NAN, ra = NAN, tl = st->loss_sum / (double)st->loss_n;
			if (tr->valid && tr->bn_n > 0) validate(tr, &rl, &ra); /* the running averages, for the record */
			if (tr->bn_n > 0) precise_bn(tr);
			if (tr->valid) validate(tr, &vl, &va);
			double secs = gu_realtime() - t0;
			if (o->keep_best && vl < st->best_loss) {
				st->best_loss = vl, st->best_epoch = st->epochs_done;
				memcpy(tr->best_params, m->params, m->n_params * sizeof(float));
				memcpy(tr->best_buffers, m->buffers, m->n_buffers * sizeof(float));
			}
			char run[96] = "";
			if (!isnan(rl))
				snprintf(run, sizeof run, "; with the running averages %.4f, %.4f", rl, ra);
			fl_info("epoch %lld (stage %lld, lr %g): train_loss %.4f valid_loss %.4f valid_accuracy %.4f "
				"(%.1f s%s)", (long long)st->epochs_done, (long long)st->stage + 1, sg->lr, tl, vl, va, secs, run);
			if (tr->log) {
				fprintf(tr->log, "%lld\t%lld\t%g\t%.6f\t%.6f\t%.6f\t%.2f\t%.6f\t%.6f\n", (long long)st->epochs_done,
					(long long)st->stage + 1, sg->lr, tl, vl, va, secs, rl, ra);
				if (fflush(tr->log) != 0) fl_die("%s: write error: %s", o->log, strerror(errno));
			}
			if (o->checkpoint) {
				/* the position after this epoch */
				trainer_state keep = *st;
				if (++st->epoch == sg->epochs) st->stage++, st->epoch = 0;
				write_checkpoint(tr, o->checkpoint);
				*st = keep;
			}
		}
	}
	return 0;
}

static void resume(trainer *tr, const char *path)
{
	gu_checkpoint ck;
	if (gu_checkpoint_read(path, &ck) < 0) fl_die("%s", gu_errmsg());
	if (ck.model->hp.kind != GU_MODEL_CLS) fl_die("%s: not a classifier checkpoint", path);
	if (ck.trainer_len != sizeof(trainer_state)) fl_die("%s: not a clstrain checkpoint", path);
	memcpy(&tr->st, ck.trainer_state, sizeof tr->st);
	if (memcmp(tr->st.magic, "GUCLST2", 8) != 0) fl_die("%s: not a clstrain checkpoint", path);
	tr->st.stages[sizeof tr->st.stages - 1] = 0;
	if (strcmp(tr->st.stages, tr->o->stages_text) != 0 || tr->st.B != tr->o->B || tr->st.lr_factor != tr->o->lr_factor)
		fl_die("%s: made with --stages %s -b %lld --lr-factor %g; resume with the same schedule", path,
		       tr->st.stages, (long long)tr->st.B, tr->st.lr_factor);
	tr->m = ck.model;
	tr->opt = gu_opt_new(tr->m);
	if (!tr->opt) fl_die("%s", gu_errmsg());
	memcpy(tr->opt->adam_m, ck.adam_m, tr->m->n_params * sizeof(float));
	memcpy(tr->opt->adam_v, ck.adam_v, tr->m->n_params * sizeof(float));
	for (int g = 0; g < tr->m->n_groups; g++) tr->opt->step[g] = ck.group_steps[g];
	ck.model = NULL;
	gu_checkpoint_free(&ck);
	if (tr->o->keep_best && tr->st.best_epoch > 0) {
		char bp[4096];
		snprintf(bp, sizeof bp, "%s.best", path);
		gu_model *b = gu_model_read(bp);
		if (!b) fl_die("%s", gu_errmsg());
		if (b->n_params != tr->m->n_params || b->n_buffers != tr->m->n_buffers)
			fl_die("%s: does not match the checkpoint", bp);
		tr->best_params = b->params, tr->best_buffers = b->buffers;
		b->params = NULL, b->buffers = NULL;
		gu_model_free(b);
	}
	fl_info("resuming from %s: stage %lld, epoch %lld, batch %lld (%lld epochs done)", path,
		(long long)tr->st.stage + 1, (long long)tr->st.epoch + 1, (long long)tr->st.batch + 1,
		(long long)tr->st.epochs_done);
}

static const char *label_list(char **l, int n)
{
	static char buf[512];
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; i < n && k + 4 < sizeof buf; i++)
		k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i ? ", " : "", l[i]);
	return buf;
}

int main(int argc, char **argv)
{
	opts_t o = {.B = 64, .threads = 1, .emb = 400, .hidden = 1150, .layers = 3, .max_len = 4000 * 70, .precise_bn = 1024,
		    .drop_mult = 0.5, .lr_factor = 2.6, .alpha = 2, .beta = 1, .wd = 1e-2, .seed = 1, .stages_text = DEFAULT_STAGES};
	enum { O_NOPRE = 256, O_LAYERS, O_DROP, O_BPTT, O_MAXLEN, O_STAGES, O_WD, O_CLIP, O_BEST, O_SEED,
	       O_TIME, O_LOG, O_CKPT, O_RESUME, O_VERSION, O_ALPHA, O_BETA, O_LRFACTOR, O_PRECISE_BN };
	static const struct option lopts[] = {
		{"lm", required_argument, 0, 'm'},	     {"no-pretrain", no_argument, 0, O_NOPRE},
		{"vocab", required_argument, 0, 'v'},	     {"emb", required_argument, 0, 'E'},
		{"hidden", required_argument, 0, 'H'},	     {"layers", required_argument, 0, O_LAYERS},
		{"drop-mult", required_argument, 0, O_DROP}, {"bptt", required_argument, 0, O_BPTT},
		{"max-len", required_argument, 0, O_MAXLEN}, {"valid", required_argument, 0, 'V'},
		{"stages", required_argument, 0, O_STAGES},  {"batch", required_argument, 0, 'b'},
		{"wd", required_argument, 0, O_WD},	     {"clip", required_argument, 0, O_CLIP},
		{"keep-best", no_argument, 0, O_BEST},	     {"seed", required_argument, 0, O_SEED},
		{"time", required_argument, 0, O_TIME},	     {"log", required_argument, 0, O_LOG},
		{"checkpoint", required_argument, 0, O_CKPT}, {"resume", required_argument, 0, O_RESUME},
		{"threads", required_argument, 0, 't'},	     {"help", no_argument, 0, 'h'},
		{"alpha", required_argument, 0, O_ALPHA},    {"beta", required_argument, 0, O_BETA},
		{"lr-factor", required_argument, 0, O_LRFACTOR}, {"version", no_argument, 0, O_VERSION},
		{"precise-bn", required_argument, 0, O_PRECISE_BN}, {0, 0, 0, 0}};
	fl_init("clstrain", argc, argv);
	int c;
	while ((c = getopt_long(argc, argv, "m:v:E:H:V:b:o:t:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.lm = optarg; break;
		case O_NOPRE: o.no_pretrain = 1; break;
		case 'v': o.vocab = optarg; break;
		case 'E': o.emb = (int)fl_parse_long(optarg, "-E", 1, 65536); break;
		case 'H': o.hidden = (int)fl_parse_long(optarg, "-H", 1, 65536); break;
		case O_LAYERS: o.layers = (int)fl_parse_long(optarg, "--layers", 1, GU_MAX_LAYERS); break;
		case O_DROP: o.drop_mult = fl_parse_double(optarg, "--drop-mult", 0, 1.6); break;
		case O_ALPHA: o.alpha = fl_parse_double(optarg, "--alpha", 0, 1e6); break;
		case O_BETA: o.beta = fl_parse_double(optarg, "--beta", 0, 1e6); break;
		case O_BPTT: o.bptt = (int)fl_parse_long(optarg, "--bptt", 1, 100000); break;
		case O_MAXLEN: o.max_len = fl_parse_size(optarg, "--max-len", 0, INT32_MAX); break;
		case 'V':
			if (!(o.valid = realloc(o.valid, (size_t)(o.n_valid + 1) * sizeof *o.valid))) fl_die("out of memory");
			o.valid[o.n_valid++] = optarg;
			break;
		case O_STAGES: o.stages_text = optarg; break;
		case 'b': o.B = (int)fl_parse_long(optarg, "-b", 2, 65536); break;
		case O_LRFACTOR: o.lr_factor = fl_parse_double(optarg, "--lr-factor", 1, 1e6); break;
		case O_WD: o.wd = fl_parse_double(optarg, "--wd", 0, 1); break;
		case O_CLIP: o.clip = fl_parse_double(optarg, "--clip", 0, 1e30); break;
		case O_BEST: o.keep_best = 1; break;
		case O_PRECISE_BN: o.precise_bn = fl_parse_size(optarg, "--precise-bn", 0, INT32_MAX); break;
		case O_SEED: o.seed = (uint64_t)fl_parse_long(optarg, "--seed", 0, INT64_MAX); break;
		case O_TIME: o.time_budget = fl_parse_duration(optarg, "--time"); break;
		case O_LOG: o.log = optarg; break;
		case O_CKPT: o.checkpoint = optarg; break;
		case O_RESUME: o.resume = optarg; break;
		case 'o': o.out = optarg; break;
		case 't': o.threads = (int)fl_parse_long(optarg, "-t", 1, 256); break;
		case 'q': fl_quiet = 1; break;
		case 'h': usage(stdout, &o); fl_close_stdout(); return 0;
		case O_VERSION: printf("clstrain %s\n", GU_VERSION); fl_close_stdout(); return 0;
		default: fl_bad_option(argv);
		}
	}
	parse_stages(&o, o.stages_text);
	if (strlen(o.stages_text) >= sizeof ((trainer_state *)0)->stages) fl_usage_error("--stages: too long");
	if (!o.out) fl_usage_error("an output file is required (-o CLS)");
	if (o.resume) {
		if (o.lm || o.vocab || o.no_pretrain) fl_usage_error("--resume takes the model from the checkpoint; drop -m, -v and --no-pretrain");
	} else if (o.no_pretrain) {
		if (o.lm) fl_usage_error("-m and --no-pretrain are exclusive");
		if (!o.vocab) fl_usage_error("--no-pretrain needs a vocabulary (-v VOCAB)");
	} else {
		if (!o.lm) fl_usage_error("a language model is required (-m LM), or --no-pretrain with -v VOCAB");
		if (o.vocab) fl_usage_error("-v goes with --no-pretrain (with -m the LM's vocabulary is used)");
	}
	if (o.keep_best && o.n_valid == 0) fl_usage_error("--keep-best needs validation data (-V)");
	int n_in = argc - optind;
	if (n_in == 0) fl_usage_error("no training stream given");
	char **inputs = argv + optind;
	int n_stdin = 0;
	for (int i = 0; i < n_in; i++) n_stdin += strcmp(inputs[i], "-") == 0;
	for (int i = 0; i < o.n_valid; i++) n_stdin += strcmp(o.valid[i], "-") == 0;
	if (n_stdin > 1 || (n_stdin && n_in + o.n_valid > 1)) fl_usage_error("'-' (stdin) cannot be combined with other inputs");
	openblas_set_num_threads(o.threads);

	/* the output must be writable before hours of training */
	gu_out *probe = gu_out_open(o.out);
	if (!probe) fl_die("%s", gu_errmsg());
	gu_out_close(probe, 1);

	trainer tr = {.o = &o, .t_start = gu_realtime()};
	gu_rng init;
	gu_rng_seed(&init, o.seed);
	gu_model *lm = NULL;
	gu_vocab *vocab = NULL;
	const gu_vocab *v;
	if (o.resume) {
		resume(&tr, o.resume);
		v = tr.m->vocab;
	} else if (o.lm) {
		if (!(lm = gu_model_read(o.lm))) fl_die("%s", gu_errmsg());
		v = lm->vocab;
	} else {
		if (!(vocab = gu_vocab_read(o.vocab))) fl_die("%s", gu_errmsg());
		v = vocab;
	}

	/* data: all of it read and checked before training */
	cd_set train_set, valid_set;
	cd_load(&train_set, inputs, n_in, v, "training");
	if (train_set.n == 0) fl_die("%s: no training records", inputs[0]);
	int n_labels;
	/* a checkpoint's or a classifier's classes stay; else the training labels make them */
	const gu_model *has = tr.m ? tr.m : lm && lm->hp.kind == GU_MODEL_CLS ? lm : NULL;
	char **labels = has ? has->labels : cd_used_labels(&train_set, &n_labels);
	if (has) n_labels = has->n_labels;
	cd_map_labels(&train_set, labels, n_labels, 1);
	if (n_labels < 2)
		fl_die("%s: the training records carry only one label (%s); a classifier needs at least two classes",
		       inputs[0], label_list(labels, n_labels));
	if (train_set.n < 2) fl_die("%s: a single training record; BatchNorm needs at least two", inputs[0]);
	if (o.n_valid) {
		cd_load(&valid_set, o.valid, o.n_valid, v, "validation");
		if (valid_set.n == 0) fl_die("%s: no validation records", o.valid[0]);
		cd_map_labels(&valid_set, labels, n_labels, 1);
	}

	if (!tr.m) {
		if (lm && lm->hp.kind == GU_MODEL_CLS) tr.m = model_from_cls(lm, &o), lm = NULL;
		else if (lm) tr.m = model_from_lm(lm, &o, labels, n_labels, &init);
		else tr.m = model_from_scratch(vocab, &o, labels, n_labels, &init);
		vocab = NULL; /* the model owns it */
		if (gu_model_add_prov(tr.m, "clstrain", argc, argv) < 0) fl_die("%s", gu_errmsg());
		tr.opt = gu_opt_new(tr.m);
		if (!tr.opt) fl_die("%s", gu_errmsg());
		trainer_state *st = &tr.st;
		memcpy(st->magic, "GUCLST2", 8);
		snprintf(st->stages, sizeof st->stages, "%s", o.stages_text);
		st->B = o.B, st->lr_factor = o.lr_factor;
		gu_rng r;
		gu_rng_seed(&r, o.seed * 3 + 1);
		memcpy(st->samp, r.s, sizeof r.s);
		gu_rng_seed(&r, o.seed * 3 + 2);
		memcpy(st->drop, r.s, sizeof r.s);
		st->best_loss = INFINITY;
	}
	gu_model *m = tr.m;
	free(labels == m->labels ? NULL : labels);
	gu_model_free(lm);
	check_stages(&o, m->n_groups);
	tr.opt->wd = o.wd, tr.opt->clip = o.clip;
	if (!(tr.w = gu_cls_new(m, o.B))) fl_die("%s", gu_errmsg());
	tr.train = &train_set, tr.valid = o.n_valid ? &valid_set : NULL;
	int64_t maxS = train_set.max_len, nmax = train_set.n;
	if (tr.valid && valid_set.max_len > maxS) maxS = valid_set.max_len;
	if (tr.valid && valid_set.n > nmax) nmax = valid_set.n;
	tr.ids = malloc((size_t)(maxS > 0 ? maxS : 1) * (size_t)o.B * sizeof *tr.ids);
	tr.labels = malloc((size_t)o.B * sizeof *tr.labels);
	tr.order = malloc((size_t)nmax * sizeof *tr.order);
	if (!tr.ids || !tr.labels || !tr.order) fl_die("out of memory");
	if (o.keep_best && !tr.best_params) {
		tr.best_params = malloc(m->n_params * sizeof(float));
		tr.best_buffers = malloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
		if (!tr.best_params || !tr.best_buffers) fl_die("out of memory");
	}
	if (o.log) {
		int append = o.resume != NULL;
		if (!(tr.log = fopen(o.log, append ? "a" : "w"))) fl_die("%s: cannot create: %s", o.log, strerror(errno));
		if (!append || ftell(tr.log) == 0)
			fprintf(tr.log, "epoch\tstage\tlr\ttrain_loss\tvalid_loss\tvalid_accuracy\tseconds\t"
				"running_valid_loss\trunning_valid_accuracy\n");
	}
	int64_t n_params = 0;
	for (int i = 0; i < m->n_tensors; i++) n_params += m->tensors[i].buffer ? 0 : (int64_t)m->tensors[i].numel;
	fl_info("%lld training records (%lld tokens), %lld validation records; classes %s; %lld parameters; "
		"batch %d; stages %s", (long long)train_set.n, (long long)train_set.n_tok,
		(long long)(tr.valid ? valid_set.n : 0), label_list(m->labels, m->n_labels), (long long)n_params, o.B,
		o.stages_text);

	if (o.precise_bn > 0) {
		/* a fixed random subset, drawn from its own stream: training is the same with or without */
		gu_rng r;
		gu_rng_seed(&r, o.seed * 3 + 3);
		if (!(tr.bn_rows = malloc((size_t)train_set.n * sizeof *tr.bn_rows))) fl_die("out of memory");
		tr.bn_n = cd_sample(&train_set, o.precise_bn, &r, tr.bn_rows);
		if (tr.bn_n < 2) tr.bn_n = 0;
		else if (!(tr.bn_feat = malloc((size_t)tr.bn_n * 3 * m->hp.emb * sizeof(float)))) fl_die("out of memory");
	}

	fl_catch_signals();
	int stopped = train(&tr);
	if (stopped) {
		if (o.checkpoint) write_checkpoint(&tr, o.checkpoint);
		if (stopped == 2)
			fl_warn("interrupted in stage %lld, epoch %lld, batch %lld: %s", (long long)tr.st.stage + 1,
				(long long)tr.st.epoch + 1, (long long)tr.st.batch,
				o.checkpoint ? "checkpoint written; continue with --resume" : "nothing saved (no --checkpoint)");
		else
			fl_warn("time budget of %g s reached in stage %lld, epoch %lld, batch %lld%s", o.time_budget,
				(long long)tr.st.stage + 1, (long long)tr.st.epoch + 1, (long long)tr.st.batch,
				o.checkpoint ? "; resume with --resume" : "");
	}
	if (stopped != 2) finish_model(&tr);
	if (tr.log && fclose(tr.log) != 0) fl_die("%s: write error: %s", o.log, strerror(errno));
	fl_summary();
	free(tr.ids), free(tr.labels), free(tr.order), free(tr.best_params), free(tr.best_buffers);
	free(tr.bn_rows), free(tr.bn_feat);
	free(o.valid);
	gu_cls_free(tr.w);
	gu_opt_free(tr.opt);
	cd_free(&train_set);
	if (tr.valid) cd_free(&valid_set);
	gu_model_free(m);
	return stopped == 2 ? EXIT_STOPPED : 0;
}
