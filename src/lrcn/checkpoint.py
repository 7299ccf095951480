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
    try:
        with atomic_path(path) as tmp:
            torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    except RuntimeError as exc:  # torch.save reports a full disk or a failed write as a RuntimeError
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: could not write the checkpoint ({first}); the previous file is "
                              f"unchanged") from None


SHIPPED = ("final.pth.tar", "best.pth.tar", "last.pth.tar")  # what a run folder stands for, in order


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given; a run folder (or its ``Saved_model_checkpoints``) stands for its
    ``final.pth.tar`` (the refitted model), else ``best.pth.tar``, else ``last.pth.tar``."""
    path = Path(path)
    if not path.is_dir():
        return path
    for folder in (path / "Saved_model_checkpoints", path):
        for name in SHIPPED:
            if (folder / name).is_file():
                return folder / name
    raise CheckpointError(f"{path}: a folder without {', '.join(SHIPPED)} (is it an lrcn run folder?)")


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
    if not isinstance(state["model"], dict):
        raise CheckpointError(f"{path}: its 'model' is not a set of weights")
    bad = [k for k, v in state["model"].items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # a diverged model would score NaN, and argmax of NaN is class 0: never a silent number
        raise CheckpointError(f"{path}: non-finite weights (NaN/inf) in {', '.join(bad[:3])}; the training "
                              f"diverged (try a lower --lr)")
    return state


def describe_mismatch(expected: dict, found: dict, what: str) -> str | None:
    """A one-line account of the settings that differ, or None."""
    diffs = [f"{k}: checkpoint {found.get(k)!r}, now {expected.get(k)!r}" for k in sorted(set(expected) | set(found))
             if expected.get(k) != found.get(k)]
    return f"{what} differs ({'; '.join(diffs)})" if diffs else None
