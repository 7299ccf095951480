"""The GPU check script runs end to end on CPU, so it is ready when a GPU is lent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_every_step_on_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, TMPDIR=str(tmp_path)))  # its torchrun's own folders too
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    for step in ("synth", "train", "test", "predict", "ddp"):
        assert report[step]["rc"] == 0, (step, report[step])
    assert [r["variant"] for r in report["embedding"]][:2] == ["fp32", "bf16 autocast + channels_last"]
    assert report["embedding"][0]["cosine_min_vs_fp32"] == 1.0
    assert 0.9 < report["embedding"][1]["cosine_min_vs_fp32"] <= 1.0  # bf16 close to fp32, not identical by luck
    assert report["decode"]["sampled_frames_per_s"] > 0
    assert [r["precision"] for r in report["i3d"]] == ["fp32", "bf16"] and report["i3d"][0]["clips_per_s"] > 0
    assert report["i3d"][0]["cosine_min_vs_fp32"] == 1.0 and 0.9 < report["i3d"][1]["cosine_min_vs_fp32"] <= 1.0
    assert "every step passed" in proc.stdout
