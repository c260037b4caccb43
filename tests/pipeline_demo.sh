#!/bin/sh
# The E. coli demo pipeline end to end (pipelines/Makefile, target demo) on a subset of the data
# with tiny models and budgets, with a forward and a reverse-complement classifier per model (the
# ensemble of the ecoli target): it must run through and its ULMFiT classifier must beat chance.
set -eu
DATA=${DATA:-../shared/data}
T=$(pwd)/tests/tmp/pipeline_demo
rm -rf "$T" && mkdir -p "$T/data/ecoli" "$T/data/bacteria"
fail() { echo "FAIL pipeline_demo: $*"; echo "pipeline_demo: 0 passed, 1 failed"; exit 1; }
# 350 kb of the genome, 1 in 4 promoter records, two other bacteria (first 140 kb each)
gzip -dc "$DATA/ecoli/ecoli_K12_MG1655.fa.gz" | head -n 5000 | gzip -c > "$T/data/ecoli/ecoli_K12_MG1655.fa.gz"
for s in train valid test; do
	gzip -dc "$DATA/ecoli/ecoli_promoters.$s.fa.gz" | awk 'NR % 8 == 1 || NR % 8 == 2' | gzip -c > "$T/data/ecoli/ecoli_promoters.$s.fa.gz"
done
for g in saureus_COL vcholerae_H1; do
	gzip -dc "$DATA/bacteria/$g.fa.gz" | head -n 2000 | gzip -c > "$T/data/bacteria/$g.fa.gz"
done
make -s -C pipelines demo DATA="$T/data" EC_OUT="$T/demo" EC_E=32 EC_H=64 EC_BATCH=32 EC_LM_TIME=8s EC_TUNE_TIME=4s \
	EC_STAGES=1:1:2e-2,all:6:1e-2 EC_NOPRE_STAGES=all:8:1e-2 EC_DROP=0 EC_STRANDS='fwd rev' > "$T/out.txt" 2>&1 || { cat "$T/out.txt"; fail "make demo failed"; }
cat "$T/out.txt"
r=$T/demo/results.tsv
[ "$(wc -l < "$r")" -eq 5 ] || fail "results.tsv should hold a header and 4 rows"
# the LMs read both strands of the genome, the reverse classifiers the reverse complements
[ "$(bin/kmervocab dump "$T/demo/genome.train.k5s2.tok" | grep -c '/rc	')" -gt 0 ] || fail "no reverse-complement records in the LM corpus"
awk -F'\t' '$1 == "rule: start codon at 101" && $2 > 0.9 { ok = 1 } END { exit !ok }' "$r" || fail "the start-codon rule row is missing or wrong"
# the ULMFiT classifier (E. coli LM) clearly above chance (balanced test subset: chance is 0.5);
# the from-scratch ablation and the multi-genome variant only have to run at this tiny scale
awk -F'\t' '$1 == "E. coli genome LM" && $2 > 0.6 { ok = 1 } END { exit !ok }' "$r" || fail "the classifier is not above chance"
# the metrics agree with the predictions TSV (accuracy recomputed from it)
tsv=$T/demo/cls.ecoli.test.tsv
acc=$(awk -F'\t' '$1 == "accuracy" { print $2 }' "$T/demo/cls.ecoli.test.metrics")
want=$(gzip -dc "$T/data/ecoli/ecoli_promoters.test.fa.gz" | awk '/^>/ { split(substr($1, 2), a, "|"); print a[1] }' > "$T/truth"; \
	tail -n +2 "$tsv" | cut -f2 | paste - "$T/truth" | awk -F'\t' '{ n++; c += ($1 == $2) } END { printf "%.6f", c / n }')
awk -v a="$acc" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }' || fail "metrics accuracy $acc, recomputed from the TSV $want"
echo "pipeline_demo: 4 passed, 0 failed"
