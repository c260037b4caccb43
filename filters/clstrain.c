/* clstrain: build a classifier from a (fine-tuned) language model's encoder and train it on
 * labelled token streams with gradual unfreezing (REFERENCE-SEMANTICS 5, 6). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clsdata.h"
#include "clsteam.h"
#include "par.h"
#include "trainer.h"

void openblas_set_num_threads(int);

/* Two head-only epochs, then everything at once: head-only epochs on frozen LM features stay at
 * chance on some tasks (GUE tf_*), and the reference's one-group-at-a-time unfreezing keeps the
 * encoder frozen or at lr/2.6^d too long to leave it (GUE dev sets, issue 38). */
#define DEFAULT_STAGES "1:2:1e-2,all:8:5e-3"
#define MAX_STAGES 32

typedef struct {
	int groups; /* trainable layer groups counted from the top; 0 = all */
	int epochs;
	double lr;  /* max lr of the top group */
} stage_t;

typedef struct {
	const char *lm, *vocab, *out, *log, *stages_text;
	char **valid;
	int n_valid;
	int no_pretrain, B, bptt, threads, emb, hidden, layers;
	long max_len, precise_bn, max_records, max_tokens;
	double drop_mult, wd, clip, alpha, beta, lr_factor;
	uint64_t seed;
	stage_t stage[MAX_STAGES];
	int n_stages;
	tr_opts tr; /* --div --pct-start --moms --time --max-steps --keep-best, checkpoints, --resume */
	char **inputs;
	int n_in;
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
		"      --max-records N  fewer epochs when the stages would read more than N training\n"
		"                       records: each stage's shrink alike (at least 1) [0 = off]\n"
		"      --max-tokens N   the same for N training tokens (a budget in work for records of\n"
		"                       any length; K, M, G suffixes) [0 = off]\n"
		"      --lr-factor F    discriminative rates: each group down divides the lr by F [2.6]\n"
		"  -b, --batch INT      records per batch [%d]\n"
		"      --wd F           decoupled weight decay [%g]\n"
		"      --clip F         clip the gradient norm to F, 0 = off [%g]\n"
		"      --keep-best      write the epoch with the lowest validation loss (needs -V) [on with -V]\n"
		"      --no-keep-best   write the last epoch even with -V\n"
		"      --precise-bn N   after every epoch, set the BatchNorm statistics from N training\n"
		"                       records in eval mode (0: keep the running averages of training,\n"
		"                       as the reference) [%ld]\n"
		"      --div F          each stage's one-cycle starts at LR/F [%g]\n"
		"      --pct-start F    fraction of a stage's cycle spent warming up [%g]\n"
		"      --moms F,F       momentum (Adam beta1) at the ends and middle of the cycle [%g,%g]\n"
		"      --seed INT       random seed (initialisation, batch order, dropout) [%llu]\n"
		"      --time DURATION  stop after this long over all sessions (90s, 30m, 1h30m), writing\n"
		"                       the model and a checkpoint to continue from\n"
		"Output:\n"
		"  -o FILE              classifier model (man 5 ulmmodel), written atomically [required]\n"
		"      --log FILE       TSV of epochs: epoch, stage, lr, train_loss, valid_loss,\n"
		"                       valid_accuracy, seconds, running_valid_loss, running_valid_accuracy\n"
		"Stopping and resuming (SIGINT/SIGTERM: a checkpoint, exit 3):\n"
		"      --checkpoint FILE  checkpoint file [CLS.ckpt]; named, it is also written after every\n"
		"                       epoch and kept when training ends\n"
		"      --checkpoint-every MIN  minutes between checkpoints, 0 = only when stopped [%g]\n"
		"      --no-checkpoint  write no checkpoint (a stopped run saves nothing)\n"
		"      --max-steps N    stop after N batches of this session, as if interrupted (exit 3)\n"
		"      --resume FILE    continue from a checkpoint (same data and options; no -m/-v)\n"
		"  -t, --threads INT    threads, each on a share of every batch [%d]\n"
		"  -q                   quiet: no progress or summary\n"
		"  -h, --help           this help;  --version  print the version\n",
		o->emb, o->hidden, o->layers, o->drop_mult, o->alpha, o->beta, o->max_len, DEFAULT_STAGES, o->B, o->wd, o->clip,
		o->precise_bn, o->tr.div, o->tr.pct_start, o->tr.mom0, o->tr.mom1, (unsigned long long)o->seed, o->tr.ckpt_minutes,
		o->threads);
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

/* ---- the classifier's part of a checkpoint (after the trainer's position: trainer.h) ----- */

typedef struct {
	char magic[8];          /* "GUCLST3" */
	char stages[256];       /* the --stages text: a resume must use the same schedule */
	int64_t B;
	double lr_factor;
	uint64_t samp_epoch[4]; /* sampler RNG at the current epoch's start (rebuilds its order) */
	uint64_t samp[4];       /* sampler RNG after that epoch's order */
	uint64_t drop[4];       /* dropout RNG */
	double loss_sum;        /* CE sum and rows of the current epoch so far */
	int64_t loss_n;
} cls_state;

/* ---- training ---------------------------------------------------------------------------- */

typedef struct {
	opts_t *o;
	trainer tr;         /* loop control: position, budget, signals, checkpoints, keep-best */
	gu_model *m;
	gu_opt *opt;
	gu_cls *w;          /* validation and BatchNorm statistics: the team's (clsteam_workspace) */
	clsteam *team;      /* training steps, over threads and ranks */
	int B;              /* records of a whole batch: -b on each of the ranks */
	cd_set *train, *valid;
	int32_t *ids, *labels;
	uint32_t *order;
	uint32_t *bn_rows;  /* --precise-bn: the training records it reads, longest first */
	int64_t bn_n;
	float *bn_feat;     /* (bn_n, 3E) their pooled features */
	FILE *log;
	cls_state st;
	gu_rng drop;        /* dropout masks */
	/* the current epoch */
	uint32_t frozen;    /* layer groups the stage does not train */
	int64_t used, nbpe; /* records in whole batches, batches */
	double t_epoch;
} fit_t;

/* --precise-bn: the BatchNorm statistics from the eval-mode features of the bn_rows records. */
static void precise_bn(fit_t *f)
{
	int B = f->w->B_max, F = 3 * f->w->E; /* -b, or a thread's share of a batch */
	for (int64_t k = 0; k < f->bn_n; k += B) {
		int nb = (int)(f->bn_n - k < B ? f->bn_n - k : B);
		int S = cd_batch(f->train, f->bn_rows + k, nb, f->ids, NULL);
		if (gu_cls_pool(f->w, f->ids, S, nb) < 0) fl_die("BatchNorm statistics: %s", gu_errmsg());
		memcpy(f->bn_feat + (size_t)k * F, f->w->feat, (size_t)nb * F * sizeof(float));
		fl_progress("BatchNorm statistics: %lld of %lld records", (long long)(k + nb), (long long)f->bn_n);
	}
	if (gu_cls_bn_recompute(f->w, f->bn_feat, f->bn_n) < 0) fl_die("BatchNorm statistics: %s", gu_errmsg());
}

/* Mean CE and accuracy over the validation set (eval mode). */
static void validate(fit_t *f, double *loss, double *acc)
{
	cd_set *v = f->valid;
	int B = f->w->B_max; /* -b, or a thread's share of a batch */
	cd_sort_desc(v, f->order);
	double ce = 0;
	int64_t n = 0, correct = 0;
	for (int64_t k = 0; k < v->n; k += B) {
		int nb = (int)(v->n - k < B ? v->n - k : B);
		int S = cd_batch(v, f->order + k, nb, f->ids, f->labels);
		gu_loss ls;
		if (gu_cls_step(f->w, NULL, NULL, f->ids, f->labels, S, nb, 0, NULL, &ls) < 0)
			fl_die("validation: %s", gu_errmsg());
		ce += ls.ce_sum, n += ls.n, correct += ls.correct;
		fl_progress("validating: %lld of %lld records", (long long)(k + nb), (long long)v->n);
	}
	*loss = ce / (double)n, *acc = (double)correct / (double)n;
}

/* tr_loop.payload */
static size_t cls_payload(void *ctx, void *dst)
{
	fit_t *f = ctx;
	if (dst) {
		memcpy(f->st.drop, f->drop.s, sizeof f->st.drop);
		memcpy(dst, &f->st, sizeof f->st);
	}
	return sizeof f->st;
}

/* tr_loop.n_epochs */
static int64_t cls_n_epochs(void *ctx, int64_t s) { return ((fit_t *)ctx)->o->stage[s].epochs; }

/* tr_loop.epoch_begin: the stage's trainable groups (and, at its start, a new optimiser); the
 * epoch's SortishSampler order, a function of the sampler's state at the epoch's start. */
static int64_t cls_epoch_begin(void *ctx, const tr_pos *p)
{
	fit_t *f = ctx;
	const stage_t *sg = &f->o->stage[p->stage];
	const int G = f->m->n_groups;
	cls_state *st = &f->st;
	f->frozen = gu_freeze_to_mask(G - (sg->groups ? sg->groups : G));
	f->w->frozen = f->frozen;
	clsteam_set_frozen(f->team, f->frozen);
	if (p->epoch == 0 && p->batch == 0) gu_opt_reset(f->opt); /* a new optimiser per stage */
	f->t_epoch = par_clock();
	if (p->batch == 0) {
		memcpy(st->samp_epoch, st->samp, sizeof st->samp);
		st->loss_sum = 0, st->loss_n = 0;
	}
	gu_rng samp;
	memcpy(samp.s, st->samp_epoch, sizeof samp.s);
	f->used = cd_sortish(f->train, f->B, &samp, f->order);
	memcpy(st->samp, samp.s, sizeof samp.s);
	f->nbpe = f->used / f->B > 0 ? f->used / f->B : 1;
	return f->nbpe;
}

/* One training step on batch k of the epoch (step t of the stage's n): the batch, the
 * gradient, the optimiser. */
static void cls_train_batch(fit_t *f, const tr_pos *p, int64_t k, int64_t t, int64_t n)
{
	const opts_t *o = f->o;
	const stage_t *sg = &o->stage[p->stage];
	const int B = f->B;
	int nb = (int)(f->used - k * B < B ? f->used - k * B : B);
	int S = cd_batch(f->train, f->order + k * B, nb, f->ids, f->labels);
	double beta1, lr[GU_MAX_GROUPS];
	double lr_t = tr_onecycle(&o->tr, t, n, sg->lr, &beta1);
	gu_discriminative_lr(lr, f->m->n_groups, lr_t, o->lr_factor);
	gu_opt_zero_grad(f->opt);
	gu_loss ls;
	int rc = clsteam_step(f->team, f->opt->grad, f->ids, f->labels, S, nb, &f->drop, &ls);
	if (rc == GU_ENUM)
		fl_die("training diverged (loss not finite) in stage %lld, epoch %lld, batch %lld; try a lower learning rate%s",
		       (long long)p->stage + 1, (long long)p->epoch + 1, (long long)k + 1,
		       o->tr.ckpt_path ? " (the last checkpoint is kept)" : "");
	if (rc < 0) fl_die("%s", gu_errmsg());
	double norm = gu_opt_step(f->opt, lr, beta1, f->frozen);
	if (!isfinite(norm))
		fl_die("training diverged (gradient not finite) in stage %lld, epoch %lld, batch %lld", (long long)p->stage + 1,
		       (long long)p->epoch + 1, (long long)k + 1);
	f->st.loss_sum += ls.ce_sum, f->st.loss_n += ls.n;
	fl_progress("stage %lld/%d epoch %lld/%d batch %lld/%lld: loss %.4f, lr %.3g", (long long)p->stage + 1, o->n_stages,
		    (long long)p->epoch + 1, sg->epochs, (long long)k + 1, (long long)f->nbpe, f->st.loss_sum / (double)f->st.loss_n, lr_t);
}

/* tr_loop.batch: the stage's one-cycle runs over all its epochs' batches. */
static void cls_batch(void *ctx, const tr_pos *p)
{
	fit_t *f = ctx;
	const int64_t epochs = f->o->stage[p->stage].epochs;
	cls_train_batch(f, p, p->batch, p->epoch * f->nbpe + p->batch, f->nbpe * epochs);
}

/* tr_loop.epoch_end: BatchNorm statistics, validation, a log line. */
static double cls_epoch_end(void *ctx, const tr_pos *p)
{
	fit_t *f = ctx;
	const opts_t *o = f->o;
	const stage_t *sg = &o->stage[p->stage];
	double vl = NAN, va = NAN, rl = NAN, ra = NAN, tl = f->st.loss_sum / (double)f->st.loss_n;
	if (f->valid && f->bn_n > 0) validate(f, &rl, &ra); /* the running averages, for the record */
	if (f->bn_n > 0) precise_bn(f);
	if (f->valid) validate(f, &vl, &va);
	double secs = par_clock() - f->t_epoch;
	char run[96] = "";
	if (!isnan(rl)) snprintf(run, sizeof run, "; with the running averages %.4f, %.4f", rl, ra);
	fl_info("epoch %lld (stage %lld, lr %g): train_loss %.4f valid_loss %.4f valid_accuracy %.4f (%.1f s%s)", (long long)p->epochs_done,
		(long long)p->stage + 1, sg->lr, tl, vl, va, secs, run);
	if (f->log) {
		fprintf(f->log, "%lld\t%lld\t%g\t%.6f\t%.6f\t%.6f\t%.2f\t%.6f\t%.6f\n", (long long)p->epochs_done, (long long)p->stage + 1, sg->lr,
			tl, vl, va, secs, rl, ra);
		if (fflush(f->log) != 0) fl_die("%s: write error: %s", o->log, strerror(errno));
	}
	return vl;
}

/* The model written at the end: keep-best's epoch, or the last with its BatchNorm statistics. */
static void finish_model(fit_t *f)
{
	if (tr_use_best(&f->tr)) {
		fl_info("keeping epoch %lld (validation loss %.4f)", (long long)f->tr.pos.best_epoch, f->tr.pos.best_loss);
	} else if (f->bn_n > 0 && f->tr.pos.batch > 0) {
		precise_bn(f); /* stopped within an epoch: its statistics are not set yet */
	}
	if (par_leader() && gu_model_write(f->m, f->o->out) < 0) fl_die("%s", gu_errmsg());
}

/* Continues a checkpoint: position and model from the trainer, the classifier's state from
 * its payload (the same schedule, batch size, lr factor and seed). */
static void resume(fit_t *f)
{
	opts_t *o = f->o;
	const char *path = o->tr.resume;
	f->m = tr_resume(&f->tr, &o->tr, GU_MODEL_CLS);
	if (f->tr.payload_len != sizeof f->st) fl_die("%s: not a clstrain checkpoint", path);
	memcpy(&f->st, f->tr.payload, sizeof f->st);
	cls_state *st = &f->st;
	if (memcmp(st->magic, "GUCLST3", 8) != 0) fl_die("%s: not a clstrain checkpoint", path);
	st->stages[sizeof st->stages - 1] = 0;
	if (strcmp(st->stages, o->stages_text) != 0 || st->B != (int64_t)o->B * par_size() || st->lr_factor != o->lr_factor)
		fl_die("%s: made with --stages %s -b %lld --lr-factor %g; resume with the same schedule", path, st->stages, (long long)st->B,
		       st->lr_factor);
	/* the run's seed (it draws the --precise-bn sample) */
	if (o->tr.seed_set && o->seed != f->tr.pos.seed)
		fl_die("%s: made with --seed %llu; resume without --seed or with the same", path, (unsigned long long)f->tr.pos.seed);
	o->seed = f->tr.pos.seed;
	memcpy(f->drop.s, st->drop, sizeof f->drop.s);
	const tr_pos *p = &f->tr.pos;
	fl_info("resuming from %s: stage %lld, epoch %lld, batch %lld (%lld epochs done)", path, (long long)p->stage + 1,
		(long long)p->epoch + 1, (long long)p->batch + 1, (long long)p->epochs_done);
}

/* A fresh run's classifier state: the schedule it checks on resume, the rngs from the seed. */
static void start_state(fit_t *f)
{
	const opts_t *o = f->o;
	cls_state *st = &f->st;
	memset(st, 0, sizeof *st);
	memcpy(st->magic, "GUCLST3", 8);
	snprintf(st->stages, sizeof st->stages, "%s", o->stages_text);
	st->B = (int64_t)o->B * par_size(), st->lr_factor = o->lr_factor;
	gu_rng r;
	gu_rng_seed(&r, o->seed * 3 + 1);
	memcpy(st->samp, r.s, sizeof r.s);
	gu_rng_seed(&f->drop, o->seed * 3 + 2);
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

/* ---- main's steps ------------------------------------------------------------------------ */

/* Parses the command line into o (usage errors exit 2); -h and --version print and exit 0. */
static void parse_args(opts_t *o, int argc, char **argv)
{
	enum { O_NOPRE = 256, O_LAYERS, O_DROP, O_BPTT, O_MAXLEN, O_STAGES, O_WD, O_CLIP, O_SEED,
	       O_LOG, O_VERSION, O_ALPHA, O_BETA, O_LRFACTOR, O_PRECISE_BN, O_MAXREC, O_MAXTOK };
	static const struct option lopts[] = {
		{"lm", required_argument, 0, 'm'},	     {"no-pretrain", no_argument, 0, O_NOPRE},
		{"vocab", required_argument, 0, 'v'},	     {"emb", required_argument, 0, 'E'},
		{"hidden", required_argument, 0, 'H'},	     {"layers", required_argument, 0, O_LAYERS},
		{"drop-mult", required_argument, 0, O_DROP}, {"bptt", required_argument, 0, O_BPTT},
		{"max-len", required_argument, 0, O_MAXLEN}, {"valid", required_argument, 0, 'V'},
		{"stages", required_argument, 0, O_STAGES},  {"batch", required_argument, 0, 'b'},
		{"max-records", required_argument, 0, O_MAXREC}, {"max-tokens", required_argument, 0, O_MAXTOK},
		{"wd", required_argument, 0, O_WD},	     {"clip", required_argument, 0, O_CLIP},
		{"seed", required_argument, 0, O_SEED},
		{"log", required_argument, 0, O_LOG},	     TR_LONG_OPTIONS,
		{"threads", required_argument, 0, 't'},	     {"help", no_argument, 0, 'h'},
		{"alpha", required_argument, 0, O_ALPHA},    {"beta", required_argument, 0, O_BETA},
		{"lr-factor", required_argument, 0, O_LRFACTOR}, {"version", no_argument, 0, O_VERSION},
		{"precise-bn", required_argument, 0, O_PRECISE_BN}, {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "m:v:E:H:V:b:o:t:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'm': o->lm = optarg; break;
		case O_NOPRE: o->no_pretrain = 1; break;
		case 'v': o->vocab = optarg; break;
		case 'E': o->emb = (int)fl_parse_long(optarg, "-E", 1, 65536); break;
		case 'H': o->hidden = (int)fl_parse_long(optarg, "-H", 1, 65536); break;
		case O_LAYERS: o->layers = (int)fl_parse_long(optarg, "--layers", 1, GU_MAX_LAYERS); break;
		case O_DROP: o->drop_mult = fl_parse_double(optarg, "--drop-mult", 0, 1.6); break;
		case O_ALPHA: o->alpha = fl_parse_double(optarg, "--alpha", 0, 1e6); break;
		case O_BETA: o->beta = fl_parse_double(optarg, "--beta", 0, 1e6); break;
		case O_BPTT: o->bptt = (int)fl_parse_long(optarg, "--bptt", 1, 100000); break;
		case O_MAXLEN: o->max_len = fl_parse_size(optarg, "--max-len", 0, INT32_MAX); break;
		case 'V':
			if (!(o->valid = realloc(o->valid, (size_t)(o->n_valid + 1) * sizeof *o->valid))) fl_die("out of memory");
			o->valid[o->n_valid++] = optarg;
			break;
		case O_STAGES: o->stages_text = optarg; break;
		case 'b': o->B = (int)fl_parse_long(optarg, "-b", 2, 65536); break;
		case O_LRFACTOR: o->lr_factor = fl_parse_double(optarg, "--lr-factor", 1, 1e6); break;
		case O_WD: o->wd = fl_parse_double(optarg, "--wd", 0, 1); break;
		case O_CLIP: o->clip = fl_parse_double(optarg, "--clip", 0, 1e30); break;
		case O_MAXREC: o->max_records = fl_parse_size(optarg, "--max-records", 1, INT64_MAX); break;
		case O_MAXTOK: o->max_tokens = fl_parse_size(optarg, "--max-tokens", 1, INT64_MAX); break;
		case O_PRECISE_BN: o->precise_bn = fl_parse_size(optarg, "--precise-bn", 0, INT32_MAX); break;
		case O_SEED: o->seed = (uint64_t)fl_parse_long(optarg, "--seed", 0, INT64_MAX), o->tr.seed_set = 1; break;
		case O_LOG: o->log = optarg; break;
		case 'o': o->out = optarg; break;
		case 't': o->threads = (int)fl_parse_long(optarg, "-t", 1, 256); break;
		case 'q': fl_quiet = 1; break;
		case 'h': usage(stdout, o); fl_close_stdout(); exit(0);
		case O_VERSION: printf("clstrain %s\n", GU_VERSION); fl_close_stdout(); exit(0);
		default:
			if (!tr_parse_option(&o->tr, c, optarg)) fl_bad_option(argv);
		}
	}
	o->inputs = argv + optind, o->n_in = argc - optind;
}

/* The combinations of options; the output must be writable before hours of training. */
static void check_args(opts_t *o)
{
	parse_stages(o, o->stages_text);
	if (strlen(o->stages_text) >= sizeof ((cls_state *)0)->stages) fl_usage_error("--stages: too long");
	if (!o->out) fl_usage_error("an output file is required (-o CLS)");
	if (o->tr.resume) {
		if (o->lm || o->vocab || o->no_pretrain) fl_usage_error("--resume takes the model from the checkpoint; drop -m, -v and --no-pretrain");
	} else if (o->no_pretrain) {
		if (o->lm) fl_usage_error("-m and --no-pretrain are exclusive");
		if (!o->vocab) fl_usage_error("--no-pretrain needs a vocabulary (-v VOCAB)");
	} else {
		if (!o->lm) fl_usage_error("a language model is required (-m LM), or --no-pretrain with -v VOCAB");
		if (o->vocab) fl_usage_error("-v goes with --no-pretrain (with -m the LM's vocabulary is used)");
	}
	if (o->tr.keep_best == 1 && o->n_valid == 0) fl_usage_error("--keep-best needs validation data (-V)");
	if (o->tr.keep_best < 0) o->tr.keep_best = o->n_valid > 0; /* early stopping on dev by default */
	if (o->n_in == 0) fl_usage_error("no training stream given");
	int n_stdin = 0;
	for (int i = 0; i < o->n_in; i++) n_stdin += strcmp(o->inputs[i], "-") == 0;
	for (int i = 0; i < o->n_valid; i++) n_stdin += strcmp(o->valid[i], "-") == 0;
	if (n_stdin > 1 || (n_stdin && o->n_in + o->n_valid > 1)) fl_usage_error("'-' (stdin) cannot be combined with other inputs");
	tr_check_options(&o->tr, o->out);
	/* an explicitly named checkpoint keeps clstrain's epoch checkpoints */
	o->tr.ckpt_epochs = o->tr.ckpt_named;
	gu_out *probe = gu_out_open(o->out);
	if (!probe) fl_die("%s", gu_errmsg());
	gu_out_close(probe, 1);
}

/* Reads the training (and validation) records and gives them class ids: a checkpoint's or a
 * classifier's classes stay, else the training labels make them. Returns the classes
 * (*owned: the caller frees the array). */
static char **load_data(fit_t *f, const gu_vocab *v, const gu_model *has, cd_set *train, cd_set *valid, int *n_labels)
{
	const opts_t *o = f->o;
	cd_load(train, o->inputs, o->n_in, v, "training");
	if (train->n == 0) fl_die("%s: no training records", o->inputs[0]);
	char **labels = has ? has->labels : cd_used_labels(train, n_labels);
	if (has) *n_labels = has->n_labels;
	cd_map_labels(train, labels, *n_labels, 1);
	if (*n_labels < 2)
		fl_die("%s: the training records carry only one label (%s); a classifier needs at least two classes", o->inputs[0],
		       label_list(labels, *n_labels));
	if (train->n < 2) fl_die("%s: a single training record; BatchNorm needs at least two", o->inputs[0]);
	f->train = train;
	if (o->n_valid) {
		cd_load(valid, o->valid, o->n_valid, v, "validation");
		if (valid->n == 0) fl_die("%s: no validation records", o->valid[0]);
		cd_map_labels(valid, labels, *n_labels, 1);
		f->valid = valid;
	}
	return labels;
}

/* --max-records N, --max-tokens N: when the stages would read more than N training records
 * (tokens), every stage's epochs shrink by the same factor (at least one each), so a large set
 * trains for about N: a budget in work, the same on any machine however loaded, where --time is
 * not. With both, the tighter one. */
static void fit_work_budget(opts_t *o, int64_t n_train, int64_t n_tok)
{
	int64_t total = 0;
	for (int i = 0; i < o->n_stages; i++) total += o->stage[i].epochs;
	double f = 1;
	const char *by = NULL;
	long long cap = 0, have = 0;
	if (o->max_records > 0 && total * n_train > o->max_records) {
		f = (double)o->max_records / ((double)total * (double)n_train);
		by = "records", cap = o->max_records, have = n_train;
	}
	if (o->max_tokens > 0 && total * n_tok > o->max_tokens) {
		const double ft = (double)o->max_tokens / ((double)total * (double)n_tok);
		if (ft < f) f = ft, by = "tokens", cap = o->max_tokens, have = n_tok;
	}
	if (!by) return;
	char was[256] = "", now[256] = "";
	for (int i = 0; i < o->n_stages; i++) {
		stage_t *st = &o->stage[i];
		long e = lround(st->epochs * f);
		size_t lw = strlen(was), ln = strlen(now);
		snprintf(was + lw, sizeof was - lw, "%s%d", i ? "," : "", st->epochs);
		st->epochs = e < 1 ? 1 : (int)e;
		snprintf(now + ln, sizeof now - ln, "%s%d", i ? "," : "", st->epochs);
	}
	fl_info("--max-%s %lld: %lld training %s, stages of %s epochs instead of %s", by, cap, have, by, now, was);
}

/* Work buffers for the largest batch, the keep-best copy, the log. */
static void setup_buffers(fit_t *f)
{
	const opts_t *o = f->o;
	int64_t maxS = f->train->max_len, nmax = f->train->n;
	if (f->valid && f->valid->max_len > maxS) maxS = f->valid->max_len;
	if (f->valid && f->valid->n > nmax) nmax = f->valid->n;
	f->ids = malloc((size_t)(maxS > 0 ? maxS : 1) * (size_t)f->B * sizeof *f->ids);
	f->labels = malloc((size_t)f->B * sizeof *f->labels);
	f->order = malloc((size_t)nmax * sizeof *f->order);
	if (!f->ids || !f->labels || !f->order) fl_die("out of memory");
	if (o->log && par_leader()) {
		int append = o->tr.resume != NULL;
		if (!(f->log = fopen(o->log, append ? "a" : "w"))) fl_die("%s: cannot create: %s", o->log, strerror(errno));
		if (!append || ftell(f->log) == 0)
			fprintf(f->log, "epoch\tstage\tlr\ttrain_loss\tvalid_loss\tvalid_accuracy\tseconds\t"
					"running_valid_loss\trunning_valid_accuracy\n");
	}
}

/* --precise-bn: a fixed random subset, drawn from its own stream (training is the same with or
 * without), so a resumed run draws the same one from the checkpoint's seed. */
static void setup_precise_bn(fit_t *f)
{
	const opts_t *o = f->o;
	if (o->precise_bn <= 0) return;
	gu_rng r;
	gu_rng_seed(&r, o->seed * 3 + 3);
	if (!(f->bn_rows = malloc((size_t)f->train->n * sizeof *f->bn_rows))) fl_die("out of memory");
	f->bn_n = cd_sample(f->train, o->precise_bn, &r, f->bn_rows);
	if (f->bn_n < 2) f->bn_n = 0;
	else if (!(f->bn_feat = malloc((size_t)f->bn_n * 3 * f->m->hp.emb * sizeof(float)))) fl_die("out of memory");
}

/* Runs the stages from the trainer's position; a stop writes a checkpoint (SIGINT/SIGTERM and
 * --max-steps: exit 3 without a model; --time: the model too). Returns the exit status. */
static int run_training(fit_t *f)
{
	const opts_t *o = f->o;
	const tr_loop L = {.ctx = f, .n_stages = o->n_stages, .n_epochs = cls_n_epochs, .epoch_begin = cls_epoch_begin, .batch = cls_batch,
			   .epoch_end = cls_epoch_end, .payload = cls_payload};
	fl_catch_signals();
	int why = tr_run(&f->tr, &L);
	const tr_pos *p = &f->tr.pos;
	const char *ck = o->tr.ckpt_path;
	if (why != TR_DONE) tr_write_checkpoint(&f->tr, &L); /* collective: every rank */
	if (why == TR_SIGNAL || why == TR_MAX_STEPS) {
		if (par_leader())
			fl_warn("%s in stage %lld, epoch %lld, batch %lld: %s%s", why == TR_SIGNAL ? "interrupted" : "stopped by --max-steps",
				(long long)p->stage + 1, (long long)p->epoch + 1, (long long)p->batch,
				ck ? "checkpoint written; continue with --resume " : "nothing saved (--no-checkpoint)", ck ? ck : "");
		return EXIT_STOPPED;
	}
	if (why == TR_TIME && par_leader())
		fl_warn("time budget of %g s reached in stage %lld, epoch %lld, batch %lld%s%s", o->tr.time_budget, (long long)p->stage + 1,
			(long long)p->epoch + 1, (long long)p->batch, ck ? "; resume with --resume " : "", ck ? ck : "");
	finish_model(f);
	if (why == TR_DONE) tr_remove_checkpoint(&f->tr);
	return 0;
}

int main(int argc, char **argv)
{
	opts_t o = {.B = 64, .threads = 1, .emb = 400, .hidden = 1150, .layers = 3, .max_len = 4000 * 70, .precise_bn = 1024,
		    .drop_mult = 0.3, .lr_factor = 2.6, .alpha = 2, .beta = 1, .wd = 1e-2, .seed = 1, .stages_text = DEFAULT_STAGES};
	tr_defaults(&o.tr);
	o.tr.keep_best = -1; /* on whenever -V is given */
	fl_init("clstrain", argc, argv);
	par_init(&argc, &argv); /* under mpirun: one of the ranks (par.h) */
	parse_args(&o, argc, argv);
	check_args(&o);
	openblas_set_num_threads(o.threads);

	/* where the model comes from: a checkpoint, an LM or classifier, or a vocabulary */
	fit_t f = {.o = &o};
	gu_model *lm = NULL;
	gu_vocab *vocab = NULL;
	const gu_vocab *v;
	if (o.tr.resume) {
		resume(&f);
		v = f.m->vocab;
	} else if (o.lm) {
		if (!(lm = gu_model_read(o.lm))) fl_die("%s", gu_errmsg());
		v = lm->vocab;
	} else {
		if (!(vocab = gu_vocab_read(o.vocab))) fl_die("%s", gu_errmsg());
		v = vocab;
	}
	/* data: all of it read and checked before training */
	cd_set train_set, valid_set;
	int n_labels;
	const gu_model *has = f.m ? f.m : lm && lm->hp.kind == GU_MODEL_CLS ? lm : NULL;
	char **labels = load_data(&f, v, has, &train_set, &valid_set, &n_labels);
	fit_work_budget(&o, train_set.n, train_set.n_tok);
	if (!f.m) {
		gu_rng init;
		gu_rng_seed(&init, o.seed);
		tr_init(&f.tr, &o.tr, o.seed);
		if (lm && lm->hp.kind == GU_MODEL_CLS) f.m = model_from_cls(lm, &o), lm = NULL;
		else if (lm) f.m = model_from_lm(lm, &o, labels, n_labels, &init);
		else f.m = model_from_scratch(vocab, &o, labels, n_labels, &init);
		vocab = NULL; /* the model owns it */
		int pargc;
		char **pargv = tr_prov_argv(argc, argv, &pargc);
		if (gu_model_add_prov(f.m, "clstrain", pargc, pargv) < 0) fl_die("%s", gu_errmsg());
		start_state(&f);
	}
	gu_model *m = f.m;
	free(labels == m->labels ? NULL : labels);
	gu_model_free(lm);
	check_stages(&o, m->n_groups);
	if (!(f.opt = gu_opt_new(m))) fl_die("%s", gu_errmsg());
	f.opt->wd = o.wd, f.opt->clip = o.clip;
	tr_attach(&f.tr, m, f.opt);
	if (!(f.team = clsteam_new(m, o.B, o.threads))) fl_die("%s", gu_errmsg());
	f.w = clsteam_workspace(f.team);
	f.B = clsteam_rows(f.team);
	if (par_size() > 1 || o.threads > 1)
		fl_info("data-parallel: %d rank%s x %d thread%s, batches of %d records (%d a rank)", par_size(), par_size() > 1 ? "s" : "",
			o.threads < o.B ? o.threads : o.B, o.threads > 1 ? "s" : "", f.B, o.B);
	setup_buffers(&f);
	int64_t n_params = 0;
	for (int i = 0; i < m->n_tensors; i++) n_params += m->tensors[i].buffer ? 0 : (int64_t)m->tensors[i].numel;
	fl_info("%lld training records (%lld tokens), %lld validation records; classes %s; %lld parameters; batch %d; stages %s",
		(long long)train_set.n, (long long)train_set.n_tok, (long long)(f.valid ? valid_set.n : 0), label_list(m->labels, m->n_labels),
		(long long)n_params, o.B, o.stages_text);
	setup_precise_bn(&f);

	int status = run_training(&f);
	if (f.log && fclose(f.log) != 0) fl_die("%s: write error: %s", o.log, strerror(errno));
	fl_summary();
	free(f.ids), free(f.labels), free(f.order), free(f.bn_rows), free(f.bn_feat);
	free(o.valid);
	tr_free(&f.tr);
	clsteam_free(f.team);
	gu_opt_free(f.opt);
	cd_free(&train_set);
	if (f.valid) cd_free(&valid_set);
	gu_model_free(m);
	return status;
}
