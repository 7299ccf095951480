"""Your own long videos, the loop measured: trimmed clips -> predictions on long videos -> corrected
annotations -> a model trained from them, scored on other long videos. In one run.

    python benchmarks/annotated.py [--work-dir DIR] [--seed 0] [--groups 15] [--train-long 52] [--test-long 10]
                                   [--views center] [--num-frames N]
                                   [--models trimmed,long,per-step,causal,both-readouts,ensemble,both]
                                   [--action-clips 2] [--ensemble 5] [--train-seeds 0,1,2]

1. ``lrcn synth --preset order`` (12 classes in 6 forward/backward pairs; a model that ignores frame
   order is at chance inside every pair); its split-1 train groups and test groups stay apart.
2. Long videos made from synthetic clips end to end (:func:`lrcn.synth.annotated_long_videos`): a
   second ``--preset order`` set of the same classes with clips of 2-20 s (other backgrounds), 3-8
   whole clips per long video, different orders and lengths; ``--train-long`` from its train groups'
   clips, ``--test-long`` from its test groups' clips, each with its ``start,end,label`` CSV. With
   ``--action-clips 2`` (the default) there are as many distinct action clips as trimmed clips, each
   drawn about once on average (clips are drawn at random, so some twice, some never); with 1 each
   clip comes back about twice, in training and validation videos alike, which flatters validation and
   is further from a person's separate recordings.
3. A model trained on the trimmed clips (``lrcn train DATA``) labels the training long videos
   (``lrcn predict``): what a person would open in the review page. The truth stands in for their
   corrections (the scores of those predictions say how much there was to correct).
4. Models trained from the corrected long videos (``lrcn train ANNOTATED``), with the window
   classifier (``--no-both-readouts``) and with heads that label every step (``--per-step``:
   bidirectional; ``--causal``: unidirectional, for streams; ``--both-readouts``: the window's label
   and every step's from one LSTM, lrcn train's default on annotated long videos), an ensemble of
   ``--ensemble`` window classifiers (``lrcn train --ensemble K``: K heads from different initial
   weights, read as the mean of their probabilities), and one from the trimmed clips and the long
   videos together (the clips as videos annotated whole).
5. Each model of annotated videos (``long``, ``both-readouts``, ``both``) also read together with the
   trimmed-clip model of the same train seed (``lrcn test --with``: each its own window on the same steps, frames their
   geometric mean, decoded with the mean of their switch penalties): rows "..., with the trimmed-clip model".
6. Every model scored on the held-out long videos (``lrcn test ANNOTATED``): frame accuracy, edit
   and F1@{10,25,50} after decoding (predict's default decoder: viterbi with the switch penalty the
   model chose on its validation videos, or 8 for a model of trimmed clips), and window accuracy.
7. With ``--train-seeds``, every model is trained once per ``lrcn train --seed`` (its validation
   split, initial weights, shuffling and dropout) on the same data and scored on the same held-out
   videos, and each model's mean and range over those runs is printed: two runs of one head differ by
   several points, so a single run does not rank two close models. Runs already finished in the
   work folder are reused, so two processes with different ``--train-seeds`` can share the work (one
   core each) and a third gathers them.

MobileNetV2 with its ImageNet weights where installed (``lrcn weights install``); lrcn train's
defaults otherwise (four cached views, 30 epochs, validation by video, refit).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from lrcn import evaluate, predict, synth, train
from lrcn.config import window_frames
from lrcn.datasets import load_dataset


#: The rows the benchmark can train: key -> (name, lrcn train's settings beside the data's).
MODELS = {
    "trimmed": ("trimmed clips", {}),
    "long": ("long videos (window classifier)", {"both_readouts": False}),
    "per-step": ("long videos, per-step bidirectional", {"per_step": True}),
    "causal": ("long videos, per-step causal", {"causal": True}),
    "both-readouts": ("long videos, both readouts", {"both_readouts": True}),  # lrcn train's default on them
    "ensemble": ("long videos, ensemble of window classifiers", {"both_readouts": False}),  # --ensemble K of them
    "both": ("trimmed clips + long videos", {}),
}


def write_both(root: Path, data: Path, dataset, long_root: Path) -> None:
    """``root/annotations.csv``: the trimmed train clips annotated whole, and the long videos' rows."""
    from lrcn.annotations import parse_rows
    from lrcn.video import probe

    root.mkdir(parents=True, exist_ok=True)
    for name, target in (("clips", data), ("long", long_root)):
        if not (root / name).exists():
            os.symlink(target.resolve(), root / name)
    (root / "classes.txt").write_text((long_root / "classes.txt").read_text())
    lines = ["video,start,end,label,split,group"]
    for item in dataset.items:
        if item.split == "train":
            lines.append(f"clips/{item.path},0,{probe(data / item.path).duration:.3f},{dataset.classes[item.label]},"
                         f"train,clip-{item.group}")
    for csv in sorted(long_root.glob("*.csv")):
        rows, _ = parse_rows(csv)
        lines += [f"long/{csv.stem}.mp4,{r.start},{r.end},{r.label},{r.split},{csv.stem}" for r in rows]
    (root / "annotations.csv").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work-dir", default=None, help="keep data, cache and runs here (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--groups", type=int, default=15, help="groups per class of the trimmed clips (3 are test groups)")
    ap.add_argument("--views", default=None, help="cached training views, comma-separated (default: lrcn train's four)")
    ap.add_argument("--train-long", type=int, default=52, help="long videos to train from (52 x 3-8 actions: about "
                                                             "as many actions as the trimmed set has clips)")
    ap.add_argument("--test-long", type=int, default=10, help="held-out long videos to score on")
    ap.add_argument("--action-clips", type=int, default=2, help="clips per group and class that the long videos' "
                                                                 "actions are cut from: 2 (as the trimmed set) "
                                                                 "draws each clip about once on average; 1 about "
                                                                 "twice, across training and validation videos")
    ap.add_argument("--epochs", type=int, default=None, help="epochs of every model (default: lrcn train's)")
    ap.add_argument("--num-frames", type=int, default=None, help="window length of every model (default: lrcn "
                                                                  "train's for the data)")
    ap.add_argument("--models", default=",".join(MODELS), help=f"which rows, comma-separated ({', '.join(MODELS)})")
    ap.add_argument("--ensemble", type=int, default=5, help="heads of the ensemble row (lrcn train --ensemble K)")
    ap.add_argument("--workers", type=int, default=2, help="decoding processes")
    ap.add_argument("--train-seeds", default="0", help="lrcn train --seed of each run of every model, comma-separated "
                                                      "(several: each model's mean and range over them)")
    args = ap.parse_args()
    try:
        train_seeds = [int(x) for x in args.train_seeds.split(",")]
    except ValueError:
        ap.error(f"--train-seeds: comma-separated integers, got {args.train_seeds!r}")
    unknown = set(args.models.split(",")) - set(MODELS)
    if unknown:
        ap.error(f"--models: unknown {', '.join(sorted(unknown))}")
    tmp = None if args.work_dir else tempfile.TemporaryDirectory()
    work = Path(args.work_dir or tmp.name)
    t0 = time.perf_counter()
    data = synth.generate(synth.SynthConfig(str(work / f"order-{args.seed}"), preset="order", groups=args.groups,
                                            clips_per_group=2, min_seconds=3.0, max_seconds=9.0, seed=args.seed),
                          progress=False)
    dataset = load_dataset(data)
    # The long videos' actions: clips of 2-20 s of the same 12 classes (other backgrounds), each action one
    # whole clip; train groups for the training long videos, test groups for the held-out ones.
    actions = synth.generate(synth.SynthConfig(str(work / f"order-long-{args.seed}"), preset="order",
                                               groups=args.groups, clips_per_group=args.action_clips, min_seconds=2.0,
                                               max_seconds=20.0, seed=args.seed + 1), progress=False)
    action_set = load_dataset(actions)
    long_root = work / "annotated" / "long"
    train_long = synth.annotated_long_videos(actions, action_set, action_set.subset("train"), long_root,
                                             args.train_long, seed=args.seed, split="train", prefix="train")
    test_long = synth.annotated_long_videos(actions, action_set, action_set.subset("test"), long_root,
                                            args.test_long, seed=args.seed + 1000, split="test", prefix="test")
    ann = work / "annotated"
    (ann / "classes.txt").write_text((long_root / "classes.txt").read_text())  # the synthetic set's class order
    both = work / "both"
    write_both(both, data, dataset, long_root)
    made = time.perf_counter() - t0
    seconds = sum(rows[-1][1] for _, rows in train_long + test_long)
    print(f"data: {len(dataset.items)} trimmed clips of {len(dataset.classes)} classes; {len(train_long)} + "
          f"{len(test_long)} long videos ({seconds / 60:.1f} min, "
          f"{sum(len(r) for _, r in train_long + test_long)} actions of 2-20 s), made in {made:.0f} s")

    common = dict(backbone="mobilenet_v2", cache_dir=str(work / "cache"), num_workers=args.workers)
    if args.views:
        common["views"] = tuple(args.views.split(","))
    if args.epochs:
        common["epochs"] = args.epochs
    if args.num_frames:
        common["num_frames"] = args.num_frames
    roots = {"trimmed": data, "long": ann, "per-step": ann, "causal": ann, "both-readouts": ann, "ensemble": ann,
             "both": both}
    models = [(MODELS[key][0], roots[key], {**MODELS[key][1], **({"ensemble": args.ensemble} if key == "ensemble" else {})})
              for key in args.models.split(",")]
    rows, runs, trained_runs = [], {}, []
    key_of = {MODELS[key][0]: key for key in MODELS}
    for (name, root, overrides), train_seed in ((m, k) for m in models for k in train_seeds):
        t = time.perf_counter()
        frames = window_frames(args.num_frames, root != data)  # what lrcn train picks for the data
        tag = (name.replace(" ", "_") + ("" if root == data else f"-{args.train_long}") + f"-T{frames}"  # the run
               + (f"-K{overrides['ensemble']}" if overrides.get("ensemble", 1) > 1 else "")
               + (f"-s{train_seed}" if train_seed else ""))  # seed 0 keeps the tag of runs before --train-seeds
        run_dir = train.run(train.TrainConfig(str(root), run_dir=str(work / "runs" / tag), resume="auto",
                                              **{**common, **overrides, "seed": train_seed}), progress=False)
        trained_runs.append((key_of[name], train_seed, run_dir, tag, name))
        model = name
        if len(train_seeds) > 1:
            name = f"{name} [seed {train_seed}]"
        trained = time.perf_counter() - t
        runs[name] = run_dir
        report = evaluate.run(evaluate.EvalConfig(str(run_dir), str(ann), cache_dir=common["cache_dir"],
                                                  num_workers=args.workers, out_dir=str(work / "tests" / tag)),
                              progress=False)
        rows.append((name, report, trained, model))
        a = report["after_smoothing"]
        print(f"{name}: frames {a['frame_accuracy']:.1f} %, edit {a['edit']:.1f}, F1@50 {a['f1@50']:.1f} "
              f"(trained in {trained:.0f} s)", flush=True)
        if root == data and train_seed == train_seeds[0]:  # what a person reviewing the training long videos starts from
            corrections = []
            for video, truth in train_long[: min(6, len(train_long))]:
                (pred,), _ = predict.run(predict.PredictConfig(str(run_dir), (str(video),), str(work / "review"),
                                                               annotate=False, progress=False,
                                                               truth=str(video.with_suffix(".csv"))))
                corrections.append(pred["scores"]["after_smoothing"])
            n = len(corrections)
            print(f"the trimmed-clip model on {n} training long videos (what the review page shows a person): "
                  f"frames {sum(c['frame_accuracy'] for c in corrections) / n:.1f} %, "
                  f"{sum(c['predicted_segments'] for c in corrections)} segments for "
                  f"{sum(c['true_segments'] for c in corrections)} true ones; the truth stands in for the corrections")

    # Each model of annotated videos read together with the trimmed-clip model of the same train seed (lrcn
    # test --with: its own window on the same steps, frames the geometric mean, the mean of the two penalties).
    clips = {seed: run_dir for key, seed, run_dir, _, _ in trained_runs if key == "trimmed"}
    for key, seed, run_dir, tag, name in list(trained_runs):
        if key in ("long", "both-readouts", "both") and seed in clips:
            report = evaluate.run(evaluate.EvalConfig(str(run_dir), str(ann), cache_dir=common["cache_dir"],
                                                      num_workers=args.workers, with_model=str(clips[seed]),
                                                      out_dir=str(work / "tests" / f"{tag}-with-trimmed")),
                                  progress=False)
            together = {"long": "long videos, with the trimmed-clip model",
                        "both-readouts": "both readouts, with the trimmed-clip model",
                        "both": "clips + long videos, with the trimmed model"}[key]
            rows.append((together + (f" [seed {seed}]" if len(train_seeds) > 1 else ""), report, 0.0, together))
    print(f"\nheld-out long videos: {len(test_long)} ({sum(r[-1][1] for _, r in test_long) / 60:.1f} min), "
          f"scored after decoding (predict's defaults: viterbi with the model's own switch penalty, chosen on its "
          f"validation videos where it trained on annotated ones, else 8):")
    print(f"{'model':<46}{'frames':>8}{'edit':>7}{'F1@10':>7}{'F1@25':>7}{'F1@50':>7}{'before: frames':>16}"
          f"{'windows':>9}{'penalty':>9}{'train s':>9}")
    for name, r, secs, _ in rows:
        a, b = r["after_smoothing"], r["before_smoothing"]
        window = f"{r['window_accuracy']:.1%}" if r["window_accuracy"] is not None else "-"
        print(f"{name:<46}{a['frame_accuracy']:>7.1f}%{a['edit']:>7.1f}{a['f1@10']:>7.1f}{a['f1@25']:>7.1f}"
              f"{a['f1@50']:>7.1f}{b['frame_accuracy']:>15.1f}%{window:>9}{r['decoding']['switch_penalty']:>9g}"
              + (f"{secs:>9.0f}" if secs else f"{'-':>9}"))  # a reading of two trained models: no training
    print("\ntrue actions found (most of their frames right) by length in sampled frames, against the model's window:")
    for name, r, *_ in rows:
        print(f"{name:<46}" + "  ".join(f"{b['frames']:>6}: {b['found']:>3}/{b['actions']:<3}"
                                        for b in r["by_action_length"].values()))
    if len(train_seeds) > 1:
        print(f"\nover lrcn train --seed {args.train_seeds} (mean, and min-max, of the runs above):")
        print(f"{'model':<46}{'frames':>18}{'edit':>18}{'F1@50':>18}{'windows':>18}")
        for model in dict.fromkeys(m for *_, m in rows):
            reports = [r for *_, r, _, m in rows if m == model]
            cells = []
            for get in (lambda r: r["after_smoothing"]["frame_accuracy"], lambda r: r["after_smoothing"]["edit"],
                        lambda r: r["after_smoothing"]["f1@50"],
                        lambda r: 100 * r["window_accuracy"] if r["window_accuracy"] is not None else float("nan")):
                v = [get(r) for r in reports]
                cells.append(f"{sum(v) / len(v):.1f} ({min(v):.1f}-{max(v):.1f})")
            print(f"{model:<46}" + "".join(f"{c:>18}" for c in cells))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s (work folder {work})")


if __name__ == "__main__":
    main()
