#!/usr/bin/env python3
"""Independent reference for baselines/kmerlr (issue 38): a small labelled CSV data set and the
exact L2 logistic regression on its 1- and 2-mer features, fit by Newton's method in pure
Python (no numpy), so the C program's L-BFGS fit can be checked against it.

usage: kmerlr_ref.py OUTDIR
Writes OUTDIR/kmerlr.train.csv, OUTDIR/kmerlr.dev.csv (sequence,label; seeded) and
OUTDIR/kmerlr.expected: for C = 0.1 and 10 and each scaling (count, std), the dev records (named kmerlr.dev.csv:LINE, as kmerlr run in OUTDIR names them)
P(label 1) as "SCALE<TAB>C<TAB>NAME<TAB>P". The objective: sum_i logloss_i + |w|^2 / (2C), the bias
unpenalised; std = frequencies standardised by the training mean and (population) sd.
"""
import math
import random
import sys

K = 2
KMERS = [a for a in 'ACGT'] + [a + b for a in 'ACGT' for b in 'ACGT']


def make(rng, n):
    rows = []
    for _ in range(n):
        y = rng.random() < 0.5
        gc = 0.62 if y else 0.42
        if rng.random() < 0.15:  # label noise: no perfect separation
            y = not y
        length = rng.randint(24, 40)
        s = ''.join(rng.choice('GC') if rng.random() < gc else rng.choice('AT') for _ in range(length))
        if rng.random() < 0.1:  # an N breaks 2-mers
            i = rng.randrange(length)
            s = s[:i] + 'N' + s[i + 1:]
        if rng.random() < 0.2:
            s = s.lower()
        rows.append((s, int(y)))
    return rows


def counts(seq):
    seq = seq.upper()
    c = {km: 0 for km in KMERS}
    nk = [0, 0]
    for k in (1, 2):
        for i in range(len(seq) - k + 1):
            km = seq[i:i + k]
            if set(km) <= set('ACGT'):
                c[km] += 1
                nk[k - 1] += 1
    return c, nk


def features(rows, scale):
    X = []
    for s, _ in rows:
        c, nk = counts(s)
        if scale == 'count':
            X.append([float(c[km]) for km in KMERS])
        else:
            X.append([c[km] / nk[len(km) - 1] if nk[len(km) - 1] else 0.0 for km in KMERS])
    return X


def standardise(Xtr, Xs):
    n, F = len(Xtr), len(Xtr[0])
    mu = [sum(r[j] for r in Xtr) / n for j in range(F)]
    sd = []
    for j in range(F):
        var = sum(r[j] * r[j] for r in Xtr) / n - mu[j] ** 2
        sd.append(math.sqrt(var) if var > 0 and var > 1e-12 * (mu[j] ** 2 + 1e-12) else 1.0)
    return [[[(r[j] - mu[j]) / sd[j] for j in range(F)] for r in X] for X in Xs]


def solve(A, b):
    n = len(b)
    M = [row[:] + [b[i]] for i, row in enumerate(A)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(M[r][c]))
        M[c], M[p] = M[p], M[c]
        for r in range(n):
            if r != c:
                f = M[r][c] / M[c][c]
                for k in range(c, n + 1):
                    M[r][k] -= f * M[c][k]
    return [M[i][n] / M[i][i] for i in range(n)]


def sigmoid(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def fit(X, y, C):
    F = len(X[0])
    w = [0.0] * (F + 1)  # last: bias
    lam = 1 / C
    for _ in range(100):
        g = [0.0] * (F + 1)
        H = [[0.0] * (F + 1) for _ in range(F + 1)]
        for x, t in zip(X, y):
            xb = x + [1.0]
            p = sigmoid(sum(a * b for a, b in zip(w, xb)))
            d = p * (1 - p)
            for i in range(F + 1):
                g[i] += (p - t) * xb[i]
                for j in range(F + 1):
                    H[i][j] += d * xb[i] * xb[j]
        for i in range(F):
            g[i] += lam * w[i]
            H[i][i] += lam
        step = solve(H, g)
        w = [a - b for a, b in zip(w, step)]
        if max(abs(s) for s in step) < 1e-12:
            break
    return w


def main():
    out = sys.argv[1]
    rng = random.Random(38)
    train, dev = make(rng, 80), make(rng, 40)
    for name, rows in (('train', train), ('dev', dev)):
        with open(f'{out}/kmerlr.{name}.csv', 'w') as f:
            f.write('sequence,label\n')
            for s, y in rows:
                f.write(f'{s},{y}\n')
    ytr = [y for _, y in train]
    with open(f'{out}/kmerlr.expected', 'w') as f:
        for scale in ('count', 'std'):
            Xtr, Xdv = features(train, scale), features(dev, scale)
            if scale == 'std':
                Xtr, Xdv = standardise(Xtr, [Xtr, Xdv])
            for C in (0.1, 10):
                w = fit(Xtr, ytr, C)
                for i, x in enumerate(Xdv):
                    p = sigmoid(sum(a * b for a, b in zip(w, x + [1.0])))
                    f.write(f'{scale}\t{C:g}\tkmerlr.dev.csv:{i + 2}\t{p:.8f}\n')


if __name__ == '__main__':
    main()
