"""Accuracy on order-only data: the default recipe beside the seed's and the bag-of-frames control, in one run.

    python benchmarks/accuracy.py [--work-dir DIR] [--epochs N] [--seed S]
    python benchmarks/accuracy.py --backbones mobilenet_v2,i3d --views center --groups 8 --max-seconds 6

Writes ``lrcn synth --preset order`` (12 classes in 6 pairs, each pair one kind of
video played forwards or backwards: a model that ignores frame order is at chance
within every pair), embeds it once with each backbone of ``--backbones`` (default MobileNetV2 with
its ImageNet weights; ``i3d``: the Kinetics-400 I3D, each step from 16 frames at 25 fps), and
trains, for each backbone:

* ``lrcn default``: ``lrcn train DATA`` as shipped (every window, validation picks
  the epoch count, refit on train + validation -> final.pth.tar);
* ``seed recipe``: the seed's head and sampling, with its bugs fixed: one random
  window per video per epoch, 100 epochs, the model validation liked best
  (``--windows-per-video 1 --no-refit --no-frame-differences --epochs 100``);
* ``bag of frames``: the default recipe on frame-shuffled windows (``--shuffle-frames``).

It prints clip / video accuracy and, within the order pairs, how often the model
picks the right one of the two (50 % = chance), then scores the default model on a
long video of one whole test video per class laid end to end (``lrcn predict
--truth``): frame accuracy, segments, edit score and F1@k before and after
decoding; and ``lrcn test-continuous``'s segmentation scores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from lrcn import continuous, evaluate, predict, synth, train
from lrcn.datasets import load_dataset
from lrcn.decode import Decoding
from lrcn.video import probe, read_frames, write_video


def within_pair(report: dict, classes: list[str]) -> float:
    """Of the clips predicted inside their own order pair, the fraction that got the order right."""
    pair_of = {}
    for a, b in synth.order_pairs(classes):
        pair_of[classes[a]] = pair_of[classes[b]] = (a, b)
    hits = [c["label"] == c["predicted"] for c in report["clips"]
            if c["label"] in pair_of and c["predicted"] in pair_of and pair_of[c["label"]] == pair_of[c["predicted"]]]
    return float(np.mean(hits)) if hits else float("nan")


def long_video(data: Path, dataset, path: Path, per_class: int = 1) -> Path:
    """Whole test videos, one of each class in a seeded order, end to end; and its truth CSV."""
    rng = np.random.default_rng(0)
    tests = dataset.subset("test")
    by_class: dict[int, list] = {}
    for item in tests:
        by_class.setdefault(item.label, []).append(item)
    labels: list[int] = []
    for _ in range(per_class):  # every class once per round, never the same class twice in a row
        order = rng.permutation(sorted(by_class)).tolist()
        if labels and order[0] == labels[-1]:
            order[0], order[1] = order[1], order[0]
        labels += order
    frames, rows, t = [], [], 0.0
    for label in labels:
        item = by_class[label][int(rng.integers(len(by_class[label])))]
        info = probe(data / item.path)
        clip = read_frames(data / item.path, list(range(info.num_frames)))
        frames.extend(clip)
        rows.append(f"{t:.3f},{t + len(clip) / info.fps:.3f},{dataset.classes[label]}")
        t += len(clip) / info.fps
    write_video(path, frames, 25.0, codec="libx264", quality=18)
    path.with_suffix(".csv").write_text("start,end,label\n" + "\n".join(rows) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work-dir", default=None, help="keep data, cache and runs here (default: a temporary folder)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs of every model (default: lrcn train's)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    ap.add_argument("--groups", type=int, default=15, help="groups per class (3 are test groups)")
    ap.add_argument("--long-per-class", type=int, default=1, help="test videos of each class in the long video")
    ap.add_argument("--backbones", default="mobilenet_v2", help="comma-separated; the long video uses the first")
    ap.add_argument("--views", default=None, help="cached training views (default: lrcn train's four)")
    ap.add_argument("--max-seconds", type=float, default=9.0, help="longest synthetic video")
    args = ap.parse_args()
    tmp = None if args.work_dir else tempfile.TemporaryDirectory()
    work = Path(args.work_dir or tmp.name)
    t0 = time.perf_counter()
    data = synth.generate(synth.SynthConfig(str(work / f"order-{args.seed}"), preset="order", groups=args.groups,
                                            clips_per_group=2, min_seconds=3.0, max_seconds=args.max_seconds,
                                            seed=args.seed),
                          progress=False)
    dataset = load_dataset(data)
    classes = list(dataset.classes)
    backbones = args.backbones.split(",")
    recipes = {
        "lrcn default": dict(),
        "seed recipe": dict(windows_per_video=1, refit=False, frame_differences=False, epochs=100),
        "bag of frames": dict(shuffle_frames=True),
    }
    rows, runs = [], {}
    for backbone in backbones:
        common = dict(backbone=backbone, cache_dir=str(work / "cache"), num_workers=2)
        if args.epochs:
            common["epochs"] = args.epochs
        if args.views:
            common["views"] = tuple(args.views.split(","))
        for name, overrides in recipes.items():
            t = time.perf_counter()
            run_name = f"{args.seed}-{backbone}-{name.replace(' ', '-')}"
            run_dir = train.run(train.TrainConfig(str(data), run_dir=str(work / "runs" / run_name), resume="auto",
                                                  **{**common, **overrides}), progress=False)
            trained = time.perf_counter() - t  # the first recipe of a backbone includes embedding the dataset
            report = evaluate.run(evaluate.EvalConfig(str(run_dir), str(data), cache_dir=common["cache_dir"],
                                                      num_workers=2), progress=False)
            runs[(backbone, name)] = run_dir
            rows.append((f"{backbone} {name}", report["clip_accuracy"], report["video_accuracy"],
                         within_pair(report, classes), trained, Path(report["checkpoint"]).name))

    print(f"\norder-only benchmark: {len(dataset.items)} videos, {len(classes)} classes in "
          f"{len(synth.order_pairs(classes))} forward/backward pairs, test = 3 groups; backbones {', '.join(backbones)}")
    print(f"{'model':<30}{'clip acc':>10}{'video acc':>11}{'within pairs':>14}{'train s':>9}  checkpoint")
    for name, clip, video, pair, secs, ckpt in rows:
        print(f"{name:<30}{clip:>10.1%}{video:>11.1%}{pair:>14.1%}{secs:>9.0f}  {ckpt}")
    for k, backbone in enumerate(backbones):
        gap = rows[3 * k][3] - rows[3 * k + 2][3]
        print(f"{backbone}: default vs bag of frames within pairs: {100 * gap:+.1f} points")
    common = dict(backbone=backbones[0], cache_dir=str(work / "cache"), num_workers=2)
    runs["lrcn default"] = runs[(backbones[0], "lrcn default")]

    video = long_video(data, dataset, work / f"long-{args.seed}.mp4", per_class=args.long_per_class)
    truth = str(video.with_suffix(".csv"))
    print(f"\nlong video: {probe(video).duration:.1f} s, {args.long_per_class * len(classes)} whole test videos end to "
          f"end (lrcn predict --truth), the default model; decoders side by side (* = the default):")
    long_scores = {}
    for label, decoding in decoders():
        (pred,), _ = predict.run(predict.PredictConfig(str(runs["lrcn default"]), (str(video),),
                                                       str(work / "predictions"), annotate=False, progress=False,
                                                       truth=truth, decoding=decoding))
        long_scores[label] = pred["scores"]["after_smoothing"]
        print_scores(label, pred["scores"]["after_smoothing"])
    print("\ntest-continuous (16 clips x 5 frames end to end, 5 repeats), the default model:")
    cont_scores = {}
    for label, decoding in decoders(__import__("lrcn.config", fromlist=["x"]).CONTINUOUS_DECODING):
        cont = continuous.run(continuous.ContinuousConfig(str(runs["lrcn default"]), str(data),
                                                          cache_dir=common["cache_dir"], num_workers=2, annotate=False,
                                                          out_dir=str(work / "continuous"), decoding=decoding),
                              progress=False)
        cont_scores[label] = cont["segmentation"]["after_smoothing"]
        print_scores(label, cont["segmentation"]["after_smoothing"])
    print(f"  window accuracy {cont['window_accuracy_mean']:.1%} +- {cont['window_accuracy_std']:.1%}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    (work / f"accuracy-{args.seed}.json").write_text(json.dumps(
        {"rows": rows, "long_video": long_scores, "continuous": cont_scores}, indent=1))


def decoders(default: Decoding = Decoding()):
    out = [("none", Decoding("none")), ("median", Decoding("median"))]
    for penalty in (2.0, 4.0, 8.0, 16.0):
        for seconds in (0.8, 1.2, 2.0):
            d = Decoding("viterbi", penalty, seconds)
            out.append((f"viterbi {penalty:g} {seconds:g}s" + (" *" if d == default else ""), d))
    return out


def print_scores(label: str, s: dict) -> None:
    print(f"  {label:<20} frame acc {s['frame_accuracy']:5.1f} %  segments {s['predicted_segments']:5.1f} for "
          f"{s['true_segments']:4.1f} ({s['predicted_segments'] / s['true_segments']:.2f}x)  edit {s['edit']:5.1f}  "
          f"F1@10/25/50 {s['f1@10']:.1f}/{s['f1@25']:.1f}/{s['f1@50']:.1f}")


if __name__ == "__main__":
    main()
