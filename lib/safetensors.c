/* safetensors.c: a strict reader of the safetensors format (8-byte little-endian header length,
 * JSON header, raw little-endian tensor data) and model export/import through it, so a PyTorch
 * user can load a gulm model with the safetensors package. Metadata keys in man/ulmmodel.5. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gulm.h"

/* gu_err with the current message appended: "PATH: what: <previous message>" (the message
 * buffer is copied first, as gu_err writes into it). */
static int err_wrap(int code, const char *path, const char *what)
{
	char prev[512];
	snprintf(prev, sizeof prev, "%s", gu_errmsg());
	return gu_err(code, "%s: %s%s%s", path, what, *what ? ": " : "", prev);
}

#define MAX_HEADER 100000000ull /* as the reference implementation */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BE 1
#else
#define HOST_BE 0
#endif

static const struct {
	const char *name;
	int size;
} dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
	      {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},
	      {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};

static int dtype_size(const char *s)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (strcmp(s, dtypes[i].name) == 0) return dtypes[i].size;
	return 0;
}

/* ---- a strict JSON parser for the safetensors header subset ---------------------------- */

typedef struct {
	const char *s;
	size_t n, i;
	const char *err; /* first error, static text */
	size_t err_at;
} js;

static int js_fail(js *j, const char *msg)
{
	if (!j->err) j->err = msg, j->err_at = j->i;
	return -1;
}
static void js_ws(js *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
			       j->s[j->i] == '\r'))
		j->i++;
}
static int js_expect(js *j, char c)
{
	js_ws(j);
	if (j->i >= j->n || j->s[j->i] != c)
		return js_fail(j, c == '{' ? "expected '{'" : c == '"' ? "expected a string"
				  : c == ':' ? "expected ':'" : c == '[' ? "expected '['" : "syntax error");
	j->i++;
	return 0;
}
/* Peeks the next non-space character (0 at the end). */
static char js_peek(js *j)
{
	js_ws(j);
	return j->i < j->n ? j->s[j->i] : 0;
}

/* After a member of an object or array: ',' (1, another member follows), the closer (0, the
 * container ends) or an error (< 0). Consumes what it reads. */
static int js_next(js *j, char close)
{
	char c = js_peek(j);
	if (c == ',' || c == close) {
		j->i++;
		return c == ',';
	}
	return js_fail(j, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}
static int js_hex4(js *j, unsigned *u)
{
	if (j->n - j->i < 4) return js_fail(j, "truncated \\u escape");
	unsigned x = 0;
	for (int k = 0; k < 4; k++) {
		int h = hexval(j->s[j->i + (size_t)k]);
		if (h < 0) return js_fail(j, "bad \\u escape");
		x = x << 4 | (unsigned)h;
	}
	j->i += 4;
	*u = x;
	return 0;
}
/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned min;
	if (c < 0x80) return 1;
	if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
	else return 0;
	if (n < len) return 0;
	unsigned cp = c & (0x3f >> (len - 1));
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80) return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
	return len;
}
static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) return o[0] = (char)cp, 1;
	if (cp < 0x800) return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string; returns malloc'd UTF-8 (NUL-terminated; a \u0000 escape is rejected). */
static char *js_string(js *j)
{
	if (js_expect(j, '"') < 0) return NULL;
	size_t start = j->i, end = start;
	/* find the closing quote to size the output (escapes only shrink) */
	while (end < j->n && j->s[end] != '"') end += j->s[end] == '\\' ? 2 : 1;
	if (end >= j->n) {
		js_fail(j, "unterminated string");
		return NULL;
	}
	char *o = gu_malloc(end - start + 1);
	if (!o) {
		js_fail(j, "out of memory");
		return NULL;
	}
	size_t k = 0;
	while (j->i < end) {
		unsigned char c = (unsigned char)j->s[j->i];
		if (c < 0x20) {
			js_fail(j, "control character in string");
			goto fail;
		}
		if (c == '\\') {
			char e = j->s[j->i + 1];
			j->i += 2;
			switch (e) {
			case '"': o[k++] = '"'; break;
			case '\\': o[k++] = '\\'; break;
			case '/': o[k++] = '/'; break;
			case 'b': o[k++] = '\b'; break;
			case 'f': o[k++] = '\f'; break;
			case 'n': o[k++] = '\n'; break;
			case 'r': o[k++] = '\r'; break;
			case 't': o[k++] = '\t'; break;
			case 'u': {
				unsigned u, lo;
				if (j->i > end || js_hex4(j, &u) < 0) goto fail;
				if (u >= 0xdc00 && u <= 0xdfff) {
					js_fail(j, "lone low surrogate");
					goto fail;
				}
				if (u >= 0xd800 && u <= 0xdbff) {
					if (j->i + 2 > end || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u') {
						js_fail(j, "lone high surrogate");
						goto fail;
					}
					j->i += 2;
					if (js_hex4(j, &lo) < 0) goto fail;
					if (lo < 0xdc00 || lo > 0xdfff) {
						js_fail(j, "bad surrogate pair");
						goto fail;
					}
					u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (u == 0) {
					js_fail(j, "NUL character in string");
					goto fail;
				}
				if (j->i > end) {
					js_fail(j, "bad \\u escape");
					goto fail;
				}
				/* 6 escape bytes (12 for a pair) always cover the <= 4 output bytes */
				k += put_utf8(o + k, u);
				break;
			}
			default:
				js_fail(j, "bad escape in string");
				goto fail;
			}
			if (j->i > end) { /* an escape swallowed the closing quote */
				js_fail(j, "unterminated string");
				goto fail;
			}
		} else {
			size_t len = utf8_len((const unsigned char *)j->s + j->i, end - j->i);
			if (!len) {
				js_fail(j, "invalid UTF-8 in string");
				goto fail;
			}
			memcpy(o + k, j->s + j->i, len);
			k += len, j->i += len;
		}
	}
	o[k] = 0;
	j->i = end + 1;
	return o;
fail:
	free(o);
	return NULL;
}

/* A non-negative integer without sign, fraction or exponent. */
static int js_uint(js *j, uint64_t *x)
{
	js_ws(j);
	size_t st = j->i;
	uint64_t v = 0;
	while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
		unsigned d = (unsigned)(j->s[j->i] - '0');
		if (v > (UINT64_MAX - d) / 10) return js_fail(j, "integer too large");
		v = v * 10 + d;
		j->i++;
	}
	if (j->i == st) return js_fail(j, "expected a non-negative integer");
	if (j->s[st] == '0' && j->i - st > 1) return js_fail(j, "leading zero in integer");
	if (j->i < j->n && (j->s[j->i] == '.' || j->s[j->i] == 'e' || j->s[j->i] == 'E'))
		return js_fail(j, "expected an integer");
	*x = v;
	return 0;
}

/* [uint, ...] with at most max items. */
static int js_uint_array(js *j, uint64_t *a, int max, int *n)
{
	*n = 0;
	if (js_expect(j, '[') < 0) return -1;
	if (js_peek(j) == ']') {
		j->i++;
		return 0;
	}
	for (;;) {
		if (*n >= max) return js_fail(j, "array too long");
		if (js_uint(j, &a[(*n)++]) < 0) return -1;
		int r = js_next(j, ']');
		if (r <= 0) return r;
	}
}

typedef struct {
	char *name;
	char dtype[8];
	int ndim;
	uint64_t shape[8];
	uint64_t begin, end;
} st_entry;

/* {"dtype": "...", "shape": [...], "data_offsets": [b, e]} */
static int js_tensor(js *j, st_entry *e)
{
	int have_dtype = 0, have_shape = 0, have_off = 0;
	if (js_expect(j, '{') < 0) return -1;
	if (js_peek(j) == '}') return js_fail(j, "empty tensor entry");
	for (;;) {
		char *key = js_string(j);
		if (!key) return -1;
		if (js_expect(j, ':') < 0) {
			free(key);
			return -1;
		}
		int r = 0;
		if (strcmp(key, "dtype") == 0 && !have_dtype) {
			char *d = js_string(j);
			have_dtype = 1;
			if (!d) r = -1;
			else if (strlen(d) >= sizeof e->dtype || !dtype_size(d))
				r = js_fail(j, "unknown dtype");
			else
				strcpy(e->dtype, d);
			free(d);
		} else if (strcmp(key, "shape") == 0 && !have_shape) {
			have_shape = 1;
			r = js_uint_array(j, e->shape, 8, &e->ndim);
		} else if (strcmp(key, "data_offsets") == 0 && !have_off) {
			uint64_t o[2];
			int n;
			have_off = 1;
			r = js_uint_array(j, o, 2, &n);
			if (!r && n != 2) r = js_fail(j, "data_offsets needs two integers");
			e->begin = o[0], e->end = o[1];
			if (!r && e->begin > e->end) r = js_fail(j, "data_offsets decrease");
		} else {
			r = js_fail(j, have_dtype || have_shape || have_off ? "unknown or repeated key in "
					"tensor entry" : "unknown key in tensor entry");
		}
		free(key);
		if (r < 0) return -1;
		if ((r = js_next(j, '}')) < 0) return -1;
		if (r == 0) break;
	}
	if (!have_dtype || !have_shape || !have_off)
		return js_fail(j, "tensor entry lacks dtype, shape or data_offsets");
	return 0;
}

static void free_strs(char **a, int n)
{
	for (int i = 0; a && i < n; i++) free(a[i]);
	free(a);
}

/* {"key": "value", ...} into f->meta_*; raw text kept in f->metadata_json. */
static int js_metadata(js *j, gu_st_file *f)
{
	js_ws(j);
	size_t start = j->i;
	int cap = 0;
	if (js_expect(j, '{') < 0) return -1;
	if (js_peek(j) == '}') {
		j->i++;
	} else {
		for (;;) {
			if (f->n_meta == cap) {
				cap = cap ? 2 * cap : 16;
				char **a = gu_realloc(f->meta_key, sizeof(char *) * (size_t)cap);
				if (!a) return js_fail(j, "out of memory");
				f->meta_key = a;
				char **b = gu_realloc(f->meta_val, sizeof(char *) * (size_t)cap);
				if (!b) return js_fail(j, "out of memory");
				f->meta_val = b;
			}
			char *key = js_string(j);
			if (!key) return -1;
			if (js_expect(j, ':') < 0) {
				free(key);
				return -1;
			}
			if (js_peek(j) != '"') {
				free(key);
				return js_fail(j, "__metadata__ values must be strings");
			}
			char *val = js_string(j);
			if (!val) {
				free(key);
				return -1;
			}
			f->meta_key[f->n_meta] = key;
			f->meta_val[f->n_meta++] = val;
			int r = js_next(j, '}');
			if (r < 0) return -1;
			if (r == 0) break;
		}
	}
	size_t len = j->i - start;
	if (!(f->metadata_json = gu_malloc(len + 1))) return js_fail(j, "out of memory");
	memcpy(f->metadata_json, j->s + start, len);
	f->metadata_json[len] = 0;
	return 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}
static int cmp_entry_off(const void *a, const void *b)
{
	const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
	if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* Returns 1 when the sorted array a[0..n) holds a repeated string. */
static int has_dup(char **a, int n, const char **dup)
{
	if (n < 2) return 0;
	char **s = gu_malloc(sizeof(char *) * (size_t)n);
	if (!s) return -1;
	memcpy(s, a, sizeof(char *) * (size_t)n);
	qsort(s, (size_t)n, sizeof(char *), cmp_strp);
	int r = 0;
	for (int i = 1; i < n && !r; i++)
		if (strcmp(s[i], s[i - 1]) == 0) r = 1, *dup = s[i];
	free(s);
	return r;
}

void gu_st_free(gu_st_file *f)
{
	if (!f) return;
	for (int i = 0; i < f->n; i++) free(f->t[i].data);
	free(f->t);
	free(f->metadata_json);
	free_strs(f->meta_key, f->n_meta);
	free_strs(f->meta_val, f->n_meta);
	free(f);
}

gu_st_file *gu_st_read(const char *path)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!fp) {
		gu_err(GU_EIO, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	gu_st_file *f = NULL;
	st_entry *ent = NULL;
	st_entry **ord = NULL;
	char **names = NULL;
	char *hdr = NULL;
	int n_ent = 0, cap = 0, ok = 0;
	uint64_t fsize = UINT64_MAX;
	struct stat st;
	if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)) fsize = (uint64_t)st.st_size;

	unsigned char b8[8];
	size_t got = fread(b8, 1, 8, fp);
	if (got != 8 && ferror(fp)) {
		gu_err(GU_EIO, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	if (got != 8) {
		gu_err(GU_EFORMAT, "%s: %s", path, got == 0 ? "empty file, expected safetensors"
							   : "truncated (in the header length)");
		goto out;
	}
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b8[i];
	if (hlen < 2 || hlen > MAX_HEADER || (fsize != UINT64_MAX && hlen > fsize - 8)) {
		gu_err(GU_EFORMAT, "%s: bad safetensors header length %llu (file has %llu bytes)", path,
		       (unsigned long long)hlen, (unsigned long long)fsize);
		goto out;
	}
	if (!(hdr = gu_malloc((size_t)hlen))) goto out;
	if (fread(hdr, 1, (size_t)hlen, fp) != hlen) {
		gu_err(GU_EFORMAT, "%s: truncated (in the safetensors header)", path);
		goto out;
	}
	if (!(f = gu_calloc(1, sizeof *f))) goto out;

	js j = {hdr, (size_t)hlen, 0, NULL, 0};
	if (hdr[0] != '{') js_fail(&j, "header does not start with '{'");
	else j.i = 1;
	int seen_meta = 0;
	if (!j.err && js_peek(&j) == '}') {
		j.i++;
	} else {
		while (!j.err) {
			char *key = js_string(&j);
			if (!key) break;
			if (js_expect(&j, ':') < 0) {
				free(key);
				break;
			}
			if (strcmp(key, "__metadata__") == 0) {
				free(key);
				if (seen_meta++) {
					js_fail(&j, "repeated __metadata__");
					break;
				}
				if (js_metadata(&j, f) < 0) break;
			} else {
				if (n_ent == cap) {
					cap = cap ? 2 * cap : 64;
					st_entry *e = gu_realloc(ent, sizeof *ent * (size_t)cap);
					if (!e) {
						free(key);
						js_fail(&j, "out of memory");
						break;
					}
					ent = e;
				}
				st_entry *e = &ent[n_ent++];
				memset(e, 0, sizeof *e);
				e->name = key;
				if (strlen(key) >= sizeof f->t[0].name) {
					js_fail(&j, "tensor name longer than 127 bytes");
					break;
				}
				if (js_tensor(&j, e) < 0) break;
			}
			if (js_next(&j, '}') <= 0) break;
		}
	}
	if (!j.err) { /* only padding may follow the object */
		js_ws(&j);
		if (j.i != j.n) js_fail(&j, "trailing characters after the header object");
	}
	if (j.err) {
		gu_err(GU_EFORMAT, "%s: bad safetensors header: %s at byte %zu", path, j.err,
		       (size_t)8 + j.err_at);
		goto out;
	}
	const char *dup = NULL;
	if (has_dup(f->meta_key, f->n_meta, &dup) < 0) goto out;
	if (!dup && n_ent) {
		if (!(names = gu_malloc(sizeof(char *) * (size_t)n_ent))) goto out;
		for (int i = 0; i < n_ent; i++) names[i] = ent[i].name;
		if (has_dup(names, n_ent, &dup) < 0) goto out;
	}
	if (dup) {
		gu_err(GU_EFORMAT, "%s: bad safetensors header: key '%.64s' appears twice", path, dup);
		goto out;
	}
	/* byte spans */
	uint64_t data_len = fsize == UINT64_MAX ? UINT64_MAX : fsize - 8 - hlen;
	for (int i = 0; i < n_ent; i++) {
		st_entry *e = &ent[i];
		uint64_t ds = (uint64_t)dtype_size(e->dtype), numel = 1, span = e->end - e->begin;
		int zero = 0, over = 0;
		char shp[160];
		size_t sl = 0;
		shp[0] = 0;
		for (int d = 0; d < e->ndim; d++) {
			zero |= e->shape[d] == 0;
			if (sl < sizeof shp - 24)
				sl += (size_t)snprintf(shp + sl, sizeof shp - sl, "%s%llu", d ? "," : "",
						       (unsigned long long)e->shape[d]);
		}
		for (int d = 0; d < e->ndim && !zero && !over; d++) {
			if (numel > UINT64_MAX / e->shape[d]) over = 1;
			else numel *= e->shape[d];
		}
		if (zero) numel = 0;
		if (over || numel > UINT64_MAX / ds || numel * ds != span) {
			gu_err(GU_EFORMAT, "%s: tensor %s: %s of shape [%s] does not fill its %llu bytes "
			       "of data_offsets", path, e->name, e->dtype, shp, (unsigned long long)span);
			goto out;
		}
		if (e->end > data_len) {
			gu_err(GU_EFORMAT, "%s: tensor %s: data_offsets end %llu past the data (%llu "
			       "bytes)", path, e->name, (unsigned long long)e->end,
			       (unsigned long long)data_len);
			goto out;
		}
	}
	/* the tensors must cover the data area exactly, in any header order */
	if (n_ent && !(ord = gu_malloc(sizeof *ord * (size_t)n_ent))) goto out;
	for (int i = 0; i < n_ent; i++) ord[i] = &ent[i];
	if (n_ent) qsort(ord, (size_t)n_ent, sizeof *ord, cmp_entry_off);
	uint64_t pos = 0;
	for (int i = 0; i < n_ent; i++) {
		if (ord[i]->begin != pos) {
			gu_err(GU_EFORMAT, "%s: tensor %s: data_offsets %s at byte %llu", path,
			       ord[i]->name, ord[i]->begin < pos ? "overlap" : "leave a gap",
			       (unsigned long long)pos);
			goto out;
		}
		pos = ord[i]->end;
	}
	if (data_len != UINT64_MAX && pos != data_len) {
		gu_err(GU_EFORMAT, "%s: %llu bytes of tensor data but %llu in the file", path,
		       (unsigned long long)pos, (unsigned long long)data_len);
		goto out;
	}
	/* the tensors, in header order; data read sequentially in offset order */
	if (n_ent && !(f->t = gu_calloc((size_t)n_ent, sizeof *f->t))) goto out;
	for (int i = 0; i < n_ent; i++) {
		gu_st_tensor *t = &f->t[i];
		snprintf(t->name, sizeof t->name, "%s", ent[i].name);
		memcpy(t->dtype, ent[i].dtype, sizeof t->dtype);
		t->ndim = ent[i].ndim;
		for (int d = 0; d < t->ndim; d++) t->shape[d] = (int64_t)ent[i].shape[d];
		t->nbytes = (size_t)(ent[i].end - ent[i].begin);
		f->n = i + 1;
		if (t->nbytes > SIZE_MAX / 2) {
			gu_err(GU_EFORMAT, "%s: tensor %s too large", path, t->name);
			goto out;
		}
		for (int d = 0; d < t->ndim; d++)
			if (ent[i].shape[d] > (uint64_t)INT64_MAX) {
				gu_err(GU_EFORMAT, "%s: tensor %s: dimension too large", path, t->name);
				goto out;
			}
	}
	for (int i = 0; i < n_ent; i++) {
		gu_st_tensor *t = &f->t[ord[i] - ent];
		if (!(t->data = gu_malloc(t->nbytes))) goto out;
		if (t->nbytes && fread(t->data, 1, t->nbytes, fp) != t->nbytes) {
			gu_err(GU_EFORMAT, "%s: truncated (in the data of tensor %s)", path, t->name);
			goto out;
		}
	}
	if (fgetc(fp) != EOF) {
		gu_err(GU_EFORMAT, "%s: data past the last tensor", path);
		goto out;
	}
	ok = 1;
out:
	if (ferror(fp) && ok) {
		gu_err(GU_EIO, "%s: read error", path);
		ok = 0;
	}
	if (fp != stdin) fclose(fp);
	for (int i = 0; i < n_ent; i++) free(ent[i].name);
	free(ent);
	free(ord);
	free(names);
	free(hdr);
	if (!ok) {
		gu_st_free(f);
		return NULL;
	}
	return f;
}

const gu_st_tensor *gu_st_get(const gu_st_file *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
	return NULL;
}

const char *gu_st_meta(const gu_st_file *f, const char *key)
{
	for (int i = 0; i < f->n_meta; i++)
		if (strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
	return NULL;
}

/* ---- model export / import ------------------------------------------------------------- */

typedef struct {
	char *s;
	size_t n, cap;
	int err;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->err) return;
	if (b->n + n + 1 > b->cap) {
		size_t c = (b->n + n + 1) * 2;
		char *p = gu_realloc(b->s, c);
		if (!p) {
			b->err = GU_ENOMEM;
			return;
		}
		b->s = p, b->cap = c;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
/* s as a JSON string literal. */
static void sb_json(sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[8];
		if (c == '"' || c == '\\') e[0] = '\\', e[1] = (char)c, sb_put(b, e, 2);
		else if (c == '\n') sb_put(b, "\\n", 2);
		else if (c == '\t') sb_put(b, "\\t", 2);
		else if (c < 0x20) snprintf(e, sizeof e, "\\u%04x", c), sb_put(b, e, 6);
		else sb_put(b, s, 1);
	}
	sb_put(b, "\"", 1);
}
static void sb_meta(sbuf *b, const char *key, const char *val)
{
	sb_json(b, key);
	sb_put(b, ":", 1);
	sb_json(b, val);
	sb_put(b, ",", 1);
}
static void sb_meta_int(sbuf *b, const char *key, long long v)
{
	char t[32];
	snprintf(t, sizeof t, "%lld", v);
	sb_meta(b, key, t);
}
static void sb_meta_float(sbuf *b, const char *key, float v)
{
	char t[32];
	snprintf(t, sizeof t, "%.9g", (double)v); /* 9 digits round-trip a float */
	sb_meta(b, key, t);
}

static int valid_utf8(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len((const unsigned char *)s + i, n - i);
		if (!l) return 0;
		i += l;
	}
	return 1;
}

int gu_model_export_safetensors(const gu_model *m, const char *path)
{
	const gu_hparams *hp = &m->hp;
	sbuf b = {0};
	char km[32];
	for (int i = 0; i < m->n_labels; i++)
		if (!valid_utf8(m->labels[i]) || strchr(m->labels[i], '\t'))
			return gu_err(GU_EARG, "%s: label %d is not valid UTF-8 or holds a tab", path, i);
	for (int i = 0; i < m->n_prov; i++)
		if (!valid_utf8(m->prov[i]) || strchr(m->prov[i], '\n'))
			return gu_err(GU_EARG, "%s: provenance line %d is not valid UTF-8", path, i);
	sb_str(&b, "{\"__metadata__\":{");
	sb_meta(&b, "format", "gulm");
	sb_meta(&b, "gulm_version", GU_VERSION);
	sb_meta(&b, "kind", hp->kind == GU_MODEL_CLS ? "classifier" : "lm");
	sb_meta_int(&b, "k", hp->k);
	sb_meta_int(&b, "stride", hp->stride);
	sb_meta_int(&b, "vocab_size", hp->vocab_size);
	sb_meta_int(&b, "emb", hp->emb);
	sb_meta_int(&b, "hidden", hp->hidden);
	sb_meta_int(&b, "n_layers", hp->n_layers);
	sb_meta_int(&b, "n_lin", hp->n_lin);
	sb_meta_int(&b, "n_classes", hp->n_classes);
	sb_meta_int(&b, "bptt", hp->bptt);
	sb_meta_int(&b, "max_len", hp->max_len);
	sb_meta_float(&b, "output_p", hp->output_p);
	sb_meta_float(&b, "hidden_p", hp->hidden_p);
	sb_meta_float(&b, "input_p", hp->input_p);
	sb_meta_float(&b, "embed_p", hp->embed_p);
	sb_meta_float(&b, "weight_p", hp->weight_p);
	sb_meta_float(&b, "drop_mult", hp->drop_mult);
	sb_meta_float(&b, "alpha", hp->alpha);
	sb_meta_float(&b, "beta", hp->beta);
	/* vocab: ids 3.. as k-mer strings, space-separated (specials are implied) */
	sbuf v = {0};
	for (int32_t id = GU_N_SPECIAL; id < m->vocab->size; id++) {
		if (id > GU_N_SPECIAL) sb_put(&v, " ", 1);
		sb_str(&v, gu_kmer_str(m->vocab->code[id], hp->k, km));
	}
	sb_meta(&b, "vocab", v.s ? v.s : "");
	free(v.s);
	sbuf l = {0};
	for (int i = 0; i < m->n_labels; i++) {
		if (i) sb_put(&l, "\t", 1);
		sb_str(&l, m->labels[i]);
	}
	sb_meta(&b, "labels", l.s ? l.s : "");
	free(l.s);
	sbuf p = {0};
	for (int i = 0; i < m->n_prov; i++) {
		if (i) sb_put(&p, "\n", 1);
		sb_str(&p, m->prov[i]);
	}
	sb_json(&b, "provenance");
	sb_put(&b, ":", 1);
	sb_json(&b, p.s ? p.s : "");
	free(p.s);
	sb_str(&b, "}");
	if (v.err || l.err || p.err) b.err = GU_ENOMEM;
	uint64_t off = 0;
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		char e[256];
		uint64_t nb = (uint64_t)t->numel * 4;
		if (t->ndim == 2)
			snprintf(e, sizeof e, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],"
				 "\"data_offsets\":[%llu,%llu]}", t->name, (long long)t->shape[0],
				 (long long)t->shape[1], (unsigned long long)off,
				 (unsigned long long)(off + nb));
		else
			snprintf(e, sizeof e, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],"
				 "\"data_offsets\":[%llu,%llu]}", t->name, (long long)t->shape[0],
				 (unsigned long long)off, (unsigned long long)(off + nb));
		sb_str(&b, e);
		off += nb;
	}
	sb_str(&b, "}");
	while (!b.err && (8 + b.n) % 8) sb_put(&b, " ", 1); /* data starts 8-byte aligned */
	if (b.err) {
		free(b.s);
		return gu_err(GU_ENOMEM, "%s: out of memory", path);
	}
	gu_out *o = gu_out_open(path);
	if (!o) {
		free(b.s);
		return GU_EIO;
	}
	unsigned char h8[8];
	for (int i = 0; i < 8; i++) h8[i] = (unsigned char)((uint64_t)b.n >> (8 * i));
	int r = gu_out_write(o, h8, 8);
	if (!r) r = gu_out_write(o, b.s, b.n);
	free(b.s);
	for (int i = 0; i < m->n_tensors && !r; i++) {
		const gu_tensor *t = &m->tensors[i];
		const float *x = gu_tensor_data(m, t);
#if HOST_BE
		float tmp[1024];
		for (size_t j = 0; j < t->numel && !r; j += 1024) {
			size_t c = t->numel - j < 1024 ? t->numel - j : 1024;
			for (size_t q = 0; q < c; q++) {
				uint32_t u;
				memcpy(&u, x + j + q, 4);
				u = __builtin_bswap32(u);
				memcpy(tmp + q, &u, 4);
			}
			r = gu_out_write(o, tmp, c * 4);
		}
#else
		r = gu_out_write(o, x, t->numel * sizeof(float));
#endif
	}
	int rc = gu_out_close(o, r != 0);
	return r ? r : rc;
}

/* Parses the whole of s as an int in [lo, hi]. */
static int parse_int(const char *s, long lo, long hi, int32_t *out)
{
	char *end;
	errno = 0;
	if (!s || !*s) return -1;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) return -1;
	*out = (int32_t)v;
	return 0;
}
static int parse_float(const char *s, float *out)
{
	char *end;
	if (!s || !*s) return -1;
	errno = 0;
	float v = strtof(s, &end);
	if (errno || *end || !isfinite(v)) return -1;
	*out = v;
	return 0;
}

gu_model *gu_model_import_safetensors(const char *path)
{
	gu_st_file *f = gu_st_read(path);
	if (!f) return NULL;
	gu_model *m = NULL;
	gu_vocab *vocab = NULL;
	uint32_t *codes = NULL;
	char **labels = NULL, *lcopy = NULL;
	int n_labels = 0;
	gu_hparams hp;
	memset(&hp, 0, sizeof hp);
	const char *fmt = gu_st_meta(f, "format"), *kind = gu_st_meta(f, "kind");
	if (!fmt || strcmp(fmt, "gulm") != 0) {
		gu_err(GU_EFORMAT, "%s: not a gulm model (no __metadata__ \"format\": \"gulm\")", path);
		goto fail;
	}
	if (kind && strcmp(kind, "lm") == 0) hp.kind = GU_MODEL_LM;
	else if (kind && strcmp(kind, "classifier") == 0) hp.kind = GU_MODEL_CLS;
	else {
		gu_err(GU_EFORMAT, "%s: metadata \"kind\" is neither \"lm\" nor \"classifier\"", path);
		goto fail;
	}
	static const char *ik[] = {"k", "stride", "vocab_size", "emb", "hidden", "n_layers",
				   "n_lin", "n_classes", "bptt", "max_len"};
	int32_t *iv[] = {&hp.k, &hp.stride, &hp.vocab_size, &hp.emb, &hp.hidden, &hp.n_layers,
			 &hp.n_lin, &hp.n_classes, &hp.bptt, &hp.max_len};
	for (int i = 0; i < 10; i++)
		if (parse_int(gu_st_meta(f, ik[i]), INT32_MIN, INT32_MAX, iv[i]) < 0) {
			gu_err(GU_EFORMAT, "%s: metadata \"%s\" missing or not an integer", path, ik[i]);
			goto fail;
		}
	static const char *fk[] = {"output_p", "hidden_p", "input_p", "embed_p",
				   "weight_p", "drop_mult", "alpha",   "beta"};
	float *fv[] = {&hp.output_p, &hp.hidden_p, &hp.input_p, &hp.embed_p,
		       &hp.weight_p, &hp.drop_mult, &hp.alpha, &hp.beta};
	for (int i = 0; i < 8; i++)
		if (parse_float(gu_st_meta(f, fk[i]), fv[i]) < 0) {
			gu_err(GU_EFORMAT, "%s: metadata \"%s\" missing or not a finite number", path,
			       fk[i]);
			goto fail;
		}
	if (gu_hparams_check(&hp) < 0) {
		err_wrap(GU_EFORMAT, path, "bad hyperparameters");
		goto fail;
	}
	/* vocabulary */
	const char *vs = gu_st_meta(f, "vocab");
	if (!vs) {
		gu_err(GU_EFORMAT, "%s: metadata \"vocab\" missing", path);
		goto fail;
	}
	int32_t nk = hp.vocab_size - GU_N_SPECIAL, got = 0;
	if (!(codes = gu_malloc(sizeof(uint32_t) * (size_t)nk))) goto fail;
	for (const char *s = vs; *s;) {
		const char *e = strchr(s, ' ');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		char km[32];
		int64_t c = -1;
		if (len == (size_t)hp.k && got < nk) {
			memcpy(km, s, len);
			km[len] = 0;
			c = gu_kmer_parse(km, hp.k);
		}
		if (c < 0) {
			gu_err(GU_EFORMAT, "%s: metadata \"vocab\": entry %d is not a %d-mer%s", path,
			       got + GU_N_SPECIAL, hp.k, got >= nk ? " (too many entries)" : "");
			goto fail;
		}
		codes[got++] = (uint32_t)c;
		s += len;
		if (*s == ' ') {
			s++;
			if (!*s) {
				gu_err(GU_EFORMAT, "%s: metadata \"vocab\" ends in a space", path);
				goto fail;
			}
		}
	}
	if (got != nk) {
		gu_err(GU_EFORMAT, "%s: metadata \"vocab\" has %d k-mers, vocab_size says %d", path, got,
		       nk);
		goto fail;
	}
	if (!(vocab = gu_vocab_from_codes(hp.k, hp.stride, codes, nk))) goto fail;
	for (int32_t i = GU_N_SPECIAL; i < vocab->size; i++)
		if (gu_vocab_id(vocab, vocab->code[i]) != i) {
			gu_err(GU_EFORMAT, "%s: metadata \"vocab\" lists a k-mer twice", path);
			goto fail;
		}
	/* labels */
	const char *ls = gu_st_meta(f, "labels");
	if (ls && *ls) {
		if (!(lcopy = gu_strdup(ls))) goto fail;
		n_labels = 1;
		for (const char *s = ls; *s; s++) n_labels += *s == '\t';
		if (!(labels = gu_calloc((size_t)n_labels, sizeof(char *)))) goto fail;
		char *s = lcopy;
		for (int i = 0; i < n_labels; i++) {
			labels[i] = s;
			char *t = strchr(s, '\t');
			if (t) *t = 0, s = t + 1;
			if (!*labels[i] || strchr(labels[i], '\n')) {
				gu_err(GU_EFORMAT, "%s: metadata \"labels\": label %d is empty or holds a "
				       "newline", path, i);
				goto fail;
			}
			for (int q = 0; q < i; q++)
				if (strcmp(labels[q], labels[i]) == 0) {
					gu_err(GU_EFORMAT, "%s: metadata \"labels\": '%s' appears twice",
					       path, labels[i]);
					goto fail;
				}
		}
	}
	if (n_labels != hp.n_classes) {
		gu_err(GU_EFORMAT, "%s: %d label names for %d classes", path, n_labels, hp.n_classes);
		goto fail;
	}
	if (!(m = gu_model_new(&hp, vocab, n_labels, labels))) {
		err_wrap(GU_EFORMAT, path, "");
		goto fail;
	}
	vocab = NULL;
	/* provenance */
	const char *ps = gu_st_meta(f, "provenance");
	if (ps && *ps) {
		int n = 1;
		for (const char *s = ps; *s; s++) n += *s == '\n';
		if (!(m->prov = gu_calloc((size_t)n, sizeof(char *)))) goto fail;
		for (const char *s = ps;;) {
			const char *e = strchr(s, '\n');
			size_t len = e ? (size_t)(e - s) : strlen(s);
			char *line = gu_malloc(len + 1);
			if (!line) goto fail;
			memcpy(line, s, len);
			line[len] = 0;
			m->prov[m->n_prov++] = line;
			if (!e) break;
			s = e + 1;
		}
	}
	/* tensors: exactly the layout of hp */
	if (f->n != m->n_tensors) {
		gu_err(GU_EFORMAT, "%s: %d tensors, the hyperparameters give %d", path, f->n,
		       m->n_tensors);
		goto fail;
	}
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		const gu_st_tensor *s = gu_st_get(f, t->name);
		if (!s) {
			gu_err(GU_EFORMAT, "%s: tensor %s missing", path, t->name);
			goto fail;
		}
		int same = strcmp(s->dtype, "F32") == 0 && s->ndim == t->ndim;
		for (int d = 0; same && d < t->ndim; d++) same = s->shape[d] == t->shape[d];
		if (!same) {
			gu_err(GU_EFORMAT, "%s: tensor %s: dtype %s or shape differs from the "
			       "hyperparameters", path, t->name, s->dtype);
			goto fail;
		}
		float *x = gu_tensor_data(m, t);
		memcpy(x, s->data, t->numel * sizeof(float));
		for (size_t q = 0; q < t->numel; q++) {
#if HOST_BE
			uint32_t u;
			memcpy(&u, x + q, 4);
			u = __builtin_bswap32(u);
			memcpy(x + q, &u, 4);
#endif
			if (!isfinite(x[q])) {
				gu_err(GU_EFORMAT, "%s: tensor %s holds NaN or inf", path, t->name);
				goto fail;
			}
		}
	}
	free(codes);
	free(labels);
	free(lcopy);
	gu_st_free(f);
	return m;
fail:
	gu_model_free(m);
	if (vocab) gu_vocab_free(vocab);
	free(codes);
	free(labels);
	free(lcopy);
	gu_st_free(f);
	return NULL;
}
