/* seqfile.c: FASTA/FASTQ records through htslib (see seqfile.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/bgzf.h>
#include <htslib/kseq.h>
#include <htslib/kstring.h>

#include "common.h"
#include "seqfile.h"

/* kseq reads through this wrapper so a decompression error is seen as an error, not EOF */
typedef struct {
	BGZF *fp;
	int err;
} seqsrc;

static int seqsrc_read(seqsrc *s, void *buf, int n)
{
	ssize_t got = bgzf_read(s->fp, buf, (size_t)n);
	if (got < 0) s->err = 1, got = 0;
	return (int)got;
}

KSEQ_INIT(seqsrc *, seqsrc_read)

struct fl_seqfile_priv {
	seqsrc src;
	kseq_t *ks;
	int detected;      /* the format has been decided (at the first read) */
	kstring_t line, name; /* CSV: the current line, and its record name PATH:LINE */
};

#define CSV_HEADER "sequence,label"

/* Decides at the first read whether the input is CSV: its first line, looked at in the first
 * decompressed block without consuming it, is the header (or the caller asked for CSV). */
static void detect_format(fl_seqfile *f)
{
	fl_seqfile_priv *p = f->priv;
	p->detected = 1;
	int c = bgzf_peek(p->src.fp);
	if (c == -2) fl_die("%s: read error: truncated or corrupted compressed input", f->path);
	if (c < 0) return; /* empty: kseq reports it */
	const char *b = (const char *)p->src.fp->uncompressed_block + p->src.fp->block_offset;
	int n = p->src.fp->block_length - p->src.fp->block_offset, e = 0;
	while (e < n && b[e] != '\n') e++;
	int l = e > 0 && b[e - 1] == '\r' ? e - 1 : e;
	int is_header = l == (int)strlen(CSV_HEADER) && memcmp(b, CSV_HEADER, (size_t)l) == 0;
	if (is_header) f->csv = 1;
	else if (f->csv || (c != '>' && c != '@' && memchr(b, ',', (size_t)l)))
		fl_die("%s: line 1: CSV header '%.*s' is not '" CSV_HEADER "'", f->path, l > 60 ? 60 : l, b);
}

/* The next CSV record: 1, or 0 at the end. */
static int csv_read(fl_seqfile *f)
{
	fl_seqfile_priv *p = f->priv;
	int dret;
	if (f->line == 0) { /* the header, checked by detect_format */
		if (ks_getuntil(p->ks->f, KS_SEP_LINE, &p->line, &dret) < 0) fl_die("%s: read error", f->path);
		f->line = 1;
	}
	if (ks_getuntil(p->ks->f, KS_SEP_LINE, &p->line, &dret) < 0) {
		if (p->src.err) fl_die("%s: read error: truncated or corrupted compressed input", f->path);
		if (bgzf_compression(p->src.fp) == 2 && bgzf_check_EOF(p->src.fp) == 0)
			fl_die("%s: truncated BGZF file (no EOF block)", f->path);
		if (f->n_records == 0) fl_die("%s: no records after the CSV header", f->path);
		return 0;
	}
	/* a line cut by a decompression error is not a record */
	if (p->src.err) fl_die("%s: read error: truncated or corrupted compressed input", f->path);
	unsigned long long ln = ++f->line;
	char *s = p->line.s;
	size_t len = p->line.l;
	if (len == 0) fl_die("%s: line %llu: empty line (want SEQUENCE,LABEL)", f->path, ln);
	char *comma = memchr(s, ',', len);
	if (!comma) fl_die("%s: line %llu: no label (want SEQUENCE,LABEL)", f->path, ln);
	if (memchr(comma + 1, ',', len - (size_t)(comma + 1 - s)))
		fl_die("%s: line %llu: more than two fields (want SEQUENCE,LABEL)", f->path, ln);
	*comma = '\0';
	if (comma == s) fl_die("%s: line %llu: empty sequence", f->path, ln);
	if (comma + 1 == s + len) fl_die("%s: line %llu: empty label", f->path, ln);
	p->name.l = 0;
	if (ksprintf(&p->name, "%s:%llu", f->path, ln) < 0) fl_die("out of memory");
	f->name = p->name.s;
	f->comment = NULL;
	f->seq = s;
	f->len = (size_t)(comma - s);
	f->label = comma + 1;
	f->n_records++;
	return 1;
}

fl_seqfile *fl_seq_open(const char *path, int threads)
{
	fl_seqfile *f = calloc(1, sizeof *f);
	fl_seqfile_priv *p = calloc(1, sizeof *p);
	if (!f || !p) fl_die("out of memory");
	f->path = path;
	f->priv = p;
	errno = 0;
	p->src.fp = strcmp(path, "-") == 0 ? bgzf_dopen(0, "r") : bgzf_open(path, "r");
	if (!p->src.fp) fl_die("%s: cannot open: %s", path, errno ? strerror(errno) : "unreadable");
	if (threads > 1 && bgzf_compression(p->src.fp) == 2) bgzf_mt(p->src.fp, threads, 64);
	if (!(p->ks = kseq_init(&p->src))) fl_die("out of memory");
	return f;
}

int fl_seq_read(fl_seqfile *f)
{
	fl_seqfile_priv *p = f->priv;
	if (!p->detected) detect_format(f);
	if (f->csv) return csv_read(f);
	kseq_t *ks = p->ks;
	int ret = kseq_read(ks);
	if (ret >= 0) {
		f->name = ks->name.s;
		f->comment = ks->comment.l ? ks->comment.s : NULL;
		f->seq = ks->seq.s;
		f->len = ks->seq.l;
		f->n_records++;
		return 1;
	}
	if (p->src.err) fl_die("%s: read error: truncated or corrupted compressed input", f->path);
	if (ret == -2) fl_die("%s: sequence %s: truncated or mismatched quality string (FASTQ)", f->path, ks->name.s);
	if (ret < -1) fl_die("%s: malformed input", f->path);
	if (bgzf_compression(p->src.fp) == 2 && bgzf_check_EOF(p->src.fp) == 0)
		fl_die("%s: truncated BGZF file (no EOF block)", f->path);
	/* no '>' or '@' at all: empty input or not FASTA/FASTQ */
	if (f->n_records == 0) fl_die("%s: no FASTA/FASTQ records (empty input or wrong format)", f->path);
	return 0;
}

void fl_seq_close(fl_seqfile *f)
{
	if (!f) return;
	kseq_destroy(f->priv->ks);
	free(f->priv->line.s);
	free(f->priv->name.s);
	if (bgzf_close(f->priv->src.fp) < 0) fl_die("%s: error closing input", f->path);
	free(f->priv);
	free(f);
}
