"""Seconds of ``lrcn --help``, against the way it was built before (importing torch), same run.

Before, building the parser imported ``lrcn.backbone`` (torch, torchvision) to list the backbone
choices. Now every choice the CLI shows lives in ``lrcn.settings``, which imports nothing heavy.

    python benchmarks/cli_help.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

NOW = "from lrcn.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
BEFORE = "import lrcn.backbone\n" + NOW  # the import the parser used to make


def seconds(code: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    before, now = seconds(BEFORE, a.repeats), seconds(NOW, a.repeats)
    print(f"lrcn --help, median of {a.repeats}: before (importing torch) {before:.2f} s, now {now:.2f} s "
          f"({before / now:.0f}x faster)")


if __name__ == "__main__":
    main()
