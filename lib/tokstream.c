/* tokstream.c: the binary token stream (format: man/tokstream.5).
 *
 * Physical layer: a file is a sequence of streams, each either raw or one zstd frame (or several
 * frames); readers tell them apart by magic at every stream start, so `cat a.tok b.tok` works.
 * Logical layer: header, records ('R'), label declarations ('L'), end record ('E') with totals
 * and a CRC-32 of every logical byte before it.
 *
 * Records are stored packed when the tokens overlap consistently (always, for fa2kmer output):
 * the k bases of the first token, then the last d = min(stride, k) bases of every further token,
 * 2 bits a base, plus the runs of unknown tokens. That is ~2 bits per base for any k, which is
 * what makes a stride-1 stream smaller than the gzip FASTA. Other token arrays fall back to raw
 * fixed-width codes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "gulm.h"

#define TOK_MAGIC "GUTK"
#define TOK_VERSION 1
#define ZSTD_MAGIC 0xFD2FB528u
#define NO_LABEL 0xFFFFu
#define MAX_LABELS 65535
#define ENC_RAW 0
#define ENC_PACKED 1

static int token_width(int k) { return k <= 3 ? 1 : k <= 7 ? 2 : 4; }

static inline void put16(unsigned char *p, uint32_t v) { p[0] = v & 0xff, p[1] = v >> 8 & 0xff; }
static inline void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) p[i] = v >> (8 * i) & 0xff;
}
static inline void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) p[i] = v >> (8 * i) & 0xff;
}
static inline uint32_t get16(const unsigned char *p) { return p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t get32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get64(const unsigned char *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* ================================ reader ================================================ */

enum { SRC_NONE, SRC_RAW, SRC_ZSTD };

struct gu_tokreader {
	char *path;
	FILE *fp;
	int own_fp;
	/* physical input */
	unsigned char *in;
	size_t in_pos, in_len, in_cap;
	int in_eof;
	/* decoding */
	int mode;
	ZSTD_DCtx *dctx;
	unsigned char *dec;
	size_t dec_pos, dec_len, dec_cap;
	int frame_done; /* last ZSTD_decompressStream call finished a frame */
	/* logical stream */
	int k, stride, width, have_header, n_streams;
	uint32_t crc;
	uint64_t n_rec, n_tok;          /* in the current stream */
	uint64_t rec_total;             /* over all streams, for messages */
	int n_labels;                   /* unified label table */
	char **labels;
	int *map;                       /* current stream's label id -> unified id */
	int n_map;
	/* record buffers */
	char *name;
	unsigned char *payload;
	size_t payload_cap;
	uint32_t *tok;
	size_t tok_cap;
	unsigned char *bases;
	size_t bases_cap;
	int failed;
};

static int rd_fail(gu_tokreader *r, int code, const char *what)
{
	r->failed = 1;
	if (r->have_header && r->rec_total > 0)
		return gu_err(code, "%s: after record %llu: %s", r->path, (unsigned long long)r->rec_total, what);
	return gu_err(code, "%s: %s", r->path, what);
}

/* Makes at least want (<= in_cap) physical bytes available if the file has them. */
static int phys_fill(gu_tokreader *r, size_t want)
{
	if (r->in_len - r->in_pos >= want || r->in_eof) return 0;
	if (r->in_pos > 0) {
		memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
		r->in_len -= r->in_pos, r->in_pos = 0;
	}
	while (r->in_len < want && !r->in_eof) {
		size_t got = fread(r->in + r->in_len, 1, r->in_cap - r->in_len, r->fp);
		r->in_len += got;
		if (got == 0) {
			if (ferror(r->fp)) return rd_fail(r, GU_EIO, strerror(errno));
			r->in_eof = 1;
		}
	}
	return 0;
}

/* At a stream start: picks raw or zstd by magic. Returns 1 data follows, 0 clean EOF, < 0. */
static int zstd_more(gu_tokreader *r);

static int src_begin(gu_tokreader *r)
{
	if (r->mode == SRC_ZSTD) {
		/* more in this frame, or in zstd frames right behind it? */
		if (r->dec_pos < r->dec_len) return 1;
		int ret = zstd_more(r);
		if (ret != 0) return ret < 0 ? ret : 1;
	}
	int ret = phys_fill(r, 4);
	if (ret < 0) return ret;
	size_t avail = r->in_len - r->in_pos;
	if (avail == 0) return 0;
	if (avail >= 4 && get32(r->in + r->in_pos) == ZSTD_MAGIC) {
		if (!r->dctx && !(r->dctx = ZSTD_createDCtx())) return rd_fail(r, GU_ENOMEM, "cannot create zstd context");
		ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
		r->mode = SRC_ZSTD;
		r->frame_done = 0;
		r->dec_pos = r->dec_len = 0;
	} else {
		r->mode = SRC_RAW;
	}
	return 1;
}

/* Decodes more zstd output into dec. Returns bytes produced (0 at a clean end of frames). */
static int zstd_more(gu_tokreader *r)
{
	r->dec_pos = r->dec_len = 0;
	for (;;) {
		if (r->frame_done) {
			/* between frames: continue only if another zstd frame follows directly */
			int ret = phys_fill(r, 4);
			if (ret < 0) return ret;
			if (r->in_len - r->in_pos < 4 || get32(r->in + r->in_pos) != ZSTD_MAGIC) return 0;
			r->frame_done = 0;
		}
		int ret = phys_fill(r, 1);
		if (ret < 0) return ret;
		if (r->in_len == r->in_pos) return rd_fail(r, GU_EFORMAT, "truncated zstd data");
		ZSTD_inBuffer ib = {r->in, r->in_len, r->in_pos};
		ZSTD_outBuffer ob = {r->dec, r->dec_cap, 0};
		size_t z = ZSTD_decompressStream(r->dctx, &ob, &ib);
		r->in_pos = ib.pos;
		if (ZSTD_isError(z)) {
			char msg[256];
			snprintf(msg, sizeof msg, "corrupted zstd data: %s", ZSTD_getErrorName(z));
			return rd_fail(r, GU_EFORMAT, msg);
		}
		if (z == 0) r->frame_done = 1;
		if (ob.pos > 0) {
			r->dec_len = ob.pos;
			return (int)(ob.pos > 0x7fffffff ? 0x7fffffff : ob.pos);
		}
	}
}

/* Reads exactly n logical bytes. Returns 0, or < 0 (truncation is an error here: callers
 * only call it where data must follow). */
static int src_read(gu_tokreader *r, void *dst, size_t n)
{
	unsigned char *d = dst;
	while (n > 0) {
		size_t take;
		if (r->mode == SRC_ZSTD) {
			if (r->dec_pos == r->dec_len) {
				int ret = zstd_more(r);
				if (ret < 0) return ret;
				if (ret == 0) return rd_fail(r, GU_EFORMAT, "truncated stream (no end record)");
			}
			take = r->dec_len - r->dec_pos;
			if (take > n) take = n;
			memcpy(d, r->dec + r->dec_pos, take);
			r->dec_pos += take;
		} else {
			int ret = phys_fill(r, 1);
			if (ret < 0) return ret;
			if (r->in_len == r->in_pos) return rd_fail(r, GU_EFORMAT, "truncated stream (no end record)");
			take = r->in_len - r->in_pos;
			if (take > n) take = n;
			memcpy(d, r->in + r->in_pos, take);
			r->in_pos += take;
		}
		r->crc = gu_crc32(r->crc, d, take);
		d += take, n -= take;
	}
	return 0;
}

static int add_label(gu_tokreader *r, const char *name, size_t len)
{
	for (int i = 0; i < r->n_labels; i++)
		if (strlen(r->labels[i]) == len && memcmp(r->labels[i], name, len) == 0) return i;
	if (r->n_labels >= MAX_LABELS) return rd_fail(r, GU_EFORMAT, "too many labels");
	char **l = gu_realloc(r->labels, (r->n_labels + 1) * sizeof *l);
	if (!l) return GU_ENOMEM;
	r->labels = l;
	if (!(l[r->n_labels] = gu_malloc(len + 1))) return GU_ENOMEM;
	memcpy(l[r->n_labels], name, len);
	l[r->n_labels][len] = '\0';
	return r->n_labels++;
}

/* Reads one label (u16 len + bytes) and maps the stream's next id to the unified table. */
static int read_label(gu_tokreader *r)
{
	unsigned char b[2];
	char name[65536];
	int ret = src_read(r, b, 2);
	if (ret < 0) return ret;
	uint32_t len = get16(b);
	if (len == 0) return rd_fail(r, GU_EFORMAT, "empty label name");
	if ((ret = src_read(r, name, len)) < 0) return ret;
	if (memchr(name, '\0', len) || memchr(name, '\t', len) || memchr(name, '\n', len))
		return rd_fail(r, GU_EFORMAT, "label name holds a NUL, tab or newline");
	int id = add_label(r, name, len);
	if (id < 0) return id;
	int *m = gu_realloc(r->map, (r->n_map + 1) * sizeof *m);
	if (!m) return GU_ENOMEM;
	r->map = m;
	r->map[r->n_map++] = id;
	return 0;
}

static int read_header(gu_tokreader *r)
{
	unsigned char h[12];
	r->crc = 0;
	int ret = src_read(r, h, 12);
	if (ret < 0) return r->n_streams == 0 && r->mode == SRC_RAW ? rd_fail(r, GU_EFORMAT, "not a token stream (too short)") : ret;
	if (memcmp(h, TOK_MAGIC, 4) != 0)
		return rd_fail(r, GU_EFORMAT, r->n_streams ? "trailing data after the end record is not a token stream" : "not a token stream (bad magic)");
	if (h[4] != TOK_VERSION) {
		char msg[96];
		snprintf(msg, sizeof msg, "unsupported token stream version %u (this reader knows %d)", h[4], TOK_VERSION);
		return rd_fail(r, GU_EFORMAT, msg);
	}
	int k = h[5], stride = (int)get16(h + 6), width = h[8];
	if (k < 1 || k > GU_KMAX || stride < 1 || width != token_width(k)) return rd_fail(r, GU_EFORMAT, "bad header (k, stride or token width out of range)");
	if (r->n_streams > 0 && (k != r->k || stride != r->stride)) {
		char msg[160];
		snprintf(msg, sizeof msg, "concatenated stream has k=%d stride=%d, the first had k=%d stride=%d", k, stride, r->k, r->stride);
		return rd_fail(r, GU_EARG, msg);
	}
	r->k = k, r->stride = stride, r->width = width;
	r->n_map = 0;
	r->n_rec = r->n_tok = 0;
	uint32_t nl = get16(h + 10);
	for (uint32_t i = 0; i < nl; i++)
		if ((ret = read_label(r)) < 0) return ret;
	r->have_header = 1;
	r->n_streams++;
	return 0;
}

static gu_tokreader *tok_open(FILE *fp, int own, const char *path)
{
	gu_tokreader *r = gu_calloc(1, sizeof *r);
	if (!r) {
		if (own) fclose(fp);
		return NULL;
	}
	r->fp = fp, r->own_fp = own;
	r->path = gu_strdup(path);
	r->in_cap = 1 << 17;
	r->in = gu_malloc(r->in_cap);
	r->dec_cap = ZSTD_DStreamOutSize();
	r->dec = gu_malloc(r->dec_cap);
	if (!r->path || !r->in || !r->dec) goto fail;
	int ret = src_begin(r);
	if (ret == 0) {
		gu_err(GU_EFORMAT, "%s: empty input (not a token stream)", path);
		goto fail;
	}
	if (ret < 0 || read_header(r) < 0) goto fail;
	return r;
fail:
	gu_tok_close(r);
	return NULL;
}

gu_tokreader *gu_tok_open_file(FILE *fp, const char *name) { return tok_open(fp, 0, name); }

gu_tokreader *gu_tok_open(const char *path)
{
	if (strcmp(path, "-") == 0) return tok_open(stdin, 0, path);
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		gu_err(GU_EIO, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	return tok_open(fp, 1, path);
}

/* Unpacks a packed payload (bases, u32 run count, runs) into r->tok (n tokens). */
static int unpack(gu_tokreader *r, const unsigned char *p, size_t len, uint64_t n)
{
	const int k = r->k, d = r->stride < k ? r->stride : k;
	const uint32_t unk = gu_kmer_unknown(k);
	uint64_t nb = n ? (uint64_t)k + (n - 1) * (uint64_t)d : 0, nbytes = (nb + 3) / 4;
	if (len < nbytes + 4) return rd_fail(r, GU_EFORMAT, "corrupted record (packed payload too short)");
	uint64_t runs = get32(p + nbytes);
	if (len != nbytes + 4 + 8 * runs) return rd_fail(r, GU_EFORMAT, "corrupted record (payload length disagrees with its token count)");
	const unsigned char *rp = p + nbytes + 4;
	/* roll a code over the bases; emit at the end of each token */
	const uint32_t mask = unk - 1;
	uint32_t code = 0;
	uint64_t j = 0, next = (uint64_t)k - 1, i = 0;
	for (uint64_t byte = 0; byte < nbytes; byte++) {
		unsigned b = p[byte];
		for (int sh = 6; sh >= 0 && i < nb; sh -= 2, i++) {
			code = ((code << 2) | (b >> sh & 3)) & mask;
			if (i == next) r->tok[j++] = code, next += (uint64_t)d;
		}
	}
	if (nb & 3 && (p[nbytes - 1] & ((1u << (2 * (4 - (nb & 3)))) - 1)) != 0)
		return rd_fail(r, GU_EFORMAT, "corrupted record (nonzero padding bits)");
	uint64_t prev_end = 0;
	for (uint64_t q = 0; q < runs; q++) {
		uint64_t s = get32(rp + 8 * q), l = get32(rp + 8 * q + 4);
		if (l == 0 || s < prev_end || s + l > n) return rd_fail(r, GU_EFORMAT, "corrupted record (bad unknown-token run)");
		for (uint64_t t = s; t < s + l; t++) r->tok[t] = unk;
		prev_end = s + l;
	}
	return 0;
}

int gu_tok_read(gu_tokreader *r, gu_record *rec)
{
	if (r->failed) return GU_EFORMAT;
	for (;;) {
		if (!r->have_header) {
			int ret = src_begin(r);
			if (ret <= 0) return ret; /* 0: clean end of all streams */
			if ((ret = read_header(r)) < 0) return ret;
		}
		unsigned char type;
		int ret = src_read(r, &type, 1);
		if (ret < 0) return ret;
		if (type == 'L') {
			unsigned char b[2];
			if ((ret = src_read(r, b, 2)) < 0) return ret;
			if (get16(b) != (uint32_t)r->n_map) return rd_fail(r, GU_EFORMAT, "label declared out of order");
			if ((ret = read_label(r)) < 0) return ret;
			continue;
		}
		if (type == 'E') {
			unsigned char e[20];
			uint32_t crc = r->crc;
			if ((ret = src_read(r, e, 20)) < 0) return ret;
			if (get32(e + 16) != gu_crc32(crc, e, 16)) return rd_fail(r, GU_EFORMAT, "checksum mismatch (corrupted stream)");
			if (get64(e) != r->n_rec || get64(e + 8) != r->n_tok) return rd_fail(r, GU_EFORMAT, "end record totals disagree with the records read");
			r->have_header = 0;
			continue;
		}
		if (type != 'R') return rd_fail(r, GU_EFORMAT, "corrupted stream (unknown record type)");
		unsigned char h[2];
		if ((ret = src_read(r, h, 2)) < 0) return ret;
		uint32_t name_len = get16(h);
		char *nm = gu_realloc(r->name, name_len + 1);
		if (!nm) return GU_ENOMEM;
		r->name = nm;
		if ((ret = src_read(r, r->name, name_len)) < 0) return ret;
		r->name[name_len] = '\0';
		if (memchr(r->name, '\0', name_len)) return rd_fail(r, GU_EFORMAT, "corrupted record (NUL in name)");
		unsigned char f[19];
		if ((ret = src_read(r, f, 19)) < 0) return ret;
		uint32_t label = get16(f);
		int enc = f[2];
		uint64_t n = get64(f + 3), plen = get64(f + 11);
		if (label != NO_LABEL && label >= (uint32_t)r->n_map) return rd_fail(r, GU_EFORMAT, "corrupted record (undeclared label)");
		if (enc == ENC_RAW) {
			if (plen != n * (uint64_t)r->width || n > (uint64_t)1 << 40) return rd_fail(r, GU_EFORMAT, "corrupted record (payload length disagrees with its token count)");
		} else if (enc == ENC_PACKED) {
			/* n tokens need at least (k + (n-1)d)/4 payload bytes; bounds the allocation */
			if (plen < 4 || plen > (uint64_t)1 << 40 || (n > 0 && (n - 1) / 4 > plen)) return rd_fail(r, GU_EFORMAT, "corrupted record (payload length disagrees with its token count)");
		} else {
			return rd_fail(r, GU_EFORMAT, "corrupted record (unknown encoding)");
		}
		/* grow the payload buffer as data arrives, so a corrupted length cannot make us
		 * allocate far more than the input holds */
		size_t have = 0;
		while (have < plen) {
			size_t want = (size_t)plen - have, chunk = want < (1u << 24) ? want : (1u << 24);
			if (have + chunk > r->payload_cap) {
				size_t cap = r->payload_cap ? r->payload_cap : 4096;
				while (cap < have + chunk) cap *= 2;
				unsigned char *p = gu_realloc(r->payload, cap);
				if (!p) return GU_ENOMEM;
				r->payload = p, r->payload_cap = cap;
			}
			if ((ret = src_read(r, r->payload + have, chunk)) < 0) return ret;
			have += chunk;
		}
		if (n > r->tok_cap) {
			uint32_t *t = gu_realloc(r->tok, (size_t)n * sizeof *t);
			if (!t) return GU_ENOMEM;
			r->tok = t, r->tok_cap = (size_t)n;
		}
		const uint32_t unk = gu_kmer_unknown(r->k);
		if (enc == ENC_RAW) {
			const unsigned char *p = r->payload;
			for (uint64_t i = 0; i < n; i++) {
				uint32_t c = r->width == 1 ? p[i] : r->width == 2 ? get16(p + 2 * i) : get32(p + 4 * i);
				if (c > unk) return rd_fail(r, GU_EFORMAT, "corrupted record (token code out of range)");
				r->tok[i] = c;
			}
		} else if ((ret = unpack(r, r->payload, (size_t)plen, n)) < 0) {
			return ret;
		}
		r->n_rec++, r->n_tok += n, r->rec_total++;
		rec->name = r->name;
		rec->label = label == NO_LABEL ? -1 : r->map[label];
		rec->n = (size_t)n;
		rec->tok = r->tok;
		return 1;
	}
}

int gu_tok_k(const gu_tokreader *r) { return r->k; }
int gu_tok_stride(const gu_tokreader *r) { return r->stride; }
int gu_tok_n_labels(const gu_tokreader *r) { return r->n_labels; }
const char *gu_tok_label(const gu_tokreader *r, int id) { return id >= 0 && id < r->n_labels ? r->labels[id] : NULL; }
const char *gu_tok_path(const gu_tokreader *r) { return r->path; }

void gu_tok_close(gu_tokreader *r)
{
	if (!r) return;
	if (r->own_fp && r->fp) fclose(r->fp);
	ZSTD_freeDCtx(r->dctx);
	for (int i = 0; i < r->n_labels; i++) free(r->labels[i]);
	free(r->labels);
	free(r->map);
	free(r->in);
	free(r->dec);
	free(r->name);
	free(r->payload);
	free(r->tok);
	free(r->bases);
	free(r->path);
	free(r);
}

/* ================================ writer ================================================ */

struct gu_tokwriter {
	gu_out *out;
	int k, stride, width, level;
	ZSTD_CCtx *cctx;
	unsigned char *buf; /* logical bytes not yet compressed */
	size_t len, cap;
	unsigned char *zbuf;
	size_t zcap;
	uint32_t crc;
	int header_done, failed;
	int n_labels, n_declared; /* n_declared: labels already in the output */
	char **labels;
	uint64_t n_rec, n_tok;
	unsigned char *pk; /* packed bases scratch */
	size_t pk_cap;
	unsigned char *runs; /* unknown runs, 8 bytes each (start, length) */
	size_t n_runs, runs_cap;
};

static int runs_push(gu_tokwriter *w, size_t start, size_t len)
{
	if (w->n_runs == w->runs_cap) {
		size_t cap = w->runs_cap ? 2 * w->runs_cap : 64;
		unsigned char *p = gu_realloc(w->runs, 8 * cap);
		if (!p) return GU_ENOMEM;
		w->runs = p, w->runs_cap = cap;
	}
	put32(w->runs + 8 * w->n_runs, (uint32_t)start);
	put32(w->runs + 8 * w->n_runs + 4, (uint32_t)len);
	w->n_runs++;
	return 0;
}

static int wr_flush(gu_tokwriter *w, int end)
{
	if (w->failed) return GU_EIO;
	if (!w->cctx) {
		int ret = gu_out_write(w->out, w->buf, w->len);
		w->len = 0;
		if (ret < 0) w->failed = 1;
		return ret;
	}
	ZSTD_inBuffer ib = {w->buf, w->len, 0};
	for (;;) {
		ZSTD_outBuffer ob = {w->zbuf, w->zcap, 0};
		size_t z = ZSTD_compressStream2(w->cctx, &ob, &ib, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(z)) {
			w->failed = 1;
			return gu_err(GU_EIO, "%s: zstd: %s", gu_out_path(w->out), ZSTD_getErrorName(z));
		}
		if (gu_out_write(w->out, w->zbuf, ob.pos) < 0) {
			w->failed = 1;
			return GU_EIO;
		}
		if (end ? z == 0 : ib.pos == ib.size) break;
	}
	w->len = 0;
	return 0;
}

/* Appends logical bytes (checksummed). */
static int wr(gu_tokwriter *w, const void *p, size_t n)
{
	w->crc = gu_crc32(w->crc, p, n);
	while (n > 0) {
		if (w->len == w->cap) {
			int ret = wr_flush(w, 0);
			if (ret < 0) return ret;
		}
		size_t take = w->cap - w->len < n ? w->cap - w->len : n;
		memcpy(w->buf + w->len, p, take);
		w->len += take, p = (const unsigned char *)p + take, n -= take;
	}
	return 0;
}

static int wr_label(gu_tokwriter *w, const char *name)
{
	unsigned char b[2];
	size_t len = strlen(name);
	put16(b, (uint32_t)len);
	int ret = wr(w, b, 2);
	return ret < 0 ? ret : wr(w, name, len);
}

static int wr_header(gu_tokwriter *w)
{
	unsigned char h[12];
	memcpy(h, TOK_MAGIC, 4);
	h[4] = TOK_VERSION, h[5] = (unsigned char)w->k;
	put16(h + 6, (uint32_t)w->stride);
	h[8] = (unsigned char)w->width, h[9] = 0;
	put16(h + 10, (uint32_t)w->n_labels);
	int ret = wr(w, h, 12);
	for (int i = 0; i < w->n_labels && ret >= 0; i++) ret = wr_label(w, w->labels[i]);
	w->n_declared = w->n_labels;
	w->header_done = 1;
	return ret;
}

gu_tokwriter *gu_tokw_open(const char *path, int k, int stride, int level, int threads)
{
	if (k < 1 || k > GU_KMAX || stride < 1 || stride > 65535) {
		gu_err(GU_EARG, "k must be 1..%d and stride 1..65535 (got k=%d stride=%d)", GU_KMAX, k, stride);
		return NULL;
	}
	gu_tokwriter *w = gu_calloc(1, sizeof *w);
	if (!w) return NULL;
	w->k = k, w->stride = stride, w->width = token_width(k), w->level = level;
	w->cap = 1 << 20;
	w->buf = gu_malloc(w->cap);
	if (!w->buf) goto fail;
	if (level > 0) {
		w->zcap = ZSTD_CStreamOutSize();
		w->zbuf = gu_malloc(w->zcap);
		w->cctx = ZSTD_createCCtx();
		if (!w->zbuf || !w->cctx) {
			gu_err(GU_ENOMEM, "cannot create zstd context");
			goto fail;
		}
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
		if (threads > 0) ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, threads);
	}
	if (!(w->out = gu_out_open(path))) goto fail;
	return w;
fail:
	ZSTD_freeCCtx(w->cctx);
	free(w->buf);
	free(w->zbuf);
	free(w);
	return NULL;
}

int gu_tokw_label(gu_tokwriter *w, const char *name)
{
	for (int i = 0; i < w->n_labels; i++)
		if (strcmp(w->labels[i], name) == 0) return i;
	size_t len = strlen(name);
	if (len == 0 || len > 65535 || strpbrk(name, "\t\n"))
		return gu_err(GU_EARG, "invalid label name '%s' (empty, too long, or holds a tab or newline)", name);
	if (w->n_labels >= MAX_LABELS) return gu_err(GU_EARG, "too many labels");
	char **l = gu_realloc(w->labels, (w->n_labels + 1) * sizeof *l);
	if (!l) return GU_ENOMEM;
	w->labels = l;
	if (!(l[w->n_labels] = gu_strdup(name))) return GU_ENOMEM;
	return w->n_labels++;
}

/* Packs tok into w->pk: bases MSB-first, 4 a byte, then the unknown runs. Returns the payload
 * length, 0 when the tokens do not overlap consistently (caller falls back to raw), < 0 on
 * error. One pass: each known token appends the bases it adds beyond the previous known one. */
static int64_t pack(gu_tokwriter *w, const uint32_t *tok, size_t n)
{
	const int k = w->k, d = w->stride < k ? w->stride : k;
	const uint32_t unk = gu_kmer_unknown(k);
	if (n > 0xffffffffu) return 0; /* run fields are 32-bit: use raw */
	uint64_t nb = n ? (uint64_t)k + (uint64_t)(n - 1) * d : 0;
	size_t nbytes = (size_t)((nb + 3) / 4);
	if (nbytes + 8 > w->pk_cap) {
		unsigned char *p = gu_realloc(w->pk, nbytes + 8);
		if (!p) return GU_ENOMEM;
		w->pk = p, w->pk_cap = nbytes + 8;
	}
	unsigned char *bp = w->pk;
	uint64_t acc = 0; /* bit writer: nbits pending bits, MSB first */
	int nbits = 0;
	size_t nout = 0;
#define PUT_BITS(v, nb_)                                                         \
	do {                                                                     \
		acc = acc << (nb_) | (v), nbits += (nb_);                        \
		while (nbits >= 8) bp[nout++] = (unsigned char)(acc >> (nbits -= 8)); \
	} while (0)
	uint64_t set_upto = 0;
	uint32_t pc = 0; /* previous known code, covering bases [set_upto-k, set_upto) */
	size_t run_start = 0;
	w->n_runs = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = tok[i];
		if (c >= unk) {
			if (c > unk) return gu_err(GU_EARG, "token code %u out of range for k=%d", c, k);
			if (i == 0 || tok[i - 1] != unk) run_start = i;
			if (i + 1 == n || tok[i + 1] != unk) {
				if (runs_push(w, run_start, i + 1 - run_start) < 0) return GU_ENOMEM;
			}
			continue;
		}
		uint64_t start = (uint64_t)i * d;
		if (set_upto > start) {
			/* overlap with the previous known token: the shared bases must agree */
			int ov = (int)(set_upto - start);
			if ((pc & (uint32_t)(((uint64_t)1 << (2 * ov)) - 1)) != (c >> (2 * (k - ov)))) return 0;
			PUT_BITS(c & (uint32_t)(((uint64_t)1 << (2 * (k - ov))) - 1), 2 * (k - ov));
		} else {
			for (uint64_t gap = start - set_upto; gap > 0;) { /* bases no known token covers */
				int g = gap > 16 ? 16 : (int)gap;
				PUT_BITS(0, 2 * g);
				gap -= (uint64_t)g;
			}
			PUT_BITS(c, 2 * k);
		}
		pc = c;
		if (d < k) {
			/* the common case, known tokens back to back: each adds its last d bases; the
			 * writer flushes 32 bits at a time (at most 31 + 28 bits pending) */
			const uint32_t ovmask = ((uint32_t)1 << (2 * (k - d))) - 1, dmask = ((uint32_t)1 << (2 * d)) - 1;
			const int sh = 2 * d;
			while (i + 1 < n && tok[i + 1] < unk) {
				uint32_t c2 = tok[++i];
				if ((pc & ovmask) != (c2 >> sh)) return 0;
				acc = acc << sh | (c2 & dmask), nbits += sh;
				if (nbits >= 32) {
					nbits -= 32;
					uint32_t v = (uint32_t)(acc >> nbits);
					bp[nout] = (unsigned char)(v >> 24), bp[nout + 1] = (unsigned char)(v >> 16);
					bp[nout + 2] = (unsigned char)(v >> 8), bp[nout + 3] = (unsigned char)v;
					nout += 4;
				}
				pc = c2;
			}
			start = (uint64_t)i * d;
		}
		set_upto = start + (uint64_t)k;
	}
	for (uint64_t gap = nb - set_upto; gap > 0;) { /* trailing unknown tokens */
		int g = gap > 16 ? 16 : (int)gap;
		PUT_BITS(0, 2 * g);
		gap -= (uint64_t)g;
	}
	while (nbits >= 8) bp[nout++] = (unsigned char)(acc >> (nbits -= 8));
	if (nbits > 0) bp[nout++] = (unsigned char)(acc << (8 - nbits));
#undef PUT_BITS
	return (int64_t)nout;
}

int gu_tokw_write(gu_tokwriter *w, const char *name, int label, const uint32_t *tok, size_t n)
{
	if (w->failed) return GU_EIO;
	size_t name_len = strlen(name);
	if (name_len > 65535) return gu_err(GU_EARG, "record name longer than 65535 bytes");
	if (label >= w->n_labels || label < -1) return gu_err(GU_EARG, "label id %d not declared", label);
	int ret;
	if (!w->header_done && (ret = wr_header(w)) < 0) return ret;
	while (w->n_declared < w->n_labels) { /* labels discovered after the header */
		unsigned char b[3] = {'L', 0, 0};
		put16(b + 1, (uint32_t)w->n_declared);
		if ((ret = wr(w, b, 3)) < 0 || (ret = wr_label(w, w->labels[w->n_declared])) < 0) return ret;
		w->n_declared++;
	}
	int64_t blen = pack(w, tok, n), plen;
	if (blen < 0) return (int)blen;
	int enc = blen > 0 || n == 0 ? ENC_PACKED : ENC_RAW;
	if (enc == ENC_RAW) {
		const uint32_t unk = gu_kmer_unknown(w->k);
		for (size_t i = 0; i < n; i++)
			if (tok[i] > unk) return gu_err(GU_EARG, "record %s: token code %u out of range for k=%d", name, tok[i], w->k);
		plen = (int64_t)n * w->width;
	} else {
		plen = blen + 4 + 8 * (int64_t)w->n_runs;
	}
	unsigned char h[3];
	h[0] = 'R';
	put16(h + 1, (uint32_t)name_len);
	unsigned char f[19];
	put16(f, label < 0 ? NO_LABEL : (uint32_t)label);
	f[2] = (unsigned char)enc;
	put64(f + 3, n);
	put64(f + 11, (uint64_t)plen);
	if ((ret = wr(w, h, 3)) < 0 || (ret = wr(w, name, name_len)) < 0 || (ret = wr(w, f, 19)) < 0) return ret;
	if (enc == ENC_PACKED) {
		unsigned char b4[4];
		put32(b4, (uint32_t)w->n_runs);
		if ((ret = wr(w, w->pk, (size_t)blen)) >= 0 && (ret = wr(w, b4, 4)) >= 0)
			ret = wr(w, w->runs, 8 * w->n_runs);
	} else {
		unsigned char b[4 * 1024];
		size_t per = sizeof b / (size_t)w->width;
		for (size_t i = 0; i < n && ret >= 0; i += per) {
			size_t m = n - i < per ? n - i : per;
			for (size_t j = 0; j < m; j++) {
				if (w->width == 1) b[j] = (unsigned char)tok[i + j];
				else if (w->width == 2) put16(b + 2 * j, tok[i + j]);
				else put32(b + 4 * j, tok[i + j]);
			}
			ret = wr(w, b, m * (size_t)w->width);
		}
	}
	if (ret < 0) return ret;
	w->n_rec++, w->n_tok += n;
	return 0;
}

int gu_tokw_close(gu_tokwriter *w, int abort)
{
	int ret = 0;
	if (!abort && !w->failed) {
		if (!w->header_done) ret = wr_header(w);
		while (ret >= 0 && w->n_declared < w->n_labels) {
			unsigned char b[3] = {'L', 0, 0};
			put16(b + 1, (uint32_t)w->n_declared);
			if ((ret = wr(w, b, 3)) >= 0) ret = wr_label(w, w->labels[w->n_declared]);
			w->n_declared++;
		}
		if (ret >= 0) {
			unsigned char e[21];
			e[0] = 'E';
			put64(e + 1, w->n_rec);
			put64(e + 9, w->n_tok);
			ret = wr(w, e, 17);
			put32(e + 17, w->crc);
			if (ret >= 0) ret = wr(w, e + 17, 4);
		}
		if (ret >= 0) ret = wr_flush(w, 1);
	}
	if (w->failed && ret >= 0) ret = GU_EIO;
	int cret = gu_out_close(w->out, abort || ret < 0);
	if (ret >= 0) ret = cret;
	ZSTD_freeCCtx(w->cctx);
	for (int i = 0; i < w->n_labels; i++) free(w->labels[i]);
	free(w->labels);
	free(w->buf);
	free(w->zbuf);
	free(w->pk);
	free(w->runs);
	free(w);
	return ret;
}
