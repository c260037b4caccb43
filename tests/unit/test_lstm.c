/* test_lstm.c: gu_lstm_forward/backward against a naive double-precision reference (forward and
 * BPTT), finite differences of every gradient, the pad mask, and state carry across chunks. */
#include <stdint.h>
#include <string.h>

#include "gulm.h"
#include "testutil.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static double urand(void) /* [0,1), splitmix64: the test must not depend on rng.c */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static double nrand(void) /* N(0,1), Box-Muller */
{
	double u = urand(), v = urand();
	return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static float *frand(size_t n, double lo, double hi)
{
	float *p = malloc((n ? n : 1) * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(lo + (hi - lo) * urand());
	return p;
}

static float *fzeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static float *fcopy(const float *a, size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof(float));
	memcpy(p, a, n * sizeof(float));
	return p;
}

/* One layer's parameters (owned) and a view for the library. */
typedef struct {
	int in, n;
	float *w_ih, *w_hh, *b_ih, *b_hh; /* (4n,in) (4n,n) (4n) (4n) */
	gu_lstm_w w;
} layer;

static void layer_init(layer *L, int in, int n, double r)
{
	L->in = in, L->n = n;
	L->w_ih = frand((size_t)4 * n * in, -r, r);
	L->w_hh = frand((size_t)4 * n * n, -r, r);
	L->b_ih = frand((size_t)4 * n, -r, r);
	L->b_hh = frand((size_t)4 * n, -r, r);
	L->w = (gu_lstm_w){in, n, L->w_ih, L->w_hh, L->b_ih, L->b_hh};
}

static void layer_free(layer *L)
{
	free(L->w_ih), free(L->w_hh), free(L->b_ih), free(L->b_hh);
}

/* Forward outputs and caches for one call. */
typedef struct {
	int T, B, n;
	float *y, *h, *c, *gates, *cells; /* (T,B,n) (B,n) (B,n) (T,B,4n) (T,B,n) */
} fwd;

static void fwd_run(fwd *F, const layer *L, const float *x, const float *h0, const float *c0,
		    const uint8_t *valid, int T, int B)
{
	int n = L->n;
	F->T = T, F->B = B, F->n = n;
	F->y = fzeros((size_t)T * B * n);
	F->h = fzeros((size_t)B * n);
	F->c = fzeros((size_t)B * n);
	F->gates = fzeros((size_t)T * B * 4 * n);
	F->cells = fzeros((size_t)T * B * n);
	gu_lstm_forward(F->y, F->h, F->c, F->gates, F->cells, &L->w, x, h0, c0, valid, T, B);
}

static void fwd_free(fwd *F) { free(F->y), free(F->h), free(F->c), free(F->gates), free(F->cells); }

/* Gradients of one backward call. */
typedef struct {
	float *dx, *dw_ih, *dw_hh, *db_ih, *db_hh; /* (T,B,in) (4n,in) (4n,n) (4n) (4n) */
} grads;

static void grads_alloc(grads *G, const layer *L, int T, int B)
{
	int in = L->in, n = L->n;
	G->dx = fzeros((size_t)T * B * in);
	G->dw_ih = fzeros((size_t)4 * n * in);
	G->dw_hh = fzeros((size_t)4 * n * n);
	G->db_ih = fzeros((size_t)4 * n);
	G->db_hh = fzeros((size_t)4 * n);
}

static void grads_free(grads *G)
{
	free(G->dx), free(G->dw_ih), free(G->dw_hh), free(G->db_ih), free(G->db_hh);
}

static void bwd_run(grads *G, const layer *L, const fwd *F, const float *dy, const float *x,
		    const float *h0, const float *c0, const uint8_t *valid)
{
	float *scratch = malloc(gu_lstm_scratch_floats(F->T, F->B, L->n) * sizeof(float));
	gu_lstm_backward(G->dx, G->dw_ih, G->dw_hh, G->db_ih, G->db_hh, dy, &L->w, x, F->y,
			 F->gates, F->cells, h0, c0, valid, F->T, F->B, scratch);
	free(scratch);
}

static double sigm(double a) { return 1.0 / (1.0 + exp(-a)); }

/* Naive double-precision reference forward: y (T,B,n), h, c (B,n); when acts (T,B,4n) and
 * cs (T,B,n) are not NULL it also keeps the activations i|f|g|o and c_t (zero at pads). */
static void ref_forward(double *y, double *h, double *c, double *acts, double *cs, const layer *L,
			const float *x, const float *h0, const float *c0, const uint8_t *valid,
			int T, int B)
{
	int in = L->in, n = L->n;
	double *a = malloc((size_t)4 * n * sizeof(double)); /* (4n) */
	double *hn = malloc((size_t)n * sizeof(double));    /* (n) */
	for (int b = 0; b < B; b++)
		for (int j = 0; j < n; j++) {
			h[b * n + j] = h0 ? h0[b * n + j] : 0.0;
			c[b * n + j] = c0 ? c0[b * n + j] : 0.0;
		}
	for (int t = 0; t < T; t++)
		for (int b = 0; b < B; b++) {
			const float *xt = x + ((size_t)t * B + b) * in;
			size_t row = (size_t)t * B + b;
			for (int r = 0; r < 4 * n; r++) {
				double s = (double)L->b_ih[r] + L->b_hh[r];
				for (int k = 0; k < in; k++)
					s += (double)L->w_ih[(size_t)r * in + k] * xt[k];
				for (int k = 0; k < n; k++)
					s += (double)L->w_hh[(size_t)r * n + k] * h[b * n + k];
				a[r] = s;
			}
			int ok = !valid || valid[t * B + b];
			for (int j = 0; j < n; j++) {
				double i = sigm(a[j]), f = sigm(a[n + j]), g = tanh(a[2 * n + j]),
				       o = sigm(a[3 * n + j]);
				double cc = f * c[b * n + j] + i * g;
				c[b * n + j] = ok ? cc : 0.0;
				hn[j] = ok ? o * tanh(cc) : 0.0;
				if (acts) {
					double *ar = acts + row * 4 * n;
					ar[j] = i, ar[n + j] = f, ar[2 * n + j] = g, ar[3 * n + j] = o;
					cs[row * n + j] = c[b * n + j];
				}
			}
			for (int j = 0; j < n; j++)
				h[b * n + j] = y[row * n + j] = hn[j];
		}
	free(a), free(hn);
}

/* Naive double-precision BPTT for dy: dx (T,B,in) overwritten, dW_ih (4n,in), dW_hh (4n,n),
 * db (4n) overwritten (db is the gradient of either bias). */
static void ref_backward(double *dx, double *dwih, double *dwhh, double *db, const layer *L,
			 const float *x, const float *h0, const float *c0, const uint8_t *valid,
			 int T, int B, const float *dy)
{
	int in = L->in, n = L->n, n4 = 4 * n;
	size_t TB = (size_t)T * B;
	double *y = malloc(TB * n * sizeof(double)), *acts = malloc(TB * n4 * sizeof(double));
	double *cs = malloc(TB * n * sizeof(double));
	double *hl = malloc((size_t)B * n * sizeof(double)), *cl = malloc((size_t)B * n * sizeof(double));
	double *dhn = calloc((size_t)B * n, sizeof(double)), *dcn = calloc((size_t)B * n, sizeof(double));
	double *da = malloc((size_t)n4 * sizeof(double)); /* (4n) */
	ref_forward(y, hl, cl, acts, cs, L, x, h0, c0, valid, T, B);
	memset(dwih, 0, (size_t)n4 * in * sizeof(double));
	memset(dwhh, 0, (size_t)n4 * n * sizeof(double));
	memset(db, 0, (size_t)n4 * sizeof(double));
	for (int t = T - 1; t >= 0; t--)
		for (int b = 0; b < B; b++) {
			size_t row = (size_t)t * B + b;
			double *dhb = dhn + (size_t)b * n, *dcb = dcn + (size_t)b * n;
			if (valid && !valid[row]) { /* h_t, c_t were constants: nothing flows back */
				memset(dx + row * in, 0, (size_t)in * sizeof(double));
				memset(dhb, 0, (size_t)n * sizeof(double));
				memset(dcb, 0, (size_t)n * sizeof(double));
				continue;
			}
			const double *ar = acts + row * n4;
			for (int j = 0; j < n; j++) {
				double i = ar[j], f = ar[n + j], g = ar[2 * n + j], o = ar[3 * n + j];
				double c = cs[row * n + j], tc = tanh(c);
				double cp = t ? cs[(row - B) * n + j] : c0 ? c0[b * n + j] : 0.0;
				double dh = dy[row * n + j] + dhb[j];
				double dc = dcb[j] + dh * o * (1 - tc * tc);
				da[j] = dc * g * i * (1 - i);
				da[n + j] = dc * cp * f * (1 - f);
				da[2 * n + j] = dc * i * (1 - g * g);
				da[3 * n + j] = dh * tc * o * (1 - o);
				dcb[j] = dc * f;
			}
			for (int k = 0; k < n; k++) { /* dh_{t-1} = W_hh^T da */
				double s = 0;
				for (int r = 0; r < n4; r++)
					s += L->w_hh[(size_t)r * n + k] * da[r];
				dhb[k] = s;
			}
			for (int k = 0; k < in; k++) {
				double s = 0;
				for (int r = 0; r < n4; r++)
					s += L->w_ih[(size_t)r * in + k] * da[r];
				dx[row * in + k] = s;
			}
			for (int r = 0; r < n4; r++) {
				for (int k = 0; k < in; k++)
					dwih[(size_t)r * in + k] += da[r] * x[row * in + k];
				for (int k = 0; k < n; k++) {
					double hp = t ? y[(row - B) * n + k] : h0 ? h0[b * n + k] : 0.0;
					dwhh[(size_t)r * n + k] += da[r] * hp;
				}
				db[r] += da[r];
			}
		}
	free(y), free(acts), free(cs), free(hl), free(cl), free(dhn), free(dcn), free(da);
}

/* Every element of a float gradient against the double reference: |got - want| <= 3e-6 *
 * max|want| + 3e-5 |want|. Float rounding in the GEMM sums and the recurrence; the test passed
 * with bounds 10x tighter when written. */
static void check_grad(const char *name, const float *got, const double *want, size_t m)
{
	char what[96];
	double mx = 0;
	for (size_t k = 0; k < m; k++)
		mx = fmax(mx, fabs(want[k]));
	for (size_t k = 0; k < m; k++) {
		snprintf(what, sizeof what, "%s[%zu] against the double reference", name, k);
		CHECK_CLOSE(got[k], want[k], 3e-6 * mx + 1e-9, 3e-5, what);
	}
}

/* ---- 1. forward against the reference ------------------------------------------------------ */

/* with_state: bit 0 gives a random h0, bit 1 a random c0 (else NULL = zeros). r: weight range;
 * 0.5 is wider than the init range, so gates leave their linear zone; 20 drives pre-activations
 * to +-100, past the clamps of the fast exp. */
static void test_forward(int T, int B, int in, int n, int with_state, int with_mask, double r)
{
	layer L;
	layer_init(&L, in, n, r);
	float *x = frand((size_t)T * B * in, -1, 1);
	float *h0 = with_state & 1 ? frand((size_t)B * n, -0.9, 0.9) : NULL;
	float *c0 = with_state & 2 ? frand((size_t)B * n, -2, 2) : NULL;
	uint8_t *valid = NULL;
	if (with_mask) {
		valid = malloc((size_t)T * B);
		for (int k = 0; k < T * B; k++)
			valid[k] = urand() < 0.7;
	}
	fwd F;
	fwd_run(&F, &L, x, h0, c0, valid, T, B);
	double *ry = malloc((size_t)T * B * n * sizeof(double));
	double *rh = malloc((size_t)B * n * sizeof(double)), *rc = malloc((size_t)B * n * sizeof(double));
	ref_forward(ry, rh, rc, NULL, NULL, &L, x, h0, c0, valid, T, B);
	char what[96];
	/* float32 against double: a few ulps of accumulated rounding. */
	for (int k = 0; k < T * B * n; k++) {
		snprintf(what, sizeof what, "forward T=%d B=%d in=%d n=%d state=%d mask=%d: y[%d]", T,
			 B, in, n, with_state, with_mask, k);
		CHECK_CLOSE(F.y[k], ry[k], 1e-6, 1e-5, what);
	}
	for (int k = 0; k < B * n; k++) {
		snprintf(what, sizeof what, "h_last[%d]", k);
		CHECK_CLOSE(F.h[k], rh[k], 1e-6, 1e-5, what);
		snprintf(what, sizeof what, "c_last[%d]", k);
		CHECK_CLOSE(F.c[k], rc[k], 1e-6, 1e-5, what);
	}
	if (valid)
		for (int t = 0; t < T; t++)
			for (int b = 0; b < B; b++)
				if (!valid[t * B + b])
					for (int j = 0; j < n; j++)
						CHECK(F.y[((size_t)t * B + b) * n + j] == 0.0f &&
							      F.cells[((size_t)t * B + b) * n + j] == 0.0f,
						      "pad (t=%d,b=%d) not zero", t, b);
	fwd_free(&F);
	free(ry), free(rh), free(rc), free(x), free(h0), free(c0), free(valid);
	layer_free(&L);
}

/* ---- 2. finite differences ---------------------------------------------------------------- */

/* L = sum R .* y, in double from the float outputs. */
static double loss(const layer *L, const float *x, const float *h0, const float *c0,
		   const uint8_t *valid, int T, int B, const float *R)
{
	fwd F;
	fwd_run(&F, L, x, h0, c0, valid, T, B);
	double s = 0;
	for (size_t k = 0; k < (size_t)T * B * L->n; k++)
		s += (double)R[k] * F.y[k];
	fwd_free(&F);
	return s;
}

/* Tolerances. L is summed in double from float y, so each evaluation carries float32 rounding
 * of about 1e-7 * sum|R y| (a few units of 1e-7 here, sum|R y| ~ 1..10). A central difference
 * divides that by 2 eps: with eps = 1e-2 the rounding term is ~1e-5 absolute and the O(eps^2)
 * truncation term (third derivatives of sigmoid/tanh chains, O(1) here) is ~1e-5 for a random
 * unit direction, whose per-entry steps are only eps/sqrt(dim). For single entries eps = 1e-2
 * gives truncation ~1e-4 * f''' and rounding ~1e-5, so the single-entry bound is looser.
 * Observed when this test was written: at most 1.0e-5 (directional) and 5.3e-5 (single entry)
 * on derivatives of 1e-2..1.1; the bounds are about 10x that (-DFD_VERBOSE prints them). */
#define FD_EPS_DIR 1e-2
#define FD_EPS_ONE 1e-2
#define FD_ATOL_DIR 1e-4
#define FD_RTOL_DIR 1e-3
#define FD_ATOL_ONE 3e-4
#define FD_RTOL_ONE 1e-3

static void fd_check_tensor(const char *name, float *p, size_t np, const float *grad,
			    const layer *L, const float *x, const float *h0, const float *c0,
			    const uint8_t *valid, int T, int B, const float *R)
{
	char what[96];
	float *save = fcopy(p, np);
	/* Along a random unit direction u: (L(p + eps u) - L(p - eps u)) / 2eps vs <grad, u>, with
	 * <grad, u> taken over the float-rounded steps actually made. */
	double *u = malloc(np * sizeof(double)), nu = 0, an = 0;
	for (size_t k = 0; k < np; k++)
		u[k] = nrand(), nu += u[k] * u[k];
	nu = sqrt(nu);
	for (size_t k = 0; k < np; k++) {
		float up = (float)(save[k] + FD_EPS_DIR * u[k] / nu);
		float dn = (float)(save[k] - FD_EPS_DIR * u[k] / nu);
		an += (double)grad[k] * ((double)up - dn) / (2 * FD_EPS_DIR);
	}
	for (size_t k = 0; k < np; k++)
		p[k] = (float)(save[k] + FD_EPS_DIR * u[k] / nu);
	double lp = loss(L, x, h0, c0, valid, T, B, R);
	for (size_t k = 0; k < np; k++)
		p[k] = (float)(save[k] - FD_EPS_DIR * u[k] / nu);
	double lm = loss(L, x, h0, c0, valid, T, B, R);
	memcpy(p, save, np * sizeof(float));
	snprintf(what, sizeof what, "%s: directional derivative", name);
#ifdef FD_VERBOSE /* -DFD_VERBOSE prints the errors the tolerances were set from */
	fprintf(stderr, "%-6s dir  fd %+.6e an %+.6e err %.1e\n", name, (lp - lm) / (2 * FD_EPS_DIR), an,
		fabs((lp - lm) / (2 * FD_EPS_DIR) - an));
#endif
	CHECK_CLOSE((lp - lm) / (2 * FD_EPS_DIR), an, FD_ATOL_DIR, FD_RTOL_DIR, what);
	/* A handful of single entries. The actual step is the float difference, so divide by it. */
	for (int s = 0; s < 4; s++) {
		size_t k = (size_t)(urand() * np);
		float up = (float)(save[k] + FD_EPS_ONE), dn = (float)(save[k] - FD_EPS_ONE);
		p[k] = up;
		lp = loss(L, x, h0, c0, valid, T, B, R);
		p[k] = dn;
		lm = loss(L, x, h0, c0, valid, T, B, R);
		p[k] = save[k];
		snprintf(what, sizeof what, "%s[%zu]: single-entry derivative", name, k);
#ifdef FD_VERBOSE
		fprintf(stderr, "%-6s one  fd %+.6e an %+.6e err %.1e\n", name,
			(lp - lm) / ((double)up - dn), grad[k], fabs((lp - lm) / ((double)up - dn) - grad[k]));
#endif
		CHECK_CLOSE((lp - lm) / ((double)up - dn), grad[k], FD_ATOL_ONE, FD_RTOL_ONE, what);
	}
	free(u), free(save);
}

static void test_gradients(int T, int B, int in, int n, int with_state, int with_mask)
{
	layer L;
	layer_init(&L, in, n, 0.5);
	float *x = frand((size_t)T * B * in, -1, 1);
	float *h0 = with_state & 1 ? frand((size_t)B * n, -0.9, 0.9) : NULL;
	float *c0 = with_state & 2 ? frand((size_t)B * n, -2, 2) : NULL;
	float *R = frand((size_t)T * B * n, -1, 1);
	uint8_t *valid = NULL;
	if (with_mask) { /* pads in the middle and at the start of the chunk */
		valid = malloc((size_t)T * B);
		memset(valid, 1, (size_t)T * B);
		valid[0 * B + 0] = 0;
		valid[2 * B + (B - 1)] = 0;
		valid[(T - 1) * B + 0] = 0;
	}
	fwd F;
	fwd_run(&F, &L, x, h0, c0, valid, T, B);
	grads G;
	grads_alloc(&G, &L, T, B);
	for (size_t k = 0; k < (size_t)T * B * in; k++) /* dx must be overwritten */
		G.dx[k] = NAN;
	bwd_run(&G, &L, &F, R, x, h0, c0, valid);

	size_t nih = (size_t)4 * n * in, nhh = (size_t)4 * n * n, nb = (size_t)4 * n;
	double *rdx = malloc((size_t)T * B * in * sizeof(double)), *rdb = malloc(nb * sizeof(double));
	double *rih = malloc(nih * sizeof(double)), *rhh = malloc(nhh * sizeof(double));
	ref_backward(rdx, rih, rhh, rdb, &L, x, h0, c0, valid, T, B, R);
	check_grad("dx", G.dx, rdx, (size_t)T * B * in);
	check_grad("dW_ih", G.dw_ih, rih, nih);
	check_grad("dW_hh", G.dw_hh, rhh, nhh);
	check_grad("db_ih", G.db_ih, rdb, nb);
	check_grad("db_hh", G.db_hh, rdb, nb);
	free(rdx), free(rdb), free(rih), free(rhh);
	fd_check_tensor("dx", x, (size_t)T * B * in, G.dx, &L, x, h0, c0, valid, T, B, R);
	fd_check_tensor("dW_ih", L.w_ih, nih, G.dw_ih, &L, x, h0, c0, valid, T, B, R);
	fd_check_tensor("dW_hh", L.w_hh, nhh, G.dw_hh, &L, x, h0, c0, valid, T, B, R);
	fd_check_tensor("db_ih", L.b_ih, nb, G.db_ih, &L, x, h0, c0, valid, T, B, R);
	fd_check_tensor("db_hh", L.b_hh, nb, G.db_hh, &L, x, h0, c0, valid, T, B, R);
	for (size_t k = 0; k < nb; k++)
		CHECK(G.db_ih[k] == G.db_hh[k], "db_ih[%zu] %g != db_hh %g", k, G.db_ih[k], G.db_hh[k]);

	/* Parameter gradients accumulate, dx is overwritten: a second identical backward doubles
	 * the former (not bit-exactly: sgemm with beta = 1 may fold C into its running sum) and
	 * leaves dx as it was. */
	grads G2 = G;
	float *dx1 = fcopy(G.dx, (size_t)T * B * in), *dih1 = fcopy(G.dw_ih, nih),
	      *dhh1 = fcopy(G.dw_hh, nhh), *db1 = fcopy(G.db_ih, nb);
	bwd_run(&G2, &L, &F, R, x, h0, c0, valid);
	int same = 1;
	for (size_t k = 0; k < (size_t)T * B * in; k++)
		same &= G.dx[k] == dx1[k];
	CHECK(same, "second backward: dx must be overwritten, not accumulated");
	for (size_t k = 0; k < nih; k++)
		CHECK_CLOSE(G.dw_ih[k], 2 * dih1[k], 1e-7, 1e-6, "second backward doubles dW_ih");
	for (size_t k = 0; k < nhh; k++)
		CHECK_CLOSE(G.dw_hh[k], 2 * dhh1[k], 1e-7, 1e-6, "second backward doubles dW_hh");
	for (size_t k = 0; k < nb; k++) {
		CHECK_CLOSE(G.db_ih[k], 2 * db1[k], 1e-7, 1e-6, "second backward doubles db_ih");
		CHECK(G.db_hh[k] == G.db_ih[k], "db_hh[%zu] != db_ih", k);
	}
	/* dx = NULL skips the input gradient. */
	float *scratch = malloc(gu_lstm_scratch_floats(T, B, n) * sizeof(float));
	gu_lstm_backward(NULL, G.dw_ih, G.dw_hh, G.db_ih, G.db_hh, R, &L.w, x, F.y, F.gates,
			 F.cells, h0, c0, valid, T, B, scratch);
	CHECK_CLOSE(G.dw_ih[0], 3 * dih1[0], 1e-7, 1e-6, "dx=NULL backward still accumulates dW_ih");
	free(scratch), free(dx1), free(dih1), free(dhh1), free(db1);

	grads_free(&G);
	fwd_free(&F);
	free(x), free(h0), free(c0), free(R), free(valid);
	layer_free(&L);
}

/* ---- 3. the valid mask --------------------------------------------------------------------- */

/* Batch of 3 rows, T=6; row 1 has 2 leading pad steps. The batched call must equal running each
 * row alone on its real steps from a zero state: y per row, dx per row, and parameter gradients
 * summed over the three single-row calls. dy at the pad positions is nonzero and must be
 * ignored. */
static void test_mask(void)
{
	const int T = 6, B = 3, in = 5, n = 7, pad = 2;
	layer L;
	layer_init(&L, in, n, 0.5);
	float *x = frand((size_t)T * B * in, -1, 1);
	float *R = frand((size_t)T * B * n, -1, 1);
	uint8_t valid[6 * 3];
	memset(valid, 1, sizeof valid);
	for (int t = 0; t < pad; t++)
		valid[t * B + 1] = 0;

	fwd F;
	fwd_run(&F, &L, x, NULL, NULL, valid, T, B);
	grads G;
	grads_alloc(&G, &L, T, B);
	bwd_run(&G, &L, &F, R, x, NULL, NULL, valid);

	grads S; /* parameter gradients summed over single-row runs */
	grads_alloc(&S, &L, T, B);
	char what[96];
	for (int b = 0; b < B; b++) {
		int t0 = b == 1 ? pad : 0, Ts = T - t0;
		float *xs = fzeros((size_t)Ts * in), *Rs = fzeros((size_t)Ts * n); /* (Ts,1,*) */
		for (int t = 0; t < Ts; t++) {
			memcpy(xs + (size_t)t * in, x + ((size_t)(t + t0) * B + b) * in, in * sizeof(float));
			memcpy(Rs + (size_t)t * n, R + ((size_t)(t + t0) * B + b) * n, n * sizeof(float));
		}
		fwd Fs;
		fwd_run(&Fs, &L, xs, NULL, NULL, NULL, Ts, 1);
		free(S.dx);
		S.dx = fzeros((size_t)Ts * in);
		bwd_run(&S, &L, &Fs, Rs, xs, NULL, NULL, NULL);
		for (int t = 0; t < T; t++) {
			const float *yb = F.y + ((size_t)t * B + b) * n;
			const float *dxb = G.dx + ((size_t)t * B + b) * in;
			for (int j = 0; j < n; j++) {
				snprintf(what, sizeof what, "mask: y[t=%d,b=%d,%d]", t, b, j);
				CHECK_CLOSE(yb[j], t < t0 ? 0.0 : Fs.y[(size_t)(t - t0) * n + j], 1e-6,
					    1e-6, what);
			}
			for (int k = 0; k < in; k++) {
				snprintf(what, sizeof what, "mask: dx[t=%d,b=%d,%d]", t, b, k);
				CHECK_CLOSE(dxb[k], t < t0 ? 0.0 : S.dx[(size_t)(t - t0) * in + k], 1e-6,
					    1e-5, what);
			}
		}
		fwd_free(&Fs);
		free(xs), free(Rs);
	}
	for (size_t k = 0; k < (size_t)4 * n * in; k++) {
		snprintf(what, sizeof what, "mask: dW_ih[%zu]", k);
		CHECK_CLOSE(G.dw_ih[k], S.dw_ih[k], 1e-6, 1e-5, what);
	}
	for (size_t k = 0; k < (size_t)4 * n * n; k++) {
		snprintf(what, sizeof what, "mask: dW_hh[%zu]", k);
		CHECK_CLOSE(G.dw_hh[k], S.dw_hh[k], 1e-6, 1e-5, what);
	}
	for (size_t k = 0; k < (size_t)4 * n; k++) {
		snprintf(what, sizeof what, "mask: db[%zu]", k);
		CHECK_CLOSE(G.db_ih[k], S.db_ih[k], 1e-6, 1e-5, what);
		CHECK_CLOSE(G.db_hh[k], S.db_hh[k], 1e-6, 1e-5, what);
	}
	grads_free(&G), grads_free(&S);
	fwd_free(&F);
	free(x), free(R);
	layer_free(&L);
}

/* ---- 4. state carry ------------------------------------------------------------------------ */

static void test_carry(int with_state)
{
	const int T = 8, T1 = 3, B = 3, in = 4, n = 5;
	layer L;
	layer_init(&L, in, n, 0.5);
	float *x = frand((size_t)T * B * in, -1, 1);
	float *h0 = with_state & 1 ? frand((size_t)B * n, -0.9, 0.9) : NULL;
	float *c0 = with_state & 2 ? frand((size_t)B * n, -2, 2) : NULL;
	fwd F, F1, F2;
	fwd_run(&F, &L, x, h0, c0, NULL, T, B);
	fwd_run(&F1, &L, x, h0, c0, NULL, T1, B);
	fwd_run(&F2, &L, x + (size_t)T1 * B * in, F1.h, F1.c, NULL, T - T1, B);
	char what[96];
	for (int k = 0; k < T * B * n; k++) {
		float got = k < T1 * B * n ? F1.y[k] : F2.y[k - T1 * B * n];
		snprintf(what, sizeof what, "carry: y[%d]", k);
		CHECK_CLOSE(got, F.y[k], 1e-6, 1e-6, what);
	}
	for (int k = 0; k < B * n; k++) {
		CHECK_CLOSE(F2.h[k], F.h[k], 1e-6, 1e-6, "carry: h_last");
		CHECK_CLOSE(F2.c[k], F.c[k], 1e-6, 1e-6, "carry: c_last");
	}
	fwd_free(&F), fwd_free(&F1), fwd_free(&F2);
	free(x), free(h0), free(c0);
	layer_free(&L);
}

/* NaN must reach the output (the trainer's NaN check relies on it), and only where it should. */
static void test_nan(void)
{
	const int T = 3, B = 2, in = 3, n = 4;
	layer L;
	layer_init(&L, in, n, 0.5);
	float *x = frand((size_t)T * B * in, -1, 1);
	x[((size_t)1 * B + 1) * in + 2] = NAN; /* (t=1, b=1) */
	fwd F;
	fwd_run(&F, &L, x, NULL, NULL, NULL, T, B);
	for (int t = 0; t < T; t++)
		for (int b = 0; b < B; b++)
			for (int j = 0; j < n; j++) {
				float v = F.y[((size_t)t * B + b) * n + j];
				CHECK(isnan(v) == (b == 1 && t >= 1), "NaN at (t=%d,b=%d,%d): %g", t, b, j, v);
			}
	fwd_free(&F);
	free(x);
	layer_free(&L);
}

int main(void)
{
	test_forward(5, 3, 4, 6, 0, 0, 0.5);
	test_forward(4, 1, 3, 5, 0, 0, 0.5);  /* batch of one */
	test_forward(5, 2, 4, 3, 3, 0, 0.5);  /* nonzero h0, c0 */
	test_forward(5, 2, 4, 3, 1, 0, 0.5);  /* h0 only */
	test_forward(5, 2, 4, 3, 2, 0, 0.5);  /* c0 only */
	test_forward(6, 4, 3, 4, 3, 1, 0.5);  /* random pads */
	test_forward(1, 2, 2, 2, 3, 0, 0.5);  /* a single step */
	test_forward(4, 3, 5, 19, 3, 0, 0.5); /* n not a multiple of the kernels' block of 8 */
	test_forward(4, 3, 5, 19, 0, 0, 0.5); /* ... from a zero state */
	test_forward(4, 2, 6, 5, 3, 0, 20);   /* saturated gates */
	test_nan();
	test_gradients(5, 3, 4, 6, 0, 0);
	test_gradients(5, 3, 4, 6, 3, 1); /* state and pads */
	test_gradients(4, 1, 3, 5, 3, 0); /* batch of one */
	test_gradients(3, 2, 3, 4, 2, 0); /* c0 only */
	test_gradients(1, 2, 3, 4, 3, 0); /* a single step: dW_hh only through h0 */
	test_gradients(3, 2, 4, 17, 3, 1); /* vector blocks and a scalar tail */
	test_gradients(3, 2, 4, 17, 0, 0); /* ... from a zero state */
	/* B >= 8 takes the packed recurrent GEMM kernel (on AVX-512 machines): row and column
	 * tails, and 4n = 160 beyond the kernel's depth block of 128 */
	test_forward(5, 13, 7, 19, 3, 1, 0.5);
	test_forward(3, 64, 9, 33, 1, 0, 0.5);
	test_gradients(3, 13, 5, 19, 3, 1);
	test_gradients(3, 10, 3, 40, 3, 0);
	test_mask();
	test_carry(0);
	test_carry(3);
	return tu_done("test_lstm");
}
