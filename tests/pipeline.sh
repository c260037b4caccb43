#!/bin/sh
# A short pipeline on real data: tokenise the E. coli genome in 2 kb chunks and the promoter
# sets with labels, count a vocabulary, and check the numbers hang together.
set -eu
BIN=${BIN:-bin}
DATA=${DATA:-../shared/data}
T=tests/tmp/pipeline
rm -rf "$T" && mkdir -p "$T"
pass=0
fail() { echo "FAIL pipeline: $*"; echo "pipeline: $pass passed, 1 failed"; exit 1; }
# after each check that held
ok() { pass=$((pass + 1)); }
"$BIN/fa2kmer" -q -k5 -s2 -c 2000 -N split "$DATA/ecoli/ecoli_K12_MG1655.fa.gz" -o "$T/genome.tok"
"$BIN/kmervocab" -q "$T/genome.tok" -o "$T/k5s2.vocab"
# 4,639,675 bp in 2 kb chunks: 2320 records, the last one partial
n=$("$BIN/kmervocab" dump "$T/genome.tok" | wc -l)
[ "$n" -eq 2320 ] || fail "genome chunks: $n, want 2320"; ok
# all 4^5 k-mers occur in a bacterial genome: 1024 + 3 specials
size=$(grep -vc '^#' "$T/k5s2.vocab")
[ "$size" -eq 1027 ] || fail "vocabulary size $size, want 1027"; ok
# the counts add up to the tokens: (2000-5)/2+1 = 998 per full chunk
total=$(awk -F'\t' '!/^#/ { s += $3 } END { print s }' "$T/k5s2.vocab")
want=$("$BIN/kmervocab" dump "$T/genome.tok" | awk -F'\t' '{ n += split($3, a, " ") } END { print n }')
[ "$total" = "$want" ] || fail "vocabulary counts $total, tokens $want"; ok
# labelled promoter sets: both classes present with the counts of SOURCES.md
"$BIN/fa2kmer" -q -k5 -s2 -L "$DATA/ecoli/ecoli_promoters.train.fa.gz" -o "$T/train.tok"
c=$("$BIN/kmervocab" dump "$T/train.tok" | cut -f2 | sort | uniq -c | awk '{ printf "%s=%s,", $2, $1 }')
[ "$c" = "nonpromoter=3200,promoter=3508," ] || fail "train labels: $c"; ok
echo "pipeline: $pass passed, 0 failed"
