"""lrcn demo end to end on a small setting: both models (trained side by side), both sliding-window
modes, the report and the files it names."""

import json

import numpy as np

import pytest


@pytest.mark.slow
def test_demo_runs_every_stage_and_reports_both_models(tmp_path, capsys):
    from lrcn.config import DemoConfig
    from lrcn.demo import run

    out = tmp_path / "demo"
    summary = run(DemoConfig(str(out), epochs=2, clips_per_group=1, weights="none", precision="fp32"), progress=False)
    assert set(summary["results"]) == {"lrcn", "bag_of_frames"}
    for name, r in summary["results"].items():
        report = json.loads((out / "runs" / f"{name}-2ep" / "test" / "report.json").read_text())
        clips = report["clips"]  # the printed numbers are the test report's, recomputed here from its clips
        assert r["clip_accuracy"] == pytest.approx(np.mean([c["label"] == c["predicted"] for c in clips]))
        assert r["clip_accuracy"] == report["clip_accuracy"] and r["video_accuracy"] == report["video_accuracy"]
        assert 0 < len(clips) < summary["clips"]  # the test clips only
        assert (out / "runs" / f"{name}-2ep" / "Saved_model_checkpoints" / "final.pth.tar").is_file()
    with open(out / "runs" / "bag_of_frames-2ep" / "config.json") as fh:
        assert json.load(fh)["train"]["shuffle_frames"] is True  # the control is the control
    stages = summary["seconds"]
    assert {"synth", "preprocess", "features", "train_and_test_both", "test_continuous", "predict"} <= set(stages)
    assert set(summary["seconds_side_by_side"]) == {"train_lrcn", "test_lrcn", "train_bag_of_frames",
                                                    "test_bag_of_frames"}
    assert summary["total_seconds"] >= sum(stages.values())
    assert summary["predict"]["segments"] and (out / "demo_report.json").is_file()
    truth_end = summary["predict"]["truth"][-1]["end"]
    assert summary["predict"]["segments"][-1]["end"] == pytest.approx(truth_end, abs=0.05)  # covers the video
    real = summary["kinetics400"]  # the built-in Kinetics-400 I3D on a real clip, no training
    assert real["segments"] and all(len(s["top"]) == 5 for s in real["segments"])
    assert real["segments"][-1]["end"] == pytest.approx(4.0, abs=0.1)  # carphone_pristine.mp4 lasts 4 s
    printed = capsys.readouterr().out
    assert "bag_of_frames" in printed and f"total {summary['total_seconds']:.0f}" in printed
