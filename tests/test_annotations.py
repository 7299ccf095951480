"""Annotated long videos: parsing, checking, labels per frame and per window, the split by video,
training from them and scoring as segmentation."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lrcn.annotations import UNLABELLED, misspelling, overlaps, parse_rows, step_labels, window_labels
from lrcn.datasets import load_dataset
from lrcn.errors import ConfigError, LrcnError
from lrcn.windows import draw_epoch


def rows_of(tmp_path, text, name="v.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return parse_rows(path)


@pytest.mark.parametrize("text, expected", [
    ("0,2.5,walk\n2.5,4,run\n", [(0, 2.5, "walk"), (2.5, 4, "run")]),  # no header
    ("start,end,label\r\n0,1,walk\r\n\r\n", [(0, 1, "walk")]),  # header, CRLF, a blank line
    ("\ufeffstart,end,label\n1,2, walk \n", [(1, 2, "walk")]),  # BOM, spaces
    ("from,to,what\n0,1,walk\n", [(0, 1, "walk")]),  # another header
    ("label,start,end\nwalk,0,1\n", [(0, 1, "walk")]),  # named columns in another order
])
def test_rows_parse_with_or_without_a_header(tmp_path, text, expected):
    rows, problems = rows_of(tmp_path, text)
    assert problems == [] and [(r.start, r.end, r.label) for r in rows] == expected


@pytest.mark.parametrize("text, line, words", [
    ("0,1,walk\nx,2,run\n", 2, "expected start,end,label"),
    ("0,1,walk\n3,2,run\n", 2, "0 <= start < end"),
    ("-1,1,walk\n", 1, "0 <= start < end"),
    ("0,1,\n", 1, "no label"),
    ("0,inf,walk\n", 1, "0 <= start < end"),
    ("video,start,end,label,split\na.mp4,0,1,walk,val\n", 2, "split must be train or test"),
    ("video,start,end,label\n,0,1,walk\n", 2, "no video named"),
])
def test_each_bad_row_is_one_line_with_file_and_row(tmp_path, text, line, words):
    rows, problems = rows_of(tmp_path, text)
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'v.csv'}:{line}: ") and words in problems[0]


def test_an_empty_file_and_a_header_without_columns_are_problems(tmp_path):
    assert "no annotated action" in rows_of(tmp_path, "")[1][0]
    assert "lacks end" in rows_of(tmp_path, "video,start,label\na,0,x\n")[1][0]


def test_overlaps_of_different_labels_are_named_with_both_rows(tmp_path):
    rows, _ = rows_of(tmp_path, "0,3,walk\n2.5,5,run\n5,6,run\n5.5,7,run\n")
    found = overlaps(rows)
    assert len(found) == 1 and ":2: run 2.5-5 s overlaps walk 0-3 s (line 1)" in found[0]  # same label: not a conflict


def test_misspellings_and_other_cases_are_recognised():
    assert misspelling("Strech", ["Stretch", "Squeeze"]) == "Stretch"
    assert misspelling("walking", ["Walking", "Run"]) == "Walking"
    assert misspelling("Jump", ["Stretch", "Squeeze"]) is None


def test_step_labels_follow_the_annotated_times():
    # 2.5 fps: steps at 0, .4, .8, 1.2, 1.6, 2.0, 2.4, 2.8
    spans = [(0.0, 0.8, 0), (1.2, 2.4, 1)]
    assert step_labels(spans, 8, 2.5).tolist() == [0, 0, -1, 1, 1, 1, -1, -1]
    assert step_labels(spans, 8, 2.5, background=2).tolist() == [0, 0, 2, 1, 1, 1, 2, 2]


@pytest.mark.parametrize("labels, expected", [
    ([0, 0, 0, 1, 1, 1], [0, 0, 1, 1]),  # a window across the boundary takes its majority
    ([0, 0, 1, 1], [0, 1]),  # T=3 over 4 frames: 0 0 1 -> 0, 0 1 1 -> 1
    ([0, -1, -1, 1, 1], [UNLABELLED, UNLABELLED, 1]),  # one of three labelled: not drawn; two of three: drawn
    ([-1, -1, -1], [UNLABELLED]),
    ([2, 2], []),  # shorter than a window
])
def test_window_labels_are_the_majority_of_their_frames(labels, expected):
    assert window_labels(np.array(labels), 3).tolist() == expected


def test_a_tie_goes_to_the_label_nearest_the_window_centre():
    assert window_labels(np.array([0, 0, 1, 1]), 4).tolist() == [1]  # centre 1.5: of two as near, the later frame
    assert window_labels(np.array([0, 0, 1, 2, 1, 2]), 6).tolist() == [2]  # 0, 1, 2 tie; 1 and 2 sit nearest: the later
    assert window_labels(np.array([1, 1, 1, 2, 0, 0]), 6).tolist() == [1]  # a majority wins wherever it sits


def test_only_allowed_windows_are_drawn():
    rng = np.random.default_rng(0)
    allowed = [np.array([True, False, True, False]), None]
    draws = draw_epoch([6, 5], [1, 1], 3, None, rng, allowed)
    assert sorted((d.item, d.start) for d in draws) == [(0, 0), (0, 2), (1, 0), (1, 1), (1, 2)]
    one = draw_epoch([6], [1], 3, 1, np.random.default_rng(1), [np.array([False, False, True, False])])
    assert [(d.item, d.start) for d in one] == [(0, 2)]


# --- folders of annotated videos --------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path, make_video):
    """Six 6-s videos (25 fps) with a CSV each: two actions, and a group per pair of videos."""
    root = tmp_path / "ann"
    root.mkdir()
    for k in range(6):
        make_video(root / f"rec_g{k // 2:02d}_{k}.avi", n=150)
        (root / f"rec_g{k // 2:02d}_{k}.csv").write_text(f"start,end,label\n0,3,walk\n3,{5 + k % 2},run\n")
    return root


def test_a_folder_of_annotated_videos_is_a_dataset_split_by_group(folder):
    ds = load_dataset(folder)
    assert ds.kind == "annotated" and ds.classes == ("run", "walk")
    assert len(ds.items) == 6 and all(i.spans for i in ds.items)
    assert ds.items[0].spans == ((0.0, 3.0, 1), (3.0, 5.0, 0))
    for group in {i.group for i in ds.items}:  # never split inside a group
        assert len({i.split for i in ds.items if i.group == group}) == 1
    from lrcn.datasets import split_train_val

    marked = split_train_val(ds.items, 0.3, 1)
    for group in {i.group for i in marked}:
        assert len({i.split for i in marked if i.group == group}) == 1


def test_one_annotations_csv_with_split_and_group_columns(tmp_path, make_video):
    root = tmp_path / "one"
    (root / "cams").mkdir(parents=True)
    for k in range(3):
        make_video(root / "cams" / f"{k}.avi", n=100)
    (root / "annotations.csv").write_text(
        "video,start,end,label,split,group\ncams/0.avi,0,2,sit,train,a\ncams/0.avi,2,4,stand,train,a\n"
        "cams/1.avi,0,4,sit,test,b\ncams/2.avi,1,3,stand,,c\n")
    (root / "classes.txt").write_text("stand\nsit\n")
    ds = load_dataset(root, background="stand")
    assert ds.classes == ("stand", "sit") and ds.background == "stand"
    by_path = {i.path: i for i in ds.items}
    assert by_path["cams/0.avi"].split == "train" and by_path["cams/1.avi"].split == "test"
    assert by_path["cams/0.avi"].group == "a" and by_path["cams/0.avi"].spans == ((0.0, 2.0, 1), (2.0, 4.0, 0))


def test_an_unknown_label_names_the_row_and_the_likely_class(tmp_path, make_video):
    root = tmp_path / "typo"
    root.mkdir()
    make_video(root / "a.avi", n=60)
    (root / "a.csv").write_text("0,1,Stretch\n1,2,Strech\n")
    (root / "classes.txt").write_text("Stretch\nSqueeze\n")
    with pytest.raises(LrcnError, match=r"a.csv:2: label 'Strech' is not a class \(did you mean 'Stretch'\?\)"):
        load_dataset(root)
    plain = tmp_path / "plain" / "walk"
    plain.mkdir(parents=True)
    make_video(plain / "a.avi", n=30)
    with pytest.raises(ConfigError, match="--background names the class of unannotated time"):
        load_dataset(plain.parent, background="idle")


def _check(root):
    from lrcn.check import run
    from lrcn.config import CheckConfig

    return run(CheckConfig(str(root), report=str(root.parent / "report.json"), workers=1), progress=False)


def test_check_lists_every_annotation_problem_on_its_own_line(folder):
    (folder / "rec_g00_0.csv").write_text("start,end,label\r\n0,3,walk\r\n2.5,5,run\r\n")  # overlap (CRLF)
    (folder / "rec_g00_1.csv").write_text("0,3,walk\n3,40,run\n")  # past the 6 s video's end
    (folder / "rec_g01_2.csv").write_text("0,3,walk\n3,5,wakl\n")  # a misspelling (a warning: no classes.txt)
    (folder / "rec_g01_3.csv").write_text("")  # empty
    (folder / "rec_g02_4.csv").write_text("0,1,walk\nnope\n")  # a row that does not parse
    (folder / "rec_g02_5.csv").unlink()  # a video without annotations
    report = _check(folder)
    errors, warnings = report["errors"], report["warnings"]
    assert not report["ok"]
    assert any("rec_g00_0.csv:3: run 2.5-5 s overlaps walk" in e for e in errors)
    assert any("rec_g00_1.csv:2: run ends at 40 s, after the video's end (6.00 s)" in e for e in errors)
    assert any(e.startswith(f"{folder / 'rec_g01_3.csv'}: no annotated action") for e in errors)
    assert any("rec_g02_4.csv:2: expected start,end,label" in e for e in errors)
    assert any("rec_g01_2.csv:2: label 'wakl' (1 rows) looks like 'walk'" in w for w in warnings)
    assert any("rec_g02_5.avi: no annotations" in w for w in warnings)
    assert len(errors) == 4
    (folder / "classes.txt").write_text("walk\nrun\n")
    assert any("rec_g01_2.csv:2: label 'wakl' is not in classes.txt (did you mean 'walk'?)" in e
               for e in _check(folder)["errors"])


def test_check_of_a_good_folder_counts_classes_by_their_annotated_time(folder):
    report = _check(folder)
    assert report["ok"] and report["counts"]["kind"] == "annotated" and report["counts"]["classes"] == 2
    assert not any("no test videos" in w and "class" in w for w in report["warnings"]
                   if report["counts"]["test"])


# --- labels per window in training and scores per video in testing -------------------------------------------

class OneHotHead(torch.nn.Module):
    """Reads embeddings that are one-hot classes: the window's mean, sharpened (a perfect classifier)."""

    def forward(self, x):
        return 20 * x.mean(1)


def _test_data(labels_per_video, fps=2.5, num_frames=5):
    from lrcn.datasets import VideoItem
    from lrcn.embedded import Embedded

    data = []
    for k, steps in enumerate(labels_per_video):
        steps = np.array(steps)
        emb = np.eye(3, dtype=np.float32)[np.clip(steps, 0, None)][None]  # (1, T, 3)
        data.append(Embedded(VideoItem(f"v{k}.mp4", 0, str(k), "test", spans=((0.0, 1.0, 0),)), emb, steps,
                             window_labels(steps, num_frames)))
    ckpt = SimpleNamespace(class_names=["a", "b", "c"], sampling=SimpleNamespace(num_frames=num_frames),
                           train=SimpleNamespace(seed=0), switch_penalty=None)
    return SimpleNamespace(ckpt=ckpt, data=data, spec=SimpleNamespace(fps=fps), head=OneHotHead(), problems=[])


def test_segmentation_scores_per_video_and_overall(tmp_path):
    from lrcn.config import Decoding, EvalConfig
    from lrcn.evaluate import segmentation_report

    truth = [[0] * 12 + [1] * 12 + [2] * 12, [2] * 10 + [-1] * 4 + [0] * 16]
    cfg = EvalConfig("ckpt.pth.tar", "data", decoding=Decoding(smoothing="none"))
    report = segmentation_report(cfg, _test_data(truth), "cpu", tmp_path)
    assert report["test_videos"] == 2 and report["frames_scored"] == 36 + 26  # unlabelled frames are not scored
    for video, steps in zip(report["videos"], truth):
        assert video["frames_scored"] == sum(1 for s in steps if s >= 0)
        assert Path(video["timeline"]).is_file()
    # A perfect window classifier: every window's majority; at a boundary a frame's mean over its windows can
    # tip either way by one frame, so the scores are high but measured, not assumed.
    after = report["after_smoothing"]
    assert after["frame_accuracy"] > 90 and after["edit"] == 100 and after["f1@50"] == 100
    assert report["window_accuracy"] == 1.0
    pooled = sum(v["after_smoothing"]["frame_accuracy"] * v["frames_scored"] for v in report["videos"]) / 62
    assert after["frame_accuracy"] == pytest.approx(pooled)
    assert after["edit"] == pytest.approx(np.mean([v["after_smoothing"]["edit"] for v in report["videos"]]))
    assert report["videos"][0]["after_smoothing"]["true_segments"] == 3
    assert report["videos"][1]["after_smoothing"]["true_segments"] == 2  # the unlabelled gap is not a segment
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["frames_scored"] == 62 and len(saved["frame_confusion_matrix"]) == 3
    lengths = saved["by_action_length"]  # 5-frame windows: every action here is a window or longer
    assert [(b["frames"], b["actions"]) for b in lengths.values()] == [("1-2", 0), ("3-4", 0), ("5+", 5)]
    assert lengths["a window or longer"]["found"] == 5 and lengths["under half a window"]["frame_accuracy"] is None


def test_an_action_is_found_when_most_of_its_frames_are_right():
    from lrcn.metrics import by_action_length

    truth = np.array([0] * 9 + [1] * 4 + [-1] * 2 + [2] * 3)
    predicted = np.array([0] * 9 + [1, 0, 0, 0] + [0, 0] + [2, 2, 0])
    got = by_action_length(truth, predicted, 8)  # bins: 1-3, 4-7 (4 of 8 can win a tie), 8+
    assert got["under half a window"] == {"frames": "1-3", "actions": 1, "found": 1, "frames_scored": 3,
                                          "frames_right": 2}
    assert got["half to one window"] == {"frames": "4-7", "actions": 1, "found": 0, "frames_scored": 4,
                                         "frames_right": 1}
    assert (got["a window or longer"]["frames"], got["a window or longer"]["actions"]) == ("8+", 1)
    assert by_action_length(truth, predicted, 1)["under half a window"]["frames"] == "none"
    assert by_action_length(truth, predicted, 1)["a window or longer"]["actions"] == 3


def test_segmentation_report_says_how_actions_of_each_length_fared(tmp_path):
    from lrcn.config import Decoding, EvalConfig
    from lrcn.evaluate import segmentation_report
    from lrcn.cli import _test_summary

    # a perfect window classifier: a 2-frame action is no window's majority, so it is never predicted
    truth = [[0] * 12 + [1] * 2 + [0] * 12 + [2] * 4 + [0] * 12]
    report = segmentation_report(EvalConfig("c", "d", decoding=Decoding(smoothing="none")), _test_data(truth), "cpu",
                                 tmp_path)
    lengths = report["by_action_length"]
    short, medium, long = (lengths[k] for k in ("under half a window", "half to one window", "a window or longer"))
    assert (short["actions"], short["found"], short["frame_accuracy"]) == (1, 0, 0.0)
    assert (medium["actions"], medium["frames_scored"], long["actions"], long["found"]) == (1, 4, 3, 3)
    assert report["videos"][0]["by_action_length"]["under half a window"]["actions"] == 1
    assert "actions found by length (sampled frames): 1-2: 0/1, 3-4: " in _test_summary({**report, "report": "r"})
    assert (tmp_path / "Frame_confusion_matrix.png").is_file()


def test_a_head_that_says_one_class_scores_that_class_share(tmp_path):
    from lrcn.config import Decoding, EvalConfig
    from lrcn.evaluate import segmentation_report

    class Always(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([5.0, 0.0, 0.0]).expand(len(x), 3)

    t = _test_data([[0] * 10 + [1] * 30])
    t.head = Always()
    report = segmentation_report(EvalConfig("c", "d", decoding=Decoding(smoothing="none")), t, "cpu", tmp_path)
    assert report["after_smoothing"]["frame_accuracy"] == pytest.approx(25.0)
    assert report["after_smoothing"]["edit"] == pytest.approx(50.0)
    assert report["window_accuracy"] == pytest.approx(np.mean(window_labels(np.array([0] * 10 + [1] * 30), 5) == 0))


@pytest.mark.parametrize("labels, num_frames, expected", [
    ([0] * 6 + [1] * 2 + [0] * 6, 5, (1, 3)),  # 2 frames: never the majority of 5
    ([0] * 6 + [1] * 3 + [0] * 6, 5, (0, 3)),  # 3 of 5: the window around it is its
    ([0] * 6 + [1] * 3 + [0] * 6, 7, (1, 3)),  # ... but not of 7
    ([0] * 4 + [-1] * 3 + [0] * 4, 5, (0, 2)),  # an unlabelled gap is not an action; both sides have windows
    ([1] * 2 + [0] * 8, 5, (1, 2)),  # at the start too
    ([2] * 4, 5, (1, 1)),  # shorter than one window: no window at all
    ([0] * 6 + [1] * 4 + [0] * 6, 8, (0, 3)),  # 4 of 8: a tie, won by the label nearest the centre
    ([0] * 6 + [1] * 3 + [0] * 6, 8, (1, 3)),
])
def test_actions_that_no_window_has_as_its_label_are_counted(labels, num_frames, expected):
    from lrcn.annotations import actions_without_a_window

    labels = np.array(labels)
    assert actions_without_a_window(labels, window_labels(labels, num_frames), num_frames) == expected


@pytest.mark.parametrize("num_frames", range(1, 11))
def test_the_longest_action_no_window_labels_is_what_the_majority_rule_gives(num_frames):
    from lrcn.annotations import longest_never_majority

    def labelled(n):  # is an action of n frames amid another class the label of some window?
        labels = np.array([0] * num_frames + [1] * n + [0] * num_frames)
        return bool((window_labels(labels, num_frames) == 1).any())

    n = longest_never_majority(num_frames)
    assert (n == 0 or not labelled(n)) and labelled(n + 1)


def test_training_a_window_classifier_warns_of_actions_it_cannot_learn():
    from lrcn.config import TrainConfig
    from lrcn.train import short_actions

    t = _test_data([[0] * 12 + [1] * 2 + [0] * 12, [2] * 12 + [0] * 12], num_frames=5)
    warning = short_actions(t.data, TrainConfig("data", num_frames=5))
    assert warning.startswith("1 of 5 annotated actions (20.0 %) are the majority of no 5-frame window (actions of 2 "
                              "sampled frames or fewer, 0.8 s, never are)")
    assert "--num-frames" in warning and "--per-step" in warning
    assert short_actions(t.data[1:], TrainConfig("data", num_frames=5)) is None


def test_training_draws_windows_labelled_by_their_majority(tmp_path):
    from lrcn.embedded import Embedded, train_batches
    from lrcn.datasets import VideoItem

    steps = np.array([0] * 6 + [-1] * 6 + [1] * 6)
    emb = np.arange(18, dtype=np.float32)[None, :, None].repeat(2, 2)  # (1, 18, 2): the step index
    e = Embedded(VideoItem("v.mp4", 0, "g", "train", spans=((0, 1, 0),)), emb, steps, window_labels(steps, 5))
    seen = {}
    for x, y, _ in train_batches([e], 5, 64, np.random.default_rng(0)):
        for window, label in zip(x[:, 0, 0].int().tolist(), y.tolist()):
            seen[window] = label
    assert seen == {0: 0, 1: 0, 2: 0, 3: 0, 10: 1, 11: 1, 12: 1, 13: 1}  # starts 4-9: mostly unlabelled
    x, y, _ = next(iter(train_batches([e], 5, 64, np.random.default_rng(0), every_step=True)))
    for window, targets in zip(x[:, 0, 0].int().tolist(), y.tolist()):
        assert targets == [int(s) if s >= 0 else -100 for s in steps[window:window + 5]]


@pytest.mark.parametrize("head", ["per_step", "both_readouts"])  # --causal's targets: test_training_draws_windows_...
def test_train_and_test_on_annotated_long_videos_end_to_end(tiny_dataset, tmp_path, head):
    """Long videos made of the tiny dataset's clips: lrcn train reads their annotations (a head with a
    loss at every step, each step its own class: causal, or bidirectional --per-step), lrcn test scores
    them as segmentation, and lrcn predict --truth on one of them gives the same scores as the test's
    row for it (a per-step head: from each step's own probabilities in both)."""
    from lrcn.config import EvalConfig, PredictConfig
    from lrcn.evaluate import run as test
    from lrcn.predict import run as predict
    from lrcn.synth import annotated_long_videos
    from lrcn.train import TrainConfig, run as train

    source = load_dataset(tiny_dataset)
    root = tmp_path / "long"
    annotated_long_videos(tiny_dataset, source, source.items, root, 3, seed=1, actions=(3, 3),
                          split="train", prefix="train")  # 3 x 2.2-2.6 s: at least one 15-frame window each
    made = annotated_long_videos(tiny_dataset, source, source.items, root, 1, seed=9,
                                 actions=(3, 3), split="test", prefix="test")
    ds = load_dataset(root)
    assert ds.kind == "annotated" and ds.classes == source.classes  # classes.txt keeps the source's order
    assert [i.split for i in ds.items] == ["test", "train", "train", "train"]
    settings = TrainConfig(str(root), backbone="mobilenet_v2", weights="none", cache_dir=str(tmp_path / "c"),
                           run_dir=str(tmp_path / "run"), epochs=2, batch_size=8, num_workers=0, val_split=0.2,
                           views=("center",), **{head: True})  # one video validates
    run_dir = train(settings, progress=False)
    ckpt = run_dir / "Saved_model_checkpoints" / "final.pth.tar"
    from lrcn.checkpoint import load_checkpoint
    from lrcn.config import LONG_VIDEO_NUM_FRAMES, SWITCH_PENALTY_GRID, Decoding

    num_frames = load_checkpoint(ckpt).sampling.num_frames
    assert num_frames == LONG_VIDEO_NUM_FRAMES  # no --num-frames given: the long-video default, not the clips' 5
    chosen = load_checkpoint(ckpt).decoding  # the decoder's switch penalty, chosen on the validation video
    assert chosen["switch_penalty"] in SWITCH_PENALTY_GRID and chosen["videos"] == 1
    assert set(chosen["scores"]) == {f"{p:g}" for p in SWITCH_PENALTY_GRID}
    from dataclasses import replace

    from lrcn.checkpoint import save_checkpoint

    save_checkpoint(ckpt, replace(load_checkpoint(ckpt), decoding=None))  # as an older lrcn shipped it
    train(replace(settings, resume="auto"), progress=False)  # the finished run again: no epoch, no refit ...
    assert load_checkpoint(ckpt).decoding == chosen  # ... but the penalty chosen and stored again
    from lrcn.train import summary_lines

    assert any(f"switch penalty {chosen['switch_penalty']:g}, chosen on 1 validation" in line
               for line in summary_lines(run_dir))  # what lrcn train prints at the end
    report = test(EvalConfig(str(ckpt), str(root), cache_dir=str(tmp_path / "c"), num_workers=0), progress=False)
    assert report["decoding"]["switch_penalty"] == chosen["switch_penalty"]  # lrcn test decodes with it ...
    given = test(EvalConfig(str(ckpt), str(root), cache_dir=str(tmp_path / "c"), num_workers=0,
                            decoding=Decoding(switch_penalty=1000.0), out_dir=str(tmp_path / "given")), progress=False)
    assert given["decoding"]["switch_penalty"] == 1000.0  # ... unless --switch-penalty says otherwise
    assert given["videos"][0]["after_smoothing"]["predicted_segments"] == 1  # no change of label is worth 1000
    from lrcn.checkpoint import info_lines

    info = "\n".join(info_lines(run_dir))  # lrcn info: the penalty, and the segmentation scores of lrcn test
    assert f"decoding: switch penalty {chosen['switch_penalty']:g}, chosen on 1 validation" in info
    a = report["after_smoothing"]
    assert (f"frame accuracy {a['frame_accuracy']:.1f} %, edit {a['edit']:.1f}, F1@50 {a['f1@50']:.1f} on 1 long "
            f"videos (switch penalty {chosen['switch_penalty']:g})") in info
    (video,) = report["videos"]
    rows = made[0][1]
    steps = int(round(rows[-1][1] * 2.5))
    assert report["kind"] == "annotated" and abs(video["frames_scored"] - steps) <= 1
    (pred,), _ = predict(PredictConfig(str(ckpt), (str(made[0][0]),), str(tmp_path / "p"), annotate=False,
                                       progress=False, truth=str(made[0][0].with_suffix(".csv"))))
    assert pred["scores"]["after_smoothing"]["edit"] == pytest.approx(video["after_smoothing"]["edit"])
    assert abs(pred["scores"]["after_smoothing"]["frame_accuracy"] - video["after_smoothing"]["frame_accuracy"]) < 5
    import lrcn

    model = lrcn.load(ckpt, runtime="pytorch")
    scored = model.segment(made[0][0]).scored
    assert scored.step_probs is not None  # each step's own output, not the window's spread over its steps
    assert scored.step_probs.shape == (len(scored.starts), num_frames, len(ds.classes))
    np.testing.assert_allclose(scored.step_probs.sum(2), 1.0, atol=1e-5)
    assert not np.allclose(scored.step_probs, scored.probs[:, None, :], atol=1e-3)
    from lrcn.decode import frame_probabilities, step_frame_probabilities

    windows = frame_probabilities(scored.probs, scored.starts, num_frames, len(scored.times))
    steps = step_frame_probabilities(scored.step_probs, scored.starts, len(scored.times))
    frames = model.segment(made[0][0]).frame_probs
    if head == "per_step":
        np.testing.assert_allclose(frames, steps, atol=1e-6)
    else:  # both readouts: each frame the geometric mean of the window readout's and its steps'
        mixed = np.sqrt(windows * steps)
        np.testing.assert_allclose(frames, mixed / mixed.sum(1, keepdims=True), atol=1e-6)
        assert not np.allclose(frames, steps, atol=1e-3) and not np.allclose(frames, windows, atol=1e-3)


def test_frames_of_a_per_step_head_average_their_own_step_of_each_window():
    from lrcn.decode import step_frame_probabilities

    steps = np.zeros((2, 3, 2))
    steps[0] = [[1, 0], [1, 0], [0, 1]]  # window 0 covers frames 0-2
    steps[1] = [[0, 1], [0, 1], [0, 1]]  # window 1 covers frames 1-3
    got = step_frame_probabilities(steps, [0, 1], 5)  # frame 4: no window, the nearest (3)
    np.testing.assert_allclose(got, [[1, 0], [.5, .5], [0, 1], [0, 1], [0, 1]])


def test_a_per_step_head_labels_every_step_and_its_window_is_their_mean():
    from lrcn.model import LRCNHead, ModelConfig

    torch.manual_seed(0)
    head = LRCNHead(ModelConfig(feature_dim=8, num_classes=3, per_step=True)).eval()
    x = torch.randn(4, 5, 8)
    steps = head.step_logits(x)
    assert steps.shape == (4, 5, 3) and head.cfg.bidirectional
    torch.testing.assert_close(head(x), steps.mean(1))
    window = LRCNHead(ModelConfig(feature_dim=8, num_classes=3)).eval()
    with pytest.raises(ConfigError, match="trained at every step"):
        window.step_logits(x)
    from lrcn.config import TrainConfig

    with pytest.raises(ConfigError, match="give one"):
        TrainConfig("data", causal=True, per_step=True)


def test_a_head_with_both_readouts_reads_the_window_from_its_final_states_and_every_step_from_its_outputs():
    """--both-readouts: one LSTM pass gives the window's logits (final states, as the window classifier)
    and every step's (outputs, as --per-step); trained on (B, 2T) logits, the steps' then the window's
    T times, so the loss is the mean of the two readouts' losses; read as both."""
    from lrcn.model import EveryStep, LRCNHead, ModelConfig, frame_readout, window_probabilities
    from lrcn.metrics import softmax

    torch.manual_seed(0)
    cfg = ModelConfig(feature_dim=8, num_classes=3, both_readouts=True)
    head = LRCNHead(cfg).eval()
    window_head = LRCNHead(ModelConfig(feature_dim=8, num_classes=3)).eval()
    window_head.load_state_dict(head.state_dict())  # the same weights, read as a window classifier
    x = torch.randn(4, 5, 8)
    steps, window = head.readouts(x)
    torch.testing.assert_close(window, window_head(x))  # the window readout: the final states
    torch.testing.assert_close(head(x), window)  # what validation, export and classify read
    torch.testing.assert_close(steps, head.step_logits(x))
    assert not torch.allclose(window, steps.mean(1), atol=1e-3)  # not the per-step head's mean of steps
    trained = EveryStep(head)(x)
    assert trained.shape == (4, 10, 3)
    torch.testing.assert_close(trained[:, :5], steps)
    torch.testing.assert_close(trained[:, 5:], window[:, None].expand(-1, 5, -1))
    w, s = window_probabilities(head, x.numpy(), "cpu", batch_size=3)  # batches of 3: one full, one short
    np.testing.assert_allclose(w, softmax(window.detach().numpy()), atol=1e-6)
    np.testing.assert_allclose(s, softmax(steps.detach().numpy()), atol=1e-6)
    assert [frame_readout(h) for h in (head, window_head, LRCNHead(ModelConfig(8, 3, per_step=True)))] == [
        "both", "window", "steps"]
    with pytest.raises(ConfigError, match="already labels every step"):
        ModelConfig(8, 3, both_readouts=True, per_step=True)
    from lrcn.config import TrainConfig

    with pytest.raises(ConfigError, match="--both-readouts"):
        TrainConfig("data", both_readouts=True, per_step=True)
    assert TrainConfig("data", both_readouts=True).every_step and not TrainConfig("data").every_step


def test_training_a_head_with_both_readouts_weighs_the_window_and_the_steps_alike():
    """The training targets of --both-readouts: each step's class, then the window's (its majority) T
    times; the loss of one batch is the mean of the steps' mean loss and the window's loss."""
    from lrcn.datasets import VideoItem
    from lrcn.embedded import Embedded, train_batches
    from lrcn.model import EveryStep, LRCNHead, ModelConfig
    from lrcn.train import train_one_epoch

    steps = np.array([0] * 4 + [1] * 8)
    emb = np.random.default_rng(0).normal(size=(1, 12, 8)).astype(np.float32)
    e = Embedded(VideoItem("v.mp4", 0, "g", "train", spans=((0, 1, 0),)), emb, steps, window_labels(steps, 5))
    x, y, _ = next(iter(train_batches([e], 5, 64, np.random.default_rng(0), every_step=True, window_label=True)))
    starts = [int(np.flatnonzero((emb[0] == row[0].numpy()).all(1))[0]) for row in x]
    for s, targets in zip(starts, y.tolist()):
        assert targets == steps[s:s + 5].tolist() + [int(e.windows[s])] * 5
    assert {s: int(e.windows[s]) for s in starts} == {0: 0, 1: 0, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1}
    torch.manual_seed(0)
    head = LRCNHead(ModelConfig(feature_dim=8, num_classes=2, both_readouts=True, dropout=0.0))
    state = {k: v.clone() for k, v in head.state_dict().items()}
    step_logits, window_logits = head.readouts(x)
    ce = torch.nn.functional.cross_entropy
    expected = 0.5 * (ce(step_logits.flatten(0, 1), y[:, :5].flatten()) + ce(window_logits, y[:, 5]))

    class Once:  # one process, no DDP
        device = torch.device("cpu")
        world_size = 1

        @staticmethod
        def all_reduce_sum(values):
            return values

    head.load_state_dict(state)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.0)
    out = train_one_epoch(EveryStep(head), [(x, y, len(x))], optimizer, 0, seed=0, dist=Once())
    assert out["train_windows"] == len(x) and out["train_loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_annotations_are_numbered_as_the_model_numbers_its_classes(folder):
    from lrcn.datasets import with_classes

    ds = with_classes(load_dataset(folder), ["walk", "jump", "run"])  # another order, and a class not annotated
    assert ds.classes == ("walk", "jump", "run") and ds.items[0].spans == ((0.0, 3.0, 0), (3.0, 5.0, 2))
    with pytest.raises(ConfigError, match="'run' not among the model's classes"):
        with_classes(load_dataset(folder), ["walk", "sit"])


def test_two_models_read_together_agree_frame_by_frame(tiny_dataset, trained, tmp_path):
    """lrcn predict/test --with: a model of annotated long videos (15-frame windows) and one of trimmed clips
    (5-frame windows) read the same embedded steps; each frame is the geometric mean of their readings,
    renormalised, decoded with the mean of their switch penalties; predict and test agree on a video; models
    of other classes, and trimmed clips to test on, are refused in one line."""
    from dataclasses import replace

    import lrcn
    from lrcn.checkpoint import load_checkpoint, save_checkpoint
    from lrcn.config import EvalConfig, PredictConfig
    from lrcn.errors import ConfigError
    from lrcn.evaluate import run as test
    from lrcn.predict import run as predict
    from lrcn.synth import annotated_long_videos
    from lrcn.train import TrainConfig, run as train

    clips_ckpt, _ = trained  # 5-frame windows on the tiny clips, its penalty the default 8
    source = load_dataset(tiny_dataset)
    root = tmp_path / "long"
    annotated_long_videos(tiny_dataset, source, source.items, root, 2, seed=1, actions=(3, 3), split="train",
                          prefix="train")
    (video, _), = annotated_long_videos(tiny_dataset, source, source.items, root, 1, seed=9, actions=(3, 3),
                                        split="test", prefix="test")
    cache = str(tmp_path / "c")
    run_dir = train(TrainConfig(str(root), backbone="mobilenet_v2", weights="none", cache_dir=cache,
                                run_dir=str(tmp_path / "run"), epochs=1, batch_size=8, num_workers=0, val_split=0.5,
                                views=("center",), precision="fp32"), progress=False)
    long_ckpt = run_dir / "Saved_model_checkpoints" / "final.pth.tar"
    ck = load_checkpoint(long_ckpt)  # its own penalty set apart from the clips model's 8, so a mean is seen
    # No head named: annotated long videos get both readouts (config.LONG_VIDEO_BOTH_READOUTS), clips the window one.
    assert ck.model_config.both_readouts and not load_checkpoint(clips_ckpt).model_config.both_readouts
    save_checkpoint(long_ckpt, replace(ck, decoding={**ck.decoding, "switch_penalty": 2.0}))
    own = 2.0

    long_model, clips_model = lrcn.load(long_ckpt, runtime="pytorch"), lrcn.load(clips_ckpt, runtime="pytorch")
    assert (long_model.window, clips_model.window) == (15, 5)
    a, b = long_model.segment(video).frame_probs, clips_model.segment(video).frame_probs
    joint = long_model.segment(video, with_model=clips_model)
    mixed = np.sqrt(a * b)
    np.testing.assert_allclose(joint.frame_probs, mixed / mixed.sum(1, keepdims=True), atol=1e-5)
    assert not np.allclose(joint.frame_probs, (a + b) / 2, atol=1e-4)  # not their arithmetic mean
    from lrcn.decode import decode

    penalty = (own + 8.0) / 2
    np.testing.assert_array_equal(joint.labels, decode(joint.frame_probs, long_model.joint_decoding(None, clips_model),
                                                       long_model.fps))
    assert long_model.joint_decoding(None, clips_model).switch_penalty == penalty

    report = test(EvalConfig(str(long_ckpt), str(root), cache_dir=cache, num_workers=0, with_model=str(clips_ckpt),
                             out_dir=str(tmp_path / "t")), progress=False)
    assert report["with"] == str(clips_ckpt) and report["read_alone"] == []
    assert report["decoding"]["switch_penalty"] == penalty
    (pred,), _ = predict(PredictConfig(str(long_ckpt), (str(video),), str(tmp_path / "p"), annotate=False,
                                       progress=False, with_model=str(clips_ckpt),
                                       truth=str(video.with_suffix(".csv"))))
    (row,) = report["videos"]
    assert pred["scores"]["after_smoothing"]["edit"] == pytest.approx(row["after_smoothing"]["edit"])
    written = json.loads((tmp_path / "p" / "test_000" / "predictions.json").read_text())
    assert written["decoding"]["switch_penalty"] == penalty and str(clips_ckpt) in written["model"]

    other = tmp_path / "other.pth.tar"  # the same model, its classes in another order
    ck = load_checkpoint(clips_ckpt)
    save_checkpoint(other, replace(ck, class_names=list(reversed(ck.class_names))))
    with pytest.raises(ConfigError, match="classes are not .* in the same order"):
        test(EvalConfig(str(long_ckpt), str(root), cache_dir=cache, num_workers=0, with_model=str(other),
                        out_dir=str(tmp_path / "t2")), progress=False)
    with pytest.raises(ConfigError, match="holds trimmed clips"):
        test(EvalConfig(str(clips_ckpt), str(tiny_dataset), cache_dir=cache, num_workers=0,
                        with_model=str(long_ckpt), out_dir=str(tmp_path / "t3")), progress=False)
