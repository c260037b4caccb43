# ecoli.mk: E. coli promoters (Genomic-ULMFiT's E. coli notebooks).
#
#   make -C pipelines ecoli-demo  small models, pre-trained here, <= 20 min on 2 cores
#   make -C pipelines ecoli       the same at full budgets (about 2 h on 2 cores)
#
# An LM on the genome (2 kb records, 1 in 7 held out), fine-tuned on the promoter training set,
# then a classifier with gradual unfreezing; the same classifier without pre-training (the
# ablation); an LM pre-trained on 18 other bacteria as well; and a one-line rule as the simple
# baseline. The table sets each beside the reference's numbers (its own split, GPU, E=400 H=1150).
K ?= 5
S ?= 2

# budgets and sizes of `ecoli-demo` (fits 20 minutes on 2 cores with make -j2)
EC_E        ?= 64
EC_H        ?= 256
EC_LM_TIME  ?= 8m
EC_TUNE_TIME ?= 90s
EC_LM_LR    ?= 2e-2
EC_LM_DROP  ?= 0.3
EC_TUNE_LR  ?= 1e-2
# fine-tuning at one rate for every layer group, as the reference trained its LMs
EC_TUNE_LR_FACTOR ?= 1
EC_STAGES   ?= 1:1:2e-2,2:1:1e-2,3:1:5e-3,all:3:5e-3
EC_DROP     ?= 0.3
EC_NOPRE_DROP ?= $(EC_DROP)
# discriminative rates: each layer group down trains at lr / EC_LR_FACTOR (2.6: the reference)
EC_LR_FACTOR ?= 2.6
# the ablation trains everything at one rate, as the reference's naive model (from scratch,
# gradual unfreezing has nothing to unfreeze towards)
EC_NOPRE_STAGES ?= all:6:5e-3
EC_NOPRE_LR_FACTOR ?= 1
EC_BATCH    ?= 32
# strands the classifiers read: fwd, or fwd rev (a second classifier on the reverse complement
# of every sequence; clspredict averages the two: ULMFiT's forward/backward pair)
EC_STRANDS  ?= fwd
# warm restarts of the LMs: after lmtrain's cycle, EC_LM_RESTARTS more one-cycle runs of lmtune
# on the same corpus; fine-tuning starts from the last one. 0: lmtrain only
EC_LM_RESTARTS     ?= 0
EC_LM_RESTART_TIME ?= $(EC_LM_TIME)
EC_LM_RESTART_LR   ?= 1e-2
# LM validation every N steps (empty: at the end of each epoch and of training)
EC_LM_VALID_EVERY  ?=
EC_OUT      ?= $(OUT)/ecoli-demo
# the name the step lines carry
EC_TAG      ?= ecoli-demo

E := $(EC_OUT)
TOK := k$(K)s$(S)
ec_rev := $(filter rev,$(EC_STRANDS))
# the LM genomes on both strands when a classifier reads the reverse complement, unless set
EC_LM_STRAND ?= $(if $(ec_rev),both,fwd)
# yes: the LM genomes in all $(S) stride framings (fa2kmer --phases). The demo keeps one: with
# both strands and framings its 8-min LMs saw under one epoch and its classifiers fell.
EC_LM_PHASES ?= no
ec_phases := $(if $(filter yes,$(EC_LM_PHASES)),-P)

.PHONY: ecoli-demo ecoli
ecoli-demo: $(E)/results.tsv
	@column -t -s $$'\t' $<

# 2 hours on 2 cores: the small model trained longer (on a CPU, more steps of a small LM beat a
# few steps of E=400/H=1150), both strands and framings of the genomes, two warm restarts, LM
# drop-mult 0.1 (lowest LM validation loss), a forward and a reverse-complement classifier per
# model at one learning rate for all layer groups. The record of the trials is in git history.
ECOLI_OUT     ?= $(OUT)/ecoli
ECOLI_LM_TIME ?= 25m
ECOLI_LM_RESTARTS ?= 2
ecoli:
	@$(MAKE) --no-print-directory ecoli-demo EC_TAG=ecoli EC_COMMAND='make -C pipelines ecoli $(MAKEOVERRIDES)' EC_OUT=$(ECOLI_OUT) \
		EC_LM_TIME=$(ECOLI_LM_TIME) EC_TUNE_TIME=5m EC_LM_RESTARTS=$(ECOLI_LM_RESTARTS) EC_LM_RESTART_TIME=$(ECOLI_LM_TIME) \
		EC_LM_VALID_EVERY=2000 EC_LM_DROP=0.1 EC_LM_STRAND=both EC_LM_PHASES=yes EC_STAGES=1:1:2e-2,all:19:5e-3 EC_LR_FACTOR=1 \
		EC_DROP=0.3 EC_NOPRE_DROP=0.3 EC_NOPRE_STAGES=all:20:5e-3 EC_STRANDS='fwd rev'

# the genome as 2 kb FASTA records, every 7th held out for validation (14%)
# (two rules, not one grouped rule: make 4.3 takes a grouped target's sibling as remade even
# when from_data left it alone)
$(E)/genome.train.fa: $(DATA)/ecoli/ecoli_K12_MG1655.fa.gz
	@mkdir -p $(@D)
	$(AT)$(call from_data,gzip -dc $< | awk -v tr=$@ -v va=/dev/null -f split2k.awk,$(call step_text,$(EC_TAG),split2k,the E. coli genome in 2 kb records (training part)))
$(E)/genome.valid.fa: $(DATA)/ecoli/ecoli_K12_MG1655.fa.gz
	@mkdir -p $(@D)
	$(AT)$(call from_data,gzip -dc $< | awk -v tr=/dev/null -v va=$@ -f split2k.awk,$(call step_text,$(EC_TAG),split2k,the E. coli genome in 2 kb records (every 7th held out)))

$(E)/bacteria.fa: $(wildcard $(DATA)/bacteria/*.fa.gz)
	@mkdir -p $(@D)
	$(AT)$(call from_data,for f in $^; do gzip -dc $$f | awk -v tr=/dev/stdout -v va=/dev/null -v name=$$(basename $$f .fa.gz) -f split2k.awk; done > $@,$(call step_text,$(EC_TAG),split2k,18 other bacterial genomes in 2 kb records))

# LM corpora (the training genomes on $(EC_LM_STRAND) strands, all framings: $(EC_LM_PHASES);
# validation on the forward strand in one framing)
$(E)/genome.train.$(TOK).tok: $(E)/genome.train.fa
	$(call step,$(EC_TAG),fa2kmer,tokenise the E. coli genome ($(TOK)))
	$(AT)$(BIN)/fa2kmer $(Q) -k$(K) -s$(S) -N split -S $(EC_LM_STRAND) $(ec_phases) $< -o $@
$(E)/bacteria.$(TOK).tok: $(E)/bacteria.fa
	$(call step,$(EC_TAG),fa2kmer,tokenise the other bacteria ($(TOK)))
	$(AT)$(BIN)/fa2kmer $(Q) -k$(K) -s$(S) -N split -S $(EC_LM_STRAND) $(ec_phases) $< -o $@
$(E)/genome.valid.$(TOK).tok: $(E)/genome.valid.fa
	$(call step,$(EC_TAG),fa2kmer,tokenise the held-out genome records)
	$(AT)$(BIN)/fa2kmer $(Q) -k$(K) -s$(S) -N split $< -o $@

# promoter sets on either strand (-S rev keeps the names, so predictions pair up)
$(E)/promoters.%.fwd.$(TOK).tok: $(DATA)/ecoli/ecoli_promoters.%.fa.gz
	@mkdir -p $(@D)
	$(AT)$(call from_data,$(BIN)/fa2kmer $(Q) -k$(K) -s$(S) -L $< -o $@,$(call step_text,$(EC_TAG),fa2kmer,tokenise the promoter $* set))
$(E)/promoters.%.rev.$(TOK).tok: $(DATA)/ecoli/ecoli_promoters.%.fa.gz
	@mkdir -p $(@D)
	$(AT)$(call from_data,$(BIN)/fa2kmer $(Q) -k$(K) -s$(S) -S rev -L $< -o $@,$(call step_text,$(EC_TAG),fa2kmer,tokenise the promoter $* set (reverse complement)))

$(E)/vocab.tsv: $(E)/genome.train.$(TOK).tok
	$(call step,$(EC_TAG),kmervocab,count the $(TOK) vocabulary of the genome)
	$(AT)$(BIN)/kmervocab $(Q) $< -o $@

ec_valid_every = $(if $(EC_LM_VALID_EVERY),--valid-every $(EC_LM_VALID_EVERY))
EC_LMOPTS = -E $(EC_E) -H $(EC_H) -b $(EC_BATCH) --drop-mult $(EC_LM_DROP) --seed $(SEED) $(ec_valid_every)

# LM pre-training: on the E. coli genome, or on E. coli + 18 other bacteria
ec_corpus.ecoli = $(E)/genome.train.$(TOK).tok
ec_corpus.bact  = $(E)/genome.train.$(TOK).tok $(E)/bacteria.$(TOK).tok
ec_what.ecoli   = the E. coli genome
ec_what.bact    = E. coli and 18 other bacteria
define ec_lm
$(E)/lm.$(1).model: $(E)/vocab.tsv $(E)/genome.valid.$(TOK).tok $(ec_corpus.$(1))
	$$(call step,$(EC_TAG),lmtrain,pre-train an LM on $(ec_what.$(1)) ($(call budget_words,$(EC_LM_TIME))))
	$(AT)$(BIN)/lmtrain $(Q) -v $$< -V $$(word 2,$$^) $(EC_LMOPTS) --lr $(EC_LM_LR) $(call lm_budget,$(EC_LM_TIME)) \
		--log $(E)/lm.$(1).log.tsv $$(call resume_or,$$@,,$$^) -o $$@ $(ec_corpus.$(1))
endef
$(foreach m,ecoli bact,$(eval $(call ec_lm,$(m))))

# warm restarts: lm.X.r1.model from lm.X.model, lm.X.r2.model from lm.X.r1.model, ..., each
# on the corpus lm.X.model was trained on
ec_restarts := $(call restart_numbers,$(EC_LM_RESTARTS))
define ec_restart
$(E)/lm.$(1).r$(2).model: $(E)/lm.$(1)$(call restart_suffix,$(call restart_before,$(2))).model $(E)/genome.valid.$(TOK).tok $(ec_corpus.$(1))
	$$(call step,$(EC_TAG),lmtune,warm restart $(2) of the LM on $(ec_what.$(1)) ($(call budget_words,$(EC_LM_RESTART_TIME))))
	$(AT)$(BIN)/lmtune $(Q) -V $$(word 2,$$^) -b $(EC_BATCH) --lr $(EC_LM_RESTART_LR) --lr-factor 1 --drop-mult $(EC_LM_DROP) \
		$(call lm_budget,$(EC_LM_RESTART_TIME)) --seed $(SEED) $(ec_valid_every) \
		--log $(E)/lm.$(1).r$(2).log.tsv $$(call resume_or,$$@,-m $$<,$$^) -o $$@ $(ec_corpus.$(1))
endef
$(foreach m,ecoli bact,$(foreach i,$(ec_restarts),$(eval $(call ec_restart,$(m),$(i)))))

# fine-tuning on the promoter training sequences (the strands the classifiers read), from the
# LM's last restart
ec_train = $(foreach d,$(EC_STRANDS),$(E)/promoters.train.$(d).$(TOK).tok)
$(E)/tuned.%.model: $(E)/lm.%$(call restart_suffix,$(EC_LM_RESTARTS)).model $(E)/promoters.valid.fwd.$(TOK).tok $(ec_train)
	$(call step,$(EC_TAG),lmtune,fine-tune the $* LM on the promoter training set ($(call budget_words,$(EC_TUNE_TIME))))
	$(AT)$(BIN)/lmtune $(Q) -V $(word 2,$^) -b $(EC_BATCH) --lr $(EC_TUNE_LR) --lr-factor $(EC_TUNE_LR_FACTOR) \
		$(call lm_budget,$(EC_TUNE_TIME)) --seed $(SEED) --log $(E)/tuned.$*.log.tsv $(call resume_or,$@,-m $<,$^) -o $@ $(ec_train)

EC_CLSOPTS = --keep-best --seed $(SEED)

# classifiers, one per strand: from each fine-tuned LM (cls.ecoli, cls.bact), and from scratch
# (cls.nopre, the ablation; its explicit rule wins over the pattern)
define ec_cls
$(E)/cls.%.$(1).model: $(E)/tuned.%.model $(E)/promoters.train.$(1).$(TOK).tok $(E)/promoters.valid.$(1).$(TOK).tok
	$$(call step,$(EC_TAG),clstrain,classifier from the fine-tuned $$* LM ($(1) strand$(comma) stages $(EC_STAGES)))
	$(AT)$(BIN)/clstrain $(Q) $$(call resume_or,$$@,-m $$<,$$^) --checkpoint $$@.ckpt -V $$(word 3,$$^) $(EC_CLSOPTS) \
		--drop-mult $(EC_DROP) --stages $(EC_STAGES) --lr-factor $(EC_LR_FACTOR) --log $(E)/cls.$$*.$(1).log.tsv -o $$@ $$(word 2,$$^)
$(E)/cls.nopre.$(1).model: $(E)/vocab.tsv $(E)/promoters.train.$(1).$(TOK).tok $(E)/promoters.valid.$(1).$(TOK).tok
	$$(call step,$(EC_TAG),clstrain,the same classifier without pre-training ($(1) strand$(comma) stages $(EC_NOPRE_STAGES)))
	$(AT)$(BIN)/clstrain $(Q) $$(call resume_or,$$@,--no-pretrain -v $$< -E $(EC_E) -H $(EC_H),$$^) \
		--checkpoint $$@.ckpt -V $$(word 3,$$^) $(EC_CLSOPTS) --drop-mult $(EC_NOPRE_DROP) --stages $(EC_NOPRE_STAGES) --lr-factor $(EC_NOPRE_LR_FACTOR) \
		--log $(E)/cls.nopre.$(1).log.tsv -o $$@ $$(word 2,$$^)
endef
$(foreach d,$(EC_STRANDS),$(eval $(call ec_cls,$(d))))

# test predictions: the mean over the strands' classifiers (one classifier: its own)
$(E)/cls.%.test.metrics: $(foreach d,$(EC_STRANDS),$(E)/cls.%.$(d).model $(E)/promoters.test.$(d).$(TOK).tok)
	$(call step,$(EC_TAG),clspredict,score the $* classifier$(if $(ec_rev),s (fwd + rev averaged)) on the test set)
	$(AT)$(BIN)/clspredict $(Q) $(foreach d,$(EC_STRANDS),-m $(E)/cls.$*.$(d).model) --positive promoter --metrics $@.tmp \
		--roc $(E)/cls.$*.test.roc $(foreach d,$(EC_STRANDS),$(E)/promoters.test.$(d).$(TOK).tok) > $(E)/cls.$*.test.tsv
	$(AT)mv $@.tmp $@

# the simple baseline: the test set's promoter windows end 50 bp into a CDS, so a start codon
# (ATG, GTG, TTG) at position 101 (1-based) marks nearly every promoter; this rule's metrics
$(E)/startcodon.test.metrics: $(DATA)/ecoli/ecoli_promoters.test.fa.gz
	@mkdir -p $(@D)
	$(AT)$(call from_data,gzip -dc $< | awk -f startcodon.awk > $@.tmp && mv $@.tmp $@,$(call step_text,$(EC_TAG),startcodon.awk,the one-line baseline: a start codon at position 101))

# every file a step makes, named as a prerequisite of the results: make takes a file that only
# pattern rules reach as intermediate, and would neither keep it nor, when it is missing (a new
# restart after raising EC_LM_RESTARTS, a model removed by hand), make it and what follows
ec_made = $(foreach m,ecoli bact,$(E)/lm.$(m).model $(foreach i,$(ec_restarts),$(E)/lm.$(m).r$(i).model) $(E)/tuned.$(m).model) \
	$(foreach m,ecoli bact nopre,$(foreach d,$(EC_STRANDS),$(E)/cls.$(m).$(d).model) $(E)/cls.$(m).test.metrics) \
	$(foreach s,train valid test,$(foreach d,$(sort fwd $(EC_STRANDS)),$(E)/promoters.$(s).$(d).$(TOK).tok)) \
	$(E)/startcodon.test.metrics

# results: ours beside the reference's (its own split, GPU, E=400 H=1150)
$(E)/results.tsv: $(ec_made)
	$(AT)echo 'k=$(K) stride=$(S) E=$(EC_E) H=$(EC_H) batch=$(EC_BATCH) LM: $(call budget_words,$(EC_LM_TIME)) at lr $(EC_LM_LR)$(if $(ec_restarts), then $(EC_LM_RESTARTS) warm restart(s) of $(call budget_words,$(EC_LM_RESTART_TIME)) at lr $(EC_LM_RESTART_LR)), drop-mult $(EC_LM_DROP), genomes on strands: $(EC_LM_STRAND), all stride framings: $(EC_LM_PHASES); fine-tuning: $(call budget_words,$(EC_TUNE_TIME)) at lr $(EC_TUNE_LR), lr factor $(EC_TUNE_LR_FACTOR); classifiers per model: $(EC_STRANDS) (averaged), stages $(EC_STAGES), lr factor $(EC_LR_FACTOR), drop-mult $(EC_DROP); ablation stages $(EC_NOPRE_STAGES), lr factor $(EC_NOPRE_LR_FACTOR), drop-mult $(EC_NOPRE_DROP); seed $(SEED)' > $(E)/settings.txt
	$(AT)echo '$(or $(EC_COMMAND),make -C pipelines ecoli-demo $(MAKEOVERRIDES))' > $(E)/command.txt
	$(AT){ printf 'model\taccuracy\tprecision\trecall\tmcc\troc_auc\treference_accuracy\treference_mcc\n'; \
	  for m in cls.nopre:0.834:0.670 cls.ecoli:0.919:0.839 cls.bact:0.973:0.947 startcodon:-:-; do IFS=: read -r n ra rm <<< "$$m"; \
	    f=$(E)/$$n.test.metrics; g() { awk -F'\t' -v k=$$1 '$$1 == k { printf "%.3f", $$2 }' $$f; }; \
	    label=$$(case $$n in cls.nopre) echo 'no pre-training';; cls.ecoli) echo 'E. coli genome LM';; cls.bact) echo 'multi-genome LM';; *) echo 'rule: start codon at 101';; esac); \
	    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$$label" $$(g accuracy) $$(g precision) $$(g sensitivity) $$(g mcc) $$(g roc_auc) $$ra $$rm; \
	  done; } > $@
