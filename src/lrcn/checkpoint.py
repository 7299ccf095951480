"""Checkpoints: one versioned schema (:class:`Checkpoint`) that rebuilds the model with nothing else.

A checkpoint holds the head's weights and shape, the class names, ``lrcn train``'s settings (the
backbone, weights, crop, sampling and window length among them, each stored once), the fine-tuned
CNN's file where there is one, the epoch and history, and (``last.pth.tar`` only) the optimizer and scheduler states, so ``lrcn test``
and ``lrcn predict`` need only the file. :func:`load_checkpoint` rebuilds the dataclasses; no module
reads the stored dict. Loading uses ``weights_only=True``: a downloaded checkpoint cannot run code.

Versions: 1 (lrcn before the settings module, with a ``feature_spec`` restating the training
settings) still loads; 2 is written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import BackboneSpec, FeatureSpec, Sampling, TrainConfig
from .errors import CheckpointError, ConfigError, LrcnError
from .io import write_bytes_atomic
from .model import LRCNHead, ModelConfig, build_head

FORMAT = "lrcn-checkpoint"
VERSION = 2
#: Settings that name folders of the machine that trained: never written into a checkpoint as they are.
MACHINE_PATHS = ("data_dir", "ucf_list_dir", "cache_dir", "run_dir", "local_dir", "resume")
#: What checkpoints of earlier releases did where a setting was not yet recorded.
LEGACY_TRAINING = {"windows_per_video": 1, "label_smoothing": 0.0, "frame_differences": False}


@dataclass
class Checkpoint:
    """One saved state of ``lrcn train`` (see the module docstring). Every setting is stored once,
    in ``train``; the feature spec and the sampling are derived from it."""

    model: dict[str, torch.Tensor]  # the head's weights
    model_config: ModelConfig
    class_names: list[str]
    train: TrainConfig  # lrcn train's settings: backbone, weights, crop, sampling, views, seed, ...
    finetuned_weights: str | None = None  # --train-backbone last: the CNN file saved beside the checkpoint
    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_val_acc: float = -1.0
    optimizer: dict | None = None  # last.pth.tar only: what resuming needs
    lr_scheduler: dict | None = None
    global_batch_size: int | None = None
    train_class_counts: list[int] | None = None
    final: dict | None = None  # final.pth.tar: how it was made (refit or a copy of best)
    familiarity: dict | None = None  # the training embeddings' shape (lrcn.familiarity), for unfamiliar input
    card: dict | None = None  # the model card: lrcn version, date, data fingerprint, validation (lrcn info)
    decoding: dict | None = None  # settings the run chose on its validation videos (annotated data: the switch penalty)

    @property
    def sampling(self) -> Sampling:
        return self.train.sampling

    @property
    def features(self) -> FeatureSpec:
        """How frames become this head's embeddings (the fine-tuned CNN where there is one)."""
        spec = self.train.feature_spec()
        if self.finetuned_weights:
            spec = dataclasses.replace(spec, backbone=BackboneSpec(spec.backbone.arch, self.finetuned_weights))
        return spec

    @property
    def switch_penalty(self) -> float | None:
        """The decoder's switch penalty this run chose on its validation videos (None: it chose none)."""
        return (self.decoding or {}).get("switch_penalty")

    def chosen_decoding(self) -> str | None:
        """What the run chose for the decoder, in words (None: nothing), as ``lrcn train`` and ``lrcn info`` say it."""
        if not self.decoding:
            return None
        return (f"switch penalty {self.switch_penalty:g}, chosen on {self.decoding.get('videos', '?')} validation videos "
                f"(used by predict, test and stream unless --switch-penalty is given)")

    def head(self, device: torch.device | str = "cpu") -> LRCNHead:
        """The trained head, in eval mode, on ``device``."""
        head = build_head(self.model_config).to(device)
        head.load_state_dict(self.model)
        return head.eval()

    def without_optimizer(self) -> "Checkpoint":
        return dataclasses.replace(self, optimizer=None, lr_scheduler=None)

    def to_dict(self) -> dict[str, Any]:
        """The stored form (plain containers, so ``weights_only`` loading reads it). No machine path is
        stored: the data and list folders by their name, the run's own folders not at all, and a
        fine-tuned CNN by its file name beside the checkpoint (found there again on load)."""
        train = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.train).items()}
        for key in MACHINE_PATHS:
            if train.get(key):
                train[key] = Path(str(train[key])).name if key in ("data_dir", "ucf_list_dir") else None
        state = {"format": FORMAT, "version": VERSION, "model": self.model,
                 "model_config": self.model_config.to_dict(), "class_names": list(self.class_names),
                 "train_config": {k: v for k, v in train.items() if v is not None or k not in MACHINE_PATHS},
                 "sampling": self.sampling.to_dict(),  # for readers of the file; rebuilt from train_config
                 **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if f.name not in ("model", "model_config", "class_names", "train")}}
        if self.optimizer is None:
            del state["optimizer"], state["lr_scheduler"]
        if self.finetuned_weights:
            state["finetuned_weights"] = Path(self.finetuned_weights).name
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any], path: str | Path = "checkpoint") -> "Checkpoint":
        """Rebuild from the stored form of any version this lrcn reads."""
        try:
            train = dict(state["train_config"])
            finetuned = state.get("finetuned_weights")
            if state.get("version", 1) < 2:  # the feature spec held the backbone file a fine-tuned run wrote
                spec = state["feature_spec"]
                train.setdefault("seed", spec.get("seed", 42))
                finetuned = spec["weights"] if spec["weights"] != train.get("weights", spec["weights"]) else None
            known = {f.name for f in dataclasses.fields(TrainConfig)} - {"_"}
            values = {**{k: v for k, v in LEGACY_TRAINING.items() if k not in train},
                      **{k: tuple(v) if isinstance(v, list) else v for k, v in train.items() if k in known}}
            return cls(
                model=state["model"], model_config=ModelConfig.from_dict(state["model_config"]),
                class_names=list(state["class_names"]), train=TrainConfig(**values), finetuned_weights=finetuned,
                epoch=int(state.get("epoch", 0)), history=list(state.get("history") or []),
                best_val_acc=float(state.get("best_val_acc", -1.0)), optimizer=state.get("optimizer"),
                lr_scheduler=state.get("lr_scheduler"), global_batch_size=state.get("global_batch_size"),
                train_class_counts=state.get("train_class_counts"), final=state.get("final"),
                familiarity=state.get("familiarity"), card=state.get("card"), decoding=state.get("decoding"))
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise CheckpointError(f"{path}: an lrcn checkpoint this version cannot read (version "
                                  f"{state.get('version', 1)}: {type(exc).__name__} {exc}); retrain with this "
                                  f"lrcn") from None


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` atomically. Serialised in memory first: a file that cannot be written (a full disk,
    a read-only folder) is then one line with the operating system's cause, where ``torch.save`` into
    a file reports ``[enforce fail at inline_container.cc] unexpected pos``."""
    import io

    buffer = io.BytesIO()
    torch.save(ckpt.to_dict(), buffer)
    try:
        write_bytes_atomic(path, buffer.getbuffer())
    except LrcnError as exc:
        raise CheckpointError(str(exc).replace("cannot write (", "cannot write the checkpoint (")) from None


SHIPPED = ("final.pth.tar", "best.pth.tar", "last.pth.tar")  # what a run folder stands for, in order


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given; a run folder (or its ``Saved_model_checkpoints``) stands for its
    ``final.pth.tar`` (the refitted model), else ``best.pth.tar``, else ``last.pth.tar``."""
    path = Path(path)
    if not path.is_dir():
        return path
    for folder in (path / "Saved_model_checkpoints", path):
        for name in SHIPPED:
            if (folder / name).is_file():
                return folder / name
    raise CheckpointError(f"{path}: a folder without {', '.join(SHIPPED)} (is it an lrcn run folder?)")


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate an lrcn checkpoint.

    Raises:
        CheckpointError: missing, corrupt, not an lrcn checkpoint, or from a newer version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises anything from KeyError to UnpicklingError on garbage
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: corrupt or not a PyTorch checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an lrcn checkpoint (no '{FORMAT}' marker)")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: made by a newer lrcn (format {state['version']} > {VERSION}); upgrade lrcn")
    for key in ("model", "model_config", "train_config", "class_names"):
        if key not in state:
            raise CheckpointError(f"{path}: lrcn checkpoint lacks '{key}'")
    if not isinstance(state["model"], dict):
        raise CheckpointError(f"{path}: its 'model' is not a set of weights")
    bad = [k for k, v in state["model"].items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # a diverged model would score NaN, and argmax of NaN is class 0: never a silent number
        raise CheckpointError(f"{path}: non-finite weights (NaN/inf) in {', '.join(bad[:3])}; the training "
                              f"diverged (try a lower --lr)")
    ckpt = Checkpoint.from_dict(state, path)
    if ckpt.finetuned_weights and not Path(ckpt.finetuned_weights).is_absolute():  # stored beside the checkpoint
        ckpt = dataclasses.replace(ckpt, finetuned_weights=str(path.resolve().parent / ckpt.finetuned_weights))
    return ckpt


def describe_mismatch(expected: dict, found: dict, what: str) -> str | None:
    """A one-line account of the settings that differ, or None."""
    diffs = [f"{k}: checkpoint {found.get(k)!r}, now {expected.get(k)!r}" for k in sorted(set(expected) | set(found))
             if expected.get(k) != found.get(k)]
    return f"{what} differs ({'; '.join(diffs)})" if diffs else None


def load_head(path: str | Path, device: torch.device | str = "cpu") -> tuple[LRCNHead, Checkpoint]:
    """The trained head and its checkpoint (a run folder: its final model, see
    :func:`lrcn.checkpoint.resolve_checkpoint`)."""
    ckpt = load_checkpoint(resolve_checkpoint(path))
    return ckpt.head(device), ckpt


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's tensors (names, dtypes, shapes and bytes, in name order): what an export
    records to be bound to the weights it came from."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # flatten(): one stride of 1, whatever the memory format (a channels-last kernel of size-1 dims
        # counts as contiguous with a last stride other than 1, which no dtype view accepts)
        flat = t.contiguous().flatten().clone()
        digest.update(flat.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def info_lines(source: str | Path) -> list[str]:
    """``lrcn info``: what a checkpoint (or run folder) is, from the file alone, and the test report that
    ``lrcn test`` wrote beside it, if any."""
    import json

    path = resolve_checkpoint(source)
    ckpt = load_checkpoint(path)
    card = ckpt.card or {}
    spec, cfg = ckpt.features, ckpt.model_config
    lines = [f"{path}: an lrcn model of {len(ckpt.class_names)} classes"
             + (f", made by lrcn {card['lrcn']} on {card['created']}" if card else " (no model card: an older lrcn)")]
    shown = ", ".join(ckpt.class_names[:12]) + (f", ... ({len(ckpt.class_names)})" if len(ckpt.class_names) > 12 else "")
    lines.append(f"  classes: {shown}")
    lines.append(f"  backbone: {spec.backbone.arch} ({'fine-tuned, ' if ckpt.finetuned_weights else ''}weights "
                 f"{Path(spec.backbone.weights).name if spec.backbone.weights not in ('imagenet', 'none') else spec.backbone.weights}), "
                 f"{spec.crop} crop, {spec.fps:g} fps; head: {'causal' if cfg.causal else 'bidirectional'} LSTM "
                 f"{cfg.lstm_layers}x{cfg.hidden_size}, windows of {ckpt.sampling.num_frames} steps, "
                 + ("labels every step" if cfg.causal or cfg.per_step else
                    "labels the window and every step" if cfg.both_readouts else "labels the window")
                 + (f"; an ensemble of {cfg.ensemble}, read as the mean of their probabilities" if cfg.ensemble > 1
                    else ""))
    data = card.get("data")
    if data:
        lines.append(f"  data: {data['name']} ({data['kind']}; {data['train_videos']} train, {data['val_videos']} "
                     f"validation, {data['test_videos']} test videos; fingerprint {data['fingerprint']})")
    meta = ckpt.final or {}
    made = (f"refitted on train + validation for {meta['epochs']} epochs" if meta.get("refit")
            else f"epoch {ckpt.epoch}" + (f" (from {meta['from']})" if meta.get("from") else ""))
    val = card.get("validation_accuracy", ckpt.best_val_acc if ckpt.best_val_acc >= 0 else None)
    lines.append(f"  model: {made}; best validation accuracy "
                 + (f"{100 * val:.1f} %" if isinstance(val, (int, float)) and val >= 0 else "not measured"))
    lines.append("  unfamiliar input: " + (f"marked (threshold {ckpt.familiarity['threshold']:.2f}, calibrated on "
                                           f"{ckpt.familiarity.get('calibrated_on', '?')})" if ckpt.familiarity
                                           else "not measured by this checkpoint"))
    if ckpt.decoding:
        lines.append(f"  decoding: {ckpt.chosen_decoding()}")
    for report in (path.parent.parent / "test" / "report.json", path.parent / "test" / "report.json"):
        if report.is_file():
            try:
                r = json.loads(report.read_text())
                if r.get("kind") == "annotated":  # long videos, scored as segmentation
                    a = r["after_smoothing"]
                    lines.append(f"  test ({report}): frame accuracy {a['frame_accuracy']:.1f} %, edit {a['edit']:.1f}, "
                                 f"F1@50 {a['f1@50']:.1f} on {r['test_videos']} long videos (switch penalty "
                                 f"{r['decoding']['switch_penalty']:g})")
                else:
                    lines.append(f"  test ({report}): clip accuracy {100 * r['clip_accuracy']:.1f} %, video accuracy "
                                 f"{100 * r['video_accuracy']:.1f} % on {len(r.get('videos', []))} videos")
            except (OSError, ValueError, KeyError, TypeError):
                lines.append(f"  test: {report} is unreadable")
            break
    else:
        lines.append("  test: not run (lrcn test writes its report beside the run)")
    return lines
