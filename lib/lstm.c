/* lstm.c: one AWD-LSTM layer, forward and backward over a time-major chunk.
 *
 * PyTorch semantics (REFERENCE-SEMANTICS 1.7): a = W_ih x + b_ih + W_hh h + b_hh, gate blocks
 * i|f|g|o of n rows each; i,f,o = sigmoid, g = tanh; c' = f c + i g; h' = o tanh(c').
 *
 * Shapes: x (T,B,In), y (T,B,n), gates (T,B,4n), cells (T,B,n), row (t,b) at (t*B+b)*width.
 *
 * Work layout (the layer is GEMM-bound, so the GEMMs are made as large as the recurrence allows):
 *   forward:  gates = x W_ih^T                       one sgemm, M = T*B
 *             per step: gates[t] += h_{t-1} W_hh^T   one GEMM, M = B (W_hh packed once per
 *                                                    chunk, see "recurrent GEMM")
 *                       fused pointwise pass: + biases, activations, c_t, h_t
 *   backward: per step: dh = dy[t] + dgates[t+1] W_hh  one GEMM, M = B (packed likewise)
 *                       fused pointwise pass: dgates[t], dc carry
 *             after the loop: dW_ih, dW_hh, db, dx as GEMMs over all T*B rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "gulm.h"

/* The row kernels rely on restrict parameters to vectorise without run-time alias checks (which
 * GCC's -O2 cost model refuses); once inlined into the caller GCC loses that restrict, so they
 * stay out of line. The cell bodies must be inlined into every loop, or the loop holds a call. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define NOINLINE
#define ALWAYS_INLINE inline
#endif
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

/* ---- recurrent GEMM ------------------------------------------------------------------------
 * The per-step GEMMs have M = B rows (64) against the whole W_hh (4n x n): OpenBLAS packs W_hh
 * again at every call, which at n = 1150 moves 2 x 21 MB per step and holds the step to 55-80
 * GFLOP/s (sgemm reaches ~110 here on large shapes). W_hh does not change within a chunk, so it
 * is packed once per chunk (panels of RG_NR columns, k-major, zero-padded) and an AVX-512 kernel
 * reads A (h or dgates, row-major) directly: 85-120 GFLOP/s on the same shapes. Used when the
 * CPU has AVX-512F and B >= RG_MR; otherwise cblas_sgemm as before. Summation order differs from
 * OpenBLAS only by float rounding. */
#define RG_MR 8   /* rows of C per kernel call (B direction) */
#define RG_NV 3   /* 16-float vectors per panel: RG_MR x RG_NV = 24 accumulators of 32 */
#define RG_NR 48  /* columns of C per panel */
#define RG_KC 128 /* depth block: a panel block (RG_KC x RG_NR floats, 24 KB) stays in L1 */

static size_t rg_panels(int N) { return ((size_t)N + RG_NR - 1) / RG_NR; }

/* Floats of a packed W_hh for either direction (4n x n or n x 4n, N rounded up to panels). */
static size_t rg_pack_floats(int n)
{
	size_t a = rg_panels(4 * n) * RG_NR * (size_t)n, b = rg_panels(n) * RG_NR * 4 * (size_t)n;
	return a > b ? a : b;
}

/* Packs op(W) (K x N) into panels: bp[p][k][c] = op(W)(k, p*RG_NR + c), 0 past N.
 * trans: op(W) = W^T with W (N x K) row-major (the forward's h W^T); else W (K x N). */
static void rg_pack(float *restrict bp, const float *restrict w, int K, int N, int trans)
{
	for (size_t p = 0; p < rg_panels(N); p++) {
		float *d = bp + p * (size_t)K * RG_NR;
		int j0 = (int)p * RG_NR, nc = N - j0 < RG_NR ? N - j0 : RG_NR;
		if (trans) { /* k outer: the writes are sequential, the nc row streams stay in L1 */
			const float *rows = w + (size_t)j0 * K;
			for (int k = 0; k < K; k++) {
				float *dk = d + (size_t)k * RG_NR;
				int c = 0;
				for (; c < nc; c++) dk[c] = rows[(size_t)c * K + k];
				for (; c < RG_NR; c++) dk[c] = 0.0f;
			}
		} else {
			for (int k = 0; k < K; k++) {
				float *dk = d + (size_t)k * RG_NR;
				memcpy(dk, w + (size_t)k * N + j0, (size_t)nc * sizeof(float));
				for (int c = nc; c < RG_NR; c++) dk[c] = 0.0f;
			}
		}
	}
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define RG_HAVE 1

/* C[0..mv) x [0..RG_NR) (+)= A[0..mv) x [0..kc) (rows at arow[r]) * bp (kc x RG_NR packed);
 * rows past mv are computed from A rows that exist (the caller points them at row 0) and not
 * stored. mk: the valid columns of each 16-column vector. pf: the next panel block, prefetched
 * while this one is computed (NULL: none). */
__attribute__((target("avx512f"), noinline)) static void
rg_kernel(int kc, const float *const *arow, const float *restrict bp, float *c, int ldc, int mv,
	  const __mmask16 *mk, int acc, const char *pf)
{
	__m512 cc[RG_MR][RG_NV];
	const float *a[RG_MR];
#pragma GCC unroll 8
	for (int r = 0; r < RG_MR; r++) {
		a[r] = arow[r];
#pragma GCC unroll 4
		for (int v = 0; v < RG_NV; v++) cc[r][v] = _mm512_setzero_ps();
	}
	for (int k = 0; k < kc; k++) {
		__m512 bv[RG_NV];
#pragma GCC unroll 4
		for (int v = 0; v < RG_NV; v++) bv[v] = _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 8
		for (int r = 0; r < RG_MR; r++) {
			__m512 ar = _mm512_set1_ps(a[r][k]);
#pragma GCC unroll 4
			for (int v = 0; v < RG_NV; v++) cc[r][v] = _mm512_fmadd_ps(ar, bv[v], cc[r][v]);
		}
		if (pf) {
#pragma GCC unroll 4
			for (int v = 0; v < RG_NV; v++) _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
			pf += RG_NR * sizeof(float);
		}
		bp += RG_NR;
	}
#pragma GCC unroll 8
	for (int r = 0; r < RG_MR; r++) {
		if (r >= mv) break;
		float *cr = c + (size_t)r * ldc;
#pragma GCC unroll 4
		for (int v = 0; v < RG_NV; v++) {
			if (acc)
				cc[r][v] = _mm512_add_ps(cc[r][v], _mm512_maskz_loadu_ps(mk[v], cr + 16 * v));
			_mm512_mask_storeu_ps(cr + 16 * v, mk[v], cc[r][v]);
		}
	}
}
#else
#define RG_HAVE 0
#endif
/* the kernels above exist and this CPU runs them */
static int rg_cpu_ok(void) { return RG_HAVE && gu_cpu_avx512(); }

/* Whether the packed path runs for B rows. */
static int rg_use(int B) { return B >= RG_MR && rg_cpu_ok(); }

/* C (M x N, ldc) = (acc ? C : 0) + A (M x K, lda) * packed op(W). M >= RG_MR. */
static void rg_gemm(int M, int N, int K, const float *A, int lda, const float *bp, float *C,
		    int ldc, int acc)
{
#if RG_HAVE
	size_t np = rg_panels(N);
	for (int k0 = 0; k0 < K; k0 += RG_KC) {
		int kc = K - k0 < RG_KC ? K - k0 : RG_KC;
		for (size_t p = 0; p < np; p++) {
			int j0 = (int)p * RG_NR, nc = N - j0 < RG_NR ? N - j0 : RG_NR;
			__mmask16 mk[RG_NV];
			for (int v = 0; v < RG_NV; v++) {
				int q = nc - 16 * v;
				mk[v] = q >= 16 ? 0xffff : q <= 0 ? 0 : (__mmask16)((1u << q) - 1);
			}
			const float *b = bp + p * (size_t)K * RG_NR + (size_t)k0 * RG_NR;
			for (int m = 0; m < M; m += RG_MR) {
				int mv = M - m < RG_MR ? M - m : RG_MR;
				const float *arow[RG_MR];
				for (int r = 0; r < RG_MR; r++)
					arow[r] = A + (size_t)(r < mv ? m + r : 0) * lda + k0;
				const char *pf = m == 0 && p + 1 < np ? (const char *)(b + (size_t)K * RG_NR)
								      : NULL;
				rg_kernel(kc, arow, b, C + (size_t)m * ldc + j0, ldc, mv, mk, acc || k0 > 0,
					  pf);
			}
		}
	}
#else
	(void)M, (void)N, (void)K, (void)A, (void)lda, (void)bp, (void)C, (void)ldc, (void)acc;
#endif
}

/* Scratch of the backward: dgates (T,B,4n), the dh and dc carries (B,n) each, a column-sum
 * vector (4n) for the biases, and the packed W_hh of the recurrent GEMM (also what
 * gu_lstm_forward_ws uses). */
size_t gu_lstm_scratch_floats(int T, int B, int n)
{
	return (size_t)T * B * 4 * n + 2 * (size_t)B * n + 4 * (size_t)n + rg_pack_floats(n);
}

/* ---- pointwise math ------------------------------------------------------------------------
 * glibc's expf/tanhf are calls the compiler cannot vectorise, and tanhf costs ~30 ns here: with
 * them the pointwise passes took ~25% of a 1150-wide layer's time. These branch-free versions
 * are within ~2 ulp of the libm results over the whole range and vectorise at plain -O2 (the
 * kernels below walk fixed blocks of 8 so GCC's -O2 cost model needs no epilogue or alias
 * check). Clamps use integer min on the bit pattern because a float compare-and-select is not
 * if-converted under the default -ftrapping-math. NaN propagates (x - x); +-inf inputs give NaN
 * too, which only an overflowing GEMM can produce and the trainer's NaN check then catches. */

static ALWAYS_INLINE float exp_fast(float x) /* e^x for |x| <= 87 (clamped beyond), Cephes expf */
{
	uint32_t xb, mag;
	float xc, s;
	memcpy(&xb, &x, 4);
	mag = xb & 0x7fffffffu;
	mag = mag < 0x42ae0000u ? mag : 0x42ae0000u; /* |x| <= 87: 2^k stays a normal float */
	xb = (xb & 0x80000000u) | mag;
	memcpy(&xc, &xb, 4);
	/* k = round(x / ln2) by the 1.5*2^23 trick; r = x - k ln2 in two parts, |r| <= ln2/2 */
	float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = xc - k * 0.693359375f;
	r = r - k * -2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	int32_t e = ((int32_t)k + 127) << 23; /* 2^k */
	memcpy(&s, &e, 4);
	return p * s + (x - x);
}

static ALWAYS_INLINE float sigmoid_fast(float a) { return 1.0f / (1.0f + exp_fast(-a)); }

/* Cephes tanhf: an odd polynomial below 0.625, else 1 - 2/(e^2|x| + 1) with the sign of x. */
static ALWAYS_INLINE float tanh_fast(float x)
{
	float ax = fabsf(x), z = x * x;
	float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
			1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
	float big = copysignf(1.0f - 2.0f / (exp_fast(2.0f * ax) + 1.0f), x);
	int32_t m = -(int32_t)(ax < 0.625f), sb, bb; /* select by bits: see above */
	memcpy(&sb, &small, 4), memcpy(&bb, &big, 4);
	sb = (sb & m) | (bb & ~m);
	memcpy(&small, &sb, 4);
	return small;
}

/* ---- per-row kernels ---------------------------------------------------------------------- */

static void add_row(float *restrict acc, const float *restrict row, int m) /* acc += row (m) */
{
	int j = 0;
	for (; j + 8 <= m; j += 8)
		for (int k = 0; k < 8; k++)
			acc[j + k] += row[j + k];
	for (; j < m; j++)
		acc[j] += row[j];
}

/* Forward cell at column j of one row: the pre-activations gi, gf, gg, go (n each) are replaced
 * by the activations; c (n) and h (n) written. has_prev = 0 means c_{t-1} = 0 (cp unused, may
 * be NULL). Each gate block is its own restrict pointer: with one (4n) pointer the compiler
 * could not rule out overlap for small n and would not vectorise at -O2. */
static ALWAYS_INLINE void cell_fwd(float *restrict gi, float *restrict gf, float *restrict gg,
				   float *restrict go, float *restrict c, float *restrict h,
				   const float *restrict cp, const float *restrict bi,
				   const float *restrict bh, int n, int j, int has_prev)
{
	float i = sigmoid_fast(gi[j] + bi[j] + bh[j]);
	float f = sigmoid_fast(gf[j] + bi[n + j] + bh[n + j]);
	float g = tanh_fast(gg[j] + bi[2 * n + j] + bh[2 * n + j]);
	float o = sigmoid_fast(go[j] + bi[3 * n + j] + bh[3 * n + j]);
	float cc = (has_prev ? f * cp[j] : 0.0f) + i * g;
	gi[j] = i, gf[j] = f, gg[j] = g, go[j] = o;
	c[j] = cc;
	h[j] = o * tanh_fast(cc);
}

/* One row (b) of the forward pointwise pass over its four gate blocks (n each); cp NULL means
 * c_{t-1} = 0. The two loops differ only in the constant has_prev: a run-time flag inside the
 * loop would be a branch, which stops vectorisation. */
NOINLINE CLONES static void row_fwd(float *restrict gi, float *restrict gf, float *restrict gg,
			     float *restrict go, float *restrict c, float *restrict h,
			     const float *restrict cp, const float *restrict bi,
			     const float *restrict bh, int n)
{
	int j = 0;
	if (cp) {
		for (; j + 16 <= n; j += 16) /* fixed trip count: vectorised at -O2 */
			for (int k = 0; k < 16; k++)
				cell_fwd(gi, gf, gg, go, c, h, cp, bi, bh, n, j + k, 1);
		for (; j < n; j++)
			cell_fwd(gi, gf, gg, go, c, h, cp, bi, bh, n, j, 1);
	} else {
		for (; j + 16 <= n; j += 16)
			for (int k = 0; k < 16; k++)
				cell_fwd(gi, gf, gg, go, c, h, cp, bi, bh, n, j + k, 0);
		for (; j < n; j++)
			cell_fwd(gi, gf, gg, go, c, h, cp, bi, bh, n, j, 0);
	}
}

/* Backward cell at column j of one row. In: activations ai, af, ag, ao (n each), c_t c,
 * c_{t-1} cp (has_prev), dL/dy_t dy, recurrent dL/dh_t dh, dL/dc_t from step t+1 dc.
 * Out: dL/d(pre-activation) di, df, dg, dout; dc replaced by dL/dc_{t-1}. */
static ALWAYS_INLINE void cell_bwd(float *restrict di, float *restrict df, float *restrict dg,
				   float *restrict dout, float *restrict dc,
				   const float *restrict ai, const float *restrict af,
				   const float *restrict ag, const float *restrict ao,
				   const float *restrict c, const float *restrict cp,
				   const float *restrict dy, const float *restrict dh, int j,
				   int has_prev)
{
	float i = ai[j], f = af[j], g = ag[j], o = ao[j];
	float tc = tanh_fast(c[j]); /* recomputed: cheaper than caching another (T,B,n) */
	float dht = dy[j] + dh[j];
	float dct = dc[j] + dht * o * (1.0f - tc * tc);
	di[j] = dct * g * i * (1.0f - i);
	df[j] = has_prev ? dct * cp[j] * f * (1.0f - f) : 0.0f;
	dg[j] = dct * i * (1.0f - g * g);
	dout[j] = dht * tc * o * (1.0f - o);
	dc[j] = dct * f;
}

/* One row of the backward pointwise pass; d* are the four blocks (n each) of the row's
 * pre-activation gradient, a* those of its activations; cp NULL means c_{t-1} = 0. Two loops
 * for the reason given at row_fwd. */
NOINLINE CLONES static void row_bwd(float *restrict di, float *restrict df, float *restrict dg,
			     float *restrict dout, float *restrict dc, const float *restrict ai,
			     const float *restrict af, const float *restrict ag,
			     const float *restrict ao, const float *restrict c,
			     const float *restrict cp, const float *restrict dy,
			     const float *restrict dh, int n)
{
	int j = 0;
	if (cp) {
		for (; j + 16 <= n; j += 16)
			for (int k = 0; k < 16; k++)
				cell_bwd(di, df, dg, dout, dc, ai, af, ag, ao, c, cp, dy, dh, j + k,
					 1);
		for (; j < n; j++)
			cell_bwd(di, df, dg, dout, dc, ai, af, ag, ao, c, cp, dy, dh, j, 1);
	} else {
		for (; j + 16 <= n; j += 16)
			for (int k = 0; k < 16; k++)
				cell_bwd(di, df, dg, dout, dc, ai, af, ag, ao, c, cp, dy, dh, j + k,
					 0);
		for (; j < n; j++)
			cell_bwd(di, df, dg, dout, dc, ai, af, ag, ao, c, cp, dy, dh, j, 0);
	}
}

void gu_lstm_forward(float *y, float *h_last, float *c_last, float *gates, float *cells,
		     const gu_lstm_w *w, const float *x, const float *h0, const float *c0,
		     const uint8_t *valid, int T, int B)
{
	/* the packed W_hh for the recurrent GEMM, when that path runs (else cblas_sgemm) */
	float *pack = rg_use(B) ? malloc(rg_pack_floats(w->n) * sizeof(float)) : NULL;
	gu_lstm_forward_ws(y, h_last, c_last, gates, cells, w, x, h0, c0, valid, T, B, pack);
	free(pack);
}

void gu_lstm_forward_ws(float *y, float *h_last, float *c_last, float *gates, float *cells,
			const gu_lstm_w *w, const float *x, const float *h0, const float *c0,
			const uint8_t *valid, int T, int B, float *scratch)
{
	const int in = w->in, n = w->n, n4 = 4 * n;
	const float *b_ih = w->b_ih, *b_hh = w->b_hh; /* (4n) each */

	if (T <= 0 || B <= 0)
		return;
	/* Input projection of the whole chunk at once: gates (T*B,4n) = x (T*B,in) W_ih^T. The
	 * biases are added in the pointwise pass, which reads the row anyway. */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T * B, n4, in, 1.0f, x, in, w->w_ih,
		    in, 0.0f, gates, n4);
	/* W_hh^T packed once for the T recurrent GEMMs (when some step has a previous state) */
	float *wp = scratch && rg_use(B) && (T > 1 || h0) ? scratch : NULL;
	if (wp) rg_pack(wp, w->w_hh, n, n4, 1);

	for (int t = 0; t < T; t++) {
		float *gt = gates + (size_t)t * B * n4;                     /* (B,4n) */
		float *ct = cells + (size_t)t * B * n;                      /* (B,n) */
		float *yt = y + (size_t)t * B * n;                          /* (B,n) */
		const float *hp = t ? y + (size_t)(t - 1) * B * n : h0;     /* (B,n) or NULL */
		const float *cp = t ? cells + (size_t)(t - 1) * B * n : c0; /* (B,n) or NULL */
		const uint8_t *vt = valid ? valid + (size_t)t * B : NULL;   /* (B) or NULL */

		/* Recurrence: gates[t] (B,4n) += h_{t-1} (B,n) W_hh^T; a zero state adds nothing. */
		if (hp && wp)
			rg_gemm(B, n4, n, hp, n, wp, gt, n4, 1);
		else if (hp)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, n4, n, 1.0f, hp, n,
				    w->w_hh, n, 1.0f, gt, n4);

		for (int b = 0; b < B; b++) {
			float *gb = gt + (size_t)b * n4;                          /* (4n) */
			float *cb = ct + (size_t)b * n, *hb = yt + (size_t)b * n; /* (n) each */
			row_fwd(gb, gb + n, gb + 2 * n, gb + 3 * n, cb, hb,
				cp ? cp + (size_t)b * n : NULL, b_ih, b_hh, n);
			/* A pad step forces h and c to zero (the gates stay; the backward ignores
			 * them there). */
			if (vt && !vt[b]) {
				memset(cb, 0, (size_t)n * sizeof(float));
				memset(hb, 0, (size_t)n * sizeof(float));
			}
		}
	}
	if (h_last)
		memcpy(h_last, y + (size_t)(T - 1) * B * n, (size_t)B * n * sizeof(float));
	if (c_last)
		memcpy(c_last, cells + (size_t)(T - 1) * B * n, (size_t)B * n * sizeof(float));
}

void gu_lstm_backward(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
		      const float *dy, const gu_lstm_w *w, const float *x, const float *y,
		      const float *gates, const float *cells, const float *h0, const float *c0,
		      const uint8_t *valid, int T, int B, float *scratch)
{
	const int in = w->in, n = w->n, n4 = 4 * n;
	const size_t TB = (size_t)T * B;
	float *dgates = scratch;            /* (T,B,4n) gradient w.r.t. the pre-activations */
	float *dh = dgates + TB * n4;       /* (B,n) recurrent part of dL/dh_t */
	float *dc = dh + (size_t)B * n;     /* (B,n) dL/dc_t carried from step t+1 */
	float *colsum = dc + (size_t)B * n; /* (4n) column sums of dgates */
	float *wp = colsum + n4;            /* packed W_hh (rg_pack_floats(n)) */

	if (T <= 0 || B <= 0)
		return;
	memset(dc, 0, (size_t)B * n * sizeof(float));
	memset(dh, 0, (size_t)B * n * sizeof(float));
	int packed = T > 1 && rg_use(B);
	if (packed) rg_pack(wp, w->w_hh, n4, n, 0);

	for (int t = T - 1; t >= 0; t--) {
		const float *gt = gates + (size_t)t * B * n4;               /* (B,4n) */
		const float *ct = cells + (size_t)t * B * n;                /* (B,n) */
		const float *dyt = dy + (size_t)t * B * n;                  /* (B,n) */
		const float *cp = t ? cells + (size_t)(t - 1) * B * n : c0; /* (B,n) or NULL */
		const uint8_t *vt = valid ? valid + (size_t)t * B : NULL;   /* (B) or NULL */
		float *dgt = dgates + (size_t)t * B * n4;                   /* (B,4n) */

		/* dh (B,n) = dgates[t+1] (B,4n) W_hh (4n,n); dy[t] is added in the pointwise pass.
		 * At t = T-1 it stays zero from the memset before the loop. */
		if (t < T - 1 && packed)
			rg_gemm(B, n, n4, dgt + (size_t)B * n4, n4, wp, dh, n, 0);
		else if (t < T - 1)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, n, n4, 1.0f,
				    dgt + (size_t)B * n4, n4, w->w_hh, n, 0.0f, dh, n);

		for (int b = 0; b < B; b++) {
			float *db = dgt + (size_t)b * n4;       /* (4n) */
			float *dcb = dc + (size_t)b * n;        /* (n) */
			const float *ab = gt + (size_t)b * n4;  /* (4n) */
			const float *cb = ct + (size_t)b * n;   /* (n) */
			const float *dyb = dyt + (size_t)b * n; /* (n) */
			const float *dhb = dh + (size_t)b * n;  /* (n) */

			if (vt && !vt[b]) {
				/* Pad step: h_t, c_t were forced to zero, so nothing flows through
				 * (t,b) to the gates or to step t-1. */
				memset(db, 0, (size_t)n4 * sizeof(float));
				memset(dcb, 0, (size_t)n * sizeof(float));
			} else {
				const float *cpb = cp ? cp + (size_t)b * n : NULL; /* (n) */
				row_bwd(db, db + n, db + 2 * n, db + 3 * n, dcb, ab, ab + n,
					ab + 2 * n, ab + 3 * n, cb, cpb, dyb, dhb, n);
			}
		}
	}

	/* Weight gradients over all T*B rows at once. */
	/* dW_ih (4n,in) += dgates^T (4n,T*B) x (T*B,in) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n4, in, (int)TB, 1.0f, dgates, n4, x,
		    in, 1.0f, dw_ih, in);
	/* dW_hh (4n,n) += dgates[1..T-1]^T y[0..T-2] + dgates[0]^T h0 */
	if (T > 1)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n4, n, (T - 1) * B, 1.0f,
			    dgates + (size_t)B * n4, n4, y, n, 1.0f, dw_hh, n);
	if (h0)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n4, n, B, 1.0f, dgates, n4, h0,
			    n, 1.0f, dw_hh, n);
	/* db_ih, db_hh (4n) += column sums of dgates: the same gradient for both parameters.
	 * Summed once, then added, so both receive exactly the same increment. */
	memset(colsum, 0, (size_t)n4 * sizeof(float));
	for (size_t r = 0; r < TB; r++)
		add_row(colsum, dgates + r * n4, n4);
	for (int j = 0; j < n4; j++) {
		db_ih[j] += colsum[j];
		db_hh[j] += colsum[j];
	}
	/* dx (T*B,in) = dgates (T*B,4n) W_ih (4n,in) */
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, in, n4, 1.0f, dgates,
			    n4, w->w_ih, in, 0.0f, dx, in);
}

/* ---- inference (eval) path -----------------------------------------------------------------
 * Classifier inference (lm.c) needs neither activation caches nor a gradient, and its weights
 * are fixed for a whole call. So a layer runs one step at a time with the input projection
 * fused into the recurrent GEMM: gates (B,4n) = [x_t | h_{t-1}] [W_ih | W_hh]^T, K = in + n,
 * from weights packed once per call. The packed columns interleave the gates: panel q holds
 * i|f|g|o of the 16 units 16q..16q+15 (64 columns), so the pointwise cell update of a tile runs
 * as soon as its last depth block is summed, while it is in L1, and neither the (T,B,4n) gates
 * nor the (T,B,n) cells are ever stored. x rows may be gathered by index (the embedding rows
 * of the step's ids), so the embedding is not copied either. The cell math is the training
 * path's (same expressions); only the GEMM summation order differs (float rounding), and each
 * row's result does not depend on B. AVX-512F only; gu_lstm_infer_pack_floats returns 0 on
 * other CPUs, and callers use gu_lstm_forward_ws instead. */
#define IK_MR 6  /* rows per kernel call: 6 x 4 = 24 accumulators of 32 */
#define IK_NU 16 /* units per panel: 4 gates x 16 = 64 columns */
#define IK_NR (4 * IK_NU)
#define IK_KC 96 /* depth block: a panel block (96 x 64 floats, 24 KB) stays in L1 */

static size_t ik_panels(int n) { return ((size_t)n + IK_NU - 1) / IK_NU; }

size_t gu_lstm_infer_pack_floats(int in, int n)
{
	if (!rg_cpu_ok() || in < 1 || n < 1) return 0;
	return ik_panels(n) * ((size_t)(in + n) * IK_NR + 2 * IK_NR);
}

size_t gu_lstm_infer_scratch_floats(int B) { return (size_t)(B > 0 ? B : 1) * IK_NR; }

/* Layout: panels of (in+n) x 64 weights (rows k < in from W_ih, then W_hh), then per panel
 * 64 b_ih, then per panel 64 b_hh; column 16*gate + u is row gate*n + 16q + u of the
 * matrices, zero past n. */
void gu_lstm_infer_pack(float *pk, const gu_lstm_w *w)
{
	const int in = w->in, n = w->n, K = in + n;
	const size_t np = ik_panels(n);
	float *bi = pk + np * (size_t)K * IK_NR, *bh = bi + np * IK_NR;
	for (size_t q = 0; q < np; q++) {
		float *d = pk + q * (size_t)K * IK_NR;
		for (int col = 0; col < IK_NR; col++) {
			int gate = col / IK_NU, u = (int)q * IK_NU + col % IK_NU;
			float *dc = d + col;
			if (u >= n) {
				for (int k = 0; k < K; k++) dc[(size_t)k * IK_NR] = 0.0f;
				bi[q * IK_NR + col] = bh[q * IK_NR + col] = 0.0f;
				continue;
			}
			size_t row = (size_t)gate * n + u;
			const float *si = w->w_ih + row * in, *sh = w->w_hh + row * n;
			for (int k = 0; k < in; k++) dc[(size_t)k * IK_NR] = si[k];
			for (int k = 0; k < n; k++) dc[(size_t)(in + k) * IK_NR] = sh[k];
			bi[q * IK_NR + col] = w->b_ih[row];
			bh[q * IK_NR + col] = w->b_hh[row];
		}
	}
}

#if RG_HAVE
#define AVX512 __attribute__((target("avx512f")))
#define V1(x) _mm512_set1_ps(x)
#define I1(x) _mm512_set1_epi32((int)(x))

/* exp_fast, sigmoid_fast and tanh_fast on 16 lanes: the same algorithms and constants, with
 * FMAs, and the divisions as a reciprocal estimate refined by one Newton step (relative error
 * ~2^-28): within float rounding of the scalar versions, at a fraction of vdivps's cost. */
static inline AVX512 __m512 v_exp(__m512 x)
{
	__m512i xb = _mm512_castps_si512(x);
	__m512i mag = _mm512_min_epu32(_mm512_and_si512(xb, I1(0x7fffffff)), I1(0x42ae0000));
	__m512 xc = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(xb, I1(0x80000000u)), mag));
	__m512 k = _mm512_sub_ps(_mm512_fmadd_ps(xc, V1(1.44269504088896341f), V1(12582912.0f)),
				 V1(12582912.0f));
	__m512 r = _mm512_fnmadd_ps(k, V1(0.693359375f), xc);
	r = _mm512_fnmadd_ps(k, V1(-2.12194440e-4f), r);
	__m512 p = _mm512_fmadd_ps(V1(1.9875691500e-4f), r, V1(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, V1(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, V1(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, V1(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, V1(5.0000001201e-1f));
	p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), V1(1.0f));
	__m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(k), I1(127)), 23);
	return _mm512_fmadd_ps(p, _mm512_castsi512_ps(e), _mm512_sub_ps(x, x));
}

static inline AVX512 __m512 v_rcp(__m512 d) /* 1/d */
{
	__m512 r = _mm512_rcp14_ps(d);
	return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, V1(1.0f)), r);
}

static inline AVX512 __m512 v_sigmoid(__m512 a)
{
	return v_rcp(_mm512_add_ps(V1(1.0f), v_exp(_mm512_sub_ps(_mm512_setzero_ps(), a))));
}

static inline AVX512 __m512 v_tanh(__m512 x)
{
	__m512i sign = _mm512_and_si512(_mm512_castps_si512(x), I1(0x80000000u));
	__m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(I1(0x80000000u), _mm512_castps_si512(x)));
	__m512 z = _mm512_mul_ps(x, x);
	__m512 sm = _mm512_fmadd_ps(V1(-5.70498872745e-3f), z, V1(2.06390887954e-2f));
	sm = _mm512_fmadd_ps(sm, z, V1(-5.37397155531e-2f));
	sm = _mm512_fmadd_ps(sm, z, V1(1.33314422036e-1f));
	sm = _mm512_fmadd_ps(sm, z, V1(-3.33332819422e-1f));
	sm = _mm512_fmadd_ps(_mm512_mul_ps(sm, z), x, x);
	__m512 d = _mm512_add_ps(v_exp(_mm512_add_ps(ax, ax)), V1(1.0f));
	__m512 big = _mm512_fnmadd_ps(V1(2.0f), v_rcp(d), V1(1.0f));
	big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big), sign));
	__mmask16 small = _mm512_cmp_ps_mask(ax, V1(0.625f), _CMP_LT_OQ);
	return _mm512_mask_blend_ps(small, big, sm);
}

/* The cell updates of mv rows of one panel: g (mv,64) the summed pre-activations (i|f|g|o
 * blocks of 16 units), c (in place; a zero state is c = 0) and h rows at stride ldn, nu <= 16
 * valid units, the panel's packed biases; rows with valid[r] == 0 (pad) get h = c = 0. The
 * training path's cell (cell_fwd), with the vector functions above. */
AVX512 static void ik_cells(const float *g, float *c, float *h, int ldn, const float *bi,
			    const float *bh, int mv, int nu, const uint8_t *valid)
{
	__mmask16 mk = nu >= IK_NU ? (__mmask16)0xffff : (__mmask16)((1u << nu) - 1);
	__m512 b[4];
	for (int v = 0; v < 4; v++) b[v] = _mm512_loadu_ps(bi + 16 * v);
	/* two rows at a time: each row is one long dependency chain */
	for (int r = 0; r < mv; r += 2) {
		int r1 = r + 1 < mv ? r + 1 : r;
		const float *g0 = g + (size_t)r * IK_NR, *g1 = g + (size_t)r1 * IK_NR;
		float *c0 = c + (size_t)r * ldn, *h0 = h + (size_t)r * ldn;
		float *c1 = c + (size_t)r1 * ldn, *h1 = h + (size_t)r1 * ldn;
		__m512 a0[4], a1[4], x0[4], x1[4];
		for (int v = 0; v < 4; v++) {
			__m512 bb = _mm512_loadu_ps(bh + 16 * v);
			a0[v] = _mm512_add_ps(_mm512_add_ps(_mm512_loadu_ps(g0 + 16 * v), b[v]), bb);
			a1[v] = _mm512_add_ps(_mm512_add_ps(_mm512_loadu_ps(g1 + 16 * v), b[v]), bb);
		}
		for (int v = 0; v < 4; v++) {
			x0[v] = v == 2 ? v_tanh(a0[v]) : v_sigmoid(a0[v]);
			x1[v] = v == 2 ? v_tanh(a1[v]) : v_sigmoid(a1[v]);
		}
		__m512 cc0 = _mm512_fmadd_ps(x0[1], _mm512_maskz_loadu_ps(mk, c0), _mm512_mul_ps(x0[0], x0[2]));
		__m512 cc1 = _mm512_fmadd_ps(x1[1], _mm512_maskz_loadu_ps(mk, c1), _mm512_mul_ps(x1[0], x1[2]));
		__m512 hh0 = _mm512_mul_ps(x0[3], v_tanh(cc0)), hh1 = _mm512_mul_ps(x1[3], v_tanh(cc1));
		if (valid && !valid[r]) cc0 = hh0 = _mm512_setzero_ps();
		if (valid && !valid[r1]) cc1 = hh1 = _mm512_setzero_ps();
		_mm512_mask_storeu_ps(c0, mk, cc0), _mm512_mask_storeu_ps(h0, mk, hh0);
		_mm512_mask_storeu_ps(c1, mk, cc1), _mm512_mask_storeu_ps(h1, mk, hh1);
	}
}

/* C (mv x 64, ld 64) (+)= A (rows arow[r], kc deep) * bp (kc x 64 packed); rows past mv are
 * computed from valid A rows and not stored. pf: npf cache lines prefetched, one per k. */
__attribute__((target("avx512f"), noinline)) static void
ik_kernel(int kc, const float *const *arow, const float *restrict bp, float *c, int mv, int acc,
	  const char *pf, int npf)
{
	__m512 cc[IK_MR][4];
	const float *a[IK_MR];
#pragma GCC unroll 8
	for (int r = 0; r < IK_MR; r++) {
		a[r] = arow[r];
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++) cc[r][v] = _mm512_setzero_ps();
	}
	for (int k = 0; k < kc; k++) {
		__m512 bv[4];
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++) bv[v] = _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 8
		for (int r = 0; r < IK_MR; r++) {
			__m512 ar = _mm512_set1_ps(a[r][k]);
#pragma GCC unroll 4
			for (int v = 0; v < 4; v++) cc[r][v] = _mm512_fmadd_ps(ar, bv[v], cc[r][v]);
		}
		if (k < npf) _mm_prefetch(pf + 64 * k, _MM_HINT_T0);
		bp += IK_NR;
	}
#pragma GCC unroll 8
	for (int r = 0; r < IK_MR; r++) {
		if (r >= mv) break;
		float *cr = c + (size_t)r * IK_NR;
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++) {
			if (acc) cc[r][v] = _mm512_add_ps(cc[r][v], _mm512_loadu_ps(cr + 16 * v));
			_mm512_storeu_ps(cr + 16 * v, cc[r][v]);
		}
	}
}
#endif

void gu_lstm_infer_step(float *h, float *c, const float *pk, int in, int n, const float *x,
			int ldx, const int32_t *xrow, const float *hprev, const uint8_t *valid,
			int B, float *scratch)
{
#if RG_HAVE
	const int K = in + n;
	const size_t np = ik_panels(n);
	const float *bi = pk + np * (size_t)K * IK_NR, *bh = bi + np * IK_NR;
	/* depth blocks of at most IK_KC: [0, in) from x, then [in, K) from hprev (none for a zero
	 * state); a block never straddles the two */
	const int kend = hprev ? K : in;
	for (size_t q = 0; q < np; q++) {
		const float *bq = pk + q * (size_t)K * IK_NR;
		int nu = n - (int)q * IK_NU < IK_NU ? n - (int)q * IK_NU : IK_NU;
		for (int k0 = 0, first = 1; k0 < kend; first = 0) {
			int lim = k0 < in ? in : K, kc = lim - k0 < IK_KC ? lim - k0 : IK_KC;
			int last = k0 + kc >= kend;
			const float *b = bq + (size_t)k0 * IK_NR;
			/* the next block (of the next panel after the last), prefetched in equal shares
			 * by the row tiles: the weights stream from memory at large widths */
			const char *pf = last ? (q + 1 < np ? (const char *)(bq + (size_t)K * IK_NR) : NULL)
					      : (const char *)(b + (size_t)kc * IK_NR);
			int nk0 = last ? 0 : k0 + kc, nlim = nk0 < in ? in : K;
			int nkc = nlim - nk0 < IK_KC ? nlim - nk0 : IK_KC;
			int lines = nkc * IK_NR * (int)sizeof(float) / 64, ntile = (B + IK_MR - 1) / IK_MR;
			int share = (lines + ntile - 1) / ntile;
			for (int m = 0; m < B; m += IK_MR) {
				int mv = B - m < IK_MR ? B - m : IK_MR;
				const float *arow[IK_MR];
				for (int r = 0; r < IK_MR; r++) {
					int row = m + (r < mv ? r : 0);
					arow[r] = k0 < in ? x + (size_t)(xrow ? xrow[row] : row) * ldx + k0
							  : hprev + (size_t)row * n + (k0 - in);
				}
				float *g = scratch + (size_t)m * IK_NR;
				int t = m / IK_MR, lo = t * share, cnt = lines - lo < share ? lines - lo : share;
				ik_kernel(kc, arow, b, g, mv, !first, pf ? pf + (size_t)lo * 64 : NULL,
					  pf && cnt > 0 ? cnt : 0);
				if (last)
					ik_cells(g, c + (size_t)m * n + q * IK_NU, h + (size_t)m * n + q * IK_NU,
						 n, bi + q * IK_NR, bh + q * IK_NR, mv, nu,
						 valid ? valid + m : NULL);
			}
			k0 += kc;
		}
	}
#else
	(void)h, (void)c, (void)pk, (void)in, (void)n, (void)x, (void)ldx, (void)xrow, (void)hprev;
	(void)valid, (void)B, (void)scratch;
#endif
}
