import subprocess
import sys

import av
import numpy as np
import pytest

from corpus import _audio_only
from lrcn.decode import Segment
from lrcn.predict import PredictConfig, read_truth, run, srt  # noqa: F401
from lrcn.preprocess import PreprocessConfig
from lrcn.preprocess import run as preprocess
from lrcn.datasets import read_clip_records


def test_srt_format():
    text = srt([Segment(0.0, 2.0, "Archery", 0.9), Segment(61.5, 3725.25, "Rowing", 0.5)])
    assert text == ("1\n00:00:00,000 --> 00:00:02,000\nArchery (90%)\n\n"
                    "2\n00:01:01,500 --> 01:02:05,250\nRowing (50%)\n\n")


def test_predict_writes_every_artefact(trained, tiny_dataset, tmp_path):
    ckpt, _ = trained
    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    results, failures = run(PredictConfig(str(ckpt), (str(video),), str(tmp_path / "out"), precision="fp32"))
    assert failures == []
    (r,) = results
    out = tmp_path / "out" / video.stem
    for name in ("predictions.json", "segments.csv", f"{video.stem}.srt", "timeline.png", f"{video.stem}_annotated.mp4"):
        assert (out / name).is_file(), name
    # 2.2-2.6 s at 2.5 fps: 6 or 7 sampled frames -> 2 or 3 windows of 5
    assert r["sampled_frames"] in (6, 7) and len(r["windows"]) == r["sampled_frames"] - 4
    for w in r["windows"]:
        assert sum(t["probability"] for t in w["top"]) == pytest.approx(1.0, abs=1e-4)  # 4 classes, top-5
    with av.open(str(out / f"{video.stem}_annotated.mp4")) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (64, 48)  # original resolution
    assert r["segments"][0]["start"] == 0.0


def test_predict_compiles_only_for_enough_frames(trained, tiny_dataset, tmp_path, monkeypatch):
    from lrcn import embedded

    asked = []
    monkeypatch.setattr(embedded, "worth_compiling", lambda frames, device, arch: asked.append(frames) or False)
    ckpt, _ = trained
    videos = sorted(tiny_dataset.rglob("*.avi"))[:3]  # 2.2-2.6 s each at 2.5 fps
    run(PredictConfig(str(ckpt), tuple(map(str, videos)), str(tmp_path / "a"), precision="fp32", annotate=False,
                      progress=False))
    assert len(asked) == 1 and 3 * 5 <= asked[0] <= 3 * 7
    run(PredictConfig(str(ckpt), (str(videos[0]),), str(tmp_path / "b"), precision="fp32", annotate=False,
                      progress=False, compile=False))
    assert len(asked) == 1  # an explicit choice is not second-guessed


def test_predict_on_preprocessed_clip_equals_lrcn_test(trained, tiny_dataset, tmp_path):
    """The same clip gives the same probabilities in `lrcn predict --mode preprocessed` and `lrcn test`."""
    from lrcn.evaluate import EvalConfig
    from lrcn.evaluate import run as run_test
    from lrcn.train import TrainConfig
    from lrcn.train import run as train

    clips = tmp_path / "clips"
    preprocess(PreprocessConfig(str(tiny_dataset), str(clips), workers=1), progress=False)
    run_dir = train(TrainConfig(str(clips), backbone="mobilenet_v2", weights="none", cache_dir=str(tmp_path / "c"),
                                run_dir=str(tmp_path / "run"), epochs=1, batch_size=4, num_workers=0,
                                views=("center",), precision="fp32", val_split=0.25), progress=False)
    ckpt = run_dir / "Saved_model_checkpoints" / "last.pth.tar"
    report = run_test(EvalConfig(str(ckpt), str(clips), cache_dir=str(tmp_path / "c"), num_workers=0,
                                 precision="fp32"), progress=False)
    test_clips = [r for r in read_clip_records(clips) if r["split"] == "test"][:3]
    results, _ = run(PredictConfig(str(ckpt), tuple(str(clips / r["clip"]) for r in test_clips),
                                   str(tmp_path / "pred"), mode="preprocessed", precision="fp32", annotate=False))
    by_clip = {c["video"]: c for c in report["clips"]}
    for record, result in zip(test_clips, results):
        (window,) = result["windows"]  # a 5-frame clip is one window
        expected = by_clip[record["clip"]]
        assert window["top"][0]["label"] == expected["predicted"]
        assert window["top"][0]["probability"] == pytest.approx(expected["confidence"], abs=1e-5)


def test_bad_inputs_each_one_line_and_the_others_finish(trained, tiny_dataset, tmp_path, make_video):
    ckpt, _ = trained
    good = sorted(tiny_dataset.rglob("*.avi"))[0]
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    audio = tmp_path / "sound.wav"
    _audio_only(audio)
    short = make_video("short.avi", 20)  # 0.8 s: 2 sampled frames < one window of 5
    proc = subprocess.run([sys.executable, "-m", "lrcn.cli", "predict", str(ckpt), str(text), str(audio), str(short),
                           str(good), "--out-dir", str(tmp_path / "out"), "--no-video", "--precision", "fp32",
                           "--no-progress"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("lrcn: error: ") for e in errors), proc.stderr
    assert "not a readable video" in errors[0] and "notes.mp4" in errors[0]
    assert "no video stream" in errors[1]
    assert "shorter than one window" in errors[2]
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "out" / good.stem / "predictions.json").is_file()


def test_not_an_lrcn_checkpoint(tmp_path, tiny_dataset):
    import torch

    bad = tmp_path / "x.pth.tar"
    torch.save({"hello": 1}, bad)
    proc = subprocess.run([sys.executable, "-m", "lrcn.cli", "predict", str(bad), str(tiny_dataset)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not an lrcn checkpoint" in proc.stderr


def test_truth_file_parsing(tmp_path):
    from lrcn.errors import ConfigError

    good = tmp_path / "t.csv"
    good.write_text("start,end,label\n0,2.5,Archery\n2.5,4,Rowing\n")
    assert read_truth(good) == [(0.0, 2.5, "Archery"), (2.5, 4.0, "Rowing")]
    bad = tmp_path / "b.csv"
    bad.write_text("0,2,A\n3,1,B\n")
    with pytest.raises(ConfigError, match=r"b.csv:2: need 0 <= start < end"):
        read_truth(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        read_truth(tmp_path / "missing.csv")


def test_predict_scores_against_the_truth_and_never_ends_past_the_video(trained, tiny_dataset, tmp_path):
    from lrcn import metrics
    from lrcn.video import probe, read_frames, write_video

    ckpt, _ = trained
    videos = [sorted((tiny_dataset / c).glob("*.avi"))[0] for c in ("CircleGrow", "Stretch")]
    frames, rows, t = [], [], 0.0
    names = ["CircleGrow", "Stretch"]
    for name, v in zip(names, videos):
        info = probe(v)
        clip = read_frames(v, list(range(info.num_frames)))
        frames += list(clip)
        rows.append(f"{t},{t + len(clip) / info.fps},{name}")
        t += len(clip) / info.fps
    long = tmp_path / "long.mp4"
    write_video(long, frames, 25.0, codec="libx264")
    truth = tmp_path / "truth.csv"
    truth.write_text("\n".join(rows) + "\n")
    (r,), failures = run(PredictConfig(str(ckpt), (str(long),), str(tmp_path / "out"), precision="fp32",
                                       annotate=False, progress=False, truth=str(truth)))
    assert failures == []
    duration = probe(long).duration
    assert r["segments"][-1]["end"] <= duration + 1e-6
    assert r["segments"][0]["start"] == 0.0
    assert len(r["frames"]) == r["sampled_frames"]
    # the reported frame accuracy is the one computed from the written frame labels
    truth_labels = [names[0] if f["time"] < float(rows[0].split(",")[1]) else names[1] for f in r["frames"]]
    decoded = [f["label"] for f in r["frames"]]
    assert r["scores"]["after_smoothing"]["frame_accuracy"] == pytest.approx(
        100 * metrics.frame_accuracy(truth_labels, decoded))
    assert r["scores"]["after_smoothing"]["true_segments"] == 2
    assert (tmp_path / "out" / "long" / "timeline.png").stat().st_size > 1000
    with pytest.raises(Exception, match="--truth scores one video"):
        run(PredictConfig(str(ckpt), (str(long), str(long)), str(tmp_path / "o2"), truth=str(truth)))


def test_inputs_with_the_same_stem_get_distinct_folders(tmp_path):
    from pathlib import Path

    from lrcn.predict import output_names

    names = output_names([Path("a/clip.avi"), Path("b/clip.mp4"), Path("c/other.avi"), Path("d/clip.mp4")])
    assert names[2] == "other" and len(set(names)) == 4
    assert names[0] == "clip.avi"
    assert output_names([Path("x/v.avi"), Path("y/v.avi")]) == ["x-v.avi", "y-v.avi"]


def test_an_empty_folder_is_an_error(trained, tmp_path):
    ckpt, _ = trained
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, "-m", "lrcn.cli", "predict", str(ckpt), str(tmp_path / "empty")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "no videos found" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("cap, expected", [(120, (160, 120)), (None, (320, 240)), (480, (320, 240))])
def test_the_annotated_video_is_capped_and_shows_the_label(cap, expected, trained, tmp_path, make_video):
    ckpt, _ = trained
    rng = np.random.default_rng(0)
    video = make_video("wide.avi", 75, frames=np.full((75, 240, 320, 3), 90, np.uint8)
                       + rng.integers(0, 3, (75, 240, 320, 3), dtype=np.uint8))
    (r,), _ = run(PredictConfig(str(ckpt), (str(video),), str(tmp_path / "out"), precision="fp32", annotate_size=cap))
    with av.open(str(tmp_path / "out" / "wide" / "wide_annotated.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert frames[0].shape[1::-1] == expected and len(frames) == 75
    label = frames[0][6:20, 6:40].reshape(-1, 3).astype(int)
    yellow = (label[:, 0] > 150) & (label[:, 1] > 150) & (label[:, 2] < label[:, 0] - 60)
    assert yellow.sum() >= 10  # yellow text ...
    assert (label.sum(1) < 60).mean() > 0.3  # ... on black, where the grey frame was
    runners_up = frames[0][20:34, 6:40].reshape(-1, 3).astype(int)  # a second line: the segment's next classes
    white = (runners_up.min(1) > 150)
    assert white.sum() >= 10 and r["segments"][0]["top"][1]["label"] != r["segments"][0]["label"]
    assert np.abs(frames[0][100:, 100:].astype(int) - 90).mean() < 6  # the picture itself is unchanged


def test_annotated_size_keeps_the_aspect_and_even_sides():
    from lrcn.annotate import annotated_size

    assert annotated_size(1920, 1080, 720) == (1280, 720)
    assert annotated_size(1080, 1920, 720) == (720, 1280)  # portrait: the shorter side is capped
    assert annotated_size(1280, 720, 720) is None and annotated_size(3840, 2160, None) is None
    assert annotated_size(1000, 563, 300) == (532, 300)


def test_labels_are_drawn_in_their_colours_and_clipped_to_the_frame():
    import numpy as np

    from lrcn.annotate import RED, WHITE, label_image, paste_rgb

    two = label_image([("true: a", WHITE), ("pred: b 90%", RED)], width=100)
    assert two.shape[1] >= 100 and two.shape[0] % 2 == 0 and two.shape[1] % 2 == 0
    top, bottom = two[: two.shape[0] // 2].astype(int), two[two.shape[0] // 2 :].astype(int)

    def reddish(x):  # text is anti-aliased: judge the colour by which channels are lit
        return (x[..., 0] > 150) & (x[..., 1] < 110)

    assert top.min(-1).max() > 150 and not reddish(top).any()  # white text, then red text
    assert reddish(bottom).any() and bottom.min(-1).max() < 110
    frame = np.full((20, 30, 3), 128, np.uint8)
    out = paste_rgb(frame, two, x=4, y=2)
    assert (frame == 128).all()  # the input is not changed
    assert (out[:2] == 128).all() and (out[:, :4] == 128).all() and (out[2:, 4:] == two[:18, :26]).all()


def test_truth_labels_are_matched_to_the_models_classes(tmp_path, caplog):
    """Exact, then another case with a warning; an unknown label is one line listing the classes, or with
    --truth-unknown ignore its time is left out of the scores (with a warning)."""
    from lrcn.errors import ConfigError
    from lrcn.outputs import match_truth

    classes = ["Walking", "Running", "Jumping"]
    rows = [(0.0, 1.0, "Walking"), (1.0, 2.0, "running"), (2.0, 3.0, "Swimming")]
    with pytest.raises(ConfigError, match=r"t.csv: truth label 'Swimming' not among the model's classes "
                                          r"\(Walking, Running, Jumping\); fix the file, or --truth-unknown ignore"):
        match_truth(rows, classes, "t.csv")
    with caplog.at_level("WARNING"):
        kept = match_truth(rows, classes, "t.csv", unknown="ignore")
    assert kept == [(0.0, 1.0, "Walking"), (1.0, 2.0, "Running")]
    assert "'running' taken as the class 'Running'" in caplog.text and "left out of the scores" in caplog.text
    with pytest.raises(ConfigError, match="no segment with a label of the model's classes"):
        match_truth([(0.0, 1.0, "Swimming")], classes, "t.csv", unknown="ignore")
    both = ["run", "Run"]  # two classes equal but for case: only an exact match is taken
    with pytest.raises(ConfigError, match="'RUN' not among"):
        match_truth([(0.0, 1.0, "RUN")], both, "t.csv")


def test_predict_refuses_a_truth_label_before_embedding_anything(trained, tiny_dataset, tmp_path):
    import subprocess
    import sys

    ckpt, _ = trained
    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    truth = tmp_path / "t.csv"
    truth.write_text("start,end,label\n0,1,NotAClass\n")
    proc = subprocess.run([sys.executable, "-m", "lrcn", "predict", str(ckpt), str(video), "--truth", str(truth),
                           "--out-dir", str(tmp_path / "p"), "--no-video"], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "truth label 'NotAClass' not among the model's classes" in proc.stderr
    assert not (tmp_path / "p").exists()  # refused before any output was written


def test_the_label_font_grows_with_the_frame():
    """At 768x576 the label is no longer a few pixels tall: the font is 1/24 of the frame's height."""
    from lrcn.annotate import YELLOW, font_size, label_image

    small, large = label_image([("Stretch 52%", YELLOW)], size=font_size(240)), \
        label_image([("Stretch 52%", YELLOW)], size=font_size(576))
    assert font_size(240) == 11 and font_size(576) == 24 and font_size(1080) == 45
    assert large.shape[0] >= 2 * small.shape[0] - 4 and large.shape[1] > 1.8 * small.shape[1]
