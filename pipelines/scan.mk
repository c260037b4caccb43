# Genome scan (issue 40): an E. coli promoter classifier over the whole E. coli genome, both
# strands, in windows of SCAN_WINDOW bases every SCAN_STEP, and the recall of the test set's
# annotated gene starts among the top-scoring windows at stated false-positive rates per Mb,
# beside the E. coli demo's start-codon rule (a start codon ATG/GTG/TTG at window positions 101-103)
# scanned over the same windows; plus a gnuplot figure of the scores along one region.
#
#   make -C pipelines scan [SCAN_MODEL=cls.model]
#
# Self-contained (its own defaults), so pipelines/Makefile can include it; SCAN_MODEL defaults to
# the E. coli demo's forward classifier (make -C pipelines ecoli-demo makes it). Outputs in $(SCAN_OUT):
#   cls.{fwd,rev}.bedgraph, rule.{fwd,rev}.bedgraph   the tracks (P(promoter), 0/1 for the rule)
#   results.tsv      recall table (pipelines/scaneval.py describes every column)
#   time.tsv         wall time, CPU time and peak RSS of each pass (the programs' summaries)
#   region.png       scores along SCAN_REGION, annotated starts marked
# A gene start of the test set (ecoli_promoters.test.fa.gz, never trained on; its header carries
# the record's genome coordinates, checked against the genome) is found at a threshold when a
# window on its strand starting within SCAN_TOL bases of its record scores above it. Windows
# near no annotated start of any set (train, valid, test) are the negatives; the threshold for
# a rate of R false positives per Mb lets floor(R x genome Mb) of them through.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:

TOP  ?= $(abspath ..)
DATA ?= $(abspath $(TOP)/../shared/data)
BIN  ?= $(TOP)/bin
OUT  ?= out
K    ?= 5
S    ?= 2

SCAN_MODEL   ?= $(OUT)/ecoli-demo/cls.ecoli.fwd.model
SCAN_OUT     ?= $(OUT)/scan
SCAN_GENOME  ?= $(DATA)/ecoli/ecoli_K12_MG1655.fa.gz
SCAN_TEST    ?= $(DATA)/ecoli/ecoli_promoters.test.fa.gz
SCAN_KNOWN   ?= $(DATA)/ecoli/ecoli_promoters.train.fa.gz $(DATA)/ecoli/ecoli_promoters.valid.fa.gz
SCAN_WINDOW  ?= 150
SCAN_STEP    ?= 10
SCAN_THREADS ?= 2
SCAN_BATCH   ?= 128
SCAN_TOL     ?= 25
# false positives per Mb of genome (both strands together) at which recall is reported
SCAN_FPR     ?= 1 10 100 1000
# the figure: 20 kb holding 7 gene starts of the test set on both strands
SCAN_REGION  ?= K-12-MG1655:3440000-3460000

SC := $(SCAN_OUT)
scan_win = --window $(SCAN_WINDOW) --step $(SCAN_STEP)

.PHONY: scan
scan: $(SC)/results.tsv $(SC)/region.png
	@column -t -s $$'\t' $(SC)/results.tsv
	@column -t -s $$'\t' $(SC)/time.tsv

# the classifier, one strand a pass (a bedGraph holds one strand; the other strand's windows are
# not cut): P(promoter) of every window; the programs' summaries go to the .log files
$(SC)/cls.%.bedgraph: $(SCAN_MODEL) $(SCAN_GENOME)
	@mkdir -p $(@D)
	$(BIN)/fa2kmer -k$(K) -s$(S) $(scan_win) -S $* -t 2 $(SCAN_GENOME) 2> $(SC)/fa2kmer.$*.log | \
		$(BIN)/clspredict -m $(SCAN_MODEL) -t $(SCAN_THREADS) -b $(SCAN_BATCH) --positive promoter \
		--bedgraph -S $* -o $@ 2> $(SC)/clspredict.$*.log

# the start-codon rule over the same windows: fa2kmer -k3 -s100 cuts each window (reverse
# complemented for -S rev) into the 3-mers at positions 1-3 and 101-103
$(SC)/rule.%.bedgraph: $(SCAN_GENOME)
	@mkdir -p $(@D)
	$(BIN)/fa2kmer -q -k3 -s100 $(scan_win) -S $* $< | $(BIN)/kmervocab dump | \
		awk -F'\t' '{ split($$3, t, " "); c = t[2]; n = split($$1, f, ":"); chrom = f[1]; for (i = 2; i < n; i++) chrom = chrom ":" f[i]; \
			split(f[n], se, /[-(]/); print chrom "\t" se[1] "\t" se[2] "\t" (c == "ATG" || c == "GTG" || c == "TTG") }' > $@

scan_tracks = $(foreach t,cls rule,$(SC)/$(t).fwd.bedgraph $(SC)/$(t).rev.bedgraph)

$(SC)/results.tsv: $(scan_tracks) $(SCAN_TEST) $(SCAN_KNOWN)
	python3 $(TOP)/pipelines/scaneval.py --genome $(SCAN_GENOME) --tol $(SCAN_TOL) --fpr '$(SCAN_FPR)' \
		--figure $(SC)/region.tsv --region $(SCAN_REGION) $(SCAN_TEST) $(SCAN_KNOWN) -- \
		classifier $(SC)/cls.fwd.bedgraph $(SC)/cls.rev.bedgraph 'start-codon rule*' $(SC)/rule.fwd.bedgraph $(SC)/rule.rev.bedgraph > $@.tmp
	mv $@.tmp $@
	{ printf 'pass\treal_s\tcpu_s\tpeak_rss_gb\n'; for f in $(SC)/fa2kmer.fwd.log $(SC)/clspredict.fwd.log $(SC)/fa2kmer.rev.log $(SC)/clspredict.rev.log; do \
		sed -n "s/^\([a-z0-9]*\): real time \([0-9.]*\) s; CPU \([0-9.]*\) s.*peak RSS \([0-9.]*\) GB.*/\1 $$(basename $$f .log | cut -d. -f2)\t\2\t\3\t\4/p" $$f; done; } > $(SC)/time.tsv
	echo 'model $(SCAN_MODEL); genome $(SCAN_GENOME); window $(SCAN_WINDOW) step $(SCAN_STEP), both strands; k=$(K) s=$(S); $(SCAN_THREADS) threads, batch $(SCAN_BATCH); match tolerance $(SCAN_TOL) bases' > $(SC)/settings.txt

$(SC)/region.png: $(SC)/results.tsv
	gnuplot -e "set terminal pngcairo size 1200,500; set output '$@'; set datafile separator '\t'; \
		set title 'P(promoter) along $(SCAN_REGION), windows of $(SCAN_WINDOW) every $(SCAN_STEP) (x: window centre)'; \
		set xlabel 'position (kb)'; set ylabel 'P(promoter), reverse strand negated'; set yrange [-1.1:1.1]; \
		set key outside top center horizontal; \
		set arrow from graph 0, first 0 to graph 1, first 0 nohead lc rgb 'gray'; \
		plot '$(SC)/region.tsv' using (\$$1/1000):2 with lines lc rgb '#1f77b4' title 'classifier, + strand', \
		'' using (\$$1/1000):(-\$$3) with lines lc rgb '#d62728' title 'classifier, - strand', \
		'$(SC)/region.tsv.starts' using (\$$1/1000):(strcol(3) eq 'test' ? (strcol(2) eq '+' ? 1.05 : -1.05) : 1/0) with points pt 7 ps 1.5 lc rgb 'black' title 'test-set gene starts', \
		'' using (\$$1/1000):(strcol(3) eq 'test' ? 1/0 : (strcol(2) eq '+' ? 1.05 : -1.05)) with points pt 6 ps 1.2 lc rgb 'gray40' title 'train/valid gene starts'"
