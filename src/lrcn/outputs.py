"""What a person reads of a prediction: segments as CSV and SRT, and a truth file to score it against."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np


from . import metrics
from .decode import Segment
from .errors import ConfigError


def top_text(s: Segment) -> str:
    """``label probability; ...`` of the segment's top-k (the CSV's ``top`` column)."""
    return "; ".join(f"{name} {p:.4f}" for name, p in s.top)


def read_truth(path: str | Path) -> list[tuple[float, float, str]]:
    """A truth file: CSV lines ``start,end,label`` in seconds (a header line is allowed): the annotation
    format (:func:`lrcn.annotations.parse_rows`); its first problem is the error."""
    from .annotations import parse_rows

    rows, problems = parse_rows(path)
    if problems:
        raise ConfigError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return [(r.start, r.end, r.label) for r in rows]


def match_truth(truth: list[tuple[float, float, str]], classes: list[str], path: str | Path,
                unknown: str = "error") -> list[tuple[float, float, str]]:
    """The truth's labels as the model's classes: exact, else the one class equal but for case (a warning);
    a label matching none is an error listing the classes (``unknown="ignore"``: its rows are left out,
    with a warning)."""
    import logging

    log = logging.getLogger(__name__)
    by_case = {}
    for c in classes:
        by_case.setdefault(c.casefold(), []).append(c)
    out, recased, missing = [], {}, {}
    for start, end, label in truth:
        if label in classes:
            out.append((start, end, label))
        elif len(by_case.get(label.casefold(), [])) == 1:
            recased[label] = by_case[label.casefold()][0]
            out.append((start, end, recased[label]))
        else:
            missing[label] = missing.get(label, 0) + 1
    for given, name in recased.items():
        log.warning("%s: truth label %r taken as the class %r (another case)", path, given, name)
    if missing:
        listed = ", ".join(repr(m) for m in missing)
        if unknown != "ignore":
            shown = ", ".join(classes[:20]) + (f", ... ({len(classes)} in all)" if len(classes) > 20 else "")
            raise ConfigError(f"{path}: truth label{'s' if len(missing) > 1 else ''} {listed} not among the model's "
                              f"classes ({shown}); fix the file, or --truth-unknown ignore leaves that time out")
        log.warning("%s: %d segment(s) with labels the model does not know (%s) left out of the scores", path,
                    sum(missing.values()), listed)
    if not out:
        raise ConfigError(f"{path}: no segment with a label of the model's classes")
    return out


def truth_at(truth: list[tuple[float, float, str]], times: np.ndarray) -> list[str | None]:
    """The true label at each time (``None`` where no truth segment covers it)."""
    out: list[str | None] = []
    for t in times:
        label = None
        for start, end, name in truth:
            if start <= t < end:
                label = name
                break
        out.append(label)
    return out


def score_against_truth(truth_labels: list[str | None], raw: list[str], decoded: list[str]) -> dict:
    """Segmentation scores before and after decoding, over the frames the truth covers."""
    keep = [i for i, t in enumerate(truth_labels) if t is not None]
    t = [truth_labels[i] for i in keep]
    return {"frames_scored": len(keep),
            "before_smoothing": metrics.segmentation_scores(t, [raw[i] for i in keep]),
            "after_smoothing": metrics.segmentation_scores(t, [decoded[i] for i in keep])}


def segments_csv(segments: list[Segment]) -> str:
    """The segments as CSV lines ``start,end,label,confidence,top,unfamiliar`` under a header
    (``unfamiliar``: yes/no, empty where not measured)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["start", "end", "label", "confidence", "top", "unfamiliar"])
    w.writerows([[s.start, s.end, s.label, f"{s.confidence:.4f}", top_text(s),
                  "" if s.unfamiliar is None else ("yes" if s.unfamiliar else "no")] for s in segments])
    return buf.getvalue()


def srt(segments: list[Segment]) -> str:
    def stamp(t: float) -> str:
        ms = int(round(t * 1000))
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    def also(s: Segment) -> str:
        rest = [f"{name} {p:.0%}" for name, p in s.top if name != s.label][:2]
        warn = "\n[unlike the training data]" if s.unfamiliar else ""
        return (f"\n(or {', '.join(rest)})" if rest else "") + warn

    return "".join(f"{k}\n{stamp(s.start)} --> {stamp(s.end)}\n{s.label} ({s.confidence:.0%}){also(s)}\n\n"
                   for k, s in enumerate(segments, start=1))


def prediction_dict(pred, truth: list[tuple[float, float, str]] | None = None, onnx: str | None = None) -> dict:
    """``predictions.json`` of a :class:`lrcn.inference.Prediction` (with ``truth``: its scores too)."""
    classes, times = list(pred.classes), np.asarray(pred.times, float)
    count, step, window = len(times), 1.0 / pred.fps, pred.window
    last = times[-1] + step if pred.duration is None else min(times[-1] + step, pred.duration)
    k = min(pred.top_k, len(classes))
    top = np.argsort(-pred.window_probs, axis=1)[:, :k]

    def window_end(s: int) -> float:
        return float(times[s + window]) if s + window < count else float(last)

    windows = [{"start": round(float(times[s]), 3), "end": round(window_end(s), 3),
                "top": [{"label": classes[c], "probability": float(p[c])} for c in row]}
               for s, p, row in zip(pred.window_starts, pred.window_probs, top)]
    index = {c: i for i, c in enumerate(classes)}
    frames = [{"time": round(float(t), 3), "label": name, "probability": float(p[index[name]])}
              for t, name, p in zip(times, pred.labels, pred.frame_probs)]
    if pred.unfamiliarity is not None:
        for f, u in zip(frames, pred.unfamiliarity):
            f["unfamiliarity"] = round(float(u), 3)
    result = {"video": pred.video, "model": pred.model, "classes": classes, "onnx_export": onnx, "mode": pred.mode,
              "fps": pred.fps,
              "num_frames": window, "sampled_frames": count, "decoding": dict(pred.decoding),
              "label_time": "each sampled frame's own time; its probabilities are the mean over the windows "
                            "containing it",
              "windows": windows, "frames": frames, "segments": [s.to_dict() for s in pred.segments],
              "familiarity": pred.familiarity}
    if truth:
        truth_labels = truth_at(truth, times)
        raw = [classes[c] for c in np.asarray(pred.frame_probs).argmax(1)]
        result["truth"] = [{"start": s, "end": e, "label": name} for s, e, name in truth]
        result["scores"] = score_against_truth(truth_labels, raw, list(pred.labels))
    return result


def write_prediction(pred, out: str | Path, truth: list[tuple[float, float, str]] | None = None,
                     annotate: bool = False, annotate_size: int | None = 720, onnx: str | None = None) -> dict:
    """The files ``lrcn predict`` writes for one video into ``out``: ``predictions.json``, ``segments.csv``,
    ``<video>.srt``, ``timeline.png`` and (``annotate``) ``<video>_annotated.mp4``. Returns the JSON's dict."""
    from . import plots
    from .io import write_json_atomic, write_text_atomic

    from .io import fit_name

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(pred.video).stem
    result = prediction_dict(pred, truth, onnx)
    write_json_atomic(out / "predictions.json", result)
    write_text_atomic(out / "segments.csv", segments_csv(pred.segments))
    write_text_atomic(out / fit_name(f"{stem}.srt", pred.video, ".srt"), srt(pred.segments))
    index = {c: i for i, c in enumerate(pred.classes)}
    truth_labels = truth_at(truth, np.asarray(pred.times, float)) if truth else None
    plots.timeline(pred.times, pred.frame_probs, list(pred.classes), out / "timeline.png", Path(pred.video).name,
                   decoded=[index[name] for name in pred.labels], truth=truth_labels,
                   scores=result.get("scores", {}).get("after_smoothing"))
    if annotate:
        from .annotate import annotate_video

        label_prob = [float(p[index[name]]) for name, p in zip(pred.labels, pred.frame_probs)]
        annotate_video(Path(pred.video), pred.segments, out / fit_name(f"{stem}_annotated.mp4", pred.video, "_annotated.mp4"),
                       annotate_size, times=pred.times, confidence=label_prob)
    return result
