"""ONNX Runtime: graphs written from PyTorch modules, and run in place of them.

- :func:`onnx_cnn`: the frozen CNN of a :class:`~lrcn.backbone.FrameEmbedder` as an ONNX graph,
  written once per weights (cached by the SHA-256 of the folded weights, checked against PyTorch
  when made) and run in ONNX Runtime: on a CPU the faster runtime for the frame CNNs
  (``benchmarks/runtime.py``), so ``--runtime auto`` picks it there;
- :func:`load_export`: an ``lrcn export`` folder's CNN and head, called like lrcn's PyTorch ones,
  after checking the folder belongs to the checkpoint (classes, fps, window, head shape, the SHA-256
  of every file and of the checkpoint's weights).

Needs the optional extra ``lrcn[onnx]`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .checkpoint import weights_sha256
from .errors import ConfigError, LrcnError
from .io import atomic_path

if TYPE_CHECKING:
    from .backbone import FrameEmbedder

log = logging.getLogger(__name__)

#: The largest difference ONNX Runtime may show against PyTorch, relative to the largest value of the
#: output (fp32 on both sides: only the order of additions and the kernels' own rounding differ, which
#: stays near 1e-6 of the magnitude; 1e-4 leaves room for other CPUs' kernels and still catches any
#: real mismatch such as a missing normalisation, a wrong layer or a transposed input).
TOLERANCE = 1e-4


def session(path: Path):
    """An ONNX Runtime session of ``path`` on the CPU. Its threads sleep when idle rather than spin: as
    fast on an idle machine (MobileNetV2, batch 16: 206 frames/s against 192 spinning, 2-core Xeon) and
    no cores taken from other work between calls."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its notes on the graph are not for lrcn's users
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CnnGraph(nn.Module):
    """uint8 NHWC frames -> embeddings, normalisation included (what ``cnn.onnx`` holds)."""

    def __init__(self, embedder: FrameEmbedder):
        super().__init__()
        self.cnn = embedder.cnn.float().to(memory_format=torch.contiguous_format)
        self.register_buffer("mean", embedder.mean.cpu())
        self.register_buffer("std", embedder.std.cpu())

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float()  # (N, 3, 224, 224)
        return self.cnn((x - self.mean) / self.std)


def write_onnx(module: nn.Module, args: tuple, path: Path, names: list[str], outputs: list[str], dynamic: dict) -> None:
    try:
        import onnxscript  # noqa: F401,F811  (torch.onnx's exporter needs it; a clear line if it is missing)
    except ImportError:
        raise ConfigError("lrcn export needs the optional extra: pip install 'lrcn[onnx]' "
                          "(onnx, onnxscript, onnxruntime)") from None
    module.eval()
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the exporter's notes on LSTM weights and axis names
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(module, args, input_names=names, output_names=outputs, dynamic_shapes=dynamic,
                                    dynamo=True, verbose=False)
        program.save(str(tmp))


def made_frames(count: int, size: int = 224) -> np.ndarray:
    """Picture-like uint8 frames ``(count, size, size, 3)``: colour gradients, a bright square that moves,
    and sensor-like noise (values over the whole range, as real frames have)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    frames = []
    for k in range(count):
        base = np.stack([x * 200 + 30 * k, y * 180 + 20, (1 - x) * (1 - y) * 220], axis=-1)
        s = size // 4
        top, left = (10 + 17 * k) % (size - s), (30 + 23 * k) % (size - s)
        base[top : top + s, left : left + s] = (250, 240, 60)
        frames.append(np.clip(base % 256 + rng.normal(0, 6, base.shape), 0, 255))
    return np.ascontiguousarray(np.stack(frames).astype(np.uint8))


def available() -> bool:
    """Whether ONNX Runtime and the exporter's needs are installed (the ``lrcn[onnx]`` extra)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnxscript", "onnx"))


def onnx_cache_dir() -> Path:
    """Where CNN graphs are kept: ``$LRCN_ONNX_CACHE``, else ``$TORCH_HOME/lrcn_onnx`` (beside the weights)."""
    if os.environ.get("LRCN_ONNX_CACHE"):
        return Path(os.environ["LRCN_ONNX_CACHE"])
    return Path(torch.hub.get_dir()).parent / "lrcn_onnx"


def onnx_cnn(embedder: FrameEmbedder) -> OnnxEmbedder:
    """``embedder``'s CNN (fp32, BatchNorm folded) run in ONNX Runtime.

    The graph is written once per weights, as ``<arch>-<sha256 of the weights>.onnx`` in
    :func:`onnx_cache_dir`, and checked against PyTorch on made frames when written (relative
    difference at most :data:`TOLERANCE`, else :class:`LrcnError`). Later calls load it.
    """
    digest = weights_sha256(embedder.cnn.state_dict())
    path = onnx_cache_dir() / f"{embedder.spec.arch}-{digest[:20]}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        frames = made_frames(4)
        batch = torch.export.Dim("batch", min=1)
        graph = CnnGraph(embedder)
        with atomic_path(path) as tmp:
            write_onnx(graph, (torch.from_numpy(frames[:2]),), Path(tmp), ["frames"], ["embeddings"],
                       {"frames": {0: batch}})
            with torch.no_grad():
                ours = embedder(torch.from_numpy(frames)).float().numpy()
            theirs = session(Path(tmp)).run(None, {"frames": frames})[0]
            worst = float(np.abs(theirs - ours).max()) / max(float(np.abs(ours).max()), 1e-12)
            if not worst <= TOLERANCE:
                raise LrcnError(f"{path}: ONNX Runtime differs from PyTorch by {worst:.2e} of the output's size "
                                f"(> {TOLERANCE:g}); not used")
        log.info("wrote %s (%s in ONNX Runtime; largest difference from PyTorch %.1e of the output)", path,
                 embedder.spec.arch, worst)
    return OnnxEmbedder(path, embedder.spec)


class OnnxEmbedder:
    """``cnn.onnx`` in ONNX Runtime, called like :class:`lrcn.backbone.FrameEmbedder` (uint8 frames
    ``(N, 224, 224, 3)`` -> ``(N, D)``)."""

    precision, compiled, device, runtime = "fp32 (ONNX Runtime)", False, torch.device("cpu"), "onnxruntime"

    def __init__(self, path: Path, spec):
        self.spec = spec
        self.path = Path(path)
        self.session = session(path)
        self.dim = int(self.session.get_outputs()[0].shape[1])

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"frames": np.ascontiguousarray(frames.cpu().numpy())})[0])


class OnnxHead:
    """``head.onnx`` in ONNX Runtime, called like :class:`lrcn.model.LRCNHead` (windows -> logits)."""

    def __init__(self, path: Path, cfg):
        self.cfg = cfg
        self.session = session(path)

    def eval(self) -> "OnnxHead":
        return self

    def _run(self, windows: torch.Tensor) -> list[np.ndarray]:
        return self.session.run(None, {"embeddings": np.ascontiguousarray(windows.float().cpu().numpy())})

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._run(windows)[0])


class OnnxStepHead(OnnxHead):
    """The ``head.onnx`` of a head that labels each step (:class:`lrcn.model.FrameReadouts`: window and
    step logits): read by predict and test as the checkpoint's head is (:func:`lrcn.model.frame_readout`)."""

    def readouts(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        window, steps = self._run(windows)
        return torch.from_numpy(steps), torch.from_numpy(window)


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
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or not JSON
        raise ConfigError(f"{info_path}: not the JSON lrcn export writes ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:80]}); export the checkpoint again") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{info_path}: not the JSON lrcn export writes (a {type(info).__name__}, not an object); "
                          f"export the checkpoint again")
    ours = {"classes": list(ckpt.class_names), "fps": ckpt.features.fps, "window": ckpt.sampling.num_frames,
            "feature_dim": ckpt.model_config.feature_dim, "causal": ckpt.model_config.causal,
            "readout": ckpt.model_config.readout}
    theirs = {k: info.get(k) for k in ours}
    theirs["readout"] = info.get("readout", "window")  # exports of earlier releases: the window's label only
    if ours != theirs:
        diff = "; ".join(f"{k}: export {theirs[k]!r}, checkpoint {ours[k]!r}" for k in ours if ours[k] != theirs[k])
        raise ConfigError(f"{folder}: exported from another model ({diff}); export this checkpoint again")
    hashes = info.get("sha256")
    if not isinstance(hashes, dict) or "checkpoint_weights_sha256" not in info or not isinstance(info.get("files"), dict):
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
            (OnnxHead if ours["readout"] == "window" else OnnxStepHead)(folder / info["files"]["head"],
                                                                       ckpt.model_config))
