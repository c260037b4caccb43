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
#   4. steps 1-3 again on DNA's other strand, the reference's forward + backward pair: the reverse
#      complements of the three sets (fa2kmer -S rev), the same LM fine-tuned on them, a second
#      classifier (GUE_STRANDS=fwd leaves them out)
#   5. clspredict on test, scored once (metrics, ROC, predictions): model ulmfit, the mean of the
#      two classifiers' probabilities (clspredict -m A -m B, each reading its own strand), and
#      each alone, ulmfit_fwd and ulmfit_rc (with GUE_STRANDS=fwd, ulmfit is the forward one)
#   6. kmerlr (baselines/kmerlr): the 1- to 6-mer logistic regression, C chosen on dev, on test
#   GUE_NOPRE=yes adds the forward classifier from a random encoder (no pre-training, E and H of
#   GUE_NOPRE_E/H), model ulmfit_scratch, with the same budget: compare it with ulmfit_fwd.
# $(GUE_OUT)/dev.tsv holds the same columns for the ULMFiT models on dev: the set to compare
# variants on (kmer_lr is left out: its dev score is the maximum of its penalty search). The
# pair is the default because its mean dev MCC over the ten GUE tasks is above the forward
# classifier's alone (0.634 vs 0.620, measured before their test sets were scored).
# Nothing is chosen on test. $(GUE_OUT)/results.tsv: task, model, accuracy, mcc, roc_auc of the
# test set, one row per task and model (ulmfit, its members, those asked for, kmer_lr);
# settings.txt and command.txt beside it. The budgets are work, not wall time, so a loaded
# machine gives the same models, later: per strand, 700 fine-tuning steps of 64 x 70 tokens
# (about 3 min on one core) and at most 40M classifier tokens (the full 2 + 8 epochs of the
# largest GUE task read 33M, about 40 min on one core; a larger set, or one of longer sequences,
# trains fewer epochs). With -j2 the two strands train side by side.
# GUE_TUNE_TIME and GUE_CLS_TIME only stop a step that runs far too long (a warning, and the
# model as it is). A step interrupted (Ctrl-C, a lost session) resumes from its checkpoint.
#
# Included by pipelines/Makefile after common.mk (paths, resume_or, from_data, AT); the GUE_
# variables below are defaults (?=) that the command line may set. One line per step is
# printed; V=1 prints the commands too.
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
# both: the forward + reverse-complement pair (the recipe); fwd: the forward classifier alone
GUE_STRANDS     ?= both
# extra options (empty in the recipe: the defaults are the recipe; the tests shorten it)
GUE_TUNE_OPTS   ?=
GUE_CLS_OPTS    ?=
GUE_KMERLR_OPTS ?=
# the command results.tsv's command.txt names (demo.mk names its own)
GUE_COMMAND     ?= make -C pipelines gue $(MAKEOVERRIDES)

G := $(GUE_OUT)
gue_pair := $(filter both,$(GUE_STRANDS))
# the models of results.tsv (in order) and dev.tsv; the metrics file each row is read from
# (ulmfit is the pair, or the forward classifier alone)
gue_deep   := ulmfit $(if $(gue_pair),ulmfit_fwd ulmfit_rc) $(if $(GUE_NOPRE),ulmfit_scratch)
gue_models := $(gue_deep) kmer_lr
gue_file = $(if $(filter ulmfit,$(1)),$(if $(gue_pair),ulmfit_pair,ulmfit_fwd),$(1))

ifneq ($(filter gue,$(MAKECMDGOALS)),)
ifeq ($(GUE_TASKS),)
$(error GUE: no task folder with train.csv.gz under GUE_DIR=$(GUE_DIR))
endif
ifeq ($(filter both fwd,$(GUE_STRANDS)),)
$(error GUE: GUE_STRANDS=$(GUE_STRANDS): use both (the pair) or fwd)
endif
endif

.PHONY: gue
# every file of a task is kept (pattern targets would be intermediate, deleted after the run);
# named, never a bare .SECONDARY (no tasks found), which would make every experiment's files
# secondary: make would not remake a missing one. The tasks: GUE_TASKS and every folder already
# in GUE_OUT, so a run that names its targets while GUE_DIR is absent or narrower deletes nothing.
gue_files := $(foreach t,$(sort $(GUE_TASKS) $(patsubst $(G)/%/,%,$(wildcard $(G)/*/))),$(addprefix $(G)/$(t)/,train.tok dev.tok test.tok tuned.model vocab.tsv \
	train.rc.tok dev.rc.tok test.rc.tok tuned.rc.model cls.ulmfit_fwd.model cls.ulmfit_scratch.model cls.ulmfit_rc.model \
	$(foreach s,test dev,$(foreach m,ulmfit_fwd ulmfit_scratch ulmfit_rc ulmfit_pair,$(m).$(s).metrics)) kmer_lr.test.metrics \
	rows.tsv devrows.tsv))
ifneq ($(gue_files),)
.SECONDARY: $(gue_files)
endif
gue: $(G)/results.tsv
	@column -t -s$$'\t' $<

# a set's stream: $(1) the set, $(2) the strand's suffix ('' forward, .rc the reverse
# complements: the same records, the other strand), $(3) fa2kmer's strand option.
# One rule a file: make then sees that a stream kept by from_data is unchanged. The steps that
# read GUE_DIR print their line only when they run (from_data's), not for a re-dated data folder.
define gue_tokenise
$(G)/%/$(1)$(2).tok: $(GUE_DIR)/%/$(1).csv.gz
	@mkdir -p $$(@D)
	$(AT)$$(call from_data,$(BIN)/fa2kmer $(Q) --csv $(3) -k$(GUE_K) -s$(GUE_S) $$< -o $$@,[gue $$*] tokenising $(1)$(if $(3), (reverse complements)) (k=$(GUE_K)$$(comma) stride $(GUE_S)))
endef
$(foreach s,train dev test,$(eval $(call gue_tokenise,$(s),,))$(eval $(call gue_tokenise,$(s),.rc,-S rev)))

# $(1): the strand's suffix of the streams and models ('' forward, .rc the reverse complements);
# $(2): its classifier's model name; $(3): words for the step lines
define gue_strand
$(G)/%/tuned$(1).model: $(GUE_LM) $(G)/%/train$(1).tok $(G)/%/dev$(1).tok
	@echo "[gue $$*] fine-tuning $(notdir $(GUE_LM)) on train$(3) ($(GUE_TUNE_STEPS) steps, at most $(GUE_TUNE_EPOCHS) epochs)"
	$(AT)$(BIN)/lmtune $(Q) -V $$(word 3,$$^) -e $(GUE_TUNE_EPOCHS) --steps $(GUE_TUNE_STEPS) --time $(GUE_TUNE_TIME) -t $(GUE_THREADS) --seed $(SEED) \
		$(GUE_TUNE_OPTS) --log $$(@D)/tuned$(1).log.tsv --checkpoint $$@.ckpt $$(call resume_or,$$@,-m $$<,$$^) -o $$@ $$(word 2,$$^)

$(G)/%/cls.$(2).model: $(G)/%/tuned$(1).model $(G)/%/train$(1).tok $(G)/%/dev$(1).tok
	@echo "[gue $$*] training the classifier$(3) (at most $(GUE_CLS_TOKENS) tokens, best epoch on dev)"
	$(AT)$(BIN)/clstrain $(Q) -V $$(word 3,$$^) --max-tokens $(GUE_CLS_TOKENS) --time $(GUE_CLS_TIME) -t $(GUE_THREADS) --seed $(SEED) $(GUE_CLS_OPTS) \
		--log $$(@D)/cls.$(2).log.tsv --checkpoint $$@.ckpt $$(call resume_or,$$@,-m $$<,$$^) -o $$@ $$(word 2,$$^)
endef
$(eval $(call gue_strand,,ulmfit_fwd,))
$(eval $(call gue_strand,.rc,ulmfit_rc, (reverse complements)))

$(G)/%/vocab.tsv: $(G)/%/train.tok
	$(AT)$(BIN)/kmervocab $(Q) $< -o $@

$(G)/%/cls.ulmfit_scratch.model: $(G)/%/vocab.tsv $(G)/%/train.tok $(G)/%/dev.tok
	@echo "[gue $*] training the classifier without pre-training (at most $(GUE_CLS_TOKENS) tokens)"
	$(AT)$(BIN)/clstrain $(Q) -V $(word 3,$^) --max-tokens $(GUE_CLS_TOKENS) --time $(GUE_CLS_TIME) -t $(GUE_THREADS) --seed $(SEED) $(GUE_CLS_OPTS) \
		--log $(@D)/cls.ulmfit_scratch.log.tsv --checkpoint $@.ckpt \
		$(call resume_or,$@,--no-pretrain -v $< -E $(GUE_NOPRE_E) -H $(GUE_NOPRE_H),$^) -o $@ $(word 2,$^)

# $(1): the model; $(2): the set (test, dev); $(3): the models' files; $(4): their streams, in order
define gue_score
$(G)/%/$(1).$(2).metrics: $(3) $(4)
	@echo "[gue $$*] scoring $(1) on $(2)"
	$(AT)$(BIN)/clspredict $(Q) $$(foreach f,$$(filter %.model,$$^),-m $$(f)) -t $(GUE_THREADS) --positive 1 --metrics $$@.tmp \
		--roc $$(@D)/$(1).$(2).roc $$(filter %.tok,$$^) > $$(@D)/$(1).$(2).tsv
	$(AT)mv $$@.tmp $$@
endef
$(foreach s,test dev,\
	$(foreach m,ulmfit_fwd ulmfit_scratch,$(eval $(call gue_score,$(m),$(s),$(G)/%/cls.$(m).model,$(G)/%/$(s).tok)))\
	$(eval $(call gue_score,ulmfit_rc,$(s),$(G)/%/cls.ulmfit_rc.model,$(G)/%/$(s).rc.tok))\
	$(eval $(call gue_score,ulmfit_pair,$(s),$(G)/%/cls.ulmfit_fwd.model $(G)/%/cls.ulmfit_rc.model,$(G)/%/$(s).tok $(G)/%/$(s).rc.tok)))

$(G)/%/kmer_lr.test.metrics: $(GUE_DIR)/%/train.csv.gz $(GUE_DIR)/%/dev.csv.gz $(GUE_DIR)/%/test.csv.gz
	@mkdir -p $(@D)
	$(AT)$(call from_data,$(BIN)/kmerlr $(Q) $(GUE_KMERLR_OPTS) --positive 1 --metrics $@.tmp --roc $(@D)/kmer_lr.test.roc \
		$^ > $(@D)/kmer_lr.test.tsv; mv $@.tmp $@,[gue $*] k-mer logistic regression (C chosen on dev)$(comma) scored on test)

# a task's rows: one per model, from the metrics files of its test set (rows.tsv) or of its dev
# set (devrows.tsv, the ULMFiT models). models.txt names the models and the files they are read
# from, rewritten only when that changes (GUE_STRANDS, GUE_NOPRE), so the rows follow it.
gue_row = awk -F'\t' -v t=$* -v m=$(1) '{ v[$$1] = $$2 } END { printf "%s\t%s\t%.4f\t%.4f\t%.4f\n", t, m, v["accuracy"], v["mcc"], v["roc_auc"] }' $(@D)/$(call gue_file,$(1)).$(2).metrics
gue_list := $(foreach m,$(gue_models),$(m)=$(call gue_file,$(m)))
$(G)/models.txt: FORCE
	@mkdir -p $(@D)
	$(AT)[ "$$(cat $@ 2> /dev/null)" = '$(gue_list)' ] || echo '$(gue_list)' > $@
.PHONY: FORCE
$(G)/%/rows.tsv: $(foreach m,$(gue_models),$(G)/%/$(call gue_file,$(m)).test.metrics) $(G)/models.txt
	$(AT){ $(foreach m,$(gue_models),$(call gue_row,$(m),test);) } > $@
$(G)/%/devrows.tsv: $(foreach m,$(gue_deep),$(G)/%/$(call gue_file,$(m)).dev.metrics) $(G)/models.txt
	$(AT){ $(foreach m,$(gue_deep),$(call gue_row,$(m),dev);) } > $@

gue_rel = $(patsubst $(abspath $(TOP)/..)/%,../%,$(patsubst $(TOP)/%,%,$(abspath $(1))))
gue_settings = LM $(call gue_rel,$(GUE_LM)) (k=$(GUE_K), stride $(GUE_S)) fine-tuned $(GUE_TUNE_STEPS) steps (at most $(GUE_TUNE_EPOCHS) epochs)$(if $(GUE_TUNE_OPTS), with $(GUE_TUNE_OPTS)); classifier: clstrain defaults$(if $(GUE_CLS_OPTS), and $(GUE_CLS_OPTS)), best dev epoch, at most $(GUE_CLS_TOKENS) tokens; $(GUE_THREADS) thread(s) a step; kmer_lr: kmerlr$(if $(GUE_KMERLR_OPTS), $(GUE_KMERLR_OPTS)) (1..6-mers, C and scaling chosen on dev)$(if $(gue_pair),; ulmfit: the mean of ulmfit_fwd and ulmfit_rc (the same recipe on the reverse complements),; ulmfit: the forward strand only)$(if $(GUE_NOPRE),; ulmfit_scratch: ulmfit_fwd with --no-pretrain E=$(GUE_NOPRE_E) H=$(GUE_NOPRE_H)); seed $(SEED); tasks from $(call gue_rel,$(GUE_DIR))
$(G)/results.tsv: $(foreach t,$(GUE_TASKS),$(G)/$(t)/rows.tsv $(G)/$(t)/devrows.tsv)
	$(AT)echo '$(gue_settings)' > $(G)/settings.txt
	$(AT)echo '$(GUE_COMMAND)' > $(G)/command.txt
	$(AT){ printf 'task\tmodel\taccuracy\tmcc\troc_auc\n'; cat $(filter %/devrows.tsv,$^); } > $(G)/dev.tsv
	$(AT){ printf 'task\tmodel\taccuracy\tmcc\troc_auc\n'; cat $(filter %/rows.tsv,$^); } > $@
	@echo "gue: $(words $(GUE_TASKS)) task(s): $@"
