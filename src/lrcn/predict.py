"""``lrcn predict VIDEO...``: the seed's "random YouTube video" mode, for any video of any length.

Frames are taken by time at the training fps (2.5 fps by default) while the
video streams; each sampled frame goes through the backbone **once**, and a
window of ``num_frames`` slides over the embeddings. Memory is bounded by the
window and a batch of frames, not by the video (plus one small probability row
per sampled frame). Each frame's probabilities are the mean over the windows
covering it; a decoder (:mod:`lrcn.decode`, Viterbi by default) turns them into
a label per frame and segments (start/end seconds, label, mean confidence),
written as JSON, CSV and SRT subtitles; an annotated MP4 (shorter side capped at
720 pixels by default) and a timeline plot show them. With ``--truth FILE`` the output is
scored against the user's annotation (frame accuracy, edit score, F1@k).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import logging
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from . import metrics, plots
from .annotate import annotate_video
from .model import run_head
from .config import PredictConfig
from .decode import Decoding, Segment, decode, frame_probabilities, segments as decoded_segments
from .backbone import FrameEmbedder
from .datasets import read_clip_records
from .distributed import local_device
from .embedded import should_compile
from .errors import ConfigError, LrcnError, VideoError
from .checkpoint import Checkpoint
from .evaluate import load_head
from .features import FeatureSpec, Request, decode_size, make_views
from .io import FolderLock, remove_stale_temporaries, write_json_atomic, write_text_atomic
from .metrics import softmax
from .video import VIDEO_EXTENSIONS, is_video_file, iter_frames_at_fps, probe

log = logging.getLogger(__name__)


def expand_inputs(inputs: tuple[str, ...], mode: str) -> list[Path]:
    """Files as given; a folder gives its videos (a preprocess folder: its clips)."""
    out: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            if mode == "preprocessed" and (path / "preprocess.json").is_file():
                out += [path / r["clip"] for r in read_clip_records(path) if r.get("status") == "ok"]
            else:  # a directory or a dangling link named like a video is reported, not skipped silently
                out += sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and
                              (p.is_file() or not p.exists() or p.is_dir() and not _has_videos(p)))
        else:
            out.append(path)
    return out


def _has_videos(folder: Path) -> bool:
    return any(is_video_file(p) for p in folder.rglob("*"))


def stream_embeddings(path: Path, embedder: FrameEmbedder, spec: FeatureSpec, mode: str,
                      batch_size: int, progress: bool = False) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, embedding)`` per sampled frame, in order; frames are embedded in batches, once each.

    Embeddings are rounded to float16 exactly as the cache stores them, so a
    clip predicted here scores the same as in ``lrcn test``.
    """
    info = probe(path)
    size = decode_size(info.width, info.height, spec.crop)
    fps = spec.fps if mode == "live" else max(info.fps, spec.fps)  # preprocessed: every frame of the clip
    bar = tqdm(total=round(info.duration * fps) or None, desc=path.name, unit="frame", disable=not progress,
               leave=False)
    times: list[float] = []
    frames: list[np.ndarray] = []

    def flush():
        batch = make_views(np.stack(frames), ("center",))[0]
        emb = embedder(torch.from_numpy(batch)).cpu().numpy().astype(np.float16)
        out = list(zip(times, emb))
        times.clear()
        frames.clear()
        return out

    with bar:
        for sampled in iter_frames_at_fps(path, fps, size):
            times.append(sampled.time)
            frames.append(sampled.rgb)
            bar.update()
            if len(frames) == batch_size:
                yield from flush()
        if frames:
            yield from flush()


@dataclass
class WindowScores:
    """What sliding the window over a video gives: every sampled frame's time, and each window's
    first frame and class probabilities."""

    times: np.ndarray  # (N,) seconds of each sampled frame
    starts: np.ndarray  # (W,) index of each window's first frame
    probs: np.ndarray  # (W, C)


def window_probabilities(head, stream: Iterator[tuple[float, np.ndarray]], num_frames: int, stride: int,
                         device: torch.device, batch: int = 256) -> WindowScores:
    """Slide a window of ``num_frames`` over the stream, advancing ``stride`` frames at a time."""
    recent: deque = deque(maxlen=num_frames)
    times, starts, probs, pending = [], [], [], []

    def run():
        probs.append(softmax(run_head(head, np.stack(pending), device, batch)))
        pending.clear()

    for t, emb in stream:
        recent.append(emb)
        times.append(t)
        first = len(times) - num_frames  # index of the window's first frame
        if len(recent) == num_frames and first % stride == 0:
            starts.append(first)
            pending.append(np.stack(recent))
            if len(pending) == batch:
                run()
    if pending:
        run()
    c = head.cfg.num_classes
    return WindowScores(np.array(times, float), np.array(starts, int),
                        np.concatenate(probs) if probs else np.zeros((0, c)))


def read_truth(path: str | Path) -> list[tuple[float, float, str]]:
    """A truth file: CSV lines ``start,end,label`` in seconds (a header line is allowed)."""
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the truth file ({exc.strerror or exc})") from None
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        try:
            start, end, label = float(row[0]), float(row[1]), row[2].strip()
        except (ValueError, IndexError):
            if n == 1:
                continue  # a header
            raise ConfigError(f"{path}:{n}: expected start,end,label (seconds), got {','.join(row)!r}") from None
        if not (0 <= start < end) or not label:
            raise ConfigError(f"{path}:{n}: need 0 <= start < end and a label, got {','.join(row)!r}")
        rows.append((start, end, label))
    if not rows:
        raise ConfigError(f"{path}: no segments (expected CSV lines start,end,label)")
    return rows


def truth_at(truth: list[tuple[float, float, str]], times: np.ndarray) -> list[str | None]:
    """The true label at each time (``None`` where no truth segment covers it)."""
    out: list[str | None] = []
    for t in times:
        label = None
        for start, end, name in truth:
            if start <= t < end:
                label = name
                break
        out.append(label)
    return out


def score_against_truth(truth_labels: list[str | None], raw: list[str], decoded: list[str]) -> dict:
    """Segmentation scores before and after decoding, over the frames the truth covers."""
    keep = [i for i, t in enumerate(truth_labels) if t is not None]
    t = [truth_labels[i] for i in keep]
    return {"frames_scored": len(keep),
            "before_smoothing": metrics.segmentation_scores(t, [raw[i] for i in keep]),
            "after_smoothing": metrics.segmentation_scores(t, [decoded[i] for i in keep])}


def segments_csv(segments: list[Segment]) -> str:
    """The segments as CSV lines ``start,end,label,confidence`` under a header."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["start", "end", "label", "confidence"])
    w.writerows([[s.start, s.end, s.label, f"{s.confidence:.4f}"] for s in segments])
    return buf.getvalue()


def srt(segments: list[Segment]) -> str:
    def stamp(t: float) -> str:
        ms = int(round(t * 1000))
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{k}\n{stamp(s.start)} --> {stamp(s.end)}\n{s.label} ({s.confidence:.0%})\n\n"
                   for k, s in enumerate(segments, start=1))


@dataclass
class VideoSegmentation:
    """One video through the model: window scores, each sampled frame's probabilities and decoded
    label, and the segments (what ``lrcn predict`` writes and :meth:`lrcn.Model.predict` returns)."""

    scored: WindowScores
    fps: float  # sampled frames per second
    duration: float | None  # the video's, from its headers
    frame_probs: np.ndarray  # (N, C)
    labels: np.ndarray  # (N,) class index per sampled frame
    segments: list[Segment]


def segment_video(path: Path, head, embedder: FrameEmbedder, spec: FeatureSpec, num_frames: int,
                  classes: list[str], decoding: Decoding, mode: str = "live", stride: int = 1,
                  batch_size: int = 32, device: torch.device | None = None,
                  progress: bool = False) -> VideoSegmentation:
    """Embed each sampled frame once, slide the window, average each frame's windows, decode.

    Raises:
        VideoError: unreadable, or shorter than one window.
    """
    stream = stream_embeddings(path, embedder, spec, mode, batch_size, progress)
    scored = window_probabilities(head, stream, num_frames, stride, device)
    if len(scored.probs) == 0:
        raise VideoError(f"{path}: {len(scored.times)} frames at {spec.fps:g} fps, shorter than one window of "
                         f"{num_frames}")
    info = probe(path)  # remembered: stream_embeddings asked already
    fps = spec.fps if mode == "live" else max(info.fps, spec.fps)
    frame_probs = frame_probabilities(scored.probs, scored.starts, num_frames, len(scored.times))  # (N, C)
    labels = decode(frame_probs, decoding, fps)
    duration = info.duration or None
    segments = decoded_segments(labels, frame_probs, scored.times, fps, classes, duration)
    return VideoSegmentation(scored, fps, duration, frame_probs, labels, segments)


def predict_one(path: Path, head, ckpt: Checkpoint, embedder: FrameEmbedder, spec: FeatureSpec, cfg: PredictConfig,
                device: torch.device, name: str | None = None) -> dict:
    classes = list(ckpt.class_names)
    num_frames = ckpt.sampling.num_frames
    out = Path(cfg.out_dir) / (name or path.stem)
    out.mkdir(parents=True, exist_ok=True)  # an unusable output folder fails here, before the video is embedded
    if not os.access(out, os.W_OK):
        raise OSError(errno.EACCES, "permission denied", str(out))
    v = segment_video(path, head, embedder, spec, num_frames, classes, cfg.decoding, cfg.mode, cfg.stride,
                      cfg.batch_size, device, cfg.progress)
    scored, fps, duration, frame_probs, labels, segments = (v.scored, v.fps, v.duration, v.frame_probs, v.labels,
                                                            v.segments)
    count = len(scored.times)
    step = 1.0 / fps
    k = min(cfg.top_k, len(classes))
    top = np.argsort(-scored.probs, axis=1)[:, :k]
    last = scored.times[-1] + step if duration is None else min(scored.times[-1] + step, duration)

    def window_end(s: int) -> float:
        e = s + num_frames
        return float(scored.times[e]) if e < count else float(last)

    windows = [{"start": round(float(scored.times[s]), 3), "end": round(window_end(s), 3),
                "top": [{"label": classes[c], "probability": float(p[c])} for c in row]}
               for s, p, row in zip(scored.starts, scored.probs, top)]
    frames = [{"time": round(float(t), 3), "label": classes[c], "probability": float(p[c])}
              for t, c, p in zip(scored.times, labels, frame_probs)]
    result = {"video": str(path), "mode": cfg.mode, "fps": fps, "num_frames": num_frames,
              "sampled_frames": count, "decoding": cfg.decoding.__dict__,
              "label_time": "each sampled frame's own time; its probabilities are the mean over the windows "
                            "containing it",
              "windows": windows, "frames": frames, "segments": [s.__dict__ for s in segments]}
    truth_labels = None
    if cfg.truth:
        truth = read_truth(cfg.truth)
        truth_labels = truth_at(truth, scored.times)
        raw = [classes[c] for c in frame_probs.argmax(1)]
        result["truth"] = [{"start": s, "end": e, "label": name} for s, e, name in truth]
        result["scores"] = score_against_truth(truth_labels, raw, [classes[c] for c in labels])
    write_json_atomic(out / "predictions.json", result)
    write_text_atomic(out / "segments.csv", segments_csv(segments))
    write_text_atomic(out / f"{path.stem}.srt", srt(segments))
    plots.timeline(scored.times, frame_probs, classes, out / "timeline.png", path.name,
                   decoded=labels, truth=truth_labels)
    if cfg.annotate:
        annotate_video(path, segments, out / f"{path.stem}_annotated.mp4", cfg.annotate_size)
    result["out_dir"] = str(out)
    return result


def run(cfg: PredictConfig) -> tuple[list[dict], list[dict]]:
    """Predict every input. Returns results and failures ``{"video", "reason"}`` (the rest go on)."""
    device = local_device(cfg.device)
    head, ckpt = load_head(cfg.checkpoint, device)
    spec = ckpt.features
    if cfg.crop:
        spec = replace(spec, crop=cfg.crop)
    inputs = expand_inputs(cfg.inputs, cfg.mode)
    if not inputs:
        raise ConfigError(f"no videos found in {', '.join(cfg.inputs)}")
    if cfg.truth and len(inputs) != 1:
        raise ConfigError(f"--truth scores one video; {len(inputs)} were given")
    if cfg.onnx:  # the CNN and the head in ONNX Runtime, from an lrcn export folder
        from .export import load_export

        embedder, head = load_export(cfg.onnx, ckpt)
    else:
        compile = should_compile(cfg.compile, [Request(str(path), ("center",)) for path in inputs], spec.fps, device,
                                 spec.backbone.arch)
        embedder = FrameEmbedder(spec.backbone, device=device, precision=cfg.precision, compile=compile)
    results, failures = [], []
    with FolderLock(cfg.out_dir, "lrcn predict"):  # one writer per output folder
        stale = remove_stale_temporaries(cfg.out_dir)  # half-written files of a killed predict
        if stale:
            log.info("removed %d half-written files of an interrupted run", stale)
        for path, name in zip(inputs, output_names(inputs)):
            try:
                results.append(predict_one(path, head, ckpt, embedder, spec, cfg, device, name))
            except LrcnError as exc:
                failures.append({"video": str(path), "reason": str(exc)})
            except OSError as exc:  # an output folder that cannot be written, a name too long, ...
                failures.append({"video": str(path), "reason": f"{exc.filename or path}: {exc.strerror or exc}"})
    return results, failures


def output_names(inputs: list[Path]) -> list[str]:
    """A distinct output folder name per input: its stem, or, where stems collide
    (``a/clip.avi``, ``b/clip.mp4``), the file name, then the parent folder too, then a number."""
    names = [p.stem if p.stem.strip(".") else p.name for p in inputs]  # "..mp4" must not name "."
    for better in (lambda p: p.name, lambda p: f"{p.parent.name}-{p.name}"):
        counts = {n: names.count(n) for n in names}
        names = [better(p) if counts[n] > 1 else n for p, n in zip(inputs, names)]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out
