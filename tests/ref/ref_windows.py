#!/usr/bin/env python3
"""Independent reference for fa2kmer --window: FASTA (plain or gzip) -> the text of
`kmervocab dump` for the windows [i, i+W) of every sequence, i = 0, STEP, 2 STEP ... while
i + W <= len (a window running past the end is dropped), named CHROM:START-END(+) and, for the
reverse strand, CHROM:START-END(-) with the tokens of the reverse complement of the same bases
(forward-strand coordinates). Per window the + record comes before the - record.

usage: ref_windows.py K S W STEP STRAND [REGION] FILE
  STRAND: fwd, rev or both
  REGION: chrom:beg-end (1-based, inclusive, as samtools/fa2kmer -r): only that slice, and the
          window starts count from the whole sequence's first base
"""
import sys

from fasta import records

COMP = str.maketrans('ACGTacgtNn', 'TGCAtgcaNn')


def revcomp(s):
    # letters other than ACGT become N (fa2kmer turns them into unknown tokens either way)
    s = ''.join(c if c in 'ACGT' else 'N' for c in s)
    return s.translate(COMP)[::-1]


def tokens(s, k, stride):
    kmers = [s[i:i + k] for i in range(0, len(s) - k + 1, stride)]
    return ' '.join(km if set(km) <= set('ACGT') else 'xxunk' for km in kmers)


def main():
    k, stride, w, step = (int(x) for x in sys.argv[1:5])
    strand = sys.argv[5]
    region = sys.argv[6] if len(sys.argv) == 8 else None
    path = sys.argv[-1]
    out = sys.stdout
    for name, seq in records(path):
        offset = 0
        if region:
            chrom, span = region.rsplit(':', 1)
            if chrom != name:
                continue
            beg, end = (int(x.replace(',', '')) for x in span.split('-'))
            seq, offset = seq[beg - 1:end], beg - 1
        seq = seq.upper()
        for i in range(0, len(seq) - w + 1, step):
            win = seq[i:i + w]
            b, e = offset + i, offset + i + w
            if strand in ('fwd', 'both'):
                out.write('%s:%d-%d(+)\t.\t%s\n' % (name, b, e, tokens(win, k, stride)))
            if strand in ('rev', 'both'):
                out.write('%s:%d-%d(-)\t.\t%s\n' % (name, b, e, tokens(revcomp(win), k, stride)))


main()
