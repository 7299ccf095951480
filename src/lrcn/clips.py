"""Index math: which frames to sample, where clips start, how windows slide.

Pure functions of integers (and a seeded ``random.Random``); no video files.
The seed's defaults: UCF-101 at 25 fps, every 10th frame (2.5 fps effective),
clips of 5 consecutive sampled frames (2 seconds).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from .config import SHORT_VIDEO_POLICIES
from .errors import ConfigError



@dataclass(frozen=True)
class Clip:
    """A clip: ``num_frames`` consecutive sampled frames, as source-frame indices."""

    start: int  # position in the sampled sequence
    frame_indices: tuple[int, ...]  # source (decoded) frame indices, len == num_frames
    padded: int = 0  # how many trailing frames repeat the last real one (short videos)


#: The frame rate of a stream that states none (UCF-101's), the one fallback every reader uses.
FALLBACK_SOURCE_FPS = 25.0


def source_fps(stated: float | None) -> float:
    """The rate a stream is read at: the one its container states, else :data:`FALLBACK_SOURCE_FPS`."""
    return float(stated) if stated and 0 < float(stated) < 1000 else FALLBACK_SOURCE_FPS


def sample_times(times: Iterable[float | None], source_fps: float, fps: float) -> Iterator[tuple[int, int, float]]:
    """The one sampling rule of lrcn: ``(sample k, frame index i, seconds t)`` of the frames kept at ``fps``.

    ``times`` are the frames' presentation times from the first frame, in presentation order.
    Frame ``i`` is kept when its time reaches the next sample time ``k / fps``, within half a
    frame of the faster rate, so any source rate -- 25, 29.97, 10 or variable -- gives the same
    effective rate; a source slower than ``fps`` keeps each frame once, never repeated. A
    missing time, or one that does not advance (a file stamped all zero), is the previous time
    plus one frame at ``source_fps``.

    Decoders feed it the decoded timestamps (:func:`lrcn.video.iter_frames_at_fps`); the index
    math of ``preprocess``/``check``, which must choose frames before decoding, feeds it the
    nominal times ``i / source_fps`` (:func:`sample_indices`). On a constant-rate file the two
    are the same frames (tested in pixels).
    """
    take = Sampler(source_fps, fps)
    for t in times:
        kept = take(t)
        if kept is not None:
            yield kept


class Sampler:
    """:func:`sample_times` one frame at a time, for readers that must decide before they decode:
    ``take(t)`` is ``(k, i, t)`` when the next frame (time ``t`` or None) is kept, else None."""

    def __init__(self, source_fps: float, fps: float):
        if source_fps <= 0 or fps <= 0:
            raise ConfigError(f"fps must be positive, got {source_fps} and {fps}")
        self.source_fps, self.tolerance, self.step = source_fps, 0.5 / max(source_fps, fps), 1.0 / fps
        self.previous, self.k, self.i = -math.inf, 0, -1

    def __call__(self, t: float | None) -> tuple[int, int, float] | None:
        self.i += 1
        if t is None or t <= self.previous:
            t = self.previous + 1.0 / self.source_fps if self.previous > -math.inf else 0.0
        self.previous = t
        if t + self.tolerance < self.k * self.step:
            return None
        kept = (self.k, self.i, t)
        self.k = max(self.k + 1, int(math.floor((t + self.tolerance) / self.step)) + 1)
        return kept


def sample_indices(num_frames: int, source_fps: float, fps: float) -> list[int]:
    """Frame indices :func:`sample_times` keeps from ``num_frames`` at a constant ``source_fps``.

    At 25 fps -> 2.5 fps this is every 10th frame: 0, 10, 20, ...; at 29.97 fps it is
    0, 12, 24, 36, ...
    """
    if num_frames <= 0:
        return []
    return [i for _, i, _ in sample_times((i / source_fps for i in range(num_frames)), source_fps, fps)]


def clip_starts(num_sampled: int, num_frames: int, clips_per_video: int, rng: random.Random) -> list[int]:
    """Seeded random starts of ``clips_per_video`` windows of ``num_frames`` in ``num_sampled``.

    Starts are distinct and sorted while there are enough positions; with more
    clips asked than positions exist, every position is used once (never
    duplicates). A video shorter than one clip gets ``[]``: see :func:`make_clips`.
    """
    if num_frames < 1 or clips_per_video < 1:
        raise ConfigError("num_frames and clips_per_video must be >= 1")
    positions = num_sampled - num_frames + 1
    if positions <= 0:
        return []
    if clips_per_video >= positions:
        return list(range(positions))
    return sorted(rng.sample(range(positions), clips_per_video))


def make_clips(
    sampled: Sequence[int],
    num_frames: int,
    clips_per_video: int,
    rng: random.Random,
    short_video: str = "skip",
) -> list[Clip]:
    """Cut clips out of the sampled source indices.

    A video with fewer sampled frames than ``num_frames`` gets no clip with
    ``short_video="skip"`` (the caller records why), or one clip that repeats
    its last sampled frame with ``"pad"`` (marked by ``Clip.padded``). The seed
    instead silently re-sampled such videos at rate 2, changing the clip's
    time span without saying so; we never do that.
    """
    if short_video not in SHORT_VIDEO_POLICIES:
        raise ConfigError(f"short_video must be one of {SHORT_VIDEO_POLICIES}, got {short_video!r}")
    if not sampled:
        return []
    if len(sampled) < num_frames:
        if short_video == "skip":
            return []
        missing = num_frames - len(sampled)
        return [Clip(0, tuple(sampled) + (sampled[-1],) * missing, padded=missing)]
    starts = clip_starts(len(sampled), num_frames, clips_per_video, rng)
    return [Clip(s, tuple(sampled[s : s + num_frames])) for s in starts]


def sliding_windows(length: int, window: int, stride: int = 1) -> list[int]:
    """Starts of every window of ``window`` frames in a sequence of ``length`` frames."""
    if window < 1 or stride < 1:
        raise ValueError("window and stride must be >= 1")
    if length < window:
        return []
    return list(range(0, length - window + 1, stride))


def majority_label(labels: Sequence[int]) -> int:
    """The label holding most frames of a window; a tie goes to the earliest-starting action.

    This is the seed's rule (3 frames of action A then 2 of B -> A). With an
    even window (e.g. 2 + 2) the tie goes to the action of the first frame.
    """
    if not labels:
        raise ValueError("empty window")
    counts = Counter(labels)
    best = max(counts.values())
    for label in labels:  # first in time among the tied
        if counts[label] == best:
            return label
    raise AssertionError("unreachable")


def frames_from_first_action(labels: Sequence[int]) -> int:
    """How many frames of a window belong to the action of its first frame."""
    return sum(1 for label in labels if label == labels[0])


def concatenated_labels(clip_labels: Sequence[int], frames_per_clip: int) -> list[int]:
    """Per-frame labels of clips laid end to end (the diverse-actions video)."""
    return [label for label in clip_labels for _ in range(frames_per_clip)]


def window_labels(frame_labels: Sequence[int], window: int, stride: int = 1) -> list[int]:
    """Majority label of every sliding window over ``frame_labels``."""
    return [majority_label(frame_labels[s : s + window]) for s in sliding_windows(len(frame_labels), window, stride)]
