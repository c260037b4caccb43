#!/bin/sh
# The human LM and lncRNA pipelines (pipelines/Makefile, targets human and lncrna) end to end on
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
awk -F'\t' 'NR > 1 && !($4 > 0.5 && $4 < 5 && $7 > 0.5 && $7 < 3) { bad = 1 } END { exit bad }' "$h" || fail "human bits per base out of range"; ok
# lncRNA: three sets by two models, accuracies in [0, 1], the baselines beside them
[ "$(tail -n +2 "$l" | cut -f1,2 | tr '\t\n' ': ')" = "test:ulmfit test:nopre challenge:ulmfit challenge:nopre mouse:ulmfit mouse:nopre " ] \
	|| fail "lncRNA table rows: $(tail -n +2 "$l" | cut -f1,2)"; ok
awk -F'\t' 'NR > 1 && !($3 >= 0 && $3 <= 1 && $6 > 0.6) { bad = 1 } END { exit bad }' "$l" || fail "lncRNA accuracies out of range"; ok
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
# lncrna-baseline: the classical baseline on the same subsets; with LB_STACK the hybrid of it and
# an ensemble, fit on the ensemble's valid predictions (which lncrna-ensemble wrote): table rows
# baseline, hybrid and the ensemble as its own table has it; the baseline the same either way
mk -s lncrna-baseline LB_OUT="$T/base" > "$T/lb.txt" 2>&1 && mk -s lncrna-baseline LB_STACK="$T/ens" LB_OUT="$T/hyb" >> "$T/lb.txt" 2>&1 \
	&& [ "$(tail -n +2 "$T/base/results.tsv" | cut -f1,2 | tr '\t\n' ': ')" = "test:baseline challenge:baseline mouse:baseline " ] \
	&& [ "$(tail -n +2 "$T/hyb/results.tsv" | cut -f1,2 | tr '\t\n' ': ')" = "test:baseline test:hybrid test:ens challenge:baseline challenge:hybrid challenge:ens mouse:baseline mouse:hybrid mouse:ens " ] \
	&& [ "$(awk -F'\t' '$2 == "ens" { print $1, $3, $4, $5 }' "$T/hyb/results.tsv")" = "$(awk -F'\t' '$2 == "ensemble" { print $1, $3, $4, $5 }' "$e")" ] \
	&& [ "$(awk -F'\t' '$2 == "baseline"' "$T/base/results.tsv")" = "$(awk -F'\t' '$2 == "baseline"' "$T/hyb/results.tsv")" ] \
	&& awk -F'\t' '$1 == "test" && $2 == "baseline" { ok = $3 > 0.6 } END { exit !ok }' "$T/base/results.tsv" \
	&& [ -s "$T/ens/cls.ensemble.valid.tsv" ] && grep -q "hybrid: a logistic regression fit on valid .* $T/ens (baseline " "$T/hyb/settings.txt" \
	|| fail "lncrna-baseline: wrong tables or settings: $(cat "$T/lb.txt" "$T/base/results.tsv" "$T/hyb/results.tsv" "$T/hyb/settings.txt" 2>&1 | tail -n 20)"; ok
# LB_GROUPS and LB_BALANCE reach lncbaseline (-g, --balance-orf) and its settings line
mk -s lncrna-baseline LB_OUT="$T/base-bal" LB_GROUPS=orf,segment LB_BALANCE=1 > "$T/lb2.txt" 2>&1 \
	&& grep -q 'feature groups orf,segment only (training records weighed so that ORF length alone tells nothing' "$T/base-bal/settings.txt" \
	&& awk -F'\t' '$1 ~ /^(orf_len|segment_score)$/ && $4 != 0 { n++ } $1 == "log_len" && $4 == 0 { z = 1 } END { exit !(n == 2 && z) }' "$T/base-bal/cls.weights.tsv" \
	|| fail "lncrna-baseline LB_GROUPS, LB_BALANCE: $(cat "$T/lb2.txt" "$T/base-bal/settings.txt" 2>&1 | tail -n 5)"; ok
# LB_BOOST and LB_STACK_HARD reach lncbaseline (--boost, --stack-hard) and its settings line; the
# trees' file replaces the weights
mk -s lncrna-baseline LB_OUT="$T/hyb-boost" LB_STACK="$T/ens" LB_BOOST=1 LB_STACK_HARD=1 > "$T/lb3.txt" 2>&1 \
	&& grep -q "gradient-boosted trees on .*, depth [1-4] and [0-9]* trees chosen on valid; hybrid: a logistic regression fit on valid's challenge-like records (.*) over the logits of the baseline and of the ULMFiT ensemble $T/ens (baseline " "$T/hyb-boost/settings.txt" \
	&& [ -s "$T/hyb-boost/cls.trees.tsv" ] && [ ! -e "$T/hyb-boost/cls.weights.tsv" ] \
	|| fail "lncrna-baseline LB_BOOST, LB_STACK_HARD: $(cat "$T/lb3.txt" "$T/hyb-boost/settings.txt" 2>&1 | tail -n 5)"; ok
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
# pipelines/report.sh writes a section per lncRNA folder from its table, with each classifier's
# recall of either class (here from clspredict's counts)
mkdir -p "$T/rep" && ln -s "$T/lncrna" "$T/rep/lncrna-t" && ln -s "$T/ens" "$T/rep/lncrna-e" && ln -s "$T/hyb" "$T/rep/lncrna-h" && ln -s "$T/hyb-boost" "$T/rep/lncrna-b"
DATA="$T/data" DOCS="$T/docs" bash pipelines/report.sh "$T/rep" > "$T/rep.txt" 2>&1 || { cat "$T/rep.txt"; fail "report.sh failed"; }
md=$T/docs/results/lncrna-t.md
row=$(awk -F'\t' '$1 == "challenge" && $2 == "ulmfit" { printf "| %s | %s | %s | %s | %s |", $1, $2, $3, $4, $5 }' "$l")
rc=$(awk -F'\t' '{ n[$1] = $2 } END { printf "challenge %.3f / %.3f", n["tp"] / (n["tp"] + n["fn"]), n["tn"] / (n["tn"] + n["fp"]) }' "$T/lncrna/cls.ulmfit.challenge.metrics")
# its lines of the goals, read from the section's table: test against the baseline, challenge also against the aim 0.85
goal=$(awk -F'\t' '$2 == "ulmfit" && $1 == "test" { printf "- lncRNA test, `lncrna-t`: ULMFiT %s accuracy against the best baseline %s (goal: at least tie it): %s\n", $3, $6, ($3 >= $6 ? "met." : "not met, ") }
	$2 == "ulmfit" && $1 == "challenge" { printf "- lncRNA challenge, `lncrna-t`: ULMFiT %s accuracy against the best baseline %s and the aim 0.85 (goal: beat the baseline clearly): %s\n", $3, $6, ($3 > $6 ? "beats" : "does not beat") }' "$l")
grep -qF "$row" "$md" && grep -q "cls.ulmfit. recall of mRNA / of lncRNA: test .*, $rc, mouse" "$md" \
	&& [ "$(grep -cF -e "$goal" "$T/docs/results.md")" -eq 2 ] \
	&& grep -q 'ensemble = the ULMFiT classifiers' "$T/docs/results/lncrna-e.md" && grep -q '^## lncRNA vs mRNA (lncrna-e:' "$T/docs/results.md" \
	&& grep -q '^hybrid = that baseline and the ULMFiT ensemble' "$T/docs/results/lncrna-h.md" && grep -q "^- the baseline's largest weights (.*): [a-zA-Z_]* [+-][0-9]" "$T/docs/results/lncrna-h.md" \
	&& grep -q "^- the trees' features of largest summed split gain (splits): [a-zA-Z_]* [0-9]* ([0-9]*)" "$T/docs/results/lncrna-b.md" \
	&& grep -q '^- lncRNA test, `lncrna-h`: ULMFiT + classical hybrid ' "$T/docs/results.md" && grep -q '^- lncRNA mouse, `lncrna-h`: the classical baseline measured here ' "$T/docs/results.md" \
	&& grep -q '^!\[ROC challenge\](fig/lncrna-t-roc-challenge.png)' "$md" && [ "$(head -c 4 "$T/docs/fig/lncrna-t-roc-challenge.png" | tail -c 3)" = PNG ] \
	|| fail "report.sh: the lncRNA sections lack the row '$row', the recalls '$rc', the goals '$goal' or a drawn ROC figure: $(grep -i 'recall' "$md"; grep 'lncrna-t`' "$T/docs/results.md")"; ok
# and the recall by ORF length: the challenge mRNA row counts all 30 records, the correct ones
# clspredict's true positives; the ensemble's section tabulates the ensemble
tp=$(awk -F'\t' '$1 == "tp" { print $2 }' "$T/lncrna/cls.ulmfit.challenge.metrics")
grep '^| challenge | mRNA |' "$md" | awk -F'|' -v tp="$tp" '{ for (i = 4; i < NF; i++) if (split($i, c, "/") == 2) { ok += c[1]; n += c[2] } } END { exit !(n == 30 && ok == tp) }' \
	&& grep -q '^Recall of `ulmfit` by the longest' "$md" && grep -q '^Recall of `ensemble` by the longest' "$T/docs/results/lncrna-e.md" \
	|| fail "report.sh: the recall by ORF length does not count the challenge mRNAs ($tp correct of 30): $(grep -A 9 '^Recall of' "$md")"; ok
# pipelines/paired: the hybrid against a copy of itself with its first 5 challenge predictions
# flipped differs on exactly those 5 (right on x of them, the copy on 5 - x: the exact McNemar p
# of a 5-record split is 2/32, 12/32 or 1), its accuracy is clspredict's, inside its Wilson
# interval; the report's hybrid section carries the line; a usage error and a record of
# another set are refused
hp=$T/hyb/cls.hybrid.challenge.tsv
awk -F'\t' -v OFS='\t' 'NR > 1 && NR <= 6 { $2 = $2 == "mRNA" ? "lncRNA" : "mRNA" } 1' "$hp" > "$T/flip.tsv"
x=$(gzip -dc "$T/data/lncrna/mRNA.challenge.fa.gz" | awk '/^>/ { print substr($1, 2) }' | awk -F'\t' 'NR == FNR { m[$1] = 1; next } FNR > 1 && FNR <= 6 && ($2 == "mRNA") == ($1 in m) { k++ } END { print k + 0 }' - "$hp")
pa=$(case $x in 0|5) echo 0.0625;; 1|4) echo 0.375;; *) echo 1;; esac)
acc=$(awk -F'\t' '$1 == "accuracy" { printf "%.4f", $2 }' "$T/hyb/cls.hybrid.challenge.metrics")
pipelines/paired -d "$T/data" challenge "$hp" "$T/flip.tsv" > "$T/pd.txt" 2>&1 \
	&& awk -F'\t' -v x="$x" -v pa="$pa" -v acc="$acc" 'NR == 2 { ok = $1 == 60 && $2 == acc && $3 < $2 && $2 < $4 && $3 > 0 && $4 <= 1 && $8 == x && $9 == 5 - x && $10 == pa } END { exit !ok }' "$T/pd.txt" \
	&& pipelines/paired -d "$T/data" challenge "$hp" "$hp" | awk -F'\t' 'NR == 2 { ok = $8 == 0 && $9 == 0 && $10 == 1 } END { exit !ok }' \
	&& grep -q "^- .hybrid. against .baseline. alone: .*; challenge $(printf '%.3f' "$acc") ([0-9.]*-[0-9.]*), [0-9]* / [0-9]*, p [0-9.e-]*;" "$T/docs/results/lncrna-h.md" \
	&& { pipelines/paired challenge "$hp" > "$T/pd2.txt" 2>&1; [ $? -eq 2 ]; } && grep -q '^usage: paired' "$T/pd2.txt" \
	&& ! pipelines/paired -d "$T/data" test "$hp" "$hp" > "$T/pd2.txt" 2>&1 && grep -q 'is in neither FASTA file of the set' "$T/pd2.txt" \
	|| fail "pipelines/paired: want 60 records, accuracy $acc, $x / $((5 - x)) disagreements, p $pa: $(cat "$T/pd.txt" "$T/pd2.txt"; grep 'McNemar' "$T/docs/results/lncrna-h.md")"; ok
# lncrna-save / lncrna-restore: a classifier saved from one run and restored into a fresh folder
# (its streams made there) ensembles as the original did; another strand's streams, or saving
# over a saved folder, are refused
mk -s lncrna-save LN_SAVED="$T/savedcls" > "$T/sc.txt" 2>&1 && [ -s "$T/savedcls/cls.ulmfit.model" ] && [ ! -e "$T/savedcls/test.tok" ] \
	&& grep -q '^stream challenge	' "$T/savedcls/saved.txt" && ! mk -s lncrna-save LN_SAVED="$T/savedcls" >> "$T/sc.txt" 2>&1 && grep -q 'savedcls exists: save into a new folder' "$T/sc.txt" \
	|| fail "lncrna-save: $(cat "$T/sc.txt")"; ok
touch "$T/savedcls"/* # as a git checkout dates them: restore dates the files as saved.txt records
mk -s lncrna-restore LN_SAVED="$T/savedcls" LN_OUT="$T/lncrna4" > "$T/sc.txt" 2>&1 && cmp -s "$T/lncrna/cls.ulmfit.model" "$T/lncrna4/cls.ulmfit.model" \
	&& mk -s lncrna-ensemble LE_RUNS="$T/lncrna4 $T/lncrna-rev" LE_OUT="$T/ens-fr2" >> "$T/sc.txt" 2>&1 \
	&& awk -F'\t' '$2 == "ensemble"' "$T/ens-fr/results.tsv" > "$T/e1.tsv" && awk -F'\t' '$2 == "ensemble"' "$T/ens-fr2/results.tsv" > "$T/e2.tsv" \
	&& [ "$(wc -l < "$T/e1.tsv")" -eq 3 ] && cmp -s "$T/e1.tsv" "$T/e2.tsv" \
	&& [ "$(stat -c %Y "$T/lncrna/cls.ulmfit.log.tsv")" = "$(stat -c %Y "$T/lncrna4/cls.ulmfit.log.tsv")" ] \
	|| fail "lncrna-restore: the restored classifier does not ensemble as the original, or its log is not dated as the original: $(cat "$T/sc.txt" "$T/e1.tsv" "$T/e2.tsv")"; ok
! mk -s lncrna-restore LN_SAVED="$T/savedcls" LN_OUT="$T/lncrna5" LN_STRAND=rev > "$T/sc.txt" 2>&1 && grep -q 'test.tok differs from the stream' "$T/sc.txt" \
	&& [ ! -e "$T/lncrna5/cls.ulmfit.model" ] || fail "lncrna-restore onto the reverse strand's streams is not refused: $(cat "$T/sc.txt")"; ok
# LN_FROM: the restored classifier trained further in a folder of its own, with no LM step (its
# LM folder is never made), the settings and logs of the run it continues carried over, and
# predictions of its own; its own folder as LN_FROM is refused
mk -s lncrna LN_FROM="$T/lncrna4" LN_OUT="$T/lncrna6" HU_OUT="$T/nolm" LN_STAGES=all:1:1e-3 > "$T/fr.txt" 2>&1 \
	&& [ ! -e "$T/nolm" ] && [ "$(tail -n +2 "$T/lncrna6/results.tsv" | wc -l)" -eq 3 ] \
	&& grep -q "then trained further from that classifier (LN_FROM=$T/lncrna4) with classifier stages all:1:1e-3" "$T/lncrna6/settings.txt" \
	&& cmp -s "$T/lncrna4/cls.ulmfit.log.tsv" "$T/lncrna6/cls.from.log.tsv" && cmp -s "$T/lncrna4/tuned.log.tsv" "$T/lncrna6/tuned.log.tsv" \
	&& [ "$(strings "$T/lncrna6/cls.ulmfit.model" | grep -ac '^clstrain')" -eq 2 ] \
	&& ! cmp -s "$T/lncrna4/cls.ulmfit.test.tsv" "$T/lncrna6/cls.ulmfit.test.tsv" \
	&& ! mk -n lncrna LN_FROM="$T/lncrna6" LN_OUT="$T/lncrna6" > "$T/n6.txt" 2>&1 && grep -q "LN_FROM names this run's own folder" "$T/n6.txt" \
	|| fail "LN_FROM: $(cat "$T/fr.txt" "$T/n6.txt" 2>/dev/null; head -n 1 "$T/lncrna6/settings.txt" 2>/dev/null)"; ok
# LN_HARD: LN_FROM's classifier trains further on the challenge-like quarter of train and keeps
# its best epoch by that of valid (lncbaseline --hard, cut by pipelines/fasubset; per class,
# rounded up: of 30 mRNAs the 8 whose longest ORF covers least of the transcript, of 30 lncRNAs
# the 8 with the longest ORFs, ties to the first, by the headers' len= and orf=); valid.tok
# stays whole, for the stack; LN_HARD without LN_FROM is refused
hq() { gzip -dc "$T/data/lncrna/$1.$2.fa.gz" | awk -v c="$1" '/^>/ { split($3, l, "="); split($4, o, "="); printf "%s %.17g\n", substr($1, 2), (c == "mRNA" ? o[2] / l[2] : -o[2]) }' \
	| sort -s -k2,2g | head -n 8 | cut -d' ' -f1; }
mk -s lncrna LN_FROM="$T/lncrna4" LN_HARD=1 LN_OUT="$T/lncrna7" HU_OUT="$T/nolm" LN_STAGES=all:1:1e-3 > "$T/hq.txt" 2>&1 \
	&& [ "$(bin/kmervocab dump "$T/lncrna7/train.hard.tok" | cut -f1 | sort)" = "$({ hq mRNA train; hq lncRNA train; } | sort)" ] \
	&& [ "$(bin/kmervocab dump "$T/lncrna7/valid.hard.tok" | cut -f1 | sort)" = "$({ hq mRNA valid; hq lncRNA valid; } | sort)" ] \
	&& [ "$(bin/kmervocab dump "$T/lncrna7/valid.tok" | wc -l)" -eq 60 ] && [ "$(tail -n +2 "$T/lncrna7/results.tsv" | wc -l)" -eq 3 ] \
	&& grep -q "with training and keeping the best epoch on the challenge-like quarter of train and of valid only (LN_HARD); classifier stages all:1:1e-3" "$T/lncrna7/settings.txt" \
	&& ! mk -n lncrna LN_HARD=1 > "$T/n8.txt" 2>&1 && grep -q 'LN_HARD trains a finished classifier further: name it with LN_FROM' "$T/n8.txt" \
	|| fail "LN_HARD: $(cat "$T/hq.txt" "$T/n8.txt" 2>/dev/null; bin/kmervocab dump "$T/lncrna7/train.hard.tok" | cut -f1 | tr '\n' ' '; head -n 1 "$T/lncrna7/settings.txt")"; ok
# the report says the LN_HARD classifier's validation is valid's challenge-like quarter, and says
# it of that classifier only (not of cls.from, the one it started from)
mkdir -p "$T/rep2" && ln -s "$T/lncrna7" "$T/rep2/lncrna-x"
DATA="$T/data" DOCS="$T/docs2" bash pipelines/report.sh "$T/rep2" > "$T/rep2.txt" 2>&1 \
	&& grep -q "^- \`cls.ulmfit\`: 1 epochs, .* best validation loss on valid's challenge-like quarter (LN_HARD) [0-9]" "$T/docs2/results/lncrna-x.md" \
	&& grep -q "^- \`cls.from\`: .* best validation loss [0-9]" "$T/docs2/results/lncrna-x.md" \
	|| fail "report.sh on an LN_HARD run: $(cat "$T/rep2.txt"; grep -s 'validation loss' "$T/docs2/results/lncrna-x.md")"; ok
# fasubset: a set with no listed record and a wrong number of arguments are refused (exit 1, 2)
{ pipelines/fasubset test "$T/lncrna7/hard.names" "$T/data/lncrna/mRNA.test.fa.gz" > "$T/hq2.txt" 2>&1; [ $? -eq 1 ]; } && grep -q 'is listed for test' "$T/hq2.txt" \
	&& { pipelines/fasubset train "$T/lncrna7/hard.names" > "$T/hq2.txt" 2>&1; [ $? -eq 2 ]; } && grep -q '^usage: fasubset' "$T/hq2.txt" \
	|| fail "fasubset's bad input: $(cat "$T/hq2.txt")"; ok
# human-save / human-restore: the LMs saved from one folder and restored into a fresh one are
# taken as made (no LM step runs again), a larger HU_LM_RESTARTS continues their chain, and
# other settings or another vocabulary are refused
mk -s human-save HU_SAVED="$T/saved" > "$T/sv.txt" 2>&1 && grep -q "^restarts	1$" "$T/saved/saved.txt" && [ -s "$T/saved/lm.k3s1.r1.model" ] \
	|| fail "human-save: $(cat "$T/sv.txt")"; ok
touch "$T/saved"/*
mk -s -j2 human-restore HU_SAVED="$T/saved" HU_OUT="$T/human2" > "$T/rs.txt" 2>&1 && cmp -s "$T/human/lm.k4s2.r1.model" "$T/human2/lm.k4s2.r1.model" \
	&& mk -q "$T/human2/lm.k3s1.eval" "$T/human2/lm.k4s2.eval" HU_OUT="$T/human2" \
	&& [ "$(stat -c %Y "$T/human/lm.k4s2.r1.log.tsv")" = "$(stat -c %Y "$T/human2/lm.k4s2.r1.log.tsv")" ] \
	&& [ "$(mk -n lncrna HU_OUT="$T/human2" LN_OUT="$T/lncrna2" | grep -c -- '--log [^ ]*/human2/')" -eq 0 ] \
	|| fail "human-restore: the restored LMs are not taken as made, or their logs not dated as saved: $(cat "$T/rs.txt"; mk -n "$T/human2/lm.k4s2.eval" HU_OUT="$T/human2" | head -n 3)"; ok
mk -s human-restore HU_SAVED="$T/saved" HU_OUT="$T/human3" HU_LM_RESTARTS=2 > "$T/rs.txt" 2>&1 && [ ! -e "$T/human3/lm.k4s2.eval" ] \
	&& mk -n "$T/human3/lm.k4s2.eval" HU_OUT="$T/human3" HU_LM_RESTARTS=2 > "$T/n5.txt" && grep -q -- '--log [^ ]*/human3/lm.k4s2.r2.log.tsv' "$T/n5.txt" \
	&& [ "$(grep -c -- '--log [^ ]*/human3/' "$T/n5.txt")" -eq 1 ] || fail "human-restore with one more restart does not continue the chain: $(cat "$T/rs.txt" "$T/n5.txt")"; ok
! mk -s human-restore HU_SAVED="$T/saved" HU_OUT="$T/human2" HU_LR=1e-2 > "$T/rs.txt" 2>&1 && grep -q 'settings differ' "$T/rs.txt" \
	|| fail "human-restore with other settings is not refused: $(cat "$T/rs.txt")"; ok
cp -r "$T/saved" "$T/saved-bad" && sed -i '$d' "$T/saved-bad/vocab.k4s2.tsv"
! mk -s human-restore HU_SAVED="$T/saved-bad" HU_OUT="$T/human2" > "$T/rs.txt" 2>&1 && grep -q 'vocab.k4s2.tsv differs' "$T/rs.txt" \
	|| fail "human-restore over another vocabulary is not refused: $(cat "$T/rs.txt")"; ok
# the data re-dated with the same bytes: nothing is made again
touch "$T/before" && find "$T/data" -type f -exec touch {} + && run human lncrna
[ -z "$(find "$T/human" "$T/lncrna" -newer "$T/before" -type f)" ] || fail "re-dated data rebuilt $(find "$T/human" "$T/lncrna" -newer "$T/before" -type f | head -n 3)"; ok
echo "pipeline_human: $pass passed, 0 failed"
