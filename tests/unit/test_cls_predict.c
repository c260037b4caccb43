/* test_cls_predict.c: the real clspredict path against PyTorch.
 *
 * Builds a classifier model file from the PyTorch-made weights of
 * tests/fixtures/model_parity.safetensors (tests/fixtures/make_model_fixtures.py), writes the
 * fixture's four left-padded rows as a token stream (vocabulary ids mapped back to k-mer codes),
 * runs bin/clspredict on it and compares every class probability with the fixture's eval-mode
 * PyTorch probabilities within 1e-4.
 *
 * The fixture's ids use 1 (xxunk) and 2 (xxbos); a stream can give xxunk (the unknown k-mer)
 * but never xxbos, so id 2 is moved to an id the fixture does not use by swapping the two
 * embedding rows (a relabelling that leaves the eval-mode model unchanged).
 * Run from the repository root after `make` (it needs bin/clspredict). */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "gulm.h"
#include "testutil.h"

static gu_st_file *fx;

static const void *get(const char *name, const char *dtype, size_t numel)
{
	return tu_fixture(fx, name, dtype, numel)->data;
}

static int meta_int(const char *key)
{
	const char *v = gu_st_meta(fx, key);
	CHECK(v != NULL, "fixture metadata has no %s", key);
	return atoi(v);
}

int main(int argc, char **argv)
{
	const char *fixture = argc > 1 ? argv[1] : "tests/fixtures/model_parity.safetensors";
	const char *dir = "tests/tmp/cls_predict";
	mkdir("tests/tmp", 0777), mkdir(dir, 0777);
	fx = gu_st_read(fixture);
	CHECK(fx != NULL, "%s: %s", fixture, gu_errmsg());

	/* the classifier, as test_lm_parity builds it */
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_CLS);
	hp.vocab_size = meta_int("V"), hp.emb = meta_int("E"), hp.hidden = meta_int("H");
	hp.n_layers = meta_int("n_layers");
	hp.bptt = meta_int("cls_bptt"), hp.max_len = meta_int("cls_max_len");
	hp.n_lin = meta_int("cls_n_lin"), hp.n_classes = meta_int("cls_C");
	CHECK(hp.n_classes == 2, "fixture classes %d", hp.n_classes);
	int V = hp.vocab_size, n_kmers = V - GU_N_SPECIAL;
	uint32_t codes[64];
	for (int i = 0; i < n_kmers; i++) codes[i] = (uint32_t)i; /* id i <-> code i - 3 */
	gu_vocab *v = gu_vocab_from_codes(hp.k, hp.stride, codes, n_kmers);
	CHECK(v != NULL, "vocab: %s", gu_errmsg());
	char *labels[2] = {"a", "b"};
	gu_model *m = gu_model_new(&hp, v, 2, labels);
	CHECK(m != NULL, "model: %s", gu_errmsg());
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		char name[160];
		snprintf(name, sizeof name, "cls.w.%s", t->name);
		memcpy(gu_tensor_data(m, t), get(name, "F32", t->numel), t->numel * sizeof(float));
	}

	/* the rows, and an unused id to stand in for xxbos */
	int B = meta_int("cls_B"), S = meta_int("cls_S"), C = hp.n_classes;
	const int32_t *ids = get("cls.ids", "I32", (size_t)S * B);
	int used[256] = {0};
	for (int i = 0; i < S * B; i++) used[ids[i]] = 1;
	int spare = -1;
	for (int id = GU_N_SPECIAL; id < V && spare < 0; id++)
		if (!used[id]) spare = id;
	CHECK(spare > 0, "no spare id in the fixture");
	const gu_tensor *emb = gu_model_tensor(m, "encoder.weight");
	float *w = gu_tensor_data(m, emb), tmp[256];
	int E = hp.emb;
	memcpy(tmp, w + 2 * E, E * sizeof(float));
	memcpy(w + 2 * E, w + (size_t)spare * E, E * sizeof(float));
	memcpy(w + (size_t)spare * E, tmp, E * sizeof(float));
	char model_path[256], tok_path[256], out_path[256];
	snprintf(model_path, sizeof model_path, "%s/cls.model", dir);
	snprintf(tok_path, sizeof tok_path, "%s/rows.tok", dir);
	snprintf(out_path, sizeof out_path, "%s/pred.tsv", dir);
	CHECK(gu_model_write(m, model_path) == 0, "write model: %s", gu_errmsg());

	gu_tokwriter *tw = gu_tokw_open(tok_path, hp.k, hp.stride, 0, 0);
	CHECK(tw != NULL, "stream: %s", gu_errmsg());
	for (int b = 0; b < B; b++) {
		uint32_t tok[256];
		int n = 0;
		for (int t = 0; t < S; t++) {
			int id = ids[t * B + b];
			if (id == GU_PAD) {
				CHECK(n == 0, "row %d is not left-padded", b);
				continue;
			}
			if (id == GU_BOS) id = spare;
			tok[n++] = id == GU_UNK ? gu_kmer_unknown(hp.k) : (uint32_t)(id - GU_N_SPECIAL);
		}
		char name[32];
		snprintf(name, sizeof name, "row%d", b);
		CHECK(gu_tokw_write(tw, name, -1, tok, (size_t)n) == 0, "write: %s", gu_errmsg());
	}
	CHECK(gu_tokw_close(tw, 0) == 0, "close stream: %s", gu_errmsg());

	/* clspredict with one batch of all rows: the fixture's padded length, so the same chunks */
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "bin/clspredict -q -b %d -m %s %s > %s", B, model_path, tok_path, out_path);
	CHECK(system(cmd) == 0, "%s failed", cmd);
	FILE *fp = fopen(out_path, "r");
	CHECK(fp != NULL, "%s", out_path);
	char line[1024];
	CHECK(fgets(line, sizeof line, fp) && strcmp(line, "name\tpredicted\tp_a\tp_b\n") == 0, "header: %s", line);
	const float *want = get("cls.eval.probs", "F32", (size_t)B * C);
	double md = 0;
	for (int b = 0; b < B; b++) {
		char name[64], pred[64];
		double p[2];
		CHECK(fgets(line, sizeof line, fp) != NULL, "row %d missing", b);
		CHECK(sscanf(line, "%63s %63s %lf %lf", name, pred, &p[0], &p[1]) == 4, "row %d: %s", b, line);
		char want_name[32];
		snprintf(want_name, sizeof want_name, "row%d", b);
		CHECK(strcmp(name, want_name) == 0, "row %d is %s (input order)", b, name);
		for (int c = 0; c < C; c++) {
			double d = fabs(p[c] - want[b * C + c]);
			if (d > md) md = d;
			CHECK(d <= 1e-4, "row %d p_%s: clspredict %.6g, PyTorch %.6g", b, labels[c], p[c], want[b * C + c]);
		}
		CHECK(strcmp(pred, want[b * C] > want[b * C + 1] ? "a" : "b") == 0, "row %d predicted %s", b, pred);
	}
	fclose(fp);
	printf("clspredict vs PyTorch eval probabilities: max |diff| %.3g\n", md);
	gu_model_free(m);
	gu_st_free(fx);
	return tu_done("test_cls_predict");
}
