"""``lrcn stream``: keeping up with HD video, latency, flat memory, and the causal head beside the
bidirectional one.

    python benchmarks/stream.py [--hd-seconds 20] [--long-minutes 60] [--accuracy]

1. **Real time on HD**: a 1280x720 30-fps H.264 file (a moving gradient, a moving block, light
   noise), streamed with ``--realtime`` (paced as a camera would send it) through a random-weight
   MobileNetV2 head (speed does not depend on the weights): frames labelled, frames dropped,
   and the latency from a sampled frame's arrival to its label (median, p95); and read as fast as
   possible (nothing dropped): video-seconds per wall-second, the real-time factor.
2. **Flat memory**: peak RSS of a 1-minute and a ``--long-minutes`` stream (160x120, read faster
   than real time), in fresh processes, and their ratio.
3. ``--accuracy``: the synthetic "order" dataset (6 forward/backward pairs), MobileNetV2 with its
   ImageNet weights, the bidirectional head and the causal head trained with the same recipe,
   their clip/video accuracy from ``lrcn test`` and their streaming latency, side by side, beside
   the bag-of-frames control.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RSS_CHILD = r"""
import io, json, sys, time
from lrcn.config import StreamConfig
from lrcn.stream import run
t = time.perf_counter()
summary = run(StreamConfig(sys.argv[1], sys.argv[2], min_seconds=1.0), out=io.StringIO())
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({**summary, "seconds": time.perf_counter() - t, "peak_rss_mb": hwm / 1024}))
"""


def hd_video(path: Path, seconds: float, width: int = 1280, height: int = 720, fps: int = 30) -> None:
    from lrcn.video import write_video_stream

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]

    def frames():
        for k in range(int(seconds * fps)):
            base = ((xx + 4 * k) % 256).astype(np.uint8)
            rgb = np.stack([base, np.flipud(base), np.full_like(base, (k * 2) % 256)], axis=2)
            x = (k * 8) % (width - 200)
            rgb[200:400, x : x + 200] = 255
            rgb += rng.integers(0, 8, rgb.shape, dtype=np.uint8)
            yield rgb

    write_video_stream(path, frames(), fps, codec="libx264", quality=23)


def small_video(path: Path, minutes: float) -> None:
    from lrcn.video import write_video_stream

    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    write_video_stream(path, (np.roll(bg, k % 160, axis=1) for k in range(int(minutes * 60 * 25))), 25,
                       codec="libx264", quality=28)


def stream(ckpt: Path, video: Path, *extra: str) -> tuple[dict, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lrcn", "stream", str(ckpt), str(video), *extra],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t
    return json.loads(proc.stdout.strip().splitlines()[-1])["summary"], seconds


def tiny_checkpoint(tmp: Path, causal: bool, arch: str = "mobilenet_v2") -> Path:
    from lrcn.synth import SynthConfig, generate
    from lrcn.train import TrainConfig, run

    data = tmp / "d"
    if not data.is_dir():
        generate(SynthConfig(str(data), num_classes=4, groups=4, clips_per_group=1), progress=False)
    name = ("causal" if causal else "bidir") + arch
    run_dir = run(TrainConfig(str(data), backbone=arch, weights="none", cache_dir=str(tmp / "c"),
                              run_dir=str(tmp / name), epochs=1, num_workers=0, val_split=0, causal=causal),
                  progress=False)
    return run_dir / "Saved_model_checkpoints" / "last.pth.tar"


def accuracy(tmp: Path, groups: int = 10, clips_per_group: int = 3) -> None:
    from lrcn.config import EvalConfig, StreamConfig, SynthConfig, TrainConfig
    from lrcn.evaluate import run as test
    from lrcn.stream import run as stream_run
    from lrcn.synth import generate
    from lrcn.train import run as train

    data = generate(SynthConfig(str(tmp / "order"), preset="order", seed=1, groups=groups,
                                clips_per_group=clips_per_group), progress=False)
    rows = []
    for name, kw in (("bidirectional (default)", {}), ("causal (--causal)", {"causal": True}),
                     ("bag of frames (--shuffle-frames)", {"shuffle_frames": True})):
        run_dir = train(TrainConfig(str(data), backbone="mobilenet_v2", cache_dir=str(tmp / "oc"), views=("center",),
                                    run_dir=str(tmp / name.split()[0]), num_workers=2, **kw), progress=False)
        r = test(EvalConfig(str(run_dir), str(data), cache_dir=str(tmp / "oc"), num_workers=2), progress=False)
        video = sorted(Path(data).rglob("*.avi"))[0]
        import io

        s = stream_run(StreamConfig(str(run_dir), str(video)), out=io.StringIO())
        rows.append((name, r["clip_accuracy"], r["video_accuracy"], s["latency_median"]))
    print("\nhead                               clip acc   video acc   stream latency (median)")
    for name, clip, vid, lat in rows:
        print(f"{name:34s} {clip:8.1%}   {vid:8.1%}   {lat * 1000:6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hd-seconds", type=float, default=20)
    parser.add_argument("--long-minutes", type=float, default=60)
    parser.add_argument("--accuracy", action="store_true", help="also train both heads on the order preset")
    parser.add_argument("--arch", default="mobilenet_v2", help="the CNN of the HD case (e.g. resnet152)")
    parser.add_argument("--no-memory", action="store_true", help="skip the long-stream memory case")
    parser.add_argument("--groups", type=int, default=10, help="--accuracy: groups per class of the order preset")
    parser.add_argument("--clips-per-group", type=int, default=3, help="--accuracy: videos per group")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpts = {"bidirectional": tiny_checkpoint(tmp, False, args.arch), "causal": tiny_checkpoint(tmp, True, args.arch)}
        hd = tmp / "720p30.mp4"
        hd_video(hd, args.hd_seconds)
        print(f"1280x720 30 fps H.264, {args.hd_seconds:g} s, {args.arch} (random weights), 2.5 sampled fps")
        for name, ckpt in ckpts.items():
            live, _ = stream(ckpt, hd, "--realtime")
            fast, seconds = stream(ckpt, hd)
            print(f"  {name:13s} --realtime: {live['frames']} labelled, {live['dropped']} dropped, latency median "
                  f"{live['latency_median'] * 1000:.0f} ms, p95 {live['latency_p95'] * 1000:.0f} ms; as fast as "
                  f"possible: {args.hd_seconds / seconds:.2f}x real time (whole process, start-up included), "
                  f"{fast['dropped']} dropped", flush=True)
        rss = {}
        for minutes in () if args.no_memory else (1, args.long_minutes):
            video = tmp / f"{minutes:g}min.mp4"
            small_video(video, minutes)
            proc = subprocess.run([sys.executable, "-c", RSS_CHILD, str(ckpts["causal"]), str(video)],
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rss[minutes] = r["peak_rss_mb"]
            print(f"{minutes:5g}-minute stream (160x120, read as fast as possible): peak RSS {r['peak_rss_mb']:.0f} MB, "
                  f"{r['frames']} frames labelled in {r['seconds']:.0f} s", flush=True)
            video.unlink()
        if rss:
            print(f"peak RSS {args.long_minutes:g} min / 1 min: {rss[args.long_minutes] / rss[1]:.3f}")
        if args.accuracy:
            accuracy(tmp, args.groups, args.clips_per_group)


if __name__ == "__main__":
    main()
