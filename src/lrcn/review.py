"""``lrcn review PREDICTION_FOLDER`` (and ``lrcn predict --html``): one page to look at a prediction
and correct it.

``review.html`` is written into the folder ``lrcn predict`` wrote for a video. It is one file with
everything inside (styles, script, the prediction's data): it opens offline and loads nothing from
anywhere. The video is referenced, never embedded: by its path relative to the page when a browser
plays it (H.264, VP8/9 or AV1 in MP4, WebM or Matroska), else through ``review.mp4``, an H.264 copy
at most 480 pixels high written beside the page once.

On the page: the video with the timeline under it (the predicted segments, the truth band when
``--truth`` was given, the predicted label's probability over time, the playhead), the segment list
with top-k and confidence; clicking a segment seeks the video to it; keys play/pause and jump
between segments; a segment's label changes from the model's classes, a boundary moves to the
playhead, segments split and merge, every edit undoes; "download CSV" saves the segments as
``start,end,label`` -- the annotation ``lrcn train`` reads (:mod:`lrcn.annotations`).
"""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path
from urllib.parse import quote

from .errors import ConfigError, VideoError
from .io import atomic_path, write_text_atomic

log = logging.getLogger(__name__)

PLAYABLE_CODECS = ("h264", "vp8", "vp9", "av1")
PLAYABLE_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv")
PROXY = "review.mp4"
PAGE = "review.html"


def write_review(folder: str | os.PathLike, video: str | os.PathLike | None = None) -> Path:
    """``folder/review.html`` for the prediction in ``folder`` (``predictions.json``); ``video``: where
    the video is now (default: the path the prediction recorded). Returns the page's path."""
    folder = Path(folder)
    source = folder / "predictions.json"
    try:
        result = json.loads(source.read_text(encoding="utf-8"))
        frames, segments = result["frames"], result["segments"]
    except FileNotFoundError:
        raise ConfigError(f"{folder}: no predictions.json (give a folder lrcn predict wrote)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{source}: not the file lrcn predict writes ({type(exc).__name__})") from None
    if not segments:
        raise ConfigError(f"{source}: no segments to review")
    classes = list(result.get("classes") or sorted({s["label"] for s in segments}))
    video_path = Path(video or result.get("video", ""))
    fps = float(result.get("fps") or 2.5)
    duration = max(float(segments[-1]["end"]), float(frames[-1]["time"]) + 1.0 / fps if frames else 0.0)
    data = {
        "title": video_path.name, "classes": classes, "duration": duration,
        "frames": [[f["time"], round(float(f["probability"]), 4)] for f in frames],
        "segments": [{k: s.get(k) for k in ("start", "end", "label", "confidence", "top", "unfamiliar")}
                     for s in segments],
        "truth": result.get("truth"),
        "video_src": _video_src(video_path, folder),
        "csv_name": f"{video_path.stem or 'video'}.csv",
    }
    template = (Path(__file__).parent / "data" / "review.html").read_text(encoding="utf-8")
    page = (template.replace("__TITLE__", html.escape(video_path.name))
            .replace("__DATA__", json.dumps(data).replace("</", "<\\/")))
    write_text_atomic(folder / PAGE, page)
    return folder / PAGE


def _video_src(video: Path, folder: Path) -> str | None:
    """The page's ``src`` for ``video``: its path relative to the page when a browser plays it, else the
    H.264 copy beside the page (made once); None when the video is not there."""
    from .video import probe

    try:
        info = probe(video)
    except VideoError as exc:
        log.warning("%s; the review page works without it (timeline, list, editing)", exc)
        return None
    if info.codec in PLAYABLE_CODECS and video.suffix.lower() in PLAYABLE_SUFFIXES:
        target = video
    else:
        target = folder / PROXY
        if not target.is_file() or target.stat().st_mtime < video.stat().st_mtime:
            _write_proxy(video, target, info)
    return quote(os.path.relpath(target.resolve(), folder.resolve()).replace(os.sep, "/"))


def _write_proxy(video: Path, target: Path, info) -> None:
    """An H.264 copy a browser plays: at most 480 pixels high, at the video's own frame rate."""
    from .video import iter_display_frames, write_video_stream

    scale = min(1.0, 480 / max(1, info.height))
    size = (max(2, int(info.width * scale)) // 2 * 2, max(2, int(info.height * scale)) // 2 * 2)
    log.info("%s: %s in %s does not play in browsers; writing %s", video, info.codec, video.suffix, target.name)
    with atomic_path(target) as tmp:
        write_video_stream(tmp, (frame for _, frame in iter_display_frames(video, size)), info.fps or 25.0,
                           codec="libx264", quality=23, preset="ultrafast")
