"""checkpoint.py: the format marker, versions, atomic saves and what a run folder stands for."""

import pytest
import torch

from lrcn.checkpoint import describe_mismatch, load_checkpoint, resolve_checkpoint, save_checkpoint
from lrcn.errors import CheckpointError

STATE = {"model": {"w": torch.ones(2, 2)}, "model_config": {"feature_dim": 4}, "feature_spec": {"fps": 2.5},
         "class_names": ["a", "b"]}


def test_round_trip_carries_format_and_version(tmp_path):
    save_checkpoint(tmp_path / "c.pth.tar", STATE)
    back = load_checkpoint(tmp_path / "c.pth.tar")
    assert back["format"] == "lrcn-checkpoint" and back["version"] == 1
    assert torch.equal(back["model"]["w"], STATE["model"]["w"]) and back["class_names"] == ["a", "b"]
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth.tar"]  # no temporary left behind


@pytest.mark.parametrize("state, message", [
    ({"model": {}}, "not an lrcn checkpoint"),  # no format marker: someone else's file
    ({**STATE, "format": "lrcn-checkpoint", "version": 7}, "newer lrcn"),
    ({"format": "lrcn-checkpoint", "model": {}, "model_config": {}, "feature_spec": {}}, "lacks 'class_names'"),
    ({**STATE, "format": "lrcn-checkpoint", "model": {"w": torch.tensor([float("inf")])}}, "non-finite weights"),
])
def test_what_is_refused(tmp_path, state, message):
    torch.save(state, tmp_path / "x.pth.tar")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "x.pth.tar")


def test_garbage_and_missing_files_are_one_clear_error(tmp_path):
    (tmp_path / "text.pth.tar").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "text.pth.tar")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pth.tar")


def test_a_run_folder_stands_for_final_then_best_then_last(tmp_path):
    ckpts = tmp_path / "run" / "Saved_model_checkpoints"
    ckpts.mkdir(parents=True)
    with pytest.raises(CheckpointError, match="a folder without"):
        resolve_checkpoint(tmp_path / "run")
    for name, expected in (("last.pth.tar", "last"), ("best.pth.tar", "best"), ("final.pth.tar", "final")):
        save_checkpoint(ckpts / name, STATE)
        assert resolve_checkpoint(tmp_path / "run").name == f"{expected}.pth.tar"
        assert resolve_checkpoint(ckpts).name == f"{expected}.pth.tar"
    assert resolve_checkpoint(ckpts / "last.pth.tar").name == "last.pth.tar"  # a file is itself


def test_describe_mismatch_names_each_difference():
    assert describe_mismatch({"a": 1, "b": 2}, {"a": 1, "b": 2}, "x") is None
    text = describe_mismatch({"a": 1, "b": 3}, {"a": 1, "b": 2, "c": 0}, "spec")
    assert text == "spec differs (b: checkpoint 2, now 3; c: checkpoint 0, now None)"
