/* lmtune: fine-tune a language model on a new corpus (ULMFiT stage 2): discriminative learning
 * rates per layer group, one-cycle schedule, optional freezing. */
#include <stdlib.h>
#include <string.h>

#include "lmfit.h"
#include "par.h"

static void usage(FILE *fp, const gu_hparams *hp, const lmfit_opts *o)
{
	fprintf(fp,
		"Usage: lmtune [options] -m LM -o TUNED TRAIN.tok...\n"
		"Fine-tune a language model (lmtrain, lmtune) on token streams with the same k and stride;\n"
		"k-mers missing from the model's vocabulary read as xxunk.\n\n"
		"  -m FILE            the language model to start from\n"
		"  -o FILE            output model (written atomically when training ends)\n"
		"  -V FILE            validation stream, evaluated after every epoch\n"
		"Learning rates: layer groups are LSTM 1..L then the embedding (with the decoder);\n"
		"group g of n trains at lr / factor^(n-1-g), so the embedding gets --lr.\n"
		"      --lr F         maximum learning rate of the one-cycle schedule [%g]\n"
		"      --lr-factor F  ratio between neighbouring groups (1 = one rate) [%g]\n"
		"      --freeze-to N  do not train the first N groups [0]\n"
		"  -e, --epochs INT   epochs (with --time: at most this many) [%d]\n"
		"      --steps N      a schedule of N steps when the epochs hold more: the same run on\n"
		"                     any machine, however loaded (--time then only stops it)\n"
		"      --wd F  --moms F,F  --div F  --pct-start F  --clip F   as lmtrain [%g  %g,%g  %g  %g  0]\n"
		"Regularisation (base dropouts default to the model's):\n"
		"      --drop-mult F  multiplies every dropout [%g]\n"
		"      --output-p F --hidden-p F --input-p F --embed-p F --weight-p F --alpha F --beta F\n"
		"Batches and runs, as lmtrain:\n"
		"  -b, --batch INT [%d]  --bptt INT [%d]  --time DUR  --seed INT [%llu]  -t INT [1]\n"
		"      --log FILE  --log-every N [%ld]  --valid-every N  --checkpoint FILE [TUNED.ckpt]\n"
		"      --checkpoint-every MIN [%g]  --no-checkpoint  --resume FILE  --max-steps N\n"
		"      --keep-best  -q\n"
		"  -h, --help         this help;  --version  print the version\n",
		o->lr, o->lr_factor, o->epochs, o->wd, o->tr.mom0, o->tr.mom1, o->tr.div, o->tr.pct_start, hp->drop_mult, o->B, o->T,
		(unsigned long long)o->seed, o->log_every, o->tr.ckpt_minutes);
}

int main(int argc, char **argv)
{
	lmfit_cli cli = {.threads = 1};
	gu_hparams_default(&cli.hp, GU_MODEL_LM);
	cli.hp.drop_mult = 0.25f; /* the reference's lncRNA LM fine-tuning (REFERENCE-SEMANTICS 7) */
	lmfit_defaults(&cli.o);
	cli.o.lr_factor = 2.6;
	fl_init("lmtune", argc, argv);
	par_init(&argc, &argv); /* under mpirun: one of the ranks (par.h) */
	lmfit_parse_args(&cli, argc, argv);
	lmfit_opts o = cli.o;
	if (cli.help) {
		usage(stdout, &cli.hp, &o);
		fl_close_stdout();
		return 0;
	}
	if (cli.version) {
		printf("lmtune %s\n", GU_VERSION);
		fl_close_stdout();
		return 0;
	}
	if (cli.arch_set) fl_usage_error("-E, -H, --layers and --output come from the model (-m) and cannot change");
	if (cli.vocab) fl_usage_error("the vocabulary comes from the model (-m); -v is an lmtrain option");
	if (cli.eval || cli.export_path || cli.import_path) fl_usage_error("--eval and safetensors conversion are lmtrain modes");
	if (!o.out) fl_usage_error("no output model (-o TUNED)");
	if (cli.n_in == 0) fl_usage_error("no training stream");
	if (!cli.model && !o.tr.resume) fl_usage_error("no language model to start from (-m LM)");

	gu_model *m = NULL;
	if (!o.tr.resume) {
		if (!(m = gu_model_read(cli.model))) fl_die("%s", gu_errmsg());
		if (m->hp.kind != GU_MODEL_LM) fl_die("%s: not a language model (a classifier cannot be fine-tuned as an LM)", cli.model);
		/* regularisation: the model's base dropouts unless given, this stage's drop_mult */
		gu_hparams *hp = &m->hp;
		const gu_hparams *c = &cli.hp;
		hp->drop_mult = c->drop_mult;
		if (cli.drop_set & 2) hp->output_p = c->output_p;
		if (cli.drop_set & 4) hp->hidden_p = c->hidden_p;
		if (cli.drop_set & 8) hp->input_p = c->input_p;
		if (cli.drop_set & 16) hp->embed_p = c->embed_p;
		if (cli.drop_set & 32) hp->weight_p = c->weight_p;
		if (cli.drop_set & 64) hp->alpha = c->alpha;
		if (cli.drop_set & 128) hp->beta = c->beta;
		hp->bptt = o.T;
		if (gu_hparams_check(hp) < 0) fl_usage_error("%s", gu_errmsg());
		if (o.freeze_to >= m->n_groups) fl_usage_error("--freeze-to %d leaves nothing to train (the model has %d layer groups)", o.freeze_to, m->n_groups);
		/* refuse another tokenisation before any work */
		for (int i = 0; i < cli.n_in; i++) {
			if (strcmp(cli.inputs[i], "-") == 0) continue;
			gu_tokreader *r = gu_tok_open(cli.inputs[i]);
			if (!r) fl_die("%s", gu_errmsg());
			int k = gu_tok_k(r), s = gu_tok_stride(r);
			gu_tok_close(r);
			if (k != hp->k || s != hp->stride)
				fl_die("%s: k=%d stride=%d, but the model %s was trained on k=%d stride=%d", cli.inputs[i], k, s, cli.model, hp->k,
				       hp->stride);
		}
	} else if (cli.model) {
		fl_usage_error("with --resume the model comes from the checkpoint; drop -m");
	}
	int status = lmfit_run(m, &o);
	fl_summary();
	return status;
}
