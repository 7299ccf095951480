"""DDP on CPU with gloo: 2 processes reach the weights of 1 process with the same global batch."""

import os
import subprocess
import sys

import pytest
import torch

from lrcn.checkpoint import load_checkpoint
from lrcn.train import TrainConfig, run


@pytest.mark.slow
def test_two_processes_equal_one_with_the_same_global_batch(tiny_dataset, tmp_path):
    common = dict(backbone="mobilenet_v2", weights="none", cache_dir=str(tmp_path / "cache"), epochs=3,
                  num_workers=0, val_split=0.25, views=("center", "flip"), dropout=0.0, precision="fp32",
                  checkpoint_interval=1, val_check_interval=1)
    # 8 training clips: the last global batch of 6 has 2, both on rank 0 -- rank 1 steps with an empty share.
    env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))  # torchrun's own folders too
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "lrcn.cli",
           "train", str(tiny_dataset), "--backbone", "mobilenet_v2", "--weights", "none", "--cache-dir",
           str(tmp_path / "cache"), "--epochs", "3", "--num-workers", "0", "--val-split", "0.25", "--views",
           "center,flip", "--dropout", "0", "--precision", "fp32", "--batch-size", "3", "--run-dir",
           str(tmp_path / "two"), "--checkpoint-interval", "1", "--val-check-interval", "1", "--no-progress",
           "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The cache was cold: rank 0 embedded while rank 1 waited at the barrier. One process reads it now.
    six = run(TrainConfig(str(tiny_dataset), batch_size=6, run_dir=str(tmp_path / "six"), **common), progress=False)
    one = load_checkpoint(six / "Saved_model_checkpoints" / "last.pth.tar")
    two = load_checkpoint(tmp_path / "two" / "Saved_model_checkpoints" / "last.pth.tar")
    assert two.global_batch_size == 6 == one.global_batch_size
    # Equal to rounding, except where Adam turns a rounding difference in a near-zero gradient into a
    # step of the other sign: a handful of weights, each at most 2 x lr per step apart.
    steps = sum(-(-h["train_windows"] // 6) for h in one.history)
    close = total = 0
    for key in one.model:
        diff = (two.model[key] - one.model[key]).abs()
        assert diff.max() <= 2 * 5e-4 * steps, key
        close += int((diff <= 1e-5 + 1e-4 * one.model[key].abs()).sum())
        total += diff.numel()
    assert close >= 0.999 * total, (close, total)
    # Metrics are reduced over both ranks: the same training loss as the single process.
    for a, b in zip(one.history, two.history):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4 and a["train_acc"] == b["train_acc"]
    # Written by rank 0 only, loadable by one process: resume it with one process and global batch 6.
    resumed = run(TrainConfig(str(tiny_dataset), batch_size=6, run_dir=str(tmp_path / "two"), resume="auto",
                              **{**common, "epochs": 3}), progress=False)
    assert load_checkpoint(resumed / "Saved_model_checkpoints" / "last.pth.tar").epoch == 3


@pytest.mark.slow
def test_fine_tuning_under_torchrun_equals_one_process(tiny_dataset, tmp_path):
    """--train-backbone last: the CNN's last stage and the head, 2 gloo processes vs 1 with the same global batch."""
    args = ["train", str(tiny_dataset), "--backbone", "mobilenet_v2", "--weights", "none", "--train-backbone", "last",
            "--epochs", "2", "--num-workers", "0", "--val-split", "0.25", "--dropout", "0", "--precision", "fp32",
            "--checkpoint-interval", "1", "--val-check-interval", "1", "--no-progress", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))  # torchrun's own folders too
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "lrcn.cli", *args, "--batch-size", "3", "--run-dir", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, "-m", "lrcn.cli", *args, "--batch-size", "6", "--run-dir",
                          str(tmp_path / "one")], capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    a = load_checkpoint(tmp_path / "one" / "Saved_model_checkpoints" / "last.pth.tar")
    b = load_checkpoint(tmp_path / "two" / "Saved_model_checkpoints" / "last.pth.tar")
    assert a.global_batch_size == b.global_batch_size == 6
    for key in a.model:
        # Two ranks sum gradients in another order; Adam divides each update by the gradient's own running
        # size, so a rounding difference in a near-zero gradient can move one weight by ~1e-5.
        torch.testing.assert_close(b.model[key], a.model[key], rtol=1e-4, atol=5e-5)
    cnn_a = torch.load(a.finetuned_weights, weights_only=True)
    cnn_b = torch.load(b.finetuned_weights, weights_only=True)
    changed = [k for k in cnn_a if k.startswith("features.18.") and k.endswith("weight")]
    assert changed
    # Adam moves a weight by about lr per step whatever the gradient's size, so where a gradient is ~0 the
    # float rounding of the all-reduce can flip its sign: a handful of weights may differ, by at most
    # 2 x lr x steps (backbone lr 5e-5, 4 steps); all the rest agree to 1e-5.
    for key in cnn_a:
        diff = (cnn_b[key].float() - cnn_a[key].float()).abs()
        assert diff.max() <= 2 * 5e-5 * 4, key
        assert (diff > 1e-5).float().mean() < 1e-4, key
    for x, y in zip(a.history, b.history):
        assert abs(x["train_loss"] - y["train_loss"]) < 1e-4 and x["train_acc"] == y["train_acc"]
        assert x["val_acc"] == y["val_acc"]
