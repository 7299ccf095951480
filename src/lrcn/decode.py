"""Temporal decoding: sliding-window probabilities -> a label per sampled frame -> segments.

A window of ``T`` sampled frames says something about each frame it covers, so
a frame's probabilities are the **mean over every window that contains it**
(the first and last frames of a video are covered by fewer windows). A label
therefore refers to the sampled frame itself, at that frame's own time, not to
the start of a window that reaches 2 s further on.

Then one of three decoders picks a label per frame:

* ``none``: the most probable class of each frame;
* ``median``: each class's probability track median-filtered over ``kernel``
  frames, then the most probable class (removes isolated flicker);
* ``viterbi``: the label sequence maximising the sum of per-frame log
  probabilities minus ``switch_penalty`` per change of label, with every
  segment at least ``min_frames`` long (an explicit-duration HMM: states are
  ``(class, frames so far up to min_frames)``). The default.

Pure NumPy; no video, no model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .config import SMOOTHINGS, Decoding  # noqa: F401  (defined with the CLI's other choices)


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float
    label: str
    confidence: float  # mean probability of the label over the segment's frames
    top: tuple[tuple[str, float], ...] = ()  # the k most probable classes over the segment, with their mean
    unfamiliarity: float | None = None  # mean over its steps (lrcn.familiarity); None: not measured
    unfamiliar: bool | None = None  # unlike the training data (the mean above the model's threshold)

    def to_dict(self) -> dict:
        """The segment as JSON writes it (``top`` as ``[{"label", "probability"}]``)."""
        out = {"start": self.start, "end": self.end, "label": self.label, "confidence": self.confidence,
               "top": [{"label": name, "probability": round(p, 4)} for name, p in self.top]}
        if self.unfamiliar is not None:
            out.update(unfamiliar=self.unfamiliar, unfamiliarity=round(float(self.unfamiliarity), 3))
        return out


def frame_probabilities(window_probs: np.ndarray, window_starts: Sequence[int], num_frames: int,
                        length: int) -> np.ndarray:
    """``(length, C)``: each frame's mean over the windows covering it.

    Args:
        window_probs: ``(W, C)`` probabilities of each window.
        window_starts: index of each window's first frame.
        num_frames: window length ``T``.
        length: number of sampled frames in the sequence.

    A frame no window covers (a stride longer than the window, or the tail after
    the last window) takes the probabilities of the nearest covered frame.
    """
    probs = np.asarray(window_probs, dtype=np.float64)
    c = probs.shape[1] if probs.ndim == 2 else 0
    if length == 0 or len(probs) == 0:
        return np.zeros((length, c))
    delta = np.zeros((length + 1, c))
    count = np.zeros(length + 1)
    for s, p in zip(window_starts, probs):
        s = int(s)
        e = min(s + num_frames, length)
        delta[s] += p
        delta[e] -= p
        count[s] += 1
        count[e] -= 1
    sums, counts = np.cumsum(delta, 0)[:length], np.cumsum(count)[:length]
    return _mean_or_nearest(sums, counts)


def _mean_or_nearest(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``sums / counts`` per frame; a frame with no count takes the nearest counted frame's."""
    length = len(counts)
    covered = np.flatnonzero(counts > 0.5)
    out = np.zeros_like(sums)
    out[covered] = sums[covered] / counts[covered, None]
    if len(covered) < length:  # nearest covered frame
        nearest = covered[np.clip(np.searchsorted(covered, np.arange(length)), 0, len(covered) - 1)]
        before = covered[np.clip(np.searchsorted(covered, np.arange(length)) - 1, 0, len(covered) - 1)]
        pick = np.where(np.abs(before - np.arange(length)) <= np.abs(nearest - np.arange(length)), before, nearest)
        out = out[pick]
    return out


def step_frame_probabilities(step_probs: np.ndarray, window_starts: Sequence[int], length: int) -> np.ndarray:
    """``(length, C)`` from a head that labels every step: each frame's mean over the windows covering
    it of *that frame's own* step output (a window classifier's output is about the whole window:
    :func:`frame_probabilities`). A frame no window covers takes the nearest covered frame's."""
    probs = np.asarray(step_probs, dtype=np.float64)  # (W, T, C)
    if length == 0 or len(probs) == 0:
        return np.zeros((length, probs.shape[2] if probs.ndim == 3 else 0))
    num_frames, c = probs.shape[1], probs.shape[2]
    sums, counts = np.zeros((length, c)), np.zeros(length)
    for s, p in zip(window_starts, probs):
        e = min(int(s) + num_frames, length)
        sums[int(s):e] += p[: e - int(s)]
        counts[int(s):e] += 1
    return _mean_or_nearest(sums, counts)


def readout_frame_probabilities(readout: str, window_probs: np.ndarray, step_probs: np.ndarray | None,
                                window_starts: Sequence[int], num_frames: int, length: int) -> np.ndarray:
    """``(length, C)`` each sampled frame's probabilities, as the head reads them
    (:func:`lrcn.model.frame_readout`): ``"window"``, the mean of the windows covering the frame
    (:func:`frame_probabilities`); ``"steps"``, the mean of the frame's own step outputs
    (:func:`step_frame_probabilities`); ``"both"``, the geometric mean of those two, renormalised (a
    frame is only as likely as both readouts agree it is)."""
    if readout == "window" or step_probs is None:
        return frame_probabilities(window_probs, window_starts, num_frames, length)
    steps = step_frame_probabilities(step_probs, window_starts, length)
    if readout == "steps":
        return steps
    if readout != "both":
        raise ValueError(f"unknown readout {readout!r}")
    return agreement([frame_probabilities(window_probs, window_starts, num_frames, length), steps])


def agreement(readings: Sequence[np.ndarray]) -> np.ndarray:
    """Several readings ``(L, C)`` of the same frames (two readouts of one head, or two models read
    together) as one: their geometric mean, renormalised, so a frame is only as likely as all the
    readings agree it is. Its logarithm is the mean of theirs up to a constant per frame, so a viterbi
    path over it is the one that maximises the mean of the readings' objectives (with the mean of
    their switch penalties: :func:`joint_switch_penalty`)."""
    logs = np.mean([np.log(np.maximum(np.asarray(r, np.float64), 1e-12)) for r in readings], axis=0)
    mixed = np.exp(logs - logs.max(axis=1, keepdims=True))
    return (mixed / mixed.sum(axis=1, keepdims=True)).astype(np.asarray(readings[0]).dtype)


def joint_switch_penalty(penalties: Sequence[float]) -> float:
    """The switch penalty of models read together (:func:`agreement`): the mean of their own, so the
    joint decoder weighs a change of label as the mean of their decoders does."""
    return float(np.mean(penalties))


def median_filter(probs: np.ndarray, kernel: int) -> np.ndarray:
    """Each column median-filtered over ``kernel`` frames (odd; edges repeat the end frames)."""
    kernel = max(1, kernel | 1)
    if kernel == 1 or len(probs) == 0:
        return probs
    half = kernel // 2
    padded = np.concatenate([np.repeat(probs[:1], half, 0), probs, np.repeat(probs[-1:], half, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=0)  # (N, C, kernel)
    return np.median(windows, axis=-1)


def viterbi(probs: np.ndarray, switch_penalty: float, min_frames: int = 1) -> np.ndarray:
    """The label path maximising ``sum log p(label_t) - switch_penalty * changes`` with every run of
    one label at least ``min_frames`` long (exact; O(N * C log C)).

    Dynamic programming over run ends: ``ends[t, j]`` is the best score of frames
    ``[0, t)`` whose last run has class ``j`` and ends at ``t``. A run of ``j`` over
    ``[s, t)`` adds ``cum[t, j] - cum[s, j]``, so ``ends[t, j]`` is a running maximum
    over the run starts ``s <= t - min_frames`` allowed so far. A sequence shorter
    than ``min_frames`` gets one label: the class of highest total log probability.
    """
    n = len(probs)
    if n == 0:
        return np.zeros(0, int)
    logp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, None))  # (N, C)
    c = logp.shape[1]
    d = max(1, min_frames)
    if n < d or c == 1:
        return np.full(n, int(logp.sum(0).argmax()))
    cum = np.vstack([np.zeros((1, c)), np.cumsum(logp, 0)])  # cum[t] = sum of rows [0, t)
    ends = np.full((n + 1, c), -np.inf)
    start_of = np.zeros((n + 1, c), int)  # where the best run ending at t began
    prev_of = np.full((n + 1, c), -1)  # the class of the run before it (-1: none)
    run_best, run_start, run_prev = np.full(c, -np.inf), np.zeros(c, int), np.full(c, -1)
    classes = np.arange(c)
    for t in range(d, n + 1):
        s = t - d  # the newest start a run ending at t may have
        if s == 0:
            cand, prev = -cum[0], np.full(c, -1)
        else:
            order = np.argsort(-ends[s])
            prev = np.where(classes == order[0], order[1], order[0])  # the best other class to come from
            cand = ends[s, prev] - switch_penalty - cum[s]
        better = cand > run_best
        run_best = np.where(better, cand, run_best)
        run_start = np.where(better, s, run_start)
        run_prev = np.where(better, prev, run_prev)
        ends[t], start_of[t], prev_of[t] = run_best + cum[t], run_start, run_prev
    labels = np.empty(n, int)
    t, j = n, int(ends[n].argmax())
    while t > 0:
        s = int(start_of[t, j])
        labels[s:t] = j
        j, t = int(prev_of[t, j]), s
    return labels


def decode(probs: np.ndarray, decoding: Decoding, fps: float) -> np.ndarray:
    """A label per frame from frame probabilities ``(N, C)`` (no switch penalty given: the default one;
    a model's own is filled in by :meth:`lrcn.inference.Model.decoding`)."""
    if len(probs) == 0:
        return np.zeros(0, int)
    decoding = decoding.resolved()
    if decoding.smoothing == "median":
        return median_filter(probs, decoding.frames(fps)).argmax(1)
    if decoding.smoothing == "viterbi":
        return viterbi(probs, decoding.switch_penalty, decoding.frames(fps))
    return probs.argmax(1)


def runs(labels: Sequence) -> list[tuple[object, int, int]]:
    """Maximal runs of equal labels: ``(label, first index, end index exclusive)``."""
    out: list[tuple[object, int, int]] = []
    for i, label in enumerate(labels):
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1], i + 1)
        else:
            out.append((label, i, i + 1))
    return out


def segments(labels: np.ndarray, probs: np.ndarray, times: Sequence[float], fps: float, classes: Sequence[str],
             duration: float | None = None, top_k: int = 5) -> list[Segment]:
    """Runs of frame labels as timed segments, each with its ``top_k`` classes (mean probability
    over the segment's frames, most probable first).

    A segment starts at its first frame's time and ends where the next segment
    starts; the last one ends one sampling period after the last frame, but
    never after ``duration`` (the video's end).
    """
    times = np.asarray(times, float)
    out = []
    spans = runs(labels.tolist())
    for k, (label, i, j) in enumerate(spans):
        end = times[j] if j < len(times) else times[-1] + 1.0 / fps
        if duration is not None and duration > times[i]:
            end = min(end, duration)
        mean = probs[i:j].mean(0)
        top = tuple((classes[c], float(mean[c])) for c in np.argsort(-mean, kind="stable")[:top_k])
        out.append(Segment(round(float(times[i]), 3), round(float(end), 3), classes[label],
                           float(probs[i:j, label].mean()), top))
    return out


class OnlineDecoder:
    """:func:`decode` for a stream: probabilities arrive one step at a time, and a step's label is
    final once ``lag`` later steps have arrived (fixed-lag decoding; ``lrcn stream``).

    The same three decoders with the same settings as ``lrcn predict``: ``none`` labels each step at
    once; ``median`` filters over the same ``--min-segment`` (centred, so it waits half a filter);
    ``viterbi`` runs :func:`viterbi` over the steps not yet final, preceded by the last final run (up
    to ``min_frames`` of its steps, pinned to its label), so every segment is again at least
    ``min_frames`` long and a change of label costs ``switch_penalty``. With a lag as long as the
    stream, the labels are exactly :func:`decode`'s; a shorter lag trades a little accuracy for
    segments that are final sooner (default: twice the shortest segment).
    """

    def __init__(self, decoding: Decoding, fps: float, lag: int | None = None):
        self.decoding = decoding.resolved()  # a model's own penalty: resolved by the caller (Model.decoding)
        self.min_frames = decoding.frames(fps) if decoding.smoothing != "none" else 1
        if lag is None:
            lag = {"none": 0, "median": self.min_frames // 2}.get(decoding.smoothing, 2 * self.min_frames)
        self.lag = max(0, int(lag))
        self._pending: list[np.ndarray] = []  # steps not yet final
        self._history: list[np.ndarray] = []  # the final steps a centred median still reads
        self._run_label: int | None = None  # the last final run: its label and length (capped)
        self._run_length = 0

    def push(self, probs: np.ndarray) -> list[int]:
        """Add one step's class probabilities; returns the labels that became final (oldest first)."""
        self._pending.append(np.asarray(probs, np.float64))
        ready = len(self._pending) - self.lag
        return self._final(ready) if ready > 0 else []

    def flush(self) -> list[int]:
        """The stream ended: every remaining step's label."""
        return self._final(len(self._pending))

    def _final(self, count: int) -> list[int]:
        if count <= 0 or not self._pending:
            return []
        pending = np.stack(self._pending)
        smoothing = self.decoding.smoothing
        if smoothing == "viterbi":
            context = min(self._run_length, self.min_frames) if self._run_label is not None else 0
            pinned = np.zeros((context, pending.shape[1]))
            if context:
                pinned[:, self._run_label] = 1.0
            labels = viterbi(np.vstack([pinned, pending]), self.decoding.switch_penalty, self.min_frames)[context:]
        elif smoothing == "median":
            half = self.min_frames // 2
            seen = np.vstack(self._history[-half:] + [pending]) if half and self._history else pending
            before = len(seen) - len(pending)
            labels = median_filter(seen, self.min_frames).argmax(1)[before:]
        else:
            labels = pending.argmax(1)
        out = [int(x) for x in labels[:count]]
        for label in out:
            self._run_length = self._run_length + 1 if label == self._run_label else 1
            self._run_label = label
        self._history = (self._history + self._pending[:count])[-self.min_frames:]
        del self._pending[:count]
        return out
