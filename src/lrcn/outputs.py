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
    """The segments as CSV lines ``start,end,label,confidence`` under a header."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["start", "end", "label", "confidence", "top"])
    w.writerows([[s.start, s.end, s.label, f"{s.confidence:.4f}", top_text(s)] for s in segments])
    return buf.getvalue()


def srt(segments: list[Segment]) -> str:
    def stamp(t: float) -> str:
        ms = int(round(t * 1000))
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    def also(s: Segment) -> str:
        rest = [f"{name} {p:.0%}" for name, p in s.top if name != s.label][:2]
        return f"\n(or {', '.join(rest)})" if rest else ""

    return "".join(f"{k}\n{stamp(s.start)} --> {stamp(s.end)}\n{s.label} ({s.confidence:.0%}){also(s)}\n\n"
                   for k, s in enumerate(segments, start=1))
