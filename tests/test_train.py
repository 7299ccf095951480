import json

import numpy as np
import pytest
import torch

import lrcn.train as train_mod
from lrcn.checkpoint import load_checkpoint
from lrcn.errors import CheckpointError, ConfigError, TrainingDiverged
from lrcn.evaluate import EvalConfig
from lrcn.evaluate import run as run_test
from lrcn.train import TrainConfig, run


def _cfg(data, tmp_path, name, **kw):
    base = dict(backbone="mobilenet_v2", weights="none", cache_dir=str(tmp_path.parent / "shared_cache"),
                run_dir=str(tmp_path / name), epochs=4, batch_size=4, num_workers=0, checkpoint_interval=2,
                val_check_interval=2, val_split=0.25, views=("center", "flip"))
    base.update(kw)
    return TrainConfig(str(data), **base)


def _weights(path):
    return load_checkpoint(path).model


def test_train_writes_checkpoints_logs_plots(tiny_dataset, tmp_path):
    run_dir = run(_cfg(tiny_dataset, tmp_path, "run"), progress=False)
    ckpts = run_dir / "Saved_model_checkpoints"
    for name in ("epoch_2.pth.tar", "epoch_4.pth.tar", "last.pth.tar", "best.pth.tar"):
        assert (ckpts / name).is_file(), name
    ckpt = load_checkpoint(ckpts / "last.pth.tar")
    assert ckpt.epoch == 4 and len(ckpt.class_names) == 4
    assert ckpt.optimizer and ckpt.lr_scheduler and ckpt.train.epochs == 4 and ckpt.sampling.fps == 2.5
    assert len((run_dir / "log.csv").read_text().splitlines()) == 5
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["lr"] == 5e-4 and config["items"]["val"] > 0
    for plot in ("class_frequency_train_val.png", "class_frequency_test.png", "training_curves.png"):
        assert (run_dir / plot).stat().st_size > 1000
    assert list((run_dir / "tensorboard").iterdir())


def _interrupt_at_epoch_3(cfg, monkeypatch):
    """Run ``cfg`` until Ctrl-C arrives at the start of epoch 3 (epochs 1-2 checkpointed)."""
    real_epoch = train_mod.train_one_epoch

    def crash_at_3(*args, **kwargs):
        if args[3] == 3:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_one_epoch", crash_at_3)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, progress=False)
    monkeypatch.setattr(train_mod, "train_one_epoch", real_epoch)


def test_resume_equals_uninterrupted(tiny_dataset, tmp_path, monkeypatch):
    straight = run(_cfg(tiny_dataset, tmp_path, "straight"), progress=False)
    _interrupt_at_epoch_3(_cfg(tiny_dataset, tmp_path, "interrupted"), monkeypatch)
    assert load_checkpoint(tmp_path / "interrupted/Saved_model_checkpoints/last.pth.tar").epoch == 2
    resumed = run(_cfg(tiny_dataset, tmp_path, "interrupted", resume="auto"), progress=False)
    a = _weights(straight / "Saved_model_checkpoints/last.pth.tar")
    b = _weights(resumed / "Saved_model_checkpoints/last.pth.tar")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_resume_with_other_settings_says_what_differs(tiny_dataset, tmp_path):
    run(_cfg(tiny_dataset, tmp_path, "r", epochs=2), progress=False)
    with pytest.raises(CheckpointError, match="hidden_size: checkpoint 256, now 32"):
        run(_cfg(tiny_dataset, tmp_path, "r", epochs=2, hidden_size=32, resume="auto"), progress=False)
    with pytest.raises(CheckpointError, match="epochs: checkpoint 2, now 3"):
        run(_cfg(tiny_dataset, tmp_path, "r", epochs=3, resume="auto"), progress=False)


def test_nan_loss_stops_with_step_and_keeps_last_good(tiny_dataset, tmp_path, monkeypatch):
    _interrupt_at_epoch_3(_cfg(tiny_dataset, tmp_path, "nan"), monkeypatch)
    good = _weights(tmp_path / "nan/Saved_model_checkpoints/last.pth.tar")
    real_batches = train_mod.train_batches

    def poisoned(*args, **kwargs):
        for x, y, n in real_batches(*args, **kwargs):
            yield x * float("nan"), y, n

    monkeypatch.setattr(train_mod, "train_batches", poisoned)
    with pytest.raises(TrainingDiverged, match="epoch 3, step 0"):
        run(_cfg(tiny_dataset, tmp_path, "nan", resume="auto"), progress=False)
    after = _weights(tmp_path / "nan/Saved_model_checkpoints/last.pth.tar")
    for k in good:
        torch.testing.assert_close(good[k], after[k])


def test_bad_train_settings_are_refused(tiny_dataset):
    for kw, flag in [({"num_frames": 0}, "--num-frames"), ({"lr": 0}, "--lr"), ({"val_split": 1.0}, "--val-split"),
                     ({"views": ("center", "zoom")}, "--views"), ({"epochs": 0}, "--epochs")]:
        with pytest.raises(ConfigError, match=flag):
            TrainConfig(str(tiny_dataset), **kw)


def test_basic_test_mode_report(tiny_dataset, tmp_path):
    run_dir = run(_cfg(tiny_dataset, tmp_path, "t"), progress=False)
    report = run_test(EvalConfig(str(run_dir / "Saved_model_checkpoints/best.pth.tar"), str(tiny_dataset),
                                 cache_dir=str(tmp_path.parent / "shared_cache"), num_workers=0), progress=False)
    assert report["test_videos"] == 12 and report["test_clips"] == 12  # 4 classes x 3 test groups
    assert report["windows"] >= 12
    videos = report["videos"]
    assert report["video_accuracy"] == pytest.approx(np.mean([v["predicted"] == v["label"] for v in videos]))
    assert report["clip_top5_accuracy"] == 1.0  # 4 classes: the label is always in the top 5
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (4, 4) and cm.sum() == 12
    assert report["clip_accuracy"] == pytest.approx(np.trace(cm) / 12)
    assert report["mean_class_accuracy"] == pytest.approx(np.mean(np.diag(cm) / cm.sum(1)))
    on_disk = json.loads((run_dir / "test" / "report.json").read_text())
    assert on_disk["clip_accuracy"] == report["clip_accuracy"]
    for plot in report["plots"]:
        assert (run_dir / "test" / plot.split("/")[-1]).stat().st_size > 1000


def test_train_backbone_last_fine_tunes_only_the_last_stage(tiny_dataset, tmp_path):
    from lrcn.backbone import BackboneSpec, create_cnn

    cfg = _cfg(tiny_dataset, tmp_path, "ft", epochs=2, train_backbone="last", precision="fp32", lr=1e-2,
               checkpoint_interval=1)
    run_dir = run(cfg, progress=False)
    ckpt = load_checkpoint(run_dir / "Saved_model_checkpoints" / "last.pth.tar")
    backbone_file = ckpt.finetuned_weights
    assert backbone_file.endswith("backbone_last.pth")
    tuned, _ = create_cnn(BackboneSpec("mobilenet_v2", backbone_file))
    original, _ = create_cnn(BackboneSpec("mobilenet_v2", "none"))
    t, o = tuned.state_dict(), original.state_dict()
    changed = {k for k in o if not torch.equal(t[k], o[k])}
    assert changed and all(k.startswith("features.18.") for k in changed), sorted(changed)[:5]
    # test mode uses the fine-tuned CNN through the checkpoint alone
    report = run_test(EvalConfig(str(run_dir / "Saved_model_checkpoints" / "last.pth.tar"), str(tiny_dataset),
                                 cache_dir=str(tmp_path / "ft_cache"), num_workers=0, precision="fp32"),
                      progress=False)
    assert report["test_clips"] == 12
    with pytest.raises(ConfigError, match="--train-backbone"):
        TrainConfig(str(tiny_dataset), train_backbone="all")


def test_complete_cache_needs_no_backbone(tiny_dataset, tmp_path, monkeypatch):
    run_dir = run(_cfg(tiny_dataset, tmp_path, "cached", epochs=1), progress=False)
    cfg = EvalConfig(str(run_dir / "Saved_model_checkpoints/last.pth.tar"), str(tiny_dataset),
                     cache_dir=str(tmp_path.parent / "shared_cache"), num_workers=0)
    first = run_test(cfg, progress=False)  # embeds the test videos once
    import lrcn.embedded

    def no_backbone(*args, **kwargs):
        raise AssertionError("the backbone was built although every embedding is cached")

    monkeypatch.setattr(lrcn.embedded, "FrameEmbedder", no_backbone)
    again = run_test(cfg, progress=False)
    assert again["clip_accuracy"] == first["clip_accuracy"]
    run(_cfg(tiny_dataset, tmp_path, "cached2", epochs=1), progress=False)  # training from the cache too


def test_an_epoch_is_every_window_of_every_training_video(tiny_dataset, tmp_path):
    run_dir = run(_cfg(tiny_dataset, tmp_path, "all", epochs=1, refit=False), progress=False)
    history = load_checkpoint(run_dir / "Saved_model_checkpoints/last.pth.tar").history
    config = json.loads((run_dir / "config.json").read_text())
    # 2.2-2.6 s videos at 2.5 fps: 6 or 7 sampled frames, 2 or 3 windows of 5 each
    n_train = config["items"]["train"]
    assert 2 * n_train <= history[0]["train_windows"] <= 3 * n_train
    seed = run(_cfg(tiny_dataset, tmp_path, "one", epochs=1, refit=False, windows_per_video=1), progress=False)
    assert load_checkpoint(seed / "Saved_model_checkpoints/last.pth.tar").history[0]["train_windows"] == n_train
    with pytest.raises(ConfigError, match="--windows-per-video"):
        TrainConfig(str(tiny_dataset), windows_per_video=0)


def test_refit_trains_on_train_and_validation_for_the_chosen_epochs(tiny_dataset, tmp_path):
    from lrcn.checkpoint import resolve_checkpoint

    a = run(_cfg(tiny_dataset, tmp_path, "a", epochs=4, val_check_interval=1), progress=False)
    final = load_checkpoint(a / "Saved_model_checkpoints/final.pth.tar")
    history = load_checkpoint(a / "Saved_model_checkpoints/last.pth.tar").history
    chosen = train_mod.chosen_epochs(history, 4)
    best_acc = max(h["val_acc"] for h in history)
    assert [h for h in history if h["epoch"] == chosen][0]["val_acc"] == best_acc
    assert final.final["refit"] and final.final["epochs"] == chosen == final.epoch
    config = json.loads((a / "config.json").read_text())
    assert final.final["items"] == config["items"]["train"] + config["items"]["val"]
    assert final.optimizer is None  # nothing to resume from a shipped model
    best = load_checkpoint(a / "Saved_model_checkpoints/best.pth.tar").model
    assert any(not torch.equal(best[k], final.model[k]) for k in best)
    # deterministic: the same run again gives the same final weights
    b = run(_cfg(tiny_dataset, tmp_path, "b", epochs=4, val_check_interval=1), progress=False)
    again = load_checkpoint(b / "Saved_model_checkpoints/final.pth.tar").model
    for k in again:
        torch.testing.assert_close(again[k], final.model[k], rtol=0, atol=0)
    # a run folder stands for its final model
    assert resolve_checkpoint(a) == a / "Saved_model_checkpoints/final.pth.tar"
    # rerunning the finished run does not redo the refit
    stamp = (a / "Saved_model_checkpoints/final.pth.tar").stat().st_mtime_ns
    run(_cfg(tiny_dataset, tmp_path, "a", epochs=4, val_check_interval=1, resume="auto"), progress=False)
    assert (a / "Saved_model_checkpoints/final.pth.tar").stat().st_mtime_ns == stamp
    # without refit, final is the best checkpoint as it was
    c = run(_cfg(tiny_dataset, tmp_path, "c", epochs=4, refit=False), progress=False)
    kept = load_checkpoint(c / "Saved_model_checkpoints/final.pth.tar")
    assert kept.final == {"from": "best.pth.tar", "refit": False}
    for k, v in load_checkpoint(c / "Saved_model_checkpoints/best.pth.tar").model.items():
        assert torch.equal(v, kept.model[k])


def test_chosen_epochs_prefers_accuracy_then_loss_then_earlier():
    h = [{"epoch": 1, "val_acc": 0.5, "val_loss": 1.0}, {"epoch": 2, "val_acc": 0.7, "val_loss": 0.9},
         {"epoch": 3, "val_acc": 0.7, "val_loss": 0.8}, {"epoch": 4, "val_acc": 0.7, "val_loss": 0.8},
         {"epoch": 5, "val_acc": None}]
    assert train_mod.chosen_epochs(h, 9) == 3
    assert train_mod.chosen_epochs([{"epoch": 1, "val_acc": None}], 9) == 9


def test_a_finished_run_is_not_overwritten_silently(tiny_dataset, tmp_path):
    first = run(_cfg(tiny_dataset, tmp_path, "keep", epochs=2, refit=False), progress=False)
    before = _weights(first / "Saved_model_checkpoints/last.pth.tar")
    with pytest.raises(ConfigError, match="already holds a run.*--resume auto.*--overwrite"):
        run(_cfg(tiny_dataset, tmp_path, "keep", epochs=1, refit=False), progress=False)
    after = _weights(first / "Saved_model_checkpoints/last.pth.tar")
    for k in before:
        assert torch.equal(before[k], after[k])
    again = run(_cfg(tiny_dataset, tmp_path, "keep", epochs=1, refit=False, overwrite=True), progress=False)
    assert load_checkpoint(again / "Saved_model_checkpoints/last.pth.tar").epoch == 1
    assert not (again / "Saved_model_checkpoints/epoch_2.pth.tar").exists()  # nothing of the old run left
    assert len((again / "log.csv").read_text().splitlines()) == 2


def test_a_finite_but_exploding_loss_stops_training(tiny_dataset, tmp_path):
    with pytest.raises(TrainingDiverged, match="diverged"):
        run(_cfg(tiny_dataset, tmp_path, "boom", epochs=3, lr=1e9, refit=False), progress=False)


def test_only_the_newest_epoch_checkpoints_are_kept_and_only_last_holds_the_optimizer(tiny_dataset, tmp_path):
    run_dir = run(_cfg(tiny_dataset, tmp_path, "keep2", epochs=5, checkpoint_interval=1, keep_checkpoints=2,
                       refit=False), progress=False)
    ckpts = run_dir / "Saved_model_checkpoints"
    assert sorted(p.name for p in ckpts.glob("epoch_*")) == ["epoch_4.pth.tar", "epoch_5.pth.tar"]
    assert load_checkpoint(ckpts / "last.pth.tar").optimizer is not None
    for name in ("best.pth.tar", "epoch_5.pth.tar", "final.pth.tar"):
        assert load_checkpoint(ckpts / name).optimizer is None, name
    with pytest.raises(CheckpointError, match="no optimizer state"):
        run(_cfg(tiny_dataset, tmp_path, "keep2", epochs=5, resume=str(ckpts / "epoch_4.pth.tar")), progress=False)


def test_the_optimizer_falls_back_from_the_fused_kernel_with_every_parameter(monkeypatch):
    from lrcn.train import TrainConfig, make_optimizer

    real = torch.optim.Adam

    def no_fused(params, **kw):
        params = list(params)  # as torch does: the parameters are read before the fused kernel is refused
        if kw.pop("fused", False):
            raise RuntimeError("fused Adam is not supported here")
        return real(params, **kw)

    monkeypatch.setattr(torch.optim, "Adam", no_fused)
    head = torch.nn.Linear(3, 2)
    optimizer, _ = make_optimizer(head.parameters(), TrainConfig("d"), 5)  # a generator, as the refit passes
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 2


def test_a_causal_head_is_trained_at_every_step_and_reads_frames_in_order(tiny_dataset, tmp_path, monkeypatch):
    import lrcn.model

    calls = []
    real = lrcn.model.LRCNHead.step_logits
    monkeypatch.setattr(lrcn.model.LRCNHead, "step_logits", lambda self, x: calls.append(x.shape) or real(self, x))
    run_dir = run(_cfg(tiny_dataset, tmp_path, "causal", epochs=2, causal=True), progress=False)
    ckpt = load_checkpoint(run_dir / "Saved_model_checkpoints/final.pth.tar")
    assert ckpt.model_config.causal and not ckpt.model_config.bidirectional and ckpt.train.causal
    assert calls and all(len(shape) == 3 and shape[1] == 5 for shape in calls)  # the loss saw every step
    head = ckpt.head()
    x = torch.randn(3, 5, ckpt.model_config.feature_dim)
    with torch.no_grad():
        steps = head.step_logits(x)
        torch.testing.assert_close(steps[:, -1], head(x))  # the window's label is its last step's
        later = x.clone()
        later[:, 3:] = torch.randn(3, 2, x.shape[2])  # change only frames 3 and 4
        torch.testing.assert_close(head.step_logits(later)[:, :3], steps[:, :3])  # steps 0-2 never see them


def test_train_ends_with_a_summary_and_warns_of_a_lopsided_validation(tiny_dataset, tmp_path, caplog):
    """Whole groups go to validation: with few groups, --val-split 0.05 takes one group (far more than 5 %),
    and the user is told so; the summary names the carve-out, the chosen epoch and the model shipped."""
    with caplog.at_level("WARNING", logger="lrcn.train"):
        run_dir = run(_cfg(tiny_dataset, tmp_path, "run", val_split=0.05, val_check_interval=1), progress=False)
    v = json.loads((run_dir / "config.json").read_text())["validation"]
    assert v["val_groups"] == 1 and v["share"] > 0.15
    assert "where --val-split asked for 5 %" in caplog.text
    lines = train_mod.summary_lines(run_dir)
    history = load_checkpoint(run_dir / "Saved_model_checkpoints" / "last.pth.tar").history
    best = train_mod.chosen_epochs(history, 4)
    assert lines[0].startswith(f"validation: {v['val_videos']} of {v['val_videos'] + v['train_videos']} training videos")
    assert lines[1].startswith(f"chosen epoch: {best} of 4 (validation accuracy ")
    assert lines[2].startswith(f"final model: refitted on train + validation") and f"for {best} epochs" in lines[2]
    assert lines[3].startswith(f"run folder: {run_dir}") and "final.pth.tar" in lines[3]


def test_a_run_that_never_started_leaves_no_run_folder(tiny_dataset, tmp_path):
    from lrcn.errors import WeightsError

    cfg = _cfg(tiny_dataset, tmp_path, "never", weights=str(tmp_path / "missing.pth"),
               cache_dir=str(tmp_path / "empty_cache"))
    with pytest.raises(WeightsError, match="weights file not found"):
        run(cfg, progress=False)
    assert not (tmp_path / "never").exists()


def test_many_left_out_videos_are_summed_up_in_one_line(tmp_path, caplog):
    """A folder of clips shorter than one window names the first few and counts the rest in one line that
    says where all are listed, instead of a line per clip."""
    problems = [{"video": f"v{i}.avi", "reason": f"{i} sampled frames < 15"} for i in range(8)]
    problems.append({"video": "broken.avi", "reason": "cannot decode"})
    with caplog.at_level("WARNING", logger="lrcn.train"):
        train_mod.log_left_out(problems, tmp_path)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:-1] == [f"left out v{i}.avi: {i} sampled frames < 15" for i in range(train_mod.LEFT_OUT_SHOWN)]
    assert lines[-1].startswith(f"... and {9 - train_mod.LEFT_OUT_SHOWN} more left out (8 of all 9 shorter than one "
                                f"window)") and str(tmp_path / "config.json") in lines[-1]
    caplog.clear()
    with caplog.at_level("WARNING", logger="lrcn.train"):
        train_mod.log_left_out(problems[:2], tmp_path)
    assert [r.getMessage() for r in caplog.records] == [f"left out v{i}.avi: {i} sampled frames < 15" for i in range(2)]
