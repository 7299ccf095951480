"""checkpoint.py: the format marker, versions, atomic saves and what a run folder stands for."""

from dataclasses import replace

import pytest
import torch

from lrcn.checkpoint import Checkpoint, describe_mismatch, load_checkpoint, resolve_checkpoint, save_checkpoint
from lrcn.config import TrainConfig
from lrcn.errors import CheckpointError
from lrcn.model import LRCNHead, ModelConfig

MODEL = ModelConfig(feature_dim=8, num_classes=2, latent_dim=4, hidden_size=3, lstm_layers=1)
TRAIN = TrainConfig("data", backbone="mobilenet_v2", sampling_rate=5, reference_fps=30.0, num_frames=4,
                    views=("center", "flip"), seed=7, crop="full")
CKPT = Checkpoint(model=LRCNHead(MODEL).state_dict(), model_config=MODEL, class_names=["a", "b"], train=TRAIN,
                  epoch=3, history=[{"epoch": 1}], optimizer={"state": {}}, lr_scheduler={"last_epoch": 3},
                  global_batch_size=32)
STATE = CKPT.to_dict()


def test_round_trip_rebuilds_every_setting(tmp_path):
    save_checkpoint(tmp_path / "c.pth.tar", CKPT)
    back = load_checkpoint(tmp_path / "c.pth.tar")
    assert back.train == TRAIN and back.model_config == MODEL and back.class_names == ["a", "b"]
    assert back.sampling.fps == 6.0 and back.sampling.num_frames == 4  # derived from the one stored copy
    assert back.features.backbone.arch == "mobilenet_v2" and back.features.crop == "full"
    assert back.features.fps == 6.0 and back.train.views == ("center", "flip") and back.train.seed == 7
    assert back.epoch == 3 and back.optimizer == {"state": {}} and back.global_batch_size == 32
    assert all(torch.equal(back.model[k], v) for k, v in CKPT.model.items())
    raw = torch.load(tmp_path / "c.pth.tar", weights_only=True)
    assert raw["format"] == "lrcn-checkpoint" and raw["version"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth.tar"]  # no temporary left behind
    save_checkpoint(tmp_path / "best.pth.tar", CKPT.without_optimizer())
    assert "optimizer" not in torch.load(tmp_path / "best.pth.tar", weights_only=True)


def test_a_fine_tuned_checkpoint_points_at_its_cnn(tmp_path):
    save_checkpoint(tmp_path / "c.pth.tar", replace(CKPT, finetuned_weights="/runs/x/backbone_best.pth"))
    back = load_checkpoint(tmp_path / "c.pth.tar")
    assert back.features.backbone.weights == str(tmp_path.resolve() / "backbone_best.pth")  # beside the checkpoint
    assert back.train.weights == "imagenet"


def test_a_version_1_checkpoint_still_loads(tmp_path):
    """lrcn before the settings module stored the sampling in 'feature_spec' and left out later settings."""
    train = {k: v for k, v in STATE["train_config"].items() if k not in ("windows_per_video", "label_smoothing")}
    old = {"format": "lrcn-checkpoint", "version": 1, "model": STATE["model"], "class_names": ["a", "b"],
           "model_config": {k: v for k, v in STATE["model_config"].items() if k != "frame_differences"},
           "feature_spec": {"arch": "mobilenet_v2", "weights": "/runs/x/backbone_last.pth", "fps": 6.0,
                            "crop": "full", "num_frames": 4, "seed": 7},
           "train_config": train, "epoch": 2}
    torch.save(old, tmp_path / "v1.pth.tar")
    back = load_checkpoint(tmp_path / "v1.pth.tar")
    assert back.sampling.fps == 6.0 and back.epoch == 2
    assert back.finetuned_weights == "/runs/x/backbone_last.pth"  # weights differ from the training setting
    # what those releases did: one window per video, no label smoothing, a head without frame differences
    assert back.train.windows_per_video == 1 and back.train.label_smoothing == 0.0
    assert back.model_config.frame_differences is False


@pytest.mark.parametrize("state, message", [
    ({"model": {}}, "not an lrcn checkpoint"),  # no format marker: someone else's file
    ({**STATE, "version": 7}, "newer lrcn"),
    ({k: v for k, v in STATE.items() if k != "class_names"}, "lacks 'class_names'"),
    ({**STATE, "model": {"w": torch.tensor([float("inf")])}}, "non-finite weights"),
    ({**STATE, "train_config": {**STATE["train_config"], "num_frames": 0}}, "cannot read"),
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
        save_checkpoint(ckpts / name, CKPT)
        assert resolve_checkpoint(tmp_path / "run").name == f"{expected}.pth.tar"
        assert resolve_checkpoint(ckpts).name == f"{expected}.pth.tar"
    assert resolve_checkpoint(ckpts / "last.pth.tar").name == "last.pth.tar"  # a file is itself


def test_describe_mismatch_names_each_difference():
    assert describe_mismatch({"a": 1, "b": 2}, {"a": 1, "b": 2}, "x") is None
    text = describe_mismatch({"a": 1, "b": 3}, {"a": 1, "b": 2, "c": 0}, "spec")
    assert text == "spec differs (b: checkpoint 2, now 3; c: checkpoint 0, now None)"


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path):
    """``weights_only=True``: a pickle that calls a function on load is an error, and the call is not made."""

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth.tar"
    torch.save({**STATE, "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="corrupt or not a PyTorch checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()
    save_checkpoint(tmp_path / "good.pth.tar", CKPT)
    assert load_checkpoint(tmp_path / "good.pth.tar").epoch == 3  # the guard refuses only what is unsafe


def test_a_trained_checkpoint_holds_a_card_and_no_machine_path(trained, tiny_dataset, tmp_path):
    """No folder of the training machine in any checkpoint (data and list folders by name only); ``lrcn
    info`` prints the card: version, data fingerprint, classes, validation, and the test report when run."""
    import subprocess
    import sys

    ckpt_path, cache = trained
    run_dir = ckpt_path.parent.parent
    for path in sorted(ckpt_path.parent.glob("*.pth.tar")):
        text = repr(torch.load(path, map_location="cpu", weights_only=True))
        for machine in (str(tiny_dataset), str(cache), str(run_dir), str(tiny_dataset.parent)):
            assert machine not in text, (path.name, machine)
        assert load_checkpoint(path).train.data_dir == tiny_dataset.name
    card = load_checkpoint(run_dir / "Saved_model_checkpoints" / "final.pth.tar").card
    assert card["lrcn"] and card["data"]["name"] == tiny_dataset.name and len(card["data"]["fingerprint"]) == 16
    proc = subprocess.run([sys.executable, "-m", "lrcn", "info", str(run_dir)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "final.pth.tar: an lrcn model of 4 classes, made by lrcn" in out and card["data"]["fingerprint"] in out
    assert "test: not run" in out and "unfamiliar input: marked" in out


def test_a_fine_tuned_cnn_is_stored_by_name_and_found_beside_the_checkpoint(tmp_path):
    folder = tmp_path / "moved"  # as if the run folder was copied to another machine
    folder.mkdir()
    save_checkpoint(folder / "best.pth.tar", replace(CKPT, finetuned_weights="/home/someone/run/backbone_best.pth"))
    state = torch.load(folder / "best.pth.tar", weights_only=True)
    assert state["finetuned_weights"] == "backbone_best.pth"
    assert load_checkpoint(folder / "best.pth.tar").finetuned_weights == str(folder.resolve() / "backbone_best.pth")
