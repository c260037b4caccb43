#!/usr/bin/env python3
"""Recall of annotated gene starts among the top-scoring windows of a genome scan
(pipelines/scan.mk). Python 3 standard library only.

usage: scaneval.py [options] TEST.fa.gz KNOWN.fa.gz... -- NAME FWD.bedgraph REV.bedgraph [NAME FWD REV ...]

The promoter records of the E. coli sets are 150-base windows, 100 bases upstream and 50
downstream of an annotated CDS start on its strand, with headers
promoter|bNUMBER|GENE|ACCESSION:BEG-END(STRAND), 1-based inclusive (checked against the genome
with --genome; records beyond its end are left out, for scans of a genome's first part). The promoter records of TEST are the positives; those of the KNOWN files (the
training and validation sets) are annotated starts that are neither positives nor negatives.

A window (bedGraph line CHROM START END SCORE of one strand) matches a record when it lies on the
record's strand and its START is within --tol bases of the record's 0-based start. A test start
is found at threshold t when a matching window scores above t. A window that matches no record
of any set is a negative; a false positive when it scores above t. Thresholds are set for each
--fpr rate R (false-positive windows per Mb of genome, both strands together): the highest
threshold is the (floor(R * Mb) + 1)-th highest negative score, so at most R * Mb negatives score
above it. A track named with a trailing '*' has 0/1 scores (a rule): it gets one row, at its own
false-positive rate, and the other tracks get a row at that rate too.

Writes a TSV table on stdout: track, fpr_target, threshold, fp, fp_per_mb, found, test_starts,
recall. --figure FILE also writes the scores of --region (CHROM:BEG-END, 0-based) as TSV for
gnuplot: position (window centre), then each track's forward and reverse scores, and FILE.starts
with the annotated starts in the region (position of the start codon, strand, set).
"""
import argparse
import gzip
import sys


def fasta(path):
    opener = gzip.open if open(path, 'rb').read(2) == b'\x1f\x8b' else open
    name, seq = None, []
    with opener(path, 'rt') as f:
        for line in f:
            line = line.strip()
            if line.startswith('>'):
                if name is not None:
                    yield name, ''.join(seq)
                name, seq = line[1:], []
            elif line:
                seq.append(line)
    if name is not None:
        yield name, ''.join(seq)


def starts(path, genome):
    """(strand, 0-based start of the 150-base record, 0-based start codon position) of every
    promoter record of a set, checked against the genome when it is given."""
    comp = str.maketrans('ACGT', 'TGCA')
    out = []
    for name, seq in fasta(path):
        f = name.split()[0].split('|')
        if f[0] != 'promoter':
            continue
        loc = f[3]
        span, strand = loc.rsplit(':', 1)[1][:-3], loc[-2]
        beg, end = (int(x) for x in span.split('-'))
        if genome is not None and end > len(genome):
            continue  # a scan of part of the genome: the record lies beyond it
        if genome is not None:
            g = genome[beg - 1:end]
            if strand == '-':
                g = g.translate(comp)[::-1]
            if g != seq.upper():
                sys.exit('scaneval: %s: %s does not match the genome at its coordinates' % (path, name))
        codon = beg - 1 + 100 if strand == '+' else end - 101
        out.append((strand, beg - 1, codon))
    return out


def read_track(path):
    with open(path) as f:
        for line in f:
            c = line.split('\t')
            yield c[0], int(c[1]), float(c[3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tol', type=int, default=25)
    ap.add_argument('--fpr', default='1 10 100 1000')
    ap.add_argument('--genome', help='FASTA of the genome: checks the records and gives its length')
    ap.add_argument('--mb', type=float, help='genome length in Mb (without --genome)')
    ap.add_argument('--figure')
    ap.add_argument('--region')
    ap.add_argument('sets', nargs='+')
    if '--' not in sys.argv:
        sys.exit('scaneval: want TEST KNOWN... -- NAME FWD REV ...')
    cut = sys.argv.index('--')
    a = ap.parse_args(sys.argv[1:cut])
    sets, rest = a.sets, sys.argv[cut + 1:]
    if not rest or len(rest) % 3:
        sys.exit('scaneval: tracks come as NAME FWD.bedgraph REV.bedgraph')
    genome = None
    if a.genome:
        genome = ''.join(s for _, s in fasta(a.genome)).upper()
    mb = len(genome) / 1e6 if genome is not None else a.mb
    test = starts(sets[0], genome)
    known = [s for p in sets[1:] for s in starts(p, genome)]
    # windows within tol of a record start: test id (>= 0) or -1 (known start)
    near = {}
    for i, (st, b, _) in enumerate(test):
        for p in range(b - a.tol, b + a.tol + 1):
            near[(st, p)] = i
    for st, b, _ in known:
        for p in range(b - a.tol, b + a.tol + 1):
            near.setdefault((st, p), -1)
    tracks = []
    for t in range(0, len(rest), 3):
        name, paths = rest[t], rest[t + 1:t + 3]
        neg, best = [], [float('-inf')] * len(test)
        for st, path in zip('+-', paths):
            for _, beg, score in read_track(path):
                i = near.get((st, beg))
                if i is None:
                    neg.append(score)
                elif i >= 0 and score > best[i]:
                    best[i] = score
        neg.sort(reverse=True)
        tracks.append((name, neg, best))

    def row(name, neg, best, target, n_allowed):
        t = neg[n_allowed] if n_allowed < len(neg) else float('-inf')
        fp = sum(1 for x in neg if x > t)
        found = sum(1 for x in best if x > t)
        print('%s\t%s\t%.6g\t%d\t%.2f\t%d\t%d\t%.3f' % (name, target, t, fp, fp / mb, found, len(test),
                                                       found / len(test)))

    print('track\tfpr_target\tthreshold\tfp\tfp_per_mb\tfound\ttest_starts\trecall')
    rule_fp = []
    for name, neg, best in tracks:
        if name.endswith('*'):
            fp = sum(1 for x in neg if x > 0.5)
            rule_fp.append(fp)
            row(name.rstrip('*'), neg, best, 'rule', fp)
    for name, neg, best in tracks:
        if name.endswith('*'):
            continue
        for r in a.fpr.split():
            row(name, neg, best, r, int(float(r) * mb))
        for fp in rule_fp:
            row(name, neg, best, 'as rule', fp)

    if a.figure and a.region:
        chrom, span = a.region.rsplit(':', 1)
        rb, re_ = (int(x) for x in span.split('-'))
        cols = {}
        for t in range(0, len(rest), 3):
            for k, path in enumerate(rest[t + 1:t + 3]):
                for c, beg, score in read_track(path):
                    if c == chrom and rb <= beg and beg + 150 <= re_:
                        cols.setdefault(beg, {})[(t, k)] = score
        keys = [(t, k) for t in range(0, len(rest), 3) for k in range(2)]
        with open(a.figure, 'w') as f:
            f.write('#position\t' + '\t'.join('%s.%s' % (rest[t], '+-'[k]) for t, k in keys) + '\n')
            for beg in sorted(cols):
                f.write('%d\t%s\n' % (beg + 75, '\t'.join('%g' % cols[beg].get(x, float('nan')) for x in keys)))
        with open(a.figure + '.starts', 'w') as f:
            for label, group in (('test', test), ('known', known)):
                for st, b, codon in group:
                    if rb <= codon < re_:
                        f.write('%d\t%s\t%s\n' % (codon, st, label))


main()
