#!/usr/bin/python3
"""PyTorch counterpart of bench/bench_lm_step.c: one full AWD-LSTM LM training step (forward,
CE + AR + TAR, backward, AdamW) at V=1028, B=64, T=70 with the reference LM dropouts
(embedding rows, locked input/hidden/output, DropConnect on W_hh; fastai 1.0.50 semantics),
single thread. Same shapes, same FLOP count formula, so the two print comparable lines.

Reports the median of the timed steps (after one warm-up step), its CPU time (equal to the wall
time when the run really is single-threaded), tokens/s and the peak RSS.

usage: /usr/bin/python3 bench/bench_lm_step.py [steps [small|big|all]]
"""
import os
import resource
import statistics
import sys
import time

# torch.set_num_threads(1) limits PyTorch's own (OpenMP) pool, not the pthread pool of the
# OpenBLAS that Debian's torch calls for its GEMMs: without this, OpenBLAS runs its GEMMs on every
# core and the comparison is not single-threaded. Must be set before the library loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)
V, T, B = 1028, 70, 64
P_OUT, P_HID, P_IN, P_EMB, P_W = 0.25, 0.1, 0.2, 0.02, 0.15  # reference LM values, drop_mult 1
ALPHA, BETA = 2.0, 1.0


def locked(x, p):  # x (T,B,C): one mask per row and feature, shared over time
    if p == 0:
        return x
    m = x.new_empty(1, x.shape[1], x.shape[2]).bernoulli_(1 - p) / (1 - p)
    return x * m


class LM(torch.nn.Module):
    def __init__(self, E, H, L=3):
        super().__init__()
        self.emb = torch.nn.Parameter(torch.empty(V, E).uniform_(-0.1, 0.1))
        self.dec_b = torch.nn.Parameter(torch.zeros(V))
        self.w = torch.nn.ParameterList()
        self.widths = []
        for l in range(L):
            i, n = (E if l == 0 else H), (E if l == L - 1 else H)
            r = 1 / n ** 0.5
            for shape in ((4 * n, i), (4 * n, n), (4 * n,), (4 * n,)):
                self.w.append(torch.nn.Parameter(torch.empty(shape).uniform_(-r, r)))
            self.widths.append(n)

    def forward(self, x, state):
        m = self.emb.new_empty(V, 1).bernoulli_(1 - P_EMB) / (1 - P_EMB)
        inp = locked(F.embedding(x, self.emb * m, padding_idx=0), P_IN)
        new = []
        for l, n in enumerate(self.widths):
            w_ih, w_hh, b_ih, b_hh = self.w[4 * l:4 * l + 4]
            w_hh = F.dropout(w_hh, P_W, True)  # DropConnect
            y, h, c = torch._VF.lstm(inp, state[l], [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, True,
                                     False, False)
            new.append((h.detach(), c.detach()))
            inp = locked(y, P_HID) if l < len(self.widths) - 1 else y
        out = inp
        logits = locked(out, P_OUT).reshape(-1, out.shape[2]) @ self.emb.t() + self.dec_b
        return logits, out, new


def step_flops(E, H, L=3):
    M, f = T * B, 0
    for l in range(L):
        i, n = (E if l == 0 else H), (E if l == L - 1 else H)
        f += 2 * M * 4 * n * (i + n)
    return 3 * (f + 2 * M * V * E)


def run(E, H, steps):
    torch.manual_seed(1)
    model = LM(E, H)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-8,
                            weight_decay=0.01)
    x = torch.randint(3, V, (T, B))
    y = torch.randint(3, V, (T, B))
    state = [(torch.zeros(1, B, n), torch.zeros(1, B, n)) for n in model.widths]
    wall, cpu = [], []
    for s in range(steps + 1):  # step 0 is a warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        logits, out, state = model(x, state)
        ce = F.cross_entropy(logits, y.reshape(-1))
        loss = ce + ALPHA * out.pow(2).mean() + BETA * (out[1:] - out[:-1]).pow(2).mean()
        loss.backward()
        opt.step()
        if s > 0:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    med, cmed = statistics.median(wall), statistics.median(cpu)
    n = sum(p.numel() for p in model.parameters())
    fl = step_flops(E, H)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"torch {torch.__version__} E={E} H={H} V={V} B={B} T={T} params {n / 1e6:.2f}M: "
          f"step {med:.3f} s median of {steps} (best {min(wall):.3f}, cpu {cmed:.3f}), "
          f"{T * B / med:.0f} tokens/s, {fl / 1e9:.1f} GFLOP/step, {fl / med / 1e9:.1f} GFLOP/s, "
          f"loss {loss.item():.4f}, peak RSS {rss} MB", flush=True)


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    which = sys.argv[2] if len(sys.argv) > 2 else "all"
    print(f"single thread (torch.set_num_threads(1), OPENBLAS_NUM_THREADS="
          f"{os.environ['OPENBLAS_NUM_THREADS']}), torch {torch.__version__}")
    if which in ("small", "all"):
        run(64, 256, steps)
    if which in ("big", "all"):
        run(400, 1150, steps)
