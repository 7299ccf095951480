"""``lrcn preprocess``: the seed's pre-processing, resumable and parallel.

For each video: sample it by time at ``reference_fps / sampling_rate`` (every
10th frame of a 25-fps video = 2.5 fps), pick ``clips_per_video`` seeded
random starts, and write each run of ``num_frames`` sampled frames as a small
video (at the sampled fps, so it plays at real speed) plus a manifest line.
A video that cannot be decoded, or is shorter than one clip, is recorded in
the manifest with its reason and the run goes on.
"""

from __future__ import annotations

import json
import logging
import os
import random
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from . import clips as clipmath
from .config import CODEC_EXTENSIONS, PreprocessConfig
from .datasets import Dataset, load_dataset, read_clip_records, read_manifest
from .errors import ConfigError, VideoError
from .io import FolderLock, append_jsonl, atomic_path, remove_stale_temporaries, write_json_atomic
from .video import ShortVideoError, probe, read_frames, write_video

log = logging.getLogger(__name__)



def manifest_name(shard: tuple[int, int]) -> str:
    i, n = shard
    return "manifest.jsonl" if n == 1 else f"manifest.shard-{i:03d}-of-{n:03d}.jsonl"


def process_video(job: tuple[str, str, int, str, str, PreprocessConfig]) -> list[dict]:
    """Cut the clips of one video. Returns manifest records (``status`` ok or skipped)."""
    source_path, rel, label, group, split, cfg = job
    base = {"source": rel, "label": label, "group": group, "split": split}
    try:
        info = probe(source_path)
        rng = random.Random(f"{cfg.seed}:{rel}")  # per video: independent of order and sharding
        sampled = clipmath.sample_indices(info.num_frames, clipmath.source_fps(info.fps), cfg.fps)
        chosen = clipmath.make_clips(sampled, cfg.num_frames, cfg.clips_per_video, rng, cfg.short_videos)
        if not chosen:
            return [dict(base, status="skipped", reason=_short_reason(len(sampled), cfg))]
        wanted = sorted({i for c in chosen for i in c.frame_indices})
        try:
            frames = read_frames(source_path, wanted)
        except ShortVideoError as exc:  # the container's frame count was wrong: use the true one
            sampled = clipmath.sample_indices(exc.frames_decoded, clipmath.source_fps(info.fps), cfg.fps)
            chosen = clipmath.make_clips(sampled, cfg.num_frames, cfg.clips_per_video, rng, cfg.short_videos)
            if not chosen:
                return [dict(base, status="skipped", reason=_short_reason(len(sampled), cfg))]
            wanted = sorted({i for c in chosen for i in c.frame_indices})
            frames = read_frames(source_path, wanted)
        by_index = dict(zip(wanted, frames))
        records = []
        stem = Path(rel).with_suffix("")
        for k, clip in enumerate(chosen):
            clip_rel = f"{stem}_clip{k:02d}{CODEC_EXTENSIONS[cfg.codec]}"
            with atomic_path(Path(cfg.out_dir) / clip_rel) as tmp:
                quality = 2 if cfg.codec == "mpeg4" else 0
                write_video(tmp, [by_index[i] for i in clip.frame_indices], cfg.fps, codec=cfg.codec, quality=quality)
            records.append(
                dict(base, status="ok", clip=clip_rel, clip_start=clip.start,
                     frame_indices=list(clip.frame_indices), padded=clip.padded, source_fps=info.fps)
            )
        return records
    except VideoError as exc:
        return [dict(base, status="skipped", reason=str(exc))]


def _short_reason(num_sampled: int, cfg: PreprocessConfig) -> str:
    return (
        f"too short: {num_sampled} frames at {cfg.fps:g} fps, a clip needs {cfg.num_frames} "
        f"(use --short-videos pad to keep it)"
    )


def run(cfg: PreprocessConfig, progress: bool = True) -> dict:
    """Pre-process every video of the dataset that is not done yet. Returns the summary."""
    dataset = load_dataset(cfg.data_dir, cfg.ucf_list_dir, cfg.split, cfg.number_of_classes)
    if dataset.kind == "clips":
        raise ConfigError(f"{cfg.data_dir} is already pre-processed output; point --data-dir at the raw videos")
    if dataset.kind == "annotated":
        raise ConfigError(f"{cfg.data_dir}: annotated long videos are not cut into clips; lrcn features and lrcn "
                          f"train read them as they are (windows labelled by their annotations)")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # One writer per shard of the output folder (shards of one job write it side by side).
    with FolderLock(out, "lrcn preprocess", name=f".{manifest_name(cfg.shard)}.lock"):
        return _run_in(out, cfg, dataset, progress)


def _run_in(out: Path, cfg: PreprocessConfig, dataset: Dataset, progress: bool) -> dict:
    info_path = out / "preprocess.json"
    if info_path.is_file():
        previous = json.loads(info_path.read_text())
        if previous.get("settings") != cfg.settings():
            raise ConfigError(
                f"{info_path}: made with other settings {previous.get('settings')}; use a new --out-dir"
            )
    else:
        write_json_atomic(info_path, _info(cfg, dataset, summary=None))
    stale = remove_stale_temporaries(out)
    if stale:
        log.info("removed %d half-written files of an interrupted run", stale)

    manifest = out / manifest_name(cfg.shard)
    done = {r["source"] for r in read_manifest(manifest) if _record_complete(r, out)}
    i, n = cfg.shard
    jobs = [
        (str(dataset.root / item.path), item.path, item.label, item.group, item.split, cfg)
        for k, item in enumerate(dataset.items)
        if k % n == i and item.path not in done
    ]
    log.info("%d videos to process, %d already done", len(jobs), len(done))
    workers = cfg.workers or os.cpu_count() or 1
    if jobs:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(process_video, job) for job in jobs]
            for future in tqdm(as_completed(futures), total=len(futures), desc="preprocess", disable=not progress):
                for record in future.result():
                    append_jsonl(manifest, record)  # only this process appends: no interleaving

    records = read_clip_records(out)
    summary = {
        "videos": len({r["source"] for r in records}),
        "clips": sum(1 for r in records if r["status"] == "ok"),
        "skipped": [{"source": r["source"], "reason": r["reason"]} for r in records if r["status"] == "skipped"],
    }
    write_json_atomic(info_path, _info(cfg, dataset, summary))
    return summary


def _record_complete(record: dict, out: Path) -> bool:
    return record.get("status") == "skipped" or (out / record.get("clip", "")).is_file()


def _info(cfg: PreprocessConfig, dataset: Dataset, summary: dict | None) -> dict:
    return {
        "settings": cfg.settings(),
        "sampling": cfg.sampling.to_dict(),  # what train/test/predict must match (lrcn.config.Sampling)
        "fps": cfg.fps,
        "classes": list(dataset.classes),
        "source": {"data_dir": str(cfg.data_dir), "kind": dataset.kind, "split": cfg.split},
        "config": asdict(cfg),
        "summary": summary,
    }
