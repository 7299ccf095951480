"""Reading frame types from packets, so frames nothing needs never reach the decoder.

MPEG-4 part 2 (xvid, UCF-101's codec): each packet's VOP header gives its frame type, and no frame
is predicted from a B-frame, so :func:`read_dropping_b_frames` sends the decoder only the anchors and
the B-frames wanted. H.264 in MP4/MOV/Matroska: a packet whose slices all have ``nal_ref_idc`` 0 is
a frame nothing is predicted from (:func:`h264_slice_test`); :func:`sampled_skipping` leaves out
those no sample needs. Anything these cannot vouch for raises :class:`NotPlainMpeg4` /
:class:`NotExact`, and the reader decodes straight through instead.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterator

import av
import numpy as np

from .. import clips as clipmath
from ..errors import VideoError
from .container import reason, to_rgb

class NotPlainMpeg4(Exception):
    """The stream is not one plain VOP per packet: decode every frame instead."""


VOP_START = b"\x00\x00\x01\xb6"
B_VOP = 2
#: A packet this small may be a not-coded VOP (a placeholder that yields no frame): not plain.
MIN_PLAIN_PACKET = 16


def vop_type(data: bytes) -> int:
    start = data.find(VOP_START)
    if start < 0 or start + 4 >= len(data) or data.find(VOP_START, start + 4) >= 0:
        raise NotPlainMpeg4  # no VOP, or several in one packet (packed B-frames)
    return data[start + 4] >> 6  # vop_coding_type: 0 I, 1 P, 2 B, 3 S


def read_dropping_b_frames(container, stream, path, wanted: set[int], last: int,
                            size: tuple[int, int] | None, kept: dict[int, np.ndarray]) -> int:
    """Decode an MPEG-4 part 2 stream up to display index ``last``, sending the decoder only the
    anchors (I/P/S) and the wanted B-frames; fills ``kept``. Returns how many frames the stream
    has up to where it stopped. Raises :class:`NotPlainMpeg4` where that cannot be done exactly."""
    ctx = stream.codec_context
    expected: deque[int] = deque()  # display indices of the frames sent, in the order they come out
    next_index = 0  # display index of the next frame to be placed
    held_anchor = False  # an anchor was sent whose display index waits for the next anchor

    def receive(frames) -> bool:
        for frame in frames:
            if not expected:
                raise NotPlainMpeg4  # the decoder gave more frames than were sent
            i = expected.popleft()
            if i in wanted:
                kept[i] = to_rgb(frame, size)
            if i >= last:
                return True
        return False

    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                break  # end of stream
            if packet.size < MIN_PLAIN_PACKET:
                raise NotPlainMpeg4
            if vop_type(bytes(packet)) == B_VOP:
                if not held_anchor or next_index == 0:
                    raise NotPlainMpeg4  # a B-frame with no anchor before it
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
        raise VideoError(f"{path}: decoding failed ({reason(exc)})") from None
    if expected:
        raise NotPlainMpeg4  # the decoder gave fewer frames than were sent
    return next_index


class NotExact(Exception):
    """The frames no sample needs cannot be told apart exactly: decode every frame instead."""


#: H.264 reorders at most 16 frames (its largest picture buffer), so a frame's place in
#: presentation order is settled once this many later packets have been read.
H264_SETTLE = 34
#: Containers whose packets carry presentation times (AVI's do not).
PTS_CONTAINERS = ("mov", "mp4", "matroska", "webm")


def h264_slice_test(container, stream) -> Callable[[bytes], bool] | None:
    """``is_reference(packet bytes)`` for an H.264 stream in a container with presentation times,
    else None. A packet is a non-reference frame when every slice in it has ``nal_ref_idc`` 0: no
    other frame is predicted from it, so leaving it out changes no other frame's pixels."""
    fmt = container.format.name if container.format else ""
    if stream.codec_context.name != "h264" or not any(name in fmt for name in PTS_CONTAINERS):
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
                raise NotExact  # not length-prefixed NAL units after all
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
                raise NotExact
        return slices == 0  # no slice seen: decode it

    return is_reference


def sampled_skipping(container, stream, path, target_fps: float, src_fps: float,
                      is_reference: Callable[[bytes], bool]) -> Iterator[tuple[int, int, float, "av.VideoFrame"]]:
    """:func:`sampled` for a stream whose non-reference frames can be told from their packets: the
    rule runs on the packets' presentation times, and a non-reference frame no sample needs is never
    sent to the decoder. Packets wait until their place in presentation order is settled
    (``H264_SETTLE`` later packets). Raises :class:`NotExact` before yielding anything it cannot
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
            raise NotExact  # two frames at one time, or reordering deeper than H.264 allows
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
                raise NotExact  # the decoder does not give back what was sent, in order
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
                raise NotExact
            waiting.append(packet)
            if not packet.is_discard:
                heapq.heappush(unsettled, packet.pts)
            yield from flush_settled(H264_SETTLE)
        yield from flush_settled(0)
        yield from send(None)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: decoding failed ({reason(exc)})") from None
