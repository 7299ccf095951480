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

Under ``torchrun`` the CNN and the head are one DistributedDataParallel
module: every rank draws the same seeded epoch order, decodes its slice of
each global batch, and the loss is the mean over the global batch, so N
processes step like one process with N times the batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from .backbone import FrameEmbedder
from .config import BACKBONES
from .steps import CROP
from .datasets import VideoItem
from .distributed import Distributed, usable_workers
from .embedded import eval_start
from .errors import ConfigError, VideoError
from .features import FeatureSpec, decode_sampled
from .io import atomic_path


def last_stage(embedder: FrameEmbedder) -> nn.Module:
    path = BACKBONES[embedder.spec.arch].last_stage
    if path is None:
        raise ConfigError(f"--train-backbone last is not defined for {embedder.spec.arch}")
    return embedder.cnn.get_submodule(path)


def unfreeze_last_stage(embedder: FrameEmbedder) -> list[nn.Parameter]:
    params = list(last_stage(embedder).parameters())
    for p in params:
        p.requires_grad_(True)
    return params


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


class RankBatches(Sampler):
    """This rank's slice of each global batch of a seeded permutation (all ranks draw the same one)."""

    def __init__(self, num_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.rank, self.world_size = rank, world_size

    def __iter__(self):
        order = torch.randperm(self.num_items, generator=torch.Generator().manual_seed(self.seed)).tolist()
        step = self.batch_size * self.world_size
        for b in range(0, self.num_items, step):
            yield order[b + self.rank * self.batch_size : min(b + (self.rank + 1) * self.batch_size, b + step)]

    def __len__(self) -> int:
        return -(-self.num_items // (self.batch_size * self.world_size))


def loader(dataset: RawClips, batch_size: int, workers: int, shuffle_seed: int | None,
           dist: Distributed | None = None) -> DataLoader:
    workers = usable_workers(workers)
    if shuffle_seed is None:
        return DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=_collate)
    rank, world_size = (dist.rank, dist.world_size) if dist else (0, 1)
    return DataLoader(dataset, batch_sampler=RankBatches(len(dataset), batch_size, shuffle_seed, rank, world_size),
                      num_workers=workers, collate_fn=_collate)


class FineTuned(nn.Module):
    """The CNN (its last stage trainable) and the head as one module, so DDP averages both gradients."""

    def __init__(self, embedder: FrameEmbedder, head: nn.Module):
        super().__init__()
        self.embedder, self.head = embedder, head

    def train(self, mode: bool = True) -> "FineTuned":
        super().train(mode)
        self.embedder.eval()  # BatchNorm keeps ImageNet's statistics; the head's dropout follows ``mode``
        return self

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Clips ``(B, T, 224, 224, 3)`` uint8 -> logits ``(B, C)``, recording gradients where enabled."""
        b, t = frames.shape[:2]
        emb = self.embedder.embed(frames.reshape(b * t, *frames.shape[2:]))  # (B*T, D)
        return self.head(emb.reshape(b, t, -1))


def save_backbone(embedder: FrameEmbedder, path: Path) -> None:
    """The CNN as a full torchvision state dict (its unused classifier at a fixed random init)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        full = torchvision.models.get_model(embedder.spec.arch, weights=None).state_dict()
    full.update({k: v.detach().cpu() for k, v in embedder.cnn.state_dict().items()})
    with atomic_path(path) as tmp:
        torch.save(full, tmp)


def train_batches(root: Path, items, spec: FeatureSpec, cfg, epoch: int, dist: Distributed):
    """One epoch of decoded clips for :func:`lrcn.train.train_one_epoch`: ``(frames (B, T, 224, 224, 3)
    uint8, labels, global batch size)``; a rank with no decodable share of a batch gets an empty one."""
    data = RawClips(root, items, spec, cfg.num_frames, cfg.seed, train=True, epoch=epoch)
    for batch in loader(data, cfg.batch_size, cfg.num_workers, cfg.seed * 1000 + epoch, dist):
        if batch is None:
            batch = (torch.zeros((0, cfg.num_frames, CROP, CROP, 3), dtype=torch.uint8), torch.zeros((0,), dtype=torch.long))
        (global_count,) = dist.all_reduce_sum([len(batch[1])])
        yield batch[0], batch[1], int(global_count)


def eval_batches(root: Path, items, spec: FeatureSpec, cfg, dist: Distributed):
    """The fixed centre clip of each of this rank's items, for :func:`lrcn.train.evaluate`."""
    data = RawClips(root, list(items)[dist.rank :: dist.world_size], spec, cfg.num_frames, cfg.seed, train=False)
    for batch in loader(data, cfg.batch_size, cfg.num_workers, None):
        if batch is not None:
            yield batch


def load_backbone(embedder: FrameEmbedder, path: Path) -> None:
    """Resume: the fine-tuned CNN a checkpoint points at (its classifier, unused, left out)."""
    own = embedder.cnn.state_dict()
    embedder.cnn.load_state_dict({k: v for k, v in torch.load(path, map_location="cpu", weights_only=True).items()
                                  if k in own})


