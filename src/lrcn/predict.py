"""``lrcn predict VIDEO...``: the seed's "random YouTube video" mode, for any video of any length.

Frames are taken by time at the training fps (2.5 fps by default) while the
video streams; each sampled frame goes through the backbone **once**, and a
window of ``num_frames`` slides over the embeddings. Memory is bounded by the
window and a batch of frames, not by the video. Consecutive windows with the
same top label become segments (start/end seconds, label, mean confidence),
written as JSON, CSV and SRT subtitles; an annotated MP4 at the original
resolution and a timeline plot show them.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from . import plots
from .backbone import FrameEmbedder
from .datasets import read_clip_records
from .distributed import local_device
from .embedded import should_compile
from .errors import ConfigError, LrcnError, VideoError
from .evaluate import feature_spec_of, load_head
from .features import FeatureSpec, Request, decode_size, make_views
from .io import atomic_path, write_json_atomic, write_text_atomic
from .metrics import softmax
from .video import is_video_file, iter_frames_at_fps, probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictConfig:
    """Settings of ``lrcn predict``."""

    checkpoint: str
    inputs: tuple[str, ...]  # video files and/or folders of videos
    out_dir: str = "predictions"
    mode: str = "live"  # live: sample by time at the training fps; preprocessed: lrcn preprocess clips, every frame
    crop: str | None = None  # center | full; default: as trained
    top_k: int = 5
    stride: int = 1  # windows advance this many sampled frames
    batch_size: int = 32  # frames per backbone call
    precision: str = "auto"
    annotate: bool = True  # write the annotated MP4
    device: str | None = None
    progress: bool = True  # a bar of sampled frames per video
    compile: bool | None = None  # torch.compile the CNN; None: when the inputs are long enough to repay it

    def __post_init__(self) -> None:
        if self.mode not in ("live", "preprocessed"):
            raise ConfigError(f"--mode must be live or preprocessed, got {self.mode!r}")
        if self.top_k < 1 or self.stride < 1 or self.batch_size < 1:
            raise ConfigError("--top-k, --stride and --batch-size must be >= 1")
        if not self.inputs:
            raise ConfigError("give at least one video or folder")


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float
    label: str
    confidence: float  # mean top-1 probability over the segment's windows


def expand_inputs(inputs: tuple[str, ...], mode: str) -> list[Path]:
    """Files as given; a folder gives its videos (a preprocess folder: its clips)."""
    out: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            if mode == "preprocessed" and (path / "preprocess.json").is_file():
                out += [path / r["clip"] for r in read_clip_records(path) if r.get("status") == "ok"]
            else:
                out += sorted(p for p in path.rglob("*") if is_video_file(p))
        else:
            out.append(path)
    return out


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


def window_probabilities(head, stream: Iterator[tuple[float, np.ndarray]], num_frames: int, stride: int,
                         device: torch.device, batch: int = 256) -> tuple[np.ndarray, np.ndarray, int]:
    """Slide a window over the stream; returns window start times, probabilities ``(W, C)``, frame count."""
    recent: deque = deque(maxlen=num_frames)
    starts, probs, pending = [], [], []
    count = 0

    def run():
        with torch.no_grad():
            x = torch.from_numpy(np.stack(pending).astype(np.float32)).to(device)
            probs.append(softmax(head(x).float().cpu().numpy()))
        pending.clear()

    for t, emb in stream:
        recent.append((t, emb))
        count += 1
        first = count - num_frames  # sampled index of the window's first frame
        if len(recent) == num_frames and first % stride == 0:
            starts.append(recent[0][0])
            pending.append(np.stack([e for _, e in recent]))
            if len(pending) == batch:
                run()
    if pending:
        run()
    c = head.cfg.num_classes
    return np.array(starts), (np.concatenate(probs) if probs else np.zeros((0, c))), count


def segments_from_windows(starts: np.ndarray, probs: np.ndarray, classes: list[str], window_seconds: float,
                          step_seconds: float) -> list[Segment]:
    """Merge consecutive windows with the same top-1 class into segments."""
    segments: list[Segment] = []
    top = probs.argmax(1) if len(probs) else np.array([], int)
    i = 0
    while i < len(top):
        j = i
        while j + 1 < len(top) and top[j + 1] == top[i]:
            j += 1
        end = starts[j] + window_seconds if j + 1 >= len(top) else starts[j + 1]
        segments.append(Segment(round(float(starts[i]), 3), round(float(max(end, starts[i] + step_seconds)), 3),
                                classes[top[i]], float(probs[i : j + 1, top[i]].mean())))
        i = j + 1
    return segments


def srt(segments: list[Segment]) -> str:
    def stamp(t: float) -> str:
        ms = int(round(t * 1000))
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{k}\n{stamp(s.start)} --> {stamp(s.end)}\n{s.label} ({s.confidence:.0%})\n\n"
                   for k, s in enumerate(segments, start=1))


def annotate_video(path: Path, segments: list[Segment], out: Path) -> None:
    """Re-encode ``path`` at its own resolution and fps with the current segment's label drawn on it."""
    from PIL import Image, ImageDraw

    from .video import write_video_stream

    def frames():
        k = 0
        for f in iter_frames_at_fps(path, None):  # every frame, with its time
            while k + 1 < len(segments) and f.time >= segments[k + 1].start:
                k += 1
            img = Image.fromarray(f.rgb)
            if segments and segments[k].start <= f.time < segments[k].end + 1e-6:
                text = f"{segments[k].label} {segments[k].confidence:.0%}"
                draw = ImageDraw.Draw(img)
                box = draw.textbbox((6, 6), text)
                draw.rectangle((box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3), fill=(0, 0, 0))
                draw.text((6, 6), text, fill=(255, 255, 0))
            yield np.asarray(img)

    info = probe(path)
    with atomic_path(out) as tmp:
        write_video_stream(tmp, frames(), info.fps or 25.0, codec="libx264", quality=20)


def predict_one(path: Path, head, ckpt: dict, embedder: FrameEmbedder, spec: FeatureSpec, cfg: PredictConfig,
                device: torch.device) -> dict:
    classes = list(ckpt["class_names"])
    num_frames = ckpt["feature_spec"]["num_frames"]
    stream = stream_embeddings(path, embedder, spec, cfg.mode, cfg.batch_size, cfg.progress)
    starts, probs, count = window_probabilities(head, stream, num_frames, cfg.stride, device)
    if len(probs) == 0:
        raise VideoError(f"{path}: {count} frames at {spec.fps:g} fps, shorter than one window of {num_frames}")
    step = 1.0 / spec.fps
    segments = segments_from_windows(starts, probs, classes, num_frames * step, step * cfg.stride)
    out = Path(cfg.out_dir) / path.stem
    out.mkdir(parents=True, exist_ok=True)
    k = min(cfg.top_k, len(classes))
    top = np.argsort(-probs, axis=1)[:, :k]
    windows = [{"start": round(float(t), 3), "end": round(float(t + num_frames * step), 3),
                "top": [{"label": classes[c], "probability": float(p[c])} for c in row]}
               for t, p, row in zip(starts, probs, top)]
    result = {"video": str(path), "mode": cfg.mode, "fps": spec.fps, "num_frames": num_frames,
              "sampled_frames": count, "windows": windows, "segments": [s.__dict__ for s in segments]}
    write_json_atomic(out / "predictions.json", result)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["start", "end", "label", "confidence"])
    w.writerows([[s.start, s.end, s.label, f"{s.confidence:.4f}"] for s in segments])
    write_text_atomic(out / "segments.csv", buf.getvalue())
    write_text_atomic(out / f"{path.stem}.srt", srt(segments))
    plots.timeline(starts + num_frames * step / 2, probs, classes, out / "timeline.png", path.name, top=k)
    if cfg.annotate:
        annotate_video(path, segments, out / f"{path.stem}_annotated.mp4")
    result["out_dir"] = str(out)
    return result


def run(cfg: PredictConfig) -> tuple[list[dict], list[dict]]:
    """Predict every input. Returns results and failures ``{"video", "reason"}`` (the rest go on)."""
    device = local_device(cfg.device)
    head, ckpt = load_head(cfg.checkpoint, device)
    spec = feature_spec_of(ckpt)
    if cfg.crop:
        spec = replace(spec, crop=cfg.crop)
    inputs = expand_inputs(cfg.inputs, cfg.mode)
    compile = should_compile(cfg.compile, [Request(str(path), ("center",)) for path in inputs], spec.fps, device)
    embedder = FrameEmbedder(spec.backbone, device=device, precision=cfg.precision, compile=compile)
    results, failures = [], []
    for path in inputs:
        try:
            results.append(predict_one(path, head, ckpt, embedder, spec, cfg, device))
        except LrcnError as exc:
            failures.append({"video": str(path), "reason": str(exc)})
    return results, failures
