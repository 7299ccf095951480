"""A corpus of awkward inputs, generated: every subcommand that reads video must cope with each."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lrcn.video import write_video


def _frames(n: int, w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return np.stack([np.roll(base, 3 * k, axis=1) for k in range(n)])


def _write_pix_fmt(path: Path, n: int, pix_fmt: str, codec: str = "ffv1", rotation: int | None = None) -> None:
    """64x48 frames in ``pix_fmt``; ``rotation``: a display matrix (a phone's ``rotation=-90``)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, pix_fmt
        if rotation is not None:
            s.set_display_rotation(rotation)
        for rgb in _frames(n, 64, 48):
            for p in s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _write_vfr(path: Path) -> None:
    """H.264 in MP4 with irregular frame times (0, 40, 120, 130, 300 ms ...)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        t = 0
        rng = np.random.default_rng(1)
        for k, rgb in enumerate(_frames(80, 64, 48)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = t
            frame.time_base = Fraction(1, 1000)
            t += int(rng.choice([10, 40, 80]))
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)


def _write_zero_timestamps(path: Path) -> None:
    """Every packet stamped 0 (Matroska allows it): only the frame order and nominal fps remain."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "bgr0"
        packets = []
        for rgb in _frames(60, 64, 48):
            packets += s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24"))
        packets += s.encode()
        for p in packets:
            p.pts = p.dts = 0
            c.mux(p)


def _write_absurd_count(path: Path) -> None:
    """An AVI whose headers claim 2^31-1 frames for its 100 (avih dwTotalFrames and strh dwLength)."""
    write_video(path, _frames(100, 64, 48), 25)
    data = bytearray(path.read_bytes())
    avih = data.find(b"avih")
    data[avih + 8 + 16 : avih + 8 + 20] = (2**31 - 1).to_bytes(4, "little")
    strh = data.find(b"strh")
    data[strh + 8 + 32 : strh + 8 + 36] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))


LONG_NAME = "long_" + "x" * 231 + ".avi"  # 240 bytes: legal, but a naive temporary name would not be

# name -> (expected outcome for a 5-frame clip at 2.5 fps: "ok" or a phrase of the reason)
EXPECTED = {
    "zero_bytes.avi": "empty file",
    "truncated.avi": "ok",  # cut mid-stream: the header's frame count is wrong, the frames left still decode
    "text_file.avi": "not a readable video",
    "audio_only.mkv": "no video stream",
    "one_frame.avi": "too short",
    "variable_rate.mp4": "ok",
    "odd_97x61.mkv": "ok",
    "portrait_48x96.mp4": "ok",
    "gray.mkv": "ok",
    "ten_bit.mkv": "ok",
    "name with spaces.avi": "ok",
    "nöt_äscii_名前.avi": "ok",
    "rotated_phone.mp4": "ok",  # shown as portrait: frames are turned before the CNN
    "zero_timestamps.mkv": "ok",  # timing falls back to frame index / nominal fps
    "absurd_count.avi": "ok",  # header says 2^31-1 frames
    "UPPER_CASE.AVI": "ok",
    LONG_NAME: "ok",
    "a_folder.avi": "a directory",
    "broken_link.avi": "broken symbolic link",
    "link_loop.avi": "symbolic link loop",
}


def build(folder: Path) -> dict[str, str]:
    """Write the corpus into ``folder`` and return EXPECTED."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero_bytes.avi").write_bytes(b"")
    full = folder / "full.tmp.avi"
    write_video(full, _frames(150, 64, 48), 25, codec="mpeg4", quality=3, max_b_frames=2)
    data = full.read_bytes()
    (folder / "truncated.avi").write_bytes(data[: int(len(data) * 0.6)])
    full.unlink()
    (folder / "text_file.avi").write_text("This is not a video.\n" * 200)
    _audio_only(folder / "audio_only.mkv")
    write_video(folder / "one_frame.avi", _frames(1, 64, 48), 25)
    _write_vfr(folder / "variable_rate.mp4")
    write_video(folder / "odd_97x61.mkv", _frames(60, 97, 61), 25, codec="ffv1")
    write_video(folder / "portrait_48x96.mp4", _frames(60, 48, 96), 30, codec="libx264", quality=20)
    _write_pix_fmt(folder / "gray.mkv", 60, "gray")
    _write_pix_fmt(folder / "ten_bit.mkv", 60, "yuv420p10le")
    write_video(folder / "name with spaces.avi", _frames(60, 64, 48), 25)
    write_video(folder / "nöt_äscii_名前.avi", _frames(60, 64, 48), 25)
    # A phone video: stored 64x48 landscape, shown as 48x64 portrait.
    _write_pix_fmt(folder / "rotated_phone.mp4", 60, "yuv420p", codec="libx264", rotation=-90)
    _write_zero_timestamps(folder / "zero_timestamps.mkv")
    _write_absurd_count(folder / "absurd_count.avi")
    write_video(folder / "UPPER_CASE.AVI", _frames(60, 64, 48), 25)
    write_video(folder / LONG_NAME, _frames(60, 64, 48), 25)
    (folder / "a_folder.avi").mkdir()
    (folder / "broken_link.avi").symlink_to(folder / "gone.avi")
    (folder / "link_loop.avi").symlink_to(folder / "link_loop.avi")  # leads back to itself
    return dict(EXPECTED)
