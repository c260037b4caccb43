/* seqfile.h: FASTA/FASTQ records (plain, gzip or BGZF; "-" is stdin) read through htslib's kseq,
 * shared by fa2kmer and the bench programs. Every kind of bad input is fatal (fl_die naming the
 * file): unopenable, truncated or corrupted compression, a BGZF file without its EOF block, a
 * FASTQ quality string that does not match, or a file with no record at all. */
#ifndef GU_SEQFILE_H
#define GU_SEQFILE_H
#include <stddef.h>

typedef struct fl_seqfile_priv fl_seqfile_priv;
typedef struct {
	const char *path;             /* as given, for messages */
	char *name, *comment;         /* of the current record; comment NULL when it has none */
	char *seq;                    /* its letters (len of them, NUL-terminated), changeable */
	size_t len;
	unsigned long long n_records; /* read so far */
	fl_seqfile_priv *priv;
} fl_seqfile;

/* Opens path; threads > 1 decompress BGZF on that many threads. */
fl_seqfile *fl_seq_open(const char *path, int threads);
/* Reads the next record into f: 1, or 0 at the end of the input (after checking that it ended
 * cleanly and held a record). The fields stay valid until the next call. */
int fl_seq_read(fl_seqfile *f);
void fl_seq_close(fl_seqfile *f);
#endif
