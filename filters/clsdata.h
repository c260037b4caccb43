/* clsdata.h: labelled token streams in memory and the classifier's batches, shared by clstrain
 * and clspredict (REFERENCE-SEMANTICS 6.5). Errors are reported through fl_die: these helpers
 * belong to the filters, not to the library. */
#ifndef GU_CLSDATA_H
#define GU_CLSDATA_H
#include <stdint.h>

#include "gulm.h"

/* Records of one or more streams, tokens mapped through a vocabulary. Labels are kept by name
 * (streams are merged by name) until cd_map_labels gives them class ids. */
typedef struct {
	int64_t n;            /* records */
	int32_t *ids;         /* all records' vocabulary ids, back to back */
	int64_t *start;       /* (n+1): record i is ids[start[i] .. start[i+1]) */
	char *names;          /* NUL-terminated names, back to back */
	int64_t *name_off;    /* (n) */
	int32_t *file;        /* (n) index into paths, for messages */
	int32_t *lab;         /* (n) index into lab_names, -1 when the record has none */
	int32_t *label;       /* (n) class id after cd_map_labels, -1 when none */
	int n_lab;            /* label names met (union over the streams, by name) */
	char **lab_names;
	char **paths;         /* the input paths (not owned) */
	int n_paths;
	int64_t n_tok, n_unk; /* tokens, and those that mapped to xxunk */
	int64_t max_len;      /* longest record */
	int64_t n_labelled;   /* records with a label */
} cd_set;

static inline int32_t cd_len(const cd_set *s, int64_t i) { return (int32_t)(s->start[i + 1] - s->start[i]); }
static inline const char *cd_name(const cd_set *s, int64_t i) { return s->names + s->name_off[i]; }

/* Reads every record of the streams (each path a file or "-") into s, mapping k-mer codes
 * through v; a stream whose k or stride differ from the vocabulary's is an error (checked as
 * each stream opens, before its records are read). what names the role in messages
 * ("training", "validation", "input"). Dies on any error. */
void cd_load(cd_set *s, char **paths, int n_paths, const gu_vocab *v, const char *what);
void cd_free(cd_set *s);

/* The same records a group at a time, for streaming: cd_open empties s and ties it to the
 * streams; each cd_read replaces the records of s by the next ones (at most max_rec, all that
 * remain when max_rec <= 0) and returns how many, 0 at the end of the last stream. Label names
 * met so far stay in s, so call cd_map_labels after each read. keep (NULL: keep all) sees
 * every record before it is stored: its name, its stream's path and its 1-based number in that
 * stream; it returns 0 to skip the record (it may fl_die on a bad one). Errors die as cd_load.
 * cd_close closes the reader; s stays valid until cd_free. */
typedef struct cd_reader cd_reader;
typedef int (*cd_keep_fn)(const char *name, const char *path, int64_t rec_no, void *arg);
cd_reader *cd_open(cd_set *s, char **paths, int n_paths, const gu_vocab *v, const char *what);
int64_t cd_read(cd_reader *r, int64_t max_rec, cd_keep_fn keep, void *arg);
void cd_close(cd_reader *r);

/* Gives every record its class id: the index of its label name in classes (n_classes names).
 * need_label: a record without a label is an error. A label name that is not in classes is
 * an error naming the file, the record and the known names. Dies on error. */
void cd_map_labels(cd_set *s, char *const *classes, int n_classes, int need_label);

/* Label names used by at least one record, sorted (strcmp) and unique; *n receives the
 * count. Free the array; the strings belong to s (valid until cd_free). */
char **cd_used_labels(const cd_set *s, int *n);

/* Every record index ordered by length, longest first; ties keep input order (SortSampler). */
void cd_sort_desc(const cd_set *s, uint32_t *order);

/* min(n, s->n) distinct records drawn at random (a shuffle of every index, cut), ordered
 * longest first as cd_sort_desc; writes them to out and returns how many. */
int64_t cd_sample(const cd_set *s, int64_t n, gu_rng *rng, uint32_t *out);

/* SortishSampler order for one training epoch with batch size B (bs' = max(1, B/2)): shuffle;
 * sort blocks of 50 bs' by length, longest first; cut into pieces of bs'; the piece with the
 * longest first record goes first, the others are shuffled. Returns how many indices form
 * whole batches of B (the partial last batch is dropped, unless it is the only one). */
int64_t cd_sortish(const cd_set *s, int B, gu_rng *rng, uint32_t *order);

/* Builds a batch of the nb records rows[0..nb): ids (S,nb) time-major, each row left-padded
 * with GU_PAD to S = the longest row (at least 1); labels (nb) class ids if labels != NULL.
 * ids must hold cd_batch_S(...) * nb ids. Returns S. */
int cd_batch_S(const cd_set *s, const uint32_t *rows, int nb);
int cd_batch(const cd_set *s, const uint32_t *rows, int nb, int32_t *ids, int32_t *labels);

#endif
