#!/bin/sh
# A short real-data run of clstrain and clspredict on E. coli promoters: a subset (every 4th
# training record, every 3rd validation record, every 4th test record), k=5 stride 2, a tiny
# classifier from scratch (--no-pretrain, E=32 H=64, drop-mult 0.3, one stage of 10 epochs at
# one learning rate for every layer group), fixed seed. Asserts that the test accuracy is
# clearly above chance (>= 0.62; 207 records, so chance is 0.50 +- 0.035) and that the accuracy
# clspredict reports equals the one recomputed from its TSV; then the same run interrupted by
# SIGTERM and resumed. About 30-40 s on 2 cores.
#
# Why one rate (--lr-factor 1): with the reference's lr/2.6 per group down, this from-scratch
# model trains its embedding at lr/46 and its validation accuracy sits at chance for most
# epochs while BatchNorm's running statistics lag the features (valid loss in the hundreds);
# whether it recovers by epoch 10 hangs on float rounding (seeds 1-4, AVX-512 and AVX2 paths:
# test accuracy 0.50-0.72; PyTorch on the same data and settings does the same, see
# tests/ref/torch_cls_train.py: seed 2 ends at 0.50, at one rate seeds 1-3 0.67-0.73). At one rate,
# seeds 1-5 on both paths gave 0.667-0.730 (2026-12-02, AMD EPYC with AVX-512); with
# clstrain's precise BatchNorm statistics (--precise-bn, the default since), 0.662-0.734.
set -eu
cd "$(dirname "$0")/.."
BIN=$(pwd)/bin
DATA=${DATA:-$(cd ../shared/data 2>/dev/null && pwd)}
T=$(pwd)/tests/tmp/cls_ecoli
rm -rf "$T" && mkdir -p "$T"
E=$DATA/ecoli
# every n-th record of a two-line-per-record FASTA
sub() { gzip -dc "$1" | awk -v e="$2" 'NR % 2 == 1 { h = $0; next } { if (++i % e == 0) print h "\n" $0 }'; }
sub "$E/ecoli_promoters.train.fa.gz" 4 | "$BIN/fa2kmer" -q -k5 -s2 -L -o "$T/train.tok"
sub "$E/ecoli_promoters.valid.fa.gz" 3 | "$BIN/fa2kmer" -q -k5 -s2 -L -o "$T/valid.tok"
sub "$E/ecoli_promoters.test.fa.gz" 4 | "$BIN/fa2kmer" -q -k5 -s2 -L -o "$T/test.tok"
"$BIN/kmervocab" -q -o "$T/vocab.tsv" "$T/train.tok"
"$BIN/clstrain" -q --no-pretrain -v "$T/vocab.tsv" -E 32 -H 64 --drop-mult 0.3 --lr-factor 1 -b 32 \
	--stages all:10:1e-2 --seed 1 -V "$T/valid.tok" --log "$T/log.tsv" -o "$T/cls.model" "$T/train.tok"
test "$(wc -l < "$T/log.tsv")" -eq 11 || { echo "cls_ecoli: log has not 10 epochs"; exit 1; }
"$BIN/clspredict" -q -m "$T/cls.model" --metrics "$T/metrics.tsv" --roc "$T/roc.tsv" "$T/test.tok" > "$T/pred.tsv"
"$BIN/kmervocab" dump "$T/test.tok" | cut -f1,2 > "$T/truth.tsv"
n=$(wc -l < "$T/truth.tsv")
test "$(wc -l < "$T/pred.tsv")" -eq $((n + 1)) || { echo "cls_ecoli: $n records but $(wc -l < "$T/pred.tsv") lines"; exit 1; }
# input order, and the accuracy recomputed from the TSV
acc=$(tail -n +2 "$T/pred.tsv" | paste - "$T/truth.tsv" | awk -F'\t' -v c="$(head -1 "$T/pred.tsv" | awk -F'\t' '{ print NF }')" '
	$1 != $(c + 1) { print "order"; exit } { n++; ok += $2 == $(c + 2) } END { if (n) printf "%.6f\n", ok / n }')
rep=$(awk -F'\t' '$1 == "accuracy" { print $2 }' "$T/metrics.tsv")
echo "cls_ecoli: test accuracy $rep (recomputed $acc), ROC-AUC $(awk -F'\t' '$1 == "roc_auc" { print $2 }' "$T/metrics.tsv"), $n records"
test "$acc" = "$rep" || { echo "cls_ecoli: reported accuracy $rep != recomputed $acc"; exit 1; }
awk -v a="$acc" 'BEGIN { exit !(a >= 0.62) }' || { echo "cls_ecoli: accuracy $acc below 0.62"; exit 1; }

# SIGTERM once 2 epochs are logged: exit 3, a checkpoint and no model; --resume then finishes
# with the uninterrupted run's predictions (a background job of sh ignores SIGINT)
run="$BIN/clstrain -q --drop-mult 0.3 --lr-factor 1 -b 32 --stages all:10:1e-2 --seed 1 -V $T/valid.tok --checkpoint $T/i.ckpt
	-o $T/i.model $T/train.tok"
$run --no-pretrain -v "$T/vocab.tsv" -E 32 -H 64 --log "$T/ilog.tsv" 2>"$T/ierr" &
pid=$!
i=0
while [ "$(cat "$T/ilog.tsv" 2>/dev/null | wc -l)" -lt 3 ]; do
	sleep 0.1; i=$((i + 1)); [ $i -lt 600 ] || { echo "cls_ecoli: training did not reach 2 epochs"; exit 1; }
done
kill -TERM $pid
st=0; wait $pid || st=$?
test "$st" -eq 3 || { echo "cls_ecoli: interrupted clstrain exited $st, want 3"; exit 1; }
test -s "$T/i.ckpt" && test ! -e "$T/i.model" || { echo "cls_ecoli: interrupt: want a checkpoint and no model"; exit 1; }
grep -q "interrupted in stage 1" "$T/ierr" || { echo "cls_ecoli: no interruption message"; cat "$T/ierr"; exit 1; }
$run --resume "$T/i.ckpt"
"$BIN/clspredict" -q -m "$T/i.model" "$T/test.tok" | cmp -s - "$T/pred.tsv" || { echo "cls_ecoli: resumed model predicts differently"; exit 1; }
echo "cls_ecoli: interrupted after $(($(wc -l < "$T/ilog.tsv") - 1)) epochs, resumed: identical predictions"
echo "cls_ecoli: ok"
