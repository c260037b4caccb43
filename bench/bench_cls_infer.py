#!/usr/bin/python3
"""PyTorch counterpart of clspredict (bench/bench_clspredict.sh): classifier inference in eval
mode on the project's classifier shape: embedding (V,E) -> 3 LSTMs (E->H, H->H, H->E) run in
bptt chunks of 70 carrying the state -> concat pooling [last, max, mean] -> BN -> Linear(3E,50)
-> ReLU -> BN -> Linear(50,C), softmax. Random weights (speed does not depend on them), records
of equal length (no padding), batches of B, torch.no_grad(), the given number of threads.

usage: /usr/bin/python3 bench/bench_cls_infer.py E H RECORDS LENGTH BATCH THREADS [V]
prints: pytorch E=.. H=.. records=.. length=.. batch=.. threads=..: SECONDS s, TOKENS tokens/s
"""
import os
import sys
import time

# Hold PyTorch to the requested threads for real: Debian's torch runs its GEMMs in OpenBLAS, whose
# own thread pool ignores torch.set_num_threads, so the pools are sized before torch is imported.
_THREADS = sys.argv[6] if len(sys.argv) > 6 else "1"
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _THREADS

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

E, H, N, LEN, B, THREADS = (int(a) for a in sys.argv[1:7])
V = int(sys.argv[7]) if len(sys.argv) > 7 else 67
BPTT, C, NL = 70, 2, 50
torch.set_num_threads(THREADS)
torch.set_num_interop_threads(THREADS)
torch.manual_seed(1)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, E, padding_idx=0)
        self.rnns = nn.ModuleList([nn.LSTM(E if l == 0 else H, E if l == 2 else H) for l in range(3)])
        self.head = nn.Sequential(nn.BatchNorm1d(3 * E), nn.Linear(3 * E, NL), nn.ReLU(),
                                  nn.BatchNorm1d(NL), nn.Linear(NL, C))

    def forward(self, x):  # x (S,B) time-major
        state = [None] * 3
        outs = []
        for i in range(0, x.shape[0], BPTT):
            h = self.emb(x[i:i + BPTT])
            for l, rnn in enumerate(self.rnns):
                h, state[l] = rnn(h, state[l])
            outs.append(h)
        o = torch.cat(outs)
        feat = torch.cat([o[-1], o.max(0)[0], o.mean(0)], 1)
        return F.softmax(self.head(feat), 1)


model = Classifier().eval()
data = torch.randint(3, V, (LEN, N))
with torch.no_grad():
    model(data[:, :min(B, N)])  # warm-up
    t0 = time.perf_counter()
    for b in range(0, N, B):
        model(data[:, b:b + B])
    secs = time.perf_counter() - t0
print(f"pytorch E={E} H={H} records={N} length={LEN} batch={B} threads={THREADS}: "
      f"{secs:.2f} s, {N * LEN / secs:.0f} tokens/s")
