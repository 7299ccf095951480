"""Head training from cached embeddings, idle and beside a busy process per core, 1 vs all threads.

    python benchmarks/train_load.py [--epochs 3] [--items 300]

``lrcn train`` trains the head on one intra-op thread. This prints seconds per
epoch with PyTorch's default thread count (one per core) and with one thread,
on an idle machine and with one busy-looping process per core beside it, and
the ratios: what a loaded machine costs each way. Random embeddings of
MobileNetV2's size stand in for a cache (speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import numpy as np
import torch

from lrcn.datasets import VideoItem
from lrcn.distributed import Distributed
from lrcn.embedded import Embedded, train_batches
from lrcn.model import LRCNHead, ModelConfig
from lrcn.train import TrainConfig, train_one_epoch


def busy() -> None:
    while True:
        pass


def seconds_per_epoch(data, threads: int, epochs: int) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    head = LRCNHead(ModelConfig(feature_dim=1280, num_classes=10))
    optimizer = torch.optim.Adam(head.parameters(), lr=5e-4)
    cfg = TrainConfig("unused")
    t = time.perf_counter()
    for epoch in range(1, epochs + 1):
        batches = train_batches(data, cfg.num_frames, cfg.batch_size, np.random.default_rng([cfg.seed, epoch]))
        train_one_epoch(head, batches, optimizer, epoch, seed=cfg.seed, dist=Distributed())
    return (time.perf_counter() - t) / epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--items", type=int, default=300, help="videos of 15 sampled frames (11 windows each)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    data = [Embedded(VideoItem(f"c/v{i}.avi", i % 10, f"g{i}", "train"),
                     rng.standard_normal((1, 15, 1280)).astype(np.float16)) for i in range(args.items)]
    cores = len(os.sched_getaffinity(0))
    default = torch.get_num_threads()
    results = {}
    for load in ("idle", "loaded"):
        workers = [mp.Process(target=busy, daemon=True) for _ in range(cores if load == "loaded" else 0)]
        for w in workers:
            w.start()
        try:
            for threads in sorted({default, 1}, reverse=True):
                results[load, threads] = seconds_per_epoch(data, threads, args.epochs)
        finally:
            for w in workers:
                w.terminate()
    print(f"head training, {args.items} videos x 11 windows, batch 32, {cores} cores; 'loaded' = one busy "
          f"process per core beside it")
    print(f"{'threads':<10}{'idle s/epoch':>14}{'loaded s/epoch':>16}{'loaded / idle':>15}")
    for threads in sorted({default, 1}, reverse=True):
        idle, loaded = results["idle", threads], results["loaded", threads]
        print(f"{threads:<10}{idle:>14.2f}{loaded:>16.2f}{loaded / idle:>14.1f}x")
    if default != 1:
        print(f"1 thread vs {default}: idle {results['idle', default] / results['idle', 1]:.2f}x, loaded "
              f"{results['loaded', default] / results['loaded', 1]:.2f}x the speed")


if __name__ == "__main__":
    main()
