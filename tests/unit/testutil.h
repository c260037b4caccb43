/* testutil.h: tiny assertion helpers for the unit tests. Each test program exits non-zero on the
 * first failed check and prints "N passed, 0 failed" at the end. */
#ifndef TESTUTIL_H
#define TESTUTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_passed;

#define CHECK(cond, ...)                                                                 \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                    \
			fprintf(stderr, "\n");                                           \
			exit(1);                                                         \
		}                                                                        \
		tu_passed++;                                                             \
	} while (0)

/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, atol, rtol, what)                                              \
	do {                                                                             \
		double a_ = (a), b_ = (b);                                               \
		CHECK(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_) && !isnan(a_),           \
		      "%s: got %.9g want %.9g", (what), a_, b_);                          \
	} while (0)

#ifdef GULM_H
/* The tensor NAME of a PyTorch-made fixture, checked to be of DTYPE with NUMEL elements. */
static inline const gu_st_tensor *tu_fixture(const gu_st_file *fx, const char *name, const char *dtype,
					     size_t numel)
{
	const gu_st_tensor *t = gu_st_get(fx, name);
	CHECK(t != NULL, "fixture has no tensor %s", name);
	CHECK(strcmp(t->dtype, dtype) == 0, "%s: dtype %s, want %s", name, t->dtype, dtype);
	size_t n = 1;
	for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
	CHECK(n == numel, "%s: %zu elements, want %zu", name, n, numel);
	return t;
}
#endif

static inline int tu_done(const char *name)
{
	printf("%s: %d passed, 0 failed\n", name, tu_passed);
	return 0;
}
#endif
