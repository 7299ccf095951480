"""Every subcommand that reads video, on every awkward input: processed, or skipped with its reason."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import build
from lrcn.datasets import read_clip_records
from lrcn.video import probe, write_video


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "data"
    expected = build(root / "weird")
    # A second class of ordinary videos, so the folder is a two-class dataset.
    import numpy as np

    (root / "plain").mkdir()
    for k in range(3):
        write_video(root / "plain" / f"v{k}.avi", np.full((60, 48, 64, 3), 40 * k, np.uint8), 25)
    return root, expected


def lrcn(*args):
    proc = subprocess.run([sys.executable, "-m", "lrcn.cli", *map(str, args)], capture_output=True, text=True)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc


@pytest.mark.slow
def test_preprocess_handles_every_bad_input(corpus, tmp_path):
    root, expected = corpus
    proc = lrcn("preprocess", root, "--out-dir", tmp_path / "clips", "--no-progress", "--workers", "2")
    assert proc.returncode == 0
    records = {Path(r["source"]).name: r for r in read_clip_records(tmp_path / "clips")}
    assert set(records) == set(expected) | {"v0.avi", "v1.avi", "v2.avi"}  # every input has a record
    for name, outcome in expected.items():
        record = records[name]
        if outcome == "ok":
            assert record["status"] == "ok", (name, record)
            assert probe(tmp_path / "clips" / record["clip"]).num_frames == 5
            assert len(record["clip"].encode()) < 255 and "/" not in record["clip"].split("weird/", 1)[1]
        else:
            assert record["status"] == "skipped" and outcome in record["reason"], (name, record)
            assert f"skipped weird/{name}" in proc.stdout
    rotated = next(r for r in records.values() if r["source"].endswith("rotated_phone.mp4"))
    assert probe(tmp_path / "clips" / rotated["clip"]).height > probe(tmp_path / "clips" / rotated["clip"]).width
    assert f"{sum(o != 'ok' for o in expected.values())} skipped" in proc.stdout


@pytest.mark.slow
def test_check_reports_every_bad_input(corpus, tmp_path):
    root, expected = corpus
    proc = lrcn("check", root, "--no-progress", "--report", tmp_path / "check.json")
    report = json.loads((tmp_path / "check.json").read_text())
    assert proc.returncode == 0 and report["ok"]  # unusable videos are skipped later: warnings, not errors
    text = "\n".join(report["warnings"])
    for name, outcome in expected.items():
        if outcome != "ok":
            assert name in text and outcome in text, name
    assert report["counts"]["unusable"] == sum(o != "ok" for o in expected.values())


@pytest.mark.slow
def test_features_handles_every_bad_input(corpus, tmp_path):
    root, expected = corpus
    proc = lrcn("features", root, "--backbone", "mobilenet_v2", "--weights", "none", "--cache-dir", tmp_path / "c",
                "--no-progress", "--num-workers", "1", "--views", "center", "--precision", "fp32")
    assert proc.returncode == 0
    failing = [n for n, o in expected.items() if o not in ("ok", "too short")]
    for name in failing:
        assert f"skipped weird/{name}" in proc.stdout, name
    assert f"{len(failing)} failed" in proc.stdout


@pytest.mark.slow
def test_predict_handles_every_bad_input(corpus, trained, tmp_path):
    root, expected = corpus
    ckpt, _ = trained
    proc = lrcn("predict", ckpt, root / "weird", "--out-dir", tmp_path / "p", "--no-video", "--precision", "fp32",
                "--no-progress")
    assert proc.returncode == 1  # some inputs failed; the others finished
    errors = proc.stderr.strip().splitlines()
    assert all(e.startswith("lrcn: error: ") for e in errors)
    for name, outcome in expected.items():
        stem = Path(name).stem
        if outcome == "ok":
            assert (tmp_path / "p" / stem / "predictions.json").is_file(), name
        else:
            phrase = "shorter than one window" if outcome == "too short" else outcome
            assert any(name in e and phrase in e for e in errors), (name, errors)
