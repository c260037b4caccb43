#!/bin/sh
# lmtrain on real sequence: a tiny LM trained for a few hundred steps on part of the E. coli
# genome must predict held-out genome far better than the unigram entropy; an interrupted and
# resumed run must write the very same model file as an uninterrupted one.
set -eu
BIN=${BIN:-bin}
DATA=${DATA:-../shared/data}
T=tests/tmp/lm
rm -rf "$T" && mkdir -p "$T"
pass=0
fail() { echo "FAIL lm: $*"; echo "lm: $pass passed, 1 failed"; exit 1; }
ok() { pass=$((pass + 1)); echo "ok   lm: $*"; }
G=$DATA/ecoli/ecoli_K12_MG1655.fa.gz
# 280 kb to train on, 140 kb held out (70-bp lines), 2 kb records
gzip -dc "$G" | sed -n '1,4000p' > "$T/train.fa"
(echo '>heldout'; gzip -dc "$G" | sed -n '30001,32000p') > "$T/valid.fa"
"$BIN/fa2kmer" -q -k3 -s1 -c 2000 "$T/train.fa" -o "$T/train.tok"
"$BIN/fa2kmer" -q -k3 -s1 -c 2000 "$T/valid.fa" -o "$T/valid.tok"
"$BIN/kmervocab" -q "$T/train.tok" -o "$T/vocab"
# unigram entropy of the training 3-mers, in nats
H=$(awk -F'\t' '!/^#/ && $1 > 2 { n[$1] = $3; s += $3 } END { for (i in n) if (n[i] > 0) h -= n[i] / s * log(n[i] / s); printf "%.4f", h }' "$T/vocab")

export SOURCE_DATE_EPOCH=1700000000
train="$BIN/lmtrain -q -v $T/vocab -V $T/valid.tok -E 32 -H 64 -b 16 --bptt 35 -e 2 --lr 2e-2 --drop-mult 0.1 --seed 7 --log $T/log.tsv --log-every 5 -o $T/x.model $T/train.tok"
$train
[ -s "$T/x.model" ] && [ ! -e "$T/x.model.ckpt" ] || fail "no model after training, or a checkpoint left behind"
mv "$T/x.model" "$T/a.model"
steps=$(tail -n 1 "$T/log.tsv" | cut -f1)
[ "$steps" -ge 300 ] || fail "only $steps steps"
ok "trained $steps steps"

line=$("$BIN/lmtrain" --eval -b 16 --bptt 35 -m "$T/a.model" "$T/valid.tok")
echo "$line" | grep -Eq '^tokens=[0-9]+	loss=[0-9.]+	accuracy=[0-9.]+	perplexity=[0-9.]+	bits_per_base=[0-9.]+$' || fail "--eval output: $line"
loss=$(echo "$line" | sed 's/.*loss=\([0-9.]*\).*/\1/')
awk -v l="$loss" -v h="$H" 'BEGIN { exit !(l < 0.5 * h) }' || fail "held-out loss $loss is not well below the unigram entropy $H"
ok "held-out loss $loss nats/token < half the unigram entropy $H ($line)"
# the log's last validation agrees with --eval (same batches, both from a zero state)
vlog=$(awk -F'\t' '$5 != "nan" { v = $5 } END { print v }' "$T/log.tsv")
awk -v a="$vlog" -v b="$loss" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' || fail "log valid loss $vlog vs --eval $loss"
ok "log and --eval agree"

# interrupt the same run (SIGTERM once 40 steps are logged; a background job of sh ignores
# SIGINT), then resume: identical file
rm -f "$T/log.tsv"
$train &
pid=$!
i=0
while [ "$(awk 'NR > 1 && $1 >= 40' "$T/log.tsv" 2>/dev/null | wc -l)" -eq 0 ]; do
	sleep 0.1; i=$((i + 1)); [ $i -lt 600 ] || fail "training did not reach 40 steps"
done
kill -TERM $pid
st=0; wait $pid || st=$?
[ "$st" -eq 3 ] || fail "interrupted lmtrain exited $st, want 3"
[ -s "$T/x.model.ckpt" ] && [ ! -e "$T/x.model" ] || fail "interrupt: want a checkpoint and no model"
ok "interrupted at step $(tail -n 1 "$T/log.tsv" | cut -f1) with a checkpoint"
$train --resume "$T/x.model.ckpt"
cmp "$T/a.model" "$T/x.model" || fail "resumed model differs from the uninterrupted one"
ok "resumed model is identical"
echo "lm: $pass passed, 0 failed"
