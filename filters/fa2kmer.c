/* fa2kmer: FASTA/FASTQ (plain, gzip, BGZF) -> binary k-mer token stream. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/faidx.h>
#include <htslib/hts.h>

#include "common.h"
#include "seqfile.h"

enum { N_KEEP, N_SPLIT, N_DROP };
/* --strand: bit 0 the sequence as read, bit 1 its reverse complement */
enum { STRAND_FWD = 1, STRAND_REV = 2, STRAND_BOTH = 3 };

typedef struct {
	int k, stride, level, threads, n_mode, label_from_header, skip_short, strand;
	int phases; /* --phases: every record at each offset 0..stride-1, not only 0 */
	long chunk, min_len;
	long head, tail; /* --head, --tail: only the first or last bases of each sequence, 0 = all */
	long window, step; /* --window, --step: windows [i, i+window) for i = 0, step, ...; 0 = off */
	const char *out, *region;
	int n_labels;
	char **labels; /* -l, one for all inputs or one per input */
	int csv;        /* --csv: every input must be sequence,label CSV */
	int n_csv_names;
	char **csv_names; /* --csv-labels: the names of CSV labels 0, 1, ... ["0", "1"] */
} opts_t;

typedef struct {
	gu_tokwriter *w;
	uint32_t *tok;
	size_t tok_cap;
	char *rc; /* reverse complement of the record being written */
	size_t rc_cap;
	uint64_t n_seq, n_rec, n_tok, n_bases, n_short, n_dropped;
	uint64_t n_below_window; /* sequences shorter than --window: no windows */
} state_t;

static void usage(FILE *fp, const opts_t *o)
{
	fprintf(fp,
		"Usage: fa2kmer [options] [FILE...]\n"
		"Tokenise FASTA/FASTQ (plain, gzip or BGZF; '-' or none for stdin) into a k-mer token\n"
		"stream (man 5 tokstream) on stdout or -o FILE.\n\n"
		"Tokens:\n"
		"  -k INT           k-mer length, 1..%d [%d]\n"
		"  -s INT           stride between k-mer starts [%d]\n"
		"Records:\n"
		"  -c, --chunk INT  cut every sequence into records of INT bases (tail kept if >= k) [off]\n"
		"  -N, --n-mode STR what to do with non-ACGT runs: keep (unknown tokens), split (cut the\n"
		"                   sequence at every non-ACGT run), drop (drop records holding any) [keep]\n"
		"  -m, --min-len INT drop records (chunks, pieces) shorter than INT bases [k]\n"
		"      --skip-short skip input sequences shorter than k instead of failing\n"
		"      --head INT   only the first INT bases of each sequence (its 5' end, before -S, -c\n"
		"                   and -N) [all]\n"
		"      --tail INT   only the last INT bases of each sequence (its 3' end, likewise) [all]\n"
		"  -r, --region STR  only this region (chr:beg-end, 1-based inclusive) via a .fai index\n"
		"  -S, --strand STR fwd (as read), rev (reverse complement, same names) or both (each\n"
		"                   record, then its reverse complement named NAME/rc) [fwd]\n"
		"  -P, --phases     also tokenise every record (and strand) from offsets 1..stride-1,\n"
		"                   named NAME/p1...: all stride framings of the sequence [offset 0 only]\n"
		"Windows (genome scans, man 5 tokstream \"Window records\"):\n"
		"  -w, --window INT cut every sequence into windows [i, i+INT) for i = 0, STEP, 2 STEP ...,\n"
		"                   named CHROM:START-END(+) or (-) (0-based, end exclusive, forward-strand\n"
		"                   coordinates; -r adds the region's start); a window that would run past\n"
		"                   the end is dropped; with -S both each window, then its reverse strand\n"
		"      --step INT   distance between window starts [the window length]\n"
		"Labels:\n"
		"  -l, --label STR  label every record; give it once for all inputs or once per input\n"
		"  -L, --label-from-header  label = header text before the first '|'\n"
		"CSV (a 'sequence,label' header, then SEQUENCE,LABEL lines; records named FILE:LINE, their\n"
		"labels from the file; -L applies to the FASTA inputs only):\n"
		"      --csv        every input must be CSV [detected by its header]\n"
		"      --csv-labels NAME0,NAME1,...  names of the CSV labels 0, 1, ... [0,1]\n"
		"Output:\n"
		"  -o FILE          output file, written atomically [stdout]\n"
		"  -z INT           zstd level, 0 for a raw stream [%d]\n"
		"  -t INT           threads for BGZF decompression and zstd [%d]\n"
		"  -q               quiet: no progress or summary\n"
		"  -h, --help       this help;  --version  print the version\n",
		GU_KMAX, o->k, o->stride, o->level, o->threads);
}

static void write_one(state_t *st, const opts_t *o, const char *name, int label, const char *seq, size_t len)
{
	size_t n = gu_kmer_count(len, o->k, o->stride);
	if (n > st->tok_cap) {
		free(st->tok);
		st->tok_cap = n + n / 4;
		if (!(st->tok = malloc(st->tok_cap * sizeof *st->tok))) fl_die("out of memory (%zu tokens)", n);
	}
	gu_kmer_tokenise(st->tok, seq, len, o->k, o->stride);
	if (gu_tokw_write(st->w, name, label, st->tok, n) < 0) fl_die("%s", gu_errmsg());
	st->n_rec++, st->n_tok += n;
}

/* The record from offset 0, then with --phases from offsets 1..stride-1 while k bases remain. */
static void write_record(state_t *st, const opts_t *o, const char *name, int label, const char *seq, size_t len)
{
	write_one(st, o, name, label, seq, len);
	if (!o->phases) return;
	char pname[1060];
	for (int p = 1; p < o->stride && len >= (size_t)p + (size_t)o->k; p++) {
		snprintf(pname, sizeof pname, "%s/p%d", name, p);
		write_one(st, o, pname, label, seq + p, len - (size_t)p);
	}
}

static void emit(state_t *st, const opts_t *o, const char *name, int label, const char *seq, size_t len)
{
	if ((long)len < o->min_len || len < (size_t)o->k) {
		st->n_dropped++;
		return;
	}
	if (o->strand & STRAND_FWD) write_record(st, o, name, label, seq, len);
	if (!(o->strand & STRAND_REV)) return;
	if (len > st->rc_cap) {
		free(st->rc);
		st->rc_cap = len + len / 4;
		if (!(st->rc = malloc(st->rc_cap))) fl_die("out of memory (%zu bases)", len);
	}
	gu_kmer_revcomp(st->rc, seq, len);
	if (o->strand == STRAND_REV) {
		write_record(st, o, name, label, st->rc, len);
		return;
	}
	char rname[1040];
	snprintf(rname, sizeof rname, "%s/rc", name);
	write_record(st, o, rname, label, st->rc, len);
}

static inline int is_acgt(unsigned char c)
{
	c &= 0xdf; /* upper case */
	return c == 'A' || c == 'C' || c == 'G' || c == 'T';
}

/* --window: every window [i, i+W) of seq (i = 0, step, ...; those running past the end are
 * dropped), on the strands asked for, named CHROM:START-END(+|-) with START = offset + i. */
static void emit_windows(state_t *st, const opts_t *o, const char *chrom, long offset, int label, const char *seq,
			 size_t len)
{
	size_t W = (size_t)o->window, step = (size_t)o->step;
	if (len < W) {
		st->n_below_window++;
		return;
	}
	if (W > st->rc_cap) {
		free(st->rc);
		st->rc_cap = W;
		if (!(st->rc = malloc(st->rc_cap))) fl_die("out of memory (%zu bases)", W);
	}
	char rname[1100];
	for (size_t i = 0; i + W <= len; i += step) {
		const char *w = seq + i;
		if (o->n_mode == N_DROP) {
			size_t j = 0;
			while (j < W && is_acgt((unsigned char)w[j])) j++;
			if (j < W) {
				st->n_dropped += (o->strand == STRAND_BOTH) + 1;
				continue;
			}
		}
		unsigned long long b = (unsigned long long)offset + i, e = b + W;
		if (o->strand & STRAND_FWD) {
			snprintf(rname, sizeof rname, "%s:%llu-%llu(+)", chrom, b, e);
			write_one(st, o, rname, label, w, W);
		}
		if (o->strand & STRAND_REV) {
			gu_kmer_revcomp(st->rc, w, W);
			snprintf(rname, sizeof rname, "%s:%llu-%llu(-)", chrom, b, e);
			write_one(st, o, rname, label, st->rc, W);
		}
	}
}

/* Cuts [beg,end) of seq into chunks (or one record) named after the sequence. */
static void emit_piece(state_t *st, const opts_t *o, const char *name, int label, const char *seq,
		       size_t beg, size_t end, int whole)
{
	char rname[1024];
	size_t step = o->chunk > 0 ? (size_t)o->chunk : end - beg;
	if (step == 0) step = 1;
	for (size_t b = beg; b < end; b += step) {
		size_t e = b + step < end ? b + step : end;
		if (o->n_mode == N_DROP) {
			size_t i = b;
			while (i < e && is_acgt((unsigned char)seq[i])) i++;
			if (i < e) {
				st->n_dropped++;
				continue;
			}
		}
		if (whole && b == beg && e == end) snprintf(rname, sizeof rname, "%s", name);
		else snprintf(rname, sizeof rname, "%s:%zu-%zu", name, b, e);
		emit(st, o, rname, label, seq + b, e - b);
	}
}

/* Bytes a sequence may hold: letters, and '-', '.', '*' (read as unknown). */
static unsigned char seq_byte_ok[256];

/* Checks the letters of a sequence (dropping stray CRs) and returns its new length. */
static size_t clean_seq(const char *file, const char *name, char *s, size_t len)
{
	if (!seq_byte_ok['A']) {
		for (int c = 'A'; c <= 'Z'; c++) seq_byte_ok[c] = seq_byte_ok[c + 32] = 1;
		seq_byte_ok['-'] = seq_byte_ok['.'] = seq_byte_ok['*'] = 1;
	}
	size_t i = 0;
	while (i < len && seq_byte_ok[(unsigned char)s[i]]) i++; /* the usual case: nothing to do */
	size_t j = i;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r') continue;
		if (!seq_byte_ok[c]) fl_die("%s: sequence %s: unexpected character 0x%02x at position %zu", file, name, c, i + 1);
		s[j++] = (char)c;
	}
	return j;
}

/* name: the record's name; with --window, chrom and offset give the windows' coordinates (the
 * sequence name and the 0-based position of seq[0] in it). */
static void process_seq(state_t *st, const opts_t *o, const char *file, const char *name, const char *chrom,
			long offset, int label, char *seq, size_t len)
{
	len = clean_seq(file, name, seq, len);
	st->n_seq++, st->n_bases += len;
	if (o->window) {
		emit_windows(st, o, chrom, offset, label, seq, len);
		return;
	}
	if (o->head > 0 && len > (size_t)o->head) len = (size_t)o->head;
	if (o->tail > 0 && len > (size_t)o->tail) seq += len - (size_t)o->tail, len = (size_t)o->tail;
	if (len < (size_t)o->k) {
		if (o->skip_short) {
			st->n_short++;
			return;
		}
		fl_die("%s: sequence %s: length %zu is shorter than k=%d (use --skip-short to drop such sequences)", file, name, len, o->k);
	}
	if (o->n_mode != N_SPLIT) {
		emit_piece(st, o, name, label, seq, 0, len, 1);
		return;
	}
	size_t i = 0;
	int whole = 1;
	for (size_t j = 0; j < len; j++)
		if (!is_acgt((unsigned char)seq[j])) {
			whole = 0;
			break;
		}
	while (i < len) {
		while (i < len && !is_acgt((unsigned char)seq[i])) i++;
		size_t b = i;
		while (i < len && is_acgt((unsigned char)seq[i])) i++;
		if (i > b) emit_piece(st, o, name, label, seq, b, i, whole);
	}
}

static int label_for(state_t *st, const opts_t *o, int input, const char *file, const char *name, const char *comment)
{
	if (o->label_from_header) {
		const char *bar = strchr(name, '|');
		if (!bar) fl_die("%s: sequence %s%s%s: no '|' in the header to take a label from", file, name, comment ? " " : "", comment ? comment : "");
		char lab[256];
		size_t n = (size_t)(bar - name);
		if (n == 0 || n >= sizeof lab) fl_die("%s: sequence %s: empty or overlong label before '|'", file, name);
		memcpy(lab, name, n);
		lab[n] = '\0';
		int id = gu_tokw_label(st->w, lab);
		if (id < 0) fl_die("%s: sequence %s: %s", file, name, gu_errmsg());
		return id;
	}
	if (o->n_labels == 0) return -1;
	int id = gu_tokw_label(st->w, o->labels[o->n_labels == 1 ? 0 : input]);
	if (id < 0) fl_die("%s", gu_errmsg());
	return id;
}

/* A CSV record's label: its text must be 0..n-1, the index of a --csv-labels name. */
static int csv_label(state_t *st, const opts_t *o, const fl_seqfile *f)
{
	if (o->n_labels) fl_usage_error("%s: CSV input carries its own labels; -l is for FASTA", f->path);
	char *end;
	errno = 0;
	long v = strtol(f->label, &end, 10);
	if (*end || end == f->label || errno || v < 0 || v >= o->n_csv_names || !isdigit((unsigned char)f->label[0]))
		fl_die("%s: line %llu: label '%.40s' is not %s", f->path, f->line, f->label,
		       o->n_csv_names == 2 ? "0 or 1" : "a --csv-labels index");
	int id = gu_tokw_label(st->w, o->csv_names[v]);
	if (id < 0) fl_die("%s: line %llu: %s", f->path, f->line, gu_errmsg());
	return id;
}

static void process_file(state_t *st, const opts_t *o, int input, const char *file)
{
	if (o->region) {
		faidx_t *fai = fai_load(file);
		if (!fai) fl_die("%s: cannot load or build the .fai index for -r (plain or BGZF FASTA needed)", file);
		hts_pos_t len = 0, beg = 0, end = 0;
		int tid = -1;
		char *seq = fai_fetch64(fai, o->region, &len);
		if (!seq || len < 0 || !fai_parse_region(fai, o->region, &tid, &beg, &end, 0) || tid < 0)
			fl_die("%s: cannot fetch region %s", file, o->region);
		int label = label_for(st, o, input, file, o->region, NULL);
		process_seq(st, o, file, o->region, faidx_iseq(fai, tid), (long)beg, label, seq, (size_t)len);
		free(seq);
		fai_destroy(fai);
		return;
	}
	fl_seqfile *f = fl_seq_open(file, o->threads);
	f->csv = o->csv;
	while (fl_seq_read(f)) {
		int label = f->csv ? csv_label(st, o, f) : label_for(st, o, input, file, f->name, f->comment);
		process_seq(st, o, file, f->name, f->name, 0, label, f->seq, f->len);
		fl_progress("%llu sequences, %.1f Mb, %llu tokens", (unsigned long long)st->n_seq, st->n_bases / 1e6, (unsigned long long)st->n_tok);
	}
	fl_seq_close(f);
}

/* NAME0,NAME1,...: at least two non-empty names, no duplicates (a usage error otherwise). */
static char **split_names(const char *list, int *n)
{
	char *dup = strdup(list), **v = NULL, *save = NULL;
	if (!dup) fl_die("out of memory");
	*n = 0;
	for (const char *p = list; *p; p++)
		if (*p == ',' && (p == list || p[1] == ',' || p[1] == '\0')) fl_usage_error("--csv-labels: empty name in '%s'", list);
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		for (int i = 0; i < *n; i++)
			if (strcmp(v[i], t) == 0) fl_usage_error("--csv-labels: '%s' given twice", t);
		if (!(v = realloc(v, (size_t)(*n + 1) * sizeof *v))) fl_die("out of memory");
		v[(*n)++] = t;
	}
	if (*n < 2) fl_usage_error("--csv-labels: '%s' names fewer than two labels", list);
	return v; /* dup is owned by v[0] */
}

static gu_tokwriter *writer; /* removed on a fatal error, so no partial output is left */
static void abort_output(void)
{
	if (writer) gu_tokw_close(writer, 1);
	writer = NULL;
}

/* --window and --step: W >= k, and none of the options that cut or trim sequences otherwise. */
static void check_window_opts(opts_t *o, int min_len_given)
{
	if (o->step && !o->window) fl_usage_error("--step needs --window");
	if (!o->window) return;
	if (o->window < o->k) fl_usage_error("--window: %ld is shorter than k=%d", o->window, o->k);
	if (!o->step) o->step = o->window;
	const char *other = o->chunk ? "--chunk" : o->phases ? "--phases" : o->head ? "--head" : o->tail ? "--tail"
		: o->n_mode == N_SPLIT ? "-N split" : min_len_given ? "--min-len" : o->skip_short ? "--skip-short" : NULL;
	if (other) fl_usage_error("--window cannot be combined with %s", other);
}

int main(int argc, char **argv)
{
	opts_t o = {.k = 3, .stride = 1, .level = 3, .threads = 1, .n_mode = N_KEEP, .min_len = -1, .out = "-",
		    .strand = STRAND_FWD};
	static const struct option lopts[] = {
		{"chunk", required_argument, 0, 'c'}, {"n-mode", required_argument, 0, 'N'},
		{"min-len", required_argument, 0, 'm'}, {"region", required_argument, 0, 'r'},
		{"label", required_argument, 0, 'l'}, {"label-from-header", no_argument, 0, 'L'},
		{"strand", required_argument, 0, 'S'}, {"phases", no_argument, 0, 'P'}, {"skip-short", no_argument, 0, 1},
		{"csv", no_argument, 0, 20}, {"csv-labels", required_argument, 0, 21},
		{"head", required_argument, 0, 3}, {"tail", required_argument, 0, 4}, {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 2},
		{"window", required_argument, 0, 'w'}, {"step", required_argument, 0, 5},
		{0, 0, 0, 0}};
	fl_init("fa2kmer", argc, argv);
	hts_set_log_level(HTS_LOG_OFF); /* our messages name file and record */
	int c, min_len_given = 0;
	while ((c = getopt_long(argc, argv, "k:s:c:N:m:r:S:Pw:l:Lo:z:t:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'k': o.k = (int)fl_parse_long(optarg, "-k", 1, GU_KMAX); break;
		case 's': o.stride = (int)fl_parse_long(optarg, "-s", 1, 65535); break;
		case 'c': o.chunk = fl_parse_size(optarg, "--chunk", 1, 1L << 40); break;
		case 'N':
			o.n_mode = (const int[]){N_KEEP, N_SPLIT, N_DROP}
				[fl_parse_choice(optarg, "--n-mode", (const char *const[]){"keep", "split", "drop", NULL})];
			break;
		case 'm': o.min_len = fl_parse_size(optarg, "--min-len", 0, 1L << 40), min_len_given = 1; break;
		case 'r': o.region = optarg; break;
		case 'S':
			o.strand = (const int[]){STRAND_FWD, STRAND_REV, STRAND_BOTH}
				[fl_parse_choice(optarg, "--strand", (const char *const[]){"fwd", "rev", "both", NULL})];
			break;
		case 'P': o.phases = 1; break;
		case 'l':
			o.labels = realloc(o.labels, (size_t)(o.n_labels + 1) * sizeof *o.labels);
			if (!o.labels) fl_die("out of memory");
			o.labels[o.n_labels++] = optarg;
			break;
		case 'L': o.label_from_header = 1; break;
		case 'o': o.out = optarg; break;
		case 'z': o.level = (int)fl_parse_long(optarg, "-z", 0, 19); break;
		case 't': o.threads = (int)fl_parse_long(optarg, "-t", 1, 256); break;
		case 'q': fl_quiet = 1; break;
		case 1: o.skip_short = 1; break;
		case 20: o.csv = 1; break;
		case 21: o.csv_names = split_names(optarg, &o.n_csv_names); break;
		case 3: o.head = fl_parse_size(optarg, "--head", 1, 1L << 40); break;
		case 4: o.tail = fl_parse_size(optarg, "--tail", 1, 1L << 40); break;
		case 'w': o.window = fl_parse_size(optarg, "--window", 1, 1L << 30); break;
		case 5: o.step = fl_parse_size(optarg, "--step", 1, 1L << 40); break;
		case 'h': usage(stdout, &o); fl_close_stdout(); return 0;
		case 2: printf("fa2kmer %s\n", GU_VERSION); fl_close_stdout(); return 0;
		default: fl_bad_option(argv);
		}
	}
	int n_in = argc - optind;
	char *stdin_arg[] = {"-"};
	char **inputs = n_in > 0 ? argv + optind : stdin_arg;
	if (n_in == 0) n_in = 1;
	check_window_opts(&o, min_len_given);
	if (o.min_len < 0) o.min_len = o.k;
	static char *binary_names[] = {"0", "1"};
	if (!o.csv_names) o.csv_names = binary_names, o.n_csv_names = 2;
	if (o.n_labels > 1 && o.n_labels != n_in) fl_usage_error("-l given %d times for %d inputs (give it once, or once per input)", o.n_labels, n_in);
	if (o.n_labels && o.label_from_header) fl_usage_error("-l and -L are exclusive");
	if (o.head && o.tail) fl_usage_error("--head and --tail are exclusive");
	if (o.region && n_in != 1) fl_usage_error("-r needs exactly one input file");
	if (o.region && strcmp(inputs[0], "-") == 0) fl_usage_error("-r needs an indexed file, not stdin");
	for (int i = 0; i < n_in; i++)
		if (strcmp(inputs[i], "-") == 0 && n_in > 1) fl_usage_error("'-' (stdin) cannot be combined with other inputs");

	state_t st = {0};
	st.w = gu_tokw_open(o.out, o.k, o.stride, o.level, o.threads > 1 ? o.threads - 1 : 0);
	if (!st.w) fl_die("%s", gu_errmsg());
	writer = st.w;
	fl_on_die(abort_output);
	for (int i = 0; i < n_in; i++) process_file(&st, &o, i, inputs[i]);
	writer = NULL;
	if (gu_tokw_close(st.w, 0) < 0) fl_die("%s", gu_errmsg());
	fl_close_stdout();
	if (!fl_quiet) {
		fl_info("%llu sequences (%.3f Mb) -> %llu records, %llu tokens (k=%d, stride=%d)%s", (unsigned long long)st.n_seq,
			st.n_bases / 1e6, (unsigned long long)st.n_rec, (unsigned long long)st.n_tok, o.k, o.stride, "");
		if (st.n_short) fl_info("skipped %llu sequences shorter than k", (unsigned long long)st.n_short);
		if (st.n_below_window)
			fl_info("%llu sequences shorter than the window gave no window", (unsigned long long)st.n_below_window);
		if (st.n_dropped) fl_info("dropped %llu records (shorter than --min-len or holding non-ACGT with -N drop)", (unsigned long long)st.n_dropped);
	}
	fl_summary();
	free(st.tok);
	free(st.rc);
	free(o.labels);
	if (o.csv_names != binary_names) free(o.csv_names[0]), free(o.csv_names);
	return 0;
}
