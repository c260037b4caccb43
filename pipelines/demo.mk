# demo.mk: the README's main job, `make demo`: the GUE recipe (gue.mk) on one task on which
# pre-training helps, started from the canonical human LM (models/human-k1s1.model; nothing is
# pre-trained here): the forward + reverse-complement pair (ulmfit) and its members, beside the
# forward classifier from a random encoder (ulmfit_scratch, to compare with ulmfit_fwd) and the
# k-mer logistic regression (kmer_lr), all in the same run. About 10 minutes on 2 idle cores (make -j2).
#
#   make -C pipelines demo [DEMO_TASK=prom_core_tata] [DEMO_OUT=out/demo]
#
# The table is printed and written as $(DEMO_OUT)/results.tsv (gue.mk's columns); the budgets
# are gue.mk's, in steps and records, so a loaded machine gives the same numbers, later.
DEMO_TASK ?= prom_core_tata
DEMO_OUT  ?= $(OUT)/demo

.PHONY: demo
demo:
	@echo "[demo] GUE $(DEMO_TASK): the canonical human LM fine-tuned, then a classifier, on each strand; the forward one without pre-training; the k-mer regression"
	@$(MAKE) --no-print-directory gue GUE_TASKS=$(DEMO_TASK) GUE_OUT=$(DEMO_OUT) GUE_NOPRE=yes \
		GUE_COMMAND='make -C pipelines demo $(MAKEOVERRIDES)'
