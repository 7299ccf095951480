import json

import numpy as np
import pytest

from lrcn.continuous import ContinuousConfig, analyse, choose_clips, run


def test_choose_clips_never_repeats_an_action_back_to_back():
    labels = [0, 0, 1, 1, 2, 2, 2]
    rng = np.random.default_rng(0)
    for _ in range(20):
        chosen = choose_clips(labels, 16, rng)
        assert len(chosen) == 16
        assert all(labels[a] != labels[b] for a, b in zip(chosen, chosen[1:]))


def test_analyse_table():
    frame_labels = [0] * 5 + [1] * 5  # windows: 5,4,3,2,1 frames of the first action, then 5
    # truth: 0,0,0,1,1,1 ; the model follows the last frame
    predictions = np.array([0, 1, 1, 1, 1, 1])
    r = analyse(frame_labels, predictions, 5)
    assert r["truth"] == [0, 0, 0, 1, 1, 1]
    assert r["window_accuracy"] == pytest.approx(4 / 6)
    assert r["accuracy_by_frames_from_first_action"] == {1: 1.0, 2: 1.0, 3: 0.0, 4: 0.0, 5: 1.0}
    assert r["mixed_windows"] == 4
    assert r["mixed_follows_last"] == 1.0 and r["mixed_follows_first"] == 0.0


def test_run_reports_and_plots(trained, tiny_dataset, tmp_path):
    ckpt, cache = trained
    r = run(ContinuousConfig(str(ckpt), str(tiny_dataset), cache_dir=str(cache), out_dir=str(tmp_path / "out"),
                             num_clips=6, repeats=3, num_workers=0, precision="fp32"), progress=False)
    assert r["frames"] == 30 and r["windows_per_video"] == 26 and len(r["runs"]) == 3
    # The reported accuracy is what the predictions say, window by window, against each window's truth.
    per_run = [np.mean(np.array(x["predictions"]) == np.array(x["truth"])) for x in r["runs"]]
    assert r["window_accuracy_mean"] == pytest.approx(np.mean(per_run))
    assert [x["window_accuracy"] for x in r["runs"]] == pytest.approx(per_run)
    assert set(r["accuracy_by_frames_from_first_action"]) == {"1", "2", "3", "4", "5"}
    for run_ in r["runs"]:
        assert len(run_["predictions"]) == 26
        labels = [c["label"] for c in run_["clips"]]
        assert all(a != b for a, b in zip(labels, labels[1:]))
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"report.json", "analysis_of_predicted_labels_in_sliding_window.png",
            "change_in_accuracy_with_the_movment_of_sliding_window.png",
            "Video_with_prediction_vs_true_labels.mp4", "Video_with_prediction_vs_true_labels.gif"} <= names
    assert json.loads((tmp_path / "out" / "report.json").read_text())["repeats"] == 3


def test_segmentation_scores_before_and_after_decoding(trained, tiny_dataset, tmp_path):
    from lrcn import metrics
    from lrcn.decode import Decoding

    ckpt, cache = trained
    r = run(ContinuousConfig(str(ckpt), str(tiny_dataset), cache_dir=str(cache), out_dir=str(tmp_path / "out"),
                             num_clips=6, repeats=2, num_workers=0, precision="fp32", annotate=False,
                             decoding=Decoding("none")), progress=False)
    for run_ in r["runs"]:
        seg = run_["segmentation"]
        assert seg["before_smoothing"]["true_segments"] == 6  # six clips, no action twice in a row
        assert seg["before_smoothing"] == seg["after_smoothing"]  # smoothing "none" changes nothing
    mean_edit = np.mean([x["segmentation"]["before_smoothing"]["edit"] for x in r["runs"]])
    assert r["segmentation"]["before_smoothing"]["edit"] == pytest.approx(mean_edit)
    assert set(r["segmentation"]["after_smoothing"]) >= {"frame_accuracy", "edit", "f1@10", "f1@25", "f1@50"}
    assert metrics.edit_score([0] * 5 + [1] * 5, [0] * 5 + [1] * 5) == 100.0
