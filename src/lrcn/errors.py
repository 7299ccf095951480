"""Exceptions a user can cause. The CLI turns each into one line and an exit code."""

from __future__ import annotations

import math


class LrcnError(Exception):
    """Base class: the message is shown to the user as one line, without a traceback."""

    exit_code = 2


class VideoError(LrcnError):
    """A video file cannot be opened, has no video stream, or cannot be decoded."""


class SplitError(LrcnError):
    """A dataset layout or split file is missing or malformed."""


class ConfigError(LrcnError, ValueError):
    """A setting, or a combination of settings, that cannot work (also a ValueError for API callers)."""


class WeightsError(LrcnError):
    """Backbone weights are missing or do not match the architecture."""


class CheckpointError(LrcnError):
    """A checkpoint is missing, corrupt, not an lrcn checkpoint, or does not match."""


class CacheError(LrcnError):
    """An embedding cache entry is missing or unreadable."""


class TrainingDiverged(LrcnError):
    """The loss became NaN or infinite."""

    exit_code = 3


DIVERGED_LOSS = 1e4  # a mean cross-entropy this large means logits in the thousands: training has blown up


def raise_if_diverged(loss: float, epoch: int, step: int) -> None:
    """Stop training at the first NaN/inf loss, or a finite one past :data:`DIVERGED_LOSS` (a
    cross-entropy starts near log(classes)), naming where; the last checkpoint stays the good one."""
    if not math.isfinite(loss) or loss > DIVERGED_LOSS:
        raise TrainingDiverged(f"loss is {loss:.3g} at epoch {epoch}, step {step}: training diverged; the last good "
                               f"checkpoint is kept (lower --lr?)")
