"""Video I/O. The only module that imports the decoder (PyAV).

Reads are frame-exact: we decode straight through from the start, in decode
order, and stop at the last frame needed. Seeking by timestamp is not used:
on UCF-101's xvid AVIs (B-frames, no reliable timestamps) it lands 1-3 frames
off, while decoding straight through is both exact and, for clips of a few
seconds, the fastest way. Only the frames kept are converted to RGB, and
FFmpeg (swscale) does the resize during that conversion.

On MPEG-4 part 2 (xvid, UCF-101's codec) :func:`read_frames` also leaves out
the B-frames it does not need: no frame is predicted from a B-frame, so they
can be dropped before the decoder. Each packet's frame type is read from its
VOP header and the display index follows from the decode order (a B-frame
shows before the anchor decoded just ahead of it). Any stream that is not one
plain VOP per packet (xvid's "packed" B-frames, tiny not-coded placeholders)
is decoded straight through instead.

Sampling a file by time (:func:`iter_frames_at_fps`: ``predict``, ``features``) does the same
for H.264 in MP4/MOV/Matroska: a packet whose slices all have ``nal_ref_idc`` 0 is a frame no
other frame is predicted from, and when no sample falls on it, it never reaches the decoder. The
sampling rule runs on the packets' presentation times, once each frame's place in presentation
order is settled (H.264 reorders at most 16 frames); the decoder's output is checked against what
was sent, and anything unexpected restarts a plain decode that goes on after the samples given.
Frames, indices and times are those of decoding every frame (tested in pixels at 7 rates).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
from collections import deque
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

import av
import numpy as np

from . import clips as clipmath
from .errors import ConfigError, VideoError

log = logging.getLogger(__name__)

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
            raise VideoError(f"{path}: broken symbolic link (its target {os.readlink(path)} is missing)")
        raise VideoError(f"{path}: file not found")
    if os.path.isdir(path):
        raise VideoError(f"{path}: a directory, not a video file")


def _open(path: str | os.PathLike, live: bool = False,
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
        raise VideoError(f"{path}: {what} ({_reason(exc)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream" + ("" if live else " in the file"))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads inside FFmpeg
    return container, stream


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # PyAV puts "[Errno N] msg: 'path'" -- the path is already in our message.
    return re.sub(r"^\[Errno -?\d+\] ", "", text.split(": '")[0])


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
    container, stream = _open(path)
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
            return _quarter_turns(frame)
    except (av.FFmpegError, OSError, ValueError):
        pass
    return 0


def _packet_count(container, stream) -> int:
    return sum(1 for p in container.demux(stream) if p.size)


def count_packets(path: str | os.PathLike) -> int:
    """Frames in the video stream by its packets, without decoding (reads the file once)."""
    container, stream = _open(path)
    try:
        return _packet_count(container, stream)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: reading failed ({_reason(exc)})") from None
    finally:
        container.close()


def _decode(container, stream, path) -> Iterator["av.VideoFrame"]:
    """Decode every frame, turning decoder errors into VideoError with the file named."""
    try:
        yield from container.decode(stream)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: decoding failed ({_reason(exc)})") from None


def _quarter_turns(frame: "av.VideoFrame") -> int:
    """Counter-clockwise quarter turns the display matrix asks for (a phone's ``rotation=-90``: 3)."""
    return int(round(float(getattr(frame, "rotation", 0) or 0) / 90)) % 4


def _to_rgb(frame: "av.VideoFrame", size: tuple[int, int] | None, interpolation: str | None = None) -> np.ndarray:
    """The frame as shown: RGB, rotated as its display matrix says, then ``size`` = (width, height)."""
    turns = _quarter_turns(frame)
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


def count_frames(path: str | os.PathLike) -> int:
    """Decode the whole video and count its frames (the truth when a container lies)."""
    container, stream = _open(path)
    try:
        return sum(1 for _ in _decode(container, stream, path))
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
    container, stream = _open(path)
    try:
        if stream.codec_context.name == "mpeg4":
            try:
                decoded = _read_dropping_b_frames(container, stream, path, wanted, last, size, kept)
                return _stack_or_short(path, kept, indices, decoded)
            except _NotPlainMpeg4:
                container.close()
                container, stream = _open(path)
                kept.clear()
        decoded = 0
        for i, frame in enumerate(_decode(container, stream, path)):
            decoded = i + 1
            if i in wanted:
                kept[i] = _to_rgb(frame, size)
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


class _NotPlainMpeg4(Exception):
    """The stream is not one plain VOP per packet: decode every frame instead."""


_VOP_START = b"\x00\x00\x01\xb6"
_B_VOP = 2
#: A packet this small may be a not-coded VOP (a placeholder that yields no frame): not plain.
_MIN_PLAIN_PACKET = 16


def _vop_type(data: bytes) -> int:
    start = data.find(_VOP_START)
    if start < 0 or start + 4 >= len(data) or data.find(_VOP_START, start + 4) >= 0:
        raise _NotPlainMpeg4  # no VOP, or several in one packet (packed B-frames)
    return data[start + 4] >> 6  # vop_coding_type: 0 I, 1 P, 2 B, 3 S


def _read_dropping_b_frames(container, stream, path, wanted: set[int], last: int,
                            size: tuple[int, int] | None, kept: dict[int, np.ndarray]) -> int:
    """Decode an MPEG-4 part 2 stream up to display index ``last``, sending the decoder only the
    anchors (I/P/S) and the wanted B-frames; fills ``kept``. Returns how many frames the stream
    has up to where it stopped. Raises :class:`_NotPlainMpeg4` where that cannot be done exactly."""
    ctx = stream.codec_context
    expected: deque[int] = deque()  # display indices of the frames sent, in the order they come out
    next_index = 0  # display index of the next frame to be placed
    held_anchor = False  # an anchor was sent whose display index waits for the next anchor

    def receive(frames) -> bool:
        for frame in frames:
            if not expected:
                raise _NotPlainMpeg4  # the decoder gave more frames than were sent
            i = expected.popleft()
            if i in wanted:
                kept[i] = _to_rgb(frame, size)
            if i >= last:
                return True
        return False

    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                break  # end of stream
            if packet.size < _MIN_PLAIN_PACKET:
                raise _NotPlainMpeg4
            if _vop_type(bytes(packet)) == _B_VOP:
                if not held_anchor or next_index == 0:
                    raise _NotPlainMpeg4  # a B-frame with no anchor before it
                index, next_index = next_index, next_index + 1
                if index not in wanted:
                    continue  # nothing refers to a B-frame: never decoded
                expected.append(index)
            else:
                if held_anchor:
                    expected.append(next_index)
                    next_index += 1
                held_anchor = True
            if receive(ctx.decode(packet)):
                return next_index
        if held_anchor:
            expected.append(next_index)
            next_index += 1
        if receive(ctx.decode(None)):
            return next_index
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: decoding failed ({_reason(exc)})") from None
    if expected:
        raise _NotPlainMpeg4  # the decoder gave fewer frames than were sent
    return next_index


class _NotExact(Exception):
    """The frames no sample needs cannot be told apart exactly: decode every frame instead."""


#: H.264 reorders at most 16 frames (its largest picture buffer), so a frame's place in
#: presentation order is settled once this many later packets have been read.
_H264_SETTLE = 34
#: Containers whose packets carry presentation times (AVI's do not).
_PTS_CONTAINERS = ("mov", "mp4", "matroska", "webm")


def _h264_slice_test(container, stream) -> Callable[[bytes], bool] | None:
    """``is_reference(packet bytes)`` for an H.264 stream in a container with presentation times,
    else None. A packet is a non-reference frame when every slice in it has ``nal_ref_idc`` 0: no
    other frame is predicted from it, so leaving it out changes no other frame's pixels."""
    fmt = container.format.name if container.format else ""
    if stream.codec_context.name != "h264" or not any(name in fmt for name in _PTS_CONTAINERS):
        return None
    extra = stream.codec_context.extradata or b""
    length_size = (extra[4] & 3) + 1 if len(extra) >= 5 and extra[0] == 1 else None  # avcC, else start codes

    def headers(data: bytes) -> Iterator[int]:
        if length_size is None:
            start = data.find(b"\x00\x00\x01")
            while 0 <= start < len(data) - 3:
                yield data[start + 3]
                start = data.find(b"\x00\x00\x01", start + 3)
            return
        pos = 0
        while pos + length_size < len(data):
            n = int.from_bytes(data[pos : pos + length_size], "big")
            if n == 0 or pos + length_size + n > len(data):
                raise _NotExact  # not length-prefixed NAL units after all
            yield data[pos + length_size]
            pos += length_size + n

    def is_reference(data: bytes) -> bool:
        slices = 0
        for header in headers(data):
            kind = header & 0x1F
            if kind in (1, 5):  # a coded slice (5: of an IDR picture)
                slices += 1
                if header & 0x60:
                    return True
            elif kind in (14, 20, 21):  # SVC / MVC layers: not handled here
                raise _NotExact
        return slices == 0  # no slice seen: decode it

    return is_reference


def _sampled_skipping(container, stream, path, target_fps: float, src_fps: float,
                      is_reference: Callable[[bytes], bool]) -> Iterator[tuple[int, int, float, "av.VideoFrame"]]:
    """:func:`_sampled` for a stream whose non-reference frames can be told from their packets: the
    rule runs on the packets' presentation times, and a non-reference frame no sample needs is never
    sent to the decoder. Packets wait until their place in presentation order is settled
    (``_H264_SETTLE`` later packets). Raises :class:`_NotExact` before yielding anything it cannot
    vouch for (the caller goes on with a plain decode after the samples already given)."""
    import heapq

    ctx, base = stream.codec_context, stream.time_base
    take = clipmath.Sampler(src_fps, target_fps)
    waiting: deque = deque()  # packets read, not yet sent (decode order)
    unsettled: list[int] = []  # a heap of their presentation times
    wanted: dict[int, tuple[int, int, float]] = {}  # pts -> (k, i, t) of the samples
    sent: deque[int] = deque()  # pts of the frames sent, in presentation order once settled
    state = {"first": None, "last": None}

    def settle(pts: int) -> None:
        if state["last"] is not None and pts <= state["last"]:
            raise _NotExact  # two frames at one time, or reordering deeper than H.264 allows
        state["last"] = pts
        if state["first"] is None:
            state["first"], state["first_time"] = pts, float(pts) * base.numerator / base.denominator
        seconds = float(pts) * base.numerator / base.denominator  # as PyAV computes a frame's time
        got = take(seconds - state["first_time"])
        if got is not None:
            wanted[pts] = got

    def send(packet) -> Iterator[tuple[int, int, float, "av.VideoFrame"]]:
        if packet is not None and not packet.is_discard and packet.pts not in wanted \
                and not is_reference(bytes(packet)):
            return  # nothing refers to it and no sample needs it: never decoded
        if packet is not None and not packet.is_discard:
            sent.append(packet.pts)
        for frame in ctx.decode(packet):
            if not sent or frame.pts != min(sent):
                raise _NotExact  # the decoder does not give back what was sent, in order
            sent.remove(frame.pts)
            got = wanted.pop(frame.pts, None)
            if got is not None:
                yield got[0], got[1], got[2], frame

    def flush_settled(limit: int) -> Iterator[tuple[int, int, float, "av.VideoFrame"]]:
        while len(unsettled) > limit:
            settle(heapq.heappop(unsettled))
        while waiting and (waiting[0].is_discard or waiting[0].pts <= (state["last"] if state["last"] is not None
                                                                        else -1 << 62)):
            yield from send(waiting.popleft())

    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            if packet.pts is None:
                raise _NotExact
            waiting.append(packet)
            if not packet.is_discard:
                heapq.heappush(unsettled, packet.pts)
            yield from flush_settled(_H264_SETTLE)
        yield from flush_settled(0)
        yield from send(None)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: decoding failed ({_reason(exc)})") from None


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
    uses, :data:`lrcn.features.INTERPOLATION`; ``"AREA"`` is twice as fast for downscaling a video to watch).
    """
    container, stream = _open(path)
    given = 0  # samples already yielded
    try:
        is_reference = _h264_slice_test(container, stream) if target_fps is not None else None
        if is_reference is not None:
            try:
                for k, i, t, frame in _sampled_skipping(container, stream, path, target_fps,
                                                        _source_fps(stream), is_reference):
                    yield SampledFrame(k, i, t, _to_rgb(frame, size, interpolation))
                    given = k + 1
                return
            except _NotExact:  # decode every frame from the start, going on after the samples given
                container.close()
                container, stream = _open(path)
        for k, i, t, frame in _sampled(container, stream, path, target_fps):
            if k >= given:
                yield SampledFrame(k, i, t, _to_rgb(frame, size, interpolation))
    finally:
        container.close()


def _source_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return clipmath.source_fps(float(rate) if rate else None)


def _sampled(container, stream, path, target_fps: float | None) -> Iterator[tuple[int, int, float, "av.VideoFrame"]]:
    """(sample index, frame index, seconds, frame) of the frames kept at ``target_fps`` (None: all)."""
    if target_fps is not None and target_fps <= 0:
        raise ConfigError(f"target fps must be positive, got {target_fps}")
    src_fps = _source_fps(stream)
    current: list["av.VideoFrame"] = []
    first_time: list[float] = []

    def times() -> Iterator[float | None]:
        for frame in _decode(container, stream, path):
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
    container, stream = _open(source, live=is_live_source(source), timeout=timeout)
    try:
        start = time.monotonic()
        for k, i, t, frame in _sampled(container, stream, source, target_fps):
            if realtime:
                time.sleep(max(0.0, start + t - time.monotonic()))
            shown = (frame.width, frame.height) if _quarter_turns(frame) % 2 == 0 else (frame.height, frame.width)
            yield SampledFrame(k, i, t, _to_rgb(frame, size(*shown) if size else None))
    finally:
        container.close()


def iter_display_frames(path: str | os.PathLike, size: tuple[int, int] | None = None,
                        interpolation: str | None = "AREA") -> Iterator[tuple[float, "av.VideoFrame"]]:
    """Every frame of ``path`` as shown, with its time: a YUV 4:2:0 ``av.VideoFrame`` scaled to
    ``size`` = (width, height) and turned as its display matrix says. Nothing goes through RGB
    (for re-encoding: the encoder takes it as it is)."""
    container, stream = _open(path)
    try:
        for _, _, t, frame in _sampled(container, stream, path, None):
            if _quarter_turns(frame):
                shown = av.VideoFrame.from_ndarray(_to_rgb(frame, size, interpolation), format="rgb24")
                yield t, shown.reformat(format="yuv420p")
                continue
            extra = {"interpolation": interpolation} if interpolation and size else {}
            width, height = size or (frame.width, frame.height)
            yield t, frame.reformat(width=width, height=height, format="yuv420p", **extra)
    finally:
        container.close()


def decode_all_rgb(path: str | os.PathLike) -> int:
    """Decode and convert every frame (a benchmark baseline). Returns the frame count."""
    container, stream = _open(path)
    try:
        return sum(1 for frame in _decode(container, stream, path) if _to_rgb(frame, None) is not None)
    finally:
        container.close()


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


def is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS
