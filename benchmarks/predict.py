"""``lrcn predict`` on long videos: memory bounded by the window, each frame embedded once.

Generates a 1-minute and a 20-minute video (160x120, 25 fps, H.264), trains a
tiny checkpoint (random MobileNetV2, 1 epoch: speed and memory do not depend
on the weights), then for each video runs ``lrcn predict`` in a fresh process
and prints its peak RSS and video-seconds per wall-second. Backbone frames
per sampled frame are counted for lrcn (each frame once) and for the seed's
window-by-window way (every window re-embeds its frames), same video, same run.

    python benchmarks/predict.py [--minutes 1 20]

``--hd`` instead runs the high-resolution cases: 20-s 1920x1080 and 1280x720 30-fps H.264 files
and a 3-s 3840x2160 one (a moving gradient with a moving block and light noise, CRF 23), each
with ``--no-video`` (as shipped: the sampled reading leaves H.264 non-reference frames that no
sample needs out of the decoder; and the earlier way, every frame decoded) and with the annotated
MP4, made both as shipped (shorter side capped at 720, x264 ultrafast, area scaling) and the
earlier way (full size, veryfast, CRF 20, bicubic, every frame decoded in both passes), in the same
run. ``--bitrate-crf N`` encodes the test files at CRF N (lower: heavier files, slower decoding). It prints video-seconds per wall-second of the whole ``lrcn
predict`` process (start-up included) and its peak RSS.

    python benchmarks/predict.py --hd
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
import torch
from lrcn import annotate, predict
from lrcn.backbone import FrameEmbedder
calls = {"frames": 0}
original = FrameEmbedder.forward
def counted(self, frames):
    calls["frames"] += frames.shape[0]
    return original(self, frames)
FrameEmbedder.forward = counted
ckpt, video, out, seed_way = sys.argv[1:5]
cfg = predict.PredictConfig(ckpt, (video,), out, annotate=False)
t = time.perf_counter()
if seed_way == "1":
    # The seed's way: decode, then embed every window's frames again.
    from lrcn.checkpoint import load_head
    from lrcn.features import decode_sampled, make_views
    head, c = load_head(ckpt, torch.device("cpu"))
    spec = c.features
    emb = FrameEmbedder(spec.backbone)
    frames = make_views(decode_sampled(video, spec), ("center",))[0]
    n = c.sampling.num_frames
    for w in range(len(frames) - n + 1):
        head(emb(torch.from_numpy(frames[w:w + n])).unsqueeze(0).clone())
    sampled = len(frames)
else:
    (r,), failures = predict.run(cfg)
    sampled = r["sampled_frames"]
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))  # not ru_maxrss: see HD_CHILD
print(json.dumps({"seconds": time.perf_counter() - t, "sampled": sampled, "backbone_frames": calls["frames"],
                  "peak_rss_mb": hwm / 1024}))
"""


def make_video(path: Path, minutes: float) -> None:
    from lrcn.video import write_video_stream

    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    n = int(minutes * 60 * 25)
    frames = (np.roll(bg, k % 160, axis=1) for k in range(n))
    write_video_stream(path, frames, 25, codec="libx264", quality=28)


HD_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from lrcn import annotate, predict
ckpt, video, out, mode = sys.argv[1:5]
if mode == "earlier":
    annotate.ANNOTATE_PRESET, annotate.ANNOTATE_CRF, annotate.ANNOTATE_SCALER = "veryfast", 20, None
if mode in ("decode-all", "earlier"):  # every frame through the decoder, as before H.264 samples skipped
    import lrcn.video.bitstream
    lrcn.video.bitstream.h264_slice_test = lambda container, stream: None
cfg = predict.PredictConfig(ckpt, (video,), out, annotate=mode not in ("no-video", "decode-all"),
                            annotate_size=None if mode == "earlier" else 720, progress=False, compile=False)
predict.run(cfg)
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork + exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": hwm / 1024}))
"""


def make_hd_video(path: Path, width: int, height: int, seconds: float, crf: int = 23) -> None:
    from lrcn.video import write_video_stream

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx[..., None] * np.array([1, 2, 3]) + yy[..., None] * np.array([3, 1, 2])) % 256).astype(np.uint8)
    base += rng.integers(0, 6, (height, width, 3), dtype=np.uint8)
    box = height // 5

    def frames():
        for k in range(int(seconds * 30)):
            f = np.roll(base, 7 * k, axis=1)
            y = (20 * k) % (height - box)
            f[y : y + box, width // 6 : width // 6 + box] = 255 - f[y : y + box, width // 6 : width // 6 + box]
            yield f

    write_video_stream(path, frames(), 30, codec="libx264", quality=crf)


def hd(ckpt: Path, tmp: Path, crf: int = 23) -> None:
    import os
    import time as _time

    from lrcn.video import probe

    for name, w, h, seconds in (("1080p", 1920, 1080, 20), ("720p", 1280, 720, 20), ("4K", 3840, 2160, 3)):
        video = tmp / f"{name}.mp4"
        make_hd_video(video, w, h, seconds, crf)
        mbps = os.path.getsize(video) * 8 / 1e6 / probe(video).duration
        t = _time.perf_counter()
        from lrcn.video import count_frames

        count_frames(video)
        decode = _time.perf_counter() - t
        print(f"{name} ({w}x{h}, {seconds} s at 30 fps, {mbps:.1f} Mbit/s; decoding every frame alone {decode:.1f} s):")
        for mode in ("no-video", "decode-all", "annotated", "earlier"):
            proc = subprocess.run([sys.executable, "-c", HD_CHILD, str(ckpt), str(video), str(tmp / f"o-{mode}"), mode],
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            label = {"no-video": "--no-video", "decode-all": "--no-video, decoding every frame (the earlier way)",
                     "annotated": "annotated MP4 as shipped (720, ultrafast)",
                     "earlier": "annotated MP4 the earlier way (full size, veryfast, every frame decoded twice)"}[mode]
            print(f"  {label:<54} {r['seconds']:6.1f} s  {seconds / r['seconds']:5.2f}x real time  "
                  f"peak RSS {r['peak_rss_mb']:6.0f} MB", flush=True)


def child(ckpt, video, out, seed_way=False) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ckpt), str(video), str(out), "1" if seed_way else "0"],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 20])
    parser.add_argument("--hd", action="store_true", help="the 1080p / 720p / 4K cases instead")
    parser.add_argument("--bitrate-crf", type=int, default=23, help="--hd: x264 CRF of the test files")
    args = parser.parse_args()
    from lrcn.synth import SynthConfig, generate
    from lrcn.train import TrainConfig, run

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = generate(SynthConfig(str(tmp / "d"), num_classes=4, groups=4, clips_per_group=1), progress=False)
        run_dir = run(TrainConfig(str(data), backbone="mobilenet_v2", weights="none", cache_dir=str(tmp / "c"),
                                  run_dir=str(tmp / "r"), epochs=1, num_workers=0, val_split=0), progress=False)
        ckpt = run_dir / "Saved_model_checkpoints" / "last.pth.tar"
        if args.hd:
            hd(ckpt, tmp, args.bitrate_crf)
            return
        rows = []
        for minutes in args.minutes:
            video = tmp / f"{minutes:g}min.mp4"
            make_video(video, minutes)
            r = child(ckpt, video, tmp / "out")
            rows.append((minutes, r))
            print(f"{minutes:5g} min video: peak RSS {r['peak_rss_mb']:7.0f} MB, "
                  f"{minutes * 60 / r['seconds']:6.1f} video-s per wall-s, {r['sampled']} sampled frames, "
                  f"{r['backbone_frames'] / r['sampled']:.2f} backbone frames per sampled frame", flush=True)
        seed = child(ckpt, tmp / f"{args.minutes[0]:g}min.mp4", tmp / "out", seed_way=True)
        ours = rows[0][1]
        print(f"seed's window-by-window way on the {args.minutes[0]:g} min video: "
              f"{seed['backbone_frames'] / seed['sampled']:.2f} backbone frames per sampled frame, "
              f"{seed['seconds']:.1f} s vs lrcn {ours['seconds']:.1f} s "
              f"({seed['seconds'] / ours['seconds']:.1f}x), peak RSS {seed['peak_rss_mb']:.0f} MB")
        if len(rows) > 1:
            print(f"RSS ratio {rows[-1][0]:g} min / {rows[0][0]:g} min: "
                  f"{rows[-1][1]['peak_rss_mb'] / rows[0][1]['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
