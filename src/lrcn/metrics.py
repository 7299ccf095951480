"""Metrics: pure functions over label and score arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from .config import Decoding


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predicted(scores: np.ndarray) -> np.ndarray:
    """The top class of each row; -1 (never a class, so never correct) where a row is not finite."""
    scores = np.asarray(scores)
    top = scores.argmax(axis=-1)
    return np.where(np.isfinite(scores).all(axis=-1), top, -1)


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float((labels == predictions).mean()) if labels.size else float("nan")


def top_k_accuracy(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``(C, C)``: row = true class, column = predicted class. A sample with no prediction
    (-1, see :func:`predicted`) is in no cell: pass the class totals to :func:`per_class_accuracy`."""
    labels, predictions = np.asarray(labels, int), np.asarray(predictions, int)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    keep = predictions >= 0
    np.add.at(cm, (labels[keep], predictions[keep]), 1)
    return cm


def normalise_rows(cm: np.ndarray) -> np.ndarray:
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, float), where=totals > 0)


def per_class_accuracy(cm: np.ndarray, totals: np.ndarray | None = None) -> np.ndarray:
    """Recall of each class; NaN for a class with no test sample. ``totals``: samples per class
    (default: the row sums, which leave out samples with no prediction)."""
    totals = cm.sum(axis=1) if totals is None else np.asarray(totals)
    return np.divide(np.diag(cm), totals, out=np.full(len(cm), np.nan), where=totals > 0)


def mean_class_accuracy(cm: np.ndarray, totals: np.ndarray | None = None) -> float:
    acc = per_class_accuracy(cm, totals)
    return float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan")


def group_mean(keys: list, scores: np.ndarray) -> tuple[list, np.ndarray]:
    """Average rows of ``scores`` that share a key (e.g. the windows of one video)."""
    order: dict = {}
    for k in keys:
        order.setdefault(k, len(order))
    sums = np.zeros((len(order), scores.shape[1]))
    counts = np.zeros(len(order))
    for k, row in zip(keys, scores):
        sums[order[k]] += row
        counts[order[k]] += 1
    return list(order), sums / counts[:, None]


def low_frequency_classes(train_counts: np.ndarray, fraction: float = 0.9) -> np.ndarray:
    """Classes whose train frequency is below ``fraction`` of the mean (the seed's red bars)."""
    counts = np.asarray(train_counts, float)
    return counts < fraction * counts.mean()


# --- action segmentation (per-frame labels of a long video), as in MS-TCN -----------------------

def _runs(labels) -> list[tuple[object, int, int]]:
    from .decode import runs

    return runs(list(labels))


def frame_accuracy(truth, predicted) -> float:
    """Fraction of frames whose predicted label is the true one (NaN never counts as correct)."""
    return accuracy(np.asarray(truth), np.asarray(predicted))


def edit_score(truth, predicted) -> float:
    """Segmental edit score, 0-100: ``(1 - Levenshtein(runs) / max(#runs)) * 100`` over the
    sequences of segment labels (over-segmentation costs, boundary positions do not)."""
    a = [label for label, _, _ in _runs(truth)]
    b = [label for label, _, _ in _runs(predicted)]
    if not a and not b:
        return 100.0
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            cur = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, row[j] = row[j], cur
    return (1.0 - row[-1] / max(len(a), len(b))) * 100.0


def f1_at(truth, predicted, overlap: float) -> float:
    """Segmental F1 at IoU threshold ``overlap`` (0-100), MS-TCN's F1@k.

    Each predicted segment is matched to the true segment of the same label with
    the highest IoU; it is a true positive if that IoU reaches ``overlap`` and the
    true segment was not matched before, else a false positive. Unmatched true
    segments are false negatives.
    """
    gt, pr = _runs(truth), _runs(predicted)
    matched = [False] * len(gt)
    tp = fp = 0
    for label, s, e in pr:
        best, best_iou = -1, 0.0
        for k, (gl, gs, ge) in enumerate(gt):
            if gl != label:
                continue
            inter = max(0, min(e, ge) - max(s, gs))
            iou = inter / (max(e, ge) - min(s, gs))
            if iou > best_iou:
                best, best_iou = k, iou
        if best >= 0 and best_iou >= overlap and not matched[best]:
            tp += 1
            matched[best] = True
        else:
            fp += 1
    fn = len(gt) - sum(matched)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 0.0 if precision + recall == 0 else 200.0 * precision * recall / (precision + recall)


def segmentation_scores(truth, predicted) -> dict:
    """Frame accuracy (%), edit score, F1@{10,25,50}, and the segment counts."""
    return {
        "frame_accuracy": 100.0 * frame_accuracy(truth, predicted),
        "edit": edit_score(truth, predicted),
        "f1@10": f1_at(truth, predicted, 0.10),
        "f1@25": f1_at(truth, predicted, 0.25),
        "f1@50": f1_at(truth, predicted, 0.50),
        "true_segments": len(_runs(truth)),
        "predicted_segments": len(_runs(predicted)),
    }


#: The bins of :func:`by_action_length`: a true action's length in sampled frames against the window.
ACTION_LENGTHS = ("under half a window", "half to one window", "a window or longer")


def by_action_length(truth, predicted, num_frames: int) -> dict:
    """How the true actions fare by their length against the window of ``num_frames``:
    ``{bin: {"frames": "a-b", "actions", "found", "frames_scored", "frames_right"}}`` over the maximal runs of
    one class in ``truth`` (-1: unlabelled, not an action). An action is found when most of its frames
    are predicted right. Bins (:data:`ACTION_LENGTHS`): less than half a window (never a window's
    majority: a window classifier cannot label it), from half to less than one, at least one."""
    from .annotations import longest_never_majority

    short = longest_never_majority(num_frames)
    bounds = ((1, short), (short + 1, num_frames - 1), (num_frames, None))
    out = {name: {"frames": f"{lo}+" if hi is None else f"{lo}-{hi}" if hi >= lo else "none", "actions": 0, "found": 0,
                  "frames_scored": 0, "frames_right": 0}
           for name, (lo, hi) in zip(ACTION_LENGTHS, bounds)}
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    for label, start, end in _runs(truth.tolist()):
        if label < 0:
            continue
        n = end - start
        name = next(name for name, (lo, hi) in zip(ACTION_LENGTHS, bounds) if lo <= n and (hi is None or n <= hi))
        right = int((predicted[start:end] == label).sum())
        b = out[name]
        b["actions"] += 1
        b["found"] += 2 * right > n
        b["frames_scored"] += n
        b["frames_right"] += right
    return out


def pooled_by_action_length(per_video: Sequence[dict]) -> dict:
    """:func:`by_action_length` of several videos as one, with each bin's ``frame_accuracy`` (%, None when empty)."""
    out = {}
    for name in ACTION_LENGTHS:
        bins = [v[name] for v in per_video]
        total = {k: sum(b[k] for b in bins) for k in ("actions", "found", "frames_scored", "frames_right")}
        out[name] = {"frames": bins[0]["frames"] if bins else "", **total,
                     "frame_accuracy": 100.0 * total["frames_right"] / total["frames_scored"]
                     if total["frames_scored"] else None}
    return out


def pooled_segmentation(per_video: Sequence[dict], frames: Sequence[int]) -> dict:
    """Scores of several videos as one (as ``lrcn test`` reports them and action-segmentation papers
    do): frame accuracy over all their frames, edit and F1@{10,25,50} the mean over videos.

    Args:
        per_video: each video's :func:`segmentation_scores`.
        frames: each video's number of scored frames.
    """
    total = sum(frames)
    return {"frame_accuracy": float(sum(v["frame_accuracy"] * n for v, n in zip(per_video, frames)) / max(1, total)),
            **{m: float(np.mean([v[m] for v in per_video])) for m in ("edit", "f1@10", "f1@25", "f1@50")}}


def choose_switch_penalty(videos: Sequence[tuple[np.ndarray, np.ndarray]], decoding: Decoding, fps: float,
                          grid: Sequence[float] | None = None) -> dict:
    """The viterbi switch penalty that segments held-out annotated videos best.

    Args:
        videos: per video, its frame probabilities ``(N, C)`` and each frame's true class ``(N,)``
            (-1: unlabelled, not scored).
        decoding: the other decoding settings (``min_seconds``).
        fps: sampled frames per second.
        grid: the penalties tried (default: :data:`lrcn.config.SWITCH_PENALTY_GRID`).

    Each penalty is scored by the mean of frame accuracy, edit score and F1@50 (frame accuracy over all
    scored frames, edit and F1 averaged over videos, as ``lrcn test`` reports them). Several penalties
    tied at the best score (a plateau: the decoded labels often do not change over a range) give the
    middle one of the plateau, away from both of its edges.

    Returns:
        ``{"switch_penalty", "score", "videos", "frames", "scores": {penalty: score}}``.
    """
    from .decode import viterbi

    from .config import SWITCH_PENALTY_GRID

    labelled = [(probs, np.asarray(truth) >= 0, np.asarray(truth)) for probs, truth in videos]
    labelled = [(probs, scored, truth[scored]) for probs, scored, truth in labelled if scored.any()]
    if not labelled:
        raise ValueError("no annotated frame to choose a switch penalty on")
    frames = [int(scored.sum()) for _, scored, _ in labelled]
    scores = {}
    for penalty in grid or SWITCH_PENALTY_GRID:
        pooled = pooled_segmentation([segmentation_scores(truth, viterbi(probs, penalty, decoding.frames(fps))[scored])
                                      for probs, scored, truth in labelled], frames)
        scores[float(penalty)] = round((pooled["frame_accuracy"] + pooled["edit"] + pooled["f1@50"]) / 3, 6)
    best = max(scores.values())
    tied = [p for p, v in scores.items() if v >= best - 1e-9]
    return {"switch_penalty": tied[(len(tied) - 1) // 2], "score": best, "videos": len(labelled),
            "frames": sum(frames), "scores": {f"{p:g}": v for p, v in scores.items()}}
