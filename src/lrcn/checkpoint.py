"""Checkpoints: versioned dicts that rebuild the model with nothing else.

A checkpoint holds the head's weights, optimizer and scheduler states, the
epoch, the model config, the training config, the feature spec (backbone,
weights, fps, crop) and the class names, so ``lrcn test`` and ``lrcn
predict`` need only the file. Loading uses ``weights_only=True``: a
downloaded checkpoint cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .io import atomic_path

FORMAT = "lrcn-checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus format and version) atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate an lrcn checkpoint.

    Raises:
        CheckpointError: missing, corrupt, not an lrcn checkpoint, or from a newer version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises anything from KeyError to UnpicklingError on garbage
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: corrupt or not a PyTorch checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an lrcn checkpoint (no '{FORMAT}' marker)")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: made by a newer lrcn (format {state['version']} > {VERSION}); upgrade lrcn")
    for key in ("model", "model_config", "feature_spec", "class_names"):
        if key not in state:
            raise CheckpointError(f"{path}: lrcn checkpoint lacks '{key}'")
    return state


def describe_mismatch(expected: dict, found: dict, what: str) -> str | None:
    """A one-line account of the settings that differ, or None."""
    diffs = [f"{k}: checkpoint {found.get(k)!r}, now {expected.get(k)!r}" for k in sorted(set(expected) | set(found))
             if expected.get(k) != found.get(k)]
    return f"{what} differs ({'; '.join(diffs)})" if diffs else None
