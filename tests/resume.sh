#!/bin/sh
# Resume gives the identical model file (cmp) for lmtrain, lmtune and clstrain: an
# uninterrupted run against the same run cut into sessions by --max-steps (one batch a session,
# so every position is a stop: inside an epoch, at an epoch's and a stage's end) and against
# one stopped by SIGTERM or SIGINT and resumed. clstrain resumes without --seed and still draws
# the same --precise-bn sample (the seed lives in the checkpoint). Tiny models on a few kb of
# E. coli; about 30-60 s on 2 cores.
set -eu
cd "$(dirname "$0")/.."
BIN=$(pwd)/bin
DATA=${DATA:-$(cd ../shared/data 2>/dev/null && pwd)}
T=$(pwd)/tests/tmp/resume
rm -rf "$T" && mkdir -p "$T"
pass=0
fail() { echo "FAIL resume: $*" >&2; echo "resume: $pass passed, 1 failed" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok   resume: $*"; }
export SOURCE_DATE_EPOCH=1700000000

G=$DATA/ecoli/ecoli_K12_MG1655.fa.gz
gzip -dc "$G" | sed -n '1,50p' > "$T/tiny.fa"        # 3.4 kb: about 10 batches an epoch
gzip -dc "$G" | sed -n '1,1200p' > "$T/med.fa"       # 84 kb: a run long enough to signal
(echo '>v'; gzip -dc "$G" | sed -n '30001,30040p') > "$T/valid.fa"
for f in tiny med valid; do "$BIN/fa2kmer" -q -k3 -s1 -c 1000 "$T/$f.fa" -o "$T/$f.tok"; done
"$BIN/kmervocab" -q "$T/med.tok" -o "$T/vocab"
P=$DATA/ecoli/ecoli_promoters.train.fa.gz
# every 8th promoter record (two lines each): about 400 labelled records
gzip -dc "$P" | awk '(NR - 1) % 16 < 2' | "$BIN/fa2kmer" -q -k3 -s1 -L -o "$T/cls.tok"
gzip -dc "$DATA/ecoli/ecoli_promoters.valid.fa.gz" | awk '(NR - 1) % 16 < 2' | "$BIN/fa2kmer" -q -k3 -s1 -L -o "$T/clsv.tok"
gzip -dc "$P" | awk '(NR - 1) % 64 < 2' | "$BIN/fa2kmer" -q -k3 -s1 -L -o "$T/clstiny.tok"

# sessions CKPT FIRST REST: runs FIRST --max-steps 1, then REST --resume CKPT --max-steps 1
# (STEPS instead of 1 when set)
# while it exits 3 (stopped, checkpoint written); the last session must exit 0. FIRST and REST
# are command lines (REST without -m: a resume takes the model from the checkpoint). Prints
# the number of sessions.
sessions() {
	ck=$1 first=$2 rest=$3
	n=1; st=0
	$first --max-steps ${STEPS:-1} 2>/dev/null || st=$?
	while [ "$st" -eq 3 ]; do
		[ -s "$ck" ] || fail "session $n: exit 3 but no checkpoint $ck"
		n=$((n + 1)); st=0
		[ $n -lt 500 ] || fail "more than 500 sessions"
		$rest --resume "$ck" --max-steps ${STEPS:-1} 2>/dev/null || st=$?
	done
	[ "$st" -eq 0 ] || fail "session $n exited $st"
	echo $n
}

# signalled SIG LOG MINLINES CKPT FIRST REST: runs FIRST (which writes --log LOG) in the
# background, sends SIG once LOG has MINLINES lines, wants exit 3 and a checkpoint, then
# finishes with REST --resume CKPT
signalled() {
	sig=$1 log=$2 lines=$3 ck=$4 first=$5 rest=$6
	rm -f "$log"
	$first 2>"$T/err" &
	pid=$!
	i=0
	while [ "$(cat "$log" 2>/dev/null | wc -l)" -lt "$lines" ]; do
		sleep 0.05; i=$((i + 1)); [ $i -lt 2000 ] || fail "no $lines log lines in $log"
	done
	kill -"$sig" $pid
	st=0; wait $pid || st=$?
	[ "$st" -eq 3 ] || fail "SIG$sig: exit $st, want 3 (did it finish first?): $first"
	[ -s "$ck" ] || fail "SIG$sig: no checkpoint $ck"
	$rest --resume "$ck"
}

# ---- lmtrain ----
lm="$BIN/lmtrain -q -v $T/vocab -V $T/valid.tok -E 16 -H 24 -b 4 --bptt 20 -e 2 --lr 2e-2 --seed 3 -o $T/lm.model $T/tiny.tok"
$lm && mv "$T/lm.model" "$T/lm0.model"
n=$(sessions "$T/lm.model.ckpt" "$lm" "$lm")
cmp "$T/lm0.model" "$T/lm.model" || fail "lmtrain: $n sessions of --max-steps 1 differ from one run"
[ ! -e "$T/lm.model.ckpt" ] || fail "lmtrain: checkpoint left after the last session"
ok "lmtrain: $n sessions of one step each write the uninterrupted run's file"

med="$BIN/lmtrain -q -v $T/vocab -E 16 -H 24 -b 8 --bptt 20 -e 2 --lr 2e-2 --seed 3 --log-every 10 --log $T/med.log -o $T/med.model $T/med.tok"
$med && mv "$T/med.model" "$T/med0.model"
signalled TERM "$T/med.log" 6 "$T/med.model.ckpt" "$med" "$med"
cmp "$T/med0.model" "$T/med.model" || fail "lmtrain: stopped by SIGTERM and resumed differs"
ok "lmtrain: SIGTERM after step 50, exit 3, resumed: identical file"

# --keep-best over --valid-every validations: the kept model is the one with the log's lowest
# validation loss (lmtrain --eval of it agrees; at this high lr it is step 10's, not the last),
# and sessions of 7 steps keep the same one
kb="$BIN/lmtrain -q -v $T/vocab -V $T/valid.tok -E 16 -H 24 -b 4 --bptt 20 -e 2 --lr 0.5 --seed 3 --valid-every 10 --keep-best --log $T/kb.log -o $T/kb.model $T/tiny.tok"
$kb && mv "$T/kb.model" "$T/kb0.model"
best=$(awk -F'\t' 'NR > 1 && $5 != "nan" && (b == "" || $5 < b) { b = $5 } END { print b }' "$T/kb.log")
got=$("$BIN/lmtrain" --eval -b 4 --bptt 20 -m "$T/kb0.model" "$T/valid.tok" | sed 's/.*loss=\([0-9.]*\).*/\1/')
last=$(awk -F'\t' 'NR > 1 && $5 != "nan" { l = $5 } END { print l }' "$T/kb.log")
awk -v a="$best" -v b="$got" -v l="$last" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-5 && d > -1e-5 && a < l) }' ||
	fail "lmtrain --keep-best: kept model's loss $got, the log's lowest $best, last $last"
n=$(STEPS=7 sessions "$T/kb.model.ckpt" "$kb" "$kb")
cmp "$T/kb0.model" "$T/kb.model" || fail "lmtrain --keep-best: $n sessions differ from one run"
[ ! -e "$T/kb.model.ckpt.best" ] || fail "lmtrain --keep-best: FILE.best left after the last session"
ok "lmtrain --keep-best: the log's lowest validation loss $best (last $last) is the kept model's; $n sessions keep the same"

# ---- lmtune (one-cycle options other than the defaults) ----
tune="$BIN/lmtune -q -V $T/valid.tok -b 4 --bptt 20 -e 2 --lr 1e-2 --seed 4 --div 10 --pct-start 0.4 --moms 0.9,0.8 -o $T/tune.model $T/tiny.tok"
$tune -m "$T/lm0.model" && mv "$T/tune.model" "$T/tune0.model"
n=$(sessions "$T/tune.model.ckpt" "$tune -m $T/lm0.model" "$tune")
cmp "$T/tune0.model" "$T/tune.model" || fail "lmtune: $n sessions of --max-steps 1 differ from one run"
ok "lmtune: $n sessions of one step each write the uninterrupted run's file"
$tune -m "$T/lm0.model" --max-steps 3 2>/dev/null || true
"$BIN/lmtune" -q -V $T/valid.tok -b 4 --bptt 20 -e 2 --lr 1e-2 --seed 4 --resume $T/tune.model.ckpt -o $T/tune.model $T/tiny.tok 2>"$T/err" &&
	fail "lmtune: resumed with another --div"
grep -q "made with --div 10" "$T/err" || fail "lmtune: another --div: $(cat "$T/err")"
rm -f "$T/tune.model.ckpt"
ok "lmtune: a resume with other one-cycle options is refused"

mtune="$BIN/lmtune -q -b 8 --bptt 20 -e 2 --lr 1e-2 --seed 4 --log-every 10 --log $T/mtune.log -o $T/mtune.model $T/med.tok"
$mtune -m "$T/med0.model" && mv "$T/mtune.model" "$T/mtune0.model"
signalled INT "$T/mtune.log" 6 "$T/mtune.model.ckpt" "$mtune -m $T/med0.model" "$mtune"
cmp "$T/mtune0.model" "$T/mtune.model" || fail "lmtune: stopped by SIGINT and resumed differs"
ok "lmtune: SIGINT, exit 3, resumed: identical file"

# ---- clstrain ----
# --precise-bn 20 samples 20 of the records by the seed: resumes without --seed must draw the
# same ones; keep-best's copy travels beside the checkpoint
cls="$BIN/clstrain -q -b 8 --stages 1:1:1e-2,all:2:5e-3 --precise-bn 20 --keep-best -V $T/clsv.tok --div 20 --pct-start 0.25 -o $T/cls.model $T/clstiny.tok"
$cls -m "$T/lm0.model" --seed 5 && mv "$T/cls.model" "$T/cls0.model"
n=$(sessions "$T/cls.model.ckpt" "$cls -m $T/lm0.model --seed 5" "$cls")
cmp "$T/cls0.model" "$T/cls.model" || fail "clstrain: $n sessions of --max-steps 1 (resumed without --seed) differ from one run"
[ ! -e "$T/cls.model.ckpt" ] && [ ! -e "$T/cls.model.ckpt.best" ] || fail "clstrain: checkpoint left after the last session"
ok "clstrain: $n sessions of one batch each, resumed without --seed, write the uninterrupted run's file"
rm -f "$T/cls.model"
st=0; $cls -m "$T/lm0.model" --seed 5 --max-steps 1 2>/dev/null || st=$?
[ "$st" -eq 3 ] && [ -s "$T/cls.model.ckpt" ] && [ ! -e "$T/cls.model" ] || fail "clstrain --max-steps: exit $st, want 3, a checkpoint and no model"
$cls --seed 6 --resume "$T/cls.model.ckpt" 2>"$T/err" && fail "clstrain: resumed with another --seed"
grep -q "made with --seed 5" "$T/err" || fail "clstrain: another --seed: $(cat "$T/err")"
ok "clstrain: --max-steps exits 3 with a checkpoint and no model; a resume with another --seed is refused"

# a named --checkpoint is written after every epoch, the last included, and kept: its resume
# trains nothing and writes the same file again
$cls -m "$T/lm0.model" --seed 5 --checkpoint "$T/named.ckpt" && mv "$T/cls.model" "$T/named0.model"
[ -s "$T/named.ckpt" ] && [ -s "$T/named.ckpt.best" ] || fail "clstrain --checkpoint FILE: not kept after the run"
$cls --resume "$T/named.ckpt" --checkpoint "$T/named.ckpt" --log "$T/named.log"
cmp "$T/named0.model" "$T/cls.model" && [ "$(wc -l < "$T/named.log")" -eq 1 ] || fail "clstrain: resuming a finished checkpoint trained again or changed the model"
ok "clstrain: a named checkpoint stays after the run; resumed, it writes the same file without training"

mcls="$BIN/clstrain -q -b 8 --stages 1:2:1e-2,all:4:5e-3 --seed 5 -V $T/clsv.tok --log $T/mcls.log -o $T/mcls.model $T/cls.tok"
$mcls -m "$T/lm0.model" && mv "$T/mcls.model" "$T/mcls0.model"
signalled INT "$T/mcls.log" 3 "$T/mcls.model.ckpt" "$mcls -m $T/lm0.model" "$mcls"
cmp "$T/mcls0.model" "$T/mcls.model" || fail "clstrain: stopped by SIGINT and resumed differs"
ok "clstrain: SIGINT after 2 epochs, exit 3, resumed: identical file"
rm -f "$T/mcls.model"
st=0; $mcls -m "$T/lm0.model" --no-checkpoint --max-steps 2 2>/dev/null || st=$?
[ "$st" -eq 3 ] && [ ! -e "$T/mcls.model.ckpt" ] && [ ! -e "$T/mcls.model" ] || fail "clstrain --no-checkpoint --max-steps: exit $st, want 3 and no files"
ok "clstrain --no-checkpoint: stopped, nothing written"
echo "resume: $pass passed, 0 failed"
