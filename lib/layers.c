/* layers.c: the non-recurrent layers of the AWD-LSTM LM and classifier, forward and backward.
 *
 * Dimension legend (see gulm.h): T time, B batch rows, M = T*B rows of a flattened chunk,
 * V vocabulary, E embedding width, C channels. Activations are time-major (T,B,C). Backward
 * functions accumulate into parameter gradients and overwrite input gradients unless noted.
 * References to REFERENCE-SEMANTICS.md are "RS x.y". */
#include <float.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "gulm.h"

/* ---- dropout masks (RS 1.1) ------------------------------------------------------------- */

void gu_dropout_mask(float *mask, size_t n, float p, gu_rng *rng)
{
	if (p <= 0.0f) { /* identity, and no draws: p = 0 must not shift the random stream */
		for (size_t i = 0; i < n; i++) mask[i] = 1.0f;
		return;
	}
	if (p >= 1.0f) { /* everything dropped; 1/(1-p) would be inf */
		memset(mask, 0, n * sizeof *mask);
		return;
	}
	/* One draw per entry, in index order. Drop when gu_rng_uniform() < p, compared as 53-bit
	 * integers: u = k/2^53 < p iff k < p*2^53, an exact integer for a float p in (0,1). */
	const uint64_t thresh = (uint64_t)((double)p * 0x1.0p53);
	const float keep = 1.0f / (1.0f - p); /* float division, as PyTorch's div_(1-p) */
	for (size_t i = 0; i < n; i++) mask[i] = (gu_rng_next(rng) >> 11) < thresh ? 0.0f : keep;
}

/* ---- embedding with embedding dropout (RS 1.2) ----------------------------------------- */

void gu_embedding_forward(float *out /* (M,E) */, const float *w /* (V,E) */,
			  const float *row_mask /* (V) */, const int32_t *ids /* (M) */, int M, int E)
{
	const size_t e = (size_t)E;
	for (int m = 0; m < M; m++) {
		const float *src = w + (size_t)ids[m] * e;
		float *dst = out + (size_t)m * e;
		if (!row_mask) {
			memcpy(dst, src, e * sizeof *dst);
			continue;
		}
		const float s = row_mask[ids[m]];
		for (size_t j = 0; j < e; j++) dst[j] = src[j] * s;
	}
}

void gu_embedding_backward(float *dw /* (V,E) */, const float *dout /* (M,E) */,
			   const float *row_mask, const int32_t *ids, int M, int E, int skip_id)
{
	/* Scatter-add in token order. Rows repeat (a k-mer vocabulary is small next to M), so
	 * dw rows stay hot in cache; dropped rows (mask 0) and the pad row are skipped entirely. */
	const size_t e = (size_t)E;
	for (int m = 0; m < M; m++) {
		const int32_t id = ids[m];
		if (id == skip_id) continue;
		const float s = row_mask ? row_mask[id] : 1.0f;
		if (s == 0.0f) continue;
		float *restrict d = dw + (size_t)id * e;
		const float *restrict g = dout + (size_t)m * e;
		if (s == 1.0f)
			for (size_t j = 0; j < e; j++) d[j] += g[j];
		else
			for (size_t j = 0; j < e; j++) d[j] += g[j] * s;
	}
}

/* ---- locked dropout and elementwise masks (RS 1.3, 6.3) --------------------------------- */

/* These loops vectorise at -O2 only in this form: restrict pointers (its cost model adds no
 * run-time alias checks, so the in-place case has its own loop) and fixed blocks of 8 (it adds
 * no epilogue for an unknown trip count either). */
static void mul_inplace(float *restrict y, const float *restrict mask, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++) y[i + k] *= mask[i + k];
	for (; i < n; i++) y[i] *= mask[i];
}

static void mul_into(float *restrict y, const float *restrict x, const float *restrict mask,
		     size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++) y[i + k] = x[i + k] * mask[i + k];
	for (; i < n; i++) y[i] = x[i] * mask[i];
}

static void add_into(float *restrict y, const float *restrict x, size_t n) /* y += x */
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++) y[i + k] += x[i + k];
	for (; i < n; i++) y[i] += x[i];
}

void gu_locked_dropout(float *x /* (T,B,C) */, const float *mask /* (B,C) */, int T, int B, int C)
{
	const size_t bc = (size_t)B * (size_t)C;
	for (int t = 0; t < T; t++) mul_inplace(x + (size_t)t * bc, mask, bc);
}

void gu_mul(float *y, const float *x, const float *mask, size_t n)
{
	if (y == x)
		mul_inplace(y, mask, n);
	else
		mul_into(y, x, mask, n);
}

/* ---- linear ------------------------------------------------------------------------------ */

void gu_linear_forward(float *y /* (M,out) */, const float *x /* (M,in) */,
		       const float *w /* (out,in) */, const float *b /* (out) */, int M, int in,
		       int out)
{
	if (M <= 0 || out <= 0) return;
	if (in <= 0) { /* empty product: y = b */
		for (int m = 0; m < M; m++)
			for (int o = 0; o < out; o++) y[(size_t)m * out + o] = b ? b[o] : 0.0f;
		return;
	}
	float beta = 0.0f;
	if (b) {
		for (int m = 0; m < M; m++) memcpy(y + (size_t)m * out, b, (size_t)out * sizeof *y);
		beta = 1.0f;
	}
	if (M == 1) /* a single row: GEMV is markedly faster than a degenerate GEMM */
		cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, beta, y, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, out, in, 1.0f, x, in, w, in,
			    beta, y, out);
}

void gu_linear_backward(float *dx /* (M,in) */, float *dw /* (out,in) */, float *db /* (out) */,
			const float *dy /* (M,out) */, const float *x /* (M,in) */,
			const float *w /* (out,in) */, int M, int in, int out)
{
	if (M <= 0) return;
	if (dx && in > 0) {
		if (out <= 0)
			memset(dx, 0, (size_t)M * (size_t)in * sizeof *dx);
		else if (M == 1) /* dx = W^T dy */
			cblas_sgemv(CblasRowMajor, CblasTrans, out, in, 1.0f, w, in, dy, 1, 0.0f, dx,
				    1);
		else
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, in, out, 1.0f, dy,
				    out, w, in, 0.0f, dx, in);
	}
	if (dw && in > 0 && out > 0) {
		if (M == 1) /* rank-1 update */
			cblas_sger(CblasRowMajor, out, in, 1.0f, dy, 1, x, 1, dw, in);
		else
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, M, 1.0f, dy, out,
				    x, in, 1.0f, dw, in);
	}
	if (db)
		for (int m = 0; m < M; m++) add_into(db, dy + (size_t)m * out, (size_t)out);
}

/* ---- ReLU -------------------------------------------------------------------------------- */

void gu_relu_forward(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void gu_relu_backward(float *dy, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ---- softmax cross-entropy (RS 2) ------------------------------------------------------ */

/* exp(x) for x <= 0, the only range a max-shifted softmax needs. glibc's expf costs ~15 ns
 * here and does not vectorise at -O2, and the LM evaluates B*T*V of them per step, so this is
 * the Cephes expf polynomial (about 2 ulp, like the vectorised exp PyTorch uses), written once
 * for 4 lanes with GCC/Clang vector extensions and once for scalars with the same operations in
 * the same order, so an element's value does not depend on which path it took. Inputs below
 * -87 are clamped there (exp(-87) ~ 1.6e-38, the smallest normal float's neighbourhood):
 * a weight of 1e-38 next to the max term's 1 is the same as 0. */
#define EXP_LO -87.0f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_MAGIC 12582912.0f /* 1.5 * 2^23: adding it rounds to an integer in the low bits */
#define EXP_LN2HI 0.693359375f
#define EXP_LN2LO -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

static inline float exp_neg(float x)
{
	x = x < EXP_LO ? EXP_LO : x;
	float t = x * EXP_LOG2E + EXP_MAGIC;
	uint32_t tb;
	memcpy(&tb, &t, sizeof tb);
	float n = t - EXP_MAGIC;
	float r = x - n * EXP_LN2HI;
	r = r - n * EXP_LN2LO;
	float p = EXP_P0 * r + EXP_P1;
	p = p * r + EXP_P2;
	p = p * r + EXP_P3;
	p = p * r + EXP_P4;
	p = p * r + EXP_P5;
	p = p * (r * r) + r + 1.0f;
	uint32_t sb = (tb + 127u) << 23; /* 2^n: low bits of tb hold n (mod 2^9), n in [-126, 0] */
	float scale;
	memcpy(&scale, &sb, sizeof scale);
	return p * scale;
}

#if defined(__GNUC__)
/* 4 lanes: SSE2/NEON width, so no ABI or baseline-ISA questions; wider units still gain */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef uint32_t v4u __attribute__((vector_size(16)));

/* y[0..4) = exp(x[0..4) - shift); returns the 4 values for summing. */
static inline v4f exp_neg4(float *y, const float *x, float shift)
{
	v4f v;
	memcpy(&v, x, sizeof v);
	v = v - shift;
	v4i lo = v < EXP_LO; /* all-ones lanes where clamping applies */
	v4f lov = (v4f){0} + EXP_LO;
	v = (v4f)(((v4i)lov & lo) | ((v4i)v & ~lo));
	v4f t = v * EXP_LOG2E + EXP_MAGIC;
	v4f n = t - EXP_MAGIC;
	v4f r = v - n * EXP_LN2HI;
	r = r - n * EXP_LN2LO;
	v4f p = EXP_P0 * r + EXP_P1;
	p = p * r + EXP_P2;
	p = p * r + EXP_P3;
	p = p * r + EXP_P4;
	p = p * r + EXP_P5;
	p = p * (r * r) + r + 1.0f;
	v4u sb = ((v4u)t + 127u) << 23;
	p = p * (v4f)sb;
	if (y) memcpy(y, &p, sizeof p);
	return p;
}
#endif

/* max of z[0..n), n >= 1. Lane-wise in vectors: a scalar running max is one long dependency
 * chain (compare + select per element), which made it a third of the softmax's time. */
static float row_max(const float *z, size_t n)
{
	size_t j = 0;
	float mx = z[0];
#if defined(__GNUC__)
	if (n >= 8) {
		v4f a, b;
		memcpy(&a, z, sizeof a);
		memcpy(&b, z + 4, sizeof b);
		for (j = 8; j + 8 <= n; j += 8) {
			v4f c, d;
			memcpy(&c, z + j, sizeof c);
			memcpy(&d, z + j + 4, sizeof d);
			v4i ma = c > a, mb = d > b;
			a = (v4f)(((v4i)c & ma) | ((v4i)a & ~ma));
			b = (v4f)(((v4i)d & mb) | ((v4i)b & ~mb));
		}
		for (int k = 0; k < 4; k++) {
			mx = a[k] > mx ? a[k] : mx;
			mx = b[k] > mx ? b[k] : mx;
		}
	}
#endif
	for (; j < n; j++) mx = z[j] > mx ? z[j] : mx;
	return mx;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define XENT_AVX512 1
/* AVX-512 versions of row_max and exp_shift_sum (16 lanes): each exponential is the same
 * sequence of float operations as exp_neg4/exp_neg (no fused multiply-add), so it has the same
 * bits; only the grouping of the sum differs (float rounding). */
__attribute__((target("avx512f"))) static float row_max16(const float *z, size_t n)
{
	size_t j = 0;
	float mx = z[0];
	if (n >= 16) {
		__m512 a = _mm512_loadu_ps(z);
		for (j = 16; j + 16 <= n; j += 16) a = _mm512_max_ps(a, _mm512_loadu_ps(z + j));
		mx = _mm512_reduce_max_ps(a);
	}
	for (; j < n; j++) mx = z[j] > mx ? z[j] : mx;
	return mx;
}

__attribute__((target("avx512f"))) static inline __m512 exp_neg16(float *y, const float *x,
								   __m512 shift)
{
	__m512 v = _mm512_sub_ps(_mm512_loadu_ps(x), shift);
	/* v < LO -> LO; maxps returns its second operand when one is NaN, so NaN stays NaN */
	v = _mm512_max_ps(_mm512_set1_ps(EXP_LO), v);
	__m512 t = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(EXP_LOG2E)),
				 _mm512_set1_ps(EXP_MAGIC));
	__m512 n = _mm512_sub_ps(t, _mm512_set1_ps(EXP_MAGIC));
	__m512 r = _mm512_sub_ps(v, _mm512_mul_ps(n, _mm512_set1_ps(EXP_LN2HI)));
	r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(EXP_LN2LO)));
	__m512 p = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(EXP_P0), r), _mm512_set1_ps(EXP_P1));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P2));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P3));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P4));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P5));
	p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r),
			  _mm512_set1_ps(1.0f));
	__m512i sb = _mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(t),
							_mm512_set1_epi32(127)), 23);
	p = _mm512_mul_ps(p, _mm512_castsi512_ps(sb));
	if (y) _mm512_storeu_ps(y, p);
	return p;
}

__attribute__((target("avx512f"))) static double exp_shift_sum16(float *e, const float *z,
								   size_t n, float shift)
{
	size_t j = 0;
	double sum = 0.0;
	const __m512 sh = _mm512_set1_ps(shift);
	__m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
	for (; j + 32 <= n; j += 32) {
		acc0 = _mm512_add_ps(acc0, exp_neg16(e ? e + j : NULL, z + j, sh));
		acc1 = _mm512_add_ps(acc1, exp_neg16(e ? e + j + 16 : NULL, z + j + 16, sh));
	}
	if (j + 16 <= n) {
		acc0 = _mm512_add_ps(acc0, exp_neg16(e ? e + j : NULL, z + j, sh));
		j += 16;
	}
	float l0[16], l1[16];
	_mm512_storeu_ps(l0, acc0);
	_mm512_storeu_ps(l1, acc1);
	for (int k = 0; k < 16; k++) sum += (double)l0[k] + (double)l1[k];
	for (; j < n; j++) {
		float v = exp_neg(z[j] - shift);
		if (e) e[j] = v;
		sum += v;
	}
	return sum;
}
#else
#define XENT_AVX512 0
#endif

/* Writes exp(z[j] - shift) into e (if non-NULL; may alias z) and returns their sum. */
static double exp_shift_sum(float *e, const float *z, size_t n, float shift)
{
	size_t j = 0;
	double sum = 0.0;
#if defined(__GNUC__)
	/* two accumulators of 4 float lanes: each lane sums <= n/8 terms in (0,1] */
	v4f acc0 = {0}, acc1 = {0};
	for (; j + 8 <= n; j += 8) {
		acc0 += exp_neg4(e ? e + j : NULL, z + j, shift);
		acc1 += exp_neg4(e ? e + j + 4 : NULL, z + j + 4, shift);
	}
	for (int k = 0; k < 4; k++) sum += (double)acc0[k] + (double)acc1[k];
#endif
	for (; j < n; j++) {
		float v = exp_neg(z[j] - shift);
		if (e) e[j] = v;
		sum += v;
	}
	return sum;
}

double gu_softmax_xent(float *dlogits /* (M,V) */, const float *logits /* (M,V) */,
		       const int32_t *targets /* (M) */, int M, int V, int32_t ignore, float dscale,
		       int64_t *n_counted, int64_t *n_correct)
{
	double loss = 0.0;
	int64_t counted = 0, correct = 0;
	const size_t v = (size_t)V;
	float (*rmax)(const float *, size_t) = row_max;
	double (*esum)(float *, const float *, size_t, float) = exp_shift_sum;
#if XENT_AVX512
	if (gu_cpu_avx512()) rmax = row_max16, esum = exp_shift_sum16;
#endif
	for (int m = 0; m < M; m++) {
		const float *z = logits + (size_t)m * v;
		float *dz = dlogits ? dlogits + (size_t)m * v : NULL;
		const int32_t y = targets[m];
		/* ignored rows, and (defensively) targets outside [0,V), count for nothing */
		if (y == ignore || y < 0 || y >= V) {
			if (dz) memset(dz, 0, v * sizeof *dz);
			continue;
		}
		/* pass 1: max, for a stable log-sum-exp */
		const float zmax = rmax(z, v);
		/* argmax (ties to the lowest index) == y iff z[y] is the max and no earlier entry
		 * equals it; only that rare case needs a scan */
		int hit = z[y] == zmax;
		for (int j = 0; hit && j < y; j++) hit = z[j] != zmax;
		const float zy = z[y]; /* read before dz, which may alias z, is overwritten */
		/* pass 2: sum of exp(z - max), keeping the exponentials in dz when wanted */
		const double sum = esum(dz, z, v, zmax);
		/* -log p_y = log sum exp(z) - z_y */
		loss += (double)zmax + log(sum) - (double)zy;
		counted++;
		correct += hit;
		/* pass 3: (softmax - onehot) * dscale */
		if (dz) {
			const float s = (float)((double)dscale / sum);
			for (size_t j = 0; j < v; j++) dz[j] *= s;
			dz[y] -= dscale;
		}
	}
	if (n_counted) *n_counted = counted;
	if (n_correct) *n_correct = correct;
	return loss;
}

/* ---- AR / TAR (RS 3) ------------------------------------------------------------------- */

double gu_ar_tar(float *dh /* (T,B,C) */, const float *h /* (T,B,C) */, int T, int B, int C,
		 float alpha, float beta)
{
	return gu_ar_tar_share(dh, h, T, B, B, C, alpha, beta);
}

double gu_ar_tar_share(float *dh /* (T,B,C) */, const float *h /* (T,B,C) */, int T, int B,
		       int B_all, int C, float alpha, float beta)
{
	const size_t bc = (size_t)B * (size_t)C, n = (size_t)T * bc;
	/* the means are over the whole batch's elements */
	const size_t n_all = (size_t)T * B_all * (size_t)C;
	double value = 0.0;
	if (n == 0) return 0.0;
	if (alpha != 0.0f) {
		/* alpha * mean(h^2); d/dh = 2 alpha h / n */
		double ss = 0.0;
		for (size_t i = 0; i < n; i++) ss += (double)h[i] * h[i];
		value += alpha * ss / (double)n_all;
		if (dh) {
			const float g = (float)(2.0 * alpha / (double)n_all);
			for (size_t i = 0; i < n; i++) dh[i] += g * h[i];
		}
	}
	/* the reference tests len(h) > 1 on batch-first h, i.e. it skips TAR when B == 1 (the whole batch's) */
	if (beta != 0.0f && B_all > 1 && T > 1) {
		/* beta * mean over t >= 1 of (h[t] - h[t-1])^2; time-major, so h[t-1] is bc back */
		const size_t n2 = (size_t)(T - 1) * B_all * (size_t)C;
		double ss = 0.0;
		for (size_t i = bc; i < n; i++) {
			double d = (double)h[i] - h[i - bc];
			ss += d * d;
		}
		value += beta * ss / (double)n2;
		if (dh) {
			const float g = (float)(2.0 * beta / (double)n2);
			for (size_t i = bc; i < n; i++) {
				float d = g * (h[i] - h[i - bc]);
				dh[i] += d;
				dh[i - bc] -= d;
			}
		}
	}
	return value;
}

/* ---- concat pooling (RS 6.2, with the pad masking FIX) ------------------------------------ */

/* Rows are processed in blocks of POOL_BLK with t outer and b inner, so o is read in memory
 * order (a row-at-a-time walk jumps B*C floats per step and defeats the prefetcher); the
 * per-row counts live in a small stack array. */
#define POOL_BLK 64

void gu_concat_pool_forward(float *out /* (B,3C) */, int32_t *argmax /* (B,C) */,
			    int32_t *last /* (B) */, const float *o /* (T,B,C) */,
			    const uint8_t *valid /* (T,B) */, int T, int B, int C)
{
	const size_t c3 = 3 * (size_t)C;
	memset(out, 0, (size_t)B * c3 * sizeof *out);
	for (size_t i = 0; i < (size_t)B * C; i++) argmax[i] = -1;
	for (int b0 = 0; b0 < B; b0 += POOL_BLK) {
		const int b1 = b0 + POOL_BLK < B ? b0 + POOL_BLK : B;
		int n[POOL_BLK] = {0};
		for (int b = b0; b < b1; b++) last[b] = -1;
		for (int t = 0; t < T; t++)
			for (int b = b0; b < b1; b++) {
				if (valid && !valid[(size_t)t * B + b]) continue;
				const float *restrict ot = o + ((size_t)t * B + b) * C;
				float *restrict omax = out + b * c3 + C, *restrict omean = omax + C;
				int32_t *restrict am = argmax + (size_t)b * C;
				if (n[b - b0]++ == 0) {
					memcpy(omax, ot, (size_t)C * sizeof *omax);
					for (int c = 0; c < C; c++) am[c] = t;
				} else {
					for (int c = 0; c < C; c++)
						if (ot[c] > omax[c]) { /* strict: ties keep the first step */
							omax[c] = ot[c];
							am[c] = t;
						}
				}
				for (int c = 0; c < C; c++) omean[c] += ot[c];
				last[b] = t;
			}
		for (int b = b0; b < b1; b++) {
			if (n[b - b0] == 0) continue; /* no valid step: zeros (the reference divides by 0) */
			float *ob = out + b * c3;
			memcpy(ob, o + ((size_t)last[b] * B + b) * C, (size_t)C * sizeof *out);
			const float inv = 1.0f / (float)n[b - b0];
			for (int c = 0; c < C; c++) ob[2 * C + c] *= inv;
		}
	}
}

void gu_concat_pool_backward(float *do_ /* (T,B,C) */, const float *dout /* (B,3C) */,
			     const int32_t *argmax /* (B,C) */, const int32_t *last /* (B) */,
			     const uint8_t *valid /* (T,B) */, int T, int B, int C)
{
	const size_t c3 = 3 * (size_t)C;
	for (int b0 = 0; b0 < B; b0 += POOL_BLK) {
		const int b1 = b0 + POOL_BLK < B ? b0 + POOL_BLK : B;
		float inv[POOL_BLK];
		for (int b = b0; b < b1; b++) {
			int n = 0;
			if (last[b] >= 0)
				for (int t = 0; t < T; t++) n += !valid || valid[(size_t)t * B + b];
			inv[b - b0] = n ? 1.0f / (float)n : 0.0f;
		}
		/* mean: spread over the valid steps */
		for (int t = 0; t < T; t++)
			for (int b = b0; b < b1; b++) {
				if (last[b] < 0 || (valid && !valid[(size_t)t * B + b])) continue;
				const float *restrict dmean = dout + b * c3 + 2 * C;
				float *restrict g = do_ + ((size_t)t * B + b) * C;
				const float k = inv[b - b0];
				for (int c = 0; c < C; c++) g[c] += dmean[c] * k;
			}
		/* last and max: scattered to their steps; a row without valid steps gets nothing */
		for (int b = b0; b < b1; b++) {
			if (last[b] < 0) continue;
			const float *dlast = dout + b * c3, *dmax = dlast + C;
			const int32_t *am = argmax + (size_t)b * C;
			float *g = do_ + ((size_t)last[b] * B + b) * C;
			for (int c = 0; c < C; c++) g[c] += dlast[c];
			for (int c = 0; c < C; c++) do_[((size_t)am[c] * B + b) * C + c] += dmax[c];
		}
	}
}

/* ---- BatchNorm1d (RS 6.3) ----------------------------------------------------------------- */

void gu_batchnorm_forward(float *y /* (M,C) */, float *xhat /* (M,C) */, float *rstd /* (C) */,
			  const float *x /* (M,C) */, const float *gamma /* (C) */,
			  const float *beta /* (C) */, float *running_mean /* (C) */,
			  float *running_var /* (C) */, int M, int C, int train, float momentum,
			  float eps)
{
	/* Per channel, strided down the M rows; the head's M*C is small (batch x 1200), and the
	 * two-pass mean/variance in double is exact enough to compare with PyTorch. */
	for (int c = 0; c < C; c++) {
		double mean, var;
		if (train) {
			double s = 0.0, ss = 0.0;
			for (int m = 0; m < M; m++) s += x[(size_t)m * C + c];
			mean = M > 0 ? s / M : 0.0;
			for (int m = 0; m < M; m++) {
				double d = x[(size_t)m * C + c] - mean;
				ss += d * d;
			}
			var = M > 0 ? ss / M : 0.0; /* biased, for normalising */
			if (running_mean && running_var) {
				/* PyTorch refuses M == 1 in training; use the biased value rather than
				 * dividing by zero */
				double uvar = M > 1 ? ss / (M - 1) : var;
				running_mean[c] =
					(float)((1.0 - momentum) * running_mean[c] + momentum * mean);
				running_var[c] =
					(float)((1.0 - momentum) * running_var[c] + momentum * uvar);
			}
		} else {
			mean = running_mean[c];
			var = running_var[c];
		}
		const float r = (float)(1.0 / sqrt(var + eps));
		const float mu = (float)mean, gm = gamma ? gamma[c] : 1.0f, bt = beta ? beta[c] : 0.0f;
		if (rstd) rstd[c] = r;
		for (int m = 0; m < M; m++) {
			const size_t i = (size_t)m * C + c;
			float xh = (x[i] - mu) * r;
			if (xhat) xhat[i] = xh;
			y[i] = gm * xh + bt;
		}
	}
}

void gu_batchnorm_backward(float *dx /* (M,C) */, float *dgamma /* (C) */, float *dbeta /* (C) */,
			   const float *dy /* (M,C) */, const float *xhat /* (M,C) */,
			   const float *gamma /* (C) */, const float *rstd /* (C) */, int M, int C)
{
	/* dx = rstd/M * (M*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)), dxhat = gamma*dy */
	for (int c = 0; c < C; c++) {
		double sdy = 0.0, sdyx = 0.0;
		for (int m = 0; m < M; m++) {
			const size_t i = (size_t)m * C + c;
			sdy += dy[i];
			sdyx += (double)dy[i] * xhat[i];
		}
		if (dgamma) dgamma[c] += (float)sdyx;
		if (dbeta) dbeta[c] += (float)sdy;
		if (!dx || M == 0) continue;
		const double gm = gamma ? gamma[c] : 1.0;
		const float k = (float)(gm * rstd[c]), a = (float)(sdy / M), bb = (float)(sdyx / M);
		for (int m = 0; m < M; m++) {
			const size_t i = (size_t)m * C + c;
			dx[i] = k * (dy[i] - a - xhat[i] * bb);
		}
	}
}
