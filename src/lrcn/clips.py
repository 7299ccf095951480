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
from typing import Sequence

from .config import SHORT_VIDEO_POLICIES
from .errors import ConfigError



@dataclass(frozen=True)
class Clip:
    """A clip: ``num_frames`` consecutive sampled frames, as source-frame indices."""

    start: int  # position in the sampled sequence
    frame_indices: tuple[int, ...]  # source (decoded) frame indices, len == num_frames
    padded: int = 0  # how many trailing frames repeat the last real one (short videos)


def target_fps(reference_fps: float, sampling_rate: int) -> float:
    """Effective fps after keeping every ``sampling_rate``-th frame of ``reference_fps``."""
    if sampling_rate < 1:
        raise ConfigError(f"--sampling-rate must be >= 1, got {sampling_rate}")
    if reference_fps <= 0:
        raise ConfigError(f"--reference-fps must be positive, got {reference_fps}")
    return reference_fps / sampling_rate


def sample_indices(num_frames: int, source_fps: float, fps: float) -> list[int]:
    """Source-frame indices sampled by time at ``fps`` from a video of ``num_frames`` at ``source_fps``.

    Sample ``k`` is the frame nearest to time ``k / fps`` (ties go to the later
    frame). At 25 fps -> 2.5 fps this is every 10th frame: 0, 10, 20, ...;
    at 29.97 fps it is 0, 12, 24, 36, ...; when the source is slower than the
    target, no frame is repeated.
    """
    if num_frames <= 0:
        return []
    if source_fps <= 0 or fps <= 0:
        raise ConfigError("fps must be positive")
    ratio = source_fps / fps
    out: list[int] = []
    k = 0
    while True:
        index = int(math.floor(k * ratio + 0.5 + 1e-9))
        if index >= num_frames:
            return out
        if not out or index > out[-1]:
            out.append(index)
        k += 1


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
