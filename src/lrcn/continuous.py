"""``lrcn test-continuous``: the seed's "diverse human actions video" test.

Clips of randomly chosen test videos (each of a different action than the one
before it) are laid end to end -- the seed used one batch: 16 clips x 5
frames = 80 frames -- and a window of ``num_frames`` slides over the result.
A window's true label is the action holding most of its frames; a tie (even
windows) goes to the action that starts first. Since the CNN embeds frames
one at a time, the concatenated video's embeddings are the clips' cached
embeddings laid end to end: nothing is decoded or embedded again.

Reported: window accuracy; accuracy by how many frames of the window come
from its first action (the seed's analysis plot); for mixed windows, how often
the model names the first action vs the last one; and, as an action
segmentation, a label per frame (mean of the windows covering it, then the
decoder of ``lrcn predict``) scored by frame accuracy, segmental edit score and
F1@{10,25,50} before and after smoothing; all over ``--repeats`` random
concatenations with mean and standard deviation.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from . import clips as clipmath
from . import metrics, plots
from .checkpoint import resolve_checkpoint
from .decode import decode, frame_probabilities
from .embedded import Embedded, eval_start
from .errors import ConfigError
from .embedded import load_test_data
from .inference import Model
from .io import atomic_path, write_json_atomic
from .metrics import softmax
from .model import run_head
from .config import ContinuousConfig

log = logging.getLogger(__name__)


def choose_clips(labels: list[int], num_clips: int, rng: np.random.Generator) -> list[int]:
    """Indices of ``num_clips`` items, drawn at random, no two neighbours of the same action."""
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    if len(by_label) < 2:
        raise ConfigError("test-continuous needs test videos of at least 2 actions")
    chosen: list[int] = []
    for _ in range(num_clips):
        options = [c for c in by_label if not chosen or c != labels[chosen[-1]]]
        label = options[int(rng.integers(len(options)))]
        chosen.append(int(rng.choice(by_label[label])))
    return chosen


def analyse(frame_labels: list[int], predictions: np.ndarray, num_frames: int) -> dict:
    """Window accuracy, accuracy by first-action frames, and first-vs-last following for mixed windows."""
    starts = clipmath.sliding_windows(len(frame_labels), num_frames)
    truth = np.array([clipmath.majority_label(frame_labels[s : s + num_frames]) for s in starts])
    firsts = np.array([clipmath.frames_from_first_action(frame_labels[s : s + num_frames]) for s in starts])
    correct = predictions == truth
    by_first = {int(k): float(correct[firsts == k].mean()) for k in sorted(set(firsts.tolist()))}
    mixed = firsts < num_frames
    first_action = np.array([frame_labels[s] for s in starts])
    last_action = np.array([frame_labels[s + num_frames - 1] for s in starts])
    return {
        "window_accuracy": float(correct.mean()),
        "accuracy_by_frames_from_first_action": by_first,
        "mixed_windows": int(mixed.sum()),
        "mixed_follows_first": float((predictions[mixed] == first_action[mixed]).mean()) if mixed.any() else None,
        "mixed_follows_last": float((predictions[mixed] == last_action[mixed]).mean()) if mixed.any() else None,
        "truth": truth.tolist(),
        "predictions": predictions.tolist(),
    }


def one_concatenation(head, data: list[Embedded], chosen: list[int], num_frames: int, seed: int,
                      device: torch.device) -> tuple[list[int], np.ndarray, list[tuple[int, int]]]:
    """Frame labels, window probabilities, and (item, start) of each laid clip."""
    pieces, labels, parts = [], [], []
    for i in chosen:
        start = eval_start(data[i].item, data[i].length, num_frames, seed)
        pieces.append(np.asarray(data[i].embeddings[0, start : start + num_frames], np.float32))
        labels += [data[i].item.label] * num_frames
        parts.append((i, start))
    sequence = np.concatenate(pieces)  # (num_clips * num_frames, D)
    windows = np.stack([sequence[s : s + num_frames] for s in clipmath.sliding_windows(len(sequence), num_frames)])
    probs = softmax(run_head(head, windows, device))
    return labels, probs, parts


def run(cfg: ContinuousConfig, progress: bool = True) -> dict:
    model = Model(cfg.checkpoint, device=cfg.device, precision=cfg.precision, runtime=cfg.runtime)  # the inference core
    device = model.device
    t = load_test_data(model, cfg.data_dir,
                       cfg.ucf_list_dir, cfg.split, cfg.cache_dir, cfg.num_workers, progress)
    head, ckpt, dataset, spec, data, problems = t.head, t.ckpt, t.dataset, t.spec, t.data, t.problems
    classes = list(ckpt.class_names)
    num_frames, seed = ckpt.sampling.num_frames, ckpt.train.seed
    labels = [e.item.label for e in data]
    rng = np.random.default_rng(cfg.seed)
    runs = []
    first = None
    for r in range(cfg.repeats):
        chosen = choose_clips(labels, cfg.num_clips, rng)
        frame_labels, probs, parts = one_concatenation(head, data, chosen, num_frames, seed, device)
        result = analyse(frame_labels, metrics.predicted(probs), num_frames)
        frame_probs = frame_probabilities(probs, clipmath.sliding_windows(len(frame_labels), num_frames), num_frames,
                                          len(frame_labels))
        result["segmentation"] = {
            "before_smoothing": metrics.segmentation_scores(frame_labels, frame_probs.argmax(1).tolist()),
            "after_smoothing": metrics.segmentation_scores(
                frame_labels, decode(frame_probs, cfg.decoding, spec.fps).tolist()),
        }
        result["clips"] = [{"video": data[i].item.path, "label": classes[data[i].item.label], "start": s}
                           for i, s in parts]
        runs.append(result)
        if first is None:
            first = (frame_labels, probs, parts)

    acc = np.array([r["window_accuracy"] for r in runs])
    ks = sorted({k for r in runs for k in r["accuracy_by_frames_from_first_action"]})
    by_k = {k: [r["accuracy_by_frames_from_first_action"][k] for r in runs
                if k in r["accuracy_by_frames_from_first_action"]] for k in ks}
    follows_first = [r["mixed_follows_first"] for r in runs if r["mixed_follows_first"] is not None]
    follows_last = [r["mixed_follows_last"] for r in runs if r["mixed_follows_last"] is not None]
    out = Path(cfg.out_dir) if cfg.out_dir else resolve_checkpoint(cfg.checkpoint).resolve().parent.parent / "test_continuous"
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "checkpoint": str(resolve_checkpoint(cfg.checkpoint)), "num_clips": cfg.num_clips, "frames": cfg.num_clips * num_frames,
        "windows_per_video": cfg.num_clips * num_frames - num_frames + 1, "repeats": cfg.repeats,
        "tie_rule": "majority of frames; a tie goes to the action that starts first in the window",
        "window_accuracy_mean": float(acc.mean()), "window_accuracy_std": float(acc.std()),
        "accuracy_by_frames_from_first_action": {
            str(k): {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in by_k.items()},
        "mixed_follows_first_mean": float(np.mean(follows_first)) if follows_first else None,
        "mixed_follows_last_mean": float(np.mean(follows_last)) if follows_last else None,
        "decoding": cfg.decoding.__dict__,
        "segmentation": {when: {key: float(np.mean([r["segmentation"][when][key] for r in runs]))
                                for key in runs[0]["segmentation"][when]}
                         for when in ("before_smoothing", "after_smoothing")},
        "left_out": problems,
        "runs": [{k: v for k, v in r.items()} for r in runs],
    }
    frame_labels, probs, parts = first
    truth = runs[0]["truth"]
    report["plots"] = [
        plots.accuracy_by_first_action_frames(ks, [float(np.mean(by_k[k])) for k in ks],
                                              [float(np.std(by_k[k])) for k in ks],
                                              out / "analysis_of_predicted_labels_in_sliding_window.png"),
        plots.windows_along_video(truth, runs[0]["predictions"], classes,
                                  out / "change_in_accuracy_with_the_movment_of_sliding_window.png",
                                  f"Sliding window over {cfg.num_clips} clips (accuracy {runs[0]['window_accuracy']:.1%})"),
    ]
    if cfg.annotate:
        report["videos"] = annotated_videos(dataset, data, parts, frame_labels, probs, classes, num_frames, spec, out)
    write_json_atomic(out / "report.json", report)
    report["report"] = str(out / "report.json")
    return report


def annotated_videos(dataset, data, parts, frame_labels, probs, classes, num_frames, spec, out: Path) -> list[str]:
    """The seed's Video_with_prediction_vs_true_labels: each frame with its true and predicted label.

    A frame shows the prediction of the window that ends on it (for the first
    frames, the first window).
    """
    from .annotate import GREEN, RED, WHITE, label_image, paste_rgb
    from .features import decode_sampled
    from .steps import make_views
    from .video import write_video

    frames = []
    for i, start in parts:
        clip = make_views(decode_sampled(dataset.root / data[i].item.path, spec), ("center",))[0]
        frames += list(clip[start : start + num_frames])
    predicted = metrics.predicted(probs)
    drawn = []
    for f, rgb in enumerate(frames):
        w = min(max(f - num_frames + 1, 0), len(predicted) - 1)
        ok = predicted[w] == frame_labels[f]
        drawn.append(paste_rgb(rgb, label_image([(f"true: {classes[frame_labels[f]]}", WHITE),
                                                 (f"pred: {classes[predicted[w]]} {probs[w, predicted[w]]:.0%}",
                                                  GREEN if ok else RED)], width=rgb.shape[1])))
    paths = []
    for name, codec in (("Video_with_prediction_vs_true_labels.mp4", "libx264"),
                        ("Video_with_prediction_vs_true_labels.gif", "gif")):
        with atomic_path(out / name) as tmp:
            write_video(tmp, drawn, spec.fps, codec=codec, quality=18)
        paths.append(str(out / name))
    return paths
