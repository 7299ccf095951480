import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_index, indexed_frames
from lrcn.datasets import load_dataset, read_clip_records
from lrcn.errors import ConfigError
from lrcn.preprocess import PreprocessConfig, run
from lrcn.video import probe, read_frames, write_video


def _cfg(data, out, **kw):
    return PreprocessConfig(str(data), str(out), workers=kw.pop("workers", 1), **kw)


def test_clips_and_manifest(tiny_dataset, tmp_path):
    out = tmp_path / "clips"
    summary = run(_cfg(tiny_dataset, out, clips_per_video=2), progress=False)
    assert summary == {"videos": 24, "clips": 48, "skipped": []}
    records = read_clip_records(out)
    assert len(records) == 48
    for r in records:
        clip = out / r["clip"]
        assert clip.is_file()
        info = probe(clip)
        assert info.num_frames == 5 and info.fps == pytest.approx(2.5)
        assert r["frame_indices"] == [r["frame_indices"][0] + 10 * k for k in range(5)]
        assert r["source_fps"] == 25 and r["group"].startswith("g")
    ds = load_dataset(out)
    assert ds.kind == "clips" and len(ds.items) == 48 and ds.classes == load_dataset(tiny_dataset).classes


def test_clip_frames_are_the_sampled_source_frames(tmp_path):
    src = tmp_path / "data" / "Count" / "v_Count_g01_c01.avi"
    src.parent.mkdir(parents=True)
    write_video(src, indexed_frames(100), 25, codec="mpeg4", quality=2, max_b_frames=2)
    out = tmp_path / "clips"
    run(_cfg(tmp_path / "data", out, codec="ffv1"), progress=False)
    (record,) = read_clip_records(out)
    decoded = read_frames(out / record["clip"], list(range(5)))
    assert [read_index(f) for f in decoded] == record["frame_indices"]


def test_seeded_and_reproducible(tiny_dataset, tmp_path):
    run(_cfg(tiny_dataset, tmp_path / "a"), progress=False)
    run(_cfg(tiny_dataset, tmp_path / "b", workers=2), progress=False)
    for i in (1, 0):  # two shards, the second first: manifest lines in another order
        run(_cfg(tiny_dataset, tmp_path / "s", shard=(i, 2)), progress=False)
    key = lambda rs: sorted((r["source"], tuple(r["frame_indices"])) for r in rs)
    assert key(read_clip_records(tmp_path / "a")) == key(read_clip_records(tmp_path / "b"))
    # The dataset's item order too: seeded training downstream must not depend on who finished first.
    a = load_dataset(tmp_path / "a").items
    assert a == load_dataset(tmp_path / "b").items == load_dataset(tmp_path / "s").items
    run(_cfg(tiny_dataset, tmp_path / "c", seed=7), progress=False)
    assert key(read_clip_records(tmp_path / "a")) != key(read_clip_records(tmp_path / "c"))


def test_resume_does_only_what_is_missing(tiny_dataset, tmp_path):
    out = tmp_path / "clips"
    run(_cfg(tiny_dataset, out), progress=False)
    victim = sorted(out.rglob("*.avi"))[0]
    victim.unlink()
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.avi")}
    summary = run(_cfg(tiny_dataset, out), progress=False)
    assert summary["clips"] == 24 and victim.is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())  # nothing else rewritten


def test_other_settings_refuse_to_mix(tiny_dataset, tmp_path):
    run(_cfg(tiny_dataset, tmp_path / "clips"), progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        run(_cfg(tiny_dataset, tmp_path / "clips", num_frames=4), progress=False)


def test_bad_and_short_videos_are_skipped_with_reasons(tmp_path, make_video):
    root = tmp_path / "data"
    make_video("data/walk/good1.avi", 60)
    make_video("data/walk/short.avi", 20)  # 2 sampled frames < 5
    (root / "walk" / "zero.avi").write_bytes(b"")
    (root / "walk" / "text.avi").write_text("not a video\n" * 100)
    make_video("data/run/good2.avi", 60)
    summary = run(_cfg(root, tmp_path / "clips"), progress=False)
    reasons = {Path(s["source"]).name: s["reason"] for s in summary["skipped"]}
    assert summary["clips"] == 2
    assert "empty file" in reasons["zero.avi"]
    assert "not a readable video" in reasons["text.avi"]
    assert "too short" in reasons["short.avi"] and "--short-videos pad" in reasons["short.avi"]
    padded = run(_cfg(root, tmp_path / "padded", short_videos="pad"), progress=False)
    assert padded["clips"] == 3
    (rec,) = [r for r in read_clip_records(tmp_path / "padded") if r["source"].endswith("short.avi")]
    assert rec["frame_indices"] == [0, 10, 10, 10, 10] and rec["padded"] == 3


@pytest.mark.parametrize("kw,flag", [({"num_frames": 0}, "--num-frames"), ({"sampling_rate": 0}, "--sampling-rate"),
                                     ({"shard": (2, 2)}, "--shard"), ({"codec": "xvid"}, "--codec")])
def test_invalid_settings_refused(kw, flag):
    with pytest.raises(ConfigError, match=flag):
        PreprocessConfig("d", "o", **kw)


def test_killed_run_resumes_to_the_same_result(tiny_dataset, tmp_path):
    reference = tmp_path / "reference"
    run(_cfg(tiny_dataset, reference), progress=False)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "lrcn.cli", "preprocess", str(tiny_dataset), "--out-dir", str(out), "--workers", "1",
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.rglob("*clip00.avi"))) < 3:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(out.rglob("*clip00.avi"))) < 24, "the run finished before it could be killed"
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    key = lambda rs: sorted((r["source"], tuple(r["frame_indices"]), r["status"]) for r in rs)
    assert key(read_clip_records(out)) == key(read_clip_records(reference))
    assert not list(out.rglob("*.tmp-*"))
    for r in read_clip_records(out):
        assert probe(out / r["clip"]).num_frames == 5
