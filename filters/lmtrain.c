/* lmtrain: pre-train an AWD-LSTM language model on token streams; --eval, and safetensors
 * export/import. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmfit.h"
#include "par.h"

static void usage(FILE *fp, const gu_hparams *hp, const lmfit_opts *o)
{
	fprintf(fp,
		"Usage: lmtrain [options] -o MODEL TRAIN.tok...\n"
		"       lmtrain --eval -m MODEL STREAM.tok...\n"
		"       lmtrain --export-safetensors OUT -m MODEL\n"
		"       lmtrain --import-safetensors IN -o MODEL\n"
		"Pre-train an AWD-LSTM language model on token streams ('-' for stdin).\n\n"
		"Data:\n"
		"  -o FILE            output model (written atomically when training ends)\n"
		"  -v FILE            vocabulary (kmervocab); default: counted from the training streams\n"
		"  -V FILE            validation stream, evaluated after every epoch\n"
		"Model:\n"
		"  -E, --emb INT      embedding width [%d]\n"
		"  -H, --hidden INT   LSTM hidden width [%d]\n"
		"      --layers INT   LSTM layers [%d]\n"
		"      --output WHAT  output layer: kmer (the next token, tied to the embedding) or\n"
		"                     bases (the next token's stride new bases: a 4^stride-way softmax\n"
		"                     instead of a V-way one, for large k; needs k >= stride) [kmer]\n"
		"      --drop-mult F  multiplies every dropout below [%g]\n"
		"      --output-p F --hidden-p F --input-p F --embed-p F --weight-p F\n"
		"                     base dropouts [%g %g %g %g %g]\n"
		"      --alpha F --beta F  activation regularisation AR / TAR [%g %g]\n"
		"Training:\n"
		"  -b, --batch INT    rows per batch (contiguous streams) [%d]\n"
		"      --bptt INT     time steps per batch [%d]\n"
		"  -e, --epochs INT   epochs (with --time: at most this many) [%d]\n"
		"      --steps N      a schedule of N steps when the epochs hold more: the same run on\n"
		"                     any machine, however loaded (--time then only stops it)\n"
		"      --lr F         maximum learning rate of the one-cycle schedule [%g]\n"
		"      --wd F         decoupled weight decay [%g]\n"
		"      --moms F,F     momentum (Adam beta1) at the ends and middle of the cycle [%g,%g]\n"
		"      --div F        the cycle starts at lr/div [%g]\n"
		"      --pct-start F  fraction of the cycle spent warming up [%g]\n"
		"      --clip F       clip the gradient norm to F (0 = off) [0]\n"
		"      --time DUR     stop after DUR of wall time over all sessions (e.g. 90s, 20m, 2h);\n"
		"                     the schedule is planned for it\n"
		"      --seed INT     random seed [%llu]\n"
		"  -t, --threads INT  threads, each on a share of every batch [1]\n"
		"Progress and resuming:\n"
		"      --log FILE     TSV log: step, epoch, lr, losses, validation metrics, tokens/s\n"
		"      --log-every N  steps between log rows [%ld]\n"
		"      --valid-every N  also validate every N steps [epoch ends only]\n"
		"      --keep-best    write the model of the validation with the lowest loss (needs -V)\n"
		"      --no-keep-best write the last model [default]\n"
		"      --checkpoint FILE  checkpoint file [MODEL.ckpt]\n"
		"      --checkpoint-every MIN  minutes between checkpoints, 0 = only when stopped [%g]\n"
		"      --no-checkpoint  write no checkpoint (a stopped run saves nothing)\n"
		"      --resume FILE  continue a run from its checkpoint (same data and options)\n"
		"      --max-steps N  stop after N steps of this session, as if interrupted (exit 3)\n"
		"  -q                 quiet\n"
		"Other modes:\n"
		"      --eval         evaluate -m MODEL on the streams: one line on stdout\n"
		"  -m FILE            model to evaluate or export\n"
		"      --export-safetensors FILE, --import-safetensors FILE\n"
		"  -h, --help         this help;  --version  print the version\n",
		hp->emb, hp->hidden, hp->n_layers, hp->drop_mult, hp->output_p, hp->hidden_p, hp->input_p, hp->embed_p, hp->weight_p,
		hp->alpha, hp->beta, o->B, o->T, o->epochs, o->lr, o->wd, o->tr.mom0, o->tr.mom1, o->tr.div, o->tr.pct_start,
		(unsigned long long)o->seed, o->log_every, o->tr.ckpt_minutes);
}

int main(int argc, char **argv)
{
	lmfit_cli cli = {.threads = 1};
	gu_hparams_default(&cli.hp, GU_MODEL_LM);
	cli.hp.drop_mult = 0.3f; /* the reference's genome LMs (REFERENCE-SEMANTICS 7) */
	lmfit_defaults(&cli.o);
	fl_init("lmtrain", argc, argv);
	par_init(&argc, &argv); /* under mpirun: one of the ranks (par.h) */
	lmfit_parse_args(&cli, argc, argv);
	gu_hparams hp = cli.hp;
	lmfit_opts o = cli.o;
	if (cli.help) {
		usage(stdout, &hp, &o);
		fl_close_stdout();
		return 0;
	}
	if (cli.version) {
		printf("lmtrain %s\n", GU_VERSION);
		fl_close_stdout();
		return 0;
	}
	if (cli.lr_factor_set || o.freeze_to) fl_usage_error("--lr-factor and --freeze-to are lmtune options");
	const char *model_path = cli.model, *export_path = cli.export_path, *import_path = cli.import_path, *vocab_path = cli.vocab;
	int n_in = cli.n_in, eval = cli.eval;
	char **inputs = cli.inputs;

	if (export_path) {
		if (!model_path || n_in || eval || import_path) fl_usage_error("--export-safetensors takes -m MODEL and nothing else");
		gu_model *m = gu_model_read(model_path);
		if (!m || gu_model_export_safetensors(m, export_path) < 0) fl_die("%s", gu_errmsg());
		gu_model_free(m);
		return 0;
	}
	if (import_path) {
		if (!o.out || n_in || eval || model_path) fl_usage_error("--import-safetensors takes -o MODEL and nothing else");
		gu_model *m = gu_model_import_safetensors(import_path);
		if (!m || gu_model_add_prov(m, fl_prog, argc, argv) < 0 || gu_model_write(m, o.out) < 0) fl_die("%s", gu_errmsg());
		gu_model_free(m);
		return 0;
	}
	if (eval) {
		if (!model_path || n_in == 0) fl_usage_error("--eval needs -m MODEL and at least one stream");
		gu_model *m = gu_model_read(model_path);
		if (!m) fl_die("%s", gu_errmsg());
		if (m->hp.kind != GU_MODEL_LM) fl_die("%s: not a language model", model_path);
		gu_loss l;
		lmfit_eval(m, inputs, n_in, o.B, o.T, cli.threads, &l);
		if (par_leader())
			printf("tokens=%lld\tloss=%.6f\taccuracy=%.6f\tperplexity=%.6f\tbits_per_base=%.6f\n", (long long)l.n, l.ce,
		       (double)l.correct / (double)l.n, exp(l.ce), l.ce / log(2.0) / m->hp.stride);
		fl_close_stdout();
		gu_model_free(m);
		return 0;
	}
	if (!o.out) fl_usage_error("no output model (-o MODEL)");
	if (n_in == 0) fl_usage_error("no training stream");
	if (model_path) fl_usage_error("-m is for --eval and --export-safetensors (continue training with lmtune)");

	gu_model *m = NULL;
	if (!o.tr.resume) {
		if (!vocab_path && strcmp(inputs[0], "-") == 0) fl_usage_error("reading the training stream from stdin needs a vocabulary (-v)");
		gu_vocab *v = vocab_path ? gu_vocab_read(vocab_path) : gu_vocab_count(inputs, n_in, 0, 1, NULL, NULL, NULL, NULL);
		if (!v) fl_die("%s", gu_errmsg());
		if (v->size <= GU_N_SPECIAL) {
			gu_vocab_free(v);
			fl_die("%s%s: no tokens (empty corpus)", vocab_path ? vocab_path : inputs[0], vocab_path ? " holds no k-mers" : "");
		}
		hp.k = v->k, hp.stride = v->stride, hp.vocab_size = v->size;
		hp.bptt = o.T;
		if (hp.lm_output == GU_LM_BASES && v->stride > v->k) {
			gu_vocab_free(v);
			fl_usage_error("--output bases needs k >= stride (the tokens have k=%d stride=%d: consecutive tokens do not overlap)",
				       hp.k, hp.stride);
		}
		if (gu_hparams_check(&hp) < 0) fl_usage_error("%s", gu_errmsg());
		if (!(m = gu_model_new(&hp, v, 0, NULL))) {
			gu_vocab_free(v);
			fl_die("%s", gu_errmsg());
		}
		gu_rng rng;
		gu_rng_seed(&rng, o.seed + 1);
		gu_model_init(m, &rng);
	}
	int status = lmfit_run(m, &o);
	fl_summary();
	return status;
}
