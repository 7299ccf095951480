"""The Python API: the same answers as the command line, in memory, nothing written."""

import json

import numpy as np
import pytest

import lrcn
from lrcn.cli import main


def test_import_lrcn_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, lrcn; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_predict_in_memory_equals_lrcn_predict(trained, tiny_dataset, tmp_path, monkeypatch):
    ckpt, _ = trained
    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    monkeypatch.chdir(tmp_path)
    model = lrcn.load(ckpt, precision="fp32")
    result = model.predict(str(video))
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert main(["predict", str(ckpt), str(video), "--out-dir", "p", "--no-video", "--precision", "fp32",
                 "--no-progress"]) == 0
    written = json.loads((tmp_path / "p" / video.stem / "predictions.json").read_text())
    assert result.labels == [f["label"] for f in written["frames"]]
    np.testing.assert_allclose(result.times, [f["time"] for f in written["frames"]], atol=1e-3)
    assert [(s.label, round(s.start, 3)) for s in result.segments] == \
           [(s["label"], round(s["start"], 3)) for s in written["segments"]]
    assert result.label in model.classes and model.num_frames == 5 and model.fps == 2.5
    # Prediction.save writes the CLI's files, byte for byte where nothing machine- or run-specific differs
    result.save(tmp_path / "api")
    cli, api = tmp_path / "p" / video.stem, tmp_path / "api"
    assert sorted(p.name for p in api.iterdir()) == sorted(p.name for p in cli.iterdir() if p.name != ".lrcn.lock")
    for name in ("segments.csv", f"{video.stem}.srt"):
        assert (api / name).read_text() == (cli / name).read_text()
    assert result.to_srt() == (cli / f"{video.stem}.srt").read_bytes().decode()
    assert result.to_csv() == (api / "segments.csv").read_bytes().decode()
    mine = json.loads((api / "predictions.json").read_text())
    assert mine == written and json.loads(result.to_json()) == written


def test_classify_frames_in_memory_scores_like_the_sliding_window(trained, tiny_dataset):
    ckpt, _ = trained
    model = lrcn.load(ckpt, precision="fp32")
    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    frames = model.read_frames(video)  # sampled at the model's fps, scaled by the one rule
    label, probs = model.classify(frames)
    window_mean = model.predict(video).window_probs.mean(0)
    np.testing.assert_allclose(probs, window_mean, atol=1e-5)
    assert label == model.classes[int(window_mean.argmax())]
    small = model.classify(frames[:, ::2, ::2])  # any size: resized first
    assert small[1].shape == (len(model.classes),) and abs(small[1].sum() - 1) < 1e-5
    with pytest.raises(lrcn.errors.ConfigError, match="windows of 5"):
        model.classify(frames[:3])


def test_a_single_path_is_one_video_not_a_list_of_characters(trained, tiny_dataset):
    ckpt, _ = trained
    model = lrcn.load(ckpt, precision="fp32")
    video = str(sorted(tiny_dataset.rglob("*.avi"))[0])
    assert [p.video for p in model.predict_many(video)] == [video]


def test_the_api_checks_arguments_as_the_cli_does_and_keeps_finished_work(trained, tiny_dataset, tmp_path):
    from lrcn.errors import ConfigError, VideoError

    ckpt, _ = trained
    model = lrcn.load(ckpt, precision="fp32")
    video = str(sorted(tiny_dataset.rglob("*.avi"))[0])
    with pytest.raises(ConfigError, match="--stride must be >= 1, got 0"):
        model.predict(video, stride=0)
    with pytest.raises(ConfigError, match="--top-k must be >= 1, got 0"):
        model.predict(video, top_k=0)
    missing = str(tmp_path / "missing.avi")
    first, second = model.predict_many([video, missing])
    assert isinstance(first, lrcn.Prediction) and first.segments  # the finished result is kept
    assert isinstance(second, VideoError) and "missing.avi: file not found" in str(second)
    with pytest.raises(VideoError):
        model.predict_many([missing, video], raise_errors=True)


def test_predict_reports_progress_to_a_function(trained, tiny_dataset):
    ckpt, _ = trained
    calls = []
    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    result = lrcn.load(ckpt, precision="fp32").predict(video, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == len(result.times)  # every step counted, the last call at the end
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and all(d <= t for d, t in calls)
