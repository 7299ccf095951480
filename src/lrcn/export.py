"""``lrcn export``: the CNN and the head as ONNX files a runtime can use without PyTorch, checked
in ONNX Runtime against PyTorch on real frames.

Writes into ``--out-dir``:

* ``cnn.onnx`` — cropped frames ``frames (N, 224, 224, 3) uint8`` -> ``embeddings (N, D) float32``;
  the ImageNet normalisation is inside the graph.
* ``head.onnx`` — ``embeddings (B, T, D)`` -> ``logits (B, C)``: the window head (dynamic B and T);
  a head that labels each step (``--per-step``, ``--both-readouts``) gives ``step_logits (B, T, C)``
  too, and ``lrcn_model.json``'s ``readout`` and ``frame_probabilities`` say how lrcn reads them.
* ``head_step.onnx`` (a causal head only) — one step with explicit state: ``embedding (B, D)``,
  ``previous (B, D)`` (the last frame's embedding; the embedding itself on the first frame), ``h``
  and ``c (layers, B, H)`` -> ``logits (B, C)``, ``h_out``, ``c_out``: a deployment streams with it.
* ``lrcn_model.json`` — what a runtime needs: classes, fps, window, pre-processing (the one resize
  rule, :data:`lrcn.steps.RESIZE_RULE`: FFmpeg bilinear; crop, mean, std), the files with their
  SHA-256 and the SHA-256 of the checkpoint's weights (``--onnx`` refuses a file that differs), and
  the check's figures. ``examples/onnx_runner.py`` runs an export from this JSON alone.

Needs the optional extra ``lrcn[onnx]`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .backbone import IMAGENET_MEAN, IMAGENET_STD
from .config import CLIP_BACKBONES
from .steps import CROP, RESIZE
from .checkpoint import resolve_checkpoint, weights_sha256
from .config import ExportConfig
from .errors import ConfigError, LrcnError
from .features import decode_sampled
from .steps import make_views
from .steps import INTERPOLATION, RESIZE_RULE
from .inference import Model
from .io import write_text_atomic
from .model import FrameReadouts, LRCNHead, frame_readout
from .runtime import TOLERANCE, CnnGraph, file_sha256, made_frames, session, write_onnx  # noqa: F401

log = logging.getLogger(__name__)



class _Step(nn.Module):
    """One step of a causal head with its state passed in and out (what ``head_step.onnx`` holds)."""

    def __init__(self, head: LRCNHead):
        super().__init__()
        self.head = head

    def forward(self, embedding, previous, h, c):
        x = embedding[:, None]  # (B, 1, D)
        if self.head.cfg.frame_differences:
            x = torch.cat([x, (embedding - previous)[:, None]], dim=2)
        out, (h_out, c_out) = self.head.lstm(self.head.project(x), (h, c))
        return self.head.classifier(out[:, 0]), h_out, c_out


#: How a sampled frame's probabilities come from ``head.onnx``'s outputs, by the head's readout
#: (:func:`lrcn.decode.readout_frame_probabilities`), as lrcn_model.json states it for a runtime.
FRAME_RULES = {
    "window": "the mean of softmax(logits) over the windows containing the frame",
    "steps": "the mean, over the windows containing the frame, of softmax(step_logits) at the frame's own step "
             "(step i of the window starting at frame s is frame s + i)",
    "both": "w = the mean of softmax(logits) over the windows containing the frame; s = the mean over those "
            "windows of softmax(step_logits) at the frame's own step (step i of the window starting at frame s "
            "is frame s + i); p = sqrt(max(w, 1e-12) * max(s, 1e-12)), divided by its sum over the classes",
}


def _frames(video: str | None, spec, count: int) -> np.ndarray:
    """``count`` cropped frames to check the export on: real frames of ``video`` sampled as in training
    (repeated if it is short), or without one, frames made here (smooth colour fields and moving edges,
    seeded: the same on every run)."""
    if video is None:
        return made_frames(count)
    frames = make_views(decode_sampled(video, spec), ("center",))[0]
    if not len(frames):
        raise ConfigError(f"{video}: no frames at {spec.fps:g} fps")
    return np.ascontiguousarray(frames[np.arange(count) % len(frames)])


def _difference(onnx_out: np.ndarray, torch_out: np.ndarray) -> tuple[float, float]:
    """(max abs difference, that relative to the largest |value|)."""
    diff = float(np.abs(onnx_out - torch_out).max())
    return diff, diff / max(float(np.abs(torch_out).max()), 1e-12)


def run(cfg: ExportConfig) -> dict:
    """Export, check each file in ONNX Runtime, write ``lrcn_model.json``; returns its contents."""
    model = Model(cfg.checkpoint, device="cpu", precision="fp32", runtime="pytorch")  # the core; PyTorch fp32 CNN
    if model.ckpt is None:
        raise ConfigError(f"{cfg.checkpoint}: lrcn export writes a trained lrcn checkpoint; the built-in model runs in "
                          f"PyTorch")
    head, ckpt = model.head, model.ckpt
    spec, window = ckpt.features, model.window
    if spec.backbone.arch in CLIP_BACKBONES:
        raise ConfigError(f"{cfg.checkpoint}: lrcn export writes a frame CNN; a --backbone {spec.backbone.arch} model "
                          f"runs in PyTorch (lrcn predict/stream without --onnx)")
    out = Path(cfg.out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: a file, not a folder to write the export into")
    out.mkdir(parents=True, exist_ok=True)
    embedder = model.embedder
    frames = _frames(cfg.video, spec, 2 * window)
    checks = {}

    cnn = CnnGraph(embedder)
    batch = torch.export.Dim("batch", min=1)
    write_onnx(cnn, (torch.from_numpy(frames[:2]),), out / "cnn.onnx", ["frames"], ["embeddings"],
          {"frames": {0: batch}})
    emb_torch = embedder(torch.from_numpy(frames)).numpy()  # the reference: lrcn's own CNN path, not the module exported
    emb_onnx = session(out / "cnn.onnx").run(None, {"frames": frames})[0]
    checks["cnn"] = _difference(emb_onnx, emb_torch)

    time_ = torch.export.Dim("time", min=2)
    windows = emb_torch.reshape(2, window, -1).astype(np.float32)
    readout = frame_readout(head)
    if readout == "window":
        graph, outputs = head, ["logits"]
    else:  # a head that labels each step: lrcn reads its steps too, so the graph gives them
        graph, outputs = FrameReadouts(head), ["logits", "step_logits"]
    write_onnx(graph, (torch.from_numpy(windows),), out / "head.onnx", ["embeddings"], outputs,
          {"embeddings": {0: batch, 1: time_}})
    with torch.no_grad():
        torch_out = graph(torch.from_numpy(windows))
        torch_out = [o.numpy() for o in (torch_out if isinstance(torch_out, tuple) else (torch_out,))]
    onnx_out = session(out / "head.onnx").run(None, {"embeddings": windows})
    logits_torch = torch_out[0]
    checks["head"] = _difference(onnx_out[0], logits_torch)
    if readout != "window":
        checks["head_steps"] = _difference(onnx_out[1], torch_out[1])

    files = {"cnn": "cnn.onnx", "head": "head.onnx"}
    if head.cfg.causal:
        layers, hidden = head.cfg.lstm_layers, head.cfg.hidden_size
        step = _Step(head)
        zeros = torch.zeros(layers, 2, hidden)
        e = torch.from_numpy(windows[:, 0])
        # distinct tensors: an input given twice would be traced as one, and embedding - previous as zero
        write_onnx(step, (e, e.clone(), zeros, zeros.clone()), out / "head_step.onnx", ["embedding", "previous", "h", "c"],
              ["logits", "h_out", "c_out"], {"embedding": {0: batch}, "previous": {0: batch},
                                             "h": {1: batch}, "c": {1: batch}})
        stepper = session(out / "head_step.onnx")
        h = c = np.zeros((layers, 2, hidden), np.float32)
        prev = windows[:, 0]
        for t in range(window):  # stepping through the window reaches the window head's logits
            logits_step, h, c = stepper.run(None, {"embedding": windows[:, t], "previous": prev, "h": h, "c": c})
            prev = windows[:, t]
        checks["head_step"] = _difference(logits_step, logits_torch)
        files["head_step"] = "head_step.onnx"

    worst = max(rel for _, rel in checks.values())
    info = {
        "format": "lrcn-onnx", "version": 1, "checkpoint": str(resolve_checkpoint(cfg.checkpoint)),
        "classes": list(ckpt.class_names), "fps": spec.fps, "window": window, "causal": head.cfg.causal,
        "readout": readout, "outputs": {"head": outputs},
        "feature_dim": head.cfg.feature_dim, "lstm": {"layers": head.cfg.lstm_layers, "hidden": head.cfg.hidden_size},
        "preprocessing": {"sample": f"frames by presentation time at {spec.fps:g} fps: with t the frame's time in "
                                    f"seconds from the first frame, keep it when t + tol >= k / fps (k: samples kept "
                                    f"so far, tol = 0.5 / max(source fps, fps)), then k = max(k + 1, "
                                    f"floor((t + tol) * fps) + 1)",
                          "scaled_size": "shorter side 256; longer side max(224, round(longer * 256 / shorter))",
                          "head_input": "every window of `window` consecutive embeddings (stride 1)",
                          "frame_probabilities": FRAME_RULES[readout],
                          "resize": RESIZE_RULE if spec.crop == "center" else "224x224, FFmpeg swscale bilinear",
                          "interpolation": INTERPOLATION.lower(),
                          "crop": "center 224x224" if spec.crop == "center" else "none (the frame squashed)",
                          "resize_shorter_side": RESIZE if spec.crop == "center" else None, "crop_size": CROP,
                          "input": "uint8 RGB (N, 224, 224, 3); mean and std are applied inside cnn.onnx",
                          "mean": [m * 255 for m in IMAGENET_MEAN], "std": [s * 255 for s in IMAGENET_STD],
                          "embedding_rounding": "float16, as lrcn's cache stores embeddings"},
        "files": files,
        "sha256": {name: file_sha256(out / f) for name, f in files.items()},
        "checkpoint_weights_sha256": weights_sha256(ckpt.model),
        "check": {"video": cfg.video or "frames made by lrcn export (no --video)", "frames": int(len(frames)), "tolerance_relative": TOLERANCE,
                  **{k: {"max_abs_difference": a, "relative": r} for k, (a, r) in checks.items()}},
    }
    write_text_atomic(out / "lrcn_model.json", json.dumps(info, indent=2))
    if worst > TOLERANCE:
        raise LrcnError(f"{out}: ONNX Runtime differs from PyTorch by {worst:.2e} of the output's size "
                        f"(> {TOLERANCE:g}); the export is not faithful ({checks})")
    return info
