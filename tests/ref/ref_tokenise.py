#!/usr/bin/env python3
"""Independent reference tokeniser for the tests: FASTA (plain or gzip) -> the text of
`kmervocab dump`, following the reference rule [seq[i:i+k] for i in range(0, len(seq)-k+1, s)].

usage: ref_tokenise.py K S (-L | -l LABEL | -) FILE...
  -L: label = header text before the first '|';  -l LABEL: one label;  -: no label ('.')
"""
import sys

from fasta import records


def main():
    k, s, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    args = sys.argv[4:]
    label = None
    if mode == '-l':
        label, args = args[0], args[1:]
    out = sys.stdout
    for path in args:
        for name, seq in records(path):
            seq = seq.upper()
            kmers = [seq[i:i + k] for i in range(0, len(seq) - k + 1, s)]
            toks = [km if set(km) <= set('ACGT') else 'xxunk' for km in kmers]
            lab = name.split('|')[0] if mode == '-L' else label if label else '.'
            out.write('%s\t%s\t%s\n' % (name, lab, ' '.join(toks)))


main()
