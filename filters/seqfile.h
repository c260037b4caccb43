/* seqfile.h: FASTA/FASTQ records (plain, gzip or BGZF; "-" is stdin) read through htslib's kseq,
 * shared by fa2kmer and the bench programs; and labelled sequences as CSV, the format public
 * benchmarks ship (GUE): a header line "sequence,label", then one SEQUENCE,LABEL line per record,
 * detected by that header (or required with csv = 1). Every kind of bad input is fatal (fl_die
 * naming the file, and the line for CSV): unopenable, truncated or corrupted compression, a BGZF
 * file without its EOF block, a FASTQ quality string that does not match, a CSV line without
 * exactly two non-empty fields, or a file with no record at all. */
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
	int csv;                      /* set before the first read: 1 = the input must be CSV; after
				       * it, 1 when the input is CSV */
	const char *label;            /* CSV: the record's label text; NULL for FASTA/FASTQ */
	unsigned long long line;      /* CSV: the record's line (the header is line 1); its name is
				       * PATH:LINE */
	fl_seqfile_priv *priv;
} fl_seqfile;

/* Opens path; threads > 1 decompress BGZF on that many threads. */
fl_seqfile *fl_seq_open(const char *path, int threads);
/* Reads the next record into f: 1, or 0 at the end of the input (after checking that it ended
 * cleanly and held a record). The fields stay valid until the next call. */
int fl_seq_read(fl_seqfile *f);
void fl_seq_close(fl_seqfile *f);
#endif
