/* clsdata.c: labelled token streams in memory and the classifier's batches. */
#include <stdlib.h>
#include <string.h>

#include "clsdata.h"
#include "common.h"

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) fl_die("out of memory (%zu bytes)", n);
	return q;
}

static int lab_index(cd_set *s, const char *name)
{
	for (int i = 0; i < s->n_lab; i++)
		if (strcmp(s->lab_names[i], name) == 0) return i;
	s->lab_names = xrealloc(s->lab_names, (size_t)(s->n_lab + 1) * sizeof *s->lab_names);
	if (!(s->lab_names[s->n_lab] = strdup(name))) fl_die("out of memory");
	return s->n_lab++;
}

struct cd_reader {
	cd_set *s;
	const gu_vocab *v;
	const char *what;
	int f;                  /* stream being read (index into s->paths) */
	gu_tokreader *r;        /* open stream f, or NULL */
	int64_t rec_no;         /* records read from stream f */
	size_t cap_rec, cap_ids, cap_names, n_ids, n_names;
};

cd_reader *cd_open(cd_set *s, char **paths, int n_paths, const gu_vocab *v, const char *what)
{
	memset(s, 0, sizeof *s);
	s->paths = paths, s->n_paths = n_paths;
	s->start = xrealloc(NULL, sizeof *s->start);
	s->start[0] = 0;
	s->label = xrealloc(NULL, sizeof *s->label);
	cd_reader *r = xrealloc(NULL, sizeof *r);
	*r = (cd_reader){.s = s, .v = v, .what = what};
	return r;
}

/* Appends one record to s (growing its arrays). */
static void add_record(cd_reader *r, const gu_record *rec)
{
	cd_set *s = r->s;
	if ((size_t)s->n + 1 >= r->cap_rec) {
		r->cap_rec = r->cap_rec ? 2 * r->cap_rec : 1024;
		s->start = xrealloc(s->start, (r->cap_rec + 1) * sizeof *s->start);
		s->name_off = xrealloc(s->name_off, r->cap_rec * sizeof *s->name_off);
		s->file = xrealloc(s->file, r->cap_rec * sizeof *s->file);
		s->lab = xrealloc(s->lab, r->cap_rec * sizeof *s->lab);
	}
	if (r->n_ids + rec->n > r->cap_ids) {
		r->cap_ids = (r->n_ids + rec->n) + (r->n_ids + rec->n) / 2 + 4096;
		s->ids = xrealloc(s->ids, r->cap_ids * sizeof *s->ids);
	}
	size_t nl = strlen(rec->name) + 1;
	if (r->n_names + nl > r->cap_names) {
		r->cap_names = (r->n_names + nl) * 2 + 4096;
		s->names = xrealloc(s->names, r->cap_names);
	}
	int64_t i = s->n++;
	memcpy(s->names + r->n_names, rec->name, nl);
	s->name_off[i] = (int64_t)r->n_names;
	r->n_names += nl;
	for (size_t t = 0; t < rec->n; t++) {
		int32_t id = gu_vocab_id(r->v, rec->tok[t]);
		s->n_unk += id == GU_UNK;
		s->ids[r->n_ids + t] = id;
	}
	r->n_ids += rec->n;
	s->start[i + 1] = (int64_t)r->n_ids;
	s->file[i] = r->f;
	s->lab[i] = rec->label >= 0 ? lab_index(s, gu_tok_label(r->r, rec->label)) : -1;
	s->n_labelled += rec->label >= 0;
	if ((int64_t)rec->n > s->max_len) s->max_len = (int64_t)rec->n;
}

int64_t cd_read(cd_reader *r, int64_t max_rec, cd_keep_fn keep, void *arg)
{
	cd_set *s = r->s;
	s->n = s->n_tok = s->n_unk = s->max_len = s->n_labelled = 0;
	r->n_ids = r->n_names = 0;
	while (r->f < s->n_paths && (max_rec <= 0 || s->n < max_rec)) {
		const char *path = s->paths[r->f];
		if (!r->r) {
			if (!(r->r = gu_tok_open(path))) fl_die("%s", gu_errmsg());
			if (gu_tok_k(r->r) != r->v->k || gu_tok_stride(r->r) != r->v->stride)
				fl_die("%s: %s stream has k=%d stride=%d, but the model has k=%d stride=%d", path, r->what,
				       gu_tok_k(r->r), gu_tok_stride(r->r), r->v->k, r->v->stride);
			r->rec_no = 0;
		}
		gu_record rec;
		int ret = gu_tok_read(r->r, &rec);
		if (ret < 0) fl_die("%s", gu_errmsg());
		if (ret == 0) {
			gu_tok_close(r->r);
			r->r = NULL, r->f++;
			continue;
		}
		r->rec_no++;
		if (keep && !keep(rec.name, path, r->rec_no, arg)) continue;
		add_record(r, &rec);
		if (max_rec <= 0) fl_progress("reading %s data: %lld records, %zu tokens", r->what, (long long)s->n, r->n_ids);
	}
	s->n_tok = (int64_t)r->n_ids;
	s->label = xrealloc(s->label, (size_t)(s->n ? s->n : 1) * sizeof *s->label);
	for (int64_t i = 0; i < s->n; i++) s->label[i] = -1;
	return s->n;
}

void cd_close(cd_reader *r)
{
	if (!r) return;
	if (r->r) gu_tok_close(r->r);
	free(r);
}

void cd_load(cd_set *s, char **paths, int n_paths, const gu_vocab *v, const char *what)
{
	cd_reader *r = cd_open(s, paths, n_paths, v, what);
	cd_read(r, 0, NULL, NULL);
	cd_close(r);
}

void cd_free(cd_set *s)
{
	free(s->ids), free(s->start), free(s->names), free(s->name_off), free(s->file);
	free(s->lab), free(s->label);
	for (int i = 0; i < s->n_lab; i++) free(s->lab_names[i]);
	free(s->lab_names);
	memset(s, 0, sizeof *s);
}

void cd_map_labels(cd_set *s, char *const *classes, int n_classes, int need_label)
{
	int32_t *map = xrealloc(NULL, (size_t)(s->n_lab ? s->n_lab : 1) * sizeof *map);
	for (int j = 0; j < s->n_lab; j++) {
		map[j] = -1;
		for (int c = 0; c < n_classes; c++)
			if (strcmp(s->lab_names[j], classes[c]) == 0) map[j] = c;
	}
	for (int64_t i = 0; i < s->n; i++) {
		if (s->lab[i] < 0) {
			if (need_label)
				fl_die("%s: record %s has no label (every training and validation record needs one)",
				       s->paths[s->file[i]], cd_name(s, i));
			s->label[i] = -1;
			continue;
		}
		if (map[s->lab[i]] < 0) {
			char known[512];
			size_t k = 0;
			known[0] = 0;
			for (int c = 0; c < n_classes && k + 4 < sizeof known; c++)
				k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", c ? ", " : "", classes[c]);
			fl_die("%s: record %s: label '%s' is not one of the model's labels (%s)", s->paths[s->file[i]],
			       cd_name(s, i), s->lab_names[s->lab[i]], known);
		}
		s->label[i] = map[s->lab[i]];
	}
	free(map);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **cd_used_labels(const cd_set *s, int *n)
{
	/* lab_names holds only names some record used (lab_index is called per record) */
	char **out = xrealloc(NULL, (size_t)(s->n_lab ? s->n_lab : 1) * sizeof *out);
	for (int j = 0; j < s->n_lab; j++) out[j] = s->lab_names[j];
	qsort(out, (size_t)s->n_lab, sizeof *out, cmp_str);
	*n = s->n_lab;
	return out;
}

/* sort by length descending, ties by the position in the array being sorted (stable) */
typedef struct {
	int32_t len;
	uint32_t pos, idx;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	if (x->len != y->len) return x->len > y->len ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void sort_desc(const cd_set *s, uint32_t *a, size_t n, keyed *tmp)
{
	for (size_t i = 0; i < n; i++) tmp[i] = (keyed){cd_len(s, a[i]), (uint32_t)i, a[i]};
	qsort(tmp, n, sizeof *tmp, cmp_keyed);
	for (size_t i = 0; i < n; i++) a[i] = tmp[i].idx;
}

void cd_sort_desc(const cd_set *s, uint32_t *order)
{
	size_t n = (size_t)s->n;
	keyed *tmp = xrealloc(NULL, (n ? n : 1) * sizeof *tmp);
	for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
	sort_desc(s, order, n, tmp);
	free(tmp);
}

int64_t cd_sample(const cd_set *s, int64_t n, gu_rng *rng, uint32_t *out)
{
	size_t all = (size_t)s->n, k = n < s->n ? (size_t)n : all;
	uint32_t *a = xrealloc(NULL, (all ? all : 1) * sizeof *a);
	keyed *tmp = xrealloc(NULL, (k ? k : 1) * sizeof *tmp);
	for (size_t i = 0; i < all; i++) a[i] = (uint32_t)i;
	gu_rng_shuffle(rng, a, all);
	sort_desc(s, a, k, tmp);
	memcpy(out, a, k * sizeof *out);
	free(a), free(tmp);
	return (int64_t)k;
}

int64_t cd_sortish(const cd_set *s, int B, gu_rng *rng, uint32_t *order)
{
	size_t n = (size_t)s->n, bs = B / 2 > 0 ? (size_t)(B / 2) : 1, blk = 50 * bs;
	keyed *tmp = xrealloc(NULL, (n ? n : 1) * sizeof *tmp);
	uint32_t *a = xrealloc(NULL, (n ? n : 1) * sizeof *a);
	for (size_t i = 0; i < n; i++) a[i] = (uint32_t)i;
	gu_rng_shuffle(rng, a, n);
	for (size_t i = 0; i < n; i += blk) sort_desc(s, a + i, n - i < blk ? n - i : blk, tmp);
	/* pieces of bs; the one whose first record is longest swaps with piece 0 */
	size_t np = (n + bs - 1) / bs, best = 0;
	for (size_t p = 1; p < np; p++)
		if (cd_len(s, a[p * bs]) > cd_len(s, a[best * bs])) best = p;
	uint32_t *piece = xrealloc(NULL, (np ? np : 1) * sizeof *piece);
	for (size_t p = 0; p < np; p++) piece[p] = (uint32_t)p;
	piece[0] = (uint32_t)best, piece[best] = 0;
	if (np > 2) gu_rng_shuffle(rng, piece + 1, np - 1);
	size_t k = 0;
	for (size_t p = 0; p < np; p++) {
		size_t b = (size_t)piece[p] * bs, e = b + bs < n ? b + bs : n;
		for (size_t i = b; i < e; i++) order[k++] = a[i];
	}
	free(piece), free(a), free(tmp);
	size_t whole = n / (size_t)B * (size_t)B;
	return (int64_t)(whole ? whole : n);
}

int cd_batch_S(const cd_set *s, const uint32_t *rows, int nb)
{
	int S = 1;
	for (int b = 0; b < nb; b++)
		if (cd_len(s, rows[b]) > S) S = cd_len(s, rows[b]);
	return S;
}

int cd_batch(const cd_set *s, const uint32_t *rows, int nb, int32_t *ids, int32_t *labels)
{
	int S = cd_batch_S(s, rows, nb);
	for (int b = 0; b < nb; b++) {
		int len = cd_len(s, rows[b]), pad = S - len;
		const int32_t *src = s->ids + s->start[rows[b]];
		for (int t = 0; t < pad; t++) ids[(size_t)t * nb + b] = GU_PAD;
		for (int t = 0; t < len; t++) ids[(size_t)(pad + t) * nb + b] = src[t];
		if (labels) labels[b] = s->label[rows[b]];
	}
	return S;
}
