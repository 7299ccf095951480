"""What ``--runtime auto`` buys on a CPU: the frame CNN in ONNX Runtime against PyTorch, end to end.

    python benchmarks/runtime.py [--arch mobilenet_v2] [--videos 24] [--seconds 20]

In one run, each stage twice, with ``--runtime pytorch`` and ``--runtime onnxruntime`` (the graph
already written, as on every run after the first; the one-off export time is printed apart):

1. the demo's embedding stage: ``lrcn features`` on a synthetic dataset (``--videos`` videos,
   4 views each, a cache of its own per runtime);
2. ``lrcn predict`` on one longer synthetic video (``--seconds``): seconds of compute per second
   of video (the model loaded once; the decode is included, as a user sees it).

Prints each time, the ratio PyTorch / ONNX Runtime, and the largest difference of the embeddings.
Uses the offline MobileNetV2 ImageNet weights when installed (``lrcn weights install``), else
random ones (speed does not depend on the weights). Machine-dependent: the ratio is the claim.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="mobilenet_v2")
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    from lrcn.backbone import BackboneSpec, create_embedder, imagenet_cache_path
    from lrcn.config import FeaturesConfig, SynthConfig, TrainConfig
    from lrcn.datasets import load_dataset
    from lrcn.embedded import embed_dataset
    from lrcn.features import EmbeddingCache
    from lrcn.inference import Model
    from lrcn.synth import generate
    from lrcn.train import run as train
    from lrcn.video import write_video

    weights = "imagenet" if imagenet_cache_path(args.arch).is_file() else "none"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["LRCN_ONNX_CACHE"] = str(tmp / "onnx")
        t = time.perf_counter()
        create_embedder(BackboneSpec(args.arch, weights), precision="fp32", runtime="onnxruntime")
        export_s = time.perf_counter() - t
        print(f"{args.arch} ({weights} weights), {torch.get_num_threads()} threads, torch {torch.__version__}; "
              f"the one-off ONNX export and check took {export_s:.1f} s")

        groups = max(1, args.videos // 4)
        data = generate(SynthConfig(str(tmp / "d"), num_classes=4, groups=groups, clips_per_group=1), progress=False)
        dataset = load_dataset(str(data), None, 1, None)
        feats = {}
        for runtime in ("pytorch", "onnxruntime"):
            cfg = FeaturesConfig(str(data), backbone=args.arch, weights=weights, cache_dir=str(tmp / f"c_{runtime}"),
                                 precision="fp32", runtime=runtime)
            cache = EmbeddingCache(cfg.cache_dir, cfg.feature_spec())
            t = time.perf_counter()
            summary, embedder = embed_dataset(dataset, cache, cfg.views, torch.device("cpu"), "fp32", runtime=runtime,
                                              workers=2, progress=False)
            feats[runtime] = (time.perf_counter() - t, cache, type(embedder).__name__)
        (tp, cp, _), (to, co, name) = feats["pytorch"], feats["onnxruntime"]
        frames = diffs = 0
        worst = 0.0
        from lrcn.embedded import requests_for

        for r in requests_for(dataset, dataset.items, FeaturesConfig(str(data)).views):
            a, b = np.asarray(cp.load(r), np.float32), np.asarray(co.load(r), np.float32)
            frames += a.shape[0] * a.shape[1]
            worst = max(worst, float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12)))
            diffs += int((a != b).any(axis=-1).sum())
        print(f"features ({len(dataset.items)} videos, {frames} embeddings): pytorch {tp:.1f} s, onnxruntime "
              f"{to:.1f} s ({name}): {tp / to:.2f}x; largest difference {worst:.1e} of the embeddings' size "
              f"(float16 cache: {diffs} of {frames} rows differ in some value)")

        run_dir = train(TrainConfig(str(data), backbone=args.arch, weights=weights, cache_dir=str(co.root),
                                    run_dir=str(tmp / "r"), epochs=1, num_workers=0, val_split=0, runtime="onnxruntime"),
                        progress=False)
        rng = np.random.default_rng(0)
        video = tmp / "long.mp4"
        n = int(args.seconds * 25)
        base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        write_video(video, np.stack([np.roll(base, k * 3, axis=1) for k in range(n)]), 25, codec="libx264", quality=20)
        per = {}
        for runtime in ("pytorch", "onnxruntime"):
            model = Model(run_dir, device="cpu", precision="fp32", runtime=runtime)
            model.predict(video)  # warm up
            t = time.perf_counter()
            p = model.predict(video)
            per[runtime] = ((time.perf_counter() - t) / args.seconds, p)
        (sp, pp), (so, po) = per["pytorch"], per["onnxruntime"]
        same = float(np.mean([a == b for a, b in zip(pp.labels, po.labels)]))
        gap = float(np.abs(pp.frame_probs - po.frame_probs).max())
        print(f"predict ({args.seconds:g} s of 320x240 H.264): pytorch {sp:.3f} s per video-second, onnxruntime "
              f"{so:.3f}: {sp / so:.2f}x; same label at {100 * same:.0f} % of steps, probabilities within {gap:.1e}")


if __name__ == "__main__":
    main()
