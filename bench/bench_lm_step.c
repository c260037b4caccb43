/* bench_lm_step.c: one full LM training step (forward, backward, AdamW over the whole parameter
 * block) of gu_lm_step at V=1028, B=64, T=70 with the reference LM dropouts on, single thread.
 * Prints the median step time and tokens/s, the achieved GFLOP/s (GEMM work only, see
 * step_flops) next to what cblas_sgemm reaches on the step's largest GEMM shape, and the peak
 * RSS. Compare with bench/bench_lm_step.py (PyTorch, same shapes and thread count) run on the
 * same machine; bench/run.sh runs both (make bench).
 *
 * usage: bench_lm_step [steps [small|big|all]]   (default 3 timed steps after 1 warm-up, all)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "gulm.h"

void openblas_set_num_threads(int);

/* GEMM flops of one step: per layer forward 2*M*4n*(In+n) (input projection + recurrence),
 * backward twice that (dh recurrence, dW_ih, dW_hh, dx); the tied decoder 2*M*V*E forward and
 * twice that backward. Pointwise work, the softmax and AdamW are not counted. */
static double step_flops(const gu_hparams *hp, int T, int B)
{
	double M = (double)T * B, f = 0;
	for (int l = 0; l < hp->n_layers; l++) {
		double in = l == 0 ? hp->emb : hp->hidden, n = l == hp->n_layers - 1 ? hp->emb : hp->hidden;
		f += 2 * M * 4 * n * (in + n);
	}
	f += 2 * M * hp->vocab_size * hp->emb;
	return 3 * f;
}

/* cblas_sgemm rate on the step's largest GEMM: the input projection of the widest layer,
 * (T*B) x 4H x In with In = H (or E with one layer), NoTrans x Trans as lstm.c calls it. */
static double sgemm_rate(int M, int N, int K, int reps)
{
	float *a = malloc((size_t)M * K * sizeof(float)), *b = malloc((size_t)N * K * sizeof(float));
	float *c = malloc((size_t)M * N * sizeof(float));
	if (!a || !b || !c) return 0;
	for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
	for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)(i % 5) * 0.1f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = gu_realtime();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
		double dt = gu_realtime() - t0;
		if (dt < best) best = dt;
	}
	free(a), free(b), free(c);
	return 2.0 * M * N * K / best / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int run(int E, int H, int steps)
{
	const int V = 1028, T = 70, B = 64; /* V as asked; k = 6 so that 1025 k-mer ids exist */
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_LM);
	hp.k = 6, hp.stride = 1, hp.vocab_size = V, hp.emb = E, hp.hidden = H;
	uint32_t *codes = malloc((size_t)(V - GU_N_SPECIAL) * sizeof(uint32_t));
	for (int i = 0; i < V - GU_N_SPECIAL; i++) codes[i] = (uint32_t)i;
	gu_vocab *voc = gu_vocab_from_codes(hp.k, hp.stride, codes, V - GU_N_SPECIAL);
	free(codes);
	gu_model *m = voc ? gu_model_new(&hp, voc, 0, NULL) : NULL;
	if (!m) {
		fprintf(stderr, "bench_lm_step: %s\n", gu_errmsg());
		return 1;
	}
	gu_rng rng;
	gu_rng_seed(&rng, 1);
	gu_model_init(m, &rng);
	gu_lm *w = gu_lm_new(m, T, B);
	float *g = calloc(m->n_params, sizeof(float)), *am = calloc(m->n_params, sizeof(float));
	float *av = calloc(m->n_params, sizeof(float));
	int32_t *x = malloc((size_t)T * B * sizeof(int32_t)), *y = malloc((size_t)T * B * sizeof(int32_t));
	if (!w || !g || !am || !av || !x || !y) {
		fprintf(stderr, "bench_lm_step: out of memory\n");
		return 1;
	}
	for (int i = 0; i < T * B; i++)
		x[i] = GU_N_SPECIAL + (int32_t)gu_rng_below(&rng, V - GU_N_SPECIAL),
		y[i] = GU_N_SPECIAL + (int32_t)gu_rng_below(&rng, V - GU_N_SPECIAL);
	double fl = step_flops(&hp, T, B);
	double *wall = malloc((size_t)steps * sizeof(double)), *cpu = malloc((size_t)steps * sizeof(double));
	gu_loss ls;
	for (int s = 0; s <= steps; s++) { /* step 0 is a warm-up */
		double t0 = gu_realtime(), c0 = gu_cputime();
		memset(g, 0, m->n_params * sizeof(float));
		if (gu_lm_step(w, g, x, y, 1, &rng, &ls) < 0) {
			fprintf(stderr, "bench_lm_step: %s\n", gu_errmsg());
			return 1;
		}
		gu_adamw_step(m->params, g, am, av, m->n_params, 1e-3, 0.9, 0.99, 1e-8, 0.01, s + 1);
		if (s > 0) wall[s - 1] = gu_realtime() - t0, cpu[s - 1] = gu_cputime() - c0;
	}
	qsort(wall, (size_t)steps, sizeof *wall, cmp_double);
	qsort(cpu, (size_t)steps, sizeof *cpu, cmp_double);
	double med = steps % 2 ? wall[steps / 2] : (wall[steps / 2 - 1] + wall[steps / 2]) / 2;
	double cmed = steps % 2 ? cpu[steps / 2] : (cpu[steps / 2 - 1] + cpu[steps / 2]) / 2;
	/* largest GEMM of the step: the input projection (T*B) x 4n x In of the widest layer */
	int gm = T * B, gn = 4 * (hp.n_layers > 1 ? H : E), gk = hp.n_layers > 1 ? H : E;
	if (hp.n_layers > 1 && E > H) gn = 4 * H, gk = E; /* layer 0 is the widest */
	long rss = gu_peak_rss_kb(); /* before the sgemm test's buffers */
	double sg = sgemm_rate(gm, gn, gk, 3);
	printf("E=%d H=%d V=%d B=%d T=%d params %.2fM: step %.3f s median of %d (best %.3f, cpu "
	       "%.3f), %.0f tokens/s, %.1f GFLOP/step, %.1f GFLOP/s, sgemm %dx%dx%d %.1f GFLOP/s "
	       "(%.0f%%), loss %.4f, peak RSS %ld MB\n",
	       E, H, V, B, T, m->n_params / 1e6, med, steps, wall[0], cmed, T * B / med, fl / 1e9,
	       fl / med / 1e9, gm, gn, gk, sg, 100 * fl / med / 1e9 / sg, ls.loss, rss / 1024);
	fflush(stdout);
	free(wall), free(cpu);
	free(g), free(am), free(av), free(x), free(y);
	gu_lm_free(w);
	gu_model_free(m);
	return 0;
}

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 3;
	const char *which = argc > 2 ? argv[2] : "all";
	if (steps < 1) steps = 1;
	openblas_set_num_threads(1);
	printf("single thread (openblas_set_num_threads(1))\n");
	int rc = 0;
	if (!strcmp(which, "small") || !strcmp(which, "all")) rc |= run(64, 256, steps);
	if (!strcmp(which, "big") || !strcmp(which, "all")) rc |= run(400, 1150, steps);
	return rc;
}
