"""lrcn demo end to end on a small setting: both models (trained side by side), both sliding-window
modes, the report and the files it names."""

import json

import pytest


@pytest.mark.slow
def test_demo_runs_every_stage_and_reports_both_models(tmp_path, capsys):
    from lrcn.config import DemoConfig
    from lrcn.demo import run

    out = tmp_path / "demo"
    summary = run(DemoConfig(str(out), epochs=2, clips_per_group=1, weights="none", precision="fp32"), progress=False)
    assert set(summary["results"]) == {"lrcn", "bag_of_frames"}
    for name, r in summary["results"].items():
        assert 0 <= r["clip_accuracy"] <= 1 and 0 <= r["video_accuracy"] <= 1
        assert (out / "runs" / f"{name}-2ep" / "Saved_model_checkpoints" / "final.pth.tar").is_file()
    with open(out / "runs" / "bag_of_frames-2ep" / "config.json") as fh:
        assert json.load(fh)["train"]["shuffle_frames"] is True  # the control is the control
    stages = summary["seconds"]
    assert {"synth", "preprocess", "features", "train_and_test_both", "test_continuous", "predict"} <= set(stages)
    assert set(summary["seconds_side_by_side"]) == {"train_lrcn", "test_lrcn", "train_bag_of_frames",
                                                    "test_bag_of_frames"}
    assert summary["total_seconds"] >= sum(stages.values())
    assert 0 <= summary["test_continuous"]["window_accuracy_mean"] <= 1
    assert summary["predict"]["segments"] and (out / "demo_report.json").is_file()
    printed = capsys.readouterr().out
    assert "bag_of_frames" in printed and f"total {summary['total_seconds']:.0f}" in printed
