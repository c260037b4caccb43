#!/bin/sh
# Makes the inputs the command tables use, in $T.
set -eu
E=$DATA/ecoli/ecoli_promoters.test.fa.gz
# FASTA inputs
gzip -dc "$E" | head -n 40 > "$T/small.fa"
sed 's/$/\r/' "$T/small.fa" > "$T/crlf.fa"
: > "$T/empty.fa"
printf 'this is not fasta\n' > "$T/text.txt"
printf '>s1\nACGTNNACGT\n>tiny\nAC\n' > "$T/short.fa"
printf '@r1\nACGTACGTAA\n+\nIIIIIIIIII\n@r2\nACGTAC\n+\nIII\n' > "$T/badq.fq"
printf '@r1\nACGTACGTAA\n+\nIIIIIIIIII\n' > "$T/ok.fq"
printf '>s1\nACGT ACGT\n' > "$T/space.fa"
gzip -c "$T/small.fa" > "$T/small.fa.gz"
gzip -dc "$E" | gzip -c > "$T/full.fa.gz"
head -c 20000 "$T/full.fa.gz" > "$T/trunc.fa.gz"
bgzip -c "$T/small.fa" > "$T/small.fa.bgz"
# a BGZF file without its EOF block, and one cut inside a block
sz=$(wc -c < "$T/small.fa.bgz")
head -c $((sz - 28)) "$T/small.fa.bgz" > "$T/noeof.fa.bgz"
head -c $((sz / 2)) "$T/small.fa.bgz" > "$T/cut.fa.bgz"
cp "$T/small.fa" "$T/region.fa"
# token streams
"$BIN/fa2kmer" -q -k3 -L "$T/small.fa" -o "$T/s.tok"
"$BIN/fa2kmer" -q -k3 -L -z0 "$T/small.fa" -o "$T/raw.tok"
"$BIN/fa2kmer" -q -k5 -s2 "$T/small.fa" -o "$T/k5.tok"
sz=$(wc -c < "$T/raw.tok")
head -c $((sz - 5)) "$T/raw.tok" > "$T/trunc_raw.tok"
sz=$(wc -c < "$T/s.tok")
head -c $((sz - 10)) "$T/s.tok" > "$T/trunc_z.tok"
# wrong version (byte 5 of a raw stream), flipped byte in the middle (raw and zstd)
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
raw = bytearray(open(t + '/raw.tok', 'rb').read())
v = bytearray(raw); v[4] = 9; open(t + '/version.tok', 'wb').write(v)
m = bytearray(raw); m[len(m) // 2] ^= 0x40; open(t + '/flip_raw.tok', 'wb').write(m)
z = bytearray(open(t + '/s.tok', 'rb').read())
z[len(z) // 2] ^= 0x40; open(t + '/flip_z.tok', 'wb').write(z)
PY
: > "$T/empty.tok"
# classifier inputs (clstrain, clspredict): 40 labelled records of both classes, k=3
gzip -dc "$E" | head -n 40 > "$T/cls.fa"
gzip -dc "$E" | tail -n 40 >> "$T/cls.fa"
"$BIN/fa2kmer" -q -k3 -L "$T/cls.fa" -o "$T/cls.tok"
"$BIN/fa2kmer" -q -k3 "$T/cls.fa" -o "$T/cls_nolab.tok"
"$BIN/fa2kmer" -q -k3 -l mystery "$T/cls.fa" -o "$T/cls_mystery.tok"
"$BIN/fa2kmer" -q -k5 -s2 -L "$T/cls.fa" -o "$T/cls_k5.tok"
cat "$T/cls.tok" "$T/cls_nolab.tok" > "$T/cls_mixed.tok"
"$BIN/kmervocab" -q "$T/cls.tok" -o "$T/cls.vocab"
"$BIN/clstrain" -q --no-pretrain -v "$T/cls.vocab" -E 8 -H 8 --layers 2 -b 8 --stages all:1:1e-2 --seed 3 -o "$T/cls.model" "$T/cls.tok"
# a second classifier on the same records at k=5 s=2 (clspredict ensembles), and one with other classes
"$BIN/kmervocab" -q "$T/cls_k5.tok" -o "$T/cls_k5.vocab"
"$BIN/clstrain" -q --no-pretrain -v "$T/cls_k5.vocab" -E 8 -H 8 --layers 2 -b 8 --stages all:1:1e-2 --seed 4 -o "$T/cls_k5.model" "$T/cls_k5.tok"
"$BIN/fa2kmer" -q -k3 -l A -l B "$T/cls.fa" "$T/small.fa" -o "$T/cls_ab.tok"
"$BIN/clstrain" -q --no-pretrain -v "$T/cls.vocab" -E 8 -H 8 --layers 2 -b 8 --stages all:1:1e-2 --seed 3 -o "$T/cls_ab.model" "$T/cls_ab.tok"
# baselines/lncbaseline: a hand-checkable folder (one transcript per class), and a synthetic one
# where mRNAs carry a long ORF in random sequence (awk's fixed seed) and lncRNAs are random
L=$T/lb1
mkdir -p "$L"
printf '>m1\nccaugaaauagcc\n>m2\nATGTAACATGGGGGGGGG\n' > "$L/mRNA.train.fa"
printf '>l1\nCCCC\n' > "$L/lncRNA.train.fa"
cp "$L/mRNA.train.fa" "$L/mRNA.valid.fa"
gzip -c "$L/lncRNA.train.fa" > "$L/lncRNA.valid.fa.gz"
L=$T/lb2
mkdir -p "$L"
for set in train valid test; do
	for cls in mRNA lncRNA; do
		awk -v cls=$cls -v set=$set 'function r(n,  s, i) { s = ""; for (i = 0; i < n; i++) s = s substr("ACGT", int(rand() * 4) + 1, 1); return s }
			BEGIN { srand((set == "train" ? 1 : set == "valid" ? 2 : 3) * 10 + (cls == "mRNA")); n = set == "train" ? 300 : 30
				for (k = 1; k <= n; k++) {
					s = r(40 + int(rand() * 40))
					if (cls == "mRNA") { s = s "ATG"; for (c = 0; c < 150; c++) { do x = r(3); while (x == "TAA" || x == "TAG" || x == "TGA"); s = s x } s = s "TGA" r(60) }
					else s = s r(520)
					printf ">%s_%s_%d\n%s\n", cls, set, k, s } }' > "$L/$cls.$set.fa"
	done
done
# window streams (clspredict --bed/--bedgraph): three windows of the forward strand; plain names
printf '>chr\nACGTACGTACGTACGTACGTACGTACGTAC\n' | "$BIN/fa2kmer" -q -k3 --window 10 -o "$T/win_fwd.tok"
printf '>s1\nACGTACGTACGT\n' | "$BIN/fa2kmer" -q -k3 -o "$T/win_bad.tok"
