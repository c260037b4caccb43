#!/usr/bin/python3
# torch_lm_noar.py ALPHA BETA LR STEPS [SEED]: a PyTorch replica of the human k1s1 LM of
# pipelines/human.mk (3 LSTM layers 64/256/256/64, tied decoder, no dropout, fastai's init,
# Adam(0.9, 0.99) with decoupled decay 0.01, constant lr, batch 32 x bptt 70) on the first 12 Mb
# of chr20 (ACGT only), with AR/TAR weights ALPHA, BETA on the last layer's output. Prints the
# smoothed cross-entropy and the mean |output| every 100 steps. Made to ask whether lmtrain's
# plateau at the base frequencies without AR/TAR (--alpha 0 --beta 0) is ours or the model's:
# 2026-12-03, 600 steps at 5e-3, seeds 1-3: with AR/TAR ce 1.26 at step 600 (|o| 0.05); without,
# the outputs saturate (|o| 0.5-0.65) and the ce sits at 1.37-1.41 until step 300-500 before it
# leaves (1.31-1.34 at step 500-600). Needs Debian's python3-torch; DATA as pipelines/common.mk.
import gzip, os, sys, torch, torch.nn as nn
torch.manual_seed(int(sys.argv[5]) if len(sys.argv) > 5 else 1); torch.set_num_threads(1)
alpha, beta, lr, steps = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
seq = []
with gzip.open(os.path.join(os.environ.get('DATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/data')), 'genome/human_GRCh37_chr20.fa.gz'), 'rt') as f:
    n = 0
    for line in f:
        if line[0] == '>': continue
        s = line.strip().upper()
        seq.append(s); n += len(s)
        if n > 12_000_000: break
s = ''.join(seq)
m = {'A': 1, 'C': 2, 'G': 3, 'T': 4}
ids = torch.tensor([m[c] for c in s if c in m], dtype=torch.long)
B, T, E, H, V = 32, 70, 64, 256, 5
L = ids.numel() // B
data = ids[:L * B].view(B, L)
class LM(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(V, E); nn.init.uniform_(s.emb.weight, -0.1, 0.1)
        s.rnns = nn.ModuleList([nn.LSTM(E, H, batch_first=True), nn.LSTM(H, H, batch_first=True), nn.LSTM(H, E, batch_first=True)])
        s.dec = nn.Linear(E, V); s.dec.weight = s.emb.weight; nn.init.zeros_(s.dec.bias)
    def forward(s, x, hid):
        o = s.emb(x); nh = []
        for r, h in zip(s.rnns, hid):
            o, h2 = r(o, h); nh.append(tuple(t.detach() for t in h2))
        return s.dec(o), o, nh
net = LM()
opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
hid = [None] * 3
ce_avg = None
for step in range(steps):
    i = step * T % (L - T - 1)
    x, y = data[:, i:i + T], data[:, i + 1:i + T + 1]
    if i == 0: hid = [None] * 3
    logits, o, hid = net(x, hid)
    ce = nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    loss = ce + alpha * o.pow(2).mean() + beta * (o[:, 1:] - o[:, :-1]).pow(2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    ce_avg = ce.item() if ce_avg is None else 0.98 * ce_avg + 0.02 * ce.item()
    if (step + 1) % 100 == 0:
        print(f'alpha {alpha} beta {beta} lr {lr} step {step+1} ce {ce_avg:.4f} |o| {o.abs().mean().item():.3f}', flush=True)
