"""``lrcn train --train-backbone last``: fine-tune the CNN's last stage end to end, no cache.

The frozen-backbone path embeds every frame once; here the last stage of the
CNN (ResNet ``layer4``, MobileNetV2's last block) learns too, so frames are
decoded and sent through the CNN every epoch, with the seed's augmentation
done for real: a random 224 crop of the 256-resized frame and a random
horizontal flip per clip. BatchNorm keeps ImageNet's statistics. After each
epoch the CNN is written as a torchvision state dict beside the checkpoint,
and the checkpoint's feature spec points at it, so ``lrcn test``,
``test-continuous`` and ``predict`` use the fine-tuned CNN (as ``--weights
PATH``; the embedding cache keys change with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .backbone import CROP, FrameEmbedder
from .datasets import VideoItem
from .embedded import eval_start
from .errors import ConfigError, VideoError, raise_if_diverged
from .features import FeatureSpec, decode_sampled
from .io import atomic_path


def last_stage(embedder: FrameEmbedder) -> nn.Module:
    cnn = embedder.cnn
    if embedder.spec.arch.startswith("resnet"):
        return cnn.layer4
    if embedder.spec.arch == "mobilenet_v2":
        return cnn.features[-1]
    raise ConfigError(f"--train-backbone last is not defined for {embedder.spec.arch}")


def unfreeze_last_stage(embedder: FrameEmbedder) -> list[nn.Parameter]:
    params = list(last_stage(embedder).parameters())
    for p in params:
        p.requires_grad_(True)
    return params


def embed_with_grad(embedder: FrameEmbedder, frames: torch.Tensor) -> torch.Tensor:
    """Like ``FrameEmbedder.forward`` but recording gradients (BatchNorm stays in eval mode)."""
    return embedder._embed(frames)  # forward() is the same computation under inference_mode


class RawClips(Dataset):
    """Decoded clips ``(T, 224, 224, 3)`` uint8: random window/crop/flip for training, centre for evaluation."""

    def __init__(self, root: Path, items: Sequence[VideoItem], spec: FeatureSpec, num_frames: int, seed: int,
                 train: bool, epoch: int = 0):
        self.root, self.items, self.spec = root, list(items), spec
        self.num_frames, self.seed, self.train, self.epoch = num_frames, seed, train, epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        item = self.items[i]
        try:
            frames = decode_sampled(self.root / item.path, self.spec)  # (T, H, W, 3), shorter side 256
        except VideoError:
            return None
        length = len(frames)
        if length < self.num_frames:
            return None
        rng = np.random.default_rng([self.seed, self.epoch, i])
        if self.train:
            start = int(rng.integers(0, length - self.num_frames + 1))
            top = int(rng.integers(0, frames.shape[1] - CROP + 1))
            left = int(rng.integers(0, frames.shape[2] - CROP + 1))
            flip = bool(rng.integers(0, 2))
        else:
            start = eval_start(item, length, self.num_frames, self.seed)
            top, left, flip = (frames.shape[1] - CROP) // 2, (frames.shape[2] - CROP) // 2, False
        clip = frames[start : start + self.num_frames, top : top + CROP, left : left + CROP]
        if flip:
            clip = clip[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(clip)), item.label


def _collate(batch):
    batch = [b for b in batch if b is not None]
    if not batch:
        return None
    return torch.stack([b[0] for b in batch]), torch.tensor([b[1] for b in batch])


def loader(dataset: RawClips, batch_size: int, workers: int, shuffle_seed: int | None) -> DataLoader:
    generator = torch.Generator().manual_seed(shuffle_seed) if shuffle_seed is not None else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle_seed is not None, generator=generator,
                      num_workers=workers, collate_fn=_collate)


def clip_logits(embedder: FrameEmbedder, head: nn.Module, frames: torch.Tensor, grad: bool) -> torch.Tensor:
    b, t = frames.shape[:2]
    flat = frames.reshape(b * t, *frames.shape[2:])
    emb = embed_with_grad(embedder, flat) if grad else embedder(flat).clone()
    return head(emb.reshape(b, t, -1))  # (B, C)


def save_backbone(embedder: FrameEmbedder, path: Path) -> None:
    """The CNN as a full torchvision state dict (its unused classifier at a fixed random init)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        full = torchvision.models.get_model(embedder.spec.arch, weights=None).state_dict()
    full.update({k: v.detach().cpu() for k, v in embedder.cnn.state_dict().items()})
    with atomic_path(path) as tmp:
        torch.save(full, tmp)


def train_epoch(embedder: FrameEmbedder, head: nn.Module, optimizer, root: Path, items, cfg, epoch: int) -> dict:
    """One epoch end to end through the CNN's last stage and the head."""
    head.train()
    torch.manual_seed(cfg.seed * 1000 + epoch)
    data = RawClips(root, items, embedder_spec(embedder, cfg), cfg.num_frames, cfg.seed, train=True, epoch=epoch)
    loss_fn = nn.CrossEntropyLoss()
    total, correct, seen = 0.0, 0, 0
    for step, batch in enumerate(loader(data, cfg.batch_size, cfg.num_workers, cfg.seed * 1000 + epoch)):
        if batch is None:
            continue
        frames, y = batch
        y = y.to(embedder.device)
        logits = clip_logits(embedder, head, frames, grad=True)
        loss = loss_fn(logits, y)
        raise_if_diverged(loss.item(), epoch, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    return {"train_loss": total / max(seen, 1), "train_acc": correct / max(seen, 1)}


@torch.no_grad()
def evaluate(embedder: FrameEmbedder, head: nn.Module, root: Path, items, cfg) -> dict:
    """Loss and accuracy of the fixed centre clip of each item."""
    if not items:
        return {"val_loss": None, "val_acc": None}
    head.eval()
    data = RawClips(root, items, embedder_spec(embedder, cfg), cfg.num_frames, cfg.seed, train=False)
    losses, correct, seen = 0.0, 0, 0
    for batch in loader(data, cfg.batch_size, cfg.num_workers, None):
        if batch is None:
            continue
        frames, y = batch
        y = y.to(embedder.device)
        logits = clip_logits(embedder, head, frames, grad=False)
        losses += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    return {"val_loss": losses / max(seen, 1), "val_acc": correct / max(seen, 1)}


def embedder_spec(embedder: FrameEmbedder, cfg) -> FeatureSpec:
    return FeatureSpec(embedder.spec, cfg.feature_spec().fps, cfg.crop)
