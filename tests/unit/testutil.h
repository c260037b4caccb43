/* testutil.h: tiny assertion helpers for the unit tests. Each test program exits non-zero on the
 * first failed check and prints "N passed, 0 failed" at the end. */
#ifndef TESTUTIL_H
#define TESTUTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

static inline int tu_done(const char *name)
{
	printf("%s: %d passed, 0 failed\n", name, tu_passed);
	return 0;
}
#endif
