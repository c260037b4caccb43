#!/bin/sh
# The GUE recipe (pipelines/gue.mk) end to end on a small subset: two task folders of
# {train,dev,test}.csv.gz (600/200/200 mouse_2 records, 300/100/100 prom_core_tata), the canonical
# human LM fine-tuned for one epoch on each strand, classifiers for three epochs (a head-only
# one, then all groups: the default schedule, shortened), the pair's mean, kmerlr beside them,
# and the table. The file layout and the table's rows are checked, the pair's probabilities must
# be the mean of its members', and ULMFiT must beat chance on mouse_2 (its MCC and ROC-AUC by a
# margin that a classifier stuck at chance fails). GUE_STRANDS=fwd must drop the other strand's
# steps and rows. The demo's target runs the recipe on one task with the from-scratch classifier
# beside it. Bad CSV must stop the recipe with one line naming the file and the line.
set -eu
DATA=${DATA:-../shared/data}
T=$(pwd)/tests/tmp/gue
rm -rf "$T" && mkdir -p "$T/data/m2" "$T/data/pct" "$T/bad/b1"
pass=0
fail() { echo "FAIL gue: $*"; echo "gue: $pass passed, 1 failed"; exit 1; }
ok() { pass=$((pass + 1)); }
cut_csv() { # TASK SET N OUT: the header and the first N records
	gzip -dc "$DATA/gue/$1/$2.csv.gz" | head -n $(($3 + 1)) | gzip -c > "$4"
}
for s in train:600 dev:200 test:200; do cut_csv mouse_2 "${s%:*}" "${s#*:}" "$T/data/m2/${s%:*}.csv.gz"; done
for s in train:300 dev:100 test:100; do cut_csv prom_core_tata "${s%:*}" "${s#*:}" "$T/data/pct/${s%:*}.csv.gz"; done

# step counts, not time budgets: the same run however loaded the machine is
mk() { make -C pipelines -j2 gue GUE_DIR="$T/data" GUE_OUT="$T/out" GUE_TUNE_TIME=10m GUE_TUNE_EPOCHS=1 \
	GUE_CLS_TIME=10m GUE_CLS_OPTS='--stages 1:1:1e-2,all:2:5e-3' GUE_NOPRE=yes GUE_NOPRE_E=16 GUE_NOPRE_H=32 "$@"; }
mk > "$T/make.out" 2>&1 || { tail -20 "$T/make.out"; fail "make gue failed"; }
ok
for t in m2 pct; do
	for f in train.tok dev.tok test.tok train.rc.tok test.rc.tok tuned.model tuned.rc.model cls.ulmfit_fwd.model \
		cls.ulmfit_rc.model cls.ulmfit_scratch.model ulmfit_pair.test.metrics ulmfit_pair.test.tsv ulmfit_pair.test.roc \
		ulmfit_fwd.test.metrics ulmfit_rc.test.metrics ulmfit_scratch.test.metrics kmer_lr.test.metrics kmer_lr.test.tsv; do
		[ -s "$T/out/$t/$f" ] || fail "missing $T/out/$t/$f"
	done
	[ "$(wc -l < "$T/out/$t/ulmfit_pair.test.tsv")" = "$(gzip -dc "$T/data/$t/test.csv.gz" | wc -l)" ] || fail "$t: predictions do not cover test"
done
ok
[ -s "$T/out/settings.txt" ] && grep -q 'make -C pipelines gue' "$T/out/command.txt" || fail "settings.txt, command.txt"; ok
# the table: header, then task x model in order, numbers in range
R=$T/out/results.tsv
[ "$(head -n 1 "$R")" = "$(printf 'task\tmodel\taccuracy\tmcc\troc_auc')" ] || fail "results.tsv header"; ok
rows() { tail -n +2 "$1" | cut -f1,2 | tr '\t\n' ': '; }
[ "$(rows "$R")" = "m2:ulmfit m2:ulmfit_fwd m2:ulmfit_rc m2:ulmfit_scratch m2:kmer_lr pct:ulmfit pct:ulmfit_fwd pct:ulmfit_rc pct:ulmfit_scratch pct:kmer_lr " ] \
	|| fail "results.tsv rows: $(rows "$R")"; ok
# the ulmfit row is the pair's metrics; the pair's probabilities are the mean of its two
# members' (each on its own strand, the same records in the same order)
[ "$(awk -F'\t' '$1 == "mcc" { printf "%.4f", $2 }' "$T/out/m2/ulmfit_pair.test.metrics")" = "$(awk -F'\t' '$1 == "m2" && $2 == "ulmfit" { print $4 }' "$R")" ] \
	|| fail "the ulmfit row is not ulmfit_pair.test.metrics"; ok
paste "$T/out/m2/ulmfit_fwd.test.tsv" "$T/out/m2/ulmfit_rc.test.tsv" "$T/out/m2/ulmfit_pair.test.tsv" | awk -F'\t' '
	NR > 1 { n++; if ($1 != $5 || $1 != $9) bad = "names differ at " NR
		d = ($3 + $7) / 2 - $11; if (d < 0) d = -d; if (d > 2e-6) bad = "p_0 at " NR ": " $3 ", " $7 " -> " $11 }
	END { if (bad != "" || n != 200) { print bad " (" n " records)"; exit 1 } }' > "$T/pair.chk" \
	|| fail "ulmfit is not the mean of ulmfit_fwd and ulmfit_rc: $(cat "$T/pair.chk")"; ok
awk -F'\t' 'NR > 1 && !($3 >= 0 && $3 <= 1 && $4 >= -1 && $4 <= 1 && $5 >= 0 && $5 <= 1) { exit 1 }' "$R" || fail "results.tsv values"; ok
# one line per step for the user
grep -q '^\[gue m2\] fine-tuning human-k1s1.model on train (' "$T/make.out" \
	&& grep -q '^\[gue m2\] fine-tuning human-k1s1.model on train (reverse complements)' "$T/make.out" \
	&& ! grep -q '^[^ ]*/bin/lmtune ' "$T/make.out" || fail "step lines"; ok
# above chance: mouse_2's ULMFiT classifier (MCC 0.58, AUC 0.89 when this test was written)
awk -F'\t' '$1 == "m2" && $2 == "ulmfit" && $4 > 0.3 && $5 > 0.75 { f = 1 } END { exit !f }' "$R" \
	|| fail "ulmfit at chance on m2: $(grep '^m2	ulmfit	' "$R")"; ok
awk -F'\t' '$1 == "m2" && $2 == "kmer_lr" && $4 > 0.3 { f = 1 } END { exit !f }' "$R" || fail "kmer_lr at chance on m2"; ok
# report.sh's GUE section: the mean row, the count of tasks where ulmfit is above kmer_lr and
# where pre-training helps (ulmfit_fwd above ulmfit_scratch), against the counts from results.tsv
mkdir -p "$T/rep" && ln -sfn "$T/out" "$T/rep/gue" && DOCS="$T/repdocs" bash pipelines/report.sh "$T/rep" 2> /dev/null \
	&& w=$(awk -F'\t' '$2 == "ulmfit" { u[$1] = $4 } $2 == "kmer_lr" { k[$1] = $4 } END { for (t in u) w += u[t] > k[t]; print w + 0 }' "$R") \
	&& mu=$(awk -F'\t' '$2 == "ulmfit" { s += 100 * $4; n++ } END { printf "%.1f", s / n }' "$R") \
	&& p=$(awk -F'\t' '$2 == "ulmfit_fwd" { u[$1] = $4 } $2 == "ulmfit_scratch" { k[$1] = $4 } END { for (t in u) w += u[t] > k[t]; print w + 0 }' "$R") \
	&& grep -q "^ulmfit is above kmer_lr on $w of 2 task(s)" "$T/repdocs/results.md" \
	&& grep -q "^Pre-training helps (ulmfit_fwd above ulmfit_scratch) on $p of 2 task(s)" "$T/repdocs/results.md" \
	&& grep -q "^| mean of 2 | $mu | " "$T/repdocs/results.md" || fail "report.sh gue section: $(grep -n 'mean of\|above kmer_lr\|Pre-training' "$T/repdocs/results.md")"; ok
# a second make does nothing
mk > "$T/make2.out" 2>&1 && ! grep -q '^\[gue m2\]' "$T/make2.out" || fail "a second make must not redo any step"; ok
# GUE_TASKS picks tasks (what make would run for a fresh output folder)
mk -n GUE_TASKS=pct GUE_OUT="$T/out1" > "$T/n.out" 2>&1 && grep -q '^echo "\[gue pct\] training the classifier' "$T/n.out" \
	&& ! grep -q 'gue m2' "$T/n.out" || fail "GUE_TASKS=pct"; ok
mk GUE_STRANDS=rev > "$T/n.out" 2>&1 && fail "GUE_STRANDS=rev accepted"
grep -q 'GUE_STRANDS=rev: use both (the pair) or fwd' "$T/n.out" || fail "GUE_STRANDS=rev: $(cat "$T/n.out")"; ok
# the data folder re-dated (a new mount), its files unchanged: nothing is trained or scored again
m=$(stat -c %Y "$T/out/m2/cls.ulmfit_fwd.model")
sleep 1 && touch "$T"/data/*/*.csv.gz
mk > "$T/make3.out" 2>&1 && ! grep -q '^\[gue' "$T/make3.out" \
	&& [ "$(stat -c %Y "$T/out/m2/cls.ulmfit_fwd.model")" = "$m" ] || fail "re-dated data redid steps: $(grep '^\[gue' "$T/make3.out")"; ok
# dev.tsv: the ULMFiT models on dev, a row each
[ "$(cut -f1,2 "$T/out/dev.tsv" | tr '\t\n' ': ')" = "task:model m2:ulmfit m2:ulmfit_fwd m2:ulmfit_rc m2:ulmfit_scratch pct:ulmfit pct:ulmfit_fwd pct:ulmfit_rc pct:ulmfit_scratch " ] \
	|| fail "dev.tsv: $(cat "$T/out/dev.tsv")"; ok

# GUE_STRANDS=fwd: the forward classifier alone is ulmfit. In the same folder nothing is
# trained again, and the rows follow the setting both ways
mk GUE_STRANDS=fwd > "$T/fwd.out" 2>&1 && ! grep -q 'fine-tuning\|training\|scoring' "$T/fwd.out" \
	&& [ "$(rows "$R")" = "m2:ulmfit m2:ulmfit_scratch m2:kmer_lr pct:ulmfit pct:ulmfit_scratch pct:kmer_lr " ] \
	&& [ "$(awk -F'\t' '$1 == "m2" && $2 == "ulmfit" { print $4 }' "$R")" = "$(awk -F'\t' '$1 == "mcc" { printf "%.4f", $2 }' "$T/out/m2/ulmfit_fwd.test.metrics")" ] \
	&& [ "$(rows "$T/out/dev.tsv")" = "m2:ulmfit m2:ulmfit_scratch pct:ulmfit pct:ulmfit_scratch " ] \
	|| fail "GUE_STRANDS=fwd: $(grep '^\[gue' "$T/fwd.out") $(rows "$R")"; ok
mk > "$T/both.out" 2>&1 && [ "$(rows "$R" | cut -d' ' -f1-5)" = "m2:ulmfit m2:ulmfit_fwd m2:ulmfit_rc m2:ulmfit_scratch m2:kmer_lr" ] \
	|| fail "back to both strands: $(rows "$R")"; ok
mk -n GUE_TASKS=pct GUE_OUT="$T/out2" GUE_STRANDS=fwd > "$T/n.out" 2>&1 && grep -q '^echo "\[gue pct\] training the classifier' "$T/n.out" \
	&& ! grep -q 'reverse complements\|\.rc\.' "$T/n.out" || fail "GUE_STRANDS=fwd runs reverse-complement steps"; ok
# a model named as the target, of a task folder of GUE_OUT that GUE_TASKS leaves out: its
# fine-tuned LM, made on the way, is kept (not deleted as an intermediate file)
rm "$T/out/pct/tuned.rc.model" "$T/out/pct/cls.ulmfit_rc.model"
mk GUE_TASKS=m2 "$T/out/pct/cls.ulmfit_rc.model" > "$T/kept.out" 2>&1 && [ -s "$T/out/pct/cls.ulmfit_rc.model" ] \
	&& [ -s "$T/out/pct/tuned.rc.model" ] || fail "a named target's fine-tuned LM deleted: $(grep '^rm\|^\[gue' "$T/kept.out")"; ok

# make demo's target (pipelines/demo.mk): the recipe on one task, with the classifier from scratch
# and the baseline, its table printed and written, its own command recorded
make -C pipelines -j2 demo GUE_DIR="$T/data" DEMO_TASK=pct DEMO_OUT="$T/demo" GUE_TUNE_EPOCHS=1 GUE_NOPRE_E=16 GUE_NOPRE_H=32 \
	GUE_CLS_OPTS='--stages 1:1:1e-2,all:2:5e-3' > "$T/demo.out" 2>&1 || { tail -20 "$T/demo.out"; fail "make demo failed"; }
[ "$(rows "$T/demo/results.tsv")" = "pct:ulmfit pct:ulmfit_fwd pct:ulmfit_rc pct:ulmfit_scratch pct:kmer_lr " ] \
	&& grep -q '^make -C pipelines demo ' "$T/demo/command.txt" && grep -q '^pct  *ulmfit_scratch  *0\.' "$T/demo.out" \
	&& grep -q '^\[demo\] GUE pct: ' "$T/demo.out" || fail "demo: $(cat "$T/demo.out")"; ok

# bad CSV: the recipe stops at fa2kmer's one-line error naming file and line
bad() { # WHAT FILE-CONTENT EXPECTED-MESSAGE
	rm -rf "$T/bad/b1" "$T/badout" && mkdir -p "$T/bad/b1"
	printf "$2" | gzip -c > "$T/bad/b1/train.csv.gz"
	cp "$T/data/pct/dev.csv.gz" "$T/data/pct/test.csv.gz" "$T/bad/b1/"
	if mk GUE_DIR="$T/bad" GUE_OUT="$T/badout" GUE_NOPRE= > "$T/bad.out" 2>&1; then fail "$1: make succeeded"; fi
	# (the other sets may be tokenised beside it, with -j2: their progress lines name no file)
	[ "$(grep -c "^fa2kmer: $T/bad/" "$T/bad.out")" = 1 ] && grep -qF "fa2kmer: $T/bad/b1/train.csv.gz: $3" "$T/bad.out" \
		|| fail "$1: $(grep '^fa2kmer' "$T/bad.out")"
	ok
}
bad 'label not 0/1' 'sequence,label\nACGTACGT,1\nACGTACGT,2\n' "line 3: label '2' is not 0 or 1"
bad 'missing label' 'sequence,label\nACGTACGT,1\nACGTACGT\n' 'line 3: no label'
bad 'empty sequence' 'sequence,label\nACGTACGT,1\n,0\n' 'line 3: empty sequence'
bad 'wrong header' 'seq,label\nACGTACGT,1\n' "line 1: CSV header 'seq,label' is not 'sequence,label'"
bad 'three fields' 'sequence,label\nACGT,1,0\n' 'line 2: more than two fields'
echo "gue: $pass passed, 0 failed"
