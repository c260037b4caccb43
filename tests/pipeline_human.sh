#!/bin/sh
# The human LM and lncRNA pipelines (pipelines/human.mk and lncrna.mk) end to end on
# small subsets of the data with a tiny model and budgets: they must run through, write their
# tables with the columns the report reads, delete none of their outputs, and rebuild nothing
# when the data folder is re-dated with the same bytes.
set -eu
DATA=${DATA:-../shared/data}
T=$(pwd)/tests/tmp/pipeline_human
rm -rf "$T" && mkdir -p "$T/data/genome" "$T/data/lncrna"
pass=0
fail() { echo "FAIL pipeline_human: $*"; echo "pipeline_human: $pass passed, 1 failed"; exit 1; }
# after each check that held
ok() { pass=$((pass + 1)); }
# FIRST N: the first N records of a FASTA
first() { awk -v n="$1" '/^>/ { k++ } k <= n'; }
# 240 kb of chr20 past its leading Ns, 40 chunks of the chrX slice
gzip -dc "$DATA/genome/human_GRCh37_chr20.fa.gz" | awk 'NR == 1 || (NR > 1000 && NR <= 5000)' | gzip -c > "$T/data/genome/human_GRCh37_chr20.fa.gz"
gzip -dc "$DATA/genome/human_GRCh37_chrX_valid.fa.gz" | first 40 | gzip -c > "$T/data/genome/human_GRCh37_chrX_valid.fa.gz"
# 30 transcripts a class and set, 60 unlabelled ones
for s in train valid test challenge mouse; do
	for c in mRNA lncRNA; do
		gzip -dc "$DATA/lncrna/$c.$s.fa.gz" | first 30 | gzip -c > "$T/data/lncrna/$c.$s.fa.gz"
	done
done
gzip -dc "$DATA/lncrna/unlabeled.finetune.fa.gz" | first 60 | gzip -c > "$T/data/lncrna/unlabeled.finetune.fa.gz"

mk() { make -C pipelines DATA="$T/data" HU_OUT="$T/human" LN_OUT="$T/lncrna" HU_CONFIGS='3/1 4/2' LN_TOK=k4s2 \
	HU_E=16 HU_H=32 HU_LR=2e-2 LM_EPOCHS=1 HU_VALID_EVERY=20 HU_LM_RESTARTS=1 LN_CLS_TIME=5m LN_MAX_LEN=100 LN_BATCH=16 \
	LN_STAGES=1:1:1e-2,all:1:4e-3 LN_NOPRE_STAGES=all:1:3e-3 "$@"; }
run() { mk -s -j2 "$@" > "$T/out.txt" 2>&1 || { cat "$T/out.txt"; fail "make $* failed"; }; }

# every file a step makes is named in the Makefile: make deletes none of them after a run
mk -n human lncrna HU_LM_RESTARTS=0 > "$T/n0.txt" && mk -n human lncrna >> "$T/n0.txt" && ! grep -q '^rm [^-]' "$T/n0.txt" \
	|| fail "make would delete intermediate files: $(grep '^rm [^-]' "$T/n0.txt")"; ok
run human lncrna
cat "$T/out.txt"
h=$T/human/results.tsv l=$T/lncrna/results.tsv
# human: one row a configuration, finite bits per base, the Markov baseline beside it
[ "$(head -n 1 "$h" | cut -f1,4,7)" = "$(printf 'config\tbits_per_base\tmarkov_bits_per_base')" ] || fail "human table header: $(head -n 1 "$h")"; ok
[ "$(tail -n +2 "$h" | cut -f1 | tr '\n' ' ')" = "k3s1 k4s2 " ] || fail "human table rows: $(tail -n +2 "$h" | cut -f1)"; ok
# the LMs predict the stride's new bases by default (HU_OUTPUT=bases), and the settings say so
grep -q -- '--output bases' "$T/n0.txt" && grep -q 'output bases' "$T/human/settings.txt" \
	|| fail "human: the LMs' output is not bases by default: $(cat "$T/human/settings.txt")"; ok
awk -F'\t' 'NR > 1 && !($4 > 0.5 && $4 < 5 && $7 > 0.5 && $7 < 3) { bad = 1 } END { exit bad }' "$h" || fail "human bits per base out of range"; ok
# lncRNA: three sets by two models, accuracies in [0, 1], the baselines beside them
[ "$(tail -n +2 "$l" | cut -f1,2 | tr '\t\n' ': ')" = "test:ulmfit test:nopre challenge:ulmfit challenge:nopre mouse:ulmfit mouse:nopre " ] \
	|| fail "lncRNA table rows: $(tail -n +2 "$l" | cut -f1,2)"; ok
# (the baseline, measured here on 30 transcripts a class: above chance on test, as on the full sets)
awk -F'\t' 'NR > 1 && !($3 >= 0 && $3 <= 1 && $6 >= 0 && $6 <= 1) { bad = 1 } $1 == "test" && !($6 > 0.6) { bad = 1 } END { exit bad }' "$l" \
	|| fail "lncRNA accuracies out of range: $(cat "$l")"; ok
# the baseline columns are lncbaseline's, measured in the same run on the same subsets (its
# predictions of all 60 test transcripts, its metrics, its own table)
for s in test challenge mouse; do
	b=$T/lncrna/cls.baseline.$s.metrics
	want=$(awk -F'\t' '$1 == "accuracy" { a = $2 } $1 == "mcc" { m = $2 } $1 == "roc_auc" { r = $2 } END { printf "%.3f %.3f %.3f", a, m, r }' "$b")
	[ "$(awk -F'\t' -v s=$s '$1 == s { print $6, $7, $8 }' "$l" | sort -u)" = "$want" ] \
		&& awk -F'\t' -v s=$s '$1 == s && $2 == "baseline" { printf "%.3f\n", $4 }' "$T/lncrna/lncbaseline.tsv" | grep -qx "${want%% *}" \
		|| fail "lncRNA $s: the baseline columns are not lncbaseline's of this run ($want): $(grep "^$s" "$l")"; ok
done
[ "$(tail -n +2 "$T/lncrna/cls.baseline.test.tsv" | wc -l)" -eq 60 ] && grep -q '^lambda	' "$T/lncrna/cls.weights.tsv" || fail "lncbaseline's predictions or weights missing"; ok
# 60 test transcripts scored, by the LM that part 2 trained
[ "$(tail -n +2 "$T/lncrna/cls.ulmfit.test.tsv" | wc -l)" -eq 60 ] || fail "lncRNA test predictions: $(tail -n +2 "$T/lncrna/cls.ulmfit.test.tsv" | wc -l), want 60"; ok
cmp -s "$T/human/lm.k4s2.log.tsv" "$T/lncrna/lm.log.tsv" && cmp -s "$T/human/lm.k4s2.r1.log.tsv" "$T/lncrna/lm.r1.log.tsv" \
	|| fail "the lncRNA folder does not hold the part-2 LM's logs"; ok
# a warm restart of each LM (validated along the way) follows its first cycle: the table counts
# the time of both and scores the restart, and fine-tuning for lncrna starts from it
for t in k3s1 k4s2; do
	[ "$(awk -F'\t' 'NR > 1 && $5 != "nan"' "$T/human/lm.$t.r1.log.tsv" | wc -l)" -ge 2 ] || fail "lm.$t: no validated warm restart"; ok
	s=$(cat "$T/human/lm.$t.log.tsv" "$T/human/lm.$t.r1.log.tsv" | awk -F'\t' '$1 == "step" { if (n) s += l; n++ } { l = $10 } END { printf "%.1f", s + l }')
	awk -F'\t' -v t=$t -v s="$s" '$1 == t { d = $8 - s; ok = d < 0.06 && d > -0.06 } END { exit !ok }' "$h" || fail "$t: train_seconds is not the sum of both cycles ($s)"; ok
done
mk -n -W "$T/human/lm.k4s2.r1.model" lncrna > "$T/n1.txt" && grep -q 'lncrna/tuned.log.tsv' "$T/n1.txt" && grep -q 'lm.k4s2.eval' "$T/n1.txt" \
	&& ! grep -q 'lm.k3s1' "$T/n1.txt" || fail "a newer k4s2 restart does not remake its evaluation and the lncRNA fine-tuning"; ok
# LN_MODELS=ulmfit: a run that varies only the LM trains and tabulates no ablation
mk -n lncrna LN_MODELS=ulmfit LN_OUT="$T/lncrna-u" > "$T/n2.txt" && grep -q 'lncrna-u/cls.ulmfit.model' "$T/n2.txt" \
	&& grep -q 'for m in ulmfit; do' "$T/n2.txt" && grep -q 'no ablation (LN_MODELS=ulmfit)' "$T/n2.txt" && ! grep -q 'nopre' "$T/n2.txt" \
	|| fail "LN_MODELS=ulmfit still trains or tabulates the ablation: $(grep nopre "$T/n2.txt" | head -n 2)"; ok
# lncrna-ensemble: clspredict gets every member's model and stream, in the same order, and a
# classifier in an ensemble with itself scores as it does alone
! mk -n lncrna-ensemble LE_RUNS="$T/lncrna $T/human" LE_OUT="$T/ens2" > "$T/n3.txt" 2>&1 && grep -q "No rule to make target '$T/human/cls.ulmfit.model'" "$T/n3.txt" \
	|| fail "lncrna-ensemble with a folder that holds no classifier: $(cat "$T/n3.txt")"; ok
mk -n lncrna-ensemble LE_RUNS="$T/lncrna $T/lncrna" LE_OUT="$T/ens2" > "$T/n3.txt" \
	&& grep -q -- "-m $T/lncrna/cls.ulmfit.model -m $T/lncrna/cls.ulmfit.model --positive mRNA .* $T/lncrna/mouse.tok $T/lncrna/mouse.tok >" "$T/n3.txt" \
	|| fail "lncrna-ensemble does not pass every member to clspredict: $(grep clspredict "$T/n3.txt" | head -n 1)"; ok
mk -s lncrna-ensemble LE_RUNS="$T/lncrna $T/lncrna" LE_OUT="$T/ens" > "$T/ens.txt" 2>&1 || { cat "$T/ens.txt"; fail "make lncrna-ensemble failed"; }
e=$T/ens/results.tsv
[ "$(tail -n +2 "$e" | cut -f1,2 | tr '\t\n' ': ')" = "test:ensemble test:lncrna test:lncrna challenge:ensemble challenge:lncrna challenge:lncrna mouse:ensemble mouse:lncrna mouse:lncrna " ] \
	|| fail "ensemble table rows: $(tail -n +2 "$e" | cut -f1,2)"; ok
[ "$(awk -F'\t' 'NR > 1 { print $1, $3, $4, $5 }' "$e" | uniq | wc -l)" -eq 3 ] \
	&& [ "$(awk -F'\t' '$2 == "ulmfit" { print $1, $3, $4, $5 }' "$l")" = "$(awk -F'\t' '$2 == "ensemble" { print $1, $3, $4, $5 }' "$e")" ] \
	|| fail "a model ensembled with itself scores differently: $(cat "$e")"; ok
# lncrna-ensemble averages a forward and a backward pair, no more
! mk -n lncrna-ensemble LE_RUNS="$T/lncrna $T/lncrna $T/lncrna" > "$T/n3.txt" 2>&1 && grep -q 'LE_RUNS: at most two lncrna folders' "$T/n3.txt" \
	|| fail "lncrna-ensemble with three folders is not refused: $(cat "$T/n3.txt")"; ok
# LN_STRAND=rev: fine-tuning and classifier read the reverse complements (the same record names,
# so clspredict averages a fwd and a rev classifier record by record); a bad strand is refused
run lncrna LN_STRAND=rev LN_MODELS=ulmfit LN_OUT="$T/lncrna-rev"
[ "$(bin/kmervocab dump "$T/lncrna-rev/test.tok" | head -n 1 | cut -f1)" = "$(bin/kmervocab dump "$T/lncrna/test.tok" | head -n 1 | cut -f1)" ] \
	&& grep -q 'LN_STRAND=rev' "$T/lncrna-rev/settings.txt" || fail "LN_STRAND=rev: other record names, or the settings do not say rev"; ok
[ "$(gzip -dc "$T/data/lncrna/mRNA.test.fa.gz" | awk 'NR > 1 && /^>/ { exit } NR > 1 { printf "%s", $0 }' | rev | tr ACGT TGCA | cut -c 1-4)" = "$(bin/kmervocab dump "$T/lncrna-rev/test.tok" | awk -F'\t' 'NR == 1 { print $NF }' | cut -c 1-4)" ] \
	|| fail "LN_STRAND=rev: the test stream does not start with the reverse complement of the first transcript's end"; ok
mk -s lncrna-ensemble LE_RUNS="$T/lncrna $T/lncrna-rev" LE_OUT="$T/ens-fr" > "$T/ens.txt" 2>&1 && [ "$(tail -n +2 "$T/ens-fr/results.tsv" | wc -l)" -eq 9 ] \
	&& ! mk -n lncrna LN_STRAND=up > "$T/n4.txt" 2>&1 && grep -q 'LN_STRAND must be fwd or rev' "$T/n4.txt" \
	|| fail "a fwd and a rev classifier do not ensemble, or LN_STRAND=up is not refused: $(cat "$T/ens.txt" "$T/n4.txt")"; ok
# LN_HEAD: the labelled streams hold each transcript's first LN_HEAD bases (with rev, their reverse
# complement: the first token reads bases 37-40 backwards), and the run's settings say so
mk -s "$T/lncrna-head/test.tok" LN_OUT="$T/lncrna-head" LN_STRAND=rev LN_HEAD=40 > "$T/hd.txt" 2>&1 \
	&& [ "$(bin/kmervocab dump "$T/lncrna-head/test.tok" | awk -F'\t' 'NR == 1 { print split($NF, t, " "), t[1] }')" = "19 $(gzip -dc "$T/data/lncrna/mRNA.test.fa.gz" | awk 'NR > 1 && /^>/ { exit } NR > 1 { printf "%s", $0 }' | cut -c 1-40 | rev | tr ACGT TGCA | cut -c 1-4)" ] \
	&& mk -n lncrna LN_OUT="$T/lncrna-head" LN_HEAD=40 | grep -q 'the first 40 bases of each labelled transcript only (LN_HEAD)' \
	|| fail "LN_HEAD: the test stream is not the first 40 bases, or the settings do not say so: $(cat "$T/hd.txt"; bin/kmervocab dump "$T/lncrna-head/test.tok" | head -n 1)"; ok
# LN_TAIL: the last LN_TAIL bases (the first token reads the transcript's bases L-39..L-36);
# LN_HEAD with LN_TAIL is refused
mk -s "$T/lncrna-tail/test.tok" LN_OUT="$T/lncrna-tail" LN_TAIL=40 > "$T/tl.txt" 2>&1 \
	&& [ "$(bin/kmervocab dump "$T/lncrna-tail/test.tok" | awk -F'\t' 'NR == 1 { print split($NF, t, " "), t[1] }')" = "19 $(gzip -dc "$T/data/lncrna/mRNA.test.fa.gz" | awk 'NR > 1 && /^>/ { exit } NR > 1 { printf "%s", $0 }' | rev | cut -c 1-40 | rev | cut -c 1-4)" ] \
	&& ! mk -n lncrna LN_HEAD=40 LN_TAIL=40 > "$T/n7.txt" 2>&1 && grep -q 'LN_HEAD and LN_TAIL are exclusive' "$T/n7.txt" \
	|| fail "LN_TAIL: the test stream is not the last 40 bases, or LN_HEAD with LN_TAIL is not refused: $(cat "$T/tl.txt" "$T/n7.txt"; bin/kmervocab dump "$T/lncrna-tail/test.tok" | head -n 1)"; ok
# LN_FROM: a finished classifier trained further in a folder of its own, with no LM step (its
# LM folder is never made), the settings and logs of the run it continues carried over, and
# predictions of its own; its own folder as LN_FROM is refused
mk -s lncrna LN_FROM="$T/lncrna" LN_OUT="$T/lncrna6" HU_OUT="$T/nolm" LN_STAGES=all:1:1e-3 > "$T/fr.txt" 2>&1 \
	&& [ ! -e "$T/nolm" ] && [ "$(tail -n +2 "$T/lncrna6/results.tsv" | wc -l)" -eq 3 ] \
	&& grep -q "then trained further from that classifier (LN_FROM=$T/lncrna) with classifier stages all:1:1e-3" "$T/lncrna6/settings.txt" \
	&& cmp -s "$T/lncrna/cls.ulmfit.log.tsv" "$T/lncrna6/cls.from.log.tsv" && cmp -s "$T/lncrna/tuned.log.tsv" "$T/lncrna6/tuned.log.tsv" \
	&& [ "$(strings "$T/lncrna6/cls.ulmfit.model" | grep -ac '^clstrain')" -eq 2 ] \
	&& ! cmp -s "$T/lncrna/cls.ulmfit.test.tsv" "$T/lncrna6/cls.ulmfit.test.tsv" \
	&& ! mk -n lncrna LN_FROM="$T/lncrna6" LN_OUT="$T/lncrna6" > "$T/n6.txt" 2>&1 && grep -q "LN_FROM names this run's own folder" "$T/n6.txt" \
	|| fail "LN_FROM: $(cat "$T/fr.txt" "$T/n6.txt" 2>/dev/null; head -n 1 "$T/lncrna6/settings.txt" 2>/dev/null)"; ok
# pipelines/report.sh: the sections of the benchmarks run here (human, lncrna, lncrna-ensemble)
# are rewritten from their tables, with their commands (the ensemble's with the training time of
# its member beside it: lncrna-rev is not); the others (demo, ecoli-demo, ecoli, gue, scan) keep
# the committed page's text; the page stays under 40 KB
mkdir -p "$T/rep" "$T/docs" && ln -s "$T/human" "$T/rep/human" && ln -s "$T/lncrna" "$T/rep/lncrna" && ln -s "$T/ens-fr" "$T/rep/lncrna-ensemble" \
	&& cp docs/results.md "$T/docs/results.md"
DOCS="$T/docs" bash pipelines/report.sh "$T/rep" > "$T/rep.txt" 2>&1 || { cat "$T/rep.txt"; fail "report.sh failed"; }
md=$T/docs/results.md
sect() { awk -v m="<!-- section $1 -->" '$0 == m { on = 1; next } /^<!-- section / { on = 0 } on' "$2"; }
row=$(awk -F'\t' '$1 == "challenge" && $2 == "ulmfit" { printf "| %s | %s | %s | %s | %s | %s | %s | %s |", $1, $2, $3, $4, $5, $6, $7, $8 }' "$l")
hrow=$(awk -F'\t' '$1 == "k4s2" { printf "| %s | %s |", $1, $2 }' "$h")
sect lncrna "$md" | grep -qF "$row" && sect lncrna "$md" | grep -qF "Command: \`make -C pipelines lncrna " \
	&& sect human "$md" | grep -qF "$hrow" && sect lncrna-ensemble "$md" | grep -q '^| mouse | ensemble |' \
	&& sect lncrna-ensemble "$md" | grep -q '^members, whose training steps logged lncrna [0-9]* min of wall time' \
	&& [ "$(sect ecoli "$md")" = "$(sect ecoli docs/results.md)" ] && [ "$(sect demo "$md")" = "$(sect demo docs/results.md)" ] \
	&& [ "$(sect ecoli-demo "$md")" = "$(sect ecoli-demo docs/results.md)" ] \
	&& [ "$(sect gue "$md")" = "$(sect gue docs/results.md)" ] && [ "$(sect scan "$md")" = "$(sect scan docs/results.md)" ] \
	&& [ "$(grep -c '^<!-- section ' "$md")" -eq 8 ] && [ "$(wc -c < "$md")" -le 40960 ] \
	|| fail "report.sh: the sections run here lack their rows ('$row', '$hrow'), or the others changed: $(cat "$T/rep.txt"; grep -n '^## \|^Command' "$md")"; ok
# the committed page: at most 40 KB, a section per benchmark, and report.sh with no new outputs
# leaves it as it is
[ "$(wc -c < docs/results.md)" -le 40960 ] && mkdir -p "$T/docs2" "$T/none" && cp docs/results.md "$T/docs2/" \
	&& DOCS="$T/docs2" bash pipelines/report.sh "$T/none" 2> /dev/null && cmp -s docs/results.md "$T/docs2/results.md" \
	|| fail "docs/results.md is over 40 KB, or report.sh does not keep its sections"; ok
# the canonical models' rebuild targets train with the settings models/README.md states
mk -n models/human-k4s2 OUT="$T/mo" 2>&1 | tr -d '\\' | tr '\n\t' '  ' | tr -s ' ' > "$T/n9.txt" \
	&& grep -q -- '-E 64 -H 256 -b 32 --lr 5e-3 --drop-mult 0 --output kmer --epochs 1000 --time 20m --valid-every 400 --seed 1' "$T/n9.txt" \
	&& grep -q -- "--lr 2.5e-3 --lr-factor 1 --drop-mult 0 --epochs 1000 --time 20m --valid-every 400 --seed 1 --log [^ ]*/mo/models/human-k4s2/lm.k4s2.r3.log.tsv" "$T/n9.txt" \
	&& ! grep -q 'lm.k4s2.r4\|chr20both\|--steps' "$T/n9.txt" \
	&& grep -q -- "cp [^ ]*/mo/models/human-k4s2/lm.k4s2.r3.model [^ ]*/mo/models/human-k4s2.model" "$T/n9.txt" \
	&& mk -n models/human-k1s1 OUT="$T/mo" 2>&1 | tr -d '\\' | tr '\n\t' '  ' | tr -s ' ' > "$T/n10.txt" \
	&& grep -q 'lm.k1s1.r6.log.tsv' "$T/n10.txt" && grep -q -- "-k1 -s1 -c 2000 -N split -m 1000 -S both " "$T/n10.txt" \
	&& grep -q -- "-b 32 --lr 2.5e-3 --lr-factor 1 --drop-mult 0 --steps 60000 --epochs 100 --valid-every 2000 --seed 1 -t 2 --log [^ ]*/mo/models/human-k1s1/lm.k1s1.long.log.tsv" "$T/n10.txt" \
	&& grep -q -- "cp [^ ]*/mo/models/human-k1s1/lm.k1s1.long.model [^ ]*/mo/models/human-k1s1.model" "$T/n10.txt" \
	|| fail "models/human-*: $(head -c 300 "$T/n9.txt") / $(head -c 300 "$T/n10.txt")"; ok
# the data re-dated with the same bytes: nothing is made again
touch "$T/before" && find "$T/data" -type f -exec touch {} + && run human lncrna
[ -z "$(find "$T/human" "$T/lncrna" -newer "$T/before" -type f)" ] || fail "re-dated data rebuilt $(find "$T/human" "$T/lncrna" -newer "$T/before" -type f | head -n 3)"; ok
# and no step line claims work that is not done (from_data prints it only when the step runs)
! grep -q '^\[' "$T/out.txt" || fail "re-dated data printed step lines: $(grep '^\[' "$T/out.txt" | head -n 3)"; ok
echo "pipeline_human: $pass passed, 0 failed"
