/* safetensors.c: a strict reader of the safetensors format (8-byte little-endian header length,
 * JSON header, raw little-endian tensor data) and model export/import through it, so a PyTorch
 * user can load a gulm model with the safetensors package. The JSON header is parsed and written
 * by libjansson; this file adds the format's own rules. Metadata keys in man/ulmmodel.5. */
#include <errno.h>
#include <jansson.h>
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

/* ---- reading the header ---------------------------------------------------------------- */

/* s cut to 64 bytes with control and non-ASCII bytes as '?', so that names and jansson's
 * "near '...'" excerpts of the input keep an error message on one printable line. */
static const char *printable(const char *s, char buf[static 68])
{
	size_t i = 0;
	for (; s[i] && i < 64; i++) buf[i] = s[i] < 0x20 || s[i] > 0x7e ? '?' : s[i];
	if (s[i]) buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
	buf[i] = 0;
	return buf;
}

/* A jansson parse error as a gulm one, at its byte in the file. */
static int json_fail(const char *path, const json_error_t *je)
{
	char t[68];
	const char *why;
	switch (json_error_code(je)) {
	case json_error_out_of_memory: return gu_err(GU_ENOMEM, "%s: out of memory", path);
	case json_error_duplicate_key: why = "a key appears twice: "; break;
	case json_error_end_of_input_expected: why = "trailing characters after the header object: ";
		break;
	case json_error_invalid_utf8: why = "invalid UTF-8: "; break;
	case json_error_null_character: why = "NUL character in a string: "; break;
	default: why = "";
	}
	return gu_err(GU_EFORMAT, "%s: bad safetensors header: %s%s at byte %llu", path, why,
		      printable(je->text, t), 8ull + (unsigned long long)je->position);
}

/* v as a JSON array of at most max non-negative integers. Returns its length, or -1. */
static int uint_array(const json_t *v, int64_t *a, int max)
{
	size_t i, n = json_array_size(v);
	json_t *x;
	if (!json_is_array(v) || n > (size_t)max) return -1;
	json_array_foreach(v, i, x) {
		if (!json_is_integer(x) || json_integer_value(x) < 0) return -1;
		a[i] = json_integer_value(x);
	}
	return (int)n;
}

/* Byte span of a tensor in the data area. */
typedef struct {
	uint64_t begin, end;
	int i; /* index in f->t */
} st_span;

/* {"dtype": "...", "shape": [...], "data_offsets": [begin, end]} into t and s; exactly these
 * three keys. */
static int tensor_entry(const char *path, const char *name, const json_t *v, gu_st_tensor *t,
			st_span *s)
{
	char nb[68], kb[68];
	const char *key, *bad = NULL;
	json_t *x;
	int have = 0;
	if (strlen(name) >= sizeof t->name) bad = "name longer than 127 bytes";
	else if (!json_is_object(v)) bad = "entry is not an object";
	else
		json_object_foreach((json_t *)v, key, x) {
			int64_t off[2];
			if (strcmp(key, "dtype") == 0) {
				const char *d = json_string_value(x);
				if (!d || strlen(d) >= sizeof t->dtype || !dtype_size(d))
					bad = "unknown dtype (or not a string)";
				else
					strcpy(t->dtype, d), have |= 1;
			} else if (strcmp(key, "shape") == 0) {
				if ((t->ndim = uint_array(x, t->shape, 8)) < 0)
					bad = "shape is not an array of at most 8 non-negative integers";
				have |= 2;
			} else if (strcmp(key, "data_offsets") == 0) {
				if (uint_array(x, off, 2) != 2)
					bad = "data_offsets is not two non-negative integers";
				else if (off[0] > off[1])
					bad = "data_offsets decrease";
				s->begin = (uint64_t)off[0], s->end = (uint64_t)off[1], have |= 4;
			} else {
				return gu_err(GU_EFORMAT, "%s: bad safetensors header: tensor %s: unknown "
					      "key '%s'", path, printable(name, nb), printable(key, kb));
			}
			if (bad) break;
		}
	if (!bad && have != 7) bad = "entry lacks dtype, shape or data_offsets";
	if (bad)
		return gu_err(GU_EFORMAT, "%s: bad safetensors header: tensor %s: %s", path,
			      printable(name, nb), bad);
	snprintf(t->name, sizeof t->name, "%s", name);
	uint64_t ds = (uint64_t)dtype_size(t->dtype), numel = 1, span = s->end - s->begin;
	int over = 0;
	for (int d = 0; d < t->ndim; d++) /* a zero dimension ends the product at 0 */
		if (numel && (uint64_t)t->shape[d] > UINT64_MAX / numel) over = 1;
		else numel *= (uint64_t)t->shape[d];
	if (!numel) over = 0;
	if (over || numel > UINT64_MAX / ds || numel * ds != span) {
		char shp[160];
		size_t sl = 0;
		shp[0] = 0;
		for (int d = 0; d < t->ndim && sl < sizeof shp - 24; d++)
			sl += (size_t)snprintf(shp + sl, sizeof shp - sl, "%s%lld", d ? "," : "",
					       (long long)t->shape[d]);
		return gu_err(GU_EFORMAT, "%s: tensor %s: %s of shape [%s] does not fill its %llu bytes "
			      "of data_offsets", path, t->name, t->dtype, shp, (unsigned long long)span);
	}
	if (span > SIZE_MAX / 2) return gu_err(GU_EFORMAT, "%s: tensor %s too large", path, t->name);
	t->nbytes = (size_t)span;
	return 0;
}

/* The "__metadata__" object: string values only, copied into f->meta_*. */
static int metadata(const char *path, const json_t *v, gu_st_file *f)
{
	const char *key;
	json_t *x;
	size_t n = json_object_size(v);
	if (!json_is_object(v))
		return gu_err(GU_EFORMAT, "%s: bad safetensors header: __metadata__ is not an object",
			      path);
	if (!(f->metadata_json = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER)) ||
	    !(f->meta_key = gu_calloc(n ? n : 1, sizeof(char *))) ||
	    !(f->meta_val = gu_calloc(n ? n : 1, sizeof(char *))))
		return gu_err(GU_ENOMEM, "%s: out of memory", path);
	json_object_foreach((json_t *)v, key, x) {
		char kb[68];
		if (!json_is_string(x))
			return gu_err(GU_EFORMAT, "%s: bad safetensors header: __metadata__ values must "
				      "be strings (key '%s')", path, printable(key, kb));
		f->meta_key[f->n_meta] = gu_strdup(key);
		f->meta_val[f->n_meta] = gu_strdup(json_string_value(x));
		if (!f->meta_key[f->n_meta++] || !f->meta_val[f->n_meta - 1]) return GU_ENOMEM;
	}
	return 0;
}

/* The header's JSON into f (tensors without data) and s (their spans, f->n of them). */
static int parse_header(const char *path, const char *hdr, size_t hlen, gu_st_file *f,
			st_span **s)
{
	json_error_t je;
	const char *key;
	json_t *x, *root;
	int r = 0;
	if (hdr[0] != '{')
		return gu_err(GU_EFORMAT, "%s: bad safetensors header: does not start with '{'", path);
	/* duplicate keys are refused in every object; \u0000 in strings too (no JSON_ALLOW_NUL) */
	if (!(root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &je))) return json_fail(path, &je);
	json_t *meta = json_object_get(root, "__metadata__");
	size_t n = json_object_size(root) - (meta != NULL);
	if (n > (size_t)INT32_MAX) r = gu_err(GU_EFORMAT, "%s: too many tensors", path);
	if (!r && meta) r = metadata(path, meta, f);
	if (!r && (!(f->t = gu_calloc(n ? n : 1, sizeof *f->t)) ||
		   !(*s = gu_calloc(n ? n : 1, sizeof **s))))
		r = GU_ENOMEM;
	if (!r)
		json_object_foreach(root, key, x) {
			if (x == meta) continue;
			if ((r = tensor_entry(path, key, x, &f->t[f->n], &(*s)[f->n])) < 0) break;
			(*s)[f->n].i = f->n, f->n++;
		}
	json_decref(root);
	return r;
}

static int cmp_span(const void *a, const void *b)
{
	const st_span *x = a, *y = b;
	if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

static void free_strs(char **a, int n)
{
	for (int i = 0; a && i < n; i++) free(a[i]);
	free(a);
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
	st_span *span = NULL;
	char *hdr = NULL;
	int ok = 0;
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
	if (!(f = gu_calloc(1, sizeof *f)) || parse_header(path, hdr, (size_t)hlen, f, &span) < 0)
		goto out;
	/* the tensors must lie in the data area and cover it exactly, in any header order */
	uint64_t data_len = fsize == UINT64_MAX ? UINT64_MAX : fsize - 8 - hlen, pos = 0;
	if (f->n) qsort(span, (size_t)f->n, sizeof *span, cmp_span);
	for (int i = 0; i < f->n; i++) {
		const char *name = f->t[span[i].i].name;
		if (span[i].end > data_len) {
			gu_err(GU_EFORMAT, "%s: tensor %s: data_offsets end %llu past the data (%llu "
			       "bytes)", path, name, (unsigned long long)span[i].end,
			       (unsigned long long)data_len);
			goto out;
		}
		if (span[i].begin != pos) {
			gu_err(GU_EFORMAT, "%s: tensor %s: data_offsets %s at byte %llu", path, name,
			       span[i].begin < pos ? "overlap" : "leave a gap", (unsigned long long)pos);
			goto out;
		}
		pos = span[i].end;
	}
	if (data_len != UINT64_MAX && pos != data_len) {
		gu_err(GU_EFORMAT, "%s: %llu bytes of tensor data but %llu in the file", path,
		       (unsigned long long)pos, (unsigned long long)data_len);
		goto out;
	}
	/* data read sequentially in offset order */
	for (int i = 0; i < f->n; i++) {
		gu_st_tensor *t = &f->t[span[i].i];
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
	free(span);
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

/* s joined with sep (NUL-terminated, malloc'd; "" for none); NULL when out of memory. */
static char *join(char *const *s, int n, char sep)
{
	size_t len = 1, k = 0;
	for (int i = 0; i < n; i++) len += strlen(s[i]) + 1;
	char *o = gu_malloc(len);
	for (int i = 0; o && i < n; i++) {
		if (i) o[k++] = sep;
		memcpy(o + k, s[i], strlen(s[i]));
		k += strlen(s[i]);
	}
	if (o) o[k] = 0;
	return o;
}

/* The header object: __metadata__ (fixed key order, string values), then the tensors in
 * layout order. NULL when out of memory. */
static json_t *export_header(const gu_model *m)
{
	const gu_hparams *hp = &m->hp;
	char km[32], *v = NULL, *s;
	size_t len = 1;
	json_t *root = json_object(), *meta = json_object();
	int r = !root || !meta || json_object_set(root, "__metadata__", meta) < 0;
	r |= json_object_set_new(meta, "format", json_string("gulm"));
	r |= json_object_set_new(meta, "gulm_version", json_string(GU_VERSION));
	r |= json_object_set_new(meta, "kind",
				 json_string(hp->kind == GU_MODEL_CLS ? "classifier" : "lm"));
	static const char *ik[] = {"k", "stride", "vocab_size", "emb", "hidden", "n_layers",
				   "n_lin", "n_classes", "bptt", "max_len"};
	const int32_t iv[] = {hp->k, hp->stride, hp->vocab_size, hp->emb, hp->hidden, hp->n_layers,
			      hp->n_lin, hp->n_classes, hp->bptt, hp->max_len};
	static const char *fk[] = {"output_p", "hidden_p", "input_p", "embed_p",
				   "weight_p", "drop_mult", "alpha",   "beta"};
	const float fv[] = {hp->output_p, hp->hidden_p, hp->input_p, hp->embed_p,
			    hp->weight_p, hp->drop_mult, hp->alpha, hp->beta};
	for (int i = 0; i < 10; i++)
		r |= json_object_set_new(meta, ik[i], json_sprintf("%d", iv[i]));
	for (int i = 0; i < 8; i++) /* 9 digits round-trip a float */
		r |= json_object_set_new(meta, fk[i], json_sprintf("%.9g", (double)fv[i]));
	/* only when not the kmer output, so kmer exports stay as they were */
	if (hp->lm_output == GU_LM_BASES)
		r |= json_object_set_new(meta, "lm_output", json_string("bases"));
	/* vocab: ids 3.. as k-mer strings, space-separated (specials are implied) */
	if ((v = gu_malloc(len + (size_t)(m->vocab->size - GU_N_SPECIAL) * (size_t)(hp->k + 1)))) {
		s = v;
		for (int32_t id = GU_N_SPECIAL; id < m->vocab->size; id++)
			s += sprintf(s, "%s%s", id > GU_N_SPECIAL ? " " : "",
				     gu_kmer_str(m->vocab->code[id], hp->k, km));
		*s = 0;
	}
	r |= json_object_set_new(meta, "vocab", v ? json_string(v) : NULL);
	free(v);
	s = join(m->labels, m->n_labels, '\t');
	r |= json_object_set_new(meta, "labels", s ? json_string(s) : NULL);
	free(s);
	s = join(m->prov, m->n_prov, '\n');
	r |= json_object_set_new(meta, "provenance", s ? json_string(s) : NULL);
	free(s);
	json_decref(meta);
	uint64_t off = 0;
	for (int i = 0; i < m->n_tensors && !r; i++) {
		const gu_tensor *t = &m->tensors[i];
		json_int_t a = t->shape[0], b = t->ndim == 2 ? t->shape[1] : 0, o = (json_int_t)off;
		json_int_t e = o + (json_int_t)t->numel * 4;
		r |= json_object_set_new(root, t->name,
					 t->ndim == 2 ? json_pack("{s:s,s:[I,I],s:[I,I]}", "dtype",
								  "F32", "shape", a, b,
								  "data_offsets", o, e)
						      : json_pack("{s:s,s:[I],s:[I,I]}", "dtype", "F32",
								  "shape", a, "data_offsets", o, e));
		off = (uint64_t)e;
	}
	if (r) json_decref(root);
	return r ? NULL : root;
}

int gu_model_export_safetensors(const gu_model *m, const char *path)
{
	/* json_string refuses invalid UTF-8; the separators must not occur inside an item */
	for (int i = 0; i < m->n_labels; i++) {
		json_t *t = json_string(m->labels[i]);
		json_decref(t);
		if (!t || strchr(m->labels[i], '\t'))
			return gu_err(GU_EARG, "%s: label %d is not valid UTF-8 or holds a tab", path, i);
	}
	for (int i = 0; i < m->n_prov; i++) {
		json_t *t = json_string(m->prov[i]);
		json_decref(t);
		if (!t || strchr(m->prov[i], '\n'))
			return gu_err(GU_EARG, "%s: provenance line %d is not valid UTF-8", path, i);
	}
	json_t *root = export_header(m);
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	size_t n = root ? json_dumpb(root, NULL, 0, flags) : 0;
	char *b = n ? gu_malloc(n + 8) : NULL;
	if (b && json_dumpb(root, b, n, flags) != n) free(b), b = NULL;
	json_decref(root);
	if (!b) return gu_err(GU_ENOMEM, "%s: out of memory", path);
	while ((8 + n) % 8) b[n++] = ' '; /* data starts 8-byte aligned */
	gu_out *o = gu_out_open(path);
	if (!o) {
		free(b);
		return GU_EIO;
	}
	unsigned char h8[8];
	for (int i = 0; i < 8; i++) h8[i] = (unsigned char)((uint64_t)n >> (8 * i));
	int r = gu_out_write(o, h8, 8);
	if (!r) r = gu_out_write(o, b, n);
	free(b);
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
	const char *lo = gu_st_meta(f, "lm_output"); /* absent: kmer (older exports) */
	if (lo && strcmp(lo, "kmer") != 0 && strcmp(lo, "bases") != 0) {
		gu_err(GU_EFORMAT, "%s: metadata \"lm_output\" is neither \"kmer\" nor \"bases\"", path);
		goto fail;
	}
	hp.lm_output = lo && strcmp(lo, "bases") == 0 ? GU_LM_BASES : GU_LM_KMER;
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
