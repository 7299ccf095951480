import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrcn import clips


@pytest.mark.parametrize(
    "n,src,fps,expected",
    [
        (0, 25, 2.5, []),
        (1, 25, 2.5, [0]),
        (10, 25, 2.5, [0]),
        (11, 25, 2.5, [0, 10]),
        (50, 25, 2.5, [0, 10, 20, 30, 40]),
        (51, 25, 2.5, [0, 10, 20, 30, 40, 50]),
        (60, 29.97, 2.5, [0, 12, 24, 36, 48]),
        (50, 30, 2.5, [0, 12, 24, 36, 48]),
        (30, 24, 2.5, [0, 10, 19, 29]),  # 9.6 frames apart, nearest frame
        (10, 10, 2.5, [0, 4, 8]),
        (5, 2, 2.5, [0, 1, 2, 3, 4]),  # slower source: every frame once
        (25, 25, 25, list(range(25))),
        (100, 25, 5, list(range(0, 100, 5))),
    ],
)
def test_sample_indices_table(n, src, fps, expected):
    assert clips.sample_indices(n, src, fps) == expected


def test_the_sampling_names_one_fps_and_refuses_bad_values():
    from lrcn.config import Sampling
    from lrcn.errors import ConfigError

    assert Sampling().fps == 2.5 and Sampling(sampling_rate=5, reference_fps=30.0).fps == 6.0
    for bad, flag in (({"sampling_rate": 0}, "--sampling-rate"), ({"reference_fps": 0.0}, "--reference-fps"),
                      ({"num_frames": 0}, "--num-frames")):
        with pytest.raises(ConfigError, match=flag):
            Sampling(**bad)


@pytest.mark.parametrize("times, src, fps, expected", [
    ([0.0, 0.4, 0.8, 1.2], 2.5, 2.5, [0, 1, 2, 3]),
    ([i / 25 for i in range(30)], 25, 2.5, [0, 10, 20]),
    # variable frame rate: 10 fps for a second, then 30 fps; samples every 0.4 s by time, not by index
    ([i / 10 for i in range(10)] + [1 + i / 30 for i in range(30)], 30, 2.5, [0, 4, 8, 16, 28]),
    ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 2.5, 2.5, [0, 1, 2, 3, 4, 5]),  # stamped all zero: the nominal rate
    ([None, None, None, None], 5, 2.5, [0, 2]),  # no timestamps at all: the nominal rate
    ([0.0, 1.0, 2.0], 1, 2.5, [0, 1, 2]),  # a slower source: each frame once, never repeated
    ([0.0, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5], 10, 2.5, [0, 1, 5]),  # after a gap, no burst of catch-up samples
])
def test_sample_times_table(times, src, fps, expected):
    assert [i for _, i, _ in clips.sample_times(times, src, fps)] == expected


@given(st.integers(0, 400), st.sampled_from([10, 23.976, 24, 25, 29.97, 30, 50, 59.94, 60]),
       st.sampled_from([1, 2.5, 5, 6, 12.5]))
def test_index_math_is_the_timestamp_rule_on_nominal_times(n, src, fps):
    """preprocess/check choose frames from the frame count; decoders from the timestamps. On a
    constant-rate file, timestamps are i / fps rounded to the container's time base (here 1/90000)."""
    stamped = [round(i / src * 90000) / 90000 for i in range(n)]
    assert clips.sample_indices(n, src, fps) == [i for _, i, _ in clips.sample_times(stamped, src, fps)]


@pytest.mark.parametrize(
    "num_sampled,num_frames,k,expected_len",
    [(5, 5, 1, 1), (4, 5, 1, 0), (0, 5, 1, 0), (10, 5, 1, 1), (10, 5, 3, 3), (6, 5, 10, 2), (5, 1, 5, 5)],
)
def test_clip_starts_counts(num_sampled, num_frames, k, expected_len):
    starts = clips.clip_starts(num_sampled, num_frames, k, random.Random(0))
    assert len(starts) == expected_len
    assert starts == sorted(set(starts))
    assert all(0 <= s <= num_sampled - num_frames for s in starts)


def test_clip_starts_seeded():
    a = clips.clip_starts(100, 5, 3, random.Random("42:v.avi"))
    b = clips.clip_starts(100, 5, 3, random.Random("42:v.avi"))
    assert a == b  # the same seed: the same starts
    others = {tuple(clips.clip_starts(100, 5, 3, random.Random(f"{seed}:v.avi"))) for seed in range(20)}
    assert len(others) > 10  # other seeds: other starts (a function that ignored the seed gives one set)
    assert all(0 <= s <= 95 for starts in others for s in starts)


def test_make_clips_short_video_policies():
    sampled = [0, 10, 20]
    assert clips.make_clips(sampled, 5, 1, random.Random(0), "skip") == []
    (padded,) = clips.make_clips(sampled, 5, 1, random.Random(0), "pad")
    assert padded.frame_indices == (0, 10, 20, 20, 20) and padded.padded == 2
    with pytest.raises(ValueError):
        clips.make_clips(sampled, 5, 1, random.Random(0), "resample")


def test_make_clips_consecutive_sampled_frames():
    sampled = list(range(0, 200, 10))
    for clip in clips.make_clips(sampled, 5, 4, random.Random(1)):
        assert clip.frame_indices == tuple(sampled[clip.start : clip.start + 5])


@pytest.mark.parametrize(
    "length,window,stride,expected",
    [(5, 5, 1, [0]), (4, 5, 1, []), (7, 5, 1, [0, 1, 2]), (10, 5, 5, [0, 5]), (11, 5, 2, [0, 2, 4, 6])],
)
def test_sliding_windows(length, window, stride, expected):
    assert clips.sliding_windows(length, window, stride) == expected


@pytest.mark.parametrize(
    "labels,expected",
    [
        ([1, 1, 1, 2, 2], 1),  # the seed's example: 3 of the first action
        ([1, 1, 2, 2, 2], 2),
        ([1, 1, 2, 2], 1),  # even tie: the earliest action
        ([2, 2, 1, 1], 2),
        ([3], 3),
        ([1, 2, 3, 3, 1], 1),  # tie 2-2 between 1 and 3: 1 starts first
    ],
)
def test_majority_label(labels, expected):
    assert clips.majority_label(labels) == expected


def test_window_labels_and_first_action_counts():
    frame_labels = clips.concatenated_labels([0, 1], 5)
    assert frame_labels == [0] * 5 + [1] * 5
    assert clips.window_labels(frame_labels, 5) == [0, 0, 0, 1, 1, 1]
    assert [clips.frames_from_first_action(frame_labels[s : s + 5]) for s in range(6)] == [5, 4, 3, 2, 1, 5]


@given(st.integers(0, 2000), st.floats(1, 120), st.floats(0.5, 30))
def test_sample_indices_properties(n, src, fps):
    idx = clips.sample_indices(n, src, fps)
    assert idx == sorted(set(idx))
    assert all(0 <= i < n for i in idx)
    if n:
        assert idx[0] == 0
    # Never more samples than the clip's duration allows (+1 for the frame at t=0).
    assert len(idx) <= int(n / src * fps) + 2


@given(st.integers(0, 300), st.integers(1, 20), st.integers(1, 10), st.integers(0, 10**6))
def test_clip_starts_properties(num_sampled, num_frames, k, seed):
    starts = clips.clip_starts(num_sampled, num_frames, k, random.Random(seed))
    positions = max(0, num_sampled - num_frames + 1)
    assert len(starts) == min(k, positions)
    assert starts == sorted(set(starts))
    assert all(0 <= s < positions for s in starts)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=12))
def test_majority_label_properties(labels):
    winner = clips.majority_label(labels)
    counts = {l: labels.count(l) for l in labels}
    assert counts[winner] == max(counts.values())
    tied = [l for l in labels if counts[l] == counts[winner]]
    assert tied[0] == winner
