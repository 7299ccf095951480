"""Reading video: probing, frame-exact reads by index, sampling by time, live sources.

Reads are frame-exact: we decode straight through from the start, in decode order, and stop at the
last frame needed. Seeking by timestamp is not used: on UCF-101's xvid AVIs (B-frames, no reliable
timestamps) it lands 1-3 frames off, while decoding straight through is both exact and, for clips
of a few seconds, the fastest way. Only the frames kept are converted to RGB, and FFmpeg (swscale)
does the resize during that conversion. Frames no read needs are left out before the decoder where
the bitstream allows it (:mod:`lrcn.video.bitstream`); frames, indices and times are those of
decoding every frame (tested in pixels at 7 rates).
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Callable, Iterator, Sequence

import av
import numpy as np

from .. import clips as clipmath
from ..errors import ConfigError, VideoError
from . import bitstream
from .container import SampledFrame, VideoInfo, decode_frames, open_video, quarter_turns, reason, to_rgb

def probe(path: str | os.PathLike) -> VideoInfo:
    """Return fps, frame count, duration and the shown size of ``path``.

    Reads the headers and decodes the first frame only (its display matrix says whether the video
    is shown turned). Remembered per (path, inode, size, modification time), so the several stages
    that ask about one video open it once.

    Raises:
        VideoError: the file is missing, empty, unreadable or has no video stream.
    """
    stat = os.stat(path) if os.path.exists(path) else None
    return _probe(str(path), (stat.st_ino, stat.st_size, stat.st_mtime_ns) if stat else None)


@functools.lru_cache(maxsize=256)
def _probe(path: str, version: tuple[int, int, int] | None) -> VideoInfo:
    container, stream = open_video(path)
    try:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        num_frames = int(stream.frames or 0)
        if num_frames <= 0 and fps > 0:
            num_frames = int(round(duration * fps))
            if num_frames <= 1:  # no count in the header and a duration of one frame: timestamps all zero?
                with contextlib.suppress(av.FFmpegError, OSError, ValueError):
                    num_frames = _packet_count(container, stream)
                    duration = max(duration, num_frames / fps)
                    container.seek(0)
        if fps <= 0 and duration > 0 and num_frames > 0:
            fps = num_frames / duration
        if duration <= 0 and fps > 0:
            duration = num_frames / fps
        # A header's frame count can be absurd (2^31-1 for a 100-frame file); every frame takes at least a
        # few bytes of the file, which bounds it. Work estimates that matter count packets instead.
        most = max(1, os.path.getsize(path) // MIN_FRAME_BYTES)
        if num_frames > most:
            num_frames = most
            if fps > 0:
                duration = min(duration, most / fps)
        ctx = stream.codec_context
        width, height = ctx.width, ctx.height
        if _first_frame_turns(container, stream) % 2:  # shown rotated by a quarter turn: portrait
            width, height = height, width
        return VideoInfo(str(path), fps, num_frames, duration, width, height, ctx.name or "?")
    finally:
        container.close()


#: Fewest bytes one video frame takes in a file (an AVI chunk header alone is 8).
MIN_FRAME_BYTES = 8


def _first_frame_turns(container, stream) -> int:
    """Quarter turns of the first frame's display matrix (0 where nothing decodes)."""
    try:
        for frame in container.decode(stream):
            return quarter_turns(frame)
    except (av.FFmpegError, OSError, ValueError):
        pass
    return 0


def _packet_count(container, stream) -> int:
    return sum(1 for p in container.demux(stream) if p.size)


def count_packets(path: str | os.PathLike) -> int:
    """Frames in the video stream by its packets, without decoding (reads the file once)."""
    container, stream = open_video(path)
    try:
        return _packet_count(container, stream)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: reading failed ({reason(exc)})") from None
    finally:
        container.close()


def count_frames(path: str | os.PathLike) -> int:
    """Decode the whole video and count its frames (the truth when a container lies)."""
    container, stream = open_video(path)
    try:
        return sum(1 for _ in decode_frames(container, stream, path))
    finally:
        container.close()


class ShortVideoError(VideoError):
    """The stream ended before a requested frame; ``frames_decoded`` is the true length."""

    def __init__(self, message: str, frames_decoded: int):
        super().__init__(message)
        self.frames_decoded = frames_decoded


def read_frames(
    path: str | os.PathLike, indices: Sequence[int], size: tuple[int, int] | None = None
) -> np.ndarray:
    """Return the frames at ``indices`` (in the order given) as ``(N, H, W, 3)`` uint8 RGB.

    Decodes from the start and stops at ``max(indices)``; only the wanted frames
    are converted. ``size`` is ``(width, height)`` for an FFmpeg resize.

    Raises:
        ShortVideoError: the stream ended before the last index.
        VideoError: the file cannot be opened or decoded.
    """
    if len(indices) == 0:
        raise ValueError("no frame indices given")
    if min(indices) < 0:
        raise ValueError(f"negative frame index {min(indices)}")
    wanted = set(indices)
    last = max(indices)
    kept: dict[int, np.ndarray] = {}
    container, stream = open_video(path)
    try:
        if stream.codec_context.name == "mpeg4":
            try:
                decoded = bitstream.read_dropping_b_frames(container, stream, path, wanted, last, size, kept)
                return _stack_or_short(path, kept, indices, decoded)
            except bitstream.NotPlainMpeg4:
                container.close()
                container, stream = open_video(path)
                kept.clear()
        decoded = 0
        for i, frame in enumerate(decode_frames(container, stream, path)):
            decoded = i + 1
            if i in wanted:
                kept[i] = to_rgb(frame, size)
            if i >= last:
                break
    finally:
        container.close()
    return _stack_or_short(path, kept, indices, decoded)


def _stack_or_short(path, kept: dict[int, np.ndarray], indices: Sequence[int], decoded: int) -> np.ndarray:
    last = max(indices)
    if last not in kept:
        raise ShortVideoError(
            f"{path}: video has {decoded} decodable frames, frame {last} was requested", decoded
        )
    return np.stack([kept[i] for i in indices])


def iter_frames_at_fps(
    path: str | os.PathLike,
    target_fps: float | None,
    size: tuple[int, int] | None = None,
    interpolation: str | None = None,
) -> Iterator[SampledFrame]:
    """Stream the frames of ``path`` sampled by time at ``target_fps``.

    A frame is kept when its presentation time reaches the next sample time
    (k / target_fps, with half a source frame of tolerance), so any source
    fps -- 25, 29.97, 10 or variable -- yields the same effective rate. For a
    25-fps video and 2.5 fps this keeps frames 0, 10, 20 ... exactly. Only
    one frame is held at a time. ``target_fps=None`` keeps every frame.
    ``interpolation`` is FFmpeg's scaler for ``size`` (default: PyAV's, bilinear: the rule every model
    uses, :data:`lrcn.steps.INTERPOLATION`; ``"AREA"`` is twice as fast for downscaling a video to watch).
    """
    container, stream = open_video(path)
    given = 0  # samples already yielded
    try:
        is_reference = bitstream.h264_slice_test(container, stream) if target_fps is not None else None
        if is_reference is not None:
            try:
                for k, i, t, frame in bitstream.sampled_skipping(container, stream, path, target_fps,
                                                        _source_fps(stream), is_reference):
                    yield SampledFrame(k, i, t, to_rgb(frame, size, interpolation))
                    given = k + 1
                return
            except bitstream.NotExact:  # decode every frame from the start, going on after the samples given
                container.close()
                container, stream = open_video(path)
        for k, i, t, frame in sampled(container, stream, path, target_fps):
            if k >= given:
                yield SampledFrame(k, i, t, to_rgb(frame, size, interpolation))
    finally:
        container.close()


def _source_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return clipmath.source_fps(float(rate) if rate else None)


def sampled(container, stream, path, target_fps: float | None) -> Iterator[tuple[int, int, float, "av.VideoFrame"]]:
    """(sample index, frame index, seconds, frame) of the frames kept at ``target_fps`` (None: all)."""
    if target_fps is not None and target_fps <= 0:
        raise ConfigError(f"target fps must be positive, got {target_fps}")
    src_fps = _source_fps(stream)
    current: list["av.VideoFrame"] = []
    first_time: list[float] = []

    def times() -> Iterator[float | None]:
        for frame in decode_frames(container, stream, path):
            current[:] = [frame]
            raw = frame.time
            if not first_time:
                first_time.append(raw if raw is not None else 0.0)
            yield None if raw is None else raw - first_time[0]

    # One rule for every reader (lrcn.clips.sample_times); None keeps every frame.
    for k, i, t in clipmath.sample_times(times(), src_fps, target_fps or 1e6):
        yield k, i, t, current[0]


def is_live_source(source: str) -> bool:
    """A camera, a network URL or standard input (``-``), as opposed to a file on disk."""
    return source == "-" or "://" in source or source.startswith("/dev/video")


def paces_itself(source: str) -> bool:
    """A camera or a network stream: frames come at their own pace and wait for no reader. A file or a
    pipe (``-``) waits for its reader, so it can be read without losing a frame."""
    return "://" in source or source.startswith("/dev/video")


#: What a pipe can carry: containers that need no seeking to read.
STREAMABLE = "MPEG-TS (ffmpeg ... -f mpegts -), Matroska/WebM (-f matroska -), raw H.264 (-f h264 -) or MJPEG"


def pipe_hint(source: str, error: VideoError) -> VideoError:
    """``error`` of reading standard input, with what a pipe can carry (MP4/MOV need seeking)."""
    if source != "-":
        return error
    return VideoError(f"standard input: {str(error).split(': ', 1)[-1]}; a pipe must carry a container read without "
                      f"seeking: {STREAMABLE}. MP4/MOV/AVI need seeking (fragmented MP4 aside): give the file's path instead")


def iter_live_frames(source: str, target_fps: float, size: Callable[[int, int], tuple[int, int]] | None = None,
                     realtime: bool = False, timeout: float = 10.0) -> Iterator[SampledFrame]:
    """Frames of a live source sampled by presentation time at ``target_fps`` (the same rule as
    files, :func:`lrcn.clips.sample_times`), scaled to ``size(width, height)``.

    ``source``: a camera device (``/dev/video0``, v4l2), an ``rtsp://``, ``http(s)://``, ``udp://``
    or ``tcp://`` URL, ``-`` for standard input, or a file. ``realtime`` paces a file at its own
    speed (a live source paces itself); without it a file is read as :func:`iter_frames_at_fps`
    reads it (H.264 frames no sample needs are not decoded). ``timeout``: seconds to wait to open
    it or for more data.

    Raises:
        VideoError: the source cannot be opened or stops with an error (a clean end just ends).
    """
    import time

    if not realtime and not is_live_source(source):  # a file as fast as possible: the file reader
        info = probe(source)
        yield from iter_frames_at_fps(source, target_fps, size(info.width, info.height) if size else None)
        return
    try:
        container, stream = open_video(source, live=is_live_source(source), timeout=timeout)
    except VideoError as exc:
        raise pipe_hint(source, exc) from None
    try:
        start = time.monotonic()
        for k, i, t, frame in _sampled_or_hint(container, stream, source, target_fps):
            if realtime:
                time.sleep(max(0.0, start + t - time.monotonic()))
            shown = (frame.width, frame.height) if quarter_turns(frame) % 2 == 0 else (frame.height, frame.width)
            yield SampledFrame(k, i, t, to_rgb(frame, size(*shown) if size else None))
    finally:
        container.close()


def _sampled_or_hint(container, stream, source: str, target_fps: float):
    try:
        yield from sampled(container, stream, source, target_fps)
    except VideoError as exc:
        raise pipe_hint(source, exc) from None


def iter_display_frames(path: str | os.PathLike, size: tuple[int, int] | None = None,
                        interpolation: str | None = "AREA") -> Iterator[tuple[float, "av.VideoFrame"]]:
    """Every frame of ``path`` as shown, with its time: a YUV 4:2:0 ``av.VideoFrame`` scaled to
    ``size`` = (width, height) and turned as its display matrix says. Nothing goes through RGB
    (for re-encoding: the encoder takes it as it is)."""
    container, stream = open_video(path)
    try:
        for _, _, t, frame in sampled(container, stream, path, None):
            if quarter_turns(frame):
                shown = av.VideoFrame.from_ndarray(to_rgb(frame, size, interpolation), format="rgb24")
                yield t, shown.reformat(format="yuv420p")
                continue
            extra = {"interpolation": interpolation} if interpolation and size else {}
            width, height = size or (frame.width, frame.height)
            yield t, frame.reformat(width=width, height=height, format="yuv420p", **extra)
    finally:
        container.close()


def decode_all_rgb(path: str | os.PathLike) -> int:
    """Decode and convert every frame (a benchmark baseline). Returns the frame count."""
    container, stream = open_video(path)
    try:
        return sum(1 for frame in decode_frames(container, stream, path) if to_rgb(frame, None) is not None)
    finally:
        container.close()
