/* optim.c: AdamW step (reference order, PyTorch 1.13 eps placement), fastai one-cycle schedule,
 * global-norm gradient clipping. REFERENCE-SEMANTICS 5.3, 5.4. */
#include <math.h>

#include "gulm.h"

/* The loop is the same float arithmetic as the scalar one below, one operation at a time (no
 * fused multiply-add, IEEE division and square root), so both give identical bits; the scalar
 * loop does not vectorise because sqrtf may set errno. Returns the elements done (a multiple
 * of 16). */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define ADAM_AVX512 1
__attribute__((target("avx512f"))) static size_t
adamw_avx512(float *p, const float *g, float *m, float *v, size_t n, float decay, float b1,
	     float omb1, float b2, float omb2, float step_size, float bc2_sqrt, float feps)
{
	const __m512 vdecay = _mm512_set1_ps(decay), vb1 = _mm512_set1_ps(b1);
	const __m512 vomb1 = _mm512_set1_ps(omb1), vb2 = _mm512_set1_ps(b2);
	const __m512 vomb2 = _mm512_set1_ps(omb2), vstep = _mm512_set1_ps(step_size);
	const __m512 vbc2 = _mm512_set1_ps(bc2_sqrt), veps = _mm512_set1_ps(feps);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 gi = _mm512_loadu_ps(g + i);
		__m512 pi = _mm512_mul_ps(_mm512_loadu_ps(p + i), vdecay);
		__m512 mi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(m + i), vb1),
					  _mm512_mul_ps(gi, vomb1));
		__m512 vi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(v + i), vb2),
					  _mm512_mul_ps(_mm512_mul_ps(gi, gi), vomb2));
		__m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), vbc2), veps);
		pi = _mm512_sub_ps(pi, _mm512_mul_ps(vstep, _mm512_div_ps(mi, denom)));
		_mm512_storeu_ps(p + i, pi);
		_mm512_storeu_ps(m + i, mi);
		_mm512_storeu_ps(v + i, vi);
	}
	return i;
}
#else
#define ADAM_AVX512 0
#endif

/* Mirrors torch 1.13 _single_tensor_adamw: tensor arithmetic in float32, scalars (decay factor,
 * 1-beta, step size, bias corrections) computed in double and rounded to float once, as PyTorch
 * does when a Python scalar meets a float tensor. */
void gu_adamw_step(float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,
		   double beta2, double eps, double wd, int64_t step)
{
	if (step < 1) step = 1;
	double bc1 = 1.0 - pow(beta1, (double)step);
	double bc2 = 1.0 - pow(beta2, (double)step);
	const float decay = (float)(1.0 - lr * wd);
	const float b1 = (float)beta1, omb1 = (float)(1.0 - beta1);
	const float b2 = (float)beta2, omb2 = (float)(1.0 - beta2);
	const float step_size = (float)(lr / bc1);
	const float bc2_sqrt = (float)sqrt(bc2);
	const float feps = (float)eps;
	size_t i = 0;
#if ADAM_AVX512
	if (gu_cpu_avx512())
		i = adamw_avx512(p, g, m, v, n, decay, b1, omb1, b2, omb2, step_size, bc2_sqrt, feps);
#endif
	for (; i < n; i++) {
		float gi = g[i];
		float pi = p[i] * decay;
		float mi = m[i] * b1 + gi * omb1;
		float vi = v[i] * b2 + gi * gi * omb2;
		float denom = sqrtf(vi) / bc2_sqrt + feps;
		p[i] = pi - step_size * (mi / denom);
		m[i] = mi;
		v[i] = vi;
	}
}

/* fastai annealing_cos: end + (start-end)/2 * (cos(pi*pct) + 1) */
static double anneal_cos(double start, double end, double pct)
{
	return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

/* fastai 1.0.50 OneCycleScheduler: two cosine phases of A = int(N*pct_start) and N-A batches.
 * Its Scheduler uses n_iter = max(1, n), so with A == 0 batch 0 still runs at the start values
 * (lr_max/div, m0), batch 1 at the end of the empty warm-up (lr_max, m1), and batch t >= 1 at
 * phase-2 position (t-1)/(N-A). */
double gu_onecycle(int64_t t, int64_t N, double lr_max, double div, double pct_start, double m0,
		   double m1, double *beta1)
{
	double lr_lo = lr_max / div, lr_end = lr_max / (div * 1e4);
	double b = m0, lr = lr_lo;
	if (N < 1 || t < 0) {
		if (beta1) *beta1 = m0;
		return lr_lo;
	}
	int64_t A = (int64_t)((double)N * pct_start);
	if (A < 0) A = 0;
	if (A > N) A = N;
	int64_t Bn = N - A;
	if (Bn < 1) Bn = 1;
	if (A == 0) {
		if (t == 0) {
			lr = lr_lo, b = m0;
		} else {
			double p = (double)(t - 1) / (double)Bn;
			lr = anneal_cos(lr_max, lr_end, p);
			b = anneal_cos(m1, m0, p);
		}
	} else if (t < A) {
		double p = (double)t / (double)A;
		lr = anneal_cos(lr_lo, lr_max, p);
		b = anneal_cos(m0, m1, p);
	} else {
		double p = (double)(t - A) / (double)Bn;
		lr = anneal_cos(lr_max, lr_end, p);
		b = anneal_cos(m1, m0, p);
	}
	if (beta1) *beta1 = b;
	return lr;
}

double gu_clip_grad(float *g, size_t n, double max_norm)
{
	double ss = 0.0;
	for (size_t i = 0; i < n; i++) ss += (double)g[i] * (double)g[i];
	double norm = sqrt(ss);
	if (max_norm > 0.0) {
		double c = max_norm / (norm + 1e-6);
		if (c < 1.0) {
			float fc = (float)c;
			for (size_t i = 0; i < n; i++) g[i] *= fc;
		}
	}
	return norm;
}
