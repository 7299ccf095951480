"""Writing video: RGB arrays or decoded frames encoded with PyAV (not atomic: wrap in ``atomic_path``)."""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
import numpy as np

def _even(n: int) -> int:
    return max(2, n - (n % 2))


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Sequence[np.ndarray],
    fps: float,
    codec: str = "mpeg4",
    quality: int = 2,
    max_b_frames: int = 0,
    gop: int = 12,
) -> None:
    """Write RGB frames ``(N, H, W, 3)`` uint8 to ``path``. See :func:`write_video_stream`."""
    if len(frames) == 0:
        raise ValueError("no frames to write")
    write_video_stream(path, iter(frames), fps, codec, quality, max_b_frames, gop)


def write_video_stream(
    path: str | os.PathLike,
    frames: Iterator[np.ndarray],
    fps: float,
    codec: str = "mpeg4",
    quality: int = 2,
    max_b_frames: int = 0,
    gop: int = 12,
    preset: str = "veryfast",
) -> int:
    """Encode RGB frames (or ``av.VideoFrame`` s) from an iterator, one held at a time. Not atomic: wrap
    in ``atomic_path``.

    ``codec`` is ``mpeg4`` (the UCF-101 codec, in .avi), ``libx264`` (.mp4),
    ``ffv1`` (lossless, .mkv/.avi) or ``gif``. ``quality`` is the MPEG-4
    quantiser (1 best .. 31) or the x264 CRF (0 = lossless). 4:2:0 codecs
    need even sizes: an odd width/height loses its last column/row. ``gop`` is
    the MPEG-4 keyframe interval (xvid, UCF-101's encoder, defaults to 300);
    ``preset`` is x264's speed/size trade-off.
    Returns the number of frames written.
    """
    first = next(frames, None)
    if first is None:
        raise ValueError("no frames to write")
    height, width = (first.height, first.width) if isinstance(first, av.VideoFrame) else first.shape[:2]
    out_w, out_h = (width, height) if codec in ("ffv1", "gif") else (_even(width), _even(height))
    rate = Fraction(fps).limit_denominator(1001)
    container = av.open(str(path), mode="w", format=_container_format(path))
    count = 0
    try:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = out_w, out_h
        if codec == "gif":
            stream.pix_fmt = "rgb8"
        elif codec == "ffv1":
            stream.pix_fmt = "bgr0"  # RGB without chroma subsampling: truly lossless
        else:
            stream.pix_fmt = "yuv420p"
        if codec == "mpeg4":
            # A fixed quantiser (qmin = qmax) is FFmpeg's ``-q:v``; bit_rate only lifts the cap.
            stream.bit_rate = 50_000_000
            stream.options = {"qmin": str(quality), "qmax": str(quality), "bf": str(max_b_frames), "g": str(gop)}
        elif codec == "libx264":
            stream.options = {"crf": str(quality), "preset": preset}
        for item in itertools.chain([first], frames):
            if isinstance(item, av.VideoFrame):  # already a frame (e.g. YUV from the decoder): no RGB round trip
                frame = item if (item.width, item.height) == (out_w, out_h) else item.reformat(out_w, out_h)
                frame.pts, frame.time_base = count, Fraction(1) / rate  # the source's clock means nothing here
            else:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(item[:out_h, :out_w]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    return count


def _container_format(path: str | os.PathLike) -> str | None:
    suffix = Path(str(path)).suffix.lower()
    # Temporary names (clip.avi.tmp123) must still pick the right muxer.
    for ext, fmt in ((".avi", "avi"), (".mp4", "mp4"), (".mkv", "matroska"), (".gif", "gif"), (".webm", "webm")):
        if str(path).lower().endswith(ext) or ext + "." in str(path).lower():
            return fmt
    return None if suffix else "avi"


def rgb_to_yuv420_planes(rgb: np.ndarray) -> list[np.ndarray]:
    """``(H, W, 3)`` uint8 RGB (even sides) as YUV 4:2:0 planes ``[Y, U, V]``, converted by FFmpeg."""
    yuv = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
    return [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy() for p in yuv.planes]


class TimedWriter:
    """An H.264 MP4 written frame by frame, each RGB frame at its own time (milliseconds, strictly
    rising): a recording of frames that arrive irregularly. Not atomic (write to a temporary and
    rename). Every PyAV or OS failure is raised as :class:`OSError`."""

    def __init__(self, path: str | os.PathLike, width: int, height: int, crf: int, preset: str):
        try:
            self._container = av.open(str(path), mode="w", format="mp4")
            self._stream = self._container.add_stream("libx264", rate=30)
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
            self._stream.codec_context.time_base = Fraction(1, 1000)
            self._stream.options = {"crf": str(crf), "preset": preset}
        except av.FFmpegError as exc:
            raise OSError(str(exc)) from None
        self.width, self.height, self._last_pts = width, height, -1

    def add(self, rgb: np.ndarray, seconds: float) -> None:
        pts = max(int(round(seconds * 1000)), self._last_pts + 1)
        try:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: self.height, : self.width]), format="rgb24")
            frame.pts, self._last_pts = pts, pts
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except av.FFmpegError as exc:
            raise OSError(str(exc)) from None

    def close(self) -> None:
        """Flush the encoder and close the file."""
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        except av.FFmpegError as exc:
            raise OSError(str(exc)) from None
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Close the file without flushing (after an error); never raises."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - closing a broken file must not hide the first error
                pass
