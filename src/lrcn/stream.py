"""``lrcn stream``: label a live source as it plays.

A decoding thread reads the source (:func:`lrcn.video.iter_live_frames`), keeps the frames that the
checkpoint's fps samples by presentation time, and hands each to the main thread through a slot
that holds one frame: when the CNN cannot keep up, the newest frame replaces the waiting one and
the drop is counted (a file read as fast as possible waits instead, losing nothing). The main
thread embeds each frame once, keeps the last window of embeddings in a ring buffer, runs the
head, and prints one JSON line per frame and one per finished segment (``--record`` also writes
those frames with their labels as an MP4). Memory is bounded by
design: one waiting frame, one window of embeddings, the finished segments.

A causal head (``lrcn train --causal``) names the action at the newest frame from the frames up
to it, from the first frame on (it was trained with a loss at every step of the window); the
bidirectional head names the window that ends at the newest frame, once a window has arrived. Segments come
from the same decoders and settings as ``lrcn predict`` (``--smoothing``, ``--switch-penalty``,
``--min-segment``), run online (:class:`lrcn.decode.OnlineDecoder`): a step's label is final ``--lag``
seconds later.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .annotate import Recorder
from .config import Decoding, StreamConfig
from .decode import OnlineDecoder, Segment
from .errors import VideoError
from .inference import Model
from .io import check_writable, fit_name, write_json_atomic, write_text_atomic
from .outputs import segments_csv, srt
from .steps import decode_size
from .video import SampledFrame, is_live_source, iter_live_frames, paces_itself, probe

log = logging.getLogger(__name__)


class LatestSlot:
    """A hand-over of one frame between two threads. ``put`` replaces a frame nobody took yet
    (counting a drop) unless ``lossless``, where it waits; ``get`` waits for a frame or the end."""

    def __init__(self, lossless: bool):
        self.lossless = lossless
        self._item: tuple[SampledFrame, float] | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: tuple[SampledFrame, float]) -> None:
        with self._cond:
            while self.lossless and self._item is not None and not self._closed:
                self._cond.wait()
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def get(self) -> tuple[SampledFrame, float] | None:
        """The next ``(frame, arrival time)``, or None at the end (an error in the producer is raised here)."""
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait()
            item, self._item = self._item, None
            self._cond.notify_all()
            if item is None and self._error is not None:
                raise self._error
            return item

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._closed, self._error = True, error
            self._cond.notify_all()


@dataclass
class OnlineSegments:
    """Segments made as labels arrive: a new label must lead for ``min_frames`` frames in a row
    before the current segment ends (at the first of those frames). No look-ahead beyond that.

    With ``classes`` and each step's probabilities, a segment's confidence is the mean probability of
    its label over *all* its steps (a challenger's steps that did not win included) and it carries
    its ``top_k`` classes; running sums keep memory flat."""

    min_frames: int
    classes: tuple[str, ...] = ()
    top_k: int = 5
    finished: list[Segment] = field(default_factory=list)
    _label: str | None = None
    _start: float = 0.0
    _conf: list[float] = field(default_factory=list)
    _psum: np.ndarray | None = None  # every step since the segment started
    _n: int = 0
    _candidate: str | None = None
    _candidate_since: float = 0.0
    _candidate_conf: list[float] = field(default_factory=list)
    _cpsum: np.ndarray | None = None  # the challenger's steps in a row
    threshold: float | None = None  # the model's unfamiliarity threshold (None: not measured)
    _ssum: float = 0.0  # unfamiliarity summed over the segment's steps, and over the challenger's
    _cssum: float = 0.0

    def _segment(self, end: float, psum: np.ndarray | None, n: int, conf: list[float], ssum: float = 0.0) -> Segment:
        marks = {}
        if self.threshold is not None and n:
            marks = {"unfamiliarity": ssum / n, "unfamiliar": ssum / n > self.threshold}
        if psum is None or not self.classes or n == 0:
            return Segment(round(self._start, 3), round(max(end, self._start), 3), self._label, float(np.mean(conf)),
                           **marks)
        mean = psum / n
        top = tuple((self.classes[c], float(mean[c])) for c in np.argsort(-mean, kind="stable")[: self.top_k])
        return Segment(round(self._start, 3), round(max(end, self._start), 3), self._label,
                       float(mean[self.classes.index(self._label)]), top, **marks)

    def add(self, t: float, label: str, confidence: float, probs: np.ndarray | None = None,
            unfamiliarity: float = 0.0) -> Segment | None:
        """Feed one frame's label (and its probabilities, its unfamiliarity); returns the segment this
        frame finished, if any."""
        p = None if probs is None else np.asarray(probs, np.float64)
        if self._label is None:
            self._label, self._start, self._conf, self._psum, self._n = label, t, [confidence], p, 1
            self._ssum = unfamiliarity
            return None
        self._psum = None if p is None or self._psum is None else self._psum + p
        self._n += 1
        self._ssum += unfamiliarity
        if label == self._label:
            self._conf.append(confidence)
            self._candidate, self._candidate_conf, self._cpsum, self._cssum = None, [], None, 0.0
            return None
        if label != self._candidate:
            self._candidate, self._candidate_since, self._candidate_conf, self._cpsum = label, t, [], None
            self._cssum = 0.0
        self._candidate_conf.append(confidence)
        self._cpsum = p if self._cpsum is None else (None if p is None else self._cpsum + p)
        self._cssum += unfamiliarity
        if len(self._candidate_conf) < self.min_frames:
            return None
        k = len(self._candidate_conf)
        kept = None if self._psum is None or self._cpsum is None else self._psum - self._cpsum
        done = self._segment(self._candidate_since, kept, self._n - k, self._conf, self._ssum - self._cssum)
        self.finished.append(done)
        self._label, self._start, self._conf = self._candidate, self._candidate_since, self._candidate_conf
        self._psum, self._n, self._ssum = self._cpsum, k, self._cssum
        self._candidate, self._candidate_conf, self._cpsum, self._cssum = None, [], None, 0.0
        return done

    def close(self, end: float) -> Segment | None:
        """End the stream at ``end`` seconds: the open segment is finished."""
        if self._label is None:
            return None
        done = self._segment(end, self._psum, self._n, self._conf + self._candidate_conf, self._ssum)
        self.finished.append(done)
        self._label = None
        return done


@dataclass
class StreamStats:
    frames: int = 0  # sampled frames labelled
    dropped: int = 0  # sampled frames the CNN had no time for
    reconnects: int = 0
    latencies: list[float] = field(default_factory=list)  # the last 10,000: bounded

    def summary(self) -> dict:
        """Counts, and the latency (None when no frame was labelled: there was none to measure)."""
        lat = np.array(self.latencies) if self.latencies else None
        return {"frames": self.frames, "dropped": self.dropped, "reconnects": self.reconnects,
                "latency_median": None if lat is None else float(np.median(lat)),
                "latency_p95": None if lat is None else float(np.percentile(lat, 95))}


def _decoder(cfg: StreamConfig, fps: float, crop: str, slot: LatestSlot, stats: StreamStats,
             stop: threading.Event) -> None:
    """The decoding thread: sampled frames into ``slot``; reconnects a network source with back-off.
    A source that never gave a frame is an error; one that streamed and then stayed away is an end."""
    offset, attempt = 0.0, 0
    while not stop.is_set():
        last = None
        try:
            for f in iter_live_frames(cfg.source, fps, lambda w, h: decode_size(w, h, crop), cfg.realtime,
                                      cfg.timeout):
                if stop.is_set():
                    break
                last = f.time
                slot.put((SampledFrame(f.sample_index, f.source_index, offset + f.time, f.rgb), time.monotonic()))
                attempt = 0
            error = None
        except VideoError as exc:
            error = exc
        except BaseException as exc:  # never die silently: the main thread raises it
            slot.close(exc)
            return
        if last is not None:
            offset += last + 1.0 / fps
        network = "://" in cfg.source
        if stop.is_set() or not network or attempt >= cfg.reconnect:
            if error is not None and offset > 0 and network:  # it streamed, then went away for good: an end
                log.warning("%s; gave up after %d attempts, ending the stream", error, attempt)
                error = None
            slot.close(error)
            return
        attempt += 1
        stats.reconnects += 1
        wait = min(30.0, 2.0 ** (attempt - 1))
        log.warning("%s; reconnecting in %g s (%d of %d)", error or f"{cfg.source}: the stream ended", wait,
                    attempt, cfg.reconnect)
        stop.wait(wait)
    slot.close()


def run(cfg: StreamConfig, out=None) -> dict:
    """Label ``cfg.source`` until it ends, ``--max-seconds`` pass, or Ctrl-C / SIGTERM; returns the
    summary (frames, drops, latency) after writing ``--srt`` / ``--csv``."""
    out = out or sys.stdout
    for path in (cfg.srt, cfg.csv, cfg.record):  # an unusable output is found now, not after an hour of stream
        if path and Path(path).is_dir():
            raise VideoError(f"{path}: a folder, not a file to write")
        if path:
            check_writable(path)  # nothing is left behind when it cannot be
    if cfg.out_dir:
        if Path(cfg.out_dir).exists() and not Path(cfg.out_dir).is_dir():
            raise VideoError(f"{cfg.out_dir}: a file, not a folder to write into")
        check_writable(Path(cfg.out_dir) / "segments.csv")
    model = Model(cfg.checkpoint, device=cfg.device, precision=cfg.precision, onnx=cfg.onnx, live=True, crop=cfg.crop,
                  runtime="pytorch" if cfg.onnx else cfg.runtime)
    classes, window = model.classes, model.window
    embedder = model.step_embedder(batch=1)
    recorder = Recorder(cfg.record) if cfg.record else None
    # A file or a pipe waits for its reader: nothing is dropped. A camera or network stream (or --realtime)
    # does not: when the CNN falls behind, the newest frame replaces the waiting one.
    lossless = not (cfg.realtime or paces_itself(cfg.source))
    slot, stats, stop = LatestSlot(lossless), StreamStats(), threading.Event()
    familiarity = model.familiarity if cfg.unfamiliar else None
    # The same decoding as lrcn predict, online: a step's label is final `lag` steps later; the segments
    # are the runs of final labels.
    decoder = OnlineDecoder(model.decoding(cfg.decoding), model.fps,
                            None if cfg.lag is None else int(round(cfg.lag * model.fps)))
    undecided: deque = deque()  # (time, probabilities, unfamiliarity) of the steps whose label is not final
    segments = OnlineSegments(1, tuple(classes), cfg.top_k, threshold=familiarity.threshold if familiarity else None)

    def settle(labels: list[int]) -> None:
        for label in labels:
            t, p, s = undecided.popleft()
            done = segments.add(t, classes[label], float(p[label]), p, s)
            if done:
                _emit(out, {"segment": done.to_dict()})
    ring: deque = deque(maxlen=window)  # the last window of embeddings
    causal = model.causal  # trained with a loss at every step (or a clip model): a label from the first step on
    k = min(cfg.top_k, len(classes))

    def on_signal(signum, frame):  # Ctrl-C / SIGTERM: finish the frame in hand, then stop (no half-made state)
        stop.set()
        slot.close()  # wakes a get() waiting for the next frame (the slot's lock is re-entrant)

    handled = (signal.SIGTERM, signal.SIGINT)
    previous = ({sig: signal.signal(sig, on_signal) for sig in handled}
                if threading.current_thread() is threading.main_thread() else {})
    thread = threading.Thread(target=_decoder, args=(cfg, embedder.decode_fps, model.crop, slot, stats, stop), daemon=True,
                              name="lrcn-decode")
    thread.start()
    end = 0.0
    try:
        while not stop.is_set():
            got = slot.get()
            if got is None:
                break
            f, arrival = got
            if cfg.max_seconds is not None and f.time >= cfg.max_seconds:
                break
            steps = embedder.push(f.time, f.rgb)  # a frame model: this frame's step; a clip model: one per clip
            end = f.time + 1.0 / embedder.decode_fps
            if not steps and recorder:
                recorder.add(f.rgb, f.time, None)
            for step_time, emb in steps:
                ring.append(emb.astype(np.float32))
                if len(ring) < (1 if causal else window):  # a causal head names the action from the first step
                    if recorder:
                        recorder.add(f.rgb, f.time, None)
                    continue
                probs = model.step_probabilities(ring)
                top = np.argsort(-probs)[:k]
                label, conf = classes[int(top[0])], float(probs[top[0]])
                score = float(familiarity.scores(ring[-1][None])[0]) if familiarity else 0.0
                latency = time.monotonic() - arrival
                stats.frames += 1
                stats.dropped = slot.dropped
                stats.latencies.append(latency)
                del stats.latencies[:-10000]
                _emit(out, {"stream_time": round(step_time, 3), "wall_time": round(time.time(), 3), "label": label,
                            "confidence": round(conf, 4),
                            "top": [{"label": classes[int(c)], "probability": round(float(probs[c]), 4)} for c in top],
                            "latency": round(latency, 4), "dropped": slot.dropped,
                            **({"unfamiliarity": round(score, 3), "unfamiliar": score > familiarity.threshold}
                               if familiarity else {})})
                if recorder:
                    recorder.add(f.rgb, f.time, f"{label} {conf:.0%}")
                undecided.append((step_time, probs, score))
                settle(decoder.push(probs))
    except KeyboardInterrupt:  # the reader of standard output went away
        log.info("stopped; writing the outputs")
    finally:
        stop.set()
        slot.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            settle(decoder.flush())
            last = segments.close(min(end, _source_end(cfg.source)))
            if last:
                _emit(out, {"segment": last.to_dict()})
        except KeyboardInterrupt:  # the reader went away while the last segments were printed
            segments.close(min(end, _source_end(cfg.source)))
        stats.dropped = slot.dropped
        _write_outputs(cfg, segments.finished, stats.summary(), decoder.decoding)
        if recorder:
            recorder.close()
    summary = stats.summary()
    _emit(out, {"summary": summary})
    return summary


def _source_end(source: str) -> float:
    """When a file ends (its headers' duration), so no segment ends after it; a live source: no bound."""
    if is_live_source(source):
        return float("inf")
    try:
        return probe(source).duration or float("inf")
    except VideoError:
        return float("inf")


def _emit(out, record: dict) -> None:
    try:
        out.write(json.dumps(record) + "\n")
        out.flush()
    except BrokenPipeError:  # the reader went away (| head): stop like Ctrl-C
        raise KeyboardInterrupt from None


def _write_outputs(cfg: StreamConfig, segments: list[Segment], summary: dict, decoding: Decoding) -> None:
    if cfg.srt:
        write_text_atomic(cfg.srt, srt(segments))
    if cfg.csv:
        write_text_atomic(cfg.csv, segments_csv(segments))
    if cfg.out_dir:
        folder = Path(cfg.out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stem = "stdin" if cfg.source == "-" else (Path(cfg.source).stem or "stream")
        write_text_atomic(folder / "segments.csv", segments_csv(segments))
        write_text_atomic(folder / fit_name(f"{stem}.srt", cfg.source, ".srt"), srt(segments))
        write_json_atomic(folder / "stream.json", {
            "source": cfg.source, "checkpoint": cfg.checkpoint,
            "decoding": {**dataclasses.asdict(decoding), "lag_seconds": cfg.lag},
            "summary": summary, "segments": [s.to_dict() for s in segments]})
