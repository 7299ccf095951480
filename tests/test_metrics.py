"""Metrics on textbook examples with hand-computed values."""

import numpy as np
import pytest

from lrcn import metrics


def test_accuracy_and_top_k():
    assert metrics.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert metrics.top_k_accuracy(np.array([2, 2]), scores, 1) == 0.0
    assert metrics.top_k_accuracy(np.array([2, 2]), scores, 2) == 0.5


def test_confusion_and_class_accuracy():
    cm = metrics.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    per = metrics.per_class_accuracy(cm)
    assert per[:3].tolist() == [0.5, 1.0, 0.0] and np.isnan(per[3])
    assert metrics.mean_class_accuracy(cm) == pytest.approx(0.5)


def test_group_mean_averages_rows_per_key():
    keys, means = metrics.group_mean(["a", "b", "a"], np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    assert keys == ["a", "b"] and means.tolist() == [[0.5, 0.5], [0.0, 1.0]]


def test_a_nan_score_is_never_correct():
    assert metrics.accuracy(np.array([0.0]), np.array([np.nan])) == 0.0


def test_frame_accuracy_edit_and_f1_textbook():
    truth, pred = list("AAABBB"), list("AABBBB")
    assert metrics.frame_accuracy(truth, pred) == pytest.approx(5 / 6)
    assert metrics.edit_score(truth, pred) == 100.0  # same order of segments
    # A: IoU 2/3, B: IoU 3/4
    assert metrics.f1_at(truth, pred, 0.50) == 100.0
    assert metrics.f1_at(truth, pred, 0.75) == pytest.approx(50.0)  # tp 1, fp 1, fn 1
    assert metrics.f1_at(truth, pred, 0.10) == 100.0


def test_over_segmentation_costs_edit_and_f1():
    truth = list("AAAAAAAA")
    pred = list("AABAABAA")  # 5 segments for 1
    assert metrics.edit_score(truth, pred) == pytest.approx(20.0)  # distance 4 over max length 5
    # only one predicted A may match the one true segment, and its IoU is 2/8 < 0.5
    assert metrics.f1_at(truth, pred, 0.50) == 0.0
    # at 0.10: tp 1 (first A, IoU .25), fp 4 -> P .2, R 1 -> F1 1/3
    assert metrics.f1_at(truth, pred, 0.10) == pytest.approx(100 / 3)


def test_edit_score_levenshtein():
    assert metrics.edit_score(list("AB"), list("ABAB")) == 50.0
    assert metrics.edit_score(list("ABC"), list("AC")) == pytest.approx(100 * 2 / 3)
    assert metrics.edit_score([], []) == 100.0


def test_segmentation_scores_counts_segments():
    s = metrics.segmentation_scores([0, 0, 1, 1], [0, 1, 0, 1])
    assert (s["true_segments"], s["predicted_segments"]) == (2, 4)
    assert s["frame_accuracy"] == 50.0
