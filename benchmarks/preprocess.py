"""Pre-processing speed: lrcn's decoder path against the seed's way, same files, same run.

Builds UCF-like videos (320x240, 25 fps, MPEG-4 part 2 in AVI with B-frames and
xvid's keyframe interval of 300, 4-10 s), then times cutting one 5-frame clip at 2.5 fps per video:

* ``lrcn``: ``lrcn.preprocess.process_video`` (decode straight through to the
  last needed frame, leaving out the B-frames not needed, convert only the 5
  kept frames), one process;
* ``seed``: OpenCV, ``set(CAP_PROP_POS_FRAMES)`` before every sampled frame
  (every 10th), then BGR->RGB conversion (the seed's ``capture_and_sample_video``);
* ``decode-all``: decode and convert every frame, keep the ones needed.

All three write the same clip file. Then ``lrcn preprocess`` with 1 and with
all cores, for the scaling. Prints clips/s and the ratios.

    python benchmarks/preprocess.py [--videos 24]
    taskset -c 0 python benchmarks/preprocess.py    # everything on one core
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lrcn import clips as clipmath
from lrcn.preprocess import PreprocessConfig, process_video, run
from lrcn.video import decode_all_rgb, probe, write_video


def make_videos(root: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        seconds = 4 + 6 * (i / max(1, count - 1))
        n = int(seconds * 25)
        base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        frames = [np.roll(base, shift=4 * k, axis=1) for k in range(n)]  # moving texture: real motion to code
        path = root / "data" / f"Class{i % 4}" / f"v_Class{i % 4}_g{i // 4 + 1:02d}_c01.avi"
        path.parent.mkdir(parents=True, exist_ok=True)
        # xvid (UCF-101's encoder) puts a keyframe every 300 frames at most: seeking must decode from it.
        write_video(path, frames, 25, codec="mpeg4", quality=4, max_b_frames=2, gop=300)
        paths.append(path)
    return paths


def seed_way(path: Path, out: Path, cfg: PreprocessConfig) -> None:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    for index in range(0, n, cfg.sampling_rate):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    start = random.Random(f"{cfg.seed}:{path.name}").randint(0, len(frames) - cfg.num_frames)
    write_video(out, frames[start : start + cfg.num_frames], cfg.fps, codec="mpeg4", quality=2)


def decode_all_way(path: Path, out: Path, cfg: PreprocessConfig) -> None:
    import av

    info = probe(path)
    sampled = clipmath.sample_indices(info.num_frames, info.fps, cfg.fps)
    (clip,) = clipmath.make_clips(sampled, cfg.num_frames, 1, random.Random(cfg.seed))
    wanted = set(clip.frame_indices)
    kept = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")  # every frame converted
            if i in wanted:
                kept.append(rgb)
    write_video(out, kept, cfg.fps, codec="mpeg4", quality=2)


def time_per_video(fn, videos, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for v in videos:
            fn(v)
        best = min(best, time.perf_counter() - t)
    return len(videos) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=24)
    args = parser.parse_args()
    try:
        import cv2  # noqa: F401
    except ImportError:
        sys.exit("needs opencv-python-headless (pip install -e '.[bench]') for the seed's way")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        videos = make_videos(root, args.videos)
        cfg = PreprocessConfig(str(root / "data"), str(root / "out"), workers=1)
        out = root / "clip.avi"
        rel = lambda v: str(v.relative_to(root / "data"))
        lrcn_rate = time_per_video(lambda v: process_video((str(v), rel(v), 0, "g", "train", cfg)), videos)
        seed_rate = time_per_video(lambda v: seed_way(v, out, cfg), videos)
        all_rate = time_per_video(lambda v: decode_all_way(v, out, cfg), videos)
        decode_only = time_per_video(decode_all_rgb, videos, repeat=1)
        scaling = {}
        for workers in (1, os.cpu_count() or 1):
            t = time.perf_counter()
            run(PreprocessConfig(str(root / "data"), str(root / f"run{workers}"), workers=workers), progress=False)
            scaling[workers] = args.videos / (time.perf_counter() - t)
    print(f"{args.videos} UCF-like AVIs (320x240, 25 fps, MPEG-4 with B-frames, 4-10 s), one 5-frame clip each")
    print(f"  lrcn (to the last needed frame, no unneeded B-frames, convert 5): {lrcn_rate:7.1f} clips/s")
    print(f"  seed (OpenCV seek before every 10th frame):                       {seed_rate:7.1f} clips/s")
    print(f"  decode + convert every frame:                                     {all_rate:7.1f} clips/s")
    print(f"  (decode + convert every frame, no writing:                        {decode_only:7.1f} videos/s)")
    print(f"ratio lrcn / seed way:          {lrcn_rate / seed_rate:.2f}x")
    print(f"ratio lrcn / decode-all:        {lrcn_rate / all_rate:.2f}x")
    cores = max(scaling)
    print(f"lrcn preprocess: 1 process {scaling[1]:.1f} clips/s, {cores} processes {scaling[cores]:.1f} clips/s "
          f"({scaling[cores] / scaling[1]:.2f}x)")


if __name__ == "__main__":
    main()
