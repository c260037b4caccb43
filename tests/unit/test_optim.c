/* test_optim.c: one-cycle schedule against the fastai 1.0.50 formulas, gradient clipping, and an
 * AdamW trajectory against torch 1.13 (tests/fixtures/adamw_onecycle.txt, written by
 * tests/fixtures/make_adamw_fixture.py). */
#include <string.h>

#include "gulm.h"
#include "testutil.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures"
#endif

static double anneal(double a, double b, double p) { return b + (a - b) * (1 + cos(M_PI * p)) / 2; }

static void test_onecycle(void)
{
	const double lr = 5e-3, div = 25, m0 = 0.8, m1 = 0.7;
	double b1;
	/* N = 100, pct 0.3: A = 30, Bn = 70 */
	CHECK_CLOSE(gu_onecycle(0, 100, lr, div, 0.3, m0, m1, &b1), lr / 25, 0, 1e-12, "start lr");
	CHECK_CLOSE(b1, 0.8, 0, 1e-12, "start beta1");
	CHECK_CLOSE(gu_onecycle(30, 100, lr, div, 0.3, m0, m1, &b1), lr, 0, 1e-12, "peak lr");
	CHECK_CLOSE(b1, 0.7, 0, 1e-12, "peak beta1");
	CHECK_CLOSE(gu_onecycle(15, 100, lr, div, 0.3, m0, m1, &b1), (lr / 25 + lr) / 2, 0, 1e-12,
		    "warm-up midpoint lr");
	CHECK_CLOSE(b1, 0.75, 0, 1e-12, "warm-up midpoint beta1");
	CHECK_CLOSE(gu_onecycle(7, 100, lr, div, 0.3, m0, m1, &b1), anneal(lr / 25, lr, 7.0 / 30),
		    0, 1e-12, "warm-up t=7");
	CHECK_CLOSE(b1, anneal(0.8, 0.7, 7.0 / 30), 0, 1e-12, "warm-up beta1 t=7");
	CHECK_CLOSE(gu_onecycle(65, 100, lr, div, 0.3, m0, m1, &b1),
		    (lr + lr / 250000) / 2, 0, 1e-12, "anneal midpoint lr");
	CHECK_CLOSE(b1, 0.75, 0, 1e-12, "anneal midpoint beta1");
	double last = gu_onecycle(99, 100, lr, div, 0.3, m0, m1, &b1);
	CHECK_CLOSE(last, anneal(lr, lr / 250000, 69.0 / 70), 0, 1e-12, "last lr");
	CHECK(last > lr / 250000 && last < lr / 250000 * 1.1 + lr * 1e-3, "last lr %g", last);
	CHECK_CLOSE(b1, anneal(0.7, 0.8, 69.0 / 70), 0, 1e-12, "last beta1");
	/* A = int(N*pct) truncates the double product: 100*0.29 = 28.999999999999996 -> 28 */
	CHECK_CLOSE(gu_onecycle(28, 100, lr, div, 0.29, m0, m1, &b1), lr, 0, 1e-12, "A truncated");
	CHECK_CLOSE(gu_onecycle(27, 100, lr, div, 0.29, m0, m1, &b1), anneal(lr / 25, lr, 27.0 / 28),
		    0, 1e-12, "A truncated, t=A-1");
	/* degenerate: N = 3, pct 0.3 -> A = 0: batch 0 at lr/25, batch 1 at lr_max, then phase 2
	 * at (t-1)/N */
	CHECK_CLOSE(gu_onecycle(0, 3, lr, div, 0.3, m0, m1, &b1), lr / 25, 0, 1e-12, "A=0 t=0");
	CHECK_CLOSE(b1, 0.8, 0, 1e-12, "A=0 beta1 t=0");
	CHECK_CLOSE(gu_onecycle(1, 3, lr, div, 0.3, m0, m1, &b1), lr, 0, 1e-12, "A=0 t=1");
	CHECK_CLOSE(b1, 0.7, 0, 1e-12, "A=0 beta1 t=1");
	CHECK_CLOSE(gu_onecycle(2, 3, lr, div, 0.3, m0, m1, &b1), anneal(lr, lr / 250000, 1.0 / 3),
		    0, 1e-12, "A=0 t=2");
	CHECK_CLOSE(gu_onecycle(0, 1, lr, div, 0.3, m0, m1, &b1), lr / 25, 0, 1e-12, "N=1");
	/* pct 1: no annealing phase; every batch in warm-up */
	CHECK_CLOSE(gu_onecycle(3, 4, lr, div, 1.0, m0, m1, &b1), anneal(lr / 25, lr, 0.75), 0, 1e-12,
		    "pct=1");
	/* N = 0 or t out of range: finite, the start values */
	CHECK_CLOSE(gu_onecycle(0, 0, lr, div, 0.3, m0, m1, &b1), lr / 25, 0, 1e-12, "N=0");
	CHECK(isfinite(gu_onecycle(5, 2, lr, div, 0.0, m0, m1, NULL)), "t past N finite");
}

static void test_clip(void)
{
	float g[3] = {3, 4, 0};
	CHECK_CLOSE(gu_clip_grad(g, 3, 10), 5, 0, 1e-12, "norm");
	CHECK(g[0] == 3 && g[1] == 4, "no clip below max");
	CHECK_CLOSE(gu_clip_grad(g, 3, 0), 5, 0, 1e-12, "norm, clipping off");
	CHECK(g[0] == 3 && g[1] == 4, "no clip when off");
	CHECK_CLOSE(gu_clip_grad(g, 3, 1), 5, 0, 1e-12, "norm before clipping");
	CHECK_CLOSE(g[0], 3 / (5 + 1e-6), 1e-7, 0, "clipped g0");
	CHECK_CLOSE(g[1], 4 / (5 + 1e-6), 1e-7, 0, "clipped g1");
	CHECK_CLOSE(gu_clip_grad(g, 3, 0), 1, 1e-6, 0, "norm after clip");
}

/* one step by hand, in double: decay, moments, torch 1.13 denominator */
static void test_adamw_hand(void)
{
	float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -0.25f}, m[2] = {0.1f, 0}, v[2] = {0.01f, 0};
	double lr = 1e-2, b1 = 0.75, b2 = 0.99, eps = 1e-8, wd = 0.1;
	int64_t s = 3;
	double want[2];
	for (int i = 0; i < 2; i++) {
		double pi = p[i] * (1 - lr * wd);
		double mi = b1 * m[i] + (1 - b1) * g[i], vi = b2 * v[i] + (1 - b2) * g[i] * g[i];
		double denom = sqrt(vi) / sqrt(1 - pow(b2, (double)s)) + eps;
		want[i] = pi - lr / (1 - pow(b1, (double)s)) * mi / denom;
	}
	gu_adamw_step(p, g, m, v, 2, lr, b1, b2, eps, wd, s);
	CHECK_CLOSE(p[0], want[0], 0, 1e-6, "hand step p0");
	CHECK_CLOSE(p[1], want[1], 0, 1e-6, "hand step p1");
	CHECK_CLOSE(m[0], 0.75 * 0.1 + 0.25 * 0.5, 0, 1e-6, "hand step m0");
	CHECK_CLOSE(v[1], 0.01 * 0.0625, 0, 1e-6, "hand step v1");
}

static int read_floats(FILE *fp, const char *tag, float *x, int n)
{
	char w[32];
	if (fscanf(fp, "%31s", w) != 1 || strcmp(w, tag) != 0) return -1;
	for (int i = 0; i < n; i++)
		if (fscanf(fp, "%f", &x[i]) != 1) return -1;
	return 0;
}

/* Replays torch.optim.AdamW under the one-cycle schedule. Tolerance: |c - torch| <=
 * 2e-7 + 2e-6 |torch| per parameter per step (a few float32 ulps; the two differ only in the
 * rounding of fused and reordered float operations). */
static void test_adamw_torch(void)
{
	FILE *fp = fopen(FIXTURE_DIR "/adamw_onecycle.txt", "r");
	CHECK(fp != NULL, "cannot open %s/adamw_onecycle.txt", FIXTURE_DIR);
	char line[512];
	CHECK(fgets(line, sizeof line, fp) && line[0] == '#', "fixture comment");
	int n, steps;
	double lr_max, div, pct, m0, m1, b2, eps, wd;
	CHECK(fscanf(fp, " n %d steps %d lr_max %lf div %lf pct %lf mom0 %lf mom1 %lf beta2 %lf "
		     "eps %lf wd %lf", &n, &steps, &lr_max, &div, &pct, &m0, &m1, &b2, &eps, &wd) == 10,
	      "fixture header");
	CHECK(n > 0 && n <= 64 && steps > 0, "fixture sizes");
	float p[64], g[64], want[64], m[64] = {0}, v[64] = {0};
	CHECK(read_floats(fp, "init", p, n) == 0, "fixture init");
	double maxerr = 0;
	for (int t = 0; t < steps; t++) {
		int tt;
		double lr_t, b1_t, b1;
		CHECK(fscanf(fp, " step %d %lf %lf", &tt, &lr_t, &b1_t) == 3 && tt == t, "step line");
		double lr = gu_onecycle(t, steps, lr_max, div, pct, m0, m1, &b1);
		CHECK_CLOSE(lr, lr_t, 0, 1e-12, "one-cycle lr vs fixture");
		CHECK_CLOSE(b1, b1_t, 0, 1e-12, "one-cycle beta1 vs fixture");
		CHECK(read_floats(fp, "grad", g, n) == 0, "grad line");
		CHECK(read_floats(fp, "param", want, n) == 0, "param line");
		gu_adamw_step(p, g, m, v, (size_t)n, lr, b1, b2, eps, wd, t + 1);
		for (int i = 0; i < n; i++) {
			char what[64];
			snprintf(what, sizeof what, "step %d param %d", t, i);
			CHECK_CLOSE(p[i], want[i], 2e-7, 2e-6, what);
			double e = fabs((double)p[i] - want[i]);
			if (e > maxerr) maxerr = e;
		}
	}
	fclose(fp);
	fprintf(stderr, "adamw vs torch: %d steps, max abs error %.3g\n", steps, maxerr);
}

int main(void)
{
	test_onecycle();
	test_clip();
	test_adamw_hand();
	test_adamw_torch();
	return tu_done("test_optim");
}
