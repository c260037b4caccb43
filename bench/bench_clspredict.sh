#!/bin/sh
# clspredict inference throughput against PyTorch (bench/bench_cls_infer.py) on the same
# classifier shape, records, batch and threads. Makes random DNA records of LENGTH tokens
# (k=3, stride 1), a classifier of the given shape with random weights (clstrain
# --no-pretrain, one tiny step), then times clspredict (its "tokens/s" line: inference only,
# without reading the model and the stream) and the PyTorch script.
#
# usage: sh bench/bench_clspredict.sh [E H RECORDS LENGTH BATCH THREADS]
#        defaults: two shapes, E=64 H=256 (small) and E=400 H=1150 (the reference), threads 1
set -eu
cd "$(dirname "$0")/.."
BIN=$(pwd)/bin
T=$(pwd)/tests/tmp/bench_cls
mkdir -p "$T"
PY=${PYTHON:-/usr/bin/python3}

run() { # E H RECORDS LENGTH BATCH THREADS
	E=$1 H=$2 N=$3 LEN=$4 B=$5 TH=$6
	awk -v n="$N" -v len="$((LEN + 2))" 'BEGIN { srand(7); split("ACGT", b, "");
		for (i = 0; i < n; i++) { s = ""; for (j = 0; j < len; j++) s = s b[int(rand() * 4) + 1];
			print ">" (i % 2 ? "pos" : "neg") i; print s } }' > "$T/r.fa"
	awk 'NR % 2 == 1 { sub(/^>/, ""); l = substr($0, 1, 3); print ">" l "|" $0; next } { print }' "$T/r.fa" |
		"$BIN/fa2kmer" -q -k3 -L -o "$T/r.tok"
	"$BIN/kmervocab" -q -o "$T/v.tsv" "$T/r.tok"
	head -n 8 "$T/r.fa" | awk 'NR % 2 == 1 { sub(/^>/, ""); print ">" substr($0, 1, 3) "|" $0; next } { print }' |
		"$BIN/fa2kmer" -q -k3 -L -o "$T/t.tok"
	"$BIN/clstrain" -q --no-pretrain -v "$T/v.tsv" -E "$E" -H "$H" -b 4 --stages head:1:1e-9 \
		-o "$T/m.model" "$T/t.tok"
	"$BIN/clspredict" -m "$T/m.model" -b "$B" -t "$TH" "$T/r.tok" 2>&1 >/dev/null |
		grep 'tokens/s' | sed "s/^/clspredict E=$E H=$H records=$N length=$LEN: /"
	"$PY" bench/bench_cls_infer.py "$E" "$H" "$N" "$LEN" "$B" "$TH" "$(grep -vc '^#' "$T/v.tsv")"
}

if [ $# -ge 6 ]; then
	run "$@"
else
	run 64 256 256 280 64 1
	run 400 1150 128 140 64 1
fi
