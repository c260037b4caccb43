/* bench_lstm.c: speed of one LSTM layer, forward + backward over one chunk, single-threaded.
 *
 *   bench_lstm [reps [T B]]      defaults: 2 reps (best is kept), T = 70, B = 64
 *
 * For each reference layer shape (In -> n: 400 -> 1150, 1150 -> 1150, 1150 -> 400) it prints
 * the milliseconds per chunk for forward, backward and both, the GFLOP/s they reach (2*M*N*K
 * per GEMM; the pointwise work is not counted), the time of the same GEMM sequence alone (what
 * the pointwise passes and the rest cost on top), and the rate of a plain cblas_sgemm of the
 * recurrent step's shape (B x 4n x n) and of the input projection (T*B x 4n x In). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "gulm.h"

void openblas_set_num_threads(int);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static uint64_t seed = 0x243f6a8885a308d3ULL;
static float *frand(size_t n, float r) /* U(-r, r), xorshift64*: independent of rng.c */
{
	float *p = malloc(n * sizeof(float));
	if (!p) {
		fprintf(stderr, "bench_lstm: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		seed ^= seed >> 12, seed ^= seed << 25, seed ^= seed >> 27;
		p[i] = r * (2.0f * (float)((seed * 0x2545f4914f6cdd1dULL) >> 40) / 16777216.0f - 1.0f);
	}
	return p;
}

/* Rate of a plain sgemm C (M,N) = A (M,K) B^T (K,N) with B stored (N,K), as the LSTM uses it. */
static double sgemm_gflops(int M, int N, int K, int reps)
{
	float *A = frand((size_t)M * K, 1), *Bm = frand((size_t)N * K, 1), *C = frand((size_t)M * N, 1);
	double best = 1e30;
	for (int r = 0; r < reps + 1; r++) { /* first round warms up */
		double t0 = now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, Bm, K, 1.0f,
			    C, N);
		double dt = now() - t0;
		if (r && dt < best)
			best = dt;
	}
	free(A), free(Bm), free(C);
	return 2.0 * M * N * K / best * 1e-9;
}

static void bench_shape(int T, int B, int in, int n, int reps)
{
	const int n4 = 4 * n;
	const size_t TB = (size_t)T * B;
	float r = 1.0f / sqrtf((float)n); /* PyTorch init range */
	float *w_ih = frand((size_t)n4 * in, r), *w_hh = frand((size_t)n4 * n, r); /* (4n,in) (4n,n) */
	float *b_ih = frand(n4, r), *b_hh = frand(n4, r);                          /* (4n) */
	float *x = frand(TB * in, 1);                                              /* (T,B,in) */
	float *h0 = frand((size_t)B * n, 0.5f), *c0 = frand((size_t)B * n, 1);     /* (B,n) */
	float *dy = frand(TB * n, 0.01f);                                          /* (T,B,n) */
	float *y = frand(TB * n, 0), *gates = frand(TB * n4, 0), *cells = frand(TB * n, 0);
	float *h = frand((size_t)B * n, 0), *c = frand((size_t)B * n, 0);
	float *dx = frand(TB * in, 0), *dw_ih = frand((size_t)n4 * in, 0), *dw_hh = frand((size_t)n4 * n, 0);
	float *db_ih = frand(n4, 0), *db_hh = frand(n4, 0);
	float *scratch = frand(gu_lstm_scratch_floats(T, B, n), 0);
	gu_lstm_w w = {in, n, w_ih, w_hh, b_ih, b_hh};

	/* GEMM work of one chunk with h0 given: forward input projection + T recurrent steps;
	 * backward T-1 recurrent steps + dW_ih + dW_hh (T*B rows with h0) + dx. */
	double ffl = 2.0 * TB * n4 * in + 2.0 * TB * n4 * n;
	double bfl = 2.0 * (TB - B) * n4 * n + 2.0 * n4 * in * TB + 2.0 * n4 * n * TB + 2.0 * TB * in * n4;

	double bf = 1e30, bb = 1e30, bg = 1e30;
	for (int rep = 0; rep < reps; rep++) {
		double t0 = now();
		gu_lstm_forward(y, h, c, gates, cells, &w, x, h0, c0, NULL, T, B);
		double t1 = now();
		gu_lstm_backward(dx, dw_ih, dw_hh, db_ih, db_hh, dy, &w, x, y, gates, cells, h0, c0,
				 NULL, T, B, scratch);
		double t2 = now();
		/* The same GEMM sequence alone: the floor the pointwise passes sit on. */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, n4, in, 1.0f, x, in,
			    w_ih, in, 0.0f, gates, n4);
		for (int t = 0; t < T; t++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, n4, n, 1.0f,
				    t ? y + (size_t)(t - 1) * B * n : h0, n, w_hh, n, 1.0f,
				    gates + (size_t)t * B * n4, n4);
		for (int t = T - 2; t >= 0; t--)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, n, n4, 1.0f,
				    scratch + (size_t)(t + 1) * B * n4, n4, w_hh, n, 0.0f, h, n);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n4, in, (int)TB, 1.0f, scratch,
			    n4, x, in, 1.0f, dw_ih, in);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n4, n, (int)(TB - B), 1.0f,
			    scratch + (size_t)B * n4, n4, y, n, 1.0f, dw_hh, n);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n4, n, B, 1.0f, scratch, n4, h0,
			    n, 1.0f, dw_hh, n);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, in, n4, 1.0f, scratch,
			    n4, w_ih, in, 0.0f, dx, in);
		double t3 = now();
		if (t1 - t0 < bf)
			bf = t1 - t0;
		if (t2 - t1 < bb)
			bb = t2 - t1;
		if (t3 - t2 < bg)
			bg = t3 - t2;
	}
	printf("lstm T=%d B=%d in=%4d n=%4d  fwd %7.1f ms %5.1f GF/s  bwd %7.1f ms %5.1f GF/s  "
	       "fwd+bwd %7.1f ms %5.1f GF/s  gemms-alone %7.1f ms (%4.1f%% of fwd+bwd)\n",
	       T, B, in, n, bf * 1e3, ffl / bf * 1e-9, bb * 1e3, bfl / bb * 1e-9, (bf + bb) * 1e3,
	       (ffl + bfl) / (bf + bb) * 1e-9, bg * 1e3, 100.0 * bg / (bf + bb));
	printf("sgemm  step %4d x %4d x %4d: %5.1f GF/s   projection %4zu x %4d x %4d: %5.1f GF/s\n",
	       B, n4, n, sgemm_gflops(B, n4, n, 5), TB, n4, in, sgemm_gflops((int)TB, n4, in, 1));
	fflush(stdout);

	free(w_ih), free(w_hh), free(b_ih), free(b_hh), free(x), free(h0), free(c0), free(dy);
	free(y), free(gates), free(cells), free(h), free(c), free(dx), free(dw_ih), free(dw_hh);
	free(db_ih), free(db_hh), free(scratch);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 2;
	int T = argc > 3 ? atoi(argv[2]) : 70, B = argc > 3 ? atoi(argv[3]) : 64;
	if (reps < 1 || T < 1 || B < 1) {
		fprintf(stderr, "usage: bench_lstm [reps [T B]]\n");
		return 1;
	}
	openblas_set_num_threads(1);
	printf("bench_lstm: one layer, forward + backward per chunk, 1 thread, best of %d\n", reps);
	bench_shape(T, B, 400, 1150, reps);
	bench_shape(T, B, 1150, 1150, reps);
	bench_shape(T, B, 1150, 400, reps);
	return 0;
}
