"""Opening a video with PyAV and turning its frames into arrays: what every reader and writer shares."""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import VideoError

# FFmpeg messages would drown our one-line errors, and PyAV's log callback into Python can deadlock
# multi-threaded decoders (PyAV issues 751, 909): switch it off entirely.
av.logging.set_level(None)

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video's first video stream."""

    path: str
    fps: float  # nominal frames per second (average rate)
    num_frames: int  # container's frame count, or duration * fps where it gives none
    duration: float  # seconds
    width: int
    height: int
    codec: str


@dataclass(frozen=True)
class SampledFrame:
    """One frame kept by :func:`iter_frames_at_fps`."""

    sample_index: int  # 0, 1, 2 ... in the sampled sequence
    source_index: int  # index of the frame in decode (= presentation) order
    time: float  # seconds from the first frame
    rgb: np.ndarray  # (H, W, 3) uint8


def require_file(path: str | os.PathLike) -> None:
    """One line for a path that is no file to read: missing, a broken link, or a directory.

    Raises:
        VideoError: naming ``path`` and which of these it is.
    """
    path = str(path)
    if not os.path.exists(path):
        if os.path.islink(path):
            try:
                os.stat(path)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise VideoError(f"{path}: symbolic link loop (it leads back to itself through "
                                     f"{os.readlink(path)})") from None
            raise VideoError(f"{path}: broken symbolic link (its target {os.readlink(path)} is missing)")
        raise VideoError(f"{path}: file not found")
    if os.path.isdir(path):
        raise VideoError(f"{path}: a directory, not a video file")


def open_video(path: str | os.PathLike, live: bool = False,
          timeout: float | None = None) -> tuple["av.container.InputContainer", "av.video.stream.VideoStream"]:
    """A file (checked first), or with ``live`` a camera, a URL or ``-`` (standard input)."""
    path = str(path)
    if live:
        import sys

        source = sys.stdin.buffer if path == "-" else path
        extra = {"format": "v4l2" if path.startswith("/dev/video") else None, "timeout": timeout,
                 "options": {"rtsp_transport": "tcp"} if path.startswith("rtsp://") else {}}
    else:
        require_file(path)
        if os.path.getsize(path) == 0:
            raise VideoError(f"{path}: empty file (0 bytes)")
        source, extra = path, {}
    try:
        container = av.open(source, metadata_errors="ignore", **extra)
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        what = "cannot open the stream" if live else "not a readable video"
        raise VideoError(f"{path}: {what} ({reason(exc)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream" + ("" if live else " in the file"))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads inside FFmpeg
    return container, stream


def reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # PyAV puts "[Errno N] msg: 'path'" -- the path is already in our message.
    return re.sub(r"^\[Errno -?\d+\] ", "", text.split(": '")[0])


def decode_frames(container, stream, path) -> Iterator["av.VideoFrame"]:
    """Decode every frame, turning decoder errors into VideoError with the file named."""
    try:
        yield from container.decode(stream)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: decoding failed ({reason(exc)})") from None


def quarter_turns(frame: "av.VideoFrame") -> int:
    """Counter-clockwise quarter turns the display matrix asks for (a phone's ``rotation=-90``: 3)."""
    return int(round(float(getattr(frame, "rotation", 0) or 0) / 90)) % 4


def to_rgb(frame: "av.VideoFrame", size: tuple[int, int] | None, interpolation: str | None = None) -> np.ndarray:
    """The frame as shown: RGB, rotated as its display matrix says, then ``size`` = (width, height)."""
    turns = quarter_turns(frame)
    if size is None:
        rgb = frame.to_ndarray(format="rgb24")
    else:
        width, height = size if turns % 2 == 0 else size[::-1]  # scale before turning: the shown size is asked
        extra = {"interpolation": interpolation} if interpolation else {}
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height, **extra)
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def resize_rgb(frames: np.ndarray, size: tuple[int, int], interpolation: str | None = None) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 RGB frames already in memory, scaled by FFmpeg to ``size`` = (width, height)."""
    width, height = size
    return np.stack([av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
                     .to_ndarray(format="rgb24", width=width, height=height,
                                 **({"interpolation": interpolation} if interpolation else {}))
                     for f in frames])


def is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS
