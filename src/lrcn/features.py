"""The embedding cache: every sampled frame goes through the backbone once.

An entry holds the embeddings of one video (or pre-processed clip) as a
float16 array ``(V, T, D)``: V fixed views (crops/flips) x T frames sampled by
time at the training fps x D features. It is stored as ``<key>.npy`` and read
memory-mapped. The key is a hash of exactly what decides the numbers: the
video's content fingerprint, the sampling fps, the views, the backbone and
its weights, the resize/crop mode and the cache format version. Changing any
of them computes new entries; nothing stale is ever reused.

What is cached for training: the seed augmented each epoch with a random
224 crop of the 256-resized frame and a random horizontal flip. A frozen
backbone cannot see a new random crop without running again, so we cache a
few fixed views per frame (default: centre, flipped centre, top-left,
bottom-right) and each epoch draws one view per clip. Test items cache only
the centre view (the seed's test transform).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from tqdm import tqdm

from .backbone import FrameEmbedder, create_embedder, weights_identity
from .steps import CROP, INTERPOLATION, RESIZE, StepEmbedder, clip_geometry, decode_size, make_views
from .distributed import usable_workers
from .errors import CacheError, VideoError
from .config import FEATURE_DIMS, FeatureSpec
from .io import atomic_path, remove_stale_temporaries, write_json_atomic
from .video import iter_frames_at_fps, probe, require_file

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: whole-file fingerprints; each entry has a <key>.json record

def fingerprint(path: str | os.PathLike) -> str:
    """Content fingerprint: SHA-1 of the whole file (an edit anywhere in it makes a new key).

    SHA-1 reads over 1 GB/s here, far faster than decoding the same file
    (``benchmarks/fingerprint.py`` prints both), so hashing every byte costs
    little and no same-size edit can reuse stale embeddings.
    """
    try:
        return _sha1(path)
    except OSError as exc:  # a directory, a broken link, no permission: the same one line as decoding gives
        require_file(path)
        raise VideoError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _sha1(path: str | os.PathLike) -> str:
    digest = hashlib.sha1()  # read in chunks: hashlib.file_digest is Python 3.11+, lrcn supports 3.10
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry_key(video_fingerprint: str, spec: FeatureSpec, views: Sequence[str]) -> str:
    payload = {
        "version": CACHE_VERSION,
        "video": video_fingerprint,
        "fps": spec.fps,
        "crop": spec.crop,
        "resize": RESIZE,
        "crop_size": CROP,
        "views": list(views),
        "arch": spec.backbone.arch,
        "weights": weights_identity(spec.backbone),
    }
    clip = clip_geometry(spec.backbone.arch)
    if clip is not None:  # a clip backbone: the clip each step is embedded from decides the numbers too
        payload["clip"] = {"frames": clip.frames, "fps": clip.fps, "placement": clip.placement}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def decode_sampled(path: str | os.PathLike, spec: FeatureSpec) -> np.ndarray:
    """All frames of ``path`` sampled at ``spec.fps``, resized for cropping: (T, H, W, 3) uint8."""
    info = probe(path)
    size = decode_size(info.width, info.height, spec.crop)
    frames = [f.rgb for f in iter_frames_at_fps(path, spec.fps, size, INTERPOLATION)]
    if not frames:
        raise VideoError(f"{path}: no frame could be decoded")
    return np.stack(frames)


@dataclass(frozen=True)
class Request:
    """One cache entry to have: a video and the views to embed."""

    path: str  # absolute or relative to the working directory
    views: tuple[str, ...]
    name: str = ""  # for reports (relative dataset path)


class EmbeddingCache:
    """A folder of ``<key>.npy`` entries for one :class:`FeatureSpec`."""

    def __init__(self, root: str | os.PathLike, spec: FeatureSpec):
        self.root = Path(root)
        self.spec = spec
        self._keys: dict[tuple[str, tuple[str, ...]], str] = {}

    def key(self, path: str, views: Sequence[str]) -> str:
        cache_key = (str(path), tuple(views))
        if cache_key not in self._keys:
            self._keys[cache_key] = entry_key(fingerprint(path), self.spec, views)
        return self._keys[cache_key]

    def entry_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def has(self, request: Request) -> bool:
        try:
            path = self.entry_path(self.key(request.path, request.views))
        except VideoError:  # unreadable: decoding it will say why
            return False
        return path.is_file() and path.with_suffix(".json").is_file()

    def load(self, request: Request, mmap: bool = True) -> np.ndarray:
        """The (V, T, D) float16 embeddings of ``request``, checked against the record written with them.

        Raises:
            CacheError: the entry is missing, or unreadable, of the wrong type, shape or size, holds
                non-finite values, or is not the array that was stored under this key (such an entry
                is removed, so the next run computes it again).
        """
        key = self.key(request.path, request.views)
        path = self.entry_path(key)
        name = request.name or request.path
        try:
            array = np.load(path, mmap_mode="r" if mmap else None)
        except FileNotFoundError:
            raise CacheError(f"{name}: no cached embeddings (run 'lrcn features')") from None
        except (ValueError, OSError) as exc:
            self._discard(path)
            raise CacheError(f"{name}: damaged cache entry {path.name} removed ({exc}); run again to recompute") from None
        dim = FEATURE_DIMS.get(self.spec.backbone.arch)
        problem = None
        if array.dtype != np.float16 or array.ndim != 3:
            problem = f"a {array.dtype} array of shape {array.shape}, not (views, frames, features) float16"
        elif array.shape[0] != len(request.views) or array.shape[1] < 1 or (dim and array.shape[2] != dim):
            problem = (f"shape {array.shape}, expected ({len(request.views)}, frames >= 1, "
                       f"{dim or 'features'}) for views {','.join(request.views)}")
        elif not np.isfinite(array).all():
            problem = "non-finite values (NaN/inf)"
        else:
            problem = self._unlike_record(key, path, array, request)
        if problem:
            self._discard(path)
            raise CacheError(f"{name}: cache entry {path.name} holds {problem}; removed, run again to recompute")
        return array

    @staticmethod
    def _unlike_record(key: str, path: Path, array: np.ndarray, request: Request) -> str | None:
        """How the entry differs from the record written beside it (None: it is what was stored)."""
        try:
            record = json.loads(path.with_suffix(".json").read_text())
        except (OSError, ValueError):
            return "no readable record of what it is (<key>.json)"
        if not isinstance(record, dict):
            return "its record (<key>.json) is not one lrcn writes"
        shape = [len(request.views), record.get("frames"), record.get("features")]
        if record.get("key") != key or record.get("views") != list(request.views):
            return f"the entry of another key or views ({record.get('key')}, {record.get('views')})"
        if list(array.shape) != shape or record.get("dtype") != "float16":
            return f"shape {tuple(array.shape)}, but {tuple(shape)} float16 was stored"
        if _sha1(path) != record.get("sha1"):
            return "other numbers than were stored (the file was replaced or changed)"
        return None

    @staticmethod
    def _discard(path: Path) -> None:
        for p in (path, path.with_suffix(".json")):
            try:
                p.unlink(missing_ok=True)
            except OSError:  # a read-only cache: the entry stays, and is refused again next time
                pass

    def store(self, request: Request, embeddings: np.ndarray) -> None:
        """Write the entry, then its record (key, video, views, frames, features, dtype, SHA-1)."""
        if not np.isfinite(embeddings).all():
            raise CacheError(f"{request.name or request.path}: the backbone produced non-finite embeddings "
                             f"(NaN/inf); try --precision fp32")
        key = self.key(request.path, request.views)
        path = self.entry_path(key)
        array = np.ascontiguousarray(embeddings.astype(np.float16))
        with atomic_path(path, keep_suffix=False) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, array)
            digest = _sha1(tmp)
        record = {"key": key, "video": request.name or str(request.path), "views": list(request.views),
                  "frames": int(array.shape[1]), "features": int(array.shape[2]), "dtype": "float16",
                  "sha1": digest, "spec": asdict(self.spec)}
        write_json_atomic(path.with_suffix(".json"), record)

    def write_spec(self) -> None:
        info = self.root / "spec.json"
        if not info.is_file():
            write_json_atomic(info, asdict(self.spec))


class _DecodeDataset(TorchDataset):
    """Decoding in DataLoader workers, so it overlaps the backbone in the main process."""

    def __init__(self, requests: Sequence[Request], spec: FeatureSpec):
        self.requests = list(requests)
        self.spec = spec

    def __len__(self) -> int:
        return len(self.requests)

    def __getitem__(self, i: int):
        request = self.requests[i]
        try:
            views = make_views(decode_sampled(request.path, self.spec), request.views)
            return i, torch.from_numpy(views), ""
        except VideoError as exc:
            return i, None, str(exc)


def _collate_one(batch):
    return batch[0]


def embed_views(embedder: FrameEmbedder, views: torch.Tensor, batch_size: int) -> np.ndarray:
    """(V, T, 224, 224, 3) uint8 -> (V, T, D) float16 embeddings, ``batch_size`` frames at a time."""
    v, t = views.shape[:2]
    flat = views.reshape(v * t, *views.shape[2:])
    out = [embedder(flat[s : s + batch_size]).cpu() for s in range(0, flat.shape[0], batch_size)]
    return torch.cat(out).reshape(v, t, -1).numpy().astype(np.float16)


def extract(
    requests: Iterable[Request],
    cache: EmbeddingCache,
    embedder: FrameEmbedder | None = None,
    batch_size: int = 32,
    workers: int = 2,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
) -> dict:
    """Compute every missing entry among ``requests`` (this shard's share of them).

    Returns ``{"requested", "cached", "computed", "failed": [{"video", "reason"}]}``;
    a video that fails to decode is reported and skipped, the rest go on.
    """
    i, n = shard
    requests = [r for k, r in enumerate(requests) if k % n == i]
    if cache.root.is_dir() and (stale := remove_stale_temporaries(cache.root)):
        log.info("removed %d half-written cache entries of an interrupted run", stale)
    missing = [r for r in requests if not cache.has(r)]
    summary = {"requested": len(requests), "cached": len(requests) - len(missing), "computed": 0, "failed": []}
    if not missing:
        return summary
    cache.write_spec()
    embedder = embedder or create_embedder(cache.spec.backbone)
    if clip_geometry(cache.spec.backbone.arch) is not None:
        return _extract_clips(missing, cache, embedder, batch_size, summary, progress)
    workers = usable_workers(workers)
    loader = DataLoader(
        _DecodeDataset(missing, cache.spec), batch_size=1, num_workers=workers, collate_fn=_collate_one,
        prefetch_factor=4 if workers else None, persistent_workers=False,
    )
    frames = 0
    bar = tqdm(loader, total=len(missing), desc="features", unit="video", disable=not progress)
    for index, views, error in bar:
        request = missing[index]
        if views is None:
            summary["failed"].append({"video": request.name or request.path, "reason": error})
            log.warning("skipped %s", error)
            continue
        try:
            cache.store(request, embed_views(embedder, views, batch_size))
        except CacheError as exc:
            summary["failed"].append({"video": request.name or request.path, "reason": str(exc)})
            log.warning("skipped %s", exc)
            continue
        summary["computed"] += 1
        frames += views.shape[0] * views.shape[1]
        bar.set_postfix(frames=frames)
    return summary


def embed_clips(path: str | os.PathLike, spec: FeatureSpec, views: Sequence[str], embedder,
                batch_size: int = 8) -> np.ndarray:
    """``(V, T, D)`` float16: each step of ``path`` embedded from the clip around it, once per view.

    Frames are decoded once, at the clip rate, and shared by the overlapping clips and the views;
    memory holds one clip's frames per view, never the video."""
    clip = clip_geometry(spec.backbone.arch)
    info = probe(path)
    size = decode_size(info.width, info.height, spec.crop)
    steps = [StepEmbedder(embedder, spec.fps, clip, batch_size, view) for view in views]
    out: list[list[np.ndarray]] = [[] for _ in views]
    for sampled in iter_frames_at_fps(path, clip.fps, size, INTERPOLATION):
        for k, s in enumerate(steps):
            out[k] += [e for _, e in s.push(sampled.time, sampled.rgb)]
    for k, s in enumerate(steps):
        out[k] += [e for _, e in s.flush()]
    if not out[0]:
        raise VideoError(f"{path}: no frame could be decoded")
    return np.stack([np.stack(o) for o in out]).astype(np.float16)


def _extract_clips(missing: list[Request], cache: EmbeddingCache, embedder, batch_size: int, summary: dict,
                   progress: bool) -> dict:
    """:func:`extract` for a clip backbone: decoding and embedding in this process, a video at a time."""
    bar = tqdm(missing, desc="features", unit="video", disable=not progress)
    for request in bar:
        try:
            cache.store(request, embed_clips(request.path, cache.spec, request.views, embedder,
                                             max(1, min(batch_size, 8))))
        except (VideoError, CacheError) as exc:
            summary["failed"].append({"video": request.name or request.path, "reason": str(exc)})
            log.warning("skipped %s", exc)
            continue
        summary["computed"] += 1
    return summary
