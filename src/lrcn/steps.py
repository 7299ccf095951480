"""Frames to steps: the one pre-processing rule, and one embedding per sampled time step.

Every frame a model sees -- training, ``predict``, ``stream``, ``classify``, the export's JSON --
goes through the same rule (:data:`RESIZE_RULE`): FFmpeg's bilinear scaler from the decoded
picture so the shorter side is 256, then a 224 x 224 crop (the centre; training views add flips
and corners). A frame backbone embeds each step's frame; a clip backbone (I3D) embeds a short clip
of source frames around the step (:class:`ClipGeometry`), so the head always reads one vector per
step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .config import CLIP_BACKBONES, VIEWS

RESIZE = 256  # shorter side, as torchvision's ImageNet evaluation (and the seed)
CROP = 224

#: The one pre-processing rule of every frame a model sees (training, predict, stream, classify, the
#: export's JSON): FFmpeg's bilinear scaler (PyAV's name) from the decoded picture, then a crop.
INTERPOLATION = "BILINEAR"
RESIZE_RULE = ("FFmpeg swscale bilinear (SWS_BILINEAR) from the decoded picture to RGB24 at the size where the "
               "shorter side is 256 (aspect kept, the longer side rounded), then the centre 224 x 224")


def decode_size(width: int, height: int, crop: str) -> tuple[int, int]:
    """(width, height) FFmpeg should scale to: shorter side 256 (aspect kept), or 224x224 for 'full'."""
    if crop == "full":
        return CROP, CROP
    if width <= height:
        return RESIZE, max(CROP, int(round(height * RESIZE / width)))
    return max(CROP, int(round(width * RESIZE / height))), RESIZE


def make_views(frames: np.ndarray, views: Sequence[str]) -> np.ndarray:
    """(T, H, W, 3) resized frames -> (V, T, 224, 224, 3) fixed crops/flips."""
    _, h, w, _ = frames.shape
    if (h, w) == (CROP, CROP):
        boxes = {name: (0, 0) for name in VIEWS}
    else:
        top, left = (h - CROP) // 2, (w - CROP) // 2
        boxes = {
            "center": (top, left), "flip": (top, left),
            "top_left": (0, 0), "top_right": (0, w - CROP),
            "bottom_left": (h - CROP, 0), "bottom_right": (h - CROP, w - CROP),
        }
    out = []
    for name in views:
        y, x = boxes[name]
        crop = frames[:, y : y + CROP, x : x + CROP]
        out.append(crop[:, :, ::-1] if name == "flip" else crop)
    return np.ascontiguousarray(np.stack(out))


@dataclass(frozen=True)
class ClipGeometry:
    """How a clip backbone embeds one time step: ``frames`` source frames sampled at ``fps``,
    centred on the step (``center``) or ending at it (``end``: no look-ahead, for live sources)."""

    frames: int = 16
    fps: float = 25.0
    placement: str = "center"

    def indices(self, centre: int) -> range:
        """Indices (at ``fps``) of the clip of the step whose own frame is ``centre``."""
        first = centre - self.frames // 2 if self.placement == "center" else centre - self.frames + 1
        return range(first, first + self.frames)


#: The I3D's clip: 16 frames at 25 fps (0.64 s), the length the Kinetics features of temporal
#: action segmentation are computed from and the shortest that reaches I3D's last pooling whole.
I3D_CLIP = ClipGeometry(*CLIP_BACKBONES["i3d"])


def clip_geometry(arch: str, placement: str = "center") -> ClipGeometry | None:
    """The clip a step of ``arch`` is embedded from (None: a frame backbone, one frame per step)."""
    if arch not in CLIP_BACKBONES:
        return None
    frames, fps = CLIP_BACKBONES[arch]
    return ClipGeometry(frames, fps, placement)


class StepEmbedder:
    """Frames in (``push``), one embedding per time step out, in order, each step embedded once.

    ``embed`` takes uint8 crops -- ``(N, 224, 224, 3)`` frames, or with ``clip`` ``(N, T, 224,
    224, 3)`` clips -- and returns ``(N, D)``. Frames are pushed at :attr:`decode_fps`, already
    scaled by the one rule (shorter side 256); steps come out at ``step_fps``, ``batch`` at a time
    (``flush`` at the end gives the rest; a clip past the end repeats the last frame, one before
    the start the first). Outputs are rounded to float16, as the embedding cache stores them.
    """

    def __init__(self, embed: Callable[[torch.Tensor], torch.Tensor], step_fps: float,
                 clip: ClipGeometry | None = None, batch: int = 32, view: str = "center"):
        self.embed, self.step_fps, self.clip, self.batch = embed, step_fps, clip, max(1, batch)
        self.view = view  # the crop (or flip) every frame gets
        self.decode_fps = clip.fps if clip else step_fps
        self._times: list[float] = []
        self._items: list[np.ndarray] = []
        self._frames: dict[int, tuple[float, np.ndarray]] = {}  # clip backbones: recent frames by index
        self._first = 0  # the oldest index still needed
        self._last = -1  # the newest index pushed
        self._step = 0  # the next step to embed

    def _centre(self, step: int) -> int:
        return int(round(step / self.step_fps * self.clip.fps + 1e-9))

    def push(self, time: float, rgb: np.ndarray) -> list[tuple[float, np.ndarray]]:
        crop = make_views(rgb[None], (self.view,))[0, 0]  # (224, 224, 3)
        if self.clip is None:
            self._times.append(time)
            self._items.append(crop)
        else:
            self._last += 1
            self._frames[self._last] = (time, crop)
            while self.clip.indices(self._centre(self._step))[-1] <= self._last:
                self._take_clip(self._step)
                self._step += 1
        return self._run() if len(self._items) >= self.batch else []

    def flush(self) -> list[tuple[float, np.ndarray]]:
        if self.clip is not None:
            while self._last >= 0 and self._centre(self._step) <= self._last:
                self._take_clip(self._step)
                self._step += 1
        return self._run() if self._items else []

    def _take_clip(self, step: int) -> None:
        centre = self._centre(step)
        idx = [min(max(i, 0), self._last) for i in self.clip.indices(centre)]
        self._times.append(self._frames[min(centre, self._last)][0])
        self._items.append(np.stack([self._frames[i][1] for i in idx]))
        keep = self.clip.indices(self._centre(step + 1))[0]
        for old in range(self._first, min(keep, self._last)):
            self._frames.pop(old, None)
        self._first = max(self._first, min(keep, self._last))

    def _run(self) -> list[tuple[float, np.ndarray]]:
        batch = torch.from_numpy(np.ascontiguousarray(np.stack(self._items)))
        emb = self.embed(batch).float().cpu().numpy().astype(np.float16)
        out = list(zip(self._times, emb))
        self._times, self._items = [], []
        return out


