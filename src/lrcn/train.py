"""``lrcn train``: the LRCN head on cached embeddings.

One visible loop: for each epoch, draw windows, forward/backward, step the
schedule, validate and checkpoint at the seed's intervals, log. Every random
choice of an epoch comes from ``(seed, epoch)``, so ``--resume`` after an
interruption gives the same weights as a run that never stopped.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from . import finetune as finetune_mod
from . import metrics, plots
from .backbone import FrameEmbedder
from .checkpoint import Checkpoint, describe_mismatch, load_checkpoint, save_checkpoint
from .datasets import Dataset, VideoItem, load_dataset, split_train_val
from .distributed import Distributed
from .embedded import eval_batches as embedded_eval_batches
from .embedded import embedder_if_needed, load_embedded, train_batches
from .errors import CheckpointError, ConfigError, raise_if_diverged
from .config import CLIP_BACKBONES, TrainConfig, head_readouts, window_frames
from .features import EmbeddingCache
from .io import FolderLock, remove_stale_temporaries, write_json_atomic, write_text_atomic
from .model import LRCNHead, ModelConfig, build_head, trained_as

log = logging.getLogger(__name__)


@dataclass
class RunState:
    epoch: int = 0
    best_val_acc: float = -1.0
    history: list[dict] = field(default_factory=list)


def train_one_epoch(model: nn.Module, batches, optimizer, epoch: int, *, seed: int, dist: Distributed,
                    label_smoothing: float = 0.0) -> dict:
    """One pass over ``batches``, the same loop for the frozen CNN and the fine-tuned one.

    ``batches`` yields ``(x, y, global batch size)``: ``x`` is cached embeddings ``(B, T, D)``
    (:func:`lrcn.embedded.train_batches`) or decoded frames ``(B, T, 224, 224, 3)``
    (:func:`lrcn.finetune.train_batches`); ``model`` maps it to logits ``(B, C)``, or ``(B, P, C)`` with
    a loss at each of P positions (:func:`lrcn.model.trained_as`: steps, or an ensemble's members). The loss is the
    mean over the *global* batch, so N ranks step exactly like one process with the same batch; a
    rank with no share of a short last batch gets an empty ``x`` and still steps with a zero loss
    (DDP needs every rank in every all-reduce). Returns mean loss and accuracy over all ranks.
    """
    model.train()
    torch.manual_seed(seed * 1000 + epoch)  # dropout masks: a function of (seed, epoch) only
    loss_fn = nn.CrossEntropyLoss(reduction="sum", label_smoothing=label_smoothing)
    total_loss, correct, seen = 0.0, 0, 0
    for step, (x, y, global_count) in enumerate(batches):
        if global_count == 0:
            continue  # nothing usable in this global batch on any rank
        empty = len(y) == 0
        if empty:
            x, y = torch.zeros((1, *x.shape[1:]), dtype=x.dtype), torch.zeros((1, *y.shape[1:]), dtype=torch.long)
        x, y = x.to(dist.device), y.to(dist.device)
        logits = model(x)  # (B, C); (B, T, C) from a head trained at every step; (B, K, C) or (B, K*T, C): an ensemble
        if logits.dim() == 3:  # a loss per position (step or member): the clip's action, or (annotated) each step's own
            steps = logits.shape[1]
            # -100: unlabelled, ignored; an ensemble's members, side by side, each against the same labels
            targets = y.repeat(1, steps // y.shape[1]).flatten() if y.dim() == 2 else y.repeat_interleave(steps)
            loss_sum = loss_fn(logits.flatten(0, 1), targets) / steps
            logits, y = logits[:, -1], (y[:, -1] if y.dim() == 2 else y)
        else:
            loss_sum = loss_fn(logits, y)
        loss_sum = loss_sum * (0.0 if empty else 1.0)
        loss = loss_sum / global_count * dist.world_size  # DDP averages gradients over ranks
        raise_if_diverged(loss.item(), epoch, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not empty:
            total_loss += loss_sum.item()
            correct += int((logits.argmax(1) == y).sum())
            seen += int((y >= 0).sum())
    total_loss, correct, seen = dist.all_reduce_sum([total_loss, correct, seen])
    return {"train_loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1), "train_windows": int(seen)}


@torch.no_grad()
def evaluate(model: nn.Module, batches, dist: Distributed) -> dict:
    """Loss and accuracy over ``batches`` of ``(x, y)`` (each rank its share; summed over ranks).
    ``model`` is the unwrapped module: no DDP collective runs in evaluation."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in batches:
        logits = model(x.to(dist.device)).float().cpu()
        total_loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += int((metrics.predicted(logits.numpy()) == y.numpy()).sum())  # a NaN row is never right
        seen += len(y)
    total_loss, correct, seen = dist.all_reduce_sum([total_loss, correct, seen])
    if not seen:
        return {"val_loss": None, "val_acc": None}
    return {"val_loss": total_loss / seen, "val_acc": correct / seen}


def make_run_dir(cfg: TrainConfig) -> Path:
    if cfg.run_dir:
        return Path(cfg.run_dir)
    if cfg.open_new_folder:
        stamp = Path(cfg.local_dir) / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S")
        path, n = stamp, 1
        while path.exists():  # two runs started in the same second
            n += 1
            path = stamp.with_name(f"{stamp.name}-{n}")
        return path
    return Path(cfg.local_dir) / "runs" / "latest"


def claim_run_dir(run_dir: Path, cfg: TrainConfig, resuming: bool) -> None:
    """Refuse to train over an existing run unless resuming it or told to ``--overwrite`` it
    (then its checkpoints and log go first, so nothing of the old run mixes with the new)."""
    ckpt_dir = run_dir / "Saved_model_checkpoints"
    old = sorted(ckpt_dir.glob("*.pth.tar")) if ckpt_dir.is_dir() else []
    if not old or resuming:
        return
    if not cfg.overwrite:
        raise ConfigError(f"{run_dir}: already holds a run ({', '.join(p.name for p in old[:3])}"
                          f"{', ...' if len(old) > 3 else ''}); --resume auto continues it, --overwrite replaces it, "
                          f"or give another --run-dir")
    for path in old + sorted(ckpt_dir.glob("backbone_*.pth")) + [run_dir / "log.csv"]:
        path.unlink(missing_ok=True)


def class_counts(items, num_classes: int) -> np.ndarray:
    return np.bincount([i.label for i in items], minlength=num_classes)


def prepare_data(cfg: TrainConfig, dataset: Dataset, progress: bool, dist: Distributed):
    """Embeddings of train / val / test items (computing missing cache entries on rank 0 first)."""
    spec = cfg.feature_spec()
    cache = EmbeddingCache(cfg.cache_dir, spec)
    items = split_train_val(dataset.items, cfg.val_split, cfg.seed)
    train_items = [i for i in items if i.split == "train"]
    val_items = [i for i in items if i.split == "val"]
    if not train_items:
        raise ConfigError(f"{cfg.data_dir}: no training videos")
    needed = [i for i in items if i.split != "test"]
    embedder = (embedder_if_needed(dataset, needed, cache, cfg.views, dist.device, cfg.precision, runtime=cfg.runtime)
                if dist.is_main else None)
    common = dict(cache=cache, train_views=cfg.views, num_frames=cfg.num_frames, embedder=embedder,
                  workers=cfg.num_workers, to_ram=cfg.load_all_data_to_ram, progress=progress and dist.is_main)
    if dist.is_main:  # rank 0 fills the cache; the others wait, then read what it wrote
        train, problems = load_embedded(dataset, train_items, compute_missing=True, **common)
        val, more = load_embedded(dataset, val_items, compute_missing=True, **common)
    dist.barrier()
    if not dist.is_main:
        train, problems = load_embedded(dataset, train_items, compute_missing=False, **common)
        val, more = load_embedded(dataset, val_items, compute_missing=False, **common)
    if not train:
        short = sum(1 for p in problems if "sampled frames <" in p["reason"])
        if short:
            raise ConfigError(f"{cfg.data_dir}: no training video gives a window of --num-frames {cfg.num_frames} "
                              f"at {spec.fps:g} fps ({short} of {len(train_items)} are shorter); lower --num-frames "
                              f"or raise the fps (--sampling-rate)")
        raise ConfigError(f"{cfg.data_dir}: none of the {len(train_items)} training videos could be used "
                          f"(e.g. {problems[0]['video']}: {problems[0]['reason']})" if problems else
                          f"{cfg.data_dir}: no training videos")
    return train, val, problems + more, (embedder.dim if embedder else train[0].embeddings.shape[2])


def run(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train; returns the run folder (with checkpoints, logs, plots and config.json)."""
    dist = Distributed.from_env(cfg.device)
    torch.manual_seed(cfg.seed)
    dataset = load_dataset(cfg.data_dir, cfg.ucf_list_dir, cfg.split, cfg.number_of_classes, cfg.background)
    annotated = dataset.kind == "annotated"
    cfg = replace(cfg, num_frames=window_frames(cfg.num_frames, annotated),
                  both_readouts=head_readouts(cfg.both_readouts, annotated, cfg.causal, cfg.per_step))
    dataset.check_sampling(cfg.feature_spec().fps, cfg.num_frames, "lrcn train")
    run_dir = make_run_dir(cfg)
    # One writer per run folder: a second training into it stops at once, naming the first.
    with FolderLock(run_dir, "lrcn train") if dist.is_main else contextlib.nullcontext():
        _run_in(run_dir, cfg, dist, dataset, progress)
    dist.close()
    return run_dir


#: Most training steps the familiarity model is fitted on (drawn evenly; enough for 64 directions).
FAMILIARITY_STEPS = 20000


@dataclass
class Data:
    """A run's training data; the only thing that differs between the frozen and the fine-tuned CNN.

    ``train``/``val`` are cached embeddings (:class:`Embedded`) or, fine-tuning, video items decoded
    every epoch; ``batches(part, epoch)`` and ``eval_batches(part)`` feed :func:`train_one_epoch`
    and :func:`evaluate`."""

    train: list
    val: list
    problems: list[dict]  # videos left out, with the reason
    feature_dim: int
    batches: Callable[[list, int], Iterable]
    eval_batches: Callable[[list], Iterable]
    refits: bool = True  # final.pth.tar may be a fresh head refitted on train + validation
    intra_op_threads: int | None = None  # PyTorch threads while training (None: as they are)

    def items(self, part: list) -> list[VideoItem]:
        return [getattr(x, "item", x) for x in part]

    def model(self, head: LRCNHead, every_step: bool, training: bool = True) -> nn.Module:
        """What maps a batch to logits: as trained (``every_step``: a head scored at every step; an
        ensemble: each member), or (``training=False``) as evaluated, the head as it is read."""
        return trained_as(head, every_step) if training else head

    def param_groups(self, head: LRCNHead, lr: float) -> list[dict]:
        return [{"params": list(head.parameters())}]

    def restore(self, ckpt: Checkpoint) -> None:
        """Anything besides the head a resumed run takes from ``ckpt``."""

    def saved(self, ckpt: Checkpoint, ckpt_dir: Path, name: str) -> Checkpoint:
        """``ckpt`` as saved under ``name`` (files beside it written first)."""
        return ckpt

    def familiarity(self, views: tuple[str, ...], num_classes: int, seed: int) -> dict | None:
        """The training embeddings' shape (:func:`lrcn.familiarity.fit`, centre view, at most
        :data:`FAMILIARITY_STEPS` steps drawn with ``seed``), its threshold from the validation videos."""
        from .familiarity import fit

        view = views.index("center") if "center" in views else 0
        rng = np.random.default_rng(seed)
        total = sum(e.length for e in self.train)
        keep = min(1.0, FAMILIARITY_STEPS / max(total, 1))

        def centre(part, thin):  # per video (an annotated one: per class it shows) its steps and class
            out, labels = [], []
            for e in part:
                x = np.asarray(e.embeddings[min(view, e.embeddings.shape[0] - 1)], np.float32)
                kept = rng.random(len(x)) < keep if thin and keep < 1 else np.ones(len(x), bool)
                if e.steps is None:
                    out.append(x[kept])
                    labels.append(e.item.label)
                    continue
                for c in np.unique(e.steps[e.steps >= 0]):
                    out.append(x[kept & (e.steps == c)])
                    labels.append(int(c))
            return out, labels

        train, labels = centre(self.train, True)
        fitted = fit(train, labels, num_classes, centre(self.val, False)[0])
        return fitted.to_dict() if fitted else None


@dataclass
class FineTuningData(Data):
    """``--train-backbone last``: the CNN's last stage trains with the head, on frames decoded every
    epoch; it is saved beside each checkpoint (``backbone_<name>.pth``) and never refitted."""

    embedder: FrameEmbedder | None = None

    def model(self, head: LRCNHead, every_step: bool, training: bool = True) -> nn.Module:
        return finetune_mod.FineTuned(self.embedder, super().model(head, every_step, training))

    def param_groups(self, head: LRCNHead, lr: float) -> list[dict]:
        # the pretrained stage moves ten times slower than the new head
        return super().param_groups(head, lr) + [
            {"params": [p for p in self.embedder.parameters() if p.requires_grad], "lr": lr * 0.1}]

    def restore(self, ckpt: Checkpoint) -> None:
        finetune_mod.load_backbone(self.embedder, Path(ckpt.finetuned_weights))

    def familiarity(self, views: tuple[str, ...], num_classes: int, seed: int) -> dict | None:
        return None  # no cached embeddings: the CNN changes as it trains

    def saved(self, ckpt: Checkpoint, ckpt_dir: Path, name: str) -> Checkpoint:
        backbone_file = (ckpt_dir / f"backbone_{name}.pth").resolve()
        finetune_mod.save_backbone(self.embedder, backbone_file)
        return replace(ckpt, finetuned_weights=str(backbone_file))


def cached_data(cfg: TrainConfig, dataset: Dataset, progress: bool, dist: Distributed) -> Data:
    """The frozen CNN: every window of the cached embeddings (computed first where missing)."""
    train, val, problems, dim = prepare_data(cfg, dataset, progress, dist)

    def batches(part, epoch):
        return train_batches(part, cfg.num_frames, cfg.batch_size, np.random.default_rng([cfg.seed, epoch]),
                             cfg.shuffle_frames, dist.rank, dist.world_size, cfg.windows_per_video,
                             every_step=cfg.every_step, window_label=cfg.both_readouts)

    def eval_batches(part):
        return embedded_eval_batches(part, cfg.num_frames, cfg.seed, cfg.shuffle_frames, dist.rank, dist.world_size)

    # With other processes on the cores, two threads spin-waiting made head epochs 4.4x slower and one
    # thread 1.6x (benchmarks/train_load.py); one thread is also bit-for-bit the same whatever the load
    # (resume tests compare weights exactly).
    return Data(train, val, problems, dim, batches, eval_batches,
                intra_op_threads=1 if dist.device.type == "cpu" else None)


def finetuning_data(cfg: TrainConfig, dataset: Dataset, dist: Distributed) -> Data:
    """``--train-backbone last``: frames through the CNN every epoch, no cache."""
    items = split_train_val(dataset.items, cfg.val_split, cfg.seed)
    if dataset.kind == "annotated":
        raise ConfigError(f"{cfg.data_dir}: --train-backbone last decodes one label per video; annotated long videos "
                          f"train the head on cached embeddings (leave --train-backbone at none)")
    if cfg.backbone in CLIP_BACKBONES:
        raise ConfigError(f"--train-backbone last fine-tunes a frame CNN; --backbone {cfg.backbone} stays frozen")
    embedder = FrameEmbedder(cfg.feature_spec().backbone, device=dist.device, precision=cfg.precision,
                             fold_batchnorm=False)  # its last stage trains: BatchNorm stays a module
    finetune_mod.unfreeze_last_stage(embedder)
    spec = replace(cfg.feature_spec(), backbone=embedder.spec)

    def batches(part, epoch):
        return finetune_mod.train_batches(dataset.root, part, spec, cfg, epoch, dist)

    def eval_batches(part):
        return finetune_mod.eval_batches(dataset.root, part, spec, cfg, dist)

    return FineTuningData([i for i in items if i.split == "train"], [i for i in items if i.split == "val"], [],
                          embedder.dim, batches, eval_batches, refits=False, embedder=embedder)


def _pause_for_tests(point: str, epoch: int, ckpt_dir: Path) -> None:
    """``LRCN_PAUSE_AT=POINT:N``: at ``POINT`` of epoch N (``logged``: its log.csv row written, its
    checkpoints not yet; ``saved``: after its checkpoints; ``refit``: after the refit's epoch N), write
    ``paused`` into the checkpoint folder and wait (at most 10 minutes) for a signal. The interruption
    tests stop training at a point they control rather than racing a fast finish on a loaded machine."""
    if os.environ.get("LRCN_PAUSE_AT") != f"{point}:{epoch}":
        return
    (ckpt_dir / "paused").write_text(str(epoch))
    for _ in range(6000):  # short sleeps: a signal the kernel hands to another thread is seen within 0.1 s
        time.sleep(0.1)


#: How many left-out videos ``lrcn train`` names one by one before it sums up the rest.
LEFT_OUT_SHOWN = 5


def log_left_out(problems: list[dict], run_dir: Path) -> None:
    """One warning per video training left out, up to :data:`LEFT_OUT_SHOWN`; then one line that counts
    the rest and says where every one is listed (``config.json``'s ``items.left_out``). A folder of
    many clips shorter than one window would otherwise bury the log in a line per clip."""
    for p in problems[:LEFT_OUT_SHOWN]:
        log.warning("left out %s: %s", p["video"], p["reason"])
    if len(problems) > LEFT_OUT_SHOWN:
        short = sum(1 for p in problems if "sampled frames <" in p["reason"])
        log.warning("... and %d more left out (%d of all %d shorter than one window); every one is named under "
                    "items.left_out in %s", len(problems) - LEFT_OUT_SHOWN, short, len(problems),
                    run_dir / "config.json")


def _run_in(run_dir: Path, cfg: TrainConfig, dist: Distributed, dataset: Dataset, progress: bool) -> None:
    device = dist.device
    ckpt_dir = run_dir / "Saved_model_checkpoints"
    resume_path = _resume_path(cfg, ckpt_dir)
    if dist.is_main:
        claim_run_dir(run_dir, cfg, resuming=bool(cfg.resume))
        if run_dir.is_dir() and (stale := remove_stale_temporaries(run_dir)):  # we hold the lock: a dead writer's
            log.info("removed %d temporary file(s) a killed run left in %s", stale, run_dir)
    # data -> model -> optimizer -> resume -> epochs
    data = finetuning_data(cfg, dataset, dist) if cfg.train_backbone == "last" else cached_data(cfg, dataset, progress, dist)
    if dist.is_main:
        log_left_out(data.problems, run_dir)
    split = validation_split(data.items(data.train), data.items(data.val))
    if dist.is_main and cfg.val_split > 0 and abs(split["share"] - cfg.val_split) > max(0.1, cfg.val_split / 2):
        log.warning("validation holds %d of %d videos (%.0f %%, %d of %d groups) where --val-split asked for %.0f %%: "
                    "whole groups go to validation, and there are few; give more groups or another --val-split",
                    split["val_videos"], split["val_videos"] + split["train_videos"], 100 * split["share"],
                    split["val_groups"], split["val_groups"] + split["train_groups"], 100 * cfg.val_split)
    if dist.is_main and not cfg.every_step and (short := short_actions(data.train + data.val, cfg)):
        log.warning("%s", short)
    model_cfg = ModelConfig(feature_dim=data.feature_dim, num_classes=len(dataset.classes), latent_dim=cfg.latent_dim,
                            hidden_size=cfg.hidden_size, lstm_layers=cfg.lstm_layers,
                            bidirectional=cfg.bidirectional and not cfg.causal,  # a causal head reads in order
                            dropout=cfg.dropout, frame_differences=cfg.frame_differences, causal=cfg.causal,
                            per_step=cfg.per_step, both_readouts=cfg.both_readouts, ensemble=cfg.ensemble)
    torch.manual_seed(cfg.seed)  # the head's initial weights depend on the seed alone
    head = build_head(model_cfg).to(device)
    module = data.model(head, every_step=False, training=False)  # x -> logits, as evaluated
    optimizer, scheduler = make_optimizer(data.param_groups(head, cfg.lr), cfg, cfg.epochs)
    state = RunState()
    if resume_path is not None:
        state = _restore(resume_path, head, optimizer, scheduler, model_cfg, dataset.classes, cfg, dist.world_size)
        data.restore(load_checkpoint(resume_path))
        if dist.is_main:
            _keep_log_rows_up_to(run_dir / "log.csv", state.epoch)  # epochs after the checkpoint are redone
        log.info("resumed from %s at epoch %d", resume_path, state.epoch)
    model = dist.wrap(data.model(head, every_step=cfg.every_step))  # as trained

    writer = None
    train_items, val_items = data.items(data.train), data.items(data.val)
    if dist.is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / "config.json", {
            "train": asdict(cfg), "model": model_cfg.to_dict(), "sampling": cfg.sampling.to_dict(),
            "classes": list(dataset.classes), "world_size": dist.world_size, "device": str(device),
            "items": {"train": len(data.train), "val": len(data.val), "left_out": data.problems},
            "validation": split,
        })
        _frequency_plots(dataset, train_items, val_items, run_dir)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tensorboard"))

    base = Checkpoint(model={}, model_config=model_cfg, class_names=list(dataset.classes), train=cfg,
                      global_batch_size=cfg.batch_size * dist.world_size,
                      train_class_counts=class_counts(train_items, len(dataset.classes)).tolist(),
                      familiarity=data.familiarity(cfg.views, len(dataset.classes), cfg.seed) if dist.is_main else None,
                      card=model_card(dataset, train_items, val_items))
    with _intra_op_threads(data.intra_op_threads):
        epochs = range(state.epoch + 1, cfg.epochs + 1)
        bar = _progress(epochs, progress and dist.is_main)
        for epoch in bar:
            t0 = time.perf_counter()
            metrics = {"epoch": epoch, **train_one_epoch(model, data.batches(data.train, epoch), optimizer, epoch,
                                                         seed=cfg.seed, dist=dist, label_smoothing=cfg.label_smoothing)}
            scheduler.step()
            metrics["lr"] = scheduler.get_last_lr()[0]
            if epoch % cfg.val_check_interval == 0 or epoch == cfg.epochs:
                metrics.update(evaluate(module, data.eval_batches(data.val), dist))
            metrics["seconds"] = time.perf_counter() - t0
            state.epoch = epoch
            state.history.append(metrics)
            if not dist.is_main:
                continue
            _log_epoch(writer, run_dir, metrics)
            _pause_for_tests("logged", epoch, ckpt_dir)
            shown = {"loss": f"{metrics['train_loss']:.3f}", "acc": f"{metrics['train_acc']:.2f}"}
            if metrics.get("val_acc") is not None:  # an epoch without validation shows none, not "nan"
                shown["val"] = f"{metrics['val_acc']:.2f}"
            bar.set_postfix(shown)
            improved = metrics.get("val_acc") is not None and metrics["val_acc"] > state.best_val_acc
            if improved:
                state.best_val_acc = metrics["val_acc"]
            card = {**base.card, "epoch": epoch, "validation_accuracy": state.best_val_acc if state.best_val_acc >= 0
                    else None}
            ckpt = replace(base, card=card, model=head.state_dict(), optimizer=optimizer.state_dict(),
                           lr_scheduler=scheduler.state_dict(), epoch=epoch, best_val_acc=state.best_val_acc,
                           history=state.history)
            names = ["last"]
            if epoch % cfg.checkpoint_interval == 0 or epoch == cfg.epochs:
                names.append(f"epoch_{epoch}")
            if improved or (not data.val and epoch == cfg.epochs):
                names.append("best")
            for name in names:
                saved = data.saved(ckpt, ckpt_dir, name)
                # Only last.pth.tar resumes, so only it carries the optimizer (two thirds of a checkpoint).
                save_checkpoint(ckpt_dir / f"{name}.pth.tar", saved if name == "last" else saved.without_optimizer())
            prune_epoch_checkpoints(ckpt_dir, cfg.keep_checkpoints)
            _pause_for_tests("saved", epoch, ckpt_dir)
        if dist.is_main:
            writer.close()
            if state.history:
                plots.training_curves(state.history, run_dir / "training_curves.png")
        if data.refits:
            if dist.is_main:
                base = replace(base, decoding=choose_decoding(cfg, data.val, ckpt_dir, device))
            ship_final(cfg, model_cfg, state, data, base, ckpt_dir, dist, progress)


def short_actions(videos: list, cfg: TrainConfig) -> str | None:
    """A warning when some annotated actions are the label of no training window: a window classifier
    (one label per window, its majority) never sees them, so it can neither learn nor predict them;
    None when every action has windows (or the data are trimmed clips)."""
    from .annotations import actions_without_a_window, longest_never_majority

    counts = [actions_without_a_window(e.steps, e.windows, cfg.num_frames) for e in videos
              if getattr(e, "steps", None) is not None]
    without, actions = sum(c[0] for c in counts), sum(c[1] for c in counts)
    if not without:
        return None
    short = longest_never_majority(cfg.num_frames)
    return (f"{without} of {actions} annotated actions ({100 * without / actions:.1f} %) are the majority of no "
            f"{cfg.num_frames}-frame window (actions of {short} sampled frames or fewer, {short / cfg.sampling.fps:.1f} "
            f"s, never are): this window classifier can neither learn nor predict them; shorter windows (--num-frames) "
            f"or a head that labels every step (--per-step, --both-readouts) can "
            f"(docs/long-videos.md#windows-on-long-videos)")


def choose_decoding(cfg: TrainConfig, val: list, ckpt_dir: Path, device) -> dict | None:
    """Annotated long videos: the switch penalty that decodes the validation videos best (the best
    checkpoint's frame probabilities, :func:`lrcn.metrics.choose_switch_penalty`), for the final model to
    decode with unless ``--switch-penalty`` says otherwise. A window classifier's averaged windows and a
    head scored at every step differ several-fold in the penalty they need. None without annotated
    validation videos (trimmed clips keep the default)."""
    from .config import Decoding
    from .metrics import choose_switch_penalty
    from .embedded import video_probabilities

    videos = [e for e in val if getattr(e, "steps", None) is not None and e.length >= cfg.num_frames]
    best = ckpt_dir / "best.pth.tar"
    if not videos or not best.is_file():
        return None
    head = load_checkpoint(best).head(device)
    scored = [(video_probabilities(head, e, cfg.num_frames, device)[2], e.steps) for e in videos]
    try:
        chosen = choose_switch_penalty(scored, Decoding(), cfg.sampling.fps)
    except ValueError:  # no annotated frame among them
        return None
    log.info("decoding: switch penalty %g chosen on %d validation videos (mean of frame accuracy, edit, F1@50: "
             "%.1f)", chosen["switch_penalty"], chosen["videos"], chosen["score"])
    return {**chosen, "chosen_on": "validation videos (best.pth.tar)"}


def _same_refit(final: Path, base: Checkpoint, epochs: int, items: int) -> bool:
    """Whether ``final`` is the refit these settings would produce (run-control flags aside)."""
    try:
        done = load_checkpoint(final)
    except CheckpointError:
        return False
    control = ("resume", "overwrite", "run_dir", "local_dir", "open_new_folder", "num_workers", "device", "runtime",
               "data_dir", "ucf_list_dir", "cache_dir")  # folders: not stored as they are (checkpoint.MACHINE_PATHS)
    ours = {k: v for k, v in asdict(base.train).items() if k not in control}
    theirs = {k: v for k, v in asdict(done.train).items() if k not in control}
    meta = done.final or {}
    return ours == theirs and meta.get("refit") and meta.get("epochs") == epochs and meta.get("items") == items


def prune_epoch_checkpoints(ckpt_dir: Path, keep: int | None) -> None:
    """Keep the ``keep`` newest ``epoch_<n>.pth.tar`` (and their fine-tuned CNNs); ``None`` keeps all."""
    if keep is None:
        return
    found = sorted(ckpt_dir.glob("epoch_*.pth.tar"), key=lambda p: int(p.name.split("_")[1].split(".")[0]))
    for old in found[: max(0, len(found) - keep)]:
        old.unlink(missing_ok=True)
        (ckpt_dir / f"backbone_{old.name.removesuffix('.pth.tar')}.pth").unlink(missing_ok=True)


@contextlib.contextmanager
def _intra_op_threads(n: int | None):
    """PyTorch's intra-op threads set to ``n`` for the block (``None``: unchanged)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_optimizer(params, cfg: TrainConfig, epochs: int):
    """The recipe's optimizer and schedule (the first run and the refit share it): Adam, cosine over ``epochs``.

    Adam's fused kernel (PyTorch >= 2.4 on CPU and CUDA) takes 7 ms a step on the demo's head where
    the per-tensor loop takes 22 ms, a quarter of a training step (one thread, 2-core Xeon)."""
    params = list(params)  # a generator would be used up by the first attempt, leaving the fallback nothing
    try:
        optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older PyTorch, or a device without the fused kernel
        optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)


def chosen_epochs(history: list[dict], epochs: int) -> int:
    """The epoch count validation chose: the best validation accuracy, ties to the lower loss, then earlier."""
    scored = [h for h in history if h.get("val_acc") is not None]
    if not scored:
        return epochs
    best = max(scored, key=lambda h: (h["val_acc"], -(h.get("val_loss") or 0.0), -h["epoch"]))
    return int(best["epoch"])


def ship_final(cfg: TrainConfig, model_cfg: ModelConfig, state: RunState, data: Data, base: Checkpoint,
               ckpt_dir: Path, dist: Distributed, progress: bool) -> None:
    """``final.pth.tar``: the model to use. With a validation carve-out and ``refit`` (the default), a
    fresh head trained on train + validation for the epoch count validation chose, with the same
    recipe; otherwise the best checkpoint (or the last, without validation) as it is.

    Deterministic: every choice is a function of ``(seed, epoch)``, so a rerun after an
    interruption redoes it to the same weights.
    """
    final = ckpt_dir / "final.pth.tar"
    source = ckpt_dir / ("best.pth.tar" if (ckpt_dir / "best.pth.tar").is_file() else "last.pth.tar")
    if not (cfg.refit and data.val):
        if dist.is_main and source.is_file():
            ckpt = load_checkpoint(source).without_optimizer()
            save_checkpoint(final, replace(ckpt, final={"from": source.name, "refit": False},
                                           decoding=base.decoding))
        return
    epochs = chosen_epochs(state.history, cfg.epochs)
    everything = list(data.train) + list(data.val)
    if final.is_file() and _same_refit(final, base, epochs, len(everything)):
        done = load_checkpoint(final)  # a rerun of a finished run (--resume auto): the refit is already there,
        if dist.is_main and done.decoding != base.decoding:  # its decoder chosen again (an older lrcn chose none)
            save_checkpoint(final, replace(done, decoding=base.decoding))
        return
    torch.manual_seed(cfg.seed)  # the same initial weights as the first run
    head = build_head(model_cfg).to(dist.device)
    model = dist.wrap(data.model(head, every_step=cfg.every_step))
    optimizer, scheduler = make_optimizer(data.param_groups(head, cfg.lr), cfg, epochs)
    history = []
    for epoch in _progress(range(1, epochs + 1), progress and dist.is_main, desc="refit"):
        metrics = {"epoch": epoch, **train_one_epoch(model, data.batches(everything, epoch), optimizer, epoch,
                                                     seed=cfg.seed, dist=dist, label_smoothing=cfg.label_smoothing)}
        scheduler.step()
        history.append(metrics)
        _pause_for_tests("refit", epoch, ckpt_dir)
    if dist.is_main:
        card = {**base.card, "validation_accuracy": state.best_val_acc if state.best_val_acc >= 0 else None,
                "refit_epochs": epochs}
        save_checkpoint(final, replace(base, card=card, model=head.state_dict(), epoch=epochs, history=history,
                                       best_val_acc=state.best_val_acc,
                                       final={"from": "refit", "refit": True, "epochs": epochs,
                                              "items": len(everything), "validation_history": state.history}))


def _resume_path(cfg: TrainConfig, ckpt_dir: Path) -> Path | None:
    if not cfg.resume:
        return None
    if cfg.resume == "auto":
        last = ckpt_dir / "last.pth.tar"
        return last if last.is_file() else None
    return Path(cfg.resume)


#: Settings a resumed run must share with the checkpoint: what the embeddings are, and the recipe.
FEATURE_KEYS = ("backbone", "weights", "crop", "sampling_rate", "reference_fps", "num_frames", "views", "seed")
RECIPE_KEYS = ("epochs", "lr", "weight_decay", "seed", "val_split", "shuffle_frames", "num_frames",
               "windows_per_video", "label_smoothing")


def _restore(path, head, optimizer, scheduler, model_cfg: ModelConfig, classes, cfg: TrainConfig,
             world_size: int) -> RunState:
    ckpt = load_checkpoint(path)
    if ckpt.model_config != model_cfg:
        raise CheckpointError(f"{path}: {describe_mismatch(model_cfg.to_dict(), ckpt.model_config.to_dict(), 'head shape')}")
    if list(ckpt.class_names) != list(classes):
        raise CheckpointError(f"{path}: trained on other classes ({len(ckpt.class_names)} vs {len(classes)})")
    ours, theirs = ({k: getattr(c, k) for k in FEATURE_KEYS} for c in (cfg, ckpt.train))
    if ours != theirs:
        raise CheckpointError(f"{path}: {describe_mismatch(ours, theirs, 'feature setting')}")
    ours, theirs = ({k: getattr(c, k) for k in RECIPE_KEYS} for c in (cfg, ckpt.train))
    # The global batch decides the result; the number of processes it is split over does not.
    ours["global_batch_size"] = cfg.batch_size * world_size
    theirs["global_batch_size"] = ckpt.global_batch_size
    if ours != theirs:
        raise CheckpointError(f"{path}: {describe_mismatch(ours, theirs, 'training setting')}; resume with the "
                              f"same settings, or start a new --run-dir")
    head.load_state_dict(ckpt.model)
    if ckpt.optimizer is None:
        raise CheckpointError(f"{path}: holds no optimizer state (only last.pth.tar does); resume from "
                              f"{Path(path).with_name('last.pth.tar')}")
    optimizer.load_state_dict(ckpt.optimizer)
    scheduler.load_state_dict(ckpt.lr_scheduler)
    return RunState(ckpt.epoch, ckpt.best_val_acc, list(ckpt.history))


def model_card(dataset: Dataset, train: list[VideoItem], val: list[VideoItem]) -> dict:
    """What a shared model file says about itself (``lrcn info``): lrcn's version, when it was made, the
    data by name and fingerprint (SHA-256 of every video's path, class and part), the sizes of its parts."""
    import hashlib

    from . import __version__

    lines = sorted(f"{i.path}|{i.label}|{i.split}" for i in [*train, *val, *dataset.subset("test")])
    return {"lrcn": __version__, "created": datetime.now().astimezone().isoformat(timespec="seconds"),
            "data": {"name": Path(str(dataset.root)).name, "kind": dataset.kind,
                     "fingerprint": hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16],
                     "train_videos": len(train), "val_videos": len(val), "test_videos": len(dataset.subset("test"))},
            "classes": len(dataset.classes)}


def validation_split(train: list[VideoItem], val: list[VideoItem]) -> dict:
    """How big the validation carve-out came out: videos, groups and its share of the videos."""
    n = len(train) + len(val)
    return {"train_videos": len(train), "val_videos": len(val),
            "train_groups": len({i.group for i in train}), "val_groups": len({i.group for i in val}),
            "share": len(val) / n if n else 0.0}


def summary_lines(run_dir: str | Path) -> list[str]:
    """What ``lrcn train`` tells its user at the end: the validation carve-out, the epoch validation
    chose and its accuracy, the model shipped (refit or not), and the files written."""
    import json

    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "Saved_model_checkpoints"
    lines = []
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    v = config.get("validation")
    if v:
        lines.append(f"validation: {v['val_videos']} of {v['val_videos'] + v['train_videos']} training videos "
                     f"({100 * v['share']:.0f} %, {v['val_groups']} of {v['val_groups'] + v['train_groups']} groups; "
                     f"--val-split {config.get('train', {}).get('val_split')})")
    last = ckpt_dir / "last.pth.tar"
    history = load_checkpoint(last).history if last.is_file() else []
    scored = [h for h in history if h.get("val_acc") is not None]
    if scored:
        best = chosen_epochs(history, len(history))
        acc = next(h["val_acc"] for h in scored if h["epoch"] == best)
        lines.append(f"chosen epoch: {best} of {len(history)} (validation accuracy {100 * acc:.1f} %)")
    elif history:
        lines.append(f"no validation: the model is epoch {len(history)}'s (train accuracy "
                     f"{100 * history[-1]['train_acc']:.1f} %)")
    final = ckpt_dir / "final.pth.tar"
    if final.is_file():
        shipped = load_checkpoint(final)
        meta = shipped.final or {}
        if meta.get("refit"):
            lines.append(f"final model: refitted on train + validation ({meta['items']} videos) for {meta['epochs']} "
                         f"epochs -> {final}")
        else:
            lines.append(f"final model: {meta.get('from', 'the last checkpoint')} as it is -> {final}")
        if shipped.decoding:
            lines.append(f"decoding: {shipped.chosen_decoding()}")
    written = sorted(p.name for p in ckpt_dir.glob("*.pth*")) if ckpt_dir.is_dir() else []
    lines.append(f"run folder: {run_dir} (checkpoints: {', '.join(written) or 'none'}; log.csv, training_curves.png, "
                 f"config.json, tensorboard/)")
    return lines


def _frequency_plots(dataset: Dataset, train_items, val_items, run_dir: Path) -> None:
    n = len(dataset.classes)
    plots.class_frequencies(
        {"train": class_counts(train_items, n), "validation": class_counts(val_items, n)},
        dataset.classes, "Class frequency: train / validation", run_dir / "class_frequency_train_val.png")
    plots.class_frequencies({"test": class_counts(dataset.subset("test"), n)}, dataset.classes,
                            "Class frequency: test", run_dir / "class_frequency_test.png")


def _log_epoch(writer, run_dir: Path, metrics: dict) -> None:
    for key, value in metrics.items():
        if key != "epoch" and value is not None:
            writer.add_scalar(key.replace("_", "/", 1) if "_" in key else key, value, metrics["epoch"])
    path = run_dir / "log.csv"
    fields = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: metrics.get(k, "") for k in fields})


def _keep_log_rows_up_to(path: Path, epoch: int) -> None:
    """Rewrite ``log.csv`` (atomically) without the rows after ``epoch``: a run killed after logging an
    epoch but before its checkpoint redoes that epoch on resume, and it must not appear twice."""
    if not path.is_file():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= epoch]
    if len(kept) != len(rows):
        import io

        buf = io.StringIO()
        csv.writer(buf).writerows(kept)
        write_text_atomic(path, buf.getvalue())


def _progress(epochs, enabled: bool, desc: str = "train"):
    from tqdm import tqdm

    return tqdm(epochs, desc=desc, unit="epoch", disable=not enabled)
