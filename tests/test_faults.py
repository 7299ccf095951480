"""Faults beyond bad videos: concurrent writers, stale caches, unusable outputs, odd settings.

Each test runs the real command in-process (``lrcn.cli.main``) and asserts the one line it prints,
its exit code, and that no work was lost or overwritten. The README's "Bad input and faults" table
lists these cases.
"""

from __future__ import annotations

import errno
import os
import shutil
import time

import numpy as np
import pytest
import torch

from lrcn.cli import main
from lrcn.features import FeatureSpec, EmbeddingCache, Request, extract, fingerprint
from lrcn.backbone import BackboneSpec
from lrcn.io import FolderLock

MODEL = ["--backbone", "mobilenet_v2", "--weights", "none", "--precision", "fp32"]


def lrcn(capsys, *args) -> tuple[int, str, str]:
    """Run ``lrcn ARGS`` in this process: (exit code, stdout, stderr). An uncaught exception fails the test."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_error_line(err: str, *phrases: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("lrcn: error: ")]
    assert len(lines) == 1, err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


def train_args(data, tmp_path, run="run", *more):
    return ["train", data, *MODEL, "--cache-dir", tmp_path / "cache", "--run-dir", tmp_path / run, "--epochs", "1",
            "--views", "center", "--num-workers", "0", "--no-progress", "--no-refit", *more]


# --- one writer per output folder ------------------------------------------------------------------

def test_a_second_training_into_a_busy_run_folder_stops_naming_the_first(tiny_dataset, tmp_path, capsys):
    with FolderLock(tmp_path / "run", "lrcn train"):  # a live writer holds the folder
        code, _, err = lrcn(capsys, *train_args(tiny_dataset, tmp_path))
    assert code != 0
    one_error_line(err, str(tmp_path / "run"), "in use by 'lrcn train'", f"pid {os.getpid()}")
    assert not (tmp_path / "run" / "Saved_model_checkpoints").exists()  # it wrote nothing


def test_a_dead_writers_lock_is_taken_over(tiny_dataset, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lrcn.lock").write_text("'lrcn train' (host gone, pid 999999)\n")  # no process holds it
    code, _, err = lrcn(capsys, *train_args(tiny_dataset, tmp_path))
    assert code == 0, err
    assert (tmp_path / "run" / "Saved_model_checkpoints" / "last.pth.tar").is_file()


def test_a_second_predict_into_a_busy_output_folder_stops(trained, tiny_dataset, tmp_path, capsys):
    ckpt, _ = trained
    video = next((tiny_dataset).rglob("*.avi"))
    with FolderLock(tmp_path / "p", "lrcn predict"):
        code, _, err = lrcn(capsys, "predict", ckpt, video, "--out-dir", tmp_path / "p", "--no-video",
                            "--precision", "fp32", "--no-progress")
    assert code != 0
    one_error_line(err, "in use by 'lrcn predict'")


def test_a_second_preprocess_of_the_same_shard_stops(tiny_dataset, tmp_path, capsys):
    with FolderLock(tmp_path / "clips", "lrcn preprocess", name=".manifest.jsonl.lock"):
        code, _, err = lrcn(capsys, "preprocess", tiny_dataset, "--out-dir", tmp_path / "clips", "--no-progress")
    assert code != 0
    one_error_line(err, "in use by 'lrcn preprocess'")
    assert not (tmp_path / "clips" / "manifest.jsonl").exists()


def test_predict_removes_what_a_killed_predict_left_half_written(trained, tiny_dataset, tmp_path, capsys):
    ckpt, _ = trained
    video = next((tiny_dataset).rglob("*.avi"))
    leftover = tmp_path / "p" / video.stem / f"{video.stem}_annotated.tmp-000000-999999-0123abcd.mp4"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half an mp4")
    os.utime(leftover, (time.time() - 7 * 3600,) * 2)  # another host's, hours old
    code, _, err = lrcn(capsys, "predict", ckpt, video, "--out-dir", tmp_path / "p", "--no-video", "--precision",
                        "fp32", "--no-progress")
    assert code == 0, err
    assert not leftover.exists() and (leftover.parent / "predictions.json").is_file()


# --- outputs that cannot be written: one line, before the work ------------------------------------

@pytest.mark.parametrize("command", ["train", "preprocess", "predict", "features"])
def test_an_output_path_that_is_a_file_is_one_line(command, trained, tiny_dataset, tmp_path, capsys):
    ckpt, _ = trained
    blocker = tmp_path / "out"
    blocker.write_text("precious")
    video = next((tiny_dataset).rglob("*.avi"))
    args = {
        "train": ["train", tiny_dataset, *MODEL, "--run-dir", blocker, "--cache-dir", tmp_path / "c", "--epochs", "1"],
        "preprocess": ["preprocess", tiny_dataset, "--out-dir", blocker, "--no-progress"],
        "predict": ["predict", ckpt, video, "--out-dir", blocker, "--no-video", "--precision", "fp32", "--no-progress"],
        "features": ["features", tiny_dataset, *MODEL, "--cache-dir", blocker, "--no-progress", "--views", "center"],
    }[command]
    code, _, err = lrcn(capsys, *args)
    assert code != 0
    one_error_line(err, str(blocker))
    assert blocker.read_text() == "precious"
    assert not (tmp_path / "c").exists()  # train stopped before embedding anything


def test_predict_checks_each_output_folder_before_embedding(trained, tiny_dataset, tmp_path, capsys, monkeypatch):
    ckpt, _ = trained
    videos = sorted((tiny_dataset).rglob("*.avi"))[:2]
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / videos[0].stem).write_text("a file where the first video's folder goes")
    from lrcn.inference import Model

    embedded = []
    real = Model.embed_video
    monkeypatch.setattr(Model, "embed_video", lambda self, path, *a, **k: embedded.append(path) or real(self, path, *a, **k))
    code, _, err = lrcn(capsys, "predict", ckpt, *videos, "--out-dir", tmp_path / "p", "--no-video", "--precision",
                        "fp32", "--no-progress")
    assert code == 1
    one_error_line(err, videos[0].stem)
    assert embedded == [videos[1]]  # the first was refused before its frames went through the CNN
    assert (tmp_path / "p" / videos[1].stem / "predictions.json").is_file()


def test_a_read_only_cache_that_needs_entries_is_one_line(tiny_dataset, tmp_path, capsys, monkeypatch):
    from lrcn import io as lrcn_io

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", str(dst))

    monkeypatch.setattr(lrcn_io.os, "replace", read_only)
    code, _, err = lrcn(capsys, "features", tiny_dataset, *MODEL, "--cache-dir", tmp_path / "c", "--no-progress",
                        "--views", "center", "--num-workers", "0")
    assert code != 0
    one_error_line(err, "cannot write (read-only file system)")
    assert not list((tmp_path / "c").rglob("*.npy"))


# --- the cache never serves stale or foreign numbers -----------------------------------------------

SPEC = FeatureSpec(BackboneSpec("mobilenet_v2", "none"), 2.5)


def test_a_same_size_edit_in_the_middle_changes_the_fingerprint(make_video):
    path = make_video("v.avi", 200, size=(160, 120))
    before = fingerprint(path)
    data = bytearray(path.read_bytes())
    assert len(data) > 1 << 18  # the old head/tail fingerprint could not see the middle of this file
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert fingerprint(path) != before


@pytest.mark.parametrize("fault", ["swapped", "record_missing", "record_of_another_entry", "shorter"])
def test_a_foreign_or_altered_entry_is_refused_and_recomputed(fault, tmp_path, make_video):
    from lrcn.backbone import FrameEmbedder
    from lrcn.errors import CacheError

    embedder = FrameEmbedder(SPEC.backbone, precision="fp32")
    rng = np.random.default_rng(0)
    a, b = (make_video(f"{n}.avi", 30, frames=rng.integers(0, 255, (30, 48, 64, 3), dtype=np.uint8)) for n in "ab")
    assert fingerprint(a) != fingerprint(b)  # two videos, entries of one shape
    cache = EmbeddingCache(tmp_path / "cache", SPEC)
    ra, rb = Request(str(a), ("center",), "C/a.avi"), Request(str(b), ("center",), "C/b.avi")
    extract([ra, rb], cache, embedder=embedder, workers=0, progress=False)
    good = np.array(cache.load(ra))
    pa, pb = (cache.entry_path(cache.key(r.path, r.views)) for r in (ra, rb))
    if fault == "swapped":
        tmp = pa.with_name("x")
        pa.rename(tmp), pb.rename(pa), tmp.rename(pb)
    elif fault == "record_missing":
        pa.with_suffix(".json").unlink()
    elif fault == "record_of_another_entry":
        shutil.copy(pb.with_suffix(".json"), pa.with_suffix(".json"))
    else:
        np.save(pa, good[:, :-2])
    with pytest.raises(CacheError, match="C/a.avi") as err:
        cache.load(ra)
    assert "removed" in str(err.value) and not pa.exists()
    extract([ra], cache, embedder=embedder, workers=0, progress=False)
    np.testing.assert_array_equal(cache.load(ra), good)


def test_training_recomputes_a_swapped_entry_instead_of_learning_from_it(tiny_dataset, tmp_path, capsys, caplog):
    code, _, err = lrcn(capsys, "features", tiny_dataset, *MODEL, "--cache-dir", tmp_path / "cache", "--no-progress",
                        "--views", "center", "--num-workers", "0")
    assert code == 0, err
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    first, second = entries[0], entries[1]
    tmp = first.with_name("x")
    first.rename(tmp), second.rename(first), tmp.rename(second)
    code, _, err = lrcn(capsys, *train_args(tiny_dataset, tmp_path))
    assert code == 0, err
    code, _, err = lrcn(capsys, "test", tmp_path / "run", tiny_dataset, "--cache-dir",
                        tmp_path / "cache", "--precision", "fp32", "--no-progress", "--num-workers", "0")
    assert code == 0, err
    # Each swapped entry was caught once (by train or by test), removed, and computed again.
    assert sum(r.getMessage().count("removed, run again") for r in caplog.records) == 2, caplog.text


# --- settings no video can satisfy; empty results ------------------------------------------------

def test_num_frames_longer_than_every_video_is_one_line(tiny_dataset, tmp_path, capsys):
    code, _, err = lrcn(capsys, *train_args(tiny_dataset, tmp_path, "run", "--num-frames", "400"))
    assert code != 0
    one_error_line(err, "--num-frames 400", "lower --num-frames")


def test_a_preprocess_that_produced_no_clip_exits_non_zero(tiny_dataset, tmp_path, capsys):
    code, out, err = lrcn(capsys, "preprocess", tiny_dataset, "--out-dir", tmp_path / "clips", "--num-frames", "400",
                          "--no-progress", "--workers", "1")
    assert code == 1
    one_error_line(err, "no clip was produced")
    assert "skipped" in out


@pytest.mark.parametrize("args, phrase", [
    (["check", "{data}", "--sampling-rate", "0"], "--sampling-rate must be >= 1"),
    (["check", "{data}", "--reference-fps", "0"], "--reference-fps must be positive"),
    (["preprocess", "{data}", "--out-dir", "{tmp}/o", "--sampling-rate", "0"], "--sampling-rate must be >= 1"),
])
def test_impossible_sampling_settings_are_one_line(args, phrase, tiny_dataset, tmp_path, capsys):
    args = [a.format(data=tiny_dataset, tmp=tmp_path) for a in args]
    code, _, err = lrcn(capsys, *args)
    assert code != 0
    one_error_line(err, phrase)


def test_check_of_a_missing_folder_creates_nothing(tmp_path, capsys):
    code, out, _ = lrcn(capsys, "check", tmp_path / "nowhere", "--no-progress")
    assert code == 1 and "dataset folder not found" in out
    assert not (tmp_path / "nowhere").exists()


# --- numbers that must never be silently wrong ------------------------------------------------------

def test_a_checkpoint_with_non_finite_weights_is_refused(trained, tiny_dataset, tmp_path, capsys):
    ckpt, _ = trained
    state = torch.load(ckpt, weights_only=True)
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = torch.full_like(state["model"][name], float("nan"))
    torch.save(state, tmp_path / "nan.pth.tar")
    video = next((tiny_dataset).rglob("*.avi"))
    code, _, err = lrcn(capsys, "predict", tmp_path / "nan.pth.tar", video, "--out-dir", tmp_path / "p",
                        "--no-video", "--no-progress")
    assert code != 0
    one_error_line(err, "non-finite weights", name)


def test_a_non_finite_score_is_never_a_correct_prediction():
    from lrcn import metrics

    scores = np.array([[np.nan, 0.1], [0.9, 0.1], [np.inf, 0.0]])
    labels = np.array([0, 0, 0])
    assert metrics.predicted(scores).tolist() == [-1, 0, -1]
    assert metrics.accuracy(labels, metrics.predicted(scores)) == pytest.approx(1 / 3)
    cm = metrics.confusion_matrix(labels, metrics.predicted(scores), 2)
    assert metrics.per_class_accuracy(cm, np.bincount(labels, minlength=2))[0] == pytest.approx(1 / 3)


# --- files that try to run code, or come from elsewhere --------------------------------------------

class _RunsCode:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["checkpoint", "weights", "cache_entry"])
def test_a_malicious_pickle_runs_no_code(where, trained, tiny_dataset, tmp_path, capsys):
    ckpt, _ = trained
    marker = tmp_path / "owned"
    evil = tmp_path / "evil.pth.tar"
    torch.save({"format": "lrcn-checkpoint", "model": _RunsCode(marker)}, evil)
    video = next((tiny_dataset).rglob("*.avi"))
    if where == "checkpoint":
        code, _, err = lrcn(capsys, "predict", evil, video, "--out-dir", tmp_path / "p", "--no-video", "--no-progress")
        assert code != 0
        one_error_line(err, str(evil))
    elif where == "weights":
        code, _, err = lrcn(capsys, "features", tiny_dataset, "--backbone", "mobilenet_v2", "--weights", evil,
                            "--cache-dir", tmp_path / "c", "--no-progress", "--views", "center")
        assert code != 0
        one_error_line(err, str(evil))
    else:
        from lrcn.errors import CacheError

        cache = EmbeddingCache(tmp_path / "cache", SPEC)
        request = Request(str(video), ("center",))
        path = cache.entry_path(cache.key(request.path, request.views))
        path.parent.mkdir(parents=True)
        np.save(path, np.array([_RunsCode(marker)], dtype=object), allow_pickle=True)
        with pytest.raises(CacheError, match="damaged"):
            cache.load(request)
    assert not marker.exists()


def test_a_checkpoint_of_a_newer_format_is_refused(trained, tmp_path):
    from lrcn.checkpoint import load_checkpoint
    from lrcn.errors import CheckpointError

    ckpt, _ = trained
    state = torch.load(ckpt, weights_only=True)
    torch.save({**state, "version": 99}, tmp_path / "new.pth.tar")
    with pytest.raises(CheckpointError, match="newer lrcn"):
        load_checkpoint(tmp_path / "new.pth.tar")


def test_workers_are_capped_at_the_usable_cores():
    from lrcn.distributed import usable_workers

    cores = len(os.sched_getaffinity(0))
    assert usable_workers(64) == cores and usable_workers(0) == 0 and usable_workers(1) == 1


def test_clips_cut_at_another_rate_are_refused_not_silently_resampled(tiny_dataset, tmp_path, capsys):
    code, _, err = lrcn(capsys, "preprocess", tiny_dataset, "--out-dir", tmp_path / "clips", "--sampling-rate", "5",
                        "--no-progress", "--workers", "1")
    assert code == 0, err
    code, _, err = lrcn(capsys, *train_args(tmp_path / "clips", tmp_path))  # default --sampling-rate 10
    assert code != 0
    one_error_line(err, "cut at 5 fps (--sampling-rate 5", "lrcn train samples at 2.5 fps")
    assert not (tmp_path / "cache").exists()  # refused before any work
    code, _, err = lrcn(capsys, *train_args(tmp_path / "clips", tmp_path, "run", "--sampling-rate", "5"))
    assert code == 0, err  # the same rate: trains
    code, _, err = lrcn(capsys, *train_args(tmp_path / "clips", tmp_path, "run8", "--sampling-rate", "5",
                                             "--num-frames", "8"))
    assert code != 0
    one_error_line(err, "clips have 5 frames", "--num-frames 8")


def test_write_errors_name_their_real_cause():
    import errno as e

    from lrcn.io import write_error

    for code, words in [(e.ENOSPC, "no space left on device"), (e.EROFS, "read-only file system"),
                        (e.ENAMETOOLONG, "file name too long"), (e.EACCES, "permission denied")]:
        assert str(write_error("/out/x.csv", OSError(code, "whatever"))) == \
            f"/out/x.csv: cannot write ({words}); nothing was overwritten"


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    """torch.save into a file would say "[enforce fail at inline_container.cc] unexpected pos"."""
    import errno
    from pathlib import Path

    import lrcn.io
    from lrcn.checkpoint import save_checkpoint
    from lrcn.errors import CheckpointError

    from test_checkpoint import CKPT  # tests/ is on the path (rootdir conftest)

    target = tmp_path / "last.pth.tar"
    save_checkpoint(target, CKPT)
    before = target.read_bytes()

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lrcn.io.Path, "write_bytes", full)
    with pytest.raises(CheckpointError, match=r"last.pth.tar: cannot write the checkpoint \(no space left on device\)"):
        save_checkpoint(target, CKPT)
    monkeypatch.undo()
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pth.tar"]


def test_a_stream_output_that_cannot_be_written_stops_before_the_stream_and_leaves_nothing(trained, tmp_path,
                                                                                       monkeypatch, make_video):
    import errno

    import lrcn.io
    from lrcn.config import StreamConfig
    from lrcn.errors import LrcnError
    from lrcn.stream import run

    video = make_video("v.avi", 60)
    real = lrcn.io.temporary_sibling

    def read_only(path, keep_suffix=True):
        if str(path).endswith(".mp4"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(path, keep_suffix)

    monkeypatch.setattr(lrcn.io, "temporary_sibling", read_only)
    out = tmp_path / "outs"
    with pytest.raises(LrcnError, match=r"rec.mp4: cannot write \(read-only file system\)"):
        run(StreamConfig(str(trained[0]), str(video), srt=str(out / "s.srt"), record=str(out / "rec.mp4")))
    assert not list(out.rglob("*.*"))  # no empty .srt, no probe file


def test_a_derived_name_too_long_for_the_file_system_is_shortened_and_said(trained, make_video, tmp_path, caplog):
    from lrcn.config import PredictConfig
    from lrcn.predict import run

    video = make_video("v" * 245 + ".avi", 60)  # legal; "<stem>_annotated.mp4" would be 259 bytes
    with caplog.at_level("WARNING"):
        results, failures = run(PredictConfig(str(trained[0]), (str(video),), out_dir=str(tmp_path / "p"),
                                              progress=False))
    assert not failures
    out = tmp_path / "p" / video.stem
    annotated = [p for p in out.iterdir() if p.name.endswith("_annotated.mp4")]
    assert len(annotated) == 1 and len(annotated[0].name.encode()) <= 255 and annotated[0].stat().st_size > 0
    assert "longer than a file name may be" in caplog.text and annotated[0].name in caplog.text
