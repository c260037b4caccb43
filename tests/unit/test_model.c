/* test_model.c: model layout and initialisation, model file and checkpoint round trips,
 * safetensors export/import, and rejection of corrupted files with a clear message. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gulm.h"
#include "testutil.h"

static char dir[256];

static const char *tmp(const char *name)
{
	static char buf[4][512];
	static int slot;
	char *p = buf[slot++ & 3];
	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static gu_vocab *small_vocab(int k)
{
	uint32_t codes[64];
	int n = 1 << (2 * k);
	for (int i = 0; i < n; i++) codes[i] = (uint32_t)((i * 7 + 3) % n); /* a permutation */
	gu_vocab *v = gu_vocab_from_codes(k, 1, codes, n);
	CHECK(v != NULL, "vocab: %s", gu_errmsg());
	return v;
}

static gu_model *small_model(int kind, uint64_t seed)
{
	gu_hparams hp;
	gu_hparams_default(&hp, kind);
	hp.k = 2, hp.stride = 1, hp.vocab_size = 16 + GU_N_SPECIAL;
	hp.emb = 8, hp.hidden = 12, hp.n_layers = 3, hp.n_lin = 5;
	char *labels[3] = {"lncRNA", "mRNA", "other"};
	if (kind == GU_MODEL_CLS) hp.n_classes = 3;
	gu_model *m = gu_model_new(&hp, small_vocab(2), kind == GU_MODEL_CLS ? 3 : 0, labels);
	CHECK(m != NULL, "model_new: %s", gu_errmsg());
	gu_rng rng;
	gu_rng_seed(&rng, seed);
	gu_model_init(m, &rng);
	char *argv[4] = {"lmtrain", "-o", "my model.model", "it's"};
	CHECK(gu_model_add_prov(m, "lmtrain", 4, argv) == 0, "add_prov");
	CHECK(gu_model_add_prov(m, "lmtune", 1, argv) == 0, "add_prov 2");
	return m;
}

/* An LM with the bases output: k 2, stride 2 (16 classes), E 8. */
static gu_model *bases_model(uint64_t seed)
{
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_LM);
	hp.k = 2, hp.stride = 2, hp.vocab_size = 16 + GU_N_SPECIAL, hp.lm_output = GU_LM_BASES;
	hp.emb = 8, hp.hidden = 12, hp.n_layers = 3;
	uint32_t codes[16];
	for (int i = 0; i < 16; i++) codes[i] = (uint32_t)((i * 5 + 2) % 16);
	gu_vocab *v = gu_vocab_from_codes(2, 2, codes, 16);
	CHECK(v != NULL, "vocab: %s", gu_errmsg());
	gu_model *m = gu_model_new(&hp, v, 0, NULL);
	CHECK(m != NULL, "bases model_new: %s", gu_errmsg());
	gu_rng rng;
	gu_rng_seed(&rng, seed);
	gu_model_init(m, &rng);
	char *argv[3] = {"lmtrain", "--output", "bases"};
	CHECK(gu_model_add_prov(m, "lmtrain", 3, argv) == 0, "add_prov");
	return m;
}

static void test_layout(void)
{
	gu_model *m = small_model(GU_MODEL_LM, 1);
	CHECK(m->n_groups == 4, "LM groups %d", m->n_groups);
	CHECK(m->n_tensors == 1 + 12 + 1 && m->n_buffers == 0, "LM tensors %d", m->n_tensors);
	const gu_tensor *t = gu_model_tensor(m, "rnns.2.weight_ih");
	CHECK(t && t->shape[0] == 32 && t->shape[1] == 12 && t->group == 2, "rnns.2.weight_ih");
	t = gu_model_tensor(m, "rnns.0.weight_hh");
	CHECK(t && t->shape[0] == 48 && t->shape[1] == 12 && t->group == 0, "rnns.0.weight_hh");
	t = gu_model_tensor(m, "encoder.weight");
	CHECK(t && t->off == 0 && t->shape[0] == 19 && t->shape[1] == 8 && t->group == 3, "encoder");
	t = gu_model_tensor(m, "decoder.bias");
	CHECK(t && t->group == 3 && t->numel == 19 && t == &m->tensors[m->n_tensors - 1], "decoder");
	CHECK(!gu_model_tensor(m, "head.lin0.weight"), "LM has no head");
	size_t end = 0;
	for (int i = 0; i < m->n_tensors; i++) {
		CHECK(m->tensors[i].off % 16 == 0, "alignment of %s", m->tensors[i].name);
		CHECK(m->tensors[i].off >= end, "no overlap");
		end = m->tensors[i].off + m->tensors[i].numel;
	}
	CHECK(end <= m->n_params && m->n_params % 16 == 0, "n_params %zu", m->n_params);
	CHECK(((uintptr_t)m->params & 63) == 0, "params 64-byte aligned");
	gu_model_free(m);

	m = small_model(GU_MODEL_CLS, 1);
	CHECK(m->n_groups == 5 && m->n_tensors == 1 + 12 + 8 + 4 && m->n_labels == 3, "CLS layout");
	CHECK(gu_model_tensor(m, "encoder.weight")->group == 0, "CLS encoder group");
	CHECK(gu_model_tensor(m, "rnns.0.bias_hh")->group == 1, "CLS lstm0 group");
	t = gu_model_tensor(m, "head.lin0.weight");
	CHECK(t && t->shape[0] == 5 && t->shape[1] == 24 && t->group == 4 && !t->buffer, "lin0");
	t = gu_model_tensor(m, "head.lin1.weight");
	CHECK(t && t->shape[0] == 3 && t->shape[1] == 5, "lin1");
	t = gu_model_tensor(m, "head.bn1.running_var");
	CHECK(t && t->buffer && t->numel == 5 && t->off % 16 == 0, "bn1 running var");
	CHECK(m->n_buffers == 32 + 32 + 16 + 16, "n_buffers %zu", m->n_buffers);
	gu_model_free(m);

	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_LM);
	hp.vocab_size = 67;
	CHECK(gu_hparams_check(&hp) == 0, "default LM hparams valid: %s", gu_errmsg());
	CHECK(hp.emb == 400 && hp.hidden == 1150 && hp.bptt == 70 && hp.output_p == 0.25f &&
		      hp.weight_p == 0.15f && hp.drop_mult == 1.0f && hp.alpha == 2.0f,
	      "LM defaults");
	CHECK(gu_hparams_numel(&hp) == 67ull * 400 + 4ull * 1150 * (400 + 1150 + 2) +
						4ull * 1150 * (1150 + 1150 + 2) +
						4ull * 400 * (1150 + 400 + 2) + 67,
	      "LM numel %llu", (unsigned long long)gu_hparams_numel(&hp));
	gu_hparams_default(&hp, GU_MODEL_CLS);
	hp.vocab_size = 67;
	CHECK(gu_hparams_check(&hp) == 0, "default CLS hparams valid: %s", gu_errmsg());
	CHECK(hp.input_p == 0.6f && hp.drop_mult == 0.5f && hp.max_len == 280000, "CLS defaults");
	hp.input_p = 1.0f;
	CHECK(gu_hparams_check(&hp) == GU_EARG && strstr(gu_errmsg(), "input_p"), "p = 1 rejected");
	hp.input_p = 0.6f, hp.vocab_size = 4 * 4 * 4 + 4;
	CHECK(gu_hparams_check(&hp) == GU_EARG && strstr(gu_errmsg(), "vocab_size"), "V > 4^k+3");
	/* a vocab that does not match is refused and stays the caller's */
	hp.vocab_size = 20;
	gu_vocab *v = small_vocab(2);
	CHECK(gu_model_new(&hp, v, 0, NULL) == NULL, "mismatched vocab refused");
	gu_vocab_free(v);
}

static void test_init(void)
{
	gu_model *m = small_model(GU_MODEL_CLS, 7);
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		const float *x = gu_tensor_data(m, t);
		double bound = -1, maxabs = 0;
		int nonzero = 0;
		for (size_t j = 0; j < t->numel; j++) {
			if (fabs(x[j]) > maxabs) maxabs = fabs(x[j]);
			nonzero += x[j] != 0;
		}
		if (!strcmp(t->name, "encoder.weight")) bound = 0.1;
		else if (!strncmp(t->name, "rnns.2.", 7)) bound = 1 / sqrt(8.0);
		else if (!strncmp(t->name, "rnns.", 5)) bound = 1 / sqrt(12.0);
		else if (!strncmp(t->name, "head.lin0", 9)) bound = 1 / sqrt(24.0);
		else if (!strncmp(t->name, "head.lin1", 9)) bound = 1 / sqrt(5.0);
		if (bound > 0) {
			CHECK(maxabs <= bound, "%s: max |w| %g > %g", t->name, maxabs, bound);
			CHECK(maxabs > bound * 0.5, "%s: max |w| %g suspiciously small", t->name, maxabs);
			CHECK(nonzero > (int)t->numel * 9 / 10, "%s: zeros", t->name);
		} else {
			int one = strstr(t->name, ".weight") || strstr(t->name, "running_var");
			for (size_t j = 0; j < t->numel; j++)
				CHECK(x[j] == (one ? 1.0f : 0.0f), "%s[%zu] = %g", t->name, j, x[j]);
		}
	}
	/* the pad row (id 0) is random too */
	const float *emb = gu_tensor_data(m, gu_model_tensor(m, "encoder.weight"));
	int nz = 0;
	for (int j = 0; j < 8; j++) nz += emb[j] != 0;
	CHECK(nz == 8, "pad row initialised");
	for (size_t j = 0; j < m->n_params; j++) {
		int inside = 0;
		for (int i = 0; i < m->n_tensors; i++)
			inside |= !m->tensors[i].buffer && j >= m->tensors[i].off &&
				  j < m->tensors[i].off + m->tensors[i].numel;
		if (!inside) CHECK(m->params[j] == 0, "padding %zu zero", j);
	}
	CHECK(strncmp(m->prov[0], "lmtrain\t" GU_VERSION "\t", 9 + strlen(GU_VERSION)) == 0,
	      "prov prefix: %s", m->prov[0]);
	CHECK(strstr(m->prov[0], "\tlmtrain -o 'my model.model' 'it'\\''s'") != NULL, "prov: %s",
	      m->prov[0]);
	gu_model_free(m);
	/* LM decoder bias zero */
	m = small_model(GU_MODEL_LM, 7);
	const gu_tensor *t = gu_model_tensor(m, "decoder.bias");
	for (size_t j = 0; j < t->numel; j++) CHECK(m->params[t->off + j] == 0, "decoder bias 0");
	gu_model_free(m);
}

static void same_model(const gu_model *a, const gu_model *b)
{
	CHECK(memcmp(&a->hp, &b->hp, sizeof a->hp) == 0, "hparams equal");
	CHECK(a->vocab->size == b->vocab->size && a->vocab->k == b->vocab->k &&
		      a->vocab->stride == b->vocab->stride,
	      "vocab header");
	CHECK(memcmp(a->vocab->code, b->vocab->code, sizeof(uint32_t) * (size_t)a->vocab->size) == 0,
	      "vocab codes");
	CHECK(a->n_labels == b->n_labels, "n_labels");
	for (int i = 0; i < a->n_labels; i++) CHECK(!strcmp(a->labels[i], b->labels[i]), "label %d", i);
	CHECK(a->n_prov == b->n_prov, "n_prov %d %d", a->n_prov, b->n_prov);
	for (int i = 0; i < a->n_prov; i++) CHECK(!strcmp(a->prov[i], b->prov[i]), "prov %d", i);
	CHECK(a->n_params == b->n_params && a->n_buffers == b->n_buffers, "sizes");
	CHECK(memcmp(a->params, b->params, a->n_params * 4) == 0, "params bit-identical");
	CHECK(!a->n_buffers || memcmp(a->buffers, b->buffers, a->n_buffers * 4) == 0, "buffers");
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	CHECK(fp != NULL, "open %s", path);
	fseek(fp, 0, SEEK_END);
	*n = (size_t)ftell(fp);
	rewind(fp);
	unsigned char *b = malloc(*n + 1);
	CHECK(fread(b, 1, *n, fp) == *n, "read %s", path);
	fclose(fp);
	return b;
}
static void spit(const char *path, const void *b, size_t n)
{
	FILE *fp = fopen(path, "wb");
	CHECK(fp && fwrite(b, 1, n, fp) == n && fclose(fp) == 0, "write %s", path);
}

/* Writes the variant and checks that the model (or checkpoint) reader fails with a message
 * holding want and naming the file. */
static void expect_fail(int ckpt, const unsigned char *b, size_t n, const char *want,
			const char *what)
{
	const char *p = tmp("bad.bin");
	spit(p, b, n);
	int failed;
	if (ckpt) {
		gu_checkpoint ck;
		failed = gu_checkpoint_read(p, &ck) < 0;
		if (!failed) gu_checkpoint_free(&ck);
	} else {
		gu_model *m = gu_model_read(p);
		failed = m == NULL;
		gu_model_free(m);
	}
	CHECK(failed, "%s: accepted", what);
	CHECK(strstr(gu_errmsg(), want) && strstr(gu_errmsg(), p) == gu_errmsg(),
	      "%s: message '%s' lacks '%s'", what, gu_errmsg(), want);
	fprintf(stderr, "  %-28s -> %s\n", what, gu_errmsg());
}

static void put32(unsigned char *b, uint32_t x)
{
	for (int i = 0; i < 4; i++) b[i] = (unsigned char)(x >> (8 * i));
}

static void test_modelfile(int kind)
{
	gu_model *m = small_model(kind, 11);
	if (kind == GU_MODEL_CLS) /* non-default running stats */
		for (int i = 0; i < m->n_tensors; i++)
			for (size_t j = 0; m->tensors[i].buffer && j < m->tensors[i].numel; j += 3)
				m->buffers[m->tensors[i].off + j] = 0.25f * (float)(j + 1);
	const char *path = tmp("m.model");
	CHECK(gu_model_write(m, path) == 0, "write: %s", gu_errmsg());
	gu_model *r = gu_model_read(path);
	CHECK(r != NULL, "read: %s", gu_errmsg());
	same_model(m, r);
	gu_model_free(r);
	CHECK(access(tmp("m.model.tmp"), F_OK) != 0, "no temporary left");

	/* writing into a missing directory fails, nothing left behind */
	CHECK(gu_model_write(m, tmp("nodir/m.model")) == GU_EIO, "write to missing dir");
	/* a NaN is refused and the old file stays */
	float keep = m->params[0];
	m->params[0] = NAN;
	CHECK(gu_model_write(m, path) == GU_ENUM && strstr(gu_errmsg(), "encoder.weight"),
	      "NaN refused: %s", gu_errmsg());
	m->params[0] = keep;
	r = gu_model_read(path);
	CHECK(r != NULL, "old file intact");
	gu_model_free(r);

	size_t n;
	unsigned char *b = slurp(path, &n), *c = malloc(n);
	fprintf(stderr, "%s model file: %zu bytes\n", kind == GU_MODEL_LM ? "LM" : "CLS", n);
	memcpy(c, b, n);
	c[0] ^= 0x20;
	expect_fail(0, c, n, "bad magic", "bad magic");
	memcpy(c, b, n);
	put32(c + 8, 7);
	expect_fail(0, c, n, "unsupported version 7", "version 7");
	expect_fail(0, c, 0, "empty file", "empty");
	size_t cuts[] = {5, 10, 14, 60, 100, 200, n / 2, n - 5, n - 1};
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "truncated at %zu", cuts[i]);
		expect_fail(0, b, cuts[i], "truncated", what);
	}
	memcpy(c, b, n);
	c[n / 2] ^= 0x01;
	expect_fail(0, c, n, "checksum mismatch", "flipped byte in the middle");
	memcpy(c, b, n);
	c[n - 1] ^= 0x80;
	expect_fail(0, c, n, "checksum mismatch", "flipped checksum byte");
	/* trailing garbage */
	unsigned char *d = malloc(n + 3);
	memcpy(d, b, n);
	memcpy(d + n, "xyz", 3);
	expect_fail(0, d, n + 3, "trailing data", "trailing data");
	free(d);
	/* length fields pointing past the end */
	size_t voff = 12 + 11 * 4 + 8 * 4; /* n_ids */
	size_t loff = voff + 4 + 4 * (size_t)m->hp.vocab_size; /* n_labels */
	size_t poff = loff + 4;
	for (int i = 0; i < m->n_labels; i++) poff += 4 + strlen(m->labels[i]);
	memcpy(c, b, n);
	put32(c + poff + 4, 1000000); /* first provenance line's length */
	expect_fail(0, c, n, "truncated (provenance line runs past the end", "prov length past end");
	memcpy(c, b, n);
	put32(c + poff, 0x7fffffff); /* provenance count */
	expect_fail(0, c, n, "runs past the end", "prov count past end");
	if (kind == GU_MODEL_CLS) {
		memcpy(c, b, n);
		put32(c + loff + 4, 100000); /* first label's length */
		expect_fail(0, c, n, "length 100000 exceeds", "label length too large");
		memcpy(c, b, n);
		put32(c + loff + 4, 3); /* "lnc": the rest no longer parses */
		expect_fail(0, c, n, "bad.bin: ", "label length off");
	}
	/* hyperparameters that ask for more data than the file holds: refused before allocating */
	memcpy(c, b, n);
	put32(c + 12 + 4 * 4, 65536); /* emb */
	expect_fail(0, c, n, "truncated (tensor data runs past the end", "huge emb");
	memcpy(c, b, n);
	put32(c + 12 + 13 * 4, 0x3fc00000); /* input_p = 1.5 */
	expect_fail(0, c, n, "bad hyperparameters: input_p", "input_p 1.5");
	memcpy(c, b, n);
	put32(c + voff, 20);
	expect_fail(0, c, n, "vocabulary has 20 ids", "n_ids mismatch");
	memcpy(c, b, n);
	put32(c + voff + 4 * 5, 3); /* id 4 repeats a code... */
	put32(c + voff + 4 * 6, 3);
	expect_fail(0, c, n, "twice", "duplicate k-mer");

	free(b);
	free(c);
	gu_model_free(m);
}

static void test_checkpoint(void)
{
	gu_model *m = small_model(GU_MODEL_CLS, 5);
	float *am = calloc(m->n_params, 4), *av = calloc(m->n_params, 4);
	for (int i = 0; i < m->n_tensors; i++) {
		const gu_tensor *t = &m->tensors[i];
		if (t->buffer) continue;
		for (size_t j = 0; j < t->numel; j++) {
			am[t->off + j] = 0.001f * (float)j - 0.01f;
			av[t->off + j] = 1e-6f * (float)(j + i);
		}
	}
	int64_t steps[5] = {0, 0, 3, 17, 123456789012LL};
	const char blob[] = "epoch=2 step=17 rng=...";
	const char *path = tmp("c.ckpt");
	CHECK(gu_checkpoint_write(path, m, am, av, steps, 4, blob, sizeof blob) == GU_EARG,
	      "wrong group count refused");
	CHECK(gu_checkpoint_write(path, m, am, av, steps, 5, blob, sizeof blob) == 0, "ckpt write: %s",
	      gu_errmsg());
	gu_checkpoint ck;
	CHECK(gu_checkpoint_read(path, &ck) == 0, "ckpt read: %s", gu_errmsg());
	same_model(m, ck.model);
	CHECK(memcmp(ck.adam_m, am, m->n_params * 4) == 0, "adam m");
	CHECK(memcmp(ck.adam_v, av, m->n_params * 4) == 0, "adam v");
	CHECK(memcmp(ck.group_steps, steps, sizeof steps) == 0, "steps");
	CHECK(ck.trainer_len == sizeof blob && !memcmp(ck.trainer_state, blob, sizeof blob), "blob");
	gu_checkpoint_free(&ck);
	/* empty trainer state */
	CHECK(gu_checkpoint_write(path, m, am, av, steps, 5, NULL, 0) == 0, "ckpt write 2");
	CHECK(gu_checkpoint_read(path, &ck) == 0 && ck.trainer_len == 0 && !ck.trainer_state,
	      "ckpt read 2");
	gu_checkpoint_free(&ck);
	CHECK(gu_checkpoint_write(path, m, am, av, steps, 5, blob, sizeof blob) == 0, "ckpt write 3");
	/* a model file is not a checkpoint and vice versa */
	CHECK(gu_model_read(path) == NULL && strstr(gu_errmsg(), "is a checkpoint"), "ckpt as model: %s",
	      gu_errmsg());
	CHECK(gu_model_write(m, tmp("m2.model")) == 0, "model write");
	CHECK(gu_checkpoint_read(tmp("m2.model"), &ck) < 0 && strstr(gu_errmsg(), "is a model file"),
	      "model as ckpt: %s", gu_errmsg());

	size_t n;
	unsigned char *b = slurp(path, &n), *c = malloc(n);
	memcpy(c, b, n);
	c[n / 2] ^= 0x10;
	expect_fail(1, c, n, "checksum mismatch", "ckpt flipped byte");
	memcpy(c, b, n);
	c[n - 10] ^= 0x10; /* inside the trainer blob */
	expect_fail(1, c, n, "checksum mismatch", "ckpt flipped blob byte");
	memcpy(c, b, n);
	put32(c + 8, 3);
	expect_fail(1, c, n, "unsupported version 3", "ckpt version");
	size_t cuts[] = {3, 30, n / 3, n / 2, n - sizeof blob - 3, n - 4, n - 1};
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "ckpt truncated at %zu", cuts[i]);
		expect_fail(1, b, cuts[i], "truncated", what);
	}
	/* trainer length past the end */
	memcpy(c, b, n);
	size_t toff = n - 4 - sizeof blob - 8;
	put32(c + toff, 1u << 30);
	expect_fail(1, c, n, "trainer state runs past the end", "trainer length past end");
	free(b);
	free(c);
	free(am);
	free(av);
	gu_model_free(m);
}

/* The bases output: its hyperparameter, tensors, init, model file (version 2, the kmer
 * output's files stay version 1), checkpoint and safetensors round trips. */
static void test_bases(void)
{
	gu_hparams hp;
	gu_hparams_default(&hp, GU_MODEL_LM);
	CHECK(hp.lm_output == GU_LM_KMER, "kmer output by default");
	hp.k = 2, hp.stride = 3, hp.vocab_size = 19, hp.lm_output = GU_LM_BASES;
	CHECK(gu_hparams_check(&hp) == GU_EARG && strstr(gu_errmsg(), "stride <= k"), "k < s: %s",
	      gu_errmsg());
	hp.stride = 2;
	CHECK(gu_hparams_check(&hp) == 0 && gu_lm_n_out(&hp) == 16, "k = s bases");
	hp.lm_output = 2;
	CHECK(gu_hparams_check(&hp) == GU_EARG && strstr(gu_errmsg(), "lm_output"), "lm_output 2");
	gu_hparams_default(&hp, GU_MODEL_CLS);
	hp.vocab_size = 19, hp.lm_output = GU_LM_BASES;
	CHECK(gu_hparams_check(&hp) == GU_EARG && strstr(gu_errmsg(), "classifier"), "CLS bases");

	gu_model *m = bases_model(21);
	CHECK(m->n_groups == 4 && m->n_tensors == 1 + 12 + 2, "bases tensors %d", m->n_tensors);
	const gu_tensor *w = gu_model_tensor(m, "decoder.weight"), *b = gu_model_tensor(m, "decoder.bias");
	CHECK(w && w->ndim == 2 && w->shape[0] == 16 && w->shape[1] == 8 && w->group == 3 &&
		      w == &m->tensors[m->n_tensors - 2],
	      "decoder.weight (16,8) in the embedding's group, before the bias");
	CHECK(b && b->numel == 16 && b->group == 3 && b == &m->tensors[m->n_tensors - 1], "decoder.bias");
	double maxabs = 0;
	for (size_t j = 0; j < w->numel; j++)
		if (fabs(m->params[w->off + j]) > maxabs) maxabs = fabs(m->params[w->off + j]);
	CHECK(maxabs <= 0.1 && maxabs > 0.05, "decoder.weight U(-0.1, 0.1): max %g", maxabs);
	for (size_t j = 0; j < b->numel; j++) CHECK(m->params[b->off + j] == 0, "decoder bias 0");
	gu_model *k = small_model(GU_MODEL_LM, 21); /* a kmer LM of the same vocabulary size */

	/* model file: version 2 with lm_output after beta; reads back identically */
	const char *path = tmp("m.model");
	CHECK(gu_model_write(m, path) == 0, "write: %s", gu_errmsg());
	size_t n;
	unsigned char *f = slurp(path, &n), *c = malloc(n);
	CHECK(f[8] == 2 && f[9] == 0 && f[88] == GU_LM_BASES && f[92] == 19, "version 2, lm_output at 88");
	gu_model *r = gu_model_read(path);
	CHECK(r != NULL, "read bases: %s", gu_errmsg());
	same_model(m, r);
	CHECK(r->hp.lm_output == GU_LM_BASES, "bases read back");
	gu_model_free(r);
	memcpy(c, f, n);
	put32(c + 88, 7);
	expect_fail(0, c, n, "bad hyperparameters: lm_output = 7", "lm_output 7");
	memcpy(c, f, n);
	put32(c + 8, 1); /* a version 1 reader sees n_ids where lm_output is */
	expect_fail(0, c, n, "bad.bin: ", "bases as version 1");
	free(f);
	/* the kmer output still writes version 1, n_ids at 88 */
	CHECK(gu_model_write(k, path) == 0, "write kmer: %s", gu_errmsg());
	f = slurp(path, &n);
	CHECK(f[8] == 1 && f[88] == 19, "kmer: version 1");
	free(f);
	free(c);

	/* checkpoint */
	float *am = calloc(m->n_params, 4), *av = calloc(m->n_params, 4);
	for (size_t j = 0; j < m->n_params; j++) am[j] = 0.5f, av[j] = 0.25f;
	int64_t steps[4] = {1, 2, 3, 4};
	CHECK(gu_checkpoint_write(tmp("c.ckpt"), m, am, av, steps, 4, "xy", 2) == 0, "ckpt: %s", gu_errmsg());
	gu_checkpoint ck;
	CHECK(gu_checkpoint_read(tmp("c.ckpt"), &ck) == 0, "read ckpt: %s", gu_errmsg());
	same_model(m, ck.model);
	w = gu_model_tensor(ck.model, "decoder.weight");
	CHECK(ck.adam_m[w->off] == 0.5f && ck.adam_v[w->off + w->numel - 1] == 0.25f, "decoder moments");
	gu_checkpoint_free(&ck);
	free(am), free(av);

	/* safetensors: the key lm_output (absent for kmer) */
	CHECK(gu_model_export_safetensors(m, tmp("m.safetensors")) == 0, "export: %s", gu_errmsg());
	gu_st_file *st = gu_st_read(tmp("m.safetensors"));
	CHECK(st && gu_st_meta(st, "lm_output") && !strcmp(gu_st_meta(st, "lm_output"), "bases"),
	      "lm_output key");
	const gu_st_tensor *t = gu_st_get(st, "decoder.weight");
	CHECK(t && t->ndim == 2 && t->shape[0] == 16 && t->shape[1] == 8, "st decoder.weight");
	gu_st_free(st);
	r = gu_model_import_safetensors(tmp("m.safetensors"));
	CHECK(r != NULL, "import bases: %s", gu_errmsg());
	same_model(m, r);
	gu_model_free(r);
	CHECK(gu_model_export_safetensors(k, tmp("m.safetensors")) == 0, "export kmer");
	st = gu_st_read(tmp("m.safetensors"));
	CHECK(st && !gu_st_meta(st, "lm_output"), "no lm_output key for kmer");
	gu_st_free(st);
	gu_model_free(k);
	gu_model_free(m);
}

static void test_safetensors(int kind)
{
	gu_model *m = small_model(kind, 3);
	const char *path = tmp("m.safetensors");
	CHECK(gu_model_export_safetensors(m, path) == 0, "export: %s", gu_errmsg());
	gu_st_file *f = gu_st_read(path);
	CHECK(f != NULL, "st_read: %s", gu_errmsg());
	CHECK(f->n == m->n_tensors, "tensor count");
	CHECK(!strcmp(gu_st_meta(f, "format"), "gulm"), "format key");
	CHECK(!strcmp(gu_st_meta(f, "kind"), kind == GU_MODEL_LM ? "lm" : "classifier"), "kind key");
	CHECK(!strcmp(gu_st_meta(f, "hidden"), "12") && !strcmp(gu_st_meta(f, "k"), "2"), "ints");
	const char *voc = gu_st_meta(f, "vocab");
	CHECK(voc && !strncmp(voc, "AT GG AC GA TT", 14), "vocab key: %.20s", voc);
	if (kind == GU_MODEL_CLS)
		CHECK(!strcmp(gu_st_meta(f, "labels"), "lncRNA\tmRNA\tother"), "labels key");
	CHECK(strchr(gu_st_meta(f, "provenance"), '\n') != NULL, "provenance key");
	CHECK(f->metadata_json && !strncmp(f->metadata_json, "{\"format\":\"gulm\",\"gulm_version\":", 32),
	      "metadata json in file order: %.40s", f->metadata_json);
	for (int i = 0; i < f->n; i++) /* tensors in header (= layout) order */
		CHECK(!strcmp(f->t[i].name, m->tensors[i].name), "tensor %d: %s", i, f->t[i].name);
	const gu_st_tensor *t = gu_st_get(f, "rnns.1.weight_hh");
	const gu_tensor *mt = gu_model_tensor(m, "rnns.1.weight_hh");
	CHECK(t && !strcmp(t->dtype, "F32") && t->ndim == 2 && t->shape[0] == 48 && t->shape[1] == 12,
	      "st tensor");
	CHECK(!memcmp(t->data, m->params + mt->off, mt->numel * 4), "st tensor data");
	gu_st_free(f);
	gu_model *r = gu_model_import_safetensors(path);
	CHECK(r != NULL, "import: %s", gu_errmsg());
	same_model(m, r);
	gu_model_free(r);
	gu_model_free(m);
}

/* Hand-written safetensors files that the strict reader must refuse. */
static void st_case(const char *json, size_t data_len, const char *want)
{
	size_t hl = strlen(json);
	unsigned char *b = calloc(8 + hl + data_len + 1, 1);
	for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
	memcpy(b + 8, json, hl);
	const char *p = tmp("bad.safetensors");
	spit(p, b, 8 + hl + data_len);
	free(b);
	gu_st_file *f = gu_st_read(p);
	if (!want) {
		CHECK(f != NULL, "valid safetensors refused: %s: %s", json, gu_errmsg());
		gu_st_free(f);
		return;
	}
	CHECK(f == NULL, "accepted: %s", json);
	CHECK(strstr(gu_errmsg(), want) != NULL, "'%s': message '%s' lacks '%s'", json, gu_errmsg(),
	      want);
}

static void test_st_reject(void)
{
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL);
	st_case("{}", 0, NULL);
	st_case("{\"__metadata__\":{\"x\":\"\\u00e9\\ud83d\\ude00\"}}  ", 0, NULL);
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the data");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "does not fill");
	st_case("{\"a\":{\"dtype\":\"X9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "twice");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "bytes of tensor data");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, "trailing");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "integer");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "integer");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "lacks");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown");
	st_case("{\"__metadata__\":{\"x\":1}}", 0, "must be strings");
	st_case("{\"__metadata__\":{\"x\":\"\\ud800\"}}", 0, "invalid Unicode"); /* lone surrogate */
	st_case("{\"__metadata__\":{\"x\":\"\\udc00\\ud800\"}}", 0, "invalid Unicode");
	st_case("{\"__metadata__\":{\"x\":\"a\nb\"}}", 0, "newline");
	st_case("{\"__metadata__\":{\"x\":\"a\x01\" \"b\"}}", 0, "control character");
	st_case("{\"__metadata__\":{\"x\":\"a\\u0000\"}}", 0, "u0000");
	st_case("{\"__metadata__\":{\"x\":\"\xff\"}}", 0, "UTF-8");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
		"\"data_offsets\":[0,8]}}", 8, "does not fill");
	st_case("[1]", 0, "start with");
	st_case(" {}", 0, "start with");
	/* duplicate keys are refused at every level */
	st_case("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "twice");
	st_case("{\"__metadata__\":{\"x\":\"1\",\"y\":\"2\",\"x\":\"1\"}}", 0, "twice");
	st_case("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		"twice");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[{\"q\":1,\"q\":1}],\"data_offsets\":[0,8]}}", 8,
		"twice");
	/* every field's type */
	st_case("{\"a\":[]}", 0, "not an object");
	st_case("{\"__metadata__\":[]}", 0, "__metadata__ is not an object");
	st_case("{\"__metadata__\":{\"x\":null}}", 0, "must be strings");
	st_case("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, "shape is not");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
		"at most 8");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, NULL);
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "two");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, "two");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", 8, "integer");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "decrease");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}", 8,
		"too big");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
		"\"b\":{\"dtype\":\"U8\",\"shape\":[0,4294967296,4294967296,4294967296],"
		"\"data_offsets\":[0,0]}}", 0, NULL);
	/* every length against what remains */
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "gap");
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}", 12, "past the data");
	char name[200];
	memset(name, 'n', 128), name[128] = 0;
	char json[400];
	snprintf(json, sizeof json, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[2],"
		 "\"data_offsets\":[0,8]}}", name);
	st_case(json, 8, "longer than 127");
	name[127] = 0;
	snprintf(json, sizeof json, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[2],"
		 "\"data_offsets\":[0,8]}}", name);
	st_case(json, 8, NULL);
	st_case("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "expected");
	/* header length past the end of the file */
	unsigned char b[16] = {0xff, 0xff, 0xff, 0, 0, 0, 0, 0, '{', '}'};
	spit(tmp("len.safetensors"), b, 10);
	CHECK(gu_st_read(tmp("len.safetensors")) == NULL && strstr(gu_errmsg(), "header length"),
	      "header length past end: %s", gu_errmsg());
}

int main(void)
{
	mkdir("tests/tmp", 0777);
	snprintf(dir, sizeof dir, "tests/tmp/test_model.%ld", (long)getpid());
	CHECK(mkdir(dir, 0777) == 0, "mkdir %s: %s", dir, strerror(errno));
	test_layout();
	test_init();
	test_modelfile(GU_MODEL_LM);
	test_modelfile(GU_MODEL_CLS);
	test_checkpoint();
	test_bases();
	test_safetensors(GU_MODEL_LM);
	test_safetensors(GU_MODEL_CLS);
	test_st_reject();
	const char *names[] = {"m.model", "m2.model", "c.ckpt", "bad.bin", "m.safetensors",
			       "bad.safetensors", "len.safetensors"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) remove(tmp(names[i]));
	rmdir(dir);
	return tu_done("test_model");
}
