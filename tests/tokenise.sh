#!/bin/sh
# fa2kmer | kmervocab dump must equal the independent Python tokeniser on real files, for the
# reference's six k/stride configurations.
set -eu
BIN=${BIN:-bin}
DATA=${DATA:-../shared/data}
TMP=tests/tmp/tokenise
mkdir -p "$TMP"
PY=$(command -v python3)
pass=0
fail=0
check() { # name, fa2kmer args, ref args
	name=$1; fargs=$2; rargs=$3
	"$BIN/fa2kmer" -q $fargs | "$BIN/kmervocab" dump > "$TMP/got.txt"
	$PY tests/ref/ref_tokenise.py $rargs > "$TMP/want.txt"
	if cmp -s "$TMP/got.txt" "$TMP/want.txt"; then
		pass=$((pass + 1)); echo "ok   tokenise $name ($(wc -l < "$TMP/want.txt") records)"
	else
		fail=$((fail + 1)); echo "FAIL tokenise $name"; diff "$TMP/got.txt" "$TMP/want.txt" | head -5
	fi
}
E=$DATA/ecoli/ecoli_promoters.test.fa.gz
M=$DATA/lncrna/mRNA.test.fa.gz
C=$DATA/lncrna/lncRNA.challenge.fa.gz
X=$DATA/genome/human_GRCh37_chrX_valid.fa.gz
for ks in 4/2 5/2 8/3 5/1 3/1 1/1; do
	k=${ks%/*}; s=${ks#*/}
	check "k=$k s=$s ecoli -L" "-k$k -s$s -L $E" "$k $s -L $E"
	check "k=$k s=$s mRNA+lncRNA -l" "-k$k -s$s -l x $M $C" "$k $s -l x $M $C"
done
check "k=3 s=1 chrX valid slice" "-k3 -s1 $X" "3 1 - $X"
check "k=15 s=7 chrX valid slice" "-k15 -s7 $X" "15 7 - $X"
# N runs, soft-masked (lower-case) and IUPAC letters, gaps, CRLF line ends
gzip -dc "$DATA/genome/human_GRCh37_chr20.fa.gz" | head -n 12000 | tail -n 2000 | sed '1s/^/>chr20_part\n/' > "$TMP/n.fa"
printf '>mixed desc\r\nacgtNNacgtRYKMacg\r\nTT-GCA.ACGT*ACGTAC\r\n>short\r\nACGTACGTAC\r\n' > "$TMP/crlf.fa"
for ks in 3/1 5/2 8/3; do
	k=${ks%/*}; s=${ks#*/}
	check "k=$k s=$s chr20 with N runs" "-k$k -s$s $TMP/n.fa" "$k $s - $TMP/n.fa"
	check "k=$k s=$s lower case, IUPAC, CRLF" "-k$k -s$s $TMP/crlf.fa" "$k $s - $TMP/crlf.fa"
done
echo "tokenise: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
