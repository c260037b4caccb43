/* test_layers.c: rng.c and layers.c.
 *
 * Gradient checks: for each backward, a scalar L = sum(R .* output) with a fixed random R
 * (accumulated in double) is differentiated by central differences w.r.t. every input element
 * and compared with the backward run on dy = R.
 *
 * Why these eps and tolerances (float32 forward, ~6e-8 relative rounding per output):
 *  - Ops linear in the checked input (embedding, linear, locked dropout, ReLU away from 0,
 *    pooling away from ties) have no truncation error, so a large eps = 1e-2 is used and only
 *    rounding remains: outputs the perturbation does not touch are bit-identical in L+ and L-
 *    and cancel, the few it does touch carry ~1e-7 each, divided by 2 eps = 2e-2 gives ~1e-5.
 *    Tolerance atol 2e-4 + rtol 1e-3.
 *  - Smooth nonlinear ops (softmax cross-entropy, BatchNorm, AR/TAR) use eps = 1e-3:
 *    truncation ~ eps^2/6 * f''' ~ 1e-7, rounding ~ 1e-7 * |L| / 2e-3 ~ 1e-4 with |L| ~ 1-10.
 *    Tolerance atol 1e-3 + rtol 1e-2.
 *  The step used is the float difference (x+eps) - (x-eps) actually stored, not 2 eps.
 */
#include <stdint.h>
#include <string.h>

#include "gulm.h"
#include "testutil.h"

typedef double (*loss_fn)(void *ctx);

/* Central differences of f w.r.t. each p[i], against the analytic g[i]. skip[i] != 0 (skip may
 * be NULL) leaves element i out. */
static void fd_check(const char *what, loss_fn f, void *ctx, float *p, const float *g, size_t n,
		     float eps, double atol, double rtol, const uint8_t *skip)
{
	char buf[128];
	for (size_t i = 0; i < n; i++) {
		if (skip && skip[i]) continue;
		const float save = p[i];
		const float up = save + eps, dn = save - eps;
		p[i] = up;
		double lp = f(ctx);
		p[i] = dn;
		double lm = f(ctx);
		p[i] = save;
		double fd = (lp - lm) / ((double)up - (double)dn);
		snprintf(buf, sizeof buf, "%s[%zu]", what, i);
		CHECK_CLOSE(g[i], fd, atol, rtol, buf);
	}
}

static double dot(const float *a, const float *b, size_t n)
{
	double s = 0.0;
	for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
	return s;
}

static float *rnd(gu_rng *r, size_t n, float lo, float hi)
{
	float *x = gu_malloc(n * sizeof *x);
	gu_rng_fill_uniform(r, x, n, lo, hi);
	return x;
}

#define EPS_LIN 1e-2f
#define ATOL_LIN 2e-4
#define RTOL_LIN 1e-3
#define EPS_NL 1e-3f
#define ATOL_NL 1e-3
#define RTOL_NL 1e-2

/* ---- rng ------------------------------------------------------------------------------- */

static void test_rng(void)
{
	gu_rng a, b;
	/* splitmix64 / xoshiro256** reference values (computed with an independent Python
	 * transcription of Vigna's reference C) */
	gu_rng_seed(&a, 0);
	CHECK(a.s[0] == 0xe220a8397b1dcdafull && a.s[3] == 0xf88bb8a8724c81ecull, "seed 0 state");
	CHECK(gu_rng_next(&a) == 0x99ec5f36cb75f2b4ull, "seed 0 draw 1");
	CHECK(gu_rng_next(&a) == 0xbf6e1f784956452aull, "seed 0 draw 2");
	CHECK(gu_rng_next(&a) == 0x1a5f849d4933e6e0ull, "seed 0 draw 3");
	gu_rng_seed(&a, 42);
	CHECK(gu_rng_next(&a) == 0x15780b2e0c2ec716ull, "seed 42 draw 1");

	/* same seed, same sequence; another seed, another */
	gu_rng_seed(&a, 12345);
	gu_rng_seed(&b, 12345);
	int same = 1;
	for (int i = 0; i < 1000; i++) same &= gu_rng_next(&a) == gu_rng_next(&b);
	CHECK(same, "same seed differs");
	gu_rng_seed(&b, 12346);
	CHECK(gu_rng_next(&a) != gu_rng_next(&b), "seeds 12345 and 12346 agree");

	/* uniform in [0, 1) */
	double mn = 1, mx = 0;
	for (int i = 0; i < 100000; i++) {
		double u = gu_rng_uniform(&a);
		mn = u < mn ? u : mn;
		mx = u > mx ? u : mx;
	}
	CHECK(mn >= 0 && mx < 1 && mn < 1e-3 && mx > 1 - 1e-3, "uniform range %g %g", mn, mx);

	/* below: range, and rough uniformity by chi-square over 10 cells (df 9; 30 is p ~ 4e-4) */
	static const uint64_t ns[] = {1, 2, 3, 7, 1000003, (1ull << 63) + 12345, UINT64_MAX};
	for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
		int ok = 1;
		for (int i = 0; i < 2000; i++) ok &= gu_rng_below(&a, ns[k]) < ns[k];
		CHECK(ok, "below(%llu) out of range", (unsigned long long)ns[k]);
	}
	CHECK(gu_rng_below(&a, 0) == 0, "below(0)");
	{
		long cnt[10] = {0};
		const int N = 100000;
		for (int i = 0; i < N; i++) cnt[gu_rng_below(&a, 10)]++;
		double chi = 0;
		for (int c = 0; c < 10; c++) chi += (cnt[c] - N / 10.0) * (cnt[c] - N / 10.0) / (N / 10.0);
		CHECK(chi < 30, "below(10) chi2 %g", chi);
		/* a range that is not a power of two and large: the top third must get its share */
		long hi = 0;
		const uint64_t n3 = (1ull << 63) + (1ull << 62); /* 3 * 2^62 */
		for (int i = 0; i < 30000; i++) hi += gu_rng_below(&a, n3) >= (1ull << 63);
		CHECK(hi > 9400 && hi < 10600, "below(3*2^62) top third %ld of 30000", hi);
	}

	/* shuffle gives a permutation and moves things */
	{
		enum { N = 1000 };
		uint32_t p[N], seen[N] = {0};
		for (uint32_t i = 0; i < N; i++) p[i] = i;
		gu_rng_shuffle(&a, p, N);
		int fixed = 0, ok = 1;
		for (uint32_t i = 0; i < N; i++) {
			ok &= p[i] < N;
			if (p[i] < N) seen[p[i]]++;
			fixed += p[i] == i;
		}
		for (int i = 0; i < N; i++) ok &= seen[i] == 1;
		CHECK(ok, "shuffle is not a permutation");
		CHECK(fixed < 10, "shuffle left %d fixed points", fixed);
		gu_rng_shuffle(&a, p, 0);
		gu_rng_shuffle(&a, p, 1);
		/* each of the 6 orders of 3 items appears about 1/6 of the time */
		long cnt[6] = {0};
		for (int i = 0; i < 60000; i++) {
			uint32_t q[3] = {0, 1, 2};
			gu_rng_shuffle(&a, q, 3);
			cnt[q[0] * 2 + (q[1] > q[2])]++;
		}
		for (int c = 0; c < 6; c++) CHECK(cnt[c] > 9500 && cnt[c] < 10500, "order %d: %ld", c, cnt[c]);
	}

	/* normal: mean and variance over 1e5 draws (standard errors 0.0032 and 0.0045) */
	{
		double s = 0, ss = 0;
		const int N = 100000;
		for (int i = 0; i < N; i++) {
			double z = gu_rng_normal(&a);
			s += z;
			ss += z * z;
		}
		double m = s / N, v = ss / N - m * m;
		CHECK(fabs(m) < 0.02, "normal mean %g", m);
		CHECK(fabs(v - 1) < 0.03, "normal var %g", v);
	}

	/* fill_uniform stays in [lo, hi) */
	{
		float x[10000];
		gu_rng_fill_uniform(&a, x, 10000, -0.1f, 0.1f);
		int ok = 1;
		double s = 0;
		for (int i = 0; i < 10000; i++) {
			ok &= x[i] >= -0.1f && x[i] < 0.1f;
			s += x[i];
		}
		CHECK(ok, "fill_uniform range");
		CHECK(fabs(s / 10000) < 0.005, "fill_uniform mean %g", s / 10000);
	}
}

/* ---- dropout masks ------------------------------------------------------------------- */

static void test_dropout_mask(void)
{
	gu_rng r;
	gu_rng_seed(&r, 7);
	enum { N = 100000 };
	float *m = gu_malloc(N * sizeof *m);
	static const float ps[] = {0.1f, 0.3f, 0.5f};
	for (int k = 0; k < 3; k++) {
		const float p = ps[k], keep = 1.0f / (1.0f - p);
		gu_dropout_mask(m, N, p, &r);
		double s = 0;
		long zeros = 0;
		int ok = 1;
		for (int i = 0; i < N; i++) {
			ok &= m[i] == 0.0f || m[i] == keep;
			zeros += m[i] == 0.0f;
			s += m[i];
		}
		CHECK(ok, "mask values not in {0, 1/(1-p)} for p=%g", p);
		/* se of the mean: sqrt(p/(1-p)/N) <= 0.0032; of the zero fraction <= 0.0016 */
		CHECK_CLOSE(s / N, 1.0, 0.015, 0, "mask mean");
		CHECK_CLOSE((double)zeros / N, p, 0.008, 0, "mask zero fraction");
	}
	/* p == 0: all ones, and the random stream is not touched */
	gu_rng before = r;
	gu_dropout_mask(m, N, 0.0f, &r);
	int ones = 1;
	for (int i = 0; i < N; i++) ones &= m[i] == 1.0f;
	CHECK(ones, "p == 0 mask not all ones");
	CHECK(memcmp(&before, &r, sizeof r) == 0, "p == 0 consumed random numbers");
	/* same seed, same mask */
	float m2[64], m3[64];
	gu_rng_seed(&r, 99);
	gu_dropout_mask(m2, 64, 0.5f, &r);
	gu_rng_seed(&r, 99);
	gu_dropout_mask(m3, 64, 0.5f, &r);
	CHECK(memcmp(m2, m3, sizeof m2) == 0, "mask not deterministic");
	/* gu_mul applies it, in place too */
	float x[64], y[64];
	for (int i = 0; i < 64; i++) x[i] = (float)i;
	gu_mul(y, x, m2, 64);
	gu_mul(x, x, m2, 64);
	int ok = 1;
	for (int i = 0; i < 64; i++) ok &= y[i] == (float)i * m2[i] && x[i] == y[i];
	CHECK(ok, "gu_mul");
	free(m);
}

/* ---- embedding ------------------------------------------------------------------------- */

enum { EV = 7, EE = 5, ET = 4, EB = 3, EM = ET * EB };
typedef struct {
	float *w, *mask, *out, *R;
	const int32_t *ids;
} emb_ctx;

static double emb_loss(void *p)
{
	emb_ctx *c = p;
	gu_embedding_forward(c->out, c->w, c->mask, c->ids, EM, EE);
	return dot(c->R, c->out, EM * EE);
}

static void test_embedding(void)
{
	gu_rng r;
	gu_rng_seed(&r, 3);
	/* id 0 is the skip (pad) id and occurs three times */
	static const int32_t ids[EM] = {0, 3, 5, 0, 3, 6, 2, 0, 1, 4, 3, 6};
	float mask[EV] = {1.25f, 1.25f, 0.0f, 1.25f, 1.25f, 0.0f, 1.25f}; /* p = 0.2, rows 2, 5 out */
	float *w = rnd(&r, EV * EE, -1, 1), *R = rnd(&r, EM * EE, -1, 1);
	float out[EM * EE], dw[EV * EE], d0[EV * EE];
	emb_ctx c = {w, mask, out, R, ids};
	emb_loss(&c);
	int ok = 1;
	for (int m = 0; m < EM; m++)
		for (int j = 0; j < EE; j++) ok &= out[m * EE + j] == w[ids[m] * EE + j] * mask[ids[m]];
	CHECK(ok, "embedding forward");
	gu_embedding_forward(out, w, NULL, ids, EM, EE);
	ok = 1;
	for (int m = 0; m < EM; m++) ok &= memcmp(out + m * EE, w + ids[m] * EE, EE * sizeof(float)) == 0;
	CHECK(ok, "embedding forward without mask");

	/* backward accumulates onto d0 */
	gu_rng_fill_uniform(&r, d0, EV * EE, -1, 1);
	memcpy(dw, d0, sizeof dw);
	gu_embedding_backward(dw, R, mask, ids, EM, EE, 0);
	for (int i = 0; i < EV * EE; i++) dw[i] -= d0[i];
	/* the skip row gets nothing though it is used; every other row matches differences */
	uint8_t skip[EV * EE] = {0};
	for (int j = 0; j < EE; j++) {
		CHECK(dw[j] == 0.0f, "skip row got gradient %g", dw[j]);
		skip[j] = 1;
	}
	fd_check("embedding dw", emb_loss, &c, w, dw, EV * EE, EPS_LIN, ATOL_LIN, RTOL_LIN, skip);
	/* and the skip row's lookup does matter to the forward (so skipping it is a choice) */
	{
		float save = w[0];
		double l0 = emb_loss(&c);
		w[0] += 0.5f;
		double l1 = emb_loss(&c);
		w[0] = save;
		CHECK(l0 != l1, "pad row unused in forward?");
	}
	/* no mask, no skip: the plain sum */
	memset(dw, 0, sizeof dw);
	gu_embedding_backward(dw, R, NULL, ids, EM, EE, -1);
	c.mask = NULL;
	fd_check("embedding dw (no mask)", emb_loss, &c, w, dw, EV * EE, EPS_LIN, ATOL_LIN, RTOL_LIN,
		 NULL);
	free(w);
	free(R);
}

/* ---- locked dropout ------------------------------------------------------------------ */

enum { LT = 3, LB = 2, LC = 4 };
typedef struct {
	float *x, *mask, *R;
} ld_ctx;

static double ld_loss(void *p)
{
	ld_ctx *c = p;
	float y[LT * LB * LC];
	memcpy(y, c->x, sizeof y);
	gu_locked_dropout(y, c->mask, LT, LB, LC);
	return dot(c->R, y, LT * LB * LC);
}

static void test_locked_dropout(void)
{
	gu_rng r;
	gu_rng_seed(&r, 4);
	float mask[LB * LC], g[LT * LB * LC];
	gu_dropout_mask(mask, LB * LC, 0.5f, &r);
	float *x = rnd(&r, LT * LB * LC, -1, 1), *R = rnd(&r, LT * LB * LC, -1, 1);
	ld_ctx c = {x, mask, R};
	/* forward: same (b,c) mask at every t */
	float y[LT * LB * LC];
	memcpy(y, x, sizeof y);
	gu_locked_dropout(y, mask, LT, LB, LC);
	int ok = 1;
	for (int t = 0; t < LT; t++)
		for (int i = 0; i < LB * LC; i++) ok &= y[t * LB * LC + i] == x[t * LB * LC + i] * mask[i];
	CHECK(ok, "locked dropout forward");
	/* backward is the same op on the gradient */
	memcpy(g, R, sizeof g);
	gu_locked_dropout(g, mask, LT, LB, LC);
	fd_check("locked dropout dx", ld_loss, &c, x, g, LT * LB * LC, EPS_LIN, ATOL_LIN, RTOL_LIN,
		 NULL);
	free(x);
	free(R);
}

/* ---- linear -------------------------------------------------------------------------- */

typedef struct {
	float *x, *w, *b, *y, *R;
	int M, in, out;
} lin_ctx;

static double lin_loss(void *p)
{
	lin_ctx *c = p;
	gu_linear_forward(c->y, c->x, c->w, c->b, c->M, c->in, c->out);
	return dot(c->R, c->y, (size_t)c->M * c->out);
}

static void test_linear_case(int M, int in, int out, gu_rng *r)
{
	float *x = rnd(r, (size_t)M * in, -1, 1), *w = rnd(r, (size_t)out * in, -1, 1);
	float *b = rnd(r, out, -1, 1), *R = rnd(r, (size_t)M * out, -1, 1);
	float *y = gu_malloc((size_t)M * out * sizeof *y), *dx = gu_malloc((size_t)M * in * sizeof *dx);
	float *dw = rnd(r, (size_t)out * in, -1, 1), *db = rnd(r, out, -1, 1);
	float *dw0 = gu_malloc((size_t)out * in * sizeof *dw0), *db0 = gu_malloc(out * sizeof *db0);
	memcpy(dw0, dw, (size_t)out * in * sizeof *dw);
	memcpy(db0, db, out * sizeof *db);
	lin_ctx c = {x, w, b, y, R, M, in, out};

	/* forward against a direct sum */
	lin_loss(&c);
	int ok = 1;
	for (int m = 0; m < M; m++)
		for (int o = 0; o < out; o++) {
			double s = b[o];
			for (int i = 0; i < in; i++) s += (double)x[m * in + i] * w[o * in + i];
			ok &= fabs(s - y[m * out + o]) < 1e-5;
		}
	CHECK(ok, "linear forward M=%d", M);
	gu_linear_forward(y, x, w, NULL, M, in, out);
	ok = 1;
	for (int m = 0; m < M; m++)
		for (int o = 0; o < out; o++) {
			double s = 0;
			for (int i = 0; i < in; i++) s += (double)x[m * in + i] * w[o * in + i];
			ok &= fabs(s - y[m * out + o]) < 1e-5;
		}
	CHECK(ok, "linear forward without bias M=%d", M);

	memset(dx, 0x7f, (size_t)M * in * sizeof *dx); /* garbage: dx must be overwritten */
	gu_linear_backward(dx, dw, db, R, x, w, M, in, out);
	for (int i = 0; i < out * in; i++) dw[i] -= dw0[i];
	for (int i = 0; i < out; i++) db[i] -= db0[i];
	fd_check("linear dx", lin_loss, &c, x, dx, (size_t)M * in, EPS_LIN, ATOL_LIN, RTOL_LIN, NULL);
	fd_check("linear dw", lin_loss, &c, w, dw, (size_t)out * in, EPS_LIN, ATOL_LIN, RTOL_LIN, NULL);
	fd_check("linear db", lin_loss, &c, b, db, out, EPS_LIN, ATOL_LIN, RTOL_LIN, NULL);
	/* NULL dx and db are skipped */
	gu_linear_backward(NULL, dw, NULL, R, x, w, M, in, out);
	free(x), free(w), free(b), free(R), free(y), free(dx), free(dw), free(db), free(dw0), free(db0);
}

static void test_linear(void)
{
	gu_rng r;
	gu_rng_seed(&r, 5);
	test_linear_case(5, 7, 4, &r);
	test_linear_case(1, 6, 3, &r); /* the GEMV / GER path */
}

/* ---- ReLU ----------------------------------------------------------------------------- */

enum { RN = 24 };
typedef struct {
	float *x, *R;
} relu_ctx;

static double relu_loss(void *p)
{
	relu_ctx *c = p;
	float y[RN];
	memcpy(y, c->x, sizeof y);
	gu_relu_forward(y, RN);
	return dot(c->R, y, RN);
}

static void test_relu(void)
{
	gu_rng r;
	gu_rng_seed(&r, 6);
	float *x = rnd(&r, RN, 0.05f, 1), *R = rnd(&r, RN, -1, 1), y[RN], g[RN];
	for (int i = 0; i < RN; i += 2) x[i] = -x[i]; /* |x| >= 0.05 > eps: no kink crossed */
	memcpy(y, x, sizeof y);
	gu_relu_forward(y, RN);
	int ok = 1;
	for (int i = 0; i < RN; i++) ok &= y[i] == (x[i] > 0 ? x[i] : 0.0f);
	CHECK(ok, "relu forward");
	memcpy(g, R, sizeof g);
	gu_relu_backward(g, y, RN);
	relu_ctx c = {x, R};
	fd_check("relu dx", relu_loss, &c, x, g, RN, EPS_LIN, ATOL_LIN, RTOL_LIN, NULL);
	free(x);
	free(R);
}

/* ---- softmax cross-entropy ------------------------------------------------------------ */

enum { SM = 6, SV = 5 };
typedef struct {
	float *z;
	const int32_t *y;
	float dscale;
} sx_ctx;

static double sx_loss(void *p)
{
	sx_ctx *c = p;
	return c->dscale * gu_softmax_xent(NULL, c->z, c->y, SM, SV, -1, 0, NULL, NULL);
}

static void test_softmax_xent(void)
{
	/* hand example: rows [1 2 3] -> target 2, [1 1 1] -> target 0 (tie: argmax 0, correct),
	 * an ignored row, and a huge-logit row that would overflow a naive exp */
	float z[4 * 3] = {1, 2, 3, 1, 1, 1, 5, 6, 7, 1000, 1001, 999}, dz[4 * 3];
	const int32_t y[4] = {2, 0, -1, 0};
	int64_t nc = -1, ncor = -1;
	double L = gu_softmax_xent(dz, z, y, 4, 3, -1, 1.0f, &nc, &ncor);
	/* log(e+e^2+e^3) - 3 = 0.407605964, log 3 = 1.098612289, log(e^0+e^1+e^-1) = 1.40760596 */
	CHECK_CLOSE(L, 0.40760596444438013 + 1.0986122886681098 + 1.4076059644444285, 1e-5, 1e-6,
		    "xent 2x3 loss");
	CHECK(nc == 3 && ncor == 2, "counted %lld correct %lld", (long long)nc, (long long)ncor);
	static const double sm0[3] = {0.09003057317038048, 0.2447284710547977, 0.665240955774822};
	CHECK_CLOSE(dz[0], sm0[0], 1e-6, 1e-5, "dz[0,0]");
	CHECK_CLOSE(dz[1], sm0[1], 1e-6, 1e-5, "dz[0,1]");
	CHECK_CLOSE(dz[2], sm0[2] - 1, 1e-6, 1e-5, "dz[0,2]");
	CHECK_CLOSE(dz[3], 1.0 / 3 - 1, 1e-6, 1e-5, "dz[1,0]");
	CHECK_CLOSE(dz[4], 1.0 / 3, 1e-6, 1e-5, "dz[1,1]");
	CHECK(dz[6] == 0 && dz[7] == 0 && dz[8] == 0, "ignored row has gradient");
	CHECK_CLOSE(dz[9], sm0[1] - 1, 1e-6, 1e-5, "dz[3,0]");
	/* aliasing dlogits = logits gives the same numbers */
	float za[12];
	memcpy(za, z, sizeof za);
	double La = gu_softmax_xent(za, za, y, 4, 3, -1, 1.0f, NULL, NULL);
	CHECK(La == L && memcmp(za, dz, sizeof dz) == 0, "aliased softmax_xent differs");

	gu_rng r;
	gu_rng_seed(&r, 8);
	/* the vectorised exp against double libm: V = 37 covers the 8-wide blocks and the scalar
	 * tail; logits span 100 so some fall below the -87 clamp; loss and softmax to ~1e-6 */
	{
		enum { W = 37, RW = 20 };
		float zz[RW * W], pp[RW * W];
		int32_t tt[RW];
		gu_rng_fill_uniform(&r, zz, RW * W, -90, 10);
		for (int m = 0; m < RW; m++) tt[m] = (int32_t)gu_rng_below(&r, W);
		double Lw = 0;
		int ok = 1;
		double Lg = gu_softmax_xent(pp, zz, tt, RW, W, -1, 1.0f, NULL, NULL);
		for (int m = 0; m < RW; m++) {
			double mx = -1e30, s = 0;
			for (int j = 0; j < W; j++) mx = zz[m * W + j] > mx ? zz[m * W + j] : mx;
			for (int j = 0; j < W; j++) s += exp((double)zz[m * W + j] - mx);
			Lw += mx + log(s) - zz[m * W + tt[m]];
			for (int j = 0; j < W; j++) {
				double want = exp((double)zz[m * W + j] - mx) / s - (j == tt[m]);
				ok &= fabs(pp[m * W + j] - want) < 1e-6 * fabs(want) + 1e-7;
			}
		}
		CHECK_CLOSE(Lg, Lw, 1e-5, 1e-6, "xent vs double libm");
		CHECK(ok, "softmax vs double libm");
	}

	/* gradient check, with dscale = 1/(counted rows) and two ignored rows */
	float *x = rnd(&r, SM * SV, -2, 2), g[SM * SV];
	const int32_t t[SM] = {1, -1, 4, 0, -1, 2};
	for (int i = 0; i < SM * SV; i++) g[i] = 12345.0f; /* overwritten everywhere */
	gu_softmax_xent(g, x, t, SM, SV, -1, 0.25f, &nc, NULL);
	CHECK(nc == 4, "counted %lld", (long long)nc);
	sx_ctx c = {x, t, 0.25f};
	fd_check("softmax_xent dlogits", sx_loss, &c, x, g, SM * SV, EPS_NL, ATOL_NL, RTOL_NL, NULL);
	for (int j = 0; j < SV; j++) CHECK(g[SV + j] == 0 && g[4 * SV + j] == 0, "ignored row gradient");
	free(x);
}

/* ---- AR / TAR ------------------------------------------------------------------------- */

typedef struct {
	float *h;
	int T, B, C;
	float alpha, beta;
} ar_ctx;

static double ar_loss(void *p)
{
	ar_ctx *c = p;
	return gu_ar_tar(NULL, c->h, c->T, c->B, c->C, c->alpha, c->beta);
}

/* Direct formula, batch-first indexing translated to time-major. */
static double ar_ref(const float *h, int T, int B, int C, double alpha, double beta)
{
	double ar = 0, tar = 0;
	for (int i = 0; i < T * B * C; i++) ar += (double)h[i] * h[i];
	ar /= T * B * C;
	if (B > 1 && T > 1) {
		for (int b = 0; b < B; b++)
			for (int t = 1; t < T; t++)
				for (int j = 0; j < C; j++) {
					double d = (double)h[(t * B + b) * C + j] - h[((t - 1) * B + b) * C + j];
					tar += d * d;
				}
		tar /= (T - 1) * B * C;
	}
	return alpha * ar + beta * tar;
}

static void test_ar_tar_case(int T, int B, int C, gu_rng *r)
{
	const size_t n = (size_t)T * B * C;
	float *h = rnd(r, n, -1, 1), *g = rnd(r, n, -1, 1), *g0 = gu_malloc(n * sizeof *g0);
	memcpy(g0, g, n * sizeof *g);
	double v = gu_ar_tar(g, h, T, B, C, 2.0f, 1.0f);
	CHECK_CLOSE(v, ar_ref(h, T, B, C, 2, 1), 1e-9, 1e-7, "ar_tar value");
	if (B == 1 || T == 1) CHECK_CLOSE(v, ar_ref(h, T, B, C, 2, 0), 1e-9, 1e-7, "TAR not skipped");
	for (size_t i = 0; i < n; i++) g[i] -= g0[i]; /* it accumulates */
	ar_ctx c = {h, T, B, C, 2.0f, 1.0f};
	fd_check("ar_tar dh", ar_loss, &c, h, g, n, EPS_NL, ATOL_NL, RTOL_NL, NULL);
	free(h), free(g), free(g0);
}

static void test_ar_tar(void)
{
	gu_rng r;
	gu_rng_seed(&r, 9);
	test_ar_tar_case(5, 3, 4, &r);
	test_ar_tar_case(5, 1, 4, &r); /* B == 1: TAR skipped, as the reference */
	test_ar_tar_case(1, 3, 4, &r); /* T == 1: no pairs */
	/* AR and TAR each, on a tiny hand example: h = [1, 3] (T=2, B=2, C=1 -> rows (t,b)) */
	float h[4] = {1, 2, 3, 5}, dh[4] = {0};
	/* AR mean(h^2) = 39/4; TAR: pairs (3-1), (5-2) -> (4 + 9)/2 */
	CHECK_CLOSE(gu_ar_tar(dh, h, 2, 2, 1, 1.0f, 0.0f), 9.75, 1e-9, 0, "AR alone");
	CHECK_CLOSE(gu_ar_tar(NULL, h, 2, 2, 1, 0.0f, 1.0f), 6.5, 1e-9, 0, "TAR alone");
	CHECK_CLOSE(dh[3], 2.5, 1e-6, 0, "AR grad 2h/n");
}

/* ---- concat pooling ---------------------------------------------------------------------- */

enum { PT = 6, PB = 4, PC = 3 };
typedef struct {
	float *o, *R;
	const uint8_t *valid;
} pool_ctx;

static double pool_loss(void *p)
{
	pool_ctx *c = p;
	float out[PB * 3 * PC];
	int32_t am[PB * PC], last[PB];
	gu_concat_pool_forward(out, am, last, c->o, c->valid, PT, PB, PC);
	return dot(c->R, out, PB * 3 * PC);
}

static void test_pool(void)
{
	/* tiny hand example: T=3, B=2, C=1; row 0 all valid, row 1 one leading pad */
	{
		const float o[3 * 2] = {/* t0 */ 1, 100, /* t1 */ 4, 2, /* t2 */ -2, 6};
		const uint8_t valid[3 * 2] = {1, 0, 1, 1, 1, 1};
		float out[2 * 3];
		int32_t am[2], last[2];
		gu_concat_pool_forward(out, am, last, o, valid, 3, 2, 1);
		/* row 0: last -2, max 4 (t1), mean 1; row 1: last 6, max 6 (t2, pad 100 ignored), mean 4 */
		const float want[6] = {-2, 4, 1, 6, 6, 4};
		for (int i = 0; i < 6; i++) CHECK_CLOSE(out[i], want[i], 1e-6, 0, "pool tiny");
		CHECK(am[0] == 1 && am[1] == 2 && last[0] == 2 && last[1] == 2, "pool caches");
		/* ties: first occurrence */
		const float ot[3] = {2, 2, 1};
		gu_concat_pool_forward(out, am, last, ot, NULL, 3, 1, 1);
		CHECK(am[0] == 0 && out[0] == 1 && out[1] == 2, "max tie");
	}
	gu_rng r;
	gu_rng_seed(&r, 10);
	/* o values: for each (b,c) a shuffled set of levels 0.3*k + U(0,0.15), so max gaps >= 0.15
	 * >> eps (no tie crossed); pad steps hold 50, far above any real value, so a pad leaking
	 * into the max would show */
	float o[PT * PB * PC], g[PT * PB * PC];
	uint8_t valid[PT * PB];
	for (int t = 0; t < PT; t++)
		for (int b = 0; b < PB; b++) /* row 0 all valid, 1 two leading pads, 2 none, 3 five */
			valid[t * PB + b] = b == 0 ? 1 : b == 1 ? t >= 2 : b == 2 ? 0 : t >= 5;
	for (int b = 0; b < PB; b++)
		for (int j = 0; j < PC; j++) {
			uint32_t perm[PT];
			for (int t = 0; t < PT; t++) perm[t] = t;
			gu_rng_shuffle(&r, perm, PT);
			for (int t = 0; t < PT; t++)
				o[(t * PB + b) * PC + j] = valid[t * PB + b]
								   ? 0.3f * perm[t] - 0.8f + 0.15f * (float)gu_rng_uniform(&r)
								   : 50.0f;
		}
	float *R = rnd(&r, PB * 3 * PC, -1, 1);
	float out[PB * 3 * PC];
	int32_t am[PB * PC], last[PB];
	gu_concat_pool_forward(out, am, last, o, valid, PT, PB, PC);
	CHECK(last[0] == 5 && last[1] == 5 && last[2] == -1 && last[3] == 5, "last");
	for (int i = 0; i < 3 * PC; i++) CHECK(out[2 * 3 * PC + i] == 0, "empty row not zero");
	for (int j = 0; j < PC; j++) { /* row 1 mean over its 4 valid steps */
		double s = 0;
		for (int t = 2; t < PT; t++) s += o[(t * PB + 1) * PC + j];
		CHECK_CLOSE(out[3 * PC + 2 * PC + j], s / 4, 1e-6, 1e-6, "masked mean");
		CHECK(out[3 * PC + PC + j] < 10, "pad leaked into max");
	}
	/* backward accumulates onto a preset do_ */
	for (int i = 0; i < PT * PB * PC; i++) g[i] = 0.5f;
	gu_concat_pool_backward(g, R, am, last, valid, PT, PB, PC);
	for (int i = 0; i < PT * PB * PC; i++) g[i] -= 0.5f;
	for (int t = 0; t < PT; t++)
		for (int b = 0; b < PB; b++)
			if (!valid[t * PB + b])
				for (int j = 0; j < PC; j++) CHECK(g[(t * PB + b) * PC + j] == 0, "pad gradient");
	pool_ctx c = {o, R, valid};
	fd_check("pool do", pool_loss, &c, o, g, PT * PB * PC, EPS_LIN, ATOL_LIN, RTOL_LIN, NULL);
	/* valid == NULL: every step counts */
	for (int i = 0; i < PT * PB * PC; i++)
		if (o[i] == 50.0f) o[i] = -3.0f - 0.3f * (float)(i % 7); /* distinct, below the rest */
	memset(g, 0, sizeof g);
	gu_concat_pool_forward(out, am, last, o, NULL, PT, PB, PC);
	gu_concat_pool_backward(g, R, am, last, NULL, PT, PB, PC);
	c.valid = NULL;
	fd_check("pool do (no mask)", pool_loss, &c, o, g, PT * PB * PC, EPS_LIN, ATOL_LIN, RTOL_LIN,
		 NULL);
	free(R);
}

/* ---- BatchNorm -------------------------------------------------------------------------- */

enum { BM = 6, BC = 4 };
typedef struct {
	float *x, *gamma, *beta, *R;
} bn_ctx;

static double bn_loss(void *p)
{
	bn_ctx *c = p;
	float y[BM * BC], rm[BC] = {0}, rv[BC] = {0};
	gu_batchnorm_forward(y, NULL, NULL, c->x, c->gamma, c->beta, rm, rv, BM, BC, 1, 0.1f, 1e-5f);
	return dot(c->R, y, BM * BC);
}

static void test_batchnorm(void)
{
	/* running-stat update by hand: x = 1,2,3,4 in channel 0 (and 10*that in channel 1):
	 * mean 2.5, biased var 1.25, unbiased 5/3; momentum 0.1 from (0, 1):
	 * running_mean 0.25, running_var 0.9 + 0.1*5/3 = 1.0666667 */
	{
		const float x[4 * 2] = {1, 10, 2, 20, 3, 30, 4, 40}, gm[2] = {1, 2}, bt[2] = {0, -1};
		float y[8], xh[8], rs[2], rm[2] = {0, 0}, rv[2] = {1, 1};
		gu_batchnorm_forward(y, xh, rs, x, gm, bt, rm, rv, 4, 2, 1, 0.1f, 1e-5f);
		CHECK_CLOSE(rm[0], 0.25, 1e-7, 1e-6, "running_mean");
		CHECK_CLOSE(rv[0], 0.9 + 0.1 * 5.0 / 3.0, 1e-7, 1e-6, "running_var");
		CHECK_CLOSE(rm[1], 2.5, 1e-7, 1e-6, "running_mean ch1");
		CHECK_CLOSE(rv[1], 0.9 + 0.1 * 500.0 / 3.0, 1e-6, 1e-6, "running_var ch1");
		CHECK_CLOSE(rs[0], 1 / sqrt(1.25 + 1e-5), 1e-7, 1e-6, "rstd");
		CHECK_CLOSE(y[0], (1 - 2.5) / sqrt(1.25 + 1e-5), 1e-6, 1e-6, "y[0,0]");
		CHECK_CLOSE(y[7], 2 * (40 - 25) / sqrt(125 + 1e-5) - 1, 1e-6, 1e-6, "y[3,1]");
		/* eval uses the running stats and leaves them alone */
		gu_batchnorm_forward(y, NULL, NULL, x, gm, bt, rm, rv, 4, 2, 0, 0.1f, 1e-5f);
		CHECK_CLOSE(y[2], (2 - 0.25) / sqrt(0.9 + 0.5 / 3 + 1e-5), 1e-6, 1e-6, "eval y");
		CHECK_CLOSE(rm[0], 0.25, 1e-7, 1e-6, "eval changed running_mean");
	}
	gu_rng r;
	gu_rng_seed(&r, 11);
	float *x = rnd(&r, BM * BC, -2, 2), *gamma = rnd(&r, BC, 0.5f, 1.5f), *beta = rnd(&r, BC, -1, 1);
	float *R = rnd(&r, BM * BC, -1, 1);
	float y[BM * BC], xhat[BM * BC], rstd[BC], rm[BC] = {0}, rv[BC] = {0}, dx[BM * BC];
	float dg[BC] = {1, 1, 1, 1}, db[BC] = {-1, -1, -1, -1};
	gu_batchnorm_forward(y, xhat, rstd, x, gamma, beta, rm, rv, BM, BC, 1, 0.1f, 1e-5f);
	gu_batchnorm_backward(dx, dg, db, R, xhat, gamma, rstd, BM, BC);
	for (int j = 0; j < BC; j++) dg[j] -= 1, db[j] += 1;
	bn_ctx c = {x, gamma, beta, R};
	fd_check("batchnorm dx", bn_loss, &c, x, dx, BM * BC, EPS_NL, ATOL_NL, RTOL_NL, NULL);
	fd_check("batchnorm dgamma", bn_loss, &c, gamma, dg, BC, EPS_NL, ATOL_NL, RTOL_NL, NULL);
	fd_check("batchnorm dbeta", bn_loss, &c, beta, db, BC, EPS_NL, ATOL_NL, RTOL_NL, NULL);
	free(x), free(gamma), free(beta), free(R);
}

int main(void)
{
	test_rng();
	test_dropout_mask();
	test_embedding();
	test_locked_dropout();
	test_linear();
	test_relu();
	test_softmax_xent();
	test_ar_tar();
	test_pool();
	test_batchnorm();
	return tu_done("test_layers");
}
