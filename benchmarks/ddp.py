"""Training throughput from cached embeddings: 1 process vs 2 processes under torchrun (gloo, CPU).

Both runs use the same global batch (32 = 1 x 32 = 2 x 16) and the same
cache; samples/s is measured from the epochs' own timings in log.csv (start-up
and embedding excluded). On a 2-core machine two processes share the same two
cores that one process already uses with 2 threads, so expect about 1.0x or
less here: the figure that matters is on machines with more cores or GPUs.

    python benchmarks/ddp.py [--epochs 10]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def samples_per_second(run_dir: Path, train_items: int) -> float:
    rows = list(csv.DictReader(open(run_dir / "log.csv")))[1:]  # the first epoch warms up
    return train_items * len(rows) / sum(float(r["seconds"]) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    from lrcn.synth import SynthConfig, generate

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = generate(SynthConfig(str(tmp / "d"), groups=10, clips_per_group=4), progress=False)
        common = ["train", str(data), "--backbone", "mobilenet_v2", "--weights", "none", "--cache-dir",
                  str(tmp / "cache"), "--epochs", str(args.epochs), "--num-workers", "2", "--views", "center",
                  "--no-progress", "--device", "cpu", "--val-check-interval", str(args.epochs)]
        one = [sys.executable, "-m", "lrcn.cli", *common, "--batch-size", "32", "--run-dir", str(tmp / "one")]
        subprocess.run(one, check=True, capture_output=True)  # also fills the cache
        import json

        items = json.loads((tmp / "one" / "config.json").read_text())["items"]["train"]
        two = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
               "lrcn.cli", *common, "--batch-size", "16", "--run-dir", str(tmp / "two")]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        subprocess.run(two, check=True, capture_output=True, env=env)
        rate1 = samples_per_second(tmp / "one", items)
        rate2 = samples_per_second(tmp / "two", items)
    print(f"{items} training clips from cached embeddings, global batch 32, {os.cpu_count()} CPU cores")
    print(f"  1 process  (2 threads):            {rate1:8.0f} samples/s")
    print(f"  2 processes (torchrun, gloo, 1 thread each): {rate2:8.0f} samples/s")
    print(f"ratio 2 / 1 processes: {rate2 / rate1:.2f}x")


if __name__ == "__main__":
    main()
