#!/bin/sh
# Genome scans (issue 40): fa2kmer --window coordinates against an independent script
# (tests/ref/ref_windows.py) on real E. coli sequence, clspredict --bed / --bedgraph against its
# TSV output, bedtools sort and merge on both tracks, bounded memory on a long input, and bad
# input (truncated stream, full disk, closed pipe, names that are no windows). About 30-60 s.
set -eu
cd "$(dirname "$0")/.."
BIN=$(pwd)/bin
DATA=${DATA:-$(cd ../shared/data 2>/dev/null && pwd)}
T=$(pwd)/tests/tmp/scan
rm -rf "$T" && mkdir -p "$T"
G=$DATA/ecoli/ecoli_K12_MG1655.fa.gz
PY=$(command -v python3)
fail() { echo "scan: FAIL: $*"; exit 1; }
pass=0
ok() { pass=$((pass + 1)); echo "ok   scan $*"; }

# ---- inputs: 20 kb of the genome (one line of 20000 bases), the same with a 300-base N run at
# 5000, a 100-base sequence (shorter than every window below) and a sequence of exactly 150
gzip -dc "$G" | awk 'NR == 1 { print; next } { s = s $0; if (length(s) >= 1000000) exit } END { print substr(s, 1, 20000) > "/dev/stderr"; print substr(s, 1, 1000000) }' \
	> "$T/mb.fa" 2> "$T/slice.seq"
name=$(head -1 "$T/mb.fa" | cut -c2- | cut -d' ' -f1)
{
	printf '>%s\n' "$name"; cat "$T/slice.seq"
	printf '>withN\n'; awk '{ print substr($0, 1, 5000) sprintf("%300s", "") substr($0, 5301, 3000) }' "$T/slice.seq" | tr ' ' N
	printf '>tiny\n'; cut -c 1-100 "$T/slice.seq"
	printf '>exact150 some description\n'; cut -c 201-350 "$T/slice.seq"
} > "$T/g.fa"
bgzip -c "$T/g.fa" > "$T/g.fa.gz"

# ---- window coordinates and tokens: fa2kmer | kmervocab dump == the reference script
win() { # label, fa2kmer args (before the file), reference args (k s W step strand [region]), file
	"$BIN/fa2kmer" -q $2 "$4" | "$BIN/kmervocab" dump > "$T/got.txt"
	$PY tests/ref/ref_windows.py $3 "$4" > "$T/want.txt"
	test -s "$T/want.txt" || fail "$1: the reference wrote nothing"
	cmp -s "$T/got.txt" "$T/want.txt" || { diff "$T/got.txt" "$T/want.txt" | head -5; fail "windows $1"; }
	ok "windows $1 ($(wc -l < "$T/want.txt") records)"
}
win "k5 s2 W150 step10 both" "-k5 -s2 --window 150 --step 10 -S both" "5 2 150 10 both" "$T/g.fa"
win "k3 s1 W100 step37 fwd (gzip)" "-k3 -s1 --window 100 --step 37" "3 1 100 37 fwd" "$T/g.fa.gz"
win "k8 s3 W64 rev (step = W)" "-k8 -s3 --window 64 -S rev" "8 3 64 64 rev" "$T/g.fa"
win "k4 s4 W150 step7 both" "-k4 -s4 --window 150 --step 7 -S both" "4 4 150 7 both" "$T/g.fa"
win "k5 s2 W150 step10 both -r" "-k5 -s2 --window 150 --step 10 -S both -r $name:1001-4321" "5 2 150 10 both $name:1001-4321" "$T/g.fa.gz"
win "k5 s2 W150 step10 both -r withN" "-k5 -s2 --window 150 --step 10 -S both -r withN:4801-5800" "5 2 150 10 both withN:4801-5800" "$T/g.fa.gz"
# the last window: 20000 bases, W 150 step 10 ends at 20000 (kept); step 7: 19850 is no
# multiple of 7, the last start is 19845 (ends 19995); a window past the end is dropped
"$BIN/fa2kmer" -q -k5 -s2 --window 150 --step 10 "$T/g.fa" | "$BIN/kmervocab" dump | cut -f1 > "$T/names"
grep -q "^$name:19850-20000(+)\$" "$T/names" || fail "last window $name:19850-20000 missing"
grep -q "^$name:19860-" "$T/names" && fail "a window past the end"
"$BIN/fa2kmer" -q -k5 -s2 --window 150 --step 7 "$T/g.fa" | "$BIN/kmervocab" dump | cut -f1 | grep "^$name:" | tail -1 | grep -qx "$name:19845-19995(+)" || fail "last window at step 7"
# the 100-base sequence gives no window (and is named in the summary), exact150 gives one
grep -q '^tiny:' "$T/names" && fail "a window of a sequence shorter than W"
test "$(grep -c '^exact150:' "$T/names")" -eq 1 || fail "exact150: want one window"
grep -qx 'exact150:0-150(+)' "$T/names" || fail "exact150: window name"
"$BIN/fa2kmer" -k5 -s2 --window 150 "$T/g.fa" 2>&1 >/dev/null | grep -q '1 sequences shorter than the window' || fail "no summary of short sequences"
# the N run [5000, 5300): windows over it carry unknown tokens (the reference above checked
# which); -N drop drops exactly the windows that overlap it, on both strands
"$BIN/fa2kmer" -q -k5 -s2 --window 150 --step 10 -S both -r withN "$T/g.fa.gz" | "$BIN/kmervocab" dump > "$T/n.txt"
nunk=$(grep -c xxunk "$T/n.txt")
nwin=$(awk -F'[:()-]' '$3 > 5000 && $2 < 5300' "$T/n.txt" | wc -l)
test "$nunk" -gt 0 && test "$nwin" -eq $((2 * 44)) || fail "N run: $nunk records with unknown tokens, $nwin windows over the run"
"$BIN/fa2kmer" -q -k5 -s2 --window 150 --step 10 -S both -N drop -r withN "$T/g.fa.gz" | "$BIN/kmervocab" dump > "$T/nd.txt"
test "$(grep -c xxunk "$T/nd.txt" || true)" -eq 0 && test $(($(wc -l < "$T/nd.txt") + nwin)) -eq "$(wc -l < "$T/n.txt")" || fail "-N drop"
ok "last window, short sequences, N runs"

# ---- a tiny classifier (seconds): k5 s2 from scratch on 300 promoter records of each class
E=$DATA/ecoli
{ gzip -dc "$E/ecoli_promoters.train.fa.gz" | head -n 600; gzip -dc "$E/ecoli_promoters.train.fa.gz" | tail -n 600; } > "$T/train.fa"
"$BIN/fa2kmer" -q -k5 -s2 -L "$T/train.fa" -o "$T/train.tok"
"$BIN/kmervocab" -q "$T/train.tok" -o "$T/vocab.tsv"
"$BIN/clstrain" -q --no-pretrain -v "$T/vocab.tsv" -E 16 -H 16 --layers 2 -b 32 --lr-factor 1 --stages all:2:1e-2 --seed 1 \
	-o "$T/cls.model" "$T/train.tok"

# ---- tracks against the TSV mode (input order, P of --positive, the predicted label)
"$BIN/fa2kmer" -q -k5 -s2 --window 150 --step 10 -S both "$T/g.fa" -o "$T/w.tok"
"$BIN/clspredict" -q -m "$T/cls.model" --positive promoter "$T/w.tok" > "$T/w.tsv"
"$BIN/clspredict" -q -m "$T/cls.model" --positive promoter --bed -o "$T/w.bed" "$T/w.tok"
"$BIN/clspredict" -q -m "$T/cls.model" --positive promoter --bedgraph "$T/w.tok" > "$T/fwd.bedgraph"
"$BIN/clspredict" -q -m "$T/cls.model" --positive promoter --bedgraph -S rev - < "$T/w.tok" > "$T/rev.bedgraph"
n=$(($(wc -l < "$T/w.tsv") - 1))
test "$(wc -l < "$T/w.bed")" -eq "$n" || fail "BED has $(wc -l < "$T/w.bed") lines for $n windows"
# BED6: CHROM START END LABEL round(1000 p_promoter) STRAND, from the TSV row of the same window
tail -n +2 "$T/w.tsv" | paste - "$T/w.bed" | awk -F'\t' '
	NF != 10 { print "columns: " $0; exit 1 }
	{ name = $5 ":" $6 "-" $7 "(" $10 ")"; if (name != $1) { print "name " name " != " $1; exit 1 } }
	$6 !~ /^[0-9]+$/ || $7 !~ /^[0-9]+$/ || $7 - $6 != 150 { print "coordinates: " $0; exit 1 }
	$8 != $2 { print "label: " $0; exit 1 }
	{ want = int(1000 * $4 + 0.5); d = $9 - want; if ($9 !~ /^[0-9]+$/ || $9 > 1000 || d < -1 || d > 1) { print "score: " $0; exit 1 } }
	$10 != "+" && $10 != "-" { print "strand: " $0; exit 1 }' || fail "BED against TSV"
# bedGraph: CHROM START END P with the TSV's p_promoter, one strand each, in input order (within
# 2e-6: the modes batch the windows differently, and BLAS kernels may round a row differently in
# another batch)
for st in fwd rev; do
	c=$([ $st = fwd ] && echo '+' || echo '-')
	grep -F "($c)	" "$T/w.tsv" | paste - "$T/$st.bedgraph" | awk -F'\t' -v c="$c" '
		NF != 8 { print "columns: " $0; exit 1 }
		{ d = $8 - $4 } $5 ":" $6 "-" $7 "(" c ")" != $1 || d < -2e-6 || d > 2e-6 { print "row: " $0; exit 1 }' || fail "bedGraph -S $st against TSV"
	test "$(wc -l < "$T/$st.bedgraph")" -eq $((n / 2)) || fail "bedGraph -S $st: $(wc -l < "$T/$st.bedgraph") lines, want $((n / 2))"
done
# threads and batch sizes: the same track (probabilities within 1e-5)
"$BIN/clspredict" -q -m "$T/cls.model" --positive promoter --bedgraph -t 2 -b 5 "$T/w.tok" | paste - "$T/fwd.bedgraph" |
	awk -F'\t' '{ d = $4 - $8; if ($1 != $5 || $2 != $6 || d < -1e-5 || d > 1e-5) exit 1 }' || fail "-t 2 -b 5 differs"
# an ensemble of the model with itself gives the model's track
"$BIN/clspredict" -q -m "$T/cls.model" -m "$T/cls.model" --positive promoter --bedgraph "$T/w.tok" "$T/w.tok" | paste - "$T/fwd.bedgraph" |
	awk -F'\t' '{ d = $4 - $8; if ($1 != $5 || d < -1e-6 || d > 1e-6) exit 1 }' || fail "ensemble of one model"
ok "BED and bedGraph against the TSV ($n windows; -t 2, ensemble)"

# ---- bedtools reads both tracks unchanged: sort keeps every line, and a track of one sequence
# (written in window order) stays as it is; merge joins the overlapping windows (per strand with -s)
if command -v bedtools > /dev/null; then
	bedtools sort -i "$T/w.bed" > "$T/s.bed" || fail "bedtools sort BED"
	sort "$T/w.bed" > "$T/a.sorted"; sort "$T/s.bed" | cmp -s - "$T/a.sorted" || fail "bedtools sort changed the BED's lines"
	bedtools sort -i "$T/fwd.bedgraph" > "$T/s.bedgraph" || fail "bedtools sort bedGraph"
	grep "^$name	" "$T/fwd.bedgraph" > "$T/one.bedgraph"
	grep "^$name	" "$T/s.bedgraph" | cmp -s - "$T/one.bedgraph" || fail "bedtools sort reordered a bedGraph"
	awk '$5 >= 500' "$T/w.bed" > "$T/hi.bed"
	bedtools merge -i "$T/hi.bed" > "$T/m.bed" || fail "bedtools merge BED"
	bedtools merge -s -c 6 -o distinct -i "$T/hi.bed" > "$T/ms.bed" || fail "bedtools merge -s BED"
	bedtools merge -c 4 -o max -i "$T/fwd.bedgraph" > "$T/mg.bed" || fail "bedtools merge bedGraph"
	test -s "$T/m.bed" && test "$(wc -l < "$T/m.bed")" -le "$(wc -l < "$T/ms.bed")" && test "$(wc -l < "$T/ms.bed")" -lt "$(wc -l < "$T/hi.bed")" ||
		fail "merge: $(wc -l < "$T/hi.bed") windows -> $(wc -l < "$T/ms.bed") per strand, $(wc -l < "$T/m.bed") both"
	# 20 kb tiled by overlapping windows merges to one interval per sequence (g, withN, exact150)
	test "$(wc -l < "$T/mg.bed")" -eq 3 || fail "bedGraph merge: $(wc -l < "$T/mg.bed") intervals, want 3"
	ok "bedtools sort and merge (-s) accept the BED and bedGraph"
else
	echo "scan: bedtools missing (scripts/install-deps.sh installs it): sort/merge checks skipped"
fi

# ---- bounded memory: peak RSS of a track over 1 Mb (both strands, step 50: 40k windows) within
# 8 MB of the one over 3 kb; the TSV mode, which holds every record, grows
"$BIN/fa2kmer" -q -k5 -s2 --window 150 --step 50 -S both "$T/mb.fa" -o "$T/mb.tok"
"$BIN/fa2kmer" -q -k5 -s2 --window 150 --step 50 -S both -r "$name:1-3000" "$T/g.fa.gz" -o "$T/kb.tok"
# peak RSS in MB from the program's closing summary ("peak RSS 0.009 GB", getrusage)
rss() { "$@" 2>&1 >/dev/null | sed -n 's/.*peak RSS \([0-9.]*\) GB.*/\1/p' | awk '{ printf "%d\n", $1 * 1000 }'; }
big=$(rss "$BIN/clspredict" -m "$T/cls.model" --bed "$T/mb.tok")
small=$(rss "$BIN/clspredict" -m "$T/cls.model" --bed "$T/kb.tok")
tsv=$(rss "$BIN/clspredict" -m "$T/cls.model" "$T/mb.tok")
echo "scan: peak RSS --bed 1 Mb: $big MB, 3 kb: $small MB; TSV mode 1 Mb: $tsv MB"
test -n "$big" && test -n "$small" && test "$big" -le $((small + 8)) || fail "--bed on 1 Mb used $big MB, on 3 kb $small MB"
test "$tsv" -gt $((small + 8)) || fail "the TSV mode on 1 Mb ($tsv MB) should hold every record: is the input too small to tell?"
ok "bounded memory"

# ---- bad input: one line, exit 1, nothing under the final name
one_line() { # label, expected substring: the last command's stderr in $T/err
	test "$(wc -l < "$T/err")" -eq 1 && grep -qF -- "$2" "$T/err" || { cat "$T/err"; fail "$1"; }
}
sz=$(wc -c < "$T/mb.tok")
head -c $((sz / 2)) "$T/mb.tok" > "$T/cut.tok"
st=0; "$BIN/clspredict" -q -m "$T/cls.model" --bed -o "$T/cut.bed" "$T/cut.tok" 2> "$T/err" || st=$?
test $st -eq 1 && ! ls "$T"/cut.bed* > /dev/null 2>&1 || fail "truncated stream: exit $st or a file left"
one_line "truncated stream" "truncated"
st=0; "$BIN/clspredict" -q -m "$T/cls.model" --bed "$T/mb.tok" > /dev/full 2> "$T/err" || st=$?
test $st -eq 1 || fail "/dev/full: exit $st"
one_line "/dev/full" "No space left on device"
{ st=0; "$BIN/clspredict" -q -m "$T/cls.model" --bed "$T/mb.tok" 2> "$T/err" || st=$?; echo $st > "$T/st"; } | head -1 > /dev/null
st=$(cat "$T/st")
test "$st" -eq 1 || fail "closed pipe: exit $st"
one_line "closed pipe" "Broken pipe"
printf '>plain\nACGTACGTAC\n' | "$BIN/fa2kmer" -q -k5 -s2 -o "$T/plain.tok"
st=0; "$BIN/clspredict" -q -m "$T/cls.model" --bedgraph "$T/plain.tok" > /dev/null 2> "$T/err" || st=$?
test $st -eq 1 || fail "plain names: exit $st"
one_line "plain names" "record 1: name 'plain' is not a window"
# SIGTERM while the input still flows: exit 1, one line, no file under -o (the temporary removed)
mkfifo "$T/fifo"
"$BIN/clspredict" -q -m "$T/cls.model" --bed -o "$T/int.bed" "$T/fifo" 2> "$T/err" &
pid=$!
exec 3> "$T/fifo"
head -c 100000 "$T/mb.tok" >&3
sleep 1
kill -TERM $pid
st=0; wait $pid || st=$?
exec 3>&-
test $st -eq 1 && ! ls "$T"/int.bed* > /dev/null 2>&1 || fail "SIGTERM: exit $st or a file left"
one_line "SIGTERM" "interrupted"
ok "truncated input, /dev/full, closed pipe, names that are no windows, SIGTERM"
# ---- pipelines/scan.mk end to end on the first Mb (step 50, the tiny classifier): the rule's
# tracks against awk on the sequence itself, the recall table's rows and ranges, the figure
rm -rf "$T/pipe"
make -s -C pipelines scan BIN="$BIN" SCAN_GENOME="$T/mb.fa" SCAN_MODEL="$T/cls.model" SCAN_STEP=50 \
	SCAN_OUT="$T/pipe" SCAN_REGION="$name:64000-84000" > "$T/pipe.out" 2>&1 || { tail -5 "$T/pipe.out"; fail "scan.mk"; }
tail -n 1 "$T/mb.fa" | awk -v name="$name" '{ L = length($0)
	for (i = 0; i + 150 <= L; i += 50) {
		c = substr($0, i + 101, 3); r = substr($0, i + 48, 3)
		print name "\t" i "\t" i + 150 "\t" (c == "ATG" || c == "GTG" || c == "TTG") > "/dev/stdout"
		print name "\t" i "\t" i + 150 "\t" (r == "CAT" || r == "CAC" || r == "CAA") > "/dev/stderr" } }' > "$T/rf.txt" 2> "$T/rr.txt"
cmp -s "$T/rf.txt" "$T/pipe/rule.fwd.bedgraph" && cmp -s "$T/rr.txt" "$T/pipe/rule.rev.bedgraph" || fail "scan.mk: rule tracks differ from awk"
test "$(wc -l < "$T/pipe/cls.fwd.bedgraph")" -eq "$(wc -l < "$T/rf.txt")" || fail "scan.mk: classifier track length"
awk -F'\t' 'NR == 1 { if ($1 != "track" || NF != 8) exit 1; next }
	{ n++; if ($8 < 0 || $8 > 1 || $6 > $7 || $7 < 1) exit 1; rule += $1 == "start-codon rule"; cls += $1 == "classifier" }
	END { exit !(n == 6 && rule == 1 && cls == 5) }' "$T/pipe/results.tsv" || { cat "$T/pipe/results.tsv"; fail "scan.mk: results table"; }
test "$(grep -c 'clspredict' "$T/pipe/time.tsv")" -eq 2 && test -s "$T/pipe/region.png" || fail "scan.mk: time.tsv or figure"
ok "pipelines/scan.mk on 1 Mb ($(awk -F'\t' 'NR == 2 { print $7 }' "$T/pipe/results.tsv") test starts)"
echo "scan: $pass passed"
