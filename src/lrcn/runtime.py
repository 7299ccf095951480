"""Running an ``lrcn export`` folder in ONNX Runtime: its CNN and head, called like lrcn's PyTorch
ones, after checking the folder belongs to the checkpoint (classes, fps, window, head shape, the
SHA-256 of every file and of the checkpoint's weights). Needs the optional extra ``lrcn[onnx]``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .checkpoint import weights_sha256
from .errors import ConfigError


def session(path: Path):
    """An ONNX Runtime session of ``path`` on the CPU."""
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnnxEmbedder:
    """``cnn.onnx`` in ONNX Runtime, called like :class:`lrcn.backbone.FrameEmbedder` (uint8 frames
    ``(N, 224, 224, 3)`` -> ``(N, D)``)."""

    precision, compiled, device = "fp32 (ONNX Runtime)", False, torch.device("cpu")

    def __init__(self, path: Path, spec):
        self.spec = spec
        self.session = session(path)
        self.dim = int(self.session.get_outputs()[0].shape[1])

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"frames": np.ascontiguousarray(frames.numpy())})[0])


class OnnxHead:
    """``head.onnx`` in ONNX Runtime, called like :class:`lrcn.model.LRCNHead` (windows -> logits)."""

    def __init__(self, path: Path, cfg):
        self.cfg = cfg
        self.session = session(path)

    def eval(self) -> "OnnxHead":
        return self

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(windows.float().cpu().numpy())
        return torch.from_numpy(self.session.run(None, {"embeddings": x})[0])


def load_export(folder: str | Path, ckpt) -> tuple[OnnxEmbedder, OnnxHead]:
    """The CNN and head of an ``lrcn export`` folder for ``ckpt``'s model (refused if it was exported
    from another one: other classes, fps, window or head)."""
    folder = Path(folder)
    info_path = folder / "lrcn_model.json"
    if not info_path.is_file():
        raise ConfigError(f"{folder}: no lrcn_model.json; write the folder with lrcn export CHECKPOINT --out-dir {folder}")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError("--onnx needs the optional extra: pip install 'lrcn[onnx]'") from None
    info = json.loads(info_path.read_text())
    ours = {"classes": list(ckpt.class_names), "fps": ckpt.features.fps, "window": ckpt.sampling.num_frames,
            "feature_dim": ckpt.model_config.feature_dim, "causal": ckpt.model_config.causal}
    theirs = {k: info.get(k) for k in ours}
    if ours != theirs:
        diff = "; ".join(f"{k}: export {theirs[k]!r}, checkpoint {ours[k]!r}" for k in ours if ours[k] != theirs[k])
        raise ConfigError(f"{folder}: exported from another model ({diff}); export this checkpoint again")
    hashes = info.get("sha256")
    if not isinstance(hashes, dict) or "checkpoint_weights_sha256" not in info:
        raise ConfigError(f"{info_path}: no SHA-256 of the exported files (an export of an older lrcn, or edited); "
                          f"export the checkpoint again")
    if info["checkpoint_weights_sha256"] != weights_sha256(ckpt.model):
        raise ConfigError(f"{folder}: exported from other weights than this checkpoint's (SHA-256 "
                          f"{str(info['checkpoint_weights_sha256'])[:12]}... vs {weights_sha256(ckpt.model)[:12]}...); "
                          f"export this checkpoint again")
    for name in ("cnn", "head"):
        path = folder / str(info["files"].get(name, ""))
        if not path.is_file():
            raise ConfigError(f"{path}: missing from the export")
        if file_sha256(path) != hashes.get(name):
            raise ConfigError(f"{path}: SHA-256 differs from the one lrcn export wrote in lrcn_model.json (changed or "
                              f"replaced since); export the checkpoint again")
    return (OnnxEmbedder(folder / info["files"]["cnn"], ckpt.features.backbone),
            OnnxHead(folder / info["files"]["head"], ckpt.model_config))
