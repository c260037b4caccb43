/* scale_step.c: tokens/s of a data-parallel LM training step (lmteam_step: forward, backward,
 * gradient sum over threads and MPI ranks, AdamW) at V=1028, T=70 and B rows a rank, with the
 * reference LM dropouts on: the C side of bench/scale.sh. Run it alone (one rank) or under
 * mpirun; rank 0 prints one line:
 *   ranks=R threads=N E=.. H=.. B=.. T=..: step S s median of K, X tokens/s
 * where tokens/s counts the whole batch (R x B rows x T) per step.
 *
 * usage: [mpirun -np R] scale_step [-t THREADS] [-b B] [-s STEPS] E H   (1 warm-up step first)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "lmteam.h"
#include "par.h"

void openblas_set_num_threads(int);

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	fl_init("scale_step", argc, argv);
	par_init(&argc, &argv);
	int threads = 1, B = 64, steps = 3, c;
	const int V = 1028, T = 70;
	while ((c = getopt(argc, argv, "t:b:s:")) != -1) {
		if (c == 't') threads = (int)fl_parse_long(optarg, "-t", 1, 1024);
		else if (c == 'b') B = (int)fl_parse_long(optarg, "-b", 1, 1 << 20);
		else if (c == 's') steps = (int)fl_parse_long(optarg, "-s", 1, 1000000);
		else fl_usage_error("usage: scale_step [-t THREADS] [-b B] [-s STEPS] E H");
	}
	if (argc - optind != 2) fl_usage_error("usage: scale_step [-t THREADS] [-b B] [-s STEPS] E H");
	openblas_set_num_threads(1);
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_LM);
	hp.k = 6, hp.stride = 1, hp.vocab_size = V; /* k = 6 so that 1025 k-mer ids exist */
	hp.emb = (int)fl_parse_long(argv[optind], "E", 1, 100000);
	hp.hidden = (int)fl_parse_long(argv[optind + 1], "H", 1, 100000);
	uint32_t *codes = malloc((size_t)(V - GU_N_SPECIAL) * sizeof(uint32_t));
	if (!codes) fl_die("out of memory");
	for (int i = 0; i < V - GU_N_SPECIAL; i++) codes[i] = (uint32_t)i;
	gu_vocab *voc = gu_vocab_from_codes(hp.k, hp.stride, codes, V - GU_N_SPECIAL);
	free(codes);
	gu_model *m = voc ? gu_model_new(&hp, voc, 0, NULL) : NULL;
	if (!m) fl_die("%s", gu_errmsg());
	gu_rng rng, drop;
	gu_rng_seed(&rng, 1), gu_rng_seed(&drop, 2);
	gu_model_init(m, &rng);
	lmteam *t = lmteam_new(m, T, B, threads);
	gu_opt *opt = gu_opt_new(m);
	if (!t || !opt) fl_die("%s", gu_errmsg());
	/* a random sequence long enough for steps+1 batches of the whole batch */
	int Ba = lmteam_rows(t);
	size_t N = (size_t)Ba * T * (size_t)(steps + 2);
	int32_t *S = malloc(N * sizeof *S);
	double *wall = malloc((size_t)steps * sizeof *wall);
	if (!S || !wall) fl_die("out of memory");
	for (size_t i = 0; i < N; i++) S[i] = GU_N_SPECIAL + (int32_t)gu_rng_below(&rng, V - GU_N_SPECIAL);
	double lr[GU_MAX_GROUPS];
	for (int g = 0; g < GU_MAX_GROUPS; g++) lr[g] = 1e-3;
	gu_loss l;
	for (int s = 0; s <= steps; s++) { /* step 0 is a warm-up */
		double t0 = par_clock();
		gu_opt_zero_grad(opt);
		if (lmteam_step(t, opt->grad, S, N, s, &drop, &l) < 0) fl_die("%s", gu_errmsg());
		gu_opt_step(opt, lr, 0.9, 0);
		double dt = par_clock() - t0;
		if (s > 0) wall[s - 1] = dt;
	}
	qsort(wall, (size_t)steps, sizeof *wall, cmp_double);
	double med = steps % 2 ? wall[steps / 2] : (wall[steps / 2 - 1] + wall[steps / 2]) / 2;
	if (par_leader())
		printf("ranks=%d threads=%d E=%d H=%d V=%d B=%d T=%d params %.2fM: step %.3f s median of %d, %.0f tokens/s, loss %.4f\n",
		       par_size(), threads, hp.emb, hp.hidden, V, B, T, m->n_params / 1e6, med, steps, (double)Ba * T / med, l.loss);
	fflush(stdout);
	lmteam_free(t);
	gu_opt_free(opt);
	gu_model_free(m);
	free(S), free(wall);
	return 0;
}
