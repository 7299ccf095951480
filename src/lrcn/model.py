"""The LRCN: a frozen CNN per frame (``backbone``), then this head over the sequence.

Three bugs of the seed are fixed here:

* no softmax before the loss: the head returns logits and
  ``CrossEntropyLoss`` applies log-softmax itself (a softmax before it
  squashes the gradients and slows or stalls training);
* the bidirectional LSTM is read where both directions have seen the whole
  clip: the final hidden state of the forward direction (after the last
  frame) joined with the final state of the backward direction (after the
  first frame). The seed took ``output[:, -1]``, where the backward
  direction has seen only the last frame;
* ``bidirectional`` is a real boolean (the seed's ``type=bool`` flags were
  true for any value, "False" included).

One addition, measured (README, Results): with ``frame_differences`` (the
default) each step of the LSTM reads the frame's embedding **and its change
from the previous frame** (zero for the first). Whether an action runs forwards
or backwards is in the sign of those changes; a frozen ImageNet embedding
varies far more between videos than within one, and the LSTM alone learned to
tell the videos apart rather than the direction of their change (train 98 %,
held-out 65 % on ``lrcn synth --preset order``; 88 % with the differences).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

from .errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the LRCN head (the backbone is recorded separately in the checkpoint)."""

    feature_dim: int  # embedding size of the backbone (2048 for ResNet-152, 1280 for MobileNetV2)
    num_classes: int
    latent_dim: int = 512  # frame embedding -> latent projection (seed: 512)
    hidden_size: int = 256  # LSTM hidden size per direction (seed: 256)
    lstm_layers: int = 2  # (seed: 2)
    bidirectional: bool = True  # (seed: True)
    dropout: float = 0.3  # between LSTM layers and before the classifier
    frame_differences: bool = True  # each step also reads the change of the embedding since the previous frame
    causal: bool = False  # trained to label every step from the frames up to it (unidirectional; for streams)
    per_step: bool = False  # trained with a loss at every step; forward() is the mean of the steps' logits
    both_readouts: bool = False  # trained with both losses: the window's (final states) and every step's (outputs)
    ensemble: int = 1  # heads of this shape from different initial weights, trained side by side, read as one

    def __post_init__(self) -> None:
        if self.causal and self.bidirectional:
            raise ConfigError("a causal head reads frames in order only: it cannot be bidirectional")
        if self.both_readouts and (self.causal or self.per_step):
            raise ConfigError("a head with both readouts already labels every step: not with causal or per_step")
        if self.ensemble > 1 and self.causal:
            raise ConfigError("an ensemble of causal heads is not built (a stream steps one head's LSTM state); "
                              "train a causal head alone")
        for name in ("feature_dim", "num_classes", "latent_dim", "hidden_size", "lstm_layers", "ensemble"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_classes < 2:
            raise ConfigError(f"need at least 2 classes, got {self.num_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def readout(self) -> str:
        """How lrcn labels frames with this head (:func:`frame_readout`): ``"both"``, ``"steps"`` or ``"window"``."""
        return "both" if self.both_readouts else "steps" if self.per_step else "window"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Rebuild from a checkpoint; heads of earlier releases read embeddings only."""
        return cls(**{"frame_differences": False, **d})


class LRCNHead(nn.Module):
    """Embeddings ``(B, T, D)`` -> class logits ``(B, C)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        directions = 2 if cfg.bidirectional else 1
        self.project = nn.Linear(cfg.feature_dim * (2 if cfg.frame_differences else 1), cfg.latent_dim)
        self.lstm = nn.LSTM(
            cfg.latent_dim, cfg.hidden_size, num_layers=cfg.lstm_layers, batch_first=True,
            bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0,
        )
        self.classifier = nn.Sequential(
            nn.Dropout(cfg.dropout),
            nn.Linear(directions * cfg.hidden_size, cfg.hidden_size),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden_size, cfg.num_classes),
        )

    def steps(self, embeddings: torch.Tensor) -> torch.Tensor:
        """What the LSTM reads: ``(B, T, D)`` embeddings -> ``(B, T, latent)``."""
        x = embeddings.float()
        if self.cfg.frame_differences:
            change = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)  # (B, T, D)
            x = torch.cat([x, change], dim=2)  # (B, T, 2D)
        return self.project(x)

    @property
    def labels_steps(self) -> bool:
        """Trained with a loss at every step (``--causal``, ``--per-step`` or ``--both-readouts``):
        :meth:`step_logits` mean something."""
        return self.cfg.causal or self.cfg.per_step or self.cfg.both_readouts

    def _final_state(self, h_n: torch.Tensor) -> torch.Tensor:
        """The window's state from the LSTM's final hidden states ``h_n`` (layers * directions, B, hidden):
        the last layer's forward state after frame T-1 joined with its backward state after frame 0."""
        return torch.cat([h_n[-2], h_n[-1]], dim=1) if self.cfg.bidirectional else h_n[-1]

    def readouts(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One LSTM pass, both readouts: every step's logits ``(B, T, C)`` (from the outputs) and the
        window's ``(B, C)`` (from the final states), as a ``--both-readouts`` head is trained and read."""
        out, (h_n, _) = self.lstm(self.steps(embeddings))
        return self.classifier(out), self.classifier(self._final_state(h_n))

    def step_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Logits at every step ``(B, T, C)``. With a unidirectional LSTM step t has seen frames 0..t
        only (a causal head; its last step is :meth:`forward`); bidirectionally (``--per-step``) every
        step has seen the whole window."""
        if not self.labels_steps:
            raise ConfigError("per-step logits need a head trained at every step (lrcn train --causal or --per-step)")
        out, _ = self.lstm(self.steps(embeddings))  # (B, T, directions * hidden)
        return self.classifier(out)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.cfg.per_step:  # the window's label: its steps' logits averaged (as the majority rule labels it)
            return self.step_logits(embeddings).mean(1)  # (B, C)
        x = self.steps(embeddings)  # (B, T, latent)
        _, (h_n, _) = self.lstm(x)  # h_n: (layers * directions, B, hidden)
        return self.classifier(self._final_state(h_n))  # (B, C) logits: no softmax (CrossEntropyLoss adds it)


class Ensemble(nn.Module):
    """``cfg.ensemble`` heads of one shape from different initial weights, trained side by side (each on
    its own loss, :class:`EachMember`) and read as one: the mean of their probabilities. Its outputs are
    that mean's logarithm, so a softmax of them is the mean itself and everything that reads a head's
    logits (predict, test, stream, the ONNX export) reads an ensemble unchanged.

    Two runs of one head differ by several points on held-out data (their initial weights and dropout
    differ); the mean of several is steadier than any one of them (docs/long-videos.md)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        member = replace(cfg, ensemble=1)
        self.members = nn.ModuleList(LRCNHead(member) for _ in range(cfg.ensemble))

    @property
    def labels_steps(self) -> bool:
        return self.members[0].labels_steps

    @staticmethod
    def mean(logits: list[torch.Tensor]) -> torch.Tensor:
        """The members' logits -> the log of their mean probability (same shape as one member's)."""
        log_probs = torch.stack(logits).float().log_softmax(-1)
        return torch.logsumexp(log_probs, dim=0) - math.log(len(logits))

    def readouts(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps, windows = zip(*(m.readouts(embeddings) for m in self.members))
        return self.mean(list(steps)), self.mean(list(windows))

    def step_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.mean([m.step_logits(embeddings) for m in self.members])

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.mean([m(embeddings) for m in self.members])


def build_head(cfg: ModelConfig) -> nn.Module:
    """The head ``cfg`` describes: one :class:`LRCNHead`, or an :class:`Ensemble` of ``cfg.ensemble``."""
    return Ensemble(cfg) if cfg.ensemble > 1 else LRCNHead(cfg)


class EveryStep(nn.Module):
    """Training a head with a loss at every step: its logits at every step ``(B, T, C)``, each scored
    against its step's class (a causal head learns to name the action from the first frames on).

    A ``both_readouts`` head gives ``(B, 2T, C)``: the steps', then the window's repeated T times,
    so that the training loss (a mean over the positions) is the mean of the two readouts' losses;
    :func:`lrcn.embedded.train_batches` gives it the window's label at the last T positions."""

    def __init__(self, head: LRCNHead):
        super().__init__()
        self.head = head

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        if not self.head.cfg.both_readouts:
            return self.head.step_logits(embeddings)
        steps, window = self.head.readouts(embeddings)
        return torch.cat([steps, window[:, None].expand_as(steps)], dim=1)


class EachMember(nn.Module):
    """Training an :class:`Ensemble`: each member's training outputs side by side, ``(B, K, C)`` (a
    window classifier's) or ``(B, K * T, C)`` (heads trained at every step, member after member), so that
    :func:`lrcn.train.train_one_epoch`'s loss, a mean over the positions, is the mean of the members' own
    losses: each learns alone, as if trained by itself, and only their reading is shared."""

    def __init__(self, head: Ensemble, every_step: bool):
        super().__init__()
        self.head = head
        self.every_step = every_step

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.every_step:
            return torch.cat([EveryStep(m)(embeddings) for m in self.head.members], dim=1)
        return torch.stack([m(embeddings) for m in self.head.members], dim=1)


def trained_as(head: nn.Module, every_step: bool) -> nn.Module:
    """What training maps a batch through: the head, :class:`EveryStep` (a loss at every step) or, for an
    :class:`Ensemble`, :class:`EachMember` (a loss per member)."""
    if isinstance(head, Ensemble):
        return EachMember(head, every_step)
    return EveryStep(head) if every_step else head


def _in_batches(call, windows, device: torch.device | str, batch_size: int) -> list[np.ndarray] | None:
    """``call`` on ``batch_size`` windows ``(N, T, D)`` at a time, no gradients: each of its outputs (a
    tensor, or a tuple of them) as float32 numpy, concatenated over the batches; None for no windows."""
    x = torch.as_tensor(np.asarray(windows, dtype=np.float32) if not isinstance(windows, torch.Tensor) else windows)
    parts = []
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            out = call(x[s : s + batch_size].to(device))
            parts.append([o.float().cpu().numpy() for o in (out if isinstance(out, tuple) else (out,))])
    return [np.concatenate(p) for p in zip(*parts)] if parts else None


def _no_windows(head: nn.Module, windows, each_step: bool) -> np.ndarray:
    steps = np.shape(windows)[1] if np.ndim(windows) > 1 else 0
    num_classes = head.cfg.num_classes if hasattr(head, "cfg") else 0
    return np.zeros((0, steps, num_classes) if each_step else (0, num_classes), np.float32)


def run_head(head: nn.Module, windows, device: torch.device | str, batch_size: int = 256, each_step: bool = False):
    """The one batched head runner: windows of embeddings ``(N, T, D)`` (array or tensor) -> logits
    ``(N, C)`` float32 numpy (``each_step``: every step's, ``(N, T, C)``, from ``head.step_logits``),
    ``batch_size`` windows at a time, in eval mode, no gradients."""
    head.eval()
    out = _in_batches(head.step_logits if each_step else head, windows, device, batch_size)
    return out[0] if out else _no_windows(head, windows, each_step)


def frame_readout(head: nn.Module) -> str:
    """How ``head`` (run in PyTorch) labels frames (:func:`lrcn.decode.readout_frame_probabilities`):
    ``"window"`` (one label per window, spread over its frames), ``"steps"`` (``--per-step``: each step
    its own) or ``"both"`` (``--both-readouts``: the two combined). An ONNX head, or any other, gives
    the window's unless it was exported with its steps (``lrcn export`` of such a head)."""
    cfg = getattr(head, "cfg", None)
    if not hasattr(head, "readouts") or cfg is None:
        return "window"
    return getattr(cfg, "readout", "window")


class FrameReadouts(nn.Module):
    """What lrcn reads from a head that labels each step (:func:`frame_readout` ``"steps"`` or ``"both"``),
    as one module of one LSTM pass: ``(window logits (B, C), step logits (B, T, C))``, the window's
    from its steps' mean (``--per-step``) or from the final states (``--both-readouts``).
    :func:`window_probabilities` runs it, and ``lrcn export`` writes it as ``head.onnx`` (two outputs),
    so PyTorch and ONNX Runtime read such a head the same way."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head, self.readout = head, frame_readout(head)
        if self.readout == "window":
            raise ConfigError("FrameReadouts: this head gives one label per window, not one per step")

    def forward(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps, window = self.head.readouts(embeddings)
        return (steps.mean(1) if self.readout == "steps" else window), steps


def labels_each_step(head: nn.Module) -> bool:
    """A head with probabilities for each step (``--per-step``, ``--both-readouts``), run in PyTorch."""
    return frame_readout(head) != "window"


def window_probabilities(head: nn.Module, windows, device: torch.device | str, batch_size: int = 256):
    """Softmax probabilities of windows ``(N, T, D)``: ``(N, C)`` per window and, for a head that labels
    each step, ``(N, T, C)`` per step (else None), from one pass of the head (a ``--per-step`` head's
    window: its steps' mean logits; a ``--both-readouts`` head's: its window readout)."""
    from .metrics import softmax

    readout = frame_readout(head)
    if readout == "window":
        return softmax(run_head(head, windows, device, batch_size)), None

    head.eval()
    out = _in_batches(FrameReadouts(head), windows, device, batch_size)
    window, steps = out if out else (_no_windows(head, windows, False), _no_windows(head, windows, True))
    return softmax(window), softmax(steps)
