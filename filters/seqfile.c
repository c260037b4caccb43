/* seqfile.c: FASTA/FASTQ records through htslib (see seqfile.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/bgzf.h>
#include <htslib/kseq.h>

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
};

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
	if (bgzf_close(f->priv->src.fp) < 0) fl_die("%s: error closing input", f->path);
	free(f->priv);
	free(f);
}
