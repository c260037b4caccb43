# lncrna.mk: human mRNA vs lncRNA (reads human.mk's LM rules: include it first).
#
#   make -C pipelines lncrna                                   a forward classifier (about 4 h)
#   make -C pipelines lncrna LN_STRAND=rev LN_OUT=out/lncrna-rev LN_MODELS=ulmfit   a backward one
#   make -C pipelines lncrna-ensemble LE_RUNS="out/lncrna out/lncrna-rev"           the pair averaged
#
# A human LM from human.mk (LN_TOK) fine-tuned on the unlabelled transcripts, then a classifier on
# train (validated on valid) scored on test, challenge and mouse; beside it the same classifier
# from scratch (nopre, the ablation) and the simple baseline measured in the same run on the same
# splits (baselines/lncbaseline: logistic regression on ORF, Fickett, hexamer, k-mer and codon
# features, seconds on one core). Positive class: mRNA.
$(if $(filter %human.mk,$(MAKEFILE_LIST)),,$(error lncrna.mk reads human.mk: include human.mk first))

# the LM of human.mk the classifier starts from: k4s2 halves the tokens of k3s1 at equal budget
LN_TOK       ?= k4s2
LN_TUNE_TIME ?= 30m
LN_TUNE_LR   ?= 5e-3
# one rate for every layer group, as the reference fine-tuned (lower validation loss than lr/2.6)
LN_TUNE_LR_FACTOR ?= 1
# Pooling over the whole transcript (max-len 0) sees the coding region, not only the 3' end. An
# all-layer epoch of the 3.9 M training tokens takes about 10 minutes on one core.
LN_STAGES    ?= 1:1:1e-2,2:1:1e-2,3:1:5e-3,all:9:4e-3
# the ablation diverged at 5e-3: 3e-3, every layer at one rate (lr/2.6 per group down starves a
# random embedding)
LN_NOPRE_STAGES ?= all:10:3e-3
LN_NOPRE_LR_FACTOR ?= 1
LN_DROP      ?= 0.5
LN_BATCH     ?= 32
LN_CLS_TIME  ?= 115m
LN_NOPRE_TIME ?= $(LN_CLS_TIME)
LN_MAX_LEN   ?= 0
# OpenBLAS threads of the fine-tuning and of each classifier (with -j2 two jobs already fill 2 cores)
LN_THREADS   ?= 1
LN_OUT       ?= $(OUT)/lncrna
LN           := $(LN_OUT)
LN_SETS      := test challenge mouse
# the classifiers: ulmfit (from the LM) and nopre (the ablation, which does not depend on the LM:
# a run that varies only the LM may leave it out)
LN_MODELS    ?= $(if $(LN_FROM),ulmfit,ulmfit nopre)
# LN_FROM=DIR: start this run's classifier from the finished one of lncrna run DIR (same LN_TOK,
# LN_STRAND, LN_HEAD/LN_TAIL; every weight kept, a fresh optimiser) with LN_STAGES as the new
# schedule (e.g. all:3:1e-3), instead of from a fine-tuned LM: more epochs for an under-trained
# classifier. DIR's LM logs come along, and its classifier's log as cls.from.log.tsv.
LN_FROM      ?=

.PHONY: lncrna
lncrna: $(LN)/results.tsv
	@column -t -s $$'\t' $<

# The strand the fine-tuning and the classifier read: fwd (the transcripts as given), or rev,
# their reverse complements (fa2kmer -S rev, same record names): a backward model, as fastai's
# bidirectional ULMFiT; the genome LM serves both. Give each strand its own LN_OUT.
LN_STRAND    ?= fwd
ifeq ($(filter fwd rev,$(LN_STRAND)),)
$(error LN_STRAND must be fwd or rev, not '$(LN_STRAND)')
endif
ln_strand = $(if $(filter rev,$(LN_STRAND)),-S rev)
# LN_HEAD=INT: the labelled sets hold only the first INT bases of each transcript (fa2kmer
# --head): the 5' leader and the start of the coding sequence, while the transcript's length and
# its ORF's share of it are out of sight. LN_TAIL=INT likewise keeps the last INT bases.
# Fine-tuning still reads whole transcripts.
LN_HEAD      ?=
LN_TAIL      ?=
ifneq ($(LN_HEAD),)
ifneq ($(LN_TAIL),)
$(error LN_HEAD and LN_TAIL are exclusive)
endif
endif
ln_part = $(if $(LN_HEAD),--head $(LN_HEAD))$(if $(LN_TAIL),--tail $(LN_TAIL))

ln_k = $(call hu_k,$(LN_TOK))
ln_s = $(call hu_s,$(LN_TOK))

$(LN)/finetune.tok: $(DATA)/lncrna/unlabeled.finetune.fa.gz
	@mkdir -p $(@D)
	$(AT)$(call from_data,$(BIN)/fa2kmer $(Q) -k$(ln_k) -s$(ln_s) $(ln_strand) --skip-short $< -o $@,$(call step_text,lncrna,fa2kmer,tokenise the unlabelled transcripts ($(LN_TOK) $(LN_STRAND))))
# labelled sets: one stream per class, concatenated
$(LN)/%.tok: $(DATA)/lncrna/mRNA.%.fa.gz $(DATA)/lncrna/lncRNA.%.fa.gz
	@mkdir -p $(@D)
	$(AT)$(call from_data,$(BIN)/fa2kmer $(Q) -k$(ln_k) -s$(ln_s) $(ln_strand) $(ln_part) -l mRNA -l lncRNA $^ -o $@,$(call step_text,lncrna,fa2kmer,tokenise the $* set ($(LN_TOK) $(LN_STRAND))))

# the human LM's training log and whole-slice evaluation travel with the fine-tuned model, so
# that this folder says which LM it started from (a configuration outside HU_CONFIGS gets its
# restart rules here)
$(foreach t,$(filter-out $(hu_tags),$(LN_TOK)),$(foreach i,$(hu_restarts),$(eval $(call hu_restart,$(t),$(i)))))
$(LN)/tuned.model: $(HU)/$(call hu_last,$(LN_TOK)).model $(LN)/finetune.tok $(LN)/valid.tok $(HU)/lm.$(LN_TOK).eval
	$(call step,lncrna,lmtune,fine-tune the $(LN_TOK) LM on the unlabelled transcripts ($(call budget_words,$(LN_TUNE_TIME))))
	$(AT)rm -f $(LN)/lm.r*.log.tsv
	$(AT)cp -p $(HU)/lm.$(LN_TOK).log.tsv $(LN)/lm.log.tsv $(foreach i,$(hu_restarts),&& cp -p $(HU)/lm.$(LN_TOK).r$(i).log.tsv $(LN)/lm.r$(i).log.tsv)
	$(AT)cp -p $(word 4,$^) $(LN)/lm.eval
	$(AT)$(BIN)/lmtune $(Q) -V $(word 3,$^) -b 64 --lr $(LN_TUNE_LR) --lr-factor $(LN_TUNE_LR_FACTOR) -t $(LN_THREADS) \
		$(call lm_budget,$(LN_TUNE_TIME)) --seed $(SEED) --log $(LN)/tuned.log.tsv $(call resume_or,$@,-m $<,$^) -o $@ $(word 2,$^)

LN_CLSOPTS = --drop-mult $(LN_DROP) -b $(LN_BATCH) --max-len $(LN_MAX_LEN) --keep-best --seed $(SEED) -t $(LN_THREADS)
ifneq ($(LN_FROM),)
ifeq ($(abspath $(LN_FROM)),$(abspath $(LN)))
$(error LN_FROM names this run's own folder ($(LN_OUT)); give the run that trains further an LN_OUT of its own)
endif
endif
$(LN)/cls.ulmfit.model: $(if $(LN_FROM),$(LN_FROM)/cls.ulmfit.model,$(LN)/tuned.model) $(LN)/train.tok $(LN)/valid.tok
	$(call step,lncrna,clstrain,$(if $(LN_FROM),train the classifier of $(LN_FROM) further,classifier from the fine-tuned LM) (stages $(LN_STAGES)$(comma) at most $(LN_CLS_TIME)))
	$(AT)$(if $(LN_FROM),rm -f $(LN)/lm.r*.log.tsv && cp -p $(wildcard $(addprefix $(LN_FROM)/,lm*.log.tsv lm.eval tuned.log.tsv)) $(LN)/ \
		&& cp -p $(LN_FROM)/cls.ulmfit.log.tsv $(LN)/cls.from.log.tsv)
	$(AT)$(BIN)/clstrain $(Q) $(call resume_or,$@,-m $<,$^) --checkpoint $@.ckpt -V $(word 3,$^) $(LN_CLSOPTS) \
		--time $(LN_CLS_TIME) --stages $(LN_STAGES) --log $(LN)/cls.ulmfit.log.tsv -o $@ $(word 2,$^)
$(LN)/cls.nopre.model: $(HU)/vocab.$(LN_TOK).tsv $(LN)/train.tok $(LN)/valid.tok
	$(call step,lncrna,clstrain,the same classifier without pre-training (stages $(LN_NOPRE_STAGES)$(comma) at most $(LN_NOPRE_TIME)))
	$(AT)$(BIN)/clstrain $(Q) $(call resume_or,$@,--no-pretrain -v $< -E $(HU_E) -H $(HU_H),$^) \
		--checkpoint $@.ckpt -V $(word 3,$^) $(LN_CLSOPTS) --time $(LN_NOPRE_TIME) --stages $(LN_NOPRE_STAGES) --lr-factor $(LN_NOPRE_LR_FACTOR) --log $(LN)/cls.nopre.log.tsv \
		-o $@ $(word 2,$^)

define ln_metrics
$(LN)/cls.$(1).$(2).metrics: $(LN)/cls.$(1).model $(LN)/$(2).tok
	$$(call step,lncrna,clspredict,score the $(1) classifier on the $(2) set)
	$(AT)$(BIN)/clspredict $(Q) -m $$< --positive mRNA --metrics $$@.tmp --roc $(LN)/cls.$(1).$(2).roc $(LN)/$(2).tok > $(LN)/cls.$(1).$(2).tsv
	$(AT)mv $$@.tmp $$@
endef
$(foreach m,$(LN_MODELS),$(foreach s,$(LN_SETS),$(eval $(call ln_metrics,$(m),$(s)))))

# the simple baseline on the same splits (whole transcripts), in the same run: lncbaseline writes
# cls.baseline.SET.{tsv,metrics,roc} for valid and every set, and cls.weights.tsv
ln_base_data = $(foreach c,mRNA lncRNA,$(foreach s,train valid $(LN_SETS),$(DATA)/lncrna/$(c).$(s).fa.gz))
$(LN)/cls.baseline.valid.metrics: $(ln_base_data)
	@mkdir -p $(@D)
	$(AT)$(call from_data,$(BIN)/lncbaseline $(Q) -o $(LN)/cls $(DATA)/lncrna $(LN_SETS) > $(LN)/lncbaseline.tsv,$(call step_text,lncrna,lncbaseline,the simple baseline: logistic regression on coding-potential features))
$(foreach s,$(LN_SETS),$(LN)/cls.baseline.$(s).metrics): $(LN)/cls.baseline.valid.metrics ;

# the lncRNA tables (lncrna, lncrna-ensemble): the header, and the row of set $$s and model $$m
# from clspredict's metrics file $$f (shell variables of the recipe), the baseline's $$b beside it
ln_header = printf 'set\tmodel\taccuracy\tmcc\troc_auc\tbaseline_accuracy\tbaseline_mcc\tbaseline_roc_auc\n'
ln_row = g() { awk -F'\t' -v k=$$1 '$$1 == k { printf "%.3f", $$2 }' $$2; }; \
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $$s $$m $$(g accuracy $$f) $$(g mcc $$f) $$(g roc_auc $$f) $$(g accuracy $$b) $$(g mcc $$b) $$(g roc_auc $$b)

ln_settings = $(if $(LN_HEAD),the first $(LN_HEAD) bases of each labelled transcript only (LN_HEAD); )$(if $(LN_TAIL),the last $(LN_TAIL) bases of each labelled transcript only (LN_TAIL); )classifier stages $(LN_STAGES)$(if $(filter nopre,$(LN_MODELS)), (ablation $(LN_NOPRE_STAGES), lr factor $(LN_NOPRE_LR_FACTOR))), drop-mult $(LN_DROP), batch $(LN_BATCH), max-len $(LN_MAX_LEN), at most $(LN_CLS_TIME)$(if $(filter nopre,$(LN_MODELS)), (ablation $(LN_NOPRE_TIME)),; no ablation (LN_MODELS=$(LN_MODELS))); seed $(SEED)
ln_lm_settings = LM $(LN_TOK) from human.mk (E=$(HU_E) H=$(HU_H), output $(HU_OUTPUT)$(if $(hu_restarts), with $(HU_LM_RESTARTS) warm restart(s)))$(if $(ln_strand),; reverse complements of the transcripts (LN_STRAND=rev)); fine-tuning $(call budget_words,$(LN_TUNE_TIME)) at lr $(LN_TUNE_LR), lr factor $(LN_TUNE_LR_FACTOR); $(ln_settings)
$(LN)/results.tsv: $(foreach m,$(LN_MODELS),$(foreach s,$(LN_SETS),$(LN)/cls.$(m).$(s).metrics)) $(foreach s,$(LN_SETS),$(LN)/cls.baseline.$(s).metrics) $(if $(LN_FROM),,$(call hu_made,$(LN_TOK)))
	$(AT)$(if $(LN_FROM),{ head -n 1 $(LN_FROM)/settings.txt | tr -d '\n'; echo '; then trained further from that classifier (LN_FROM=$(LN_FROM)) with $(ln_settings)'; },echo '$(ln_lm_settings)') > $(LN)/settings.txt
	$(AT)echo 'make -C pipelines lncrna $(MAKEOVERRIDES)' > $(LN)/command.txt
	$(AT){ $(ln_header); for s in $(LN_SETS); do b=$(LN)/cls.baseline.$$s.metrics; for m in $(LN_MODELS); do f=$(LN)/cls.$$m.$$s.metrics; $(ln_row); done; done; } > $@

# ---------------------------------------------------------------------------------------
# The forward and backward classifiers of two finished lncrna runs (LE_RUNS, their LN_OUT
# folders; one or two) scored together, each record's probabilities the mean of the two models'
# (clspredict -m A -m B; their k and stride may differ). Nothing is trained here. The table has
# the pair's row and each member's, as its own run scored it, and the first run's baseline.
# ---------------------------------------------------------------------------------------
LE_RUNS ?=
LE_OUT  ?= $(OUT)/lncrna-ensemble
LE      := $(LE_OUT)
ifneq ($(word 3,$(LE_RUNS)),)
$(error LE_RUNS: at most two lncrna folders (a forward and a backward run), not $(words $(LE_RUNS)))
endif
le_base = $(firstword $(LE_RUNS))/cls.baseline

.PHONY: lncrna-ensemble
lncrna-ensemble: $(LE)/results.tsv
	@column -t -s $$'\t' $<

define le_metrics
$(LE)/cls.ensemble.$(1).metrics: $(foreach r,$(LE_RUNS),$(r)/cls.ulmfit.model $(r)/$(1).tok)
	$$(if $(LE_RUNS),,$$(error LE_RUNS: name the lncrna folders to average, e.g. LE_RUNS="out/lncrna out/lncrna-rev"))
	$$(call step,lncrna-ensemble,clspredict,score the averaged classifiers on the $(1) set)
	@mkdir -p $$(@D)
	$(AT)$(BIN)/clspredict $(Q) $(foreach r,$(LE_RUNS),-m $(r)/cls.ulmfit.model) --positive mRNA --metrics $$@.tmp \
		--roc $(LE)/cls.ensemble.$(1).roc $(foreach r,$(LE_RUNS),$(r)/$(1).tok) > $(LE)/cls.ensemble.$(1).tsv
	$(AT)mv $$@.tmp $$@
endef
$(foreach s,$(LN_SETS),$(eval $(call le_metrics,$(s))))

$(LE)/results.tsv: $(foreach s,$(LN_SETS),$(LE)/cls.ensemble.$(s).metrics $(le_base).$(s).metrics $(foreach r,$(LE_RUNS),$(r)/cls.ulmfit.$(s).metrics))
	$(AT){ echo 'ensemble (mean of the probabilities) of the ulmfit classifiers of $(LE_RUNS)'; \
	  for r in $(LE_RUNS); do echo "$$r: $$(cat $$r/settings.txt)"; done; } > $(LE)/settings.txt
	$(AT)echo 'make -C pipelines lncrna-ensemble $(MAKEOVERRIDES)' > $(LE)/command.txt
	$(AT){ $(ln_header); for s in $(LN_SETS); do b=$(le_base).$$s.metrics; f=$(LE)/cls.ensemble.$$s.metrics m=ensemble; $(ln_row); \
	  for r in $(LE_RUNS); do f=$$r/cls.ulmfit.$$s.metrics m=$$(basename $$r); $(ln_row); done; done; } > $@
