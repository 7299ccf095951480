"""``lrcn predict`` on long videos: memory bounded by the window, each frame embedded once.

Generates a 1-minute and a 20-minute video (160x120, 25 fps, H.264), trains a
tiny checkpoint (random MobileNetV2, 1 epoch: speed and memory do not depend
on the weights), then for each video runs ``lrcn predict`` in a fresh process
and prints its peak RSS and video-seconds per wall-second. Backbone frames
per sampled frame are counted for lrcn (each frame once) and for the seed's
window-by-window way (every window re-embeds its frames), same video, same run.

    python benchmarks/predict.py [--minutes 1 20]
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
import json, resource, sys, time
import torch
from lrcn import predict
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
    from lrcn.evaluate import load_head
    from lrcn.features import FeatureSpec, decode_sampled, make_views
    from lrcn.backbone import BackboneSpec
    head, c = load_head(ckpt, torch.device("cpu"))
    s = c["feature_spec"]
    spec = FeatureSpec(BackboneSpec(s["arch"], s["weights"]), s["fps"], s["crop"])
    emb = FrameEmbedder(spec.backbone)
    frames = make_views(decode_sampled(video, spec), ("center",))[0]
    n = s["num_frames"]
    for w in range(len(frames) - n + 1):
        head(emb(torch.from_numpy(frames[w:w + n])).unsqueeze(0).clone())
    sampled = len(frames)
else:
    (r,), failures = predict.run(cfg)
    sampled = r["sampled_frames"]
print(json.dumps({"seconds": time.perf_counter() - t, "sampled": sampled, "backbone_frames": calls["frames"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_video(path: Path, minutes: float) -> None:
    from lrcn.video import write_video_stream

    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    n = int(minutes * 60 * 25)
    frames = (np.roll(bg, k % 160, axis=1) for k in range(n))
    write_video_stream(path, frames, 25, codec="libx264", quality=28)


def child(ckpt, video, out, seed_way=False) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ckpt), str(video), str(out), "1" if seed_way else "0"],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 20])
    args = parser.parse_args()
    from lrcn.synth import SynthConfig, generate
    from lrcn.train import TrainConfig, run

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = generate(SynthConfig(str(tmp / "d"), num_classes=4, groups=4, clips_per_group=1), progress=False)
        run_dir = run(TrainConfig(str(data), backbone="mobilenet_v2", weights="none", cache_dir=str(tmp / "c"),
                                  run_dir=str(tmp / "r"), epochs=1, num_workers=0, val_split=0), progress=False)
        ckpt = run_dir / "Saved_model_checkpoints" / "last.pth.tar"
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
