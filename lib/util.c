/* util.c: error messages, checked allocation, CRC-32, atomic output files. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "gulm.h"

static _Thread_local char errbuf[1024];

const char *gu_errmsg(void) { return errbuf; }

int gu_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	return code;
}

void *gu_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) gu_err(GU_ENOMEM, "out of memory allocating %zu bytes", n);
	return p;
}

void *gu_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) gu_err(GU_ENOMEM, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *gu_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) gu_err(GU_ENOMEM, "out of memory allocating %zu bytes", n);
	return q;
}

char *gu_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = gu_malloc(n);
	if (p) memcpy(p, s, n);
	return p;
}

uint32_t gu_crc32(uint32_t crc, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	while (n > 0) { /* zlib takes uInt lengths */
		uInt c = n > (1u << 30) ? (1u << 30) : (uInt)n;
		crc = (uint32_t)crc32(crc, p, c);
		p += c, n -= c;
	}
	return crc;
}

struct gu_out {
	FILE *fp;
	char *path, *tmp; /* tmp NULL for stdout */
	int failed;
};

gu_out *gu_out_open(const char *path)
{
	gu_out *o = gu_calloc(1, sizeof *o);
	if (!o) return NULL;
	o->path = gu_strdup(path);
	if (!o->path) goto fail;
	if (strcmp(path, "-") == 0) {
		o->fp = stdout;
		return o;
	}
	size_t n = strlen(path) + 32;
	o->tmp = gu_malloc(n);
	if (!o->tmp) goto fail;
	snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
	o->fp = fopen(o->tmp, "wb");
	if (!o->fp) {
		gu_err(GU_EIO, "%s: cannot create: %s", path, strerror(errno));
		goto fail;
	}
	return o;
fail:
	free(o->path);
	free(o->tmp);
	free(o);
	return NULL;
}

const char *gu_out_path(const gu_out *o) { return o->path; }

int gu_out_write(gu_out *o, const void *buf, size_t n)
{
	if (o->failed) return GU_EIO;
	if (n && fwrite(buf, 1, n, o->fp) != n) {
		o->failed = 1;
		return gu_err(GU_EIO, "%s: write failed: %s", o->path, strerror(errno));
	}
	return 0;
}

int gu_out_close(gu_out *o, int abort)
{
	int ret = 0;
	if (o->failed) ret = GU_EIO;
	if (fflush(o->fp) != 0 && !ret && !abort)
		ret = gu_err(GU_EIO, "%s: write failed: %s", o->path, strerror(errno));
	if (o->tmp) {
		if (fsync(fileno(o->fp)) != 0 && !ret && !abort && errno != EINVAL)
			ret = gu_err(GU_EIO, "%s: sync failed: %s", o->path, strerror(errno));
		if (fclose(o->fp) != 0 && !ret && !abort)
			ret = gu_err(GU_EIO, "%s: close failed: %s", o->path, strerror(errno));
		if (ret || abort) {
			remove(o->tmp);
		} else if (rename(o->tmp, o->path) != 0) {
			ret = gu_err(GU_EIO, "%s: cannot rename %s: %s", o->path, o->tmp, strerror(errno));
			remove(o->tmp);
		}
	} else if (ferror(o->fp) && !ret && !abort) {
		ret = gu_err(GU_EIO, "%s: write failed", o->path);
	}
	free(o->path);
	free(o->tmp);
	free(o);
	return ret;
}

int gu_cpu_avx512(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
	static int ok = -1; /* a race here only computes the same value twice */
	if (ok < 0) {
		const char *off = getenv("GULM_NO_AVX512");
		ok = __builtin_cpu_supports("avx512f") && !(off && *off) ? 1 : 0;
	}
	return ok;
#else
	return 0;
#endif
}
