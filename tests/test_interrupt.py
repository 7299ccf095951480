"""Killing real processes at random moments loses nothing: a rerun finishes with the uninterrupted result."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import lrcn.io
from lrcn.checkpoint import load_checkpoint
from lrcn.errors import LrcnError
from lrcn.io import atomic_path, remove_stale_temporaries, write_bytes_atomic

TRAIN = ["--backbone", "mobilenet_v2", "--weights", "none", "--num-workers", "0", "--val-split", "0.25",
         "--views", "center", "--precision", "fp32", "--batch-size", "4", "--no-progress"]


def _as_a_terminal_would():
    # A shell without job control (CI's, a script's `cmd &`) starts commands with SIGINT ignored, and Python keeps
    # an ignored SIGINT ignored: Ctrl-C from a terminal reaches a foreground process with the default action.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args, env=None):
    return subprocess.Popen([sys.executable, "-m", "lrcn.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env,
                            preexec_fn=_as_a_terminal_would)


def wait_for(predicate, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def epoch_of(path):
    try:
        return load_checkpoint(path).epoch
    except Exception:
        return 0


EPOCHS = 10


@pytest.fixture(scope="module")
def straight(tiny_dataset, tmp_path_factory):
    """The run nobody interrupts (refit included): what every interrupted run must come back to."""
    tmp = tmp_path_factory.mktemp("straight")
    run = subprocess.run([sys.executable, "-m", "lrcn.cli", "train", tiny_dataset, *TRAIN, "--epochs", str(EPOCHS),
                          "--cache-dir", tmp / "cache", "--run-dir", tmp / "run"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return tmp


def log_epochs(run_dir):
    import csv

    with open(run_dir / "log.csv", newline="") as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


@pytest.mark.slow
# A hard kill between an epoch's log row and its checkpoints, Ctrl-C after them, SIGTERM in the refit (a
# hard kill in the refit resumes through the same atomic files as the first case; dropped for the suite's time).
@pytest.mark.parametrize("sig, pause", [(signal.SIGKILL, "logged:3"), (signal.SIGINT, "saved:3"),
                                        (signal.SIGTERM, "refit:1")])
def test_killed_training_resumes_to_the_uninterrupted_weights(tiny_dataset, straight, tmp_path, sig, pause):
    """A kill at each save point (an epoch's row logged but not its checkpoints; after its checkpoints; in
    the refit), then the same command with --resume auto: the same last and final weights as the run
    nobody stopped, log.csv with every epoch once, and no temporary left by the killed writer."""
    epochs = ["--epochs", str(EPOCHS), "--cache-dir", straight / "cache"]
    run_dir = tmp_path / "killed"
    ckpts = run_dir / "Saved_model_checkpoints"
    proc = start(["train", tiny_dataset, *TRAIN, *epochs, "--run-dir", run_dir],
                 env={**os.environ, "LRCN_PAUSE_AT": pause})  # waits there: no race with a fast finish
    paused = ckpts / "paused"
    assert wait_for(paused.is_file, proc, timeout=600), proc.communicate()[1][-2000:]
    kept = epoch_of(ckpts / "last.pth.tar")
    assert kept == (2 if pause == "logged:3" else 3 if pause == "saved:3" else EPOCHS)
    if sig == signal.SIGKILL:  # as if killed in the middle of writing a checkpoint
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        name = f"last.tmp-{lrcn.io._HOST}-{int(dead.stdout)}-0000abcd.pth.tar"  # a writer that is gone
        (ckpts / name).write_bytes(b"half a checkpoint")
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    if sig != signal.SIGKILL:  # Ctrl-C and SIGTERM: one line, the conventional exit code, nothing half-written
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], err[-2000:]
        assert "run the same command again to resume" in err and "Traceback" not in err
        assert not list(ckpts.glob("*.tmp-*"))
    assert epoch_of(ckpts / "last.pth.tar") == kept
    paused.unlink()
    resumed = subprocess.run([sys.executable, "-m", "lrcn.cli", "train", tiny_dataset, *TRAIN, *epochs, "--run-dir",
                              run_dir, "--resume", "auto"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for name in ("last", "final"):
        a = load_checkpoint(straight / "run" / "Saved_model_checkpoints" / f"{name}.pth.tar")
        b = load_checkpoint(ckpts / f"{name}.pth.tar")
        assert a.epoch == b.epoch
        for key in a.model:
            torch.testing.assert_close(a.model[key], b.model[key], rtol=0, atol=0)
    assert log_epochs(run_dir) == list(range(1, EPOCHS + 1))  # the redone epoch once, not twice
    assert not list(run_dir.rglob("*.tmp-*"))


def entries(cache):
    """Finished cache entries: an array with its record beside it, as the cache itself counts them (a
    killed writer's ``*.npy.tmp-*`` is not one, nor an array whose record the kill cut off)."""
    return sorted(p.relative_to(cache) for p in cache.rglob("*.npy") if p.with_suffix(".json").is_file())


@pytest.mark.slow
def test_killed_feature_extraction_completes_to_the_same_cache(tiny_dataset, tmp_path):
    args = ["features", tiny_dataset, "--backbone", "mobilenet_v2", "--weights", "none", "--num-workers", "0",
            "--views", "center,flip,top_left,bottom_right", "--precision", "fp32", "--no-progress"]
    whole = subprocess.run([sys.executable, "-m", "lrcn.cli", *map(str, args), "--cache-dir", tmp_path / "whole"],
                           capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = tmp_path / "killed"
    proc = start([*args, "--cache-dir", killed])
    assert wait_for(lambda: len(entries(killed)) >= 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(entries(killed))
    assert done < 24, "extraction finished before it could be killed"
    rerun = subprocess.run([sys.executable, "-m", "lrcn.cli", *map(str, args), "--cache-dir", killed],
                           capture_output=True, text=True)
    assert rerun.returncode == 0 and f"{24 - done} computed, {done} already cached" in rerun.stdout
    names = entries(tmp_path / "whole")
    assert len(names) == 24 and names == entries(killed)
    assert not list(killed.rglob("*.tmp-*")), "the killed writer's temporary file was left behind"
    for name in names:
        np.testing.assert_array_equal(np.load(tmp_path / "whole" / name), np.load(killed / name))


def test_disk_full_is_reported_and_the_old_file_survives(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint.pth.tar"
    target.write_bytes(b"previous good version")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(LrcnError, match=r"cannot write \(no space left on device\); nothing was overwritten") as err:
        write_bytes_atomic(target, b"new" * 1000)
    assert "\n" not in str(err.value)
    assert target.read_bytes() == b"previous good version"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pth.tar"]  # no temporary left behind


def test_stale_temporaries_of_dead_writers_go_and_live_ones_stay(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with atomic_path(tmp_path / "mine.npy", keep_suffix=False) as live:
        Path(live).write_bytes(b"being written")
        orphan = Path(live.replace(f"-{os.getpid()}-", f"-{dead.pid}-"))
        orphan.write_bytes(b"left by a killed writer")
        foreign = tmp_path / "other.npy.tmp-zzzzzz-1-0123abcd"
        foreign.write_bytes(b"another host, still fresh")
        assert remove_stale_temporaries(tmp_path) == 1
        assert Path(live).exists() and foreign.exists() and not orphan.exists()
    assert (tmp_path / "mine.npy").read_bytes() == b"being written"
    old = time.time() - 7 * 3600
    os.utime(foreign, (old, old))
    assert remove_stale_temporaries(tmp_path) == 1 and not foreign.exists()


def test_a_killed_writer_not_yet_reaped_counts_as_gone(tmp_path):
    """A SIGKILLed worker can linger as a zombie until its parent (or init) reaps it; its leftovers go."""
    from lrcn import io as lrcn_io

    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.time() + 5
        while not lrcn_io._is_zombie(pid) and time.time() < deadline:
            time.sleep(0.01)
        assert lrcn_io._is_zombie(pid)
        leftover = tmp_path / f"clip.tmp-{lrcn_io._HOST}-{pid}-0123abcd.avi"
        leftover.write_bytes(b"half")
        live = tmp_path / f"clip.tmp-{lrcn_io._HOST}-{os.getpid()}-0123abcd.avi"
        live.write_bytes(b"being written")
        assert lrcn_io.remove_stale_temporaries(tmp_path) == 1
        assert not leftover.exists() and live.exists()
    finally:
        os.waitpid(pid, 0)
