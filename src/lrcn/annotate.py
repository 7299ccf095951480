"""Labels drawn on video: one renderer (:func:`label_image`) for the annotated MP4 of ``lrcn predict``
(pasted into the decoder's YUV frames, re-encoded at a capped size) and the seed's
``Video_with_prediction_vs_true_labels`` of ``lrcn test-continuous`` (pasted into RGB frames)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .decode import Segment
from .errors import LrcnError
from .io import atomic_path
from .video import probe


def annotated_size(width: int, height: int, cap: int | None) -> tuple[int, int] | None:
    """(width, height) with the shorter side at most ``cap`` (aspect kept, even), or None: as it is."""
    short = min(width, height)
    if not cap or short <= cap:
        return None
    scale = cap / short
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


#: How the annotated MP4 is made. x264's ultrafast encodes 720p twice as fast as superfast here, and
#: FFmpeg's area scaler downscales twice as fast as its default bicubic (benchmarks/predict.py --hd
#: prints the whole against the earlier way: full size, veryfast, CRF 20, bicubic); the file is for
#: watching the labels, not for archiving.
ANNOTATE_PRESET, ANNOTATE_CRF, ANNOTATE_SCALER = "ultrafast", 23, "AREA"


YELLOW, GREEN, RED, WHITE = (255, 255, 0), (0, 255, 0), (255, 64, 64), (255, 255, 255)


def label_image(lines: Sequence[tuple[str, tuple[int, int, int]]], width: int | None = None,
                size: int | None = None) -> np.ndarray:
    """Lines of text, each in its colour, on a black box (RGB ``(H, W, 3)``, even sides): how every
    lrcn video shows a label. ``width``: the box at least this wide; ``size``: the font's pixel size
    (default: Pillow's small bitmap font)."""
    from PIL import Image, ImageDraw, ImageFont

    font = None
    if size:
        try:
            font = ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
        except TypeError:
            font = None
    probe_draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    boxes = [probe_draw.textbbox((0, 0), text, font=font) for text, _ in lines]
    w = max([b[2] - b[0] for b in boxes] + [(width or 0) - 6]) + 6
    line_h = max(b[3] - b[1] for b in boxes) + 4
    h = line_h * len(lines) + 2
    img = Image.new("RGB", (w + w % 2, h + h % 2), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    for k, ((text, colour), box) in enumerate(zip(lines, boxes)):
        draw.text((3 - box[0], 3 - box[1] + k * line_h), text, fill=colour, font=font)
    return np.asarray(img)


def paste_rgb(rgb: np.ndarray, label: np.ndarray, x: int = 0, y: int = 0) -> np.ndarray:
    """A copy of frame ``rgb`` with ``label`` (from :func:`label_image`) drawn at (x, y), clipped."""
    out = np.array(rgb, copy=True)
    h, w = min(label.shape[0], out.shape[0] - y), min(label.shape[1], out.shape[1] - x)
    out[y : y + h, x : x + w] = label[:h, :w]
    return out


def label_patch(text: str, *more: str, size: int | None = None) -> list[np.ndarray]:
    """:func:`label_image` of a yellow line (and ``more`` white ones) as YUV 4:2:0 planes [Y, U, V], for
    pasting into decoded frames."""
    from .video import rgb_to_yuv420_planes

    return rgb_to_yuv420_planes(label_image([(text, YELLOW)] + [(line, WHITE) for line in more], size=size))


def font_size(height: int) -> int:
    """The label's font size for a frame ``height`` pixels tall: 1/24 of it, at least 11 (readable at any size)."""
    return max(11, round(height / 24))


def _paste(frame, patch: list[np.ndarray], x: int = 6, y: int = 6) -> None:
    """Draw ``patch`` (from :func:`label_patch`) into a YUV 4:2:0 frame at (x, y) (even), clipped."""
    for k, (plane, part) in enumerate(zip(frame.planes, patch)):
        px, py = (x, y) if k == 0 else (x // 2, y // 2)
        dst = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        h, w = min(part.shape[0], dst.shape[0] - py), min(part.shape[1], dst.shape[1] - px)
        if h > 0 and w > 0:
            dst[py : py + h, px : px + w] = part[:h, :w]


def annotate_video(path: Path, segments: list[Segment], out: Path, size_cap: int | None = 720,
                   times: Sequence[float] | None = None, confidence: Sequence[float] | None = None) -> None:
    """Re-encode ``path`` at its fps, its shorter side capped at ``size_cap`` pixels, with the current
    segment's label drawn on it in a font that scales with the frame (1/24 of its height): the label
    with the confidence of the current sampled step (``times``/``confidence``: each step's time and its
    probability of the decoded label; else the segment's mean), the runners-up under it, and
    "(unlike the training data)" on an unfamiliar segment. Frames stay in the decoder's YUV: FFmpeg
    scales them, each label (rendered once per step) is pasted into the planes, and the encoder takes
    them as they are."""
    from .video import iter_display_frames, write_video_stream

    info = probe(path)
    size = annotated_size(info.width, info.height, size_cap)
    text_size = font_size((size or (info.width, info.height))[1])
    patches: dict[tuple[int, int], list[np.ndarray]] = {}
    times = np.asarray(times if times is not None else [], float)

    def frames():
        k = 0
        for t, frame in iter_display_frames(path, size, ANNOTATE_SCALER):
            while k + 1 < len(segments) and t >= segments[k + 1].start:
                k += 1
            if segments and segments[k].start <= t < segments[k].end + 1e-6:
                step = int(np.searchsorted(times, t + 1e-6) - 1) if len(times) and confidence is not None else -1
                key = (k, step)
                if key not in patches:
                    s = segments[k]
                    conf = float(confidence[step]) if step >= 0 else s.confidence
                    others = [f"{name} {p:.0%}" for name, p in s.top if name != s.label][:2]  # the runners-up
                    more = (["or " + ", ".join(others)] if others else []) + (
                        ["(unlike the training data)"] if s.unfamiliar else [])
                    patches.clear()  # one step's label at a time: memory stays flat on a long video
                    patches[key] = label_patch(f"{s.label} {conf:.0%}", *more, size=text_size)
                _paste(frame, patches[key])
            yield frame

    with atomic_path(out) as tmp:
        write_video_stream(tmp, frames(), info.fps or 25.0, codec="libx264", quality=ANNOTATE_CRF,
                           preset=ANNOTATE_PRESET)


class Recorder:
    """An MP4 written frame by frame as a stream is labelled (``lrcn stream --record``): each frame the
    model saw, at its stream time (a dropped frame holds the one before), with its label drawn. Written
    under a temporary name and renamed by :meth:`close`, so a stopped stream leaves a playable file."""

    def __init__(self, path: str | Path):
        self.path, self._tmp, self._writer = Path(path), None, None
        self.frames = 0

    def add(self, rgb: np.ndarray, t: float, text: str | None) -> None:
        from .io import temporary_sibling
        from .video import TimedWriter

        try:
            if self._writer is None:
                self._tmp = temporary_sibling(self.path)
                self._writer = TimedWriter(self._tmp, rgb.shape[1] - rgb.shape[1] % 2, rgb.shape[0] - rgb.shape[0] % 2,
                                           ANNOTATE_CRF, ANNOTATE_PRESET)
            if text:
                rgb = paste_rgb(rgb, label_image([(text, YELLOW)]), 6, 6)
            self._writer.add(rgb, t)
        except OSError as exc:  # a full disk, say: one line, no half file left
            self._abandon()
            raise LrcnError(f"{self.path}: could not write the recording ({exc})") from None
        self.frames += 1

    def _abandon(self) -> None:
        import contextlib
        import os

        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abandon()
        with contextlib.suppress(OSError):
            if self._tmp is not None:
                os.unlink(self._tmp)

    def close(self) -> None:
        """Finish the file and put it in place (nothing is written if no frame came)."""
        import os

        if self._writer is None:
            return
        try:
            writer, self._writer = self._writer, None
            writer.close()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self._writer = None
            self._abandon()
            raise LrcnError(f"{self.path}: could not write the recording ({exc})") from None
