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

import errno
import os
import logging
from pathlib import Path

from .config import PredictConfig
from .datasets import read_clip_records
from .errors import ConfigError, LrcnError
from .inference import Model
from .io import FolderLock, remove_stale_temporaries
from .outputs import match_truth, read_truth, srt, write_prediction  # noqa: F401  (srt re-exported)
from .video import VIDEO_EXTENSIONS, is_video_file

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


def predict_one(path: Path, model: Model, cfg: PredictConfig, name: str | None = None,
                truth: list[tuple[float, float, str]] | None = None, with_model: Model | None = None) -> dict:
    out = Path(cfg.out_dir) / (name or path.stem)
    out.mkdir(parents=True, exist_ok=True)  # an unusable output folder fails here, before the video is embedded
    if not os.access(out, os.W_OK):
        raise OSError(errno.EACCES, "permission denied", str(out))
    v = model.segment(path, cfg.decoding, cfg.mode, cfg.stride, cfg.batch_size, cfg.progress, cfg.top_k,
                      unfamiliar=cfg.unfamiliar, with_model=with_model)
    pred = model.prediction(path, v, cfg.decoding, cfg.mode, cfg.top_k, with_model)
    result = write_prediction(pred, out, truth, cfg.annotate, cfg.annotate_size, onnx=cfg.onnx)
    result["out_dir"] = str(out)
    if cfg.html:
        from .review import write_review

        result["review"] = str(write_review(out, path))
    return result


def run(cfg: PredictConfig) -> tuple[list[dict], list[dict]]:
    """Predict every input. Returns results and failures ``{"video", "reason"}`` (the rest go on)."""
    inputs = expand_inputs(cfg.inputs, cfg.mode)
    if not inputs:
        raise ConfigError(f"no videos found in {', '.join(cfg.inputs)}")
    if cfg.truth and len(inputs) != 1:
        raise ConfigError(f"--truth scores one video; {len(inputs)} were given")
    truth = read_truth(cfg.truth) if cfg.truth else None  # a bad file is found before the model loads
    model = Model(cfg.checkpoint, device=cfg.device, precision=cfg.precision, onnx=cfg.onnx, crop=cfg.crop,
                  runtime="pytorch" if cfg.onnx else cfg.runtime,
                  compile=cfg.compile, inputs=inputs)
    partner = None
    if cfg.with_model:  # read together with the first: same classes, steps embedded alike (checked here, once)
        partner = Model(cfg.with_model, device=cfg.device, precision=cfg.precision, crop=cfg.crop, runtime=cfg.runtime)
        model.check_partner(partner)
    if truth:
        truth = match_truth(truth, model.classes, cfg.truth, cfg.truth_unknown)
    results, failures = [], []
    with FolderLock(cfg.out_dir, "lrcn predict"):  # one writer per output folder
        stale = remove_stale_temporaries(cfg.out_dir)  # half-written files of a killed predict
        if stale:
            log.info("removed %d half-written files of an interrupted run", stale)
        for path, name in zip(inputs, output_names(inputs)):
            try:
                results.append(predict_one(path, model, cfg, name, truth, partner))
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
