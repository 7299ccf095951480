"""The Python API: a trained model in a notebook, nothing written unless asked.

    import lrcn
    model = lrcn.load("runs/latest")             # a run folder or a .pth.tar
    result = model.predict("video.mp4")          # segments and per-frame labels, in memory
    for s in result.segments:
        print(f"{s.start:6.1f}-{s.end:6.1f} s  {s.label}  {s.confidence:.0%}")
    label, probs = model.classify(frames)        # (T, H, W, 3) uint8 frames already in memory

``predict`` does what ``lrcn predict`` does up to the segments (sample by time at the
checkpoint's fps, embed each frame once, slide the window, decode) and returns them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .backbone import FrameEmbedder
from .checkpoint import resolve_checkpoint
from .decode import Segment
from .distributed import local_device
from .errors import ConfigError
from .evaluate import load_head
from .features import decode_size, make_views
from .metrics import softmax
from .model import run_head
from .predict import segment_video
from .config import Decoding


@dataclass
class Prediction:
    """What :meth:`Model.predict` finds in one video."""

    video: str
    segments: list[Segment]  # start/end seconds, label, mean confidence
    times: np.ndarray  # (N,) seconds of each sampled frame
    labels: list[str]  # (N,) decoded label of each sampled frame
    frame_probs: np.ndarray  # (N, C) each frame's mean over the windows covering it
    window_starts: np.ndarray  # (W,) first frame of each window
    window_probs: np.ndarray  # (W, C)
    classes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The label that covers most of the video."""
        if not self.segments:
            return ""
        totals: dict[str, float] = {}
        for s in self.segments:
            totals[s.label] = totals.get(s.label, 0.0) + s.end - s.start
        return max(totals, key=totals.get)


class Model:
    """A trained LRCN: the frozen CNN and the head of one checkpoint."""

    def __init__(self, checkpoint: str | os.PathLike, device: str | None = None, precision: str = "auto"):
        self.device = local_device(device)
        self.checkpoint = resolve_checkpoint(checkpoint)
        self.head, self._ckpt = load_head(self.checkpoint, self.device)
        self.spec = self._ckpt.features
        self.classes: list[str] = list(self._ckpt.class_names)
        self.num_frames: int = self._ckpt.sampling.num_frames
        self.fps: float = float(self.spec.fps)
        self.embedder = FrameEmbedder(self.spec.backbone, device=self.device, precision=precision)

    def __repr__(self) -> str:
        return (f"lrcn.Model({str(self.checkpoint)!r}: {len(self.classes)} classes, {self.spec.backbone.arch}, "
                f"{self.num_frames} frames at {self.fps:g} fps)")

    def predict(self, video: str | os.PathLike, decoding: Decoding | None = None, stride: int = 1,
                batch_size: int = 32) -> Prediction:
        """Label the actions along ``video``: segments and per-frame labels (nothing is written)."""
        path = Path(video)
        v = segment_video(path, self.head, self.embedder, self.spec, self.num_frames, self.classes,
                          decoding or Decoding(), "live", stride, batch_size, self.device)
        return Prediction(str(path), v.segments, v.scored.times, [self.classes[c] for c in v.labels], v.frame_probs,
                          v.scored.starts, v.scored.probs, self.classes)

    def predict_many(self, videos: str | os.PathLike | Iterable[str | os.PathLike], **kwargs) -> list[Prediction]:
        """:meth:`predict` for each video; one path (a ``str``) is one video, not a list of characters."""
        if isinstance(videos, (str, os.PathLike)):
            videos = [videos]
        return [self.predict(v, **kwargs) for v in videos]

    def classify(self, frames: np.ndarray | Sequence[np.ndarray]) -> tuple[str, np.ndarray]:
        """The action in ``frames``: ``(T, H, W, 3)`` uint8 RGB, already sampled at :attr:`fps`, any size
        (resized and centre-cropped as in training). ``T`` must be :attr:`num_frames`; a longer
        sequence is scored by every window, averaged. Returns the label and the class probabilities."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ConfigError(f"frames must be (T, H, W, 3) uint8 RGB, got {frames.dtype} {frames.shape}")
        if len(frames) < self.num_frames:
            raise ConfigError(f"{len(frames)} frames, the model reads windows of {self.num_frames}")
        w, h = decode_size(frames.shape[2], frames.shape[1], self.spec.crop)
        resized = frames if frames.shape[1:3] == (h, w) else torch.nn.functional.interpolate(
            torch.from_numpy(frames).permute(0, 3, 1, 2).float(), size=(h, w), mode="bicubic", align_corners=False,
            antialias=True).clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()
        crops = make_views(resized, ("center",))[0]
        emb = self.embedder(torch.from_numpy(crops)).cpu().numpy().astype(np.float16).astype(np.float32)
        windows = np.stack([emb[s : s + self.num_frames] for s in range(len(emb) - self.num_frames + 1)])
        logits = run_head(self.head, windows, self.device)
        probs = softmax(logits).mean(0)
        return self.classes[int(probs.argmax())], probs


def load(checkpoint: str | os.PathLike, device: str | None = None, precision: str = "auto") -> Model:
    """A trained model from a checkpoint file or a run folder (its final, else best, else last model)."""
    return Model(checkpoint, device=device, precision=precision)
