"""``lrcn check DATA_DIR``: find what would break or bias a long job before it starts.

Errors (exit 1): split files that do not parse, listed videos that do not
exist, a video in both the train and the test list, no training videos.
Warnings (exit 0): videos that do not decode or are shorter than one clip
(pre-processing skips them), groups on both sides of the train/test split,
classes without training or test videos.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from . import clips as clipmath
from .config import CheckConfig, window_frames
from .datasets import annotation_rows, is_annotated, load_dataset
from .errors import ConfigError, SplitError, VideoError
from .io import write_json_atomic
from .video import VIDEO_EXTENSIONS, probe, read_frames


def check_video(job: tuple[str, float, int, bool]) -> str | None:
    """None if the video is usable, else the reason."""
    path, fps, num_frames, full = job
    try:
        info = probe(path)
        if info.num_frames <= 0:
            return f"{path}: no frames"
        if full:
            read_frames(path, [max(0, info.num_frames - 1)])
        else:
            read_frames(path, [0])
        sampled = clipmath.sample_indices(info.num_frames, clipmath.source_fps(info.fps), fps)  # as preprocess
        if len(sampled) < num_frames:
            return f"{path}: too short ({len(sampled)} frames at {fps:g} fps < {num_frames})"
    except VideoError as exc:
        return str(exc)
    return None


def run(cfg: CheckConfig, progress: bool = True) -> dict:
    errors: list[str] = []
    warnings: list[str] = []
    root = Path(cfg.data_dir)
    if root.is_dir() and is_annotated(root):  # every problem of the annotations, one line each
        errors, warnings = _annotation_problems(root)
        if errors:
            return _finish(cfg, {"ok": False, "errors": errors, "warnings": warnings, "counts": {}})
    try:
        dataset = load_dataset(cfg.data_dir, cfg.ucf_list_dir, cfg.split, cfg.number_of_classes, cfg.background)
    except (SplitError, ConfigError) as exc:
        return _finish(cfg, {"ok": False, "errors": errors + [str(exc)], "warnings": warnings, "counts": {}})
    items = dataset.items
    by_split = Counter(i.split for i in items)
    if not by_split["train"]:
        errors.append(f"{cfg.data_dir}: no training videos")
    if not by_split["test"]:
        warnings.append(f"{cfg.data_dir}: no test videos")
    # The same video listed in train and test.
    sides: dict[str, set[str]] = {}
    for i in items:
        sides.setdefault(i.path, set()).add(i.split)
    errors += [f"{p}: in both the train and the test list" for p, s in sides.items() if len(s) > 1]
    # Groups (actor/scene) on both sides leak test information into training.
    groups: dict[tuple[int, str], set[str]] = {}
    for i in items:
        groups.setdefault((i.label, i.group), set()).add(i.split)
    leaked = sorted(f"{dataset.classes[c]}/{g}" for (c, g), s in groups.items() if len(s) > 1)
    if leaked:
        warnings.append(f"{len(leaked)} groups are in both train and test (e.g. {', '.join(leaked[:3])})")
    for label, name in enumerate(dataset.classes):
        for split in ("train", "test"):
            if by_split[split] and not any(label in _labels(i) and i.split == split for i in items):
                warnings.append(f"class {name}: no {split} videos")
    # Missing: listed but absent. A directory or a broken link under a video's name is present but unusable.
    missing = [i for i in items if not os.path.lexists(dataset.root / i.path)]
    errors += [f"{dataset.root / i.path}: listed in the {i.split} list but not found" for i in missing]
    present = [i for i in items if os.path.lexists(dataset.root / i.path)]
    fps = cfg.sampling.fps
    num_frames = window_frames(cfg.num_frames, dataset.kind == "annotated")
    jobs = [(str(dataset.root / i.path), fps, num_frames, cfg.full_decode) for i in present]
    bad: list[str] = []
    if jobs:
        with ProcessPoolExecutor(max_workers=cfg.workers or os.cpu_count()) as pool:
            for reason in tqdm(pool.map(check_video, jobs, chunksize=8), total=len(jobs), desc="check",
                               disable=not progress):
                if reason:
                    bad.append(reason)
    warnings += bad
    counts = {"classes": len(dataset.classes), "train": by_split["train"], "test": by_split["test"],
              "missing": len(missing), "unusable": len(bad), "groups_in_both": len(leaked), "kind": dataset.kind}
    return _finish(cfg, {"ok": not errors, "errors": errors, "warnings": warnings, "counts": counts})


def _labels(item) -> set[int]:
    """The classes a video shows: its label, or every annotated one."""
    return {label for _, _, label in item.spans} or {item.label}


def _annotation_problems(root: Path) -> tuple[list[str], list[str]]:
    from .annotations import problems

    by_video, errors = annotation_rows(root)
    durations = {}
    for video in by_video:
        try:
            durations[video] = probe(root / video).duration
        except VideoError:
            durations[video] = None
    videos = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                    if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))
    more_errors, warnings = problems(root, by_video, durations, videos)
    return errors + more_errors, warnings


def _finish(cfg: CheckConfig, report: dict) -> dict:
    """Write the report to ``--report``, else into DATA_DIR when it is a writable folder (a missing
    one is not created and nothing is written elsewhere unasked)."""
    if cfg.report:
        write_json_atomic(cfg.report, report)
        report["report"] = str(cfg.report)
        return report
    path = Path(cfg.data_dir) / "lrcn_check.json"
    report["report"] = "not written (give --report PATH)"
    if Path(cfg.data_dir).is_dir():
        with contextlib.suppress(OSError):
            write_json_atomic(path, report | {"report": str(path)})
            report["report"] = str(path)
    return report


def format_report(report: dict) -> str:
    c = report["counts"]
    lines = []
    if c:
        lines.append(f"{'classes':<22}{c['classes']:>8}")
        for key in ("train", "test", "missing", "unusable", "groups_in_both"):
            lines.append(f"{key.replace('_', ' ') + ' videos' if key in ('train', 'test') else key.replace('_', ' '):<22}"
                         f"{c[key]:>8}")
    for e in report["errors"][:20]:
        lines.append(f"ERROR   {e}")
    for w in report["warnings"][:20]:
        lines.append(f"warning {w}")
    more = len(report["errors"]) + len(report["warnings"]) - min(20, len(report["errors"])) - min(20, len(report["warnings"]))
    if more > 0:
        lines.append(f"... {more} more in {report['report']}")
    lines.append(("OK: nothing would break training" if report["ok"] else
                  f"{len(report['errors'])} errors would break training") + f"; report: {report['report']}")
    return "\n".join(lines)
