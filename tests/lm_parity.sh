#!/bin/sh
# PyTorch parity of lmtrain --eval: weights made in PyTorch (tests/fixtures/make_lmeval_fixture.py),
# imported from safetensors, must give PyTorch's loss on the same tokens within 1e-4 relative.
set -eu
BIN=${BIN:-bin}
F=tests/fixtures
T=tests/tmp/lm_parity
rm -rf "$T" && mkdir -p "$T"
"$BIN/fa2kmer" -q -k3 -s1 "$F/lmeval.fa" -o "$T/e.tok"
"$BIN/lmtrain" -q --import-safetensors "$F/lmeval.safetensors" -o "$T/e.model"
got=$("$BIN/lmtrain" -q --eval -b 4 --bptt 10 -m "$T/e.model" "$T/e.tok")
want=$(cat "$F/lmeval.expected")
echo "C:       $got"
echo "PyTorch: $want"
field() { echo "$1" | tr '\t' '\n' | sed -n "s/^$2=//p"; }
[ "$(field "$got" tokens)" = "$(field "$want" tokens)" ] || { echo "FAIL lm_parity: token counts differ"; echo "lm_parity: 0 passed, 1 failed"; exit 1; }
awk -v a="$(field "$got" loss)" -v b="$(field "$want" loss)" -v c="$(field "$got" accuracy)" -v d="$(field "$want" accuracy)" \
	'BEGIN { r = (a - b) / b; if (r < 0) r = -r; e = c - d; if (e < 0) e = -e; exit !(r < 1e-4 && e < 1e-6) }' ||
	{ echo "FAIL lm_parity: loss or accuracy differ"; echo "lm_parity: 0 passed, 1 failed"; exit 1; }
echo "lm_parity: 1 passed, 0 failed"
