import pytest

from conftest import indexed_frames, read_index
from lrcn.errors import VideoError
from lrcn.video import (ShortVideoError, count_frames, iter_frames_at_fps, probe, read_frames, write_video)


def test_index_code_roundtrip_on_raw_frames():
    frames = indexed_frames(40)
    assert [read_index(f) for f in frames] == list(range(40))


def test_avi_has_b_frames(indexed_avi):
    import av

    with av.open(str(indexed_avi)) as c:
        kinds = {f.pict_type.name if hasattr(f.pict_type, "name") else str(f.pict_type) for f in c.decode(video=0)}
    assert any("B" == k or k == "3" for k in kinds), kinds


@pytest.mark.parametrize("indices", [[0], [5], [0, 10, 20, 30, 40], [119], [7, 3, 99, 3], [10, 11, 12, 13, 14]])
def test_read_frames_exact_on_mpeg4_avi_with_b_frames(indexed_avi, indices):
    frames = read_frames(indexed_avi, indices)
    assert frames.shape == (len(indices), 240, 320, 3)
    assert [read_index(f) for f in frames] == list(indices)


def test_mpeg4_reads_drop_unneeded_b_frames_and_stay_exact(indexed_avi, monkeypatch):
    """The B-frame-dropping path runs on an xvid-like AVI (no fallback) and returns the exact frames."""
    import random

    from lrcn.video import bitstream

    outcomes = []
    real = bitstream.read_dropping_b_frames

    def spy(*args):
        try:
            result = real(*args)
        except bitstream.NotPlainMpeg4:
            outcomes.append("fallback")
            raise
        outcomes.append("dropped")
        return result

    monkeypatch.setattr(bitstream, "read_dropping_b_frames", spy)
    rng = random.Random(0)
    for _ in range(40):
        indices = sorted(rng.sample(range(120), rng.randint(1, 6)))
        assert [read_index(f) for f in read_frames(indexed_avi, indices)] == indices
    for start in range(0, 80, 7):  # the preprocessing pattern: every 10th frame from a start
        indices = list(range(start, start + 41, 10))
        assert [read_index(f) for f in read_frames(indexed_avi, indices)] == indices
    assert outcomes and set(outcomes) == {"dropped"}
    with pytest.raises(ShortVideoError) as short:
        read_frames(indexed_avi, [3, 130])
    assert short.value.frames_decoded == 120


def test_mpeg4_stream_that_is_not_plain_is_decoded_straight_through(indexed_avi, monkeypatch):
    from lrcn.video import bitstream

    calls = []

    def packed_after_three(data):
        calls.append(1)
        if len(calls) > 3:
            raise bitstream.NotPlainMpeg4  # as a packed-B-frame packet would
        return real(data)

    real = bitstream.vop_type
    monkeypatch.setattr(bitstream, "vop_type", packed_after_three)
    indices = [2, 12, 22, 32, 42]
    assert [read_index(f) for f in read_frames(indexed_avi, indices)] == indices
    assert len(calls) == 4


def test_vop_types_are_read_from_the_packets(indexed_avi):
    import av

    from lrcn.video.bitstream import vop_type

    with av.open(str(indexed_avi)) as c:
        types = [vop_type(bytes(p)) for p in c.demux(video=0) if p.size]
    assert len(types) == 120 and types[0] == 0 and types.count(2) >= 60  # I first, two B-frames per anchor


def test_read_frames_resizes_with_ffmpeg(indexed_avi):
    frames = read_frames(indexed_avi, [3, 64], size=(160, 120))
    assert frames.shape == (2, 120, 160, 3)
    assert [read_index(f) for f in frames] == [3, 64]


@pytest.mark.parametrize("codec,name", [("libx264", "v.mp4"), ("ffv1", "v.mkv")])
def test_exact_frames_other_containers(tmp_path, codec, name):
    path = tmp_path / name
    write_video(path, indexed_frames(60), 30, codec=codec, quality=0)
    assert [read_index(f) for f in read_frames(path, [0, 29, 59])] == [0, 29, 59]


def test_probe(indexed_avi):
    info = probe(indexed_avi)
    assert (info.width, info.height, info.num_frames) == (320, 240, 120)
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(4.8, abs=0.05)


def test_read_past_end_reports_true_length(indexed_avi):
    with pytest.raises(ShortVideoError) as err:
        read_frames(indexed_avi, [0, 500])
    assert err.value.frames_decoded == 120
    assert count_frames(indexed_avi) == 120


def test_iter_at_fps_25_to_2_5_is_every_tenth_frame(indexed_avi):
    got = list(iter_frames_at_fps(indexed_avi, 2.5))
    assert [s.source_index for s in got] == list(range(0, 120, 10))
    assert [read_index(s.rgb) for s in got] == list(range(0, 120, 10))
    assert [s.sample_index for s in got] == list(range(12))


def test_iter_at_fps_other_source_rates(tmp_path):
    path = tmp_path / "v30.mp4"
    write_video(path, indexed_frames(90), 30, codec="libx264", quality=0)
    got = [s.source_index for s in iter_frames_at_fps(path, 2.5)]
    assert got == [0, 12, 24, 36, 48, 60, 72, 84]  # every 0.4 s of a 30-fps video
    slow = tmp_path / "v2.mp4"
    write_video(slow, indexed_frames(6), 2, codec="libx264", quality=0)
    # A source slower than the target keeps each frame once.
    assert [s.source_index for s in iter_frames_at_fps(slow, 2.5)] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("content,message", [(b"", "empty file"), (b"this is text, not a video\n" * 50, "not a readable video")])
def test_bad_files_raise_one_line_video_error(tmp_path, content, message):
    path = tmp_path / "bad.avi"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=message) as err:
        probe(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="file not found"):
        read_frames(tmp_path / "nope.avi", [0])


def test_truncated_video_is_short_and_its_frames_are_exact(indexed_avi, tmp_path):
    cut = tmp_path / "cut.avi"
    data = indexed_avi.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    # Cut mid-stream: the frames before the cut still decode, in order, each the right one (the last
    # few, whose packets the cut damaged, are FFmpeg's concealment of the damage).
    n = count_frames(cut)
    assert 20 < n < 60
    frames = read_frames(cut, list(range(n)))
    assert [read_index(f) for f in frames][: n - 3] == list(range(n - 3))
    with pytest.raises(ShortVideoError) as err:  # asking past the cut says how long it really is
        read_frames(cut, [n + 5])
    assert err.value.frames_decoded == n and str(cut) in str(err.value)


@pytest.fixture(scope="module")
def indexed_h264(tmp_path_factory):
    """A 30-fps H.264 MP4 (x264 veryfast: B-frames, some of them references), 300 frames showing their index."""
    path = tmp_path_factory.mktemp("h264") / "indexed.mp4"
    write_video(path, indexed_frames(300), 30, codec="libx264", quality=18)
    return path


def _plain(path, fps):
    from lrcn.video import reading

    container, stream = reading.open_video(path)
    try:
        return [(k, i, t, read_index(f.to_ndarray(format="rgb24"))) for k, i, t, f in
                reading.sampled(container, stream, path, fps)]
    finally:
        container.close()


@pytest.mark.parametrize("fps", [2.5, 3, 7.3, 10, 29.97, 30, 60])
def test_h264_samples_skip_unneeded_non_reference_frames_and_stay_exact(indexed_h264, fps, monkeypatch):
    """Sampling an H.264 MP4 by time leaves its non-reference frames that no sample needs out of the
    decoder, and gives the same frames, indices and times as decoding every frame -- in pixels."""
    from lrcn.video import bitstream

    judged = []
    real = bitstream.h264_slice_test

    def spy(container, stream):
        test = real(container, stream)
        return lambda data: judged.append(test(data)) or judged[-1]

    monkeypatch.setattr(bitstream, "h264_slice_test", spy)
    got = [(f.sample_index, f.source_index, f.time, read_index(f.rgb)) for f in iter_frames_at_fps(indexed_h264, fps)]
    assert got == _plain(indexed_h264, fps)
    assert [i for _, i, _, shown in got] == [shown for _, _, _, shown in got]  # each frame is the one it says
    skipped = judged.count(False)
    assert skipped > 0 if fps < 29 else skipped == 0  # at 30 fps and above every frame is a sample


def test_h264_sampling_that_cannot_go_on_exactly_restarts_without_repeating(indexed_h264, monkeypatch):
    """When the skipping reader meets what it cannot vouch for (here: after 100 packets), decoding
    restarts from the first frame and goes on after the samples already given: none twice, none lost."""
    from lrcn.video import bitstream

    real = bitstream.h264_slice_test

    def failing_later(container, stream):
        test, calls = real(container, stream), []

        def judge(data):
            calls.append(1)
            if len(calls) > 100:
                raise bitstream.NotExact
            return test(data)

        return judge

    monkeypatch.setattr(bitstream, "h264_slice_test", failing_later)
    got = [(f.sample_index, f.source_index, read_index(f.rgb)) for f in iter_frames_at_fps(indexed_h264, 2.5)]
    assert got == [(k, i, shown) for k, i, _, shown in _plain(indexed_h264, 2.5)]


def test_h264_reference_test_reads_nal_headers():
    from lrcn.video import bitstream

    class Ctx:
        name, extradata = "h264", bytes([1, 100, 0, 31, 0xFF])  # avcC, 4-byte lengths

    class Stream:
        codec_context = Ctx()

    class Container:
        class format:
            name = "mov,mp4,m4a,3gp,3g2,mj2"

    test = bitstream.h264_slice_test(Container(), Stream())

    def packet(*nals):
        return b"".join(len(n).to_bytes(4, "big") + n for n in nals)

    sei, ref_slice, b_slice, idr = bytes([0x06, 1, 2]), bytes([0x41, 9, 9]), bytes([0x01, 9, 9]), bytes([0x65, 9])
    assert test(packet(sei, b_slice)) is False  # nal_ref_idc 0 in its only slice
    assert test(packet(b_slice, ref_slice)) is True  # one slice referenced: decode
    assert test(packet(idr)) is True and test(packet(sei)) is True  # no slice: decode
    with pytest.raises(bitstream.NotExact):
        test(b"\x00\x00\x00\x09\x01")  # a length past the packet's end
    Container.format.name = "avi"
    assert bitstream.h264_slice_test(Container(), Stream()) is None  # AVI packets carry no presentation times
