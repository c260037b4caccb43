# GUE (issue 38): one recipe for any labelled data set, run on every task folder of a benchmark
# laid out as TASK/{train,dev,test}.csv.gz (sequence,label CSV, labels 0/1), as GUE ships it.
#
#   make -C pipelines gue                         every task under GUE_DIR
#   make -C pipelines -j2 gue GUE_TASKS='mouse_2 tf_0'   some of them, two at a time
#   make -C pipelines gue GUE_DIR=~/mydata GUE_OUT=out/mine   your own task folders
#
# Per task, in $(GUE_OUT)/TASK/:
#   1. fa2kmer: the three CSV files -> token streams at the LM's k and stride (GUE_K, GUE_S)
#   2. lmtune: the canonical pre-trained LM (GUE_LM) fine-tuned on the task's training
#      sequences for GUE_TUNE_STEPS steps (fewer when GUE_TUNE_EPOCHS epochs hold fewer), dev
#      as its validation set
#   3. clstrain: the classifier with clstrain's defaults (two head-only epochs, then eight of
#      everything; the epoch with the lowest dev loss kept), fewer epochs on a set of more than
#      GUE_CLS_TOKENS / 10 tokens (--max-tokens)
#   4. clspredict on test, scored once (metrics, ROC, predictions)
#   5. kmerlr (baselines/kmerlr): the 1- to 6-mer logistic regression, C chosen on dev, on test
#   GUE_NOPRE=yes adds the same classifier from a random encoder (no pre-training, E and H of
#   GUE_NOPRE_E/H), model ulmfit_scratch, with the same budget.
#   GUE_PAIR=yes adds the reference's forward + backward pair, with DNA's other strand as the
#   backward text: steps 1-4 again on the reverse complements of the three sets (the same LM
#   fine-tuned on them), model ulmfit_rc, and ulmfit_pair, the mean of the probabilities of the
#   ulmfit and ulmfit_rc classifiers, each reading its own strand.
# $(GUE_OUT)/dev.tsv holds the same columns for the ULMFiT models on dev: the set to compare
# variants on (kmer_lr is left out: its dev score is the maximum of its penalty search).
# Nothing is chosen on test. $(GUE_OUT)/results.tsv: task, model, accuracy, mcc, roc_auc of the
# test set, one row per task and model (ulmfit, kmer_lr, and those asked for); settings.txt and
# command.txt beside it. The budgets are work, not wall time, so a loaded machine gives the same
# models, later: 700 fine-tuning steps of 64 x 70 tokens (about 3 min on one core) and at most
# 40M classifier tokens (the full 2 + 8 epochs of the largest GUE task read 33M, about 40 min on
# one core; a larger set, or one of longer sequences, trains fewer epochs).
# GUE_TUNE_TIME and GUE_CLS_TIME only stop a step that runs far too long (a warning, and the
# model as it is). A step interrupted (Ctrl-C, a lost session) resumes from its checkpoint.
#
# Self-contained: the variables below are defaults (?=) that the including Makefile or the
# command line may set. One line per step is printed; GUE_SHOW=yes (or V=1) prints the commands too.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:

TOP  ?= $(abspath ..)
DATA ?= $(abspath $(TOP)/../shared/data)
BIN  ?= $(TOP)/bin
OUT  ?= out
SEED ?= 1
Q    ?= -q

GUE_DIR   ?= $(DATA)/gue
# every folder holding train.csv.gz, sorted
GUE_TASKS ?= $(sort $(patsubst $(GUE_DIR)/%/train.csv.gz,%,$(wildcard $(GUE_DIR)/*/train.csv.gz)))
GUE_OUT   ?= $(OUT)/gue
# the canonical pre-trained LM and its tokenisation (k, stride: clstrain refuses a mismatch)
GUE_LM    ?= $(TOP)/models/human-k1s1.model
GUE_K     ?= 1
GUE_S     ?= 1
GUE_TUNE_STEPS  ?= 700
GUE_TUNE_EPOCHS ?= 20
GUE_TUNE_TIME   ?= 30m
GUE_CLS_TOKENS  ?= 40M
GUE_CLS_TIME    ?= 60m
GUE_THREADS     ?= 1
GUE_NOPRE       ?=
GUE_NOPRE_E     ?= 64
GUE_NOPRE_H     ?= 256
GUE_PAIR        ?=
# extra options (empty in the recipe: the defaults are the recipe; the tests shorten it)
GUE_TUNE_OPTS   ?=
GUE_CLS_OPTS    ?=
GUE_KMERLR_OPTS ?=
GUE_SHOW        ?=
# the command results.tsv's command.txt names (demo.mk names its own)
GUE_COMMAND     ?= make -C pipelines gue $(MAKEOVERRIDES)

G := $(GUE_OUT)
# $(call gue_from,TARGET,INPUTS,COMMAND): the steps that read GUE_DIR run COMMAND only when
# TARGET was not made from these very INPUT bytes (pipelines/madefrom): a data folder re-dated by a
# new mount, with the same files, keeps TARGET and everything made from it
gue_from = if ! $(TOP)/pipelines/madefrom $(1) $(2); then $(3); $(TOP)/pipelines/madefrom --record $(1) $(2); fi
H := $(if $(GUE_SHOW)$(filter 1,$(V)),,@)
gue_deep   := ulmfit $(if $(GUE_NOPRE),ulmfit_scratch) $(if $(GUE_PAIR),ulmfit_rc ulmfit_pair)
gue_models := $(gue_deep) kmer_lr
gue_resume = $(if $(wildcard $(TOP)/pipelines/resumable),$$(if $(TOP)/pipelines/resumable $(1).ckpt $(3); then echo '--resume $(1).ckpt'; else echo '$(2)'; fi),$(2))

ifneq ($(filter gue,$(MAKECMDGOALS)),)
ifeq ($(GUE_TASKS),)
$(error GUE: no task folder with train.csv.gz under GUE_DIR=$(GUE_DIR))
endif
endif

.PHONY: gue
# every file of a task is kept (pattern targets would be intermediate, deleted after the run);
# named, never a bare .SECONDARY (no tasks found), which would make every experiment's files
# secondary: make would not remake a missing one
gue_files := $(foreach t,$(GUE_TASKS),$(addprefix $(G)/$(t)/,train.tok dev.tok test.tok tuned.model vocab.tsv \
	train.rc.tok dev.rc.tok test.rc.tok tuned.rc.model cls.ulmfit.model cls.ulmfit_scratch.model cls.ulmfit_rc.model \
	$(foreach s,test dev,$(foreach m,ulmfit ulmfit_scratch ulmfit_rc ulmfit_pair,$(m).$(s).metrics)) kmer_lr.test.metrics \
	rows.tsv devrows.tsv))
ifneq ($(gue_files),)
.SECONDARY: $(gue_files)
endif
gue: $(G)/results.tsv
	@column -t -s$$'\t' $<

# a set's stream: $(1) the set, $(2) the strand's suffix ('' forward, .rc the reverse
# complements: the same records, the other strand, for GUE_PAIR), $(3) fa2kmer's strand option.
# One rule a file: make then sees that a stream kept by gue_from is unchanged.
define gue_tokenise
$(G)/%/$(1)$(2).tok: $(GUE_DIR)/%/$(1).csv.gz
	@mkdir -p $$(@D)
	@echo "[gue $$*] tokenising $(1)$(if $(3), (reverse complements)) (k=$(GUE_K), stride $(GUE_S))"
	$(H)$$(call gue_from,$$@,$$<,$(BIN)/fa2kmer $(Q) --csv $(3) -k$(GUE_K) -s$(GUE_S) $$< -o $$@)
endef
$(foreach s,train dev test,$(eval $(call gue_tokenise,$(s),,))$(eval $(call gue_tokenise,$(s),.rc,-S rev)))

# $(1): the strand's suffix of the streams and models ('' forward, .rc the reverse complements);
# $(2): its classifier's model name; $(3): words for the step lines
define gue_strand
$(G)/%/tuned$(1).model: $(GUE_LM) $(G)/%/train$(1).tok $(G)/%/dev$(1).tok
	@echo "[gue $$*] fine-tuning $(notdir $(GUE_LM)) on train$(3) ($(GUE_TUNE_STEPS) steps, at most $(GUE_TUNE_EPOCHS) epochs)"
	$(H)$(BIN)/lmtune $(Q) -V $$(word 3,$$^) -e $(GUE_TUNE_EPOCHS) --steps $(GUE_TUNE_STEPS) --time $(GUE_TUNE_TIME) -t $(GUE_THREADS) --seed $(SEED) \
		$(GUE_TUNE_OPTS) --log $$(@D)/tuned$(1).log.tsv --checkpoint $$@.ckpt $$(call gue_resume,$$@,-m $$<,$$^) -o $$@ $$(word 2,$$^)

$(G)/%/cls.$(2).model: $(G)/%/tuned$(1).model $(G)/%/train$(1).tok $(G)/%/dev$(1).tok
	@echo "[gue $$*] training the classifier$(3) (at most $(GUE_CLS_TOKENS) tokens, best epoch on dev)"
	$(H)$(BIN)/clstrain $(Q) -V $$(word 3,$$^) --max-tokens $(GUE_CLS_TOKENS) --time $(GUE_CLS_TIME) -t $(GUE_THREADS) --seed $(SEED) $(GUE_CLS_OPTS) \
		--log $$(@D)/cls.$(2).log.tsv --checkpoint $$@.ckpt $$(call gue_resume,$$@,-m $$<,$$^) -o $$@ $$(word 2,$$^)
endef
$(eval $(call gue_strand,,ulmfit,))
$(eval $(call gue_strand,.rc,ulmfit_rc, (reverse complements)))

$(G)/%/vocab.tsv: $(G)/%/train.tok
	$(H)$(BIN)/kmervocab $(Q) $< -o $@

$(G)/%/cls.ulmfit_scratch.model: $(G)/%/vocab.tsv $(G)/%/train.tok $(G)/%/dev.tok
	@echo "[gue $*] training the classifier without pre-training (at most $(GUE_CLS_TOKENS) tokens)"
	$(H)$(BIN)/clstrain $(Q) -V $(word 3,$^) --max-tokens $(GUE_CLS_TOKENS) --time $(GUE_CLS_TIME) -t $(GUE_THREADS) --seed $(SEED) $(GUE_CLS_OPTS) \
		--log $(@D)/cls.ulmfit_scratch.log.tsv --checkpoint $@.ckpt \
		$(call gue_resume,$@,--no-pretrain -v $< -E $(GUE_NOPRE_E) -H $(GUE_NOPRE_H),$^) -o $@ $(word 2,$^)

# $(1): the model; $(2): the set (test, dev); $(3): the models' files; $(4): their streams, in order
define gue_score
$(G)/%/$(1).$(2).metrics: $(3) $(4)
	@echo "[gue $$*] scoring $(1) on $(2)"
	$(H)$(BIN)/clspredict $(Q) $$(foreach f,$$(filter %.model,$$^),-m $$(f)) -t $(GUE_THREADS) --positive 1 --metrics $$@.tmp \
		--roc $$(@D)/$(1).$(2).roc $$(filter %.tok,$$^) > $$(@D)/$(1).$(2).tsv
	$(H)mv $$@.tmp $$@
endef
$(foreach s,test dev,\
	$(foreach m,ulmfit ulmfit_scratch,$(eval $(call gue_score,$(m),$(s),$(G)/%/cls.$(m).model,$(G)/%/$(s).tok)))\
	$(eval $(call gue_score,ulmfit_rc,$(s),$(G)/%/cls.ulmfit_rc.model,$(G)/%/$(s).rc.tok))\
	$(eval $(call gue_score,ulmfit_pair,$(s),$(G)/%/cls.ulmfit.model $(G)/%/cls.ulmfit_rc.model,$(G)/%/$(s).tok $(G)/%/$(s).rc.tok)))

$(G)/%/kmer_lr.test.metrics: $(GUE_DIR)/%/train.csv.gz $(GUE_DIR)/%/dev.csv.gz $(GUE_DIR)/%/test.csv.gz
	@mkdir -p $(@D)
	@echo "[gue $*] k-mer logistic regression (C chosen on dev), scored on test"
	$(H)$(call gue_from,$@,$^,$(BIN)/kmerlr $(Q) $(GUE_KMERLR_OPTS) --positive 1 --metrics $@.tmp --roc $(@D)/kmer_lr.test.roc \
		$^ > $(@D)/kmer_lr.test.tsv; mv $@.tmp $@)

# a task's rows: one per model, from the metrics files of its test set (rows.tsv) or of its dev
# set (devrows.tsv, the ULMFiT models)
gue_row = awk -F'\t' -v t=$* -v m=$$m '{ v[$$1] = $$2 } END { printf "%s\t%s\t%.4f\t%.4f\t%.4f\n", t, m, v["accuracy"], v["mcc"], v["roc_auc"] }'
$(G)/%/rows.tsv: $(foreach m,$(gue_models),$(G)/%/$(m).test.metrics)
	$(H)for m in $(gue_models); do $(gue_row) $(@D)/$$m.test.metrics; done > $@
$(G)/%/devrows.tsv: $(foreach m,$(gue_deep),$(G)/%/$(m).dev.metrics)
	$(H)for m in $(gue_deep); do $(gue_row) $(@D)/$$m.dev.metrics; done > $@

gue_rel = $(patsubst $(abspath $(TOP)/..)/%,../%,$(patsubst $(TOP)/%,%,$(abspath $(1))))
gue_settings = LM $(call gue_rel,$(GUE_LM)) (k=$(GUE_K), stride $(GUE_S)) fine-tuned $(GUE_TUNE_STEPS) steps (at most $(GUE_TUNE_EPOCHS) epochs)$(if $(GUE_TUNE_OPTS), with $(GUE_TUNE_OPTS)); classifier: clstrain defaults$(if $(GUE_CLS_OPTS), and $(GUE_CLS_OPTS)), best dev epoch, at most $(GUE_CLS_TOKENS) tokens; $(GUE_THREADS) thread(s) a step; kmer_lr: kmerlr$(if $(GUE_KMERLR_OPTS), $(GUE_KMERLR_OPTS)) (1..6-mers, C and scaling chosen on dev)$(if $(GUE_NOPRE),; ulmfit_scratch: --no-pretrain E=$(GUE_NOPRE_E) H=$(GUE_NOPRE_H))$(if $(GUE_PAIR),; ulmfit_rc: the same on the reverse complements; ulmfit_pair: the mean of ulmfit and ulmfit_rc); seed $(SEED); tasks from $(call gue_rel,$(GUE_DIR))
$(G)/results.tsv: $(foreach t,$(GUE_TASKS),$(G)/$(t)/rows.tsv $(G)/$(t)/devrows.tsv)
	$(H)echo '$(gue_settings)' > $(G)/settings.txt
	$(H)echo '$(GUE_COMMAND)' > $(G)/command.txt
	$(H){ printf 'task\tmodel\taccuracy\tmcc\troc_auc\n'; cat $(filter %/devrows.tsv,$^); } > $(G)/dev.tsv
	$(H){ printf 'task\tmodel\taccuracy\tmcc\troc_auc\n'; cat $(filter %/rows.tsv,$^); } > $@
	@echo "gue: $(words $(GUE_TASKS)) task(s): $@"
