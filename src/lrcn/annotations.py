"""Long videos with time-stamped actions as a dataset: reading the annotations, checking them, and
labelling each sampled frame and each window from them.

An annotated dataset is a folder of videos and, either, one CSV beside each video (``walk.mp4`` and
``walk.csv``) or one ``annotations.csv`` at the top. A row is ``start,end,label`` in seconds --
the format ``lrcn predict --truth`` reads and the review page downloads; ``annotations.csv`` has a
header and a ``video`` column (path relative to the folder), and may have ``split`` (train/test)
and ``group`` columns. Classes are the labels (sorted), or the lines of ``classes.txt`` in that
order. Time no row covers is left out of training and scoring, or is the class ``--background``.

A window's label is the seed's majority rule over its frames (ties: the label nearest its
centre); a window whose frames are mostly unlabelled is not drawn. Windows across a boundary are
kept: they teach the head where actions change.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ConfigError

ANNOTATIONS = "annotations.csv"
CLASSES = "classes.txt"
UNLABELLED = -1


@dataclass(frozen=True)
class Row:
    """One annotated action: ``[start, end)`` seconds of ``label``, from line ``line`` of ``file``."""

    start: float
    end: float
    label: str
    file: str
    line: int
    video: str = ""  # annotations.csv: the video column
    split: str = ""
    group: str = ""


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the annotation file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start}); save the annotations as UTF-8 CSV") from None


def parse_rows(path: str | Path, text: str | None = None) -> tuple[list[Row], list[str]]:
    """The rows of an annotation CSV and one line per problem (``file:line: what``), never raising
    on content: ``lrcn check`` lists every problem, the loaders raise the first.

    Accepted: a header or none (a per-video file), CRLF, a BOM, blank lines. ``annotations.csv``
    needs a header naming ``video``, ``start``, ``end``, ``label`` (``split``/``group`` optional)."""
    path = Path(path)
    text = _text(path) if text is None else text
    records = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1)
               if row and "".join(row).strip()]
    rows: list[Row] = []
    problems: list[str] = []
    columns = {"start": 0, "end": 1, "label": 2}
    if records:
        first = [c.strip().lower() for c in records[0][1]]
        if "video" in first or ("start" in first and "label" in first):
            missing = [c for c in ("start", "end", "label") if c not in first]
            if missing:
                return [], [f"{path}:{records[0][0]}: the header lacks {', '.join(missing)} (has {', '.join(first)})"]
            columns = {c: first.index(c) for c in ("video", "start", "end", "label", "split", "group") if c in first}
            records = records[1:]
        elif not _is_number(records[0][1][0]):
            records = records[1:]  # some other header line
    for n, row in records:
        def cell(name: str) -> str:
            k = columns.get(name)
            return row[k].strip() if k is not None and k < len(row) else ""
        try:
            start, end, label = float(cell("start")), float(cell("end")), cell("label")
        except ValueError:
            problems.append(f"{path}:{n}: expected start,end,label in seconds, got {','.join(row)!r}")
            continue
        if not (0 <= start < end) or not np.isfinite(end):
            problems.append(f"{path}:{n}: need 0 <= start < end, got start {start:g}, end {end:g}")
            continue
        if not label:
            problems.append(f"{path}:{n}: no label")
            continue
        split = cell("split").lower()
        if split and split not in ("train", "test"):
            problems.append(f"{path}:{n}: split must be train or test, got {split!r}")
            continue
        if "video" in columns and not cell("video"):
            problems.append(f"{path}:{n}: no video named")
            continue
        rows.append(Row(start, end, label, str(path), n, cell("video"), split, cell("group")))
    if not rows and not problems:
        problems.append(f"{path}: no annotated action (expected CSV lines start,end,label in seconds)")
    return rows, problems


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def overlaps(rows: Sequence[Row]) -> list[str]:
    """One line per pair of rows of one video whose times overlap with different labels."""
    out = []
    ordered = sorted(rows, key=lambda r: (r.start, r.end))
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end - 1e-9 and a.label != b.label:
            out.append(f"{b.file}:{b.line}: {b.label} {b.start:g}-{b.end:g} s overlaps {a.label} {a.start:g}-{a.end:g} s "
                       f"(line {a.line})")
    return out


def misspelling(label: str, classes: Sequence[str]) -> str | None:
    """The class ``label`` most likely means, when it is not one of ``classes`` (another case, or a
    close spelling)."""
    for c in classes:
        if c.casefold() == label.casefold():
            return c
    close = difflib.get_close_matches(label, list(classes), n=1, cutoff=0.75)
    return close[0] if close else None


def read_classes(root: Path) -> list[str] | None:
    """``classes.txt`` (one name per line, in order), or None."""
    path = root / CLASSES
    if not path.is_file():
        return None
    names = [line.strip() for line in _text(path).splitlines() if line.strip()]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"{path}: needs one class name per line, each once")
    return names


def step_labels(spans: Sequence[tuple[float, float, int]], length: int, fps: float,
                background: int | None = None) -> np.ndarray:
    """``(length,)`` class of each sampled frame ``k`` (at ``k / fps`` seconds) from ``spans`` of
    ``(start, end, class)``; time no span covers is ``background`` or :data:`UNLABELLED`."""
    times = np.arange(length) / fps
    out = np.full(length, UNLABELLED if background is None else background, dtype=np.int64)
    for start, end, label in spans:
        out[(times >= start - 1e-9) & (times < end - 1e-9)] = label
    return out


def window_labels(labels: np.ndarray, num_frames: int) -> np.ndarray:
    """The majority label of every window of ``num_frames`` (start 0, 1, ...); :data:`UNLABELLED`
    where no more than half its frames are labelled. Ties go to the tied label nearest the centre (of
    two as near, the later frame's: the newer action)."""
    n = len(labels) - num_frames + 1
    out = np.full(max(n, 0), UNLABELLED, dtype=np.int64)
    centre = (num_frames - 1) / 2
    for s in range(max(n, 0)):
        window = labels[s:s + num_frames]
        known = window[window != UNLABELLED]
        if 2 * len(known) <= num_frames:
            continue
        counts = Counter(known.tolist())
        top = max(counts.values())
        tied = {c for c, k in counts.items() if k == top}
        out[s] = min((abs(i - centre), -i, int(c)) for i, c in enumerate(window.tolist()) if c in tied)[2]
    return out


def longest_never_majority(num_frames: int) -> int:
    """The longest action, in sampled frames, that is the label of no window of ``num_frames`` under
    :func:`window_labels`: under half a window (half of an even window can win a tie at the centre)."""
    return (num_frames - 1) // 2


def actions_without_a_window(labels: np.ndarray, windows: np.ndarray, num_frames: int) -> tuple[int, int]:
    """``(without, actions)`` of one video: its annotated actions (maximal runs of one class in
    ``labels``) and how many of them no window of ``num_frames`` overlapping them has as its label
    (``windows``: :func:`window_labels`). A window classifier never sees those as an example, so it
    cannot learn or predict them: an action of less than half a window is never a window's majority."""
    from .decode import runs

    without = actions = 0
    for label, start, end in runs(np.asarray(labels).tolist()):
        if label == UNLABELLED:
            continue
        actions += 1
        first, last = max(0, start - num_frames + 1), min(len(windows), end)  # windows overlapping [start, end)
        without += not bool((np.asarray(windows[first:last]) == label).any())
    return without, actions


def majority(spans: Sequence[tuple[float, float, int]]) -> int:
    """The class with the most annotated time (a video's one label where one is needed: class
    counts, the stratified split)."""
    time: Counter = Counter()
    for start, end, label in spans:
        time[label] += end - start
    return max(sorted(time), key=lambda c: time[c]) if time else 0


def problems(root: Path, by_video: dict[str, list[Row]], durations: dict[str, float | None],
             videos: Sequence[str]) -> tuple[list[str], list[str]]:
    """What ``lrcn check`` says about an annotated folder, one line each (file and row where there is
    one): errors (overlaps, unknown labels, rows past the video's end or naming no video) and warnings
    (labels that look like a misspelling of another, videos without annotations).

    Args:
        by_video: the rows of each annotated video (path relative to ``root``).
        durations: each annotated video's duration (None: it does not exist or does not open).
        videos: every video file under ``root`` (relative paths).
    """
    errors: list[str] = []
    warnings: list[str] = []
    for rows in by_video.values():
        errors += overlaps(rows)
    try:
        classes = read_classes(root)
    except ConfigError as exc:
        errors.append(str(exc))
        classes = None
    counts = Counter(r.label for rows in by_video.values() for r in rows)
    first = {}
    for rows in by_video.values():
        for r in rows:
            first.setdefault(r.label, r)
    for label, r in sorted(first.items()):
        if classes is not None:
            if label not in classes:
                guess = misspelling(label, classes)
                errors.append(f"{r.file}:{r.line}: label {label!r} is not in {CLASSES}"
                              + (f" (did you mean {guess!r}?)" if guess else ""))
            continue
        others = [c for c in counts if c != label and counts[c] >= counts[label]]
        guess = misspelling(label, others)
        if guess:
            warnings.append(f"{r.file}:{r.line}: label {label!r} ({counts[label]} rows) looks like {guess!r} "
                            f"({counts[guess]} rows): a misspelling? (they are two classes)")
    for video, rows in sorted(by_video.items()):
        duration = durations.get(video)
        if duration is None:
            errors.append(f"{rows[0].file}:{rows[0].line}: {video}: no such video (or it does not open)")
            continue
        for r in rows:
            if r.end > duration + 0.05:
                errors.append(f"{r.file}:{r.line}: {r.label} ends at {r.end:g} s, after the video's end "
                              f"({duration:.2f} s)")
    annotated = set(by_video)
    warnings += [f"{root / v}: no annotations (left out)" for v in videos if v not in annotated]
    return errors, warnings
