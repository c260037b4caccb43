#!/bin/sh
# Data-parallel training (filters/par.c, filters/lmteam.c) on this machine, loopback only:
#  1. 2 ranks of batch b train the same model as 1 process of batch 2b, up to float summation
#     order: the largest parameter difference is far below the one a different seed makes;
#     -t 2 (two threads over shares) and 2 ranks add the same two shares: identical tensors.
#     The same for the LM's bases output, and for clstrain (the head on the gathered features
#     of the whole batch).
#  2. SIGTERM to one rank stops every rank cleanly with a checkpoint (exit 3); resuming on 2
#     ranks writes the very same model file as the uninterrupted run.
#  3. SIGKILL of one rank mid-run: the job ends non-zero within seconds (no hang), the last
#     checkpoint is intact, and resuming from it writes the very same model file again.
#  4. The trainer's --max-steps sessions and --keep-best on 2 ranks (see below).
set -eu
BIN=${BIN:-bin}
DATA=${DATA:-../shared/data}
T=tests/tmp/mpi
rm -rf "$T" && mkdir -p "$T"
pass=0
fail() { echo "FAIL mpi: $*"; echo "mpi: $pass passed, 1 failed"; exit 1; }
ok() { pass=$((pass + 1)); echo "ok   mpi: $*"; }
command -v mpirun >/dev/null || fail "mpirun not found (sh scripts/install-deps.sh)"
# shared memory between the two local ranks; no single-copy (ptrace is often off in containers)
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader} OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1 SOURCE_DATE_EPOCH=1700000000
MPIRUN="mpirun -q -np 2 --allow-run-as-root"

G=$DATA/ecoli/ecoli_K12_MG1655.fa.gz
gzip -dc "$G" | sed -n '1,1000p' > "$T/train.fa"
(echo '>heldout'; gzip -dc "$G" | sed -n '30001,31000p') > "$T/valid.fa"
"$BIN/fa2kmer" -q -k3 -s1 -c 2000 "$T/train.fa" -o "$T/train.tok"
"$BIN/fa2kmer" -q -k3 -s1 -c 2000 "$T/valid.fa" -o "$T/valid.tok"
"$BIN/kmervocab" -q "$T/train.tok" -o "$T/vocab"
# 125 steps of 16 rows x 35 tokens; options shared by every run below
opts="-q -v $T/vocab -E 32 -H 64 --bptt 35 -e 1 --lr 1e-2 --drop-mult 0.5 --log-every 1"
train() { # train OUT BATCH [options...]: the same command line whatever runs it
	out=$1 b=$2
	shift 2
	echo "$BIN/lmtrain $opts -b $b --log $T/$out.log -o $T/$out.model $* $T/train.tok"
}
# the tensors of a model (safetensors without its header), for byte and number comparisons
tensors() {
	"$BIN/lmtrain" --export-safetensors "$T/$1.st" -m "$T/$1.model"
	h=$(od -An -tu8 -N8 "$T/$1.st" | tr -d ' ')
	tail -c +$((h + 9)) "$T/$1.st" > "$T/$1.bin"
}
maxdiff() { # largest |a - b| over two tensor files
	od -An -v -tf4 -w4 "$T/$1.bin" > "$T/$1.f" && od -An -v -tf4 -w4 "$T/$2.bin" > "$T/$2.f"
	paste "$T/$1.f" "$T/$2.f" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.3g", m }'
}

# 1. equivalence
$(train one 16 --seed 3)
$(train seed 16 --seed 4)
$(train half 8 --seed 3)
$MPIRUN $(train two 8 --seed 3) || fail "2 ranks exited $?"
$(train thr 16 --seed 3 -t 2)
for m in one seed half two thr; do tensors $m; done
d_ranks=$(maxdiff one two) d_seed=$(maxdiff one seed) d_half=$(maxdiff one half)
awk -v a="$d_ranks" -v b="$d_seed" -v c="$d_half" 'BEGIN { exit !(a < 1e-4 && a * 100 < b && a * 100 < c) }' ||
	fail "2 ranks x 8 rows vs 1 x 16: max parameter difference $d_ranks; another seed $d_seed, 1 x 8 rows $d_half"
ok "2 ranks x 8 rows = 1 process x 16 rows: max parameter difference $d_ranks (another seed: $d_seed; 1 process x 8 rows: $d_half)"
cmp -s "$T/two.bin" "$T/thr.bin" || fail "-t 2 and 2 ranks: tensors differ (max $(maxdiff two thr))"
ok "-t 2 and 2 ranks give identical tensors"
l1=$(awk -F'\t' 'NR == 11 { print $4 }' "$T/one.log") l2=$(awk -F'\t' 'NR == 11 { print $4 }' "$T/two.log")
[ -n "$l1" ] && [ "$l1" = "$l2" ] || fail "logged training loss at step 10: $l1 (1 process) vs $l2 (2 ranks)"
ok "logged training loss at step 10 agrees: $l1"
# the bases output (lmtrain --output bases): each share skips its own ignored targets
$(train bone 16 --seed 3 --output bases)
$MPIRUN $(train btwo 8 --seed 3 --output bases) || fail "bases output: 2 ranks exited $?"
$(train bthr 16 --seed 3 -t 2 --output bases)
for m in bone btwo bthr; do tensors $m; done
d_bases=$(maxdiff bone btwo)
awk -v a="$d_bases" -v b="$d_seed" 'BEGIN { exit !(a < 1e-4 && a * 100 < b) }' ||
	fail "bases output: 2 ranks x 8 rows vs 1 x 16: max parameter difference $d_bases (another seed, kmer: $d_seed)"
cmp -s "$T/btwo.bin" "$T/bthr.bin" || fail "bases output: -t 2 and 2 ranks: tensors differ (max $(maxdiff btwo bthr))"
ok "bases output: 2 ranks x 8 rows = 1 process x 16 rows (max parameter difference $d_bases), -t 2 = 2 ranks (identical tensors)"

# clstrain: 32 promoter/non-promoter records, 2 batches an epoch, 4 epochs at a low rate (a
# classifier's Adam steps turn float-rounding noise in near-zero gradients into lr-sized moves,
# so longer runs drift apart as the AVX-512 and AVX2 paths of one process do)
gzip -dc "$DATA/ecoli/ecoli_promoters.train.fa.gz" |
	awk 'NR % 2 == 1 { h = $0; next } { c = h ~ /^>promoter/; if (++k[c] % 7 == 0 && ++n[c] <= 16) print h "\n" $0 }' |
	"$BIN/fa2kmer" -q -k3 -s1 -L -o "$T/cls.tok"
cls="$BIN/clstrain -q --no-pretrain -v $T/vocab -E 32 -H 64 --drop-mult 0.3 --lr-factor 1 --stages all:4:1e-3 --precise-bn 0"
$cls --seed 1 -b 16 --log "$T/c1.log" -o "$T/c1.model" "$T/cls.tok"
$cls --seed 2 -b 16 --log "$T/cs.log" -o "$T/cs.model" "$T/cls.tok"
$MPIRUN $cls --seed 1 -b 8 --log "$T/c2.log" -o "$T/c2.model" "$T/cls.tok" || fail "clstrain on 2 ranks exited $?"
$cls --seed 1 -b 16 -t 2 --log "$T/ct.log" -o "$T/ct.model" "$T/cls.tok"
dc=$(paste "$T/c1.log" "$T/c2.log" | awk -F'\t' 'NR > 1 { d = $4 - $13; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.3g", m }')
ds=$(paste "$T/c1.log" "$T/cs.log" | awk -F'\t' 'NR > 1 { d = $4 - $13; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.3g", m }')
awk -v a="$dc" -v b="$ds" 'BEGIN { exit !(a < 1e-4 && a * 100 < b) }' ||
	fail "clstrain 2 ranks x 8 vs 1 x 16 records: train losses differ by $dc (another seed: $ds)"
ok "clstrain 2 ranks x 8 records = 1 process x 16: epoch train losses within $dc (another seed: $ds)"
for m in c2 ct; do tensors $m; done
cmp -s "$T/c2.bin" "$T/ct.bin" || fail "clstrain -t 2 and 2 ranks: tensors differ"
ok "clstrain -t 2 and 2 ranks give identical tensors"

# wait until the log shows step $1 (fails after about 60 s)
wait_step() {
	i=0
	while [ "$(awk -v s="$1" 'NR > 1 && $1 >= s' "$2" 2>/dev/null | wc -l)" -eq 0 ]; do
		sleep 0.1; i=$((i + 1)); [ $i -lt 600 ] || fail "training did not reach step $1"
	done
}
# pid of the rank of a job whose command line holds $1 (rank order: by pid, not reliable, so any)
rank_pid() { pgrep -f -- "$1" | grep -v "^$$\$" | while read -r p; do [ "$(cat /proc/$p/comm)" = lmtrain ] && echo "$p"; done | tail -n 1; }

# 2. SIGTERM to one rank, then resume on 2 ranks; the reference: the same command uninterrupted
#    (4 epochs, so that a fast machine is still training when the signals come)
run=$(train r 8 --seed 3 --checkpoint-every 0.005 -e 4)
$MPIRUN $run || fail "2 ranks exited $?"
mv "$T/r.model" "$T/ref.model"
rm -f "$T/r.log"
$MPIRUN $run 2>"$T/sig.err" &
job=$!
wait_step 40 "$T/r.log"
pid=$(rank_pid "$T/r.model")
[ -n "$pid" ] || fail "no rank to signal"
kill -TERM "$pid"
st=0; wait $job || st=$?
[ "$st" -eq 3 ] || fail "SIGTERM to one rank: the job exited $st, want 3: $(cat "$T/sig.err")"
[ -s "$T/r.model.ckpt" ] && [ ! -e "$T/r.model" ] || fail "SIGTERM: want a checkpoint and no model"
[ ! -s "$T/sig.err" ] || fail "SIGTERM: messages under -q: $(cat "$T/sig.err")"
ok "SIGTERM to one rank: every rank stopped at step $(tail -n 1 "$T/r.log" | cut -f1), exit 3, checkpoint written"
$MPIRUN $run --resume "$T/r.model.ckpt" || fail "resume on 2 ranks exited $?"
cmp "$T/r.model" "$T/ref.model" || fail "resumed model differs from the uninterrupted one"
ok "resumed on 2 ranks: identical model file"

# 3. SIGKILL of one rank after a checkpoint: no hang, non-zero exit, checkpoint intact
rm -f "$T/r.model" "$T/r.log" "$T/r.model.ckpt"
$MPIRUN $run 2>"$T/kill.err" &
job=$!
wait_step 60 "$T/r.log"
i=0
while [ ! -s "$T/r.model.ckpt" ]; do sleep 0.1; i=$((i + 1)); [ $i -lt 300 ] || fail "no checkpoint"; done
pid=$(rank_pid "$T/r.model")
[ -n "$pid" ] || fail "no rank to kill"
t0=$(date +%s)
kill -KILL "$pid"
st=0; wait $job || st=$?
dt=$(($(date +%s) - t0))
[ "$st" -ne 0 ] || fail "SIGKILL of one rank: the job exited 0"
[ "$dt" -le 20 ] || fail "SIGKILL of one rank: the job took $dt s to end"
[ ! -e "$T/r.model" ] || fail "SIGKILL: a model was written"
ok "SIGKILL of one rank: the job ended in ${dt}s with status $st: $(grep -m1 . "$T/kill.err" || echo '(no message)')"
$MPIRUN $run --resume "$T/r.model.ckpt" || fail "resume after SIGKILL exited $?"
cmp "$T/r.model" "$T/ref.model" || fail "model resumed after SIGKILL differs from the uninterrupted one"
ok "resumed from the checkpoint a killed job left: identical model file"

# 4. the trainer's controls on 2 ranks: clstrain cut into sessions by --max-steps (exit 3 on
#    every rank, one checkpoint) resumes to the uninterrupted 2-rank run's tensors; lmtrain
#    --keep-best with --valid-every, stopped by --max-steps (FILE.best beside the checkpoint)
#    and resumed, keeps the same model as -t 2 in one session
c4="--stages all:4:1e-3 --precise-bn 0 --drop-mult 0.3 --lr-factor 1 -b 8 -o $T/c4.model $T/cls.tok"
st=0; $MPIRUN "$BIN/clstrain" -q --no-pretrain -v "$T/vocab" -E 32 -H 64 --seed 1 $c4 --max-steps 3 2>/dev/null || st=$?
[ "$st" -eq 3 ] && [ -s "$T/c4.model.ckpt" ] && [ ! -e "$T/c4.model" ] || fail "clstrain --max-steps 3 on 2 ranks: exit $st, want 3, a checkpoint, no model"
st=0; $MPIRUN "$BIN/clstrain" -q $c4 --resume "$T/c4.model.ckpt" --max-steps 3 2>/dev/null || st=$?
[ "$st" -eq 3 ] || fail "clstrain: second session on 2 ranks exited $st, want 3"
$MPIRUN "$BIN/clstrain" -q $c4 --resume "$T/c4.model.ckpt" || fail "clstrain: last session on 2 ranks exited $?"
[ ! -e "$T/c4.model.ckpt" ] || fail "clstrain on 2 ranks: checkpoint left after the last session"
tensors c4
cmp -s "$T/c2.bin" "$T/c4.bin" || fail "clstrain on 2 ranks in 3 sessions: tensors differ from one session (max $(maxdiff c2 c4))"
ok "clstrain on 2 ranks in 3 sessions of --max-steps 3: the uninterrupted run's tensors"
kb="--seed 3 --valid-every 40 --keep-best -V $T/valid.tok"
$(train kbt 16 $kb -t 2)
st=0; $MPIRUN $(train kb 8 $kb --max-steps 60) || st=$?
[ "$st" -eq 3 ] && [ -s "$T/kb.model.ckpt" ] && [ -s "$T/kb.model.ckpt.best" ] || fail "lmtrain --keep-best --max-steps 60 on 2 ranks: exit $st, want 3, a checkpoint and FILE.best"
$MPIRUN $(train kb 8 $kb --resume "$T/kb.model.ckpt") || fail "lmtrain --keep-best resumed on 2 ranks exited $?"
[ ! -e "$T/kb.model.ckpt" ] && [ ! -e "$T/kb.model.ckpt.best" ] || fail "lmtrain --keep-best on 2 ranks: checkpoint files left"
for m in kb kbt; do tensors $m; done
cmp -s "$T/kb.bin" "$T/kbt.bin" || fail "lmtrain --keep-best: 2 ranks in 2 sessions vs -t 2 in one: tensors differ (max $(maxdiff kb kbt))"
ok "lmtrain --keep-best on 2 ranks, stopped at step 60 and resumed = -t 2 in one session (identical tensors)"
echo "mpi: $pass passed, 0 failed"
