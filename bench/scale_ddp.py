#!/usr/bin/python3
"""PyTorch DistributedDataParallel (gloo backend) counterpart of bench/scale_step.c: the LM
training step of bench/bench_lm_step.py (AWD-LSTM, reference LM dropouts, CE + AR + TAR, AdamW)
on RANKS local processes of one thread each, B rows a rank, gradients averaged by DDP's
allreduce. Rank 0 prints the median step time (after one warm-up step) and tokens/s of the whole
batch (RANKS x B x T), in the format of scale_step.

usage: /usr/bin/python3 bench/scale_ddp.py RANKS E H [STEPS [B]]
"""
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_lm_step as ref  # noqa: E402  (sets one BLAS / OpenMP thread before torch loads)
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def worker(rank, ranks, E, H, steps, B, port):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    torch.manual_seed(1)
    model = ref.LM(E, H)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if ranks > 1 else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-8,
                            weight_decay=0.01)
    T, V = ref.T, ref.V
    torch.manual_seed(100 + rank)
    x = torch.randint(3, V, (T, B))
    y = torch.randint(3, V, (T, B))
    state = [(torch.zeros(1, B, n), torch.zeros(1, B, n)) for n in model.widths]
    wall = []
    for s in range(steps + 1):  # step 0 is a warm-up
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        logits, out, state = ddp(x, state)
        ce = F.cross_entropy(logits, y.reshape(-1))
        loss = ce + ref.ALPHA * out.pow(2).mean() + ref.BETA * (out[1:] - out[:-1]).pow(2).mean()
        loss.backward()
        opt.step()
        dist.barrier()
        if s > 0:
            wall.append(time.perf_counter() - t0)
    if rank == 0:
        med = statistics.median(wall)
        n = sum(p.numel() for p in model.parameters())
        print(f"ranks={ranks} torch {torch.__version__} gloo E={E} H={H} V={V} B={B} T={T} "
              f"params {n / 1e6:.2f}M: step {med:.3f} s median of {steps}, "
              f"{ranks * B * T / med:.0f} tokens/s, loss {loss.item():.4f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    ranks, E, H = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    B = int(sys.argv[5]) if len(sys.argv) > 5 else ref.B
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(worker, args=(ranks, E, H, steps, B, port), nprocs=ranks)
