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
# models/: the canonical LMs are the files SHA256SUMS names, and score the first 20 chunks of the
# chrX slice as when they were committed (bits per base; 1.7529 is the Markov baseline's on the
# whole slice), through a pipe as a user would run them
(cd models && sha256sum --quiet -c SHA256SUMS) || fail "models/: checksums differ from SHA256SUMS"; ok
gzip -dc "$DATA/genome/human_GRCh37_chrX_valid.fa.gz" | awk '/^>/ { n++ } n <= 20' > "$T/x20.fa"
for m in k1s1:1.554804 k4s2:1.582327; do
	t=${m%%:*} want=${m#*:} k=$(echo "$t" | sed 's/k\([0-9]*\)s.*/\1/') s=${t##*s}
	got=$("$BIN/fa2kmer" -q -k"$k" -s"$s" "$T/x20.fa" | "$BIN/lmtrain" -q --eval -m "models/human-$t.model" - | tr '\t' '\n' | sed -n 's/^bits_per_base=//p')
	awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-3 && d > -1e-3) }' || fail "models/human-$t.model: $got bits/base on 20 chrX chunks, want $want"; ok
done
# the repository as a newcomer meets it: README at most 10 KB, docs/results.md at most 40 KB,
# tracked files at most 20 MB, no run outputs; the README's layout names every top-level folder
# of the tree and nothing that is not there
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
	[ "$(wc -c < README.md)" -le 10240 ] && [ "$(wc -c < docs/results.md)" -le 40960 ] || fail "README.md over 10 KB or docs/results.md over 40 KB"; ok
	size=$(git ls-files -z | xargs -0 cat 2> /dev/null | wc -c)
	[ "$size" -le 20971520 ] && [ -z "$(git ls-files pipelines/saved docs/results pipelines/out)" ] || fail "tracked files: $size bytes, or run outputs tracked"; ok
	# the only figures tracked are those the results page shows
	git ls-files docs/fig | sed 's#^docs/##' | sort > "$T/figs"
	grep -o '](fig/[^)]*)' docs/results.md | sed 's/^](//; s/)$//' | sort -u > "$T/shown"
	cmp -s "$T/figs" "$T/shown" || fail "docs/fig against the figures docs/results.md shows: $(diff "$T/figs" "$T/shown" | grep '^[<>]' | tr '\n' ' ')"; ok
	awk '/^## Layout/ { on = 1 } on && /^```$/ { n++; next } on && n == 1 && /^[^ ]/ { print $1 }' README.md | sort > "$T/layout"
	git ls-files | awk -F/ 'NF > 1 { print $1 "/" } NF == 1 && $1 == "Makefile"' | sed 's#^.ci/$#.ci/run#' | sort -u > "$T/tree"
	cmp -s "$T/layout" "$T/tree" || fail "README layout against the tree: $(diff "$T/layout" "$T/tree" | grep '^[<>]' | tr '\n' ' ')"; ok
fi
echo "pipeline: $pass passed, 0 failed"
