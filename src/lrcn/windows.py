"""Which training windows an epoch draws: pure index math over sequence lengths.

An *epoch* is one pass over the drawn windows of every training item, in an
order shuffled across items. ``per_item=None`` ("all") draws every
``num_frames`` window of every item; ``per_item=N`` draws ``N`` distinct
random starts per item (every start when an item has fewer than ``N``);
``per_item=1`` is the seed's sampling: one random window per video per epoch.
A pre-processed clip of exactly ``num_frames`` frames has one window, so
``lrcn preprocess --clips-per-video K`` output trains on all K clips of a video
either way.

Every choice comes from the generator handed in, which the trainer seeds with
``(seed, epoch)``: an epoch is the same whether or not the run was interrupted
before it, and every DDP rank draws the same global order and takes its own
slice of each global batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Draw:
    """One training sample: a window of ``item`` starting at ``start``, seen through cached view ``view``."""

    item: int
    start: int
    view: int


def positions(length: int, num_frames: int) -> int:
    """How many windows of ``num_frames`` fit in ``length`` frames."""
    return max(0, length - num_frames + 1)


def draw_epoch(lengths: Sequence[int], views: Sequence[int], num_frames: int, per_item: int | None,
               rng: np.random.Generator, allowed: Sequence[np.ndarray | None] | None = None) -> list[Draw]:
    """The epoch's windows, shuffled across items.

    Args:
        lengths: sampled frames of each item.
        views: cached views of each item (one is drawn per window).
        num_frames: window length.
        per_item: windows per item; ``None`` = every window.
        rng: the epoch's generator.
        allowed: per item, a mask of the starts that may be drawn (None: all; an annotated video's
            mostly unlabelled windows are not).

    Returns:
        The draws in training order. Items shorter than one window give none.
    """
    if per_item is not None and per_item < 1:
        raise ValueError(f"per_item must be >= 1 or None, got {per_item}")
    draws: list[Draw] = []
    for i, (length, num_views) in enumerate(zip(lengths, views)):
        n = positions(length, num_frames)
        mask = None if allowed is None else allowed[i]
        usable = np.arange(n) if mask is None else np.flatnonzero(np.asarray(mask)[:n])
        if len(usable) == 0:
            continue
        if per_item is None or per_item >= len(usable):
            starts = usable
        else:
            starts = np.sort(rng.choice(usable, size=per_item, replace=False))
        chosen_views = rng.integers(0, num_views, size=len(starts))
        draws += [Draw(i, int(s), int(v)) for s, v in zip(starts, chosen_views)]
    order = rng.permutation(len(draws))
    return [draws[k] for k in order]


def rank_slices(total: int, batch_size: int, rank: int, world_size: int) -> list[tuple[slice, int]]:
    """Per global batch: this rank's slice of the drawn order and the global batch's size.

    Global batch ``b`` holds draws ``[b * B * W, (b + 1) * B * W)``; rank ``r``
    takes the ``r``-th run of ``B`` of them (possibly empty in a short last
    batch: the rank must still step, see the trainer). The loss is divided by
    the global batch's size, so ``W`` ranks step like one process.
    """
    global_batch = batch_size * world_size
    out = []
    for b in range(0, total, global_batch):
        lo = min(b + rank * batch_size, total)
        hi = min(b + (rank + 1) * batch_size, total)
        out.append((slice(lo, hi), min(global_batch, total - b)))
    return out
