"""``lrcn test``: the seed's basic test mode, measured the way a reviewer would.

Needs only a checkpoint and the data. Reports clip accuracy (one fixed clip
per test video: the seed's number), video accuracy (softmax scores averaged
over every window of every clip of a video), top-5, mean class accuracy, a
normalised confusion matrix and per-class accuracy with the classes rare in
training marked red, all in ``report.json``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from . import metrics, plots
from .config import EvalConfig
from .checkpoint import resolve_checkpoint
from .decode import decode
from .embedded import eval_windows, load_test_data, predict_windows, video_probabilities
from .errors import ConfigError
from .inference import Model
from .io import write_json_atomic

log = logging.getLogger(__name__)


def run(cfg: EvalConfig, progress: bool = True) -> dict:
    """Evaluate on the test list; writes plots and report.json, returns the report."""
    model = Model(cfg.checkpoint, device=cfg.device, precision=cfg.precision, runtime=cfg.runtime)  # the inference core
    device = model.device
    t = load_test_data(model, cfg.data_dir,
                       cfg.ucf_list_dir, cfg.split, cfg.cache_dir, cfg.num_workers, progress)
    head, ckpt, data, problems = t.head, t.ckpt, t.data, t.problems
    out_dir = Path(cfg.out_dir) if cfg.out_dir else resolve_checkpoint(cfg.checkpoint).resolve().parent.parent / "test"
    if cfg.with_model and t.dataset.kind != "annotated":
        raise ConfigError(f"--with reads annotated long videos together with a second model; {cfg.data_dir} holds "
                          f"trimmed clips (lrcn test scores one model on them)")
    if t.dataset.kind == "annotated":
        partner = None
        if cfg.with_model:
            partner = Model(cfg.with_model, device=cfg.device, precision=cfg.precision, runtime=cfg.runtime)
            model.check_partner(partner)
        return segmentation_report(cfg, t, device, out_dir, partner)
    classes = list(ckpt.class_names)
    num_frames, seed = ckpt.sampling.num_frames, ckpt.train.seed
    shuffle = ckpt.train.shuffle_frames if cfg.shuffle_frames is None else cfg.shuffle_frames

    # Clip accuracy: one fixed clip per item (for pre-processed data: the clip itself).
    idx, _, logits = predict_windows(head, eval_windows(data, num_frames, seed, shuffle_frames=shuffle), device)
    labels = np.array([data[i].item.label for i in idx])
    probs = metrics.softmax(logits)
    # Video accuracy: every window of every clip of a video, softmax scores averaged.
    widx, wstarts, wlogits = predict_windows(
        head, eval_windows(data, num_frames, seed, all_windows=True, shuffle_frames=shuffle), device)
    videos, video_probs = metrics.group_mean([data[i].item.video_id for i in widx], metrics.softmax(wlogits))
    label_of = {e.item.video_id: e.item.label for e in data}
    position = {v: k for k, v in enumerate(videos)}
    windows_per_video = np.bincount([position[data[i].item.video_id] for i in widx], minlength=len(videos))
    video_labels = np.array([label_of[v] for v in videos])

    n = len(classes)

    def named(p: int) -> str | None:  # -1: no prediction (a non-finite row), never a class by wrap-around
        return classes[p] if p >= 0 else None

    predictions = metrics.predicted(probs)  # a non-finite row is never counted correct
    video_predictions = metrics.predicted(video_probs)
    cm = metrics.confusion_matrix(labels, predictions, n)
    totals = np.bincount(labels, minlength=n)
    train_counts = np.array(ckpt.train_class_counts or [0] * n)
    low = metrics.low_frequency_classes(train_counts) if train_counts.sum() else np.zeros(n, bool)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_class = metrics.per_class_accuracy(cm, totals)
    report = {
        "checkpoint": str(resolve_checkpoint(cfg.checkpoint)),
        "data_dir": str(cfg.data_dir),
        "test_videos": len(video_labels),
        "test_clips": int(len(labels)),
        "windows": int(len(widx)),
        "clip_accuracy": metrics.accuracy(labels, predictions),
        "clip_top5_accuracy": metrics.top_k_accuracy(labels, probs, 5),
        "video_accuracy": metrics.accuracy(video_labels, video_predictions),
        "video_top5_accuracy": metrics.top_k_accuracy(video_labels, video_probs, 5),
        "mean_class_accuracy": metrics.mean_class_accuracy(cm, totals),
        "shuffled_frames": bool(shuffle),
        "per_class": {c: {"accuracy": None if np.isnan(a) else float(a), "train_count": int(t), "low_frequency": bool(lo)}
                      for c, a, t, lo in zip(classes, per_class, train_counts, low)},
        "confusion_matrix": cm.tolist(),
        "video_confusion_matrix": metrics.confusion_matrix(video_labels, video_predictions, n).tolist(),
        "videos": [{"video": v, "label": classes[y], "predicted": named(p), "confidence": float(ps.max()),
                    "windows": int(c)}
                   for v, y, p, ps, c in zip(videos, video_labels, video_predictions, video_probs, windows_per_video)],
        "left_out": problems,
        "clips": [{"video": data[i].item.path, "label": classes[data[i].item.label], "predicted": named(p),
                   "confidence": float(probs[k, p]) if p >= 0 else None}
                  for k, (i, p) in enumerate(zip(idx, predictions))],
    }
    report["plots"] = [
        plots.confusion(metrics.normalise_rows(cm), classes, out_dir / "Normalized_confusion_matrix.png",
                        f"Normalised confusion matrix (clip accuracy {report['clip_accuracy']:.1%})"),
        plots.per_class_accuracy(per_class, classes, low, out_dir / "The_accuracy_score_for_each_class.png"),
    ]
    write_json_atomic(out_dir / "report.json", report)
    report["report"] = str(out_dir / "report.json")
    return report


def segmentation_report(cfg: EvalConfig, t, device, out_dir: Path, partner: Model | None = None) -> dict:
    """``lrcn test`` on annotated long videos: each test video labelled as ``lrcn predict`` labels one
    (every window, frame probabilities, ``cfg.decoding`` with the model's own switch penalty) and scored
    against its annotation over the annotated sampled frames: frame accuracy, edit score and
    F1@{10,25,50}, before and after decoding, per video and overall (frame accuracy over all frames;
    edit and F1 the mean over videos, as action-segmentation papers report them), window accuracy
    (majority labels), a confusion matrix over frames and each video's timeline with its truth band.
    ``partner`` (``--with``): a second model reads the same embedded steps with its own window and each
    frame is the two readings' agreement, decoded with the mean of their penalties, as ``predict --with``
    does (a video shorter than its window is read by the first model alone, and listed)."""
    from .decode import agreement, joint_switch_penalty

    ckpt, data = t.ckpt, t.data
    decoding = cfg.decoding.resolved(ckpt.switch_penalty)  # the model's own penalty unless one is given
    if partner is not None and cfg.decoding.switch_penalty is None:
        decoding = dataclasses.replace(decoding, switch_penalty=joint_switch_penalty(
            [decoding.switch_penalty, partner.decoding(cfg.decoding).switch_penalty]))
    alone = []
    classes, n = list(ckpt.class_names), len(ckpt.class_names)
    num_frames, fps = ckpt.sampling.num_frames, t.spec.fps
    (out_dir / "timelines").mkdir(parents=True, exist_ok=True)
    videos, truth_all, decoded_all, window_true, window_pred = [], [], [], [], []
    for e in data:
        starts, probs, frame_probs = video_probabilities(t.head, e, num_frames, device)
        if partner is not None and e.length >= partner.window:
            frame_probs = agreement([frame_probs, video_probabilities(partner.head, e, partner.window, device)[2]])
        elif partner is not None:
            alone.append(e.item.path)
        decoded = decode(frame_probs, decoding, fps)
        scored = e.steps >= 0
        truth = e.steps[scored]
        before = metrics.segmentation_scores(truth, frame_probs.argmax(1)[scored])
        after = metrics.segmentation_scores(truth, decoded[scored])
        labelled = e.windows[starts] >= 0
        window_true += e.windows[starts][labelled].tolist()
        window_pred += metrics.predicted(probs[labelled]).tolist()
        truth_all.append(truth)
        decoded_all.append(decoded[scored])
        name = e.item.path.replace("/", "_")
        plot = plots.timeline(np.arange(e.length) / fps, frame_probs, classes,
                              out_dir / "timelines" / f"{Path(name).stem}.png", e.item.path, decoded=decoded,
                              truth=[classes[c] if c >= 0 else None for c in e.steps], scores=after)
        videos.append({"video": e.item.path, "frames_scored": int(scored.sum()), "before_smoothing": before,
                       "after_smoothing": after, "timeline": plot,
                       "by_action_length": metrics.by_action_length(e.steps, decoded, num_frames)})
    if not videos:
        raise ConfigError(f"{cfg.data_dir}: no test video could be scored ({t.problems[:1]})")
    truth_cat, decoded_cat = np.concatenate(truth_all), np.concatenate(decoded_all)

    def overall(key: str) -> dict:
        return metrics.pooled_segmentation([v[key] for v in videos], [v["frames_scored"] for v in videos])

    cm = metrics.confusion_matrix(truth_cat, decoded_cat, n)
    report = {
        "checkpoint": str(resolve_checkpoint(cfg.checkpoint)),
        "with": str(partner.checkpoint) if partner is not None else None,
        "read_alone": alone,  # --with: videos shorter than the second model's window, read by the first alone
        "data_dir": str(cfg.data_dir),
        "kind": "annotated",
        "decoding": dataclasses.asdict(decoding),
        "test_videos": len(videos),
        "frames_scored": int(len(truth_cat)),
        "before_smoothing": overall("before_smoothing"),
        "after_smoothing": overall("after_smoothing"),
        # short actions are where a window classifier fails first: how each length fared, after decoding
        "by_action_length": metrics.pooled_by_action_length([v["by_action_length"] for v in videos]),
        "window_accuracy": metrics.accuracy(np.array(window_true), np.array(window_pred)) if window_true else None,
        "windows": len(window_true),
        "frame_confusion_matrix": cm.tolist(),
        "videos": videos,
        "left_out": t.problems,
    }
    a = report["after_smoothing"]
    report["plots"] = [plots.confusion(metrics.normalise_rows(cm), classes, out_dir / "Frame_confusion_matrix.png",
                                       f"Frames after decoding (accuracy {a['frame_accuracy']:.1f} %, edit "
                                       f"{a['edit']:.0f}, F1@50 {a['f1@50']:.0f})")]
    write_json_atomic(out_dir / "report.json", report)
    report["report"] = str(out_dir / "report.json")
    return report
