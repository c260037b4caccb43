/* libFuzzer target for the token stream reader: any bytes must give records or a clean error,
 * never a crash, a leak or a runaway allocation. */
#include <stdio.h>

#include "gulm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0) return 0;
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp) return 0;
	gu_tokreader *r = gu_tok_open_file(fp, "fuzz");
	if (r) {
		gu_record rec;
		uint64_t sum = 0;
		while (gu_tok_read(r, &rec) > 0)
			for (size_t i = 0; i < rec.n; i++) sum += rec.tok[i]; /* touch every token */
		(void)sum;
		gu_tok_close(r);
	}
	fclose(fp);
	return 0;
}
