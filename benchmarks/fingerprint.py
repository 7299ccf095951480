"""What hashing every byte of a video costs, against decoding the same file, in one run.

The cache key of a video is the SHA-1 of the whole file (``lrcn.features.fingerprint``), so a
same-size edit anywhere in it makes a new key. This prints, for a generated video:
  * the old fingerprint (size + first/last 64 KiB): the baseline it replaced;
  * the whole-file SHA-1 and BLAKE2b;
  * decoding the file at 2.5 fps, 256-pixel frames (the least work ``lrcn features`` does per file);
as MB/s of file and as a ratio to decoding.

    python benchmarks/fingerprint.py [--seconds 60] [--size 640x480]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from lrcn.features import FeatureSpec, decode_sampled, fingerprint
from lrcn.video import write_video_stream


def head_and_tail(path: Path) -> str:
    """The fingerprint lrcn used before: size plus SHA-1 of the first and last 64 KiB."""
    size = os.path.getsize(path)
    h = hashlib.sha1(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 16))
        if size > 1 << 17:
            fh.seek(-(1 << 16), os.SEEK_END)
            h.update(fh.read(1 << 16))
    return h.hexdigest()


def blake2b(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "blake2b").hexdigest()


def best_of(fn, path: Path, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="640x480")
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        n = int(a.seconds * 25)
        write_video_stream(path, (np.roll(base, 4 * k, axis=1) for k in range(n)), 25, codec="libx264", quality=23)
        mb = os.path.getsize(path) / 1e6
        spec = FeatureSpec()
        fingerprint(path)  # into the page cache: every method then reads from memory
        rows = [("size + first/last 64 KiB (before)", best_of(head_and_tail, path)),
                ("whole-file SHA-1 (lrcn)", best_of(fingerprint, path)),
                ("whole-file BLAKE2b", best_of(blake2b, path)),
                ("decode at 2.5 fps, 256 px", best_of(lambda p: decode_sampled(p, spec), path, 1))]
        decode = rows[-1][1]
        print(f"{a.seconds:g} s of {w}x{h} H.264 at 25 fps: {mb:.1f} MB")
        print(f"{'':38}{'seconds':>9}{'MB/s':>9}{'x decode time':>15}")
        for name, sec in rows:
            print(f"{name:38}{sec:9.4f}{mb / sec:9.0f}{sec / decode:15.4f}")


if __name__ == "__main__":
    main()
