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
    """A truth file: CSV lines ``start,end,label`` in seconds (a header line is allowed)."""
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the truth file ({exc.strerror or exc})") from None
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        try:
            start, end, label = float(row[0]), float(row[1]), row[2].strip()
        except (ValueError, IndexError):
            if n == 1:
                continue  # a header
            raise ConfigError(f"{path}:{n}: expected start,end,label (seconds), got {','.join(row)!r}") from None
        if not (0 <= start < end) or not label:
            raise ConfigError(f"{path}:{n}: need 0 <= start < end and a label, got {','.join(row)!r}")
        rows.append((start, end, label))
    if not rows:
        raise ConfigError(f"{path}: no segments (expected CSV lines start,end,label)")
    return rows


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
