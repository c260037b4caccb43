/* fuzz_model.c: libFuzzer target for the binary readers of model files, checkpoints and
 * safetensors (lib/modelio.c, lib/safetensors.c). Each input is written to a temporary file
 * and handed to every reader; none may crash, leak, hang or allocate beyond what the input's
 * size justifies. Build and run: make -C tests/fuzz run-model (see the Makefile). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gulm.h"

static char path[256];

static void cleanup(void)
{
	if (path[0]) unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		const char *d = getenv("TMPDIR");
		snprintf(path, sizeof path, "%s/fuzz_model.%ld.bin", d && *d ? d : "/tmp",
			 (long)getpid());
		atexit(cleanup);
	}
	FILE *fp = fopen(path, "wb");
	if (!fp) abort();
	if (size && fwrite(data, 1, size, fp) != size) abort();
	if (fclose(fp) != 0) abort();

	gu_model *m = gu_model_read(path);
	if (m) { /* a valid model must survive a write/read round trip */
		char out[300];
		snprintf(out, sizeof out, "%s.out", path);
		if (gu_model_write(m, out) == 0) {
			gu_model *r = gu_model_read(out);
			if (!r || r->n_params != m->n_params ||
			    memcmp(r->params, m->params, m->n_params * sizeof(float)) != 0)
				abort();
			gu_model_free(r);
		}
		unlink(out);
		gu_model_free(m);
	} else if (!gu_errmsg()[0]) {
		abort(); /* every failure must leave a message */
	}

	gu_checkpoint ck;
	if (gu_checkpoint_read(path, &ck) == 0) gu_checkpoint_free(&ck);

	gu_st_file *f = gu_st_read(path);
	if (f) {
		for (int i = 0; i < f->n; i++)
			if (gu_st_get(f, f->t[i].name) == NULL) abort();
		(void)gu_st_meta(f, "format");
		gu_st_free(f);
	}
	m = gu_model_import_safetensors(path);
	gu_model_free(m);
	return 0;
}
