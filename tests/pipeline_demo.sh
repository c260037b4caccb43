#!/bin/sh
# The E. coli demo pipeline end to end (pipelines/ecoli.mk, target ecoli-demo) on a subset of the data
# with tiny models and budgets, with a forward and a reverse-complement classifier per model (the
# ensemble of the ecoli target): it must run through and its ULMFiT classifier must beat chance.
set -eu
DATA=${DATA:-../shared/data}
T=$(pwd)/tests/tmp/pipeline_demo
rm -rf "$T" && mkdir -p "$T/data/ecoli" "$T/data/bacteria"
pass=0
fail() { echo "FAIL pipeline_demo: $*"; echo "pipeline_demo: $pass passed, 1 failed"; exit 1; }
# after each check that held
ok() { pass=$((pass + 1)); }

# pipelines/resumable: a checkpoint is resumed only when it started from the same input bytes
R=pipelines/resumable C=$T/r/m.ckpt
mkdir -p "$T/r" && echo a > "$T/r/in1" && echo b > "$T/r/in2"
rc() { set +e; "$R" "$@" 2> "$T/r/err"; echo $?; set -e; }
[ "$(rc "$C" "$T/r/in1" "$T/r/in2")" = 1 ] && [ -s "$C.inputs" ] || fail "resumable: no checkpoint must mean start over, inputs recorded"; ok
echo ck > "$C" && echo best > "$C.best"
[ "$(rc "$C" "$T/r/in1" "$T/r/in2")" = 0 ] || fail "resumable: a checkpoint from the same inputs must resume"; ok
touch -d '2030-01-01' "$T/r/in1"
[ "$(rc "$C" "$T/r/in1" "$T/r/in2")" = 0 ] || fail "resumable: re-dated inputs with the same bytes must resume"; ok
echo c > "$T/r/in2"
[ "$(rc "$C" "$T/r/in1" "$T/r/in2")" = 1 ] && [ ! -e "$C" ] && [ ! -e "$C.best" ] && grep -q 'is stale' "$T/r/err" \
	|| fail "resumable: changed inputs must remove the checkpoint and say so"; ok
rm -f "$C.inputs" && echo ck > "$C" && touch -d '2020-01-01' "$T/r/in1" "$T/r/in2"
[ "$(rc "$C" "$T/r/in1" "$T/r/in2")" = 0 ] && [ -s "$C.inputs" ] || fail "resumable: an unstamped checkpoint newer than its inputs must resume"; ok
rm -f "$C.inputs" && touch -d '2019-01-01' "$C"
[ "$(rc "$C" "$T/r/in1" "$T/r/in2")" = 1 ] && [ ! -e "$C" ] || fail "resumable: an unstamped checkpoint older than an input must start over"; ok
[ "$(rc "$C")" = 2 ] || fail "resumable: usage error must exit 2"; ok
# 350 kb of the genome, 1 in 4 promoter records, two other bacteria (first 140 kb each)
gzip -dc "$DATA/ecoli/ecoli_K12_MG1655.fa.gz" | head -n 5000 | gzip -c > "$T/data/ecoli/ecoli_K12_MG1655.fa.gz"
for s in train valid test; do
	gzip -dc "$DATA/ecoli/ecoli_promoters.$s.fa.gz" | awk 'NR % 8 == 1 || NR % 8 == 2' | gzip -c > "$T/data/ecoli/ecoli_promoters.$s.fa.gz"
done
for g in saureus_COL vcholerae_H1; do
	gzip -dc "$DATA/bacteria/$g.fa.gz" | head -n 2000 | gzip -c > "$T/data/bacteria/$g.fa.gz"
done
# (and, as the ecoli target, a warm restart of each LM validated every 50 steps)
mk() { make -C pipelines ecoli-demo DATA="$T/data" EC_OUT="$T/demo" EC_E=32 EC_H=64 EC_BATCH=32 LM_EPOCHS=1 \
	EC_LM_RESTARTS=1 EC_LM_VALID_EVERY=50 \
	EC_STAGES=1:1:2e-2,all:6:1e-2 EC_NOPRE_STAGES=all:8:1e-2 EC_DROP=0 EC_STRANDS='fwd rev' EC_LM_PHASES=yes "$@"; }
demo() { mk --no-print-directory > "$T/out.txt" 2>&1 || { cat "$T/out.txt"; fail "make ecoli-demo failed"; }; }
demo
cat "$T/out.txt"
r=$T/demo/results.tsv
# the user sees one line a step and the programs' progress, not make's recipes (unless V=1)
grep -qx '\[ecoli-demo\] lmtrain: pre-train an LM on the E. coli genome (1 epoch(s))' "$T/out.txt" \
	&& grep -q '^\[ecoli-demo\] clstrain: the same classifier without pre-training (rev strand' "$T/out.txt" \
	&& ! grep -q '^/[^ ]*/bin/\|^if ! \|^mkdir \|^echo \|^{ ' "$T/out.txt" \
	&& make -C pipelines --no-print-directory DATA="$T/data" EC_OUT="$T/v0" "$T/v0/startcodon.test.metrics" > "$T/v0.txt" \
	&& grep -qx '\[ecoli-demo\] startcodon.awk: the one-line baseline: a start codon at position 101' "$T/v0.txt" && [ "$(wc -l < "$T/v0.txt")" -eq 1 ] \
	&& make -C pipelines --no-print-directory DATA="$T/data" EC_OUT="$T/v1" V=1 "$T/v1/startcodon.test.metrics" > "$T/v1.txt" && grep -q 'startcodon.awk >' "$T/v1.txt" \
	|| fail "the demo's output is not one line a step, or V=1 does not show the recipes: $(grep -n '^/[^ ]*/bin/\|^if ! \|^mkdir \|^echo \|^{ ' "$T/out.txt" | head -n 3)"; ok
[ "$(wc -l < "$r")" -eq 5 ] || fail "results.tsv should hold a header and 4 rows"; ok
# the warm restarts ran, validating along the way, and fine-tuning starts from them: a newer
# restart (make -W) means fine-tuning again, a newer first cycle also means restarting again
for m in ecoli bact; do
	[ -s "$T/demo/lm.$m.r1.model" ] && [ "$(awk -F'\t' 'NR > 1 && $5 != "nan"' "$T/demo/lm.$m.r1.log.tsv" | wc -l)" -ge 2 ] \
		&& [ "$(awk -F'\t' 'NR > 1 && $5 != "nan"' "$T/demo/lm.$m.log.tsv" | wc -l)" -ge 2 ] || fail "lm.$m: no warm restart, or no validation every 50 steps"; ok
done
# every file a step makes is named in the Makefile: none is intermediate, so make deletes none
# after a run, and makes a missing one (a further restart) and what follows from it
mk -n EC_OUT="$T/empty" > "$T/n0.txt" && ! grep -q '^rm [^-]' "$T/n0.txt" || fail "make would delete intermediate files: $(grep '^rm [^-]' "$T/n0.txt")"; ok
mk -n EC_LM_RESTARTS=2 > "$T/n3.txt"
grep -q 'lm\.ecoli\.r2\.log' "$T/n3.txt" && grep -q 'tuned\.ecoli\.log' "$T/n3.txt" && grep -q 'cls\.bact\.rev\.log' "$T/n3.txt" \
	&& ! grep -q 'lm\.ecoli\.r1\.log' "$T/n3.txt" || fail "a further restart does not run, or not before what follows it"; ok
mk -n -W "$T/demo/lm.ecoli.r1.model" > "$T/n1.txt" && mk -n -W "$T/demo/lm.ecoli.model" > "$T/n2.txt"
grep -q 'tuned\.ecoli\.log' "$T/n1.txt" && ! grep -q 'lm\.ecoli\.r1\.log' "$T/n1.txt" && ! grep -q 'tuned\.bact' "$T/n1.txt" \
	&& grep -q 'lm\.ecoli\.r1\.log' "$T/n2.txt" || fail "fine-tuning does not follow the warm restart"; ok
# the LMs read both strands of the genome in both stride framings (as the ecoli target), the
# reverse classifiers the reverse complements
[ "$(bin/kmervocab dump "$T/demo/genome.train.k5s2.tok" | grep -c '/rc	')" -gt 0 ] || fail "no reverse-complement records in the LM corpus"; ok
[ "$(bin/kmervocab dump "$T/demo/genome.train.k5s2.tok" | grep -c '/rc/p1	')" -gt 0 ] || fail "no second-framing records in the LM corpus"; ok
awk -F'\t' '$1 == "rule: start codon at 101" && $2 > 0.9 { ok = 1 } END { exit !ok }' "$r" || fail "the start-codon rule row is missing or wrong"; ok
# data re-dated with the same bytes (as a fresh mount of ../shared/data) rebuilds nothing: every
# output keeps its date; data with new bytes remakes what reads it
touch "$T/before" && find "$T/data" -type f -exec touch {} + && demo
[ -z "$(find "$T/demo" -newer "$T/before" -type f)" ] || fail "re-dated data rebuilt $(find "$T/demo" -newer "$T/before" -type f | head -n 3)"; ok
! grep -q '^\[' "$T/out.txt" || fail "re-dated data printed step lines: $(grep '^\[' "$T/out.txt" | head -n 3)"; ok
tf=$T/data/ecoli/ecoli_promoters.test.fa.gz
cp -p "$tf" "$T/test.fa.gz" && gzip -dc "$T/test.fa.gz" | awk 'NR % 20 == 1 || NR % 20 == 2' | gzip -c > "$tf"
n=$(gzip -dc "$tf" | grep -c '^>') && touch "$T/before" && demo
[ "$(find "$T/demo" -newer "$T/before" -name 'promoters.test.*.tok' | wc -l)" -eq 2 ] && [ "$(wc -l < "$T/demo/cls.ecoli.test.tsv")" -eq $((n + 1)) ] \
	&& [ -z "$(find "$T/demo" -newer "$T/before" -name '*.model')" ] || fail "a changed test set did not remake exactly the test steps"; ok
cp -p "$T/test.fa.gz" "$tf" && touch "$tf" && demo
# the ULMFiT classifier (E. coli LM) clearly above chance (balanced test subset: chance is 0.5);
# the from-scratch ablation and the multi-genome variant only have to run at this tiny scale
awk -F'\t' '$1 == "E. coli genome LM" && $2 > 0.6 { ok = 1 } END { exit !ok }' "$r" || fail "the classifier is not above chance"; ok
# the metrics agree with the predictions TSV (accuracy recomputed from it)
tsv=$T/demo/cls.ecoli.test.tsv
acc=$(awk -F'\t' '$1 == "accuracy" { print $2 }' "$T/demo/cls.ecoli.test.metrics")
want=$(gzip -dc "$T/data/ecoli/ecoli_promoters.test.fa.gz" | awk '/^>/ { split(substr($1, 2), a, "|"); print a[1] }' > "$T/truth"; \
	tail -n +2 "$tsv" | cut -f2 | paste - "$T/truth" | awk -F'\t' '{ n++; c += ($1 == $2) } END { printf "%.6f", c / n }')
awk -v a="$acc" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }' || fail "metrics accuracy $acc, recomputed from the TSV $want"; ok
# an interrupted classifier whose checkpoint started from other inputs is trained afresh,
# and one from the same inputs resumes (here: its finished checkpoint, so no new epoch)
lines() { wc -l < "$T/demo/cls.ecoli.$1.log.tsv"; }
nf=$(lines fwd) nr=$(lines rev)
echo other > "$T/demo/cls.ecoli.fwd.model.ckpt.inputs"
rm "$T/demo/cls.ecoli.fwd.model" "$T/demo/cls.ecoli.rev.model" && touch "$T/before"
demo
[ "$T/demo/cls.ecoli.test.metrics" -nt "$T/before" ] && [ "$r" -nt "$T/before" ] || fail "missing models did not remake the results"; ok
grep -q 'cls.ecoli.fwd.model.ckpt is stale' "$T/out.txt" || fail "a checkpoint from other inputs was not called stale"; ok
grep -q 'cls.ecoli.rev.model.ckpt is stale' "$T/out.txt" && fail "the checkpoint from the same inputs was called stale"
[ "$(lines fwd)" -eq "$nf" ] && [ "$(cut -f1 "$T/demo/cls.ecoli.fwd.log.tsv" | sed -n 2p)" = 1 ] || fail "the stale classifier did not train afresh"; ok
[ "$(lines rev)" -eq "$nr" ] && [ -s "$T/demo/cls.ecoli.rev.model" ] || fail "the resumed classifier trained again or wrote no model"; ok
echo "pipeline_demo: $pass passed, 0 failed"
