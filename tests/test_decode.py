"""Temporal decoding on hand-made probability tables."""

import itertools

import numpy as np
import pytest

from lrcn.decode import Decoding, decode, frame_probabilities, median_filter, runs, segments, viterbi
from lrcn.errors import ConfigError


def table(labels, confidence=0.8, classes=3):
    """Frame probabilities that put ``confidence`` on each given label."""
    p = np.full((len(labels), classes), (1 - confidence) / (classes - 1))
    p[np.arange(len(labels)), labels] = confidence
    return p


def test_frame_probabilities_average_the_covering_windows():
    windows = np.eye(3)[[0, 1, 2]]  # three windows of 2 frames over 4 frames
    got = frame_probabilities(windows, [0, 1, 2], 2, 4)
    np.testing.assert_allclose(got, [[1, 0, 0], [.5, .5, 0], [0, .5, .5], [0, 0, 1]])


def test_frames_no_window_covers_take_the_nearest():
    got = frame_probabilities(np.eye(2)[[0, 1]], [0, 4], 2, 7)  # stride 4 > window 2
    assert got.argmax(1).tolist() == [0, 0, 0, 1, 1, 1, 1]


def test_a_known_flicker_is_removed_and_a_real_change_kept():
    labels = [0] * 8 + [1] + [0] * 3 + [2] * 10  # one flickering frame, one real change
    p = table(labels)
    assert decode(p, Decoding("none"), 1.0).tolist() == labels
    want = [0] * 12 + [2] * 10
    assert viterbi(p, switch_penalty=2.0).tolist() == want
    assert median_filter(p, 3).argmax(1).tolist() == want


def test_switch_penalty_zero_is_per_frame_argmax():
    p = np.random.default_rng(0).dirichlet(np.ones(4), size=30)
    assert viterbi(p, 0.0).tolist() == p.argmax(1).tolist()


def test_minimum_duration_is_honoured():
    labels = [0] * 6 + [1] * 2 + [0] * 6  # a confident 2-frame segment
    p = table(labels, confidence=0.98)
    assert viterbi(p, 0.1, min_frames=1).tolist() == labels  # allowed
    out = viterbi(p, 0.1, min_frames=3).tolist()
    # two confident frames outweigh one unlikely one: the segment grows to 3 frames around them
    assert [x for x in runs(out) if x[0] == 1] in ([(1, 5, 8)], [(1, 6, 9)])
    assert all(e - s >= 3 for _, s, e in runs(out))
    assert viterbi(p, 0.1, min_frames=5).tolist() == [0] * 14  # three unlikely frames do not pay


def test_viterbi_is_exact_against_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(60):
        n, c, d, pen = int(rng.integers(1, 7)), int(rng.integers(2, 4)), int(rng.integers(1, 4)), rng.uniform(0, 3)
        p = rng.dirichlet(np.ones(c), size=n)
        lp = np.log(p)

        def score(path):
            return sum(lp[t, path[t]] for t in range(n)) - pen * (len(runs(path)) - 1)

        legal = [x for x in itertools.product(range(c), repeat=n) if all(e - s >= d for _, s, e in runs(list(x)))]
        got = viterbi(p, pen, d).tolist()
        if legal:
            assert all(e - s >= d for _, s, e in runs(got))
            assert score(got) == pytest.approx(max(score(x) for x in legal))
        else:  # shorter than one minimum segment: one label
            assert len(set(got)) == 1


def test_segments_never_end_after_the_video():
    labels = np.array([0, 0, 1, 1, 1])
    probs = table(labels.tolist(), classes=2)
    times = np.arange(5) * 0.4  # 2.5 fps; last frame at 1.6 s
    segs = segments(labels, probs, times, 2.5, ["a", "b"], duration=1.8)
    assert [(s.label, s.start, s.end) for s in segs] == [("a", 0.0, 0.8), ("b", 0.8, 1.8)]
    open_end = segments(labels, probs, times, 2.5, ["a", "b"])
    assert open_end[-1].end == pytest.approx(2.0)  # one sampling period after the last frame
    assert segs[0].confidence == pytest.approx(0.8)


def test_bad_decoding_settings_are_one_line_errors():
    for kw, flag in [({"smoothing": "mode"}, "--smoothing"), ({"switch_penalty": -1}, "--switch-penalty"),
                     ({"min_seconds": -0.5}, "--min-segment")]:
        with pytest.raises(ConfigError, match=flag):
            Decoding(**kw)


def test_decode_passes_the_minimum_duration_to_viterbi():
    """``--min-segment`` through :func:`decode` (not only :func:`viterbi`): a confident 2-frame segment
    stays at a 1-frame minimum and goes at a 5-frame one (2 s at 2.5 fps)."""
    labels = [0] * 6 + [1] * 2 + [0] * 6
    p = table(labels, confidence=0.98)
    assert decode(p, Decoding("viterbi", 0.1, 0.4), 2.5).tolist() == labels
    assert decode(p, Decoding("viterbi", 0.1, 2.0), 2.5).tolist() == [0] * 14
    assert decode(p, Decoding("median", 0.1, 2.0), 2.5).tolist() == [0] * 14  # median over 5 frames too


def _noisy_track(n: int = 60, classes: int = 4, seed: int = 0) -> np.ndarray:
    """Probabilities of actions 8-20 steps long with flicker: a step in six names a random class."""
    rng = np.random.default_rng(seed)
    truth = np.concatenate([np.full(rng.integers(8, 20), rng.integers(classes)) for _ in range(n // 8)])[:n]
    flicker = np.where(rng.random(len(truth)) < 1 / 6, rng.integers(classes, size=len(truth)), truth)
    p = np.full((len(truth), classes), 0.1 / (classes - 1))
    p[np.arange(len(truth)), flicker] = 0.9
    return p


def _online(probs: np.ndarray, decoding, lag=None) -> list[int]:
    from lrcn.decode import OnlineDecoder

    dec, labels = OnlineDecoder(decoding, 2.5, lag), []
    for p in probs:
        labels += dec.push(p)
        assert len(labels) <= len(probs)
    return labels + dec.flush()


@pytest.mark.parametrize("smoothing", ["none", "median", "viterbi"])
def test_online_decoding_with_a_lag_as_long_as_the_stream_is_the_offline_decoding(smoothing):
    probs = _noisy_track()
    decoding = Decoding(smoothing, switch_penalty=4.0, min_seconds=1.2)
    assert _online(probs, decoding, lag=len(probs)) == decode(probs, decoding, 2.5).tolist()


def test_online_median_is_the_offline_median_at_its_own_lag():
    """A centred median waits half its filter and then knows everything the offline one does."""
    probs = _noisy_track(seed=3)
    decoding = Decoding("median", min_seconds=2.0)  # 5 steps
    assert _online(probs, decoding) == decode(probs, decoding, 2.5).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_online_viterbi_keeps_segments_at_least_min_segment_and_removes_flicker(seed):
    probs = _noisy_track(seed=seed)
    decoding = Decoding("viterbi", switch_penalty=8.0, min_seconds=1.2)  # 3 steps
    online = _online(probs, decoding)
    assert len(online) == len(probs)
    spans = runs(online)
    assert all(j - i >= 3 for _, i, j in spans[:-1])  # only the stream's last run may be cut short
    raw = probs.argmax(1).tolist()
    offline = decode(probs, decoding, 2.5).tolist()
    assert len(spans) < len(runs(raw)) / 2  # flicker gone
    agree = np.mean(np.array(online) == np.array(offline))
    assert agree >= 0.9, agree  # a lag of 2 x min-segment costs little against the whole-stream decode


def test_online_decoding_of_nothing_is_nothing():
    from lrcn.decode import OnlineDecoder

    assert OnlineDecoder(Decoding(), 2.5).flush() == []


def _flicker_video(flicker=4):
    """60 frames, 30 of class 0 then 30 of class 1, each 0.9 sure; inside the first run a ``flicker``-frame
    burst where the wrong class is 0.9 sure. Keeping the burst gains ``flicker * log 9`` (8.8) for two
    changes; the true change gains ``(30 - flicker) * log 9`` (57.1) over one label all along."""
    truth = np.array([0] * 30 + [1] * 30)
    shown = truth.copy()
    shown[8:8 + flicker] = 1
    return np.where(np.eye(2, dtype=bool)[shown], 0.9, 0.1), truth


def test_the_switch_penalty_is_the_middle_of_the_best_plateau_on_held_out_videos():
    from lrcn.metrics import choose_switch_penalty

    video = _flicker_video()
    chosen = choose_switch_penalty([video], Decoding(), fps=2.5, grid=(1, 2, 4, 8, 16, 32, 64))
    # 1-4 keep the burst (2 x penalty < 8.8), 64 drops the true change (> 57.1): 8, 16 and 32 are all right
    assert chosen["scores"]["8"] == chosen["scores"]["16"] == chosen["scores"]["32"] == pytest.approx(100.0)
    assert chosen["scores"]["2"] < 100 and chosen["scores"]["64"] < 100
    assert chosen["switch_penalty"] == 16  # the middle of the plateau, not an edge a little noise moves
    assert chosen["videos"] == 1 and chosen["frames"] == 60
    unlabelled = (video[0], np.full(60, -1))
    with pytest.raises(ValueError):
        choose_switch_penalty([unlabelled], Decoding(), fps=2.5)


def test_a_given_switch_penalty_wins_over_the_models_and_none_falls_back_to_the_default():
    from lrcn.config import SWITCH_PENALTY

    assert Decoding().switch_penalty is None
    assert Decoding().resolved(16.0).switch_penalty == 16.0  # the model's own
    assert Decoding(switch_penalty=3.0).resolved(16.0).switch_penalty == 3.0  # the user's
    assert Decoding().resolved().switch_penalty == SWITCH_PENALTY
    probs, _ = _flicker_video()
    assert decode(probs, Decoding(), 2.5).tolist() == decode(probs, Decoding(switch_penalty=SWITCH_PENALTY), 2.5).tolist()
