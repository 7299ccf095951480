"""Items of a split joined to their cached embeddings, and the windows drawn from them.

Training draws, each epoch, one window of ``num_frames`` consecutive sampled
frames per item at a seeded random start, and one of the cached views. For a
pre-processed clip there is one window (the clip itself, as in the seed);
for a raw video every start is possible, which the seed's one fixed clip
per video never used. Evaluation uses the centre view and a fixed start per
item: the same start ``lrcn preprocess`` picks for that video.
"""

from __future__ import annotations

import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from . import clips as clipmath
from . import windows
from .backbone import FrameEmbedder, create_embedder, worth_compiling
from .checkpoint import Checkpoint
from .annotations import step_labels, window_labels
from .datasets import Dataset, VideoItem, load_dataset, with_classes
from .errors import CacheError, ConfigError, VideoError
from .config import TEST_VIEWS
from .features import EmbeddingCache, FeatureSpec, Request, extract
from .model import LRCNHead, run_head
from .video import count_packets, probe

log = logging.getLogger(__name__)


@dataclass
class Embedded:
    """One item with its embeddings ``(V, T, D)`` (memory-mapped unless loaded to RAM)."""

    item: VideoItem
    embeddings: np.ndarray
    steps: np.ndarray | None = None  # an annotated video: each sampled frame's class (-1: unlabelled)
    windows: np.ndarray | None = None  # ... and each window start's majority class (-1: not drawn)

    @property
    def length(self) -> int:
        return self.embeddings.shape[1]

    def label_at(self, start: int) -> int:
        """The class of the window starting at ``start``: the item's, or (annotated) its majority."""
        return self.item.label if self.windows is None else int(self.windows[start])

    def step_targets(self, start: int, num_frames: int) -> np.ndarray:
        """``(T,)`` the class of each step of a window (-100: unlabelled, ignored by the loss)."""
        if self.steps is None:
            return np.full(num_frames, self.item.label)
        return np.where(self.steps[start:start + num_frames] >= 0, self.steps[start:start + num_frames], -100)


def requests_for(dataset: Dataset, items: Sequence[VideoItem], train_views: Sequence[str]) -> list[Request]:
    """Cache requests: items of the train list get the training views, test items the centre only."""
    return [
        Request(str(dataset.root / item.path), tuple(train_views) if item.split != "test" else TEST_VIEWS, item.path)
        for item in items
    ]


def frames_to_embed(requests: Sequence[Request], fps: float, sample: int = 20) -> int:
    """About how many frames ``requests`` hold at ``fps``, all views counted, from the durations
    of up to ``sample`` of them. A header's duration is not trusted: a file's packets are counted
    (no decoding), so an absurd frame count in a header cannot trigger a compile."""
    step = max(1, len(requests) // sample)
    durations = []
    for r in requests[::step][:sample]:
        with contextlib.suppress(VideoError):
            info = probe(r.path)
            durations.append(min(info.duration, count_packets(r.path) / info.fps) if info.fps > 0 else info.duration)
    if not durations:
        return 0
    return int(sum(durations) / len(durations) * fps * sum(len(r.views) for r in requests))


def should_compile(compile: bool | None, requests: Sequence[Request], fps: float, device, arch: str) -> bool:
    """``compile`` as asked; ``None`` (auto): when ``requests`` hold enough frames for compiling
    ``arch`` to pay back (:func:`lrcn.backbone.worth_compiling`)."""
    if compile is not None:
        return compile
    return worth_compiling(frames_to_embed(requests, fps), torch.device(device), arch)


def embedder_if_needed(dataset: Dataset, items: Sequence[VideoItem], cache: EmbeddingCache,
                       train_views: Sequence[str], device, precision: str,
                       compile: bool | None = None, runtime: str = "auto") -> FrameEmbedder | None:
    """A backbone only when some entry is missing: a complete cache needs no weights file at all.

    ``compile=None`` compiles it when there is enough to embed (:func:`should_compile`).
    """
    dataset.check_backbone(cache.spec.backbone.arch)
    missing = [r for r in requests_for(dataset, items, train_views) if not cache.has(r)]
    if not missing:
        return None
    return create_embedder(cache.spec.backbone, device=device, precision=precision, runtime=runtime,
                           compile=should_compile(compile, missing, cache.spec.fps, device, cache.spec.backbone.arch))


def embed_dataset(dataset: Dataset, cache: EmbeddingCache, views: Sequence[str], device, precision: str,
                  runtime: str = "auto",
                  compile: bool | None = None, batch_size: int = 32, workers: int = 2,
                  shard: tuple[int, int] = (0, 1), progress: bool = True) -> tuple[dict, FrameEmbedder | None]:
    """The features step, as ``lrcn features`` and the demo run it: every item of ``dataset`` (this
    shard's share) embedded once into ``cache`` — train-list items with ``views``, test items with
    the centre view. Builds the CNN only if something is missing. Returns :func:`extract`'s summary
    and the CNN used (None: everything was cached)."""
    dataset.check_sampling(cache.spec.fps, 1, "lrcn features")
    dataset.check_backbone(cache.spec.backbone.arch)
    i, n = shard
    embedder = embedder_if_needed(dataset, dataset.items[i::n], cache, views, device, precision, compile, runtime)
    summary = extract(requests_for(dataset, dataset.items, views), cache, embedder=embedder, batch_size=batch_size,
                      workers=workers, shard=shard, progress=progress)
    return summary, embedder


def features(cfg, progress: bool = True) -> tuple[dict, FrameEmbedder | None]:
    """``lrcn features``: :func:`embed_dataset` of the dataset a :class:`lrcn.config.FeaturesConfig` names."""
    from .datasets import load_dataset
    from .distributed import local_device

    dataset = load_dataset(cfg.data_dir, cfg.ucf_list_dir, cfg.split, cfg.number_of_classes, cfg.background)
    return embed_dataset(dataset, EmbeddingCache(cfg.cache_dir, cfg.feature_spec()), cfg.views,
                         local_device(cfg.device), cfg.precision, runtime=cfg.runtime, compile=cfg.compile, batch_size=cfg.batch_size,
                         workers=cfg.num_workers, shard=cfg.shard, progress=progress)


def load_embedded(
    dataset: Dataset,
    items: Sequence[VideoItem],
    cache: EmbeddingCache,
    train_views: Sequence[str],
    num_frames: int,
    compute_missing: bool = True,
    embedder: FrameEmbedder | None = None,
    workers: int = 2,
    to_ram: bool = False,
    progress: bool = True,
) -> tuple[list[Embedded], list[dict]]:
    """Embeddings of ``items``, computing missing cache entries first when allowed.

    Returns the usable items and a list of ``{"video", "reason"}`` for those
    left out (undecodable, or shorter than one window).
    """
    requests = requests_for(dataset, items, train_views)
    problems: list[dict] = []
    if compute_missing:
        summary = extract(requests, cache, embedder=embedder, workers=workers, progress=progress)
        problems.extend(summary["failed"])
    failed = {p["video"] for p in problems}
    out = []
    for item, request in zip(items, requests):
        if item.path in failed:
            continue
        if not compute_missing and not cache.has(request):
            # Another process computed the cache; a video it could not decode has no entry.
            problems.append({"video": item.path, "reason": "no cached embeddings (not decodable?)"})
            continue
        try:
            embeddings = cache.load(request, mmap=not to_ram)
        except CacheError as exc:  # a damaged, wrong or non-finite entry: it was removed; compute it again once
            if not compute_missing:
                problems.append({"video": item.path, "reason": str(exc)})
                continue
            log.warning("%s", exc)
            again = extract([request], cache, embedder=embedder, workers=0, progress=False)
            if again["failed"]:
                problems.extend(again["failed"])
                continue
            try:
                embeddings = cache.load(request, mmap=not to_ram)
            except CacheError as exc2:
                problems.append({"video": item.path, "reason": str(exc2)})
                continue
        if embeddings.shape[1] < num_frames:
            problems.append({"video": item.path, "reason": f"{embeddings.shape[1]} sampled frames < {num_frames}"})
            continue
        if item.spans:  # an annotated long video: a class per sampled frame and per window
            background = dataset.classes.index(dataset.background) if dataset.background else None
            steps = step_labels(item.spans, embeddings.shape[1], cache.spec.fps, background)
            out.append(Embedded(item, embeddings, steps, window_labels(steps, num_frames)))
            continue
        out.append(Embedded(item, embeddings))
    return out, problems


def eval_start(item: VideoItem, length: int, num_frames: int, seed: int) -> int:
    """The fixed evaluation start of an item: the seeded start ``lrcn preprocess`` uses."""
    starts = clipmath.clip_starts(length, num_frames, 1, random.Random(f"{seed}:{item.video_id}"))
    return starts[0] if starts else 0


def train_batches(
    data: Sequence[Embedded], num_frames: int, batch_size: int, rng: np.random.Generator,
    shuffle_frames: bool = False, rank: int = 0, world_size: int = 1, windows_per_item: int | None = None,
    every_step: bool = False, window_label: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """One epoch of shuffled batches: ``(B, T, D)`` float32, ``(B,)`` labels (``every_step``: ``(B, T)``,
    each step's class; with ``window_label`` too, ``(B, 2T)``: then the window's class T times, as a
    ``--both-readouts`` head is trained: :class:`lrcn.model.EveryStep`), and the size of the *global*
    batch they belong to (all ranks together; the loss is a mean over it). An annotated video's window is labelled by its majority
    (:func:`lrcn.annotations.window_labels`), and a mostly unlabelled window is not drawn.

    ``windows_per_item``: ``None`` = every window of every item, ``N`` = N random ones
    (:func:`lrcn.windows.draw_epoch`). All random choices come from ``rng`` (seeded by
    the epoch), so an epoch is the same whether or not the run was interrupted before
    it. Under DDP every rank draws the same global order and takes its slice of each
    global batch of ``batch_size * world_size`` windows.
    """
    draws = windows.draw_epoch([e.length for e in data], [e.embeddings.shape[0] for e in data], num_frames,
                               windows_per_item, rng, [None if e.windows is None else e.windows >= 0 for e in data])
    perms = [rng.permutation(num_frames) for _ in draws] if shuffle_frames else None
    for part, global_count in windows.rank_slices(len(draws), batch_size, rank, world_size):
        xs, ys = [], []
        for k in range(part.start, part.stop):
            d = draws[k]
            e = data[d.item]
            x = np.asarray(e.embeddings[d.view, d.start : d.start + num_frames], dtype=np.float32)
            xs.append(x[perms[k]] if perms is not None else x)
            if not every_step:
                ys.append(e.label_at(d.start))
            elif window_label:
                window = np.full(num_frames, e.label_at(d.start))
                ys.append(np.concatenate([e.step_targets(d.start, num_frames), window]))
            else:
                ys.append(e.step_targets(d.start, num_frames))
        if xs:
            yield torch.from_numpy(np.stack(xs)), torch.tensor(np.array(ys)), global_count
        else:  # this rank has no share of a short last batch; it still steps (DDP needs every rank)
            yield (torch.zeros((0, num_frames, data[0].embeddings.shape[2])),
                   torch.zeros((0, num_frames * (2 if window_label else 1)) if every_step else (0,), dtype=torch.long),
                   global_count)


def eval_windows(
    data: Sequence[Embedded], num_frames: int, seed: int, all_windows: bool = False,
    shuffle_frames: bool = False,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(item index, window start, (T, D) float32)`` for evaluation, centre view.

    ``all_windows=False`` gives the one fixed clip per item (the seed's clip
    accuracy); ``True`` every window (video accuracy).
    """
    rng = np.random.default_rng(seed)
    for i, e in enumerate(data):
        if all_windows:
            starts = clipmath.sliding_windows(e.length, num_frames)
        else:
            starts = [eval_start(e.item, e.length, num_frames, seed)]
        for s in starts:
            x = np.asarray(e.embeddings[0, s : s + num_frames], dtype=np.float32)
            yield i, s, x[rng.permutation(num_frames)] if shuffle_frames else x


def video_probabilities(head, e: Embedded, num_frames: int, device, batch: int = 256):
    """Every window of one video's first cached view (the centre one, where cached), as ``lrcn predict``
    labels a video: starts ``(W,)``, window probabilities ``(W, C)`` and frame probabilities
    ``(L, C)`` (as the head reads frames: :func:`lrcn.decode.readout_frame_probabilities`), ``batch``
    windows at a time."""
    from .decode import readout_frame_probabilities
    from .model import frame_readout, window_probabilities

    starts = np.array(clipmath.sliding_windows(e.length, num_frames), int)
    probs, steps = [], []
    for k in range(0, len(starts), batch):
        x = np.stack([np.asarray(e.embeddings[0, s:s + num_frames], np.float32) for s in starts[k:k + batch]])
        window, step = window_probabilities(head, x, device)
        probs.append(window)
        if step is not None:
            steps.append(step)
    probs = np.concatenate(probs)
    frames = readout_frame_probabilities(frame_readout(head), probs, np.concatenate(steps) if steps else None,
                                         starts, num_frames, e.length)
    return starts, probs, frames


def eval_batches(data: Sequence[Embedded], num_frames: int, seed: int, shuffle_frames: bool = False, rank: int = 0,
                 world_size: int = 1, batch_size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Validation batches ``((B, T, D), (B,))``: every window of this rank's share of ``data``, centre view."""
    share = list(data)[rank::world_size]
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for i, s, x in eval_windows(share, num_frames, seed, all_windows=True, shuffle_frames=shuffle_frames):
        if share[i].label_at(s) < 0:
            continue  # an annotated video's mostly unlabelled window: not scored
        xs.append(x)
        ys.append(share[i].label_at(s))
        if len(xs) == batch_size:
            yield torch.from_numpy(np.stack(xs)), torch.tensor(ys)
            xs, ys = [], []
    if xs:
        yield torch.from_numpy(np.stack(xs)), torch.tensor(ys)


def predict_windows(head: torch.nn.Module, windows: Iterator[tuple[int, int, np.ndarray]], device: torch.device,
                    batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the head over windows. Returns item indices, starts, and logits ``(N, C)``."""
    idx, starts, logits = [], [], []
    batch: list[np.ndarray] = []

    def flush():
        logits.append(run_head(head, np.stack(batch), device, batch_size))
        batch.clear()

    for i, s, x in windows:
        idx.append(i)
        starts.append(s)
        batch.append(x)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    num_classes = head.cfg.num_classes if hasattr(head, "cfg") else 0
    return np.array(idx, int), np.array(starts, int), (np.concatenate(logits) if logits else np.zeros((0, num_classes)))


@dataclass
class TestData:
    """A checkpoint's head and the cached embeddings of the test list it is evaluated on."""

    head: LRCNHead
    ckpt: Checkpoint
    dataset: Dataset
    spec: FeatureSpec
    data: list[Embedded]
    problems: list[dict]  # test videos left out, with the reason


def load_test_data(model, data_dir: str, ucf_list_dir: str | None, split: int | None, cache_dir: str, workers: int,
                   progress: bool) -> TestData:
    """Everything the test modes share, for ``model`` (an :class:`lrcn.inference.Model` of a checkpoint):
    the matching dataset and the test embeddings (its backbone built only if some are missing)."""
    ckpt = model.ckpt
    if ckpt is None:
        raise ConfigError(f"{model.checkpoint}: lrcn test measures a trained checkpoint; a built-in model has no test list")
    classes = list(ckpt.class_names)
    split = split or ckpt.train.split
    background = getattr(ckpt.train, "background", None)
    dataset = load_dataset(data_dir, ucf_list_dir, split, len(classes), background)
    if dataset.kind == "annotated":  # annotations name their classes: read them all, as the model numbers them
        dataset = with_classes(load_dataset(data_dir, ucf_list_dir, split, None, background), classes)
    if list(dataset.classes) != classes:
        raise ConfigError(f"{data_dir}: classes differ from the checkpoint's ({list(dataset.classes)[:3]}... vs "
                          f"{classes[:3]}...)")
    test_items = dataset.subset("test")
    if not test_items:
        raise ConfigError(f"{data_dir}: no test videos in split {split}")
    spec = ckpt.features
    dataset.check_sampling(spec.fps, ckpt.sampling.num_frames, f"the checkpoint ({model.checkpoint})")
    dataset.check_backbone(spec.backbone.arch)
    cache = EmbeddingCache(cache_dir, spec)
    missing = [r for r in requests_for(dataset, test_items, TEST_VIEWS) if not cache.has(r)]
    embedder = (model.backbone(compile=should_compile(None, missing, spec.fps, model.device, spec.backbone.arch))
                if missing else None)
    data, problems = load_embedded(dataset, test_items, cache, TEST_VIEWS, ckpt.sampling.num_frames,
                                   embedder=embedder, workers=workers, progress=progress)
    return TestData(model.head, ckpt, dataset, spec, data, problems)
