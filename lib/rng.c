/* rng.c: xoshiro256** (Blackman & Vigna 2018) seeded through splitmix64.
 *
 * Everything here is a pure function of the seed and the call sequence, so a run with a given
 * --seed is reproducible on one platform (gu_rng_normal goes through libm log/cos, whose last bit
 * may differ between libm builds). */
#include <math.h>

#include "gulm.h"

__extension__ typedef unsigned __int128 gu_u128;

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* splitmix64 step: expands one 64-bit seed into well-mixed state words (Vigna's recommendation,
 * and it never yields the all-zero xoshiro state from four consecutive outputs). */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void gu_rng_seed(gu_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t gu_rng_next(gu_rng *r)
{
	uint64_t *s = r->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double gu_rng_uniform(gu_rng *r)
{
	/* top 53 bits: the low bits of xoshiro256** are fine too, but this is the standard form */
	return (double)(gu_rng_next(r) >> 11) * 0x1.0p-53;
}

double gu_rng_normal(gu_rng *r)
{
	/* Box-Muller, one value per call (no cached spare, so the state stays s[4] only and the
	 * draw count per call is always two). u1 in (0, 1] keeps log finite. */
	double u1 = (double)((gu_rng_next(r) >> 11) + 1) * 0x1.0p-53;
	double u2 = gu_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

uint64_t gu_rng_below(gu_rng *r, uint64_t n)
{
	/* Lemire's nearly divisionless method: multiply-high, reject the few low products that
	 * would bias the result. n == 0 has no valid answer; return 0 without drawing. */
	if (n == 0) return 0;
	gu_u128 m = (gu_u128)gu_rng_next(r) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t thresh = (0 - n) % n; /* 2^64 mod n */
		while (lo < thresh) {
			m = (gu_u128)gu_rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

void gu_rng_shuffle(gu_rng *r, uint32_t *a, size_t n)
{
	/* Fisher-Yates, from the end: a[i] swaps with a uniform a[j], j <= i */
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)gu_rng_below(r, i);
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

void gu_rng_fill_uniform(gu_rng *r, float *x, size_t n, float lo, float hi)
{
	double w = (double)hi - (double)lo;
	for (size_t i = 0; i < n; i++) {
		float v = (float)((double)lo + w * gu_rng_uniform(r));
		/* rounding to float can reach hi; keep the interval half-open */
		if (v >= hi && hi > lo) v = nextafterf(hi, lo);
		x[i] = v;
	}
}
