/* test_tokstream.c: token stream round trips (packed and raw records, zstd and raw streams,
 * labels declared mid-stream, records of 0 and < k tokens, concatenation) and the reader's
 * behaviour on every truncation and on corrupted bytes; k-mer helpers; vocabulary. */
#include <string.h>
#include <unistd.h>

#include "gulm.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/gulm_tokXXXXXX";

typedef struct {
	char name[32];
	int label;
	size_t n;
	uint32_t *tok;
} rec_t;

/* tokens of a random sequence with some N runs: overlap-consistent, so stored packed */
static size_t seq_tokens(uint32_t *out, size_t len, int k, int s, gu_rng *rng)
{
	char seq[4096];
	for (size_t i = 0; i < len; i++) seq[i] = "ACGTN"[gu_rng_below(rng, 100) < 5 ? 4 : gu_rng_below(rng, 4)];
	return gu_kmer_tokenise(out, seq, len, k, s);
}

static void write_stream(const char *path, int k, int s, int level, rec_t *recs, int n, char **labels, int nl)
{
	gu_tokwriter *w = gu_tokw_open(path, k, s, level, 0);
	CHECK(w, "open writer: %s", gu_errmsg());
	/* declare half the labels before the header is written, half while writing */
	for (int i = 0; i < nl / 2; i++) CHECK(gu_tokw_label(w, labels[i]) == i, "label");
	for (int i = 0; i < n; i++) {
		if (i == n / 2)
			for (int j = nl / 2; j < nl; j++) CHECK(gu_tokw_label(w, labels[j]) == j, "late label");
		CHECK(gu_tokw_write(w, recs[i].name, recs[i].label, recs[i].tok, recs[i].n) == 0, "write: %s", gu_errmsg());
	}
	CHECK(gu_tokw_close(w, 0) == 0, "close: %s", gu_errmsg());
}

static int read_all(const char *path, rec_t *recs, int n, int reps, char **labels)
{
	gu_tokreader *r = gu_tok_open(path);
	CHECK(r, "open reader: %s", gu_errmsg());
	gu_record rec;
	int i = 0, ret;
	while ((ret = gu_tok_read(r, &rec)) > 0) {
		const rec_t *e = &recs[i % n];
		CHECK(strcmp(rec.name, e->name) == 0, "name %s vs %s", rec.name, e->name);
		CHECK(rec.n == e->n, "record %d: %zu tokens, want %zu", i, rec.n, e->n);
		CHECK(rec.n == 0 || memcmp(rec.tok, e->tok, rec.n * 4) == 0, "record %d tokens differ", i);
		if (e->label < 0) CHECK(rec.label == -1, "no label");
		else CHECK(strcmp(gu_tok_label(r, rec.label), labels[e->label]) == 0, "label name");
		i++;
	}
	CHECK(ret == 0, "read: %s", gu_errmsg());
	CHECK(i == n * reps, "read %d records, want %d", i, n * reps);
	gu_tok_close(r);
	return i;
}

static long file_size(const char *path)
{
	FILE *fp = fopen(path, "rb");
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fclose(fp);
	return n;
}

static unsigned char *slurp(const char *path, long *n)
{
	*n = file_size(path);
	unsigned char *b = malloc((size_t)*n);
	FILE *fp = fopen(path, "rb");
	CHECK(fread(b, 1, (size_t)*n, fp) == (size_t)*n, "read file");
	fclose(fp);
	return b;
}

/* Reading a damaged stream must end in an error, never a crash or garbage. Returns 1 if the
 * reader reported an error; *digest gets a CRC of everything read. */
static int read_digest(const unsigned char *buf, size_t n, uint32_t *digest)
{
	uint32_t d = 0;
	FILE *fp = fmemopen((void *)buf, n, "rb");
	if (n == 0) fp = fopen("/dev/null", "rb");
	gu_tokreader *r = gu_tok_open_file(fp, "damaged");
	int err = 0;
	if (!r) {
		err = 1;
	} else {
		gu_record rec;
		int ret;
		while ((ret = gu_tok_read(r, &rec)) > 0) {
			d = gu_crc32(d, rec.name, strlen(rec.name));
			d = gu_crc32(d, &rec.label, sizeof rec.label);
			d = gu_crc32(d, rec.tok, 4 * rec.n);
		}
		err = ret < 0;
		gu_tok_close(r);
	}
	fclose(fp);
	if (digest) *digest = d;
	return err;
}

static int read_damaged(const unsigned char *buf, size_t n) { return read_digest(buf, n, NULL); }

int main(void)
{
	CHECK(mkdtemp(tmpdir), "mkdtemp");
	char path[256], path2[256], cat[1024];
	gu_rng rng;
	gu_rng_seed(&rng, 7);

	/* k-mer helpers */
	char buf[32];
	CHECK(strcmp(gu_kmer_str(0x1b, 3, buf), "CGT") == 0, "kmer_str %s", buf);
	CHECK(gu_kmer_parse("CGT", 3) == 0x1b && gu_kmer_parse("cgt", 3) == 0x1b, "parse");
	CHECK(gu_kmer_parse("CNT", 3) == -1 && gu_kmer_parse("CGTA", 3) == -1, "parse rejects");
	CHECK(strcmp(gu_kmer_str(gu_kmer_unknown(4), 4, buf), "xxunk") == 0, "unk str");
	uint32_t t[16];
	CHECK(gu_kmer_tokenise(t, "ACGTNacgta", 10, 3, 1) == 8, "count");
	CHECK(t[0] == 6 && t[1] == 27 && t[2] == 64 && t[5] == 6 && t[7] == 44, "tokenise %u %u %u %u %u", t[0], t[1], t[2], t[5], t[7]);
	CHECK(gu_kmer_tokenise(t, "ACGTNACGTA", 10, 4, 3) == 3 && t[0] == 0x1b && t[1] == 256 && t[2] == 0x6c, "strided %u %u %u", t[0], t[1], t[2]);
	CHECK(gu_kmer_tokenise(t, "ACG", 3, 4, 1) == 0, "shorter than k");
	CHECK(gu_kmer_tokenise(t, "ACGTACGTAC", 10, 2, 5) == 2 && t[0] == 1 && t[1] == 6, "stride > k");
	{
		char rc[16];
		gu_kmer_revcomp(rc, "AACgtNRt-", 9);
		CHECK(memcmp(rc, "NANNACGTT", 9) == 0, "revcomp %.9s", rc);
		/* the k-mers of the reverse complement are the complements of the k-mers, reversed */
		uint32_t f[8], r[8];
		gu_kmer_revcomp(rc, "GATTACA", 7);
		CHECK(gu_kmer_tokenise(f, "GATTACA", 7, 3, 1) == 5 && gu_kmer_tokenise(r, rc, 7, 3, 1) == 5, "rc count");
		for (int i = 0; i < 5; i++) {
			uint32_t x = f[i], y = 0; /* reverse complement of a 3-mer code */
			for (int j = 0; j < 3; j++, x >>= 2) y = y << 2 | (3 - (x & 3));
			CHECK(r[4 - i] == y, "rc k-mer %d: %u vs %u", i, r[4 - i], y);
		}
	}

	char *labels[] = {"promoter", "nonpromoter", "mRNA", "lncRNA"};
	const int ks[][2] = {{3, 1}, {5, 2}, {8, 3}, {1, 1}, {15, 7}, {2, 5}, {4, 4}};
	for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++) {
		int k = ks[c][0], s = ks[c][1];
		enum { N = 12 };
		rec_t recs[N];
		for (int i = 0; i < N; i++) {
			snprintf(recs[i].name, sizeof recs[i].name, "rec%d", i);
			recs[i].label = i % 5 == 4 ? -1 : i < N / 2 ? i % 2 : i % 4;
			recs[i].tok = malloc(4096 * sizeof(uint32_t));
			size_t len = i == 0 ? 0 : i == 1 ? (size_t)k - 1 : i == 2 ? (size_t)k : 1 + gu_rng_below(&rng, 3000);
			recs[i].n = seq_tokens(recs[i].tok, len, k, s, &rng);
			if (i == 3 || i == 7) /* arbitrary codes: not overlap-consistent, stored raw */
				for (size_t j = 0; j < recs[i].n; j++) recs[i].tok[j] = (uint32_t)gu_rng_below(&rng, gu_kmer_unknown(k) + 1);
			if (i == 5) /* all unknown */
				for (size_t j = 0; j < recs[i].n; j++) recs[i].tok[j] = gu_kmer_unknown(k);
		}
		CHECK(recs[0].n == 0 && recs[1].n == 0 && recs[2].n == 1, "short records");
		for (int level = 0; level <= 3; level += 3) {
			snprintf(path, sizeof path, "%s/a%zu_%d.tok", tmpdir, c, level);
			write_stream(path, k, s, level, recs, N, labels, 4);
			read_all(path, recs, N, 1, labels);
			/* concatenation: raw + zstd + this, read as one stream */
			snprintf(path2, sizeof path2, "%s/b%zu_%d.tok", tmpdir, c, level);
			write_stream(path2, k, s, 3 - level, recs, N, labels, 4);
			snprintf(cat, sizeof cat, "cat %s %s %s > %s/cat.tok", path, path2, path, tmpdir);
			CHECK(system(cat) == 0, "cat");
			snprintf(cat, sizeof cat, "%s/cat.tok", tmpdir);
			read_all(cat, recs, N, 3, labels);
		}
		/* every truncation of a raw and a zstd stream is an error */
		for (int level = 0; level <= 3; level += 3) {
			snprintf(path, sizeof path, "%s/a%zu_%d.tok", tmpdir, c, level);
			long n;
			unsigned char *b = slurp(path, &n);
			long step = n > 3000 ? n / 1500 : 1;
			for (long cut = 0; cut < n; cut += step) CHECK(read_damaged(b, (size_t)cut), "k=%d level %d cut at %ld of %ld read cleanly", k, level, cut, n);
			/* flipped bits anywhere: detected (CRC, zstd checksum or format checks), or (in a
			 * zstd frame, where some bits do not affect the output) the very same records */
			uint32_t good, got;
			CHECK(!read_digest(b, (size_t)n, &good), "undamaged stream reads");
			for (int f = 0; f < 300; f++) {
				long at = (long)gu_rng_below(&rng, (uint64_t)n);
				unsigned char old = b[at];
				b[at] ^= (unsigned char)(1u << gu_rng_below(&rng, 8));
				CHECK(read_digest(b, (size_t)n, &got) || (level > 0 && got == good), "k=%d level %d flipped byte %ld undetected", k, level, at);
				b[at] = old;
			}
			free(b);
		}
		for (int i = 0; i < N; i++) free(recs[i].tok);
	}

	/* an empty stream (no records) round-trips; writer rejects bad codes and labels */
	snprintf(path, sizeof path, "%s/empty.tok", tmpdir);
	gu_tokwriter *w = gu_tokw_open(path, 4, 2, 3, 0);
	CHECK(w && gu_tokw_close(w, 0) == 0, "empty stream");
	gu_tokreader *r = gu_tok_open(path);
	gu_record rec;
	CHECK(r && gu_tok_k(r) == 4 && gu_tok_stride(r) == 2 && gu_tok_read(r, &rec) == 0, "empty read");
	gu_tok_close(r);
	snprintf(path, sizeof path, "%s/aborted.tok", tmpdir);
	w = gu_tokw_open(path, 2, 1, 0, 0);
	uint32_t bad[2] = {3, 17};
	CHECK(gu_tokw_write(w, "x", -1, bad, 2) == GU_EARG, "code out of range rejected");
	CHECK(gu_tokw_write(w, "x", 3, bad, 1) == GU_EARG, "undeclared label rejected");
	CHECK(gu_tokw_label(w, "a\tb") < 0, "tab in label rejected");
	CHECK(gu_tokw_close(w, 1) == 0 && access(path, F_OK) != 0, "aborted write leaves no file");
	CHECK(gu_tokw_open(path, 16, 1, 0, 0) == NULL, "k=16 rejected");

	/* vocabulary: order, limits, file round trip, lookups (dense and hashed k) */
	uint32_t codes[] = {5, 2, 9, 7, 1};
	uint64_t counts[] = {10, 30, 10, 1, 30};
	gu_vocab *v = gu_vocab_build(3, 1, codes, counts, 5, 4, 0, 2);
	CHECK(v && v->size == 7, "vocab size %d", v ? v->size : -1);
	CHECK(v->code[3] == 1 && v->code[4] == 2 && v->code[5] == 5 && v->code[6] == 9, "vocab order");
	CHECK(gu_vocab_id(v, 9) == 6 && gu_vocab_id(v, 7) == GU_UNK && gu_vocab_id(v, 64) == GU_UNK, "vocab lookup");
	snprintf(path, sizeof path, "%s/v.tsv", tmpdir);
	CHECK(gu_vocab_write(v, path) == 0, "vocab write");
	gu_vocab *v2 = gu_vocab_read(path);
	CHECK(v2 && v2->size == v->size && memcmp(v2->code, v->code, 4 * (size_t)v->size) == 0 && v2->count[1] == 4, "vocab read back");
	gu_vocab_free(v2);
	gu_vocab_free(v);
	v = gu_vocab_build(3, 1, codes, counts, 5, 0, 5, 1);
	CHECK(v && v->size == 5 && v->code[3] == 1 && v->code[4] == 2, "max_size");
	gu_vocab_free(v);
	uint32_t big[] = {1u << 28, 12345, 999999};
	v = gu_vocab_from_codes(15, 1, big, 3);
	CHECK(v && gu_vocab_id(v, 12345) == 4 && gu_vocab_id(v, 5) == GU_UNK && gu_vocab_id(v, gu_kmer_unknown(15)) == GU_UNK, "hashed lookup");
	gu_vocab_free(v);
	uint32_t dup[] = {3, 3};
	CHECK(gu_vocab_from_codes(3, 1, dup, 2) == NULL, "duplicate rejected");
	FILE *fp = fopen(path, "w");
	fputs("# gulm-vocab 1 k=3 stride=1 size=4\n0\txxpad\t0\n1\txxunk\t0\n2\txxbos\t0\n3\tACGT\t5\n", fp);
	fclose(fp);
	CHECK(gu_vocab_read(path) == NULL && strstr(gu_errmsg(), "line 5"), "bad k-mer: %s", gu_errmsg());

	snprintf(cat, sizeof cat, "rm -rf %s", getenv("KEEP") ? "/nonexistent" : tmpdir);
	CHECK(system(cat) == 0, "cleanup");
	return tu_done("test_tokstream");
}
