"""The inference core: every command that runs a trained model starts from one :class:`Model`.

A :class:`Model` is built from a checkpoint, a run folder, or a built-in model name
(``kinetics400``: the Kinetics-400 I3D with its own head, no training), on a device, in a
precision, in PyTorch or (an ``lrcn export`` folder) ONNX Runtime. It owns:

- the **one frame pre-processing rule** (:data:`RESIZE_RULE`): frames sampled by presentation
  time, scaled by FFmpeg's bilinear scaler straight from the decoded picture so the shorter side
  is 256, centre-cropped to 224 (``--crop full``: squashed to 224 x 224). Training, ``predict``,
  ``stream``, ``classify`` and the export's ``lrcn_model.json`` all name and use this rule;
- the **step embedder** (:class:`StepEmbedder`): one embedding per sampled time step. A frame
  backbone (ResNet, MobileNetV2) embeds the step's frame; a clip backbone (I3D) embeds a short clip
  of source frames around the step (centred offline, ending at the step on a live source), so the
  head still reads one vector per step;
- the **head** over windows of steps (the LRCN's bi-LSTM, or I3D's own linear classifier, a
  window of one step);
- window scores, each step's probabilities, and decoding into segments.

``predict``, ``stream``, ``test``, ``test-continuous`` and :func:`lrcn.load` use it; no command
module imports another.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from .checkpoint import Checkpoint, load_checkpoint, resolve_checkpoint
from .config import Decoding
from .decode import Segment, decode, readout_frame_probabilities, segments as decoded_segments
from .distributed import local_device
from .errors import ConfigError, VideoError
from .features import FeatureSpec, decode_sampled
from .steps import I3D_CLIP, INTERPOLATION, StepEmbedder, clip_geometry, decode_size
from .metrics import softmax
from .model import frame_readout, labels_each_step, run_head, window_probabilities
from .video import iter_frames_at_fps, probe, resize_rgb

log = logging.getLogger(__name__)

#: Built-in models, by the name that stands where a checkpoint would.
BUILTIN_MODELS = ("kinetics400",)


class ClassifierHead(torch.nn.Module):
    """A backbone's own classifier as a head over windows of one step: ``(N, 1, D)`` -> ``(N, C)``."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.linear = linear
        self.cfg = type("HeadShape", (), {"num_classes": linear.out_features, "causal": True,
                                          "feature_dim": linear.in_features})()

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.linear(windows[:, -1].float())


@dataclass
class WindowScores:
    """Sliding the window over a video: every step's time, each window's first step and probabilities."""

    times: np.ndarray  # (N,) seconds of each step
    starts: np.ndarray  # (W,) index of each window's first step
    probs: np.ndarray  # (W, C)
    step_probs: np.ndarray | None = None  # (W, T, C): a head trained at every step (--per-step), each step's own


@dataclass
class VideoSegmentation:
    """One video through the model: window scores, each step's probabilities and decoded label, the segments."""

    scored: WindowScores
    fps: float  # steps per second
    duration: float | None  # the video's, from its headers
    frame_probs: np.ndarray  # (N, C)
    labels: np.ndarray  # (N,) class index per step
    segments: list[Segment]
    unfamiliarity: np.ndarray | None = None  # (N,) each step's (lrcn.familiarity); None: not measured


@dataclass
class Prediction:
    """What :meth:`Model.predict` finds in one video (``repr`` is short; the arrays are attributes)."""

    video: str
    segments: list[Segment]  # start/end seconds, label, mean confidence, top-k
    times: np.ndarray  # (N,) seconds of each step
    labels: list[str]  # (N,) decoded label of each step
    frame_probs: np.ndarray  # (N, C) each step's mean over the windows covering it
    window_starts: np.ndarray  # (W,) first step of each window
    window_probs: np.ndarray  # (W, C)
    classes: list[str] = field(default_factory=list)
    unfamiliarity: np.ndarray | None = None  # (N,) each step's distance from the training data (None: not measured)
    fps: float = 2.5  # steps per second
    window: int = 5  # steps per window of the head
    duration: float | None = None  # the video's, from its headers
    model: str = ""  # the checkpoint (or built-in model) that made it
    decoding: dict = field(default_factory=dict)
    mode: str = "live"
    top_k: int = 5
    familiarity: dict | None = None  # the threshold and how it was calibrated (None: not measured)

    def to_dict(self, truth: list[tuple[float, float, str]] | None = None) -> dict:
        """What ``lrcn predict`` writes as ``predictions.json`` (``truth``: rows ``(start, end, label)``, scored)."""
        from .outputs import prediction_dict

        return prediction_dict(self, truth)

    def to_json(self, truth: list[tuple[float, float, str]] | None = None) -> str:
        import json

        return json.dumps(self.to_dict(truth), indent=2, default=str) + "\n"

    def to_srt(self) -> str:
        """The segments as SRT subtitles, as ``lrcn predict`` writes them."""
        from .outputs import srt

        return srt(self.segments)

    def to_csv(self) -> str:
        """The segments as ``segments.csv``."""
        from .outputs import segments_csv

        return segments_csv(self.segments)

    def save(self, folder: str | os.PathLike, annotate: bool = False, truth: str | os.PathLike | None = None,
             annotate_size: int | None = 720) -> Path:
        """Write exactly the files ``lrcn predict`` writes for this video into ``folder`` (``annotate``: the
        annotated MP4 too; ``truth``: a truth CSV, scored and drawn). Returns ``folder``."""
        from .outputs import match_truth, read_truth, write_prediction

        rows = match_truth(read_truth(truth), list(self.classes), truth) if truth else None
        write_prediction(self, folder, rows, annotate, annotate_size)
        return Path(folder)

    @property
    def label(self) -> str:
        """The label that covers most of the video."""
        if not self.segments:
            return ""
        totals: dict[str, float] = {}
        for s in self.segments:
            totals[s.label] = totals.get(s.label, 0.0) + s.end - s.start
        return max(totals, key=totals.get)

    def __repr__(self) -> str:
        odd = sum(1 for s in self.segments if s.unfamiliar)
        return (f"Prediction({self.video!r}: {self.label!r}, {len(self.segments)} segments"
                f"{f' ({odd} unfamiliar)' if odd else ''}, {len(self.times)} steps, {len(self.classes)} classes)")


class Model:
    """A runnable model: checkpoint (or built-in) + embedder + head, in one place.

    Args:
        source: a checkpoint file, a run folder (its final model), or ``"kinetics400"``.
        device: ``cpu``, ``cuda``, ``cuda:N`` (default: the GPU where there is one).
        precision: ``auto`` (bf16 where native and faithful), ``fp32``, ``bf16``, ``fp16``.
        onnx: an ``lrcn export`` folder: run its CNN and head in ONNX Runtime.
        runtime: what runs the frame CNN (:func:`lrcn.backbone.choose_runtime`): ``auto`` (ONNX Runtime on
            a CPU in fp32 where installed), ``pytorch``, ``onnxruntime``.
        crop: override the checkpoint's ``center``/``full``.
        compile: ``torch.compile`` the backbone (``None``: where it pays back for ``inputs``).
        live: clip backbones take clips that end at each step (no look-ahead).
        inputs: the videos it will run on (for ``compile=None``).
    """

    def __init__(self, source: str | os.PathLike, device: str | None = None, precision: str = "auto",
                 onnx: str | os.PathLike | None = None, crop: str | None = None, compile: bool | None = False,
                 live: bool = False, inputs: Sequence[str | os.PathLike] = (), runtime: str = "auto"):
        self.device = local_device(device)
        self.builtin = str(source) in BUILTIN_MODELS
        self.ckpt: Checkpoint | None = None
        self._embedder = None
        self.familiarity = None  # the training data's shape: unfamiliar input is marked (lrcn.familiarity)
        if self.builtin:
            if onnx:
                raise ConfigError(f"--onnx runs an lrcn export; {source} runs in PyTorch")
            from .backbone import choose_precision
            from .backbone import I3DEmbedder
            from .weights import kinetics400_classes

            self.checkpoint = Path(str(source))
            self.classes = kinetics400_classes()
            self.fps = FeatureSpec().fps  # the LRCN's default step rate, so its outputs read like every other model's
            self.window = 1
            self.crop = crop or "center"
            self.causal = True
            self.clip = replace(I3D_CLIP, placement="end" if live else "center")
            self._embedder = I3DEmbedder(self.device, choose_precision(self.device, precision, "i3d"))
            self.head = ClassifierHead(self._embedder.model.logits).to(self.device).eval()
            self.arch = "i3d"
            return
        self.checkpoint = resolve_checkpoint(source)
        self.ckpt = load_checkpoint(self.checkpoint)
        spec: FeatureSpec = self.ckpt.features
        if crop:
            spec = replace(spec, crop=crop)
        self.spec = spec
        self.classes = list(self.ckpt.class_names)
        self.fps = float(spec.fps)
        self.window = self.ckpt.sampling.num_frames
        self.crop = spec.crop
        self.causal = bool(self.ckpt.model_config.causal)
        from .familiarity import Familiarity

        self.familiarity = Familiarity.from_dict(self.ckpt.familiarity)
        self.arch = spec.backbone.arch
        self.clip = clip_geometry(self.arch, "end" if live else "center")  # training cached centred clips
        self._precision, self._compile, self._inputs, self._runtime = precision, compile, tuple(inputs), runtime
        if onnx:
            from .runtime import load_export

            self._embedder, self.head = load_export(onnx, self.ckpt)
        else:  # the CNN is made when first needed (a complete embedding cache needs none)
            self.head = self.ckpt.head(self.device)

    def decoding(self, decoding: Decoding | None = None) -> Decoding:
        """``decoding`` (default: predict's) with what it leaves open filled in from this model: the switch
        penalty its training chose on validation videos (annotated long videos), else the default one."""
        return (decoding or Decoding()).resolved(self.ckpt.switch_penalty if self.ckpt is not None else None)

    @property
    def embedder(self):
        """The backbone that embeds each step (built on first use)."""
        return self.backbone()

    def backbone(self, compile: bool | None = None):
        """The backbone, built once: ``compile`` decides ``torch.compile`` for the first build (``None``:
        the constructor's choice, where ``None`` there means "where it pays back for ``inputs``")."""
        if self._embedder is None:
            from .backbone import create_embedder
            from .embedded import should_compile
            from .features import Request

            spec = self.spec
            if compile is None:
                compile = self._compile
            if compile is None:
                compile = should_compile(None, [Request(str(p), ("center",)) for p in self._inputs], spec.fps,
                                         self.device, spec.backbone.arch)
            self._embedder = create_embedder(spec.backbone, device=self.device, precision=self._precision,
                                             compile=bool(compile), runtime=self._runtime)
        return self._embedder

    def __repr__(self) -> str:
        return (f"lrcn.Model({str(self.checkpoint)!r}: {len(self.classes)} classes, {self.arch}, "
                f"{self.window} step{'s' if self.window > 1 else ''} at {self.fps:g} fps)")

    # ``lrcn.load(...).num_frames`` kept its old name
    @property
    def num_frames(self) -> int:
        return self.window

    def step_embedder(self, batch: int = 32) -> StepEmbedder:
        return StepEmbedder(self.embedder, self.fps, self.clip, batch)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the one rule scales a ``width`` x ``height`` picture to before the crop."""
        return decode_size(width, height, self.crop)

    def embed_video(self, path: str | os.PathLike, mode: str = "live", batch_size: int = 32,
                    progress: bool | Callable[[int, int], None] = False) -> Iterator[tuple[float, np.ndarray]]:
        """``(time, embedding)`` per step of ``path``, in order; frames decoded and embedded once each.

        ``mode="preprocessed"``: every frame of a pre-processed clip is a step (frame backbones).
        ``progress``: a bar on the terminal (``True``), or a function called with (steps done, steps
        expected from the headers) as steps are embedded."""
        from tqdm import tqdm

        info = probe(path)
        size = self.decode_size(info.width, info.height)
        embedder = self.step_embedder(batch_size)
        if mode != "live" and self.clip is None:
            embedder.step_fps = embedder.decode_fps = max(info.fps, self.fps)
        expected = round(info.duration * self.fps)
        bar = tqdm(total=expected or None, desc=Path(path).name, unit="step", disable=progress is not True,
                   leave=False)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            bar.update(n)
            if n and callable(progress):
                progress(done, max(expected, done))

        with bar:
            for sampled in iter_frames_at_fps(path, embedder.decode_fps, size, INTERPOLATION):
                out = embedder.push(sampled.time, sampled.rgb)
                advance(len(out))
                yield from out
            out = embedder.flush()
            advance(len(out))
            yield from out

    def read_frames(self, path: str | os.PathLike) -> np.ndarray:
        """The frames of ``path`` a frame model sees, sampled at :attr:`fps` and scaled by the one rule
        (shorter side 256): ``(T, H, W, 3)`` uint8, ready for :meth:`classify`."""
        return decode_sampled(path, FeatureSpec(fps=self.fps, crop=self.crop))

    def scale(self, frames: np.ndarray) -> np.ndarray:
        """``(T, H, W, 3)`` uint8 RGB of any size, scaled by the one rule's filter (FFmpeg bilinear)."""
        w, h = self.decode_size(frames.shape[2], frames.shape[1])
        return frames if frames.shape[1:3] == (h, w) else resize_rgb(frames, (w, h), INTERPOLATION)

    def window_scores(self, steps: Iterable[tuple[float, np.ndarray]], stride: int = 1,
                      batch: int = 256) -> WindowScores:
        """Slide a window of :attr:`window` steps over ``steps``, advancing ``stride`` steps at a time."""
        if stride < 1:
            raise ConfigError(f"--stride must be at least 1, got {stride}")
        recent: deque = deque(maxlen=self.window)
        times, starts, probs, pending, step_probs = [], [], [], [], []

        def run():
            window, steps = window_probabilities(self.head, np.stack(pending), self.device, batch)
            probs.append(window)
            if steps is not None:
                step_probs.append(steps)
            pending.clear()

        for t, emb in steps:
            recent.append(emb)
            times.append(t)
            first = len(times) - self.window
            if len(recent) == self.window and first % stride == 0:
                starts.append(first)
                pending.append(np.stack(recent))
                if len(pending) == batch:
                    run()
        if pending:
            run()
        return WindowScores(np.array(times, float), np.array(starts, int),
                            np.concatenate(probs) if probs else np.zeros((0, len(self.classes))),
                            (np.concatenate(step_probs) if step_probs else np.zeros((0, self.window, len(self.classes))))
                            if self.per_step else None)

    @property
    def per_step(self) -> bool:
        """A head trained with a loss at every step (``lrcn train --per-step`` or ``--both-readouts``), run
        in PyTorch: each step gets its own probabilities (an ONNX head gives the window's)."""
        return labels_each_step(self.head)

    def step_probabilities(self, ring: Sequence[np.ndarray]) -> np.ndarray:
        """``(C,)`` probabilities of the window ending at the newest step of ``ring`` (a stream's)."""
        return softmax(run_head(self.head, np.stack(ring)[None].astype(np.float32), self.device))[0]

    def check_partner(self, other: "Model") -> None:
        """Raises :class:`ConfigError` unless ``other`` can be read together with this model
        (:meth:`segment`'s ``with_model``): the same classes in the same order, and steps embedded alike
        (backbone, fps, crop), so both read one embedding of each step."""
        if other.builtin or self.builtin or other.ckpt is None:
            builtin = other.checkpoint if other.builtin else self.checkpoint
            raise ConfigError(f"--with reads two lrcn checkpoints together; {builtin} is built in")
        if list(other.classes) != list(self.classes):
            raise ConfigError(f"--with {other.checkpoint}: its {len(other.classes)} classes are not {self.checkpoint}'s "
                              f"{len(self.classes)} in the same order; models read together must share their classes")
        if self.spec != other.spec:
            def steps(m: "Model") -> str:
                return f"{m.spec.backbone.arch}, {m.spec.fps:g} fps, crop {m.spec.crop}"
            same = steps(self) == steps(other)
            raise ConfigError(f"--with {other.checkpoint}: its steps ({steps(other)}{', other weights' if same else ''})"
                              f" are not {self.checkpoint}'s ({steps(self)}); models read together must embed "
                              f"steps alike")

    def joint_decoding(self, decoding: Decoding | None, other: "Model | None") -> Decoding:
        """:meth:`decoding`, or for this model read with ``other``: a switch penalty not given is the mean
        of the two models' own (:func:`lrcn.decode.joint_switch_penalty`)."""
        if other is None or (decoding is not None and decoding.switch_penalty is not None):
            return self.decoding(decoding)
        from .decode import joint_switch_penalty

        penalty = joint_switch_penalty([self.decoding(decoding).switch_penalty, other.decoding(decoding).switch_penalty])
        return replace(decoding or Decoding(), switch_penalty=penalty)

    def segment(self, path: str | os.PathLike, decoding: Decoding | None = None, mode: str = "live",
                stride: int = 1, batch_size: int = 32, progress: bool = False, top_k: int = 5,
                unfamiliar: bool = True, with_model: "Model | None" = None) -> VideoSegmentation:
        """Embed each step once, slide the window, average each step's windows, decode into segments
        (with ``unfamiliar``, each marked when unlike the training data: :mod:`lrcn.familiarity`).

        ``with_model``: a second model read together with this one (``lrcn predict --with``), e.g. one of
        another window length or trained on other data: it reads the same embedded steps with its own
        window, and each step's probabilities are the two readings' geometric mean, renormalised
        (:func:`lrcn.decode.agreement`), decoded with the mean of their switch penalties unless one is given.

        Raises:
            VideoError: unreadable, or shorter than one window (of either model).
        """
        decoding = self.joint_decoding(decoding, with_model)
        step_scores: list[float] = []
        steps = self.embed_video(path, mode, batch_size, progress)
        if self.familiarity is not None and unfamiliar:
            steps = self._scoring(steps, step_scores)
        if with_model is not None:
            self.check_partner(with_model)
            steps = list(steps)  # both models read them: one row per step, as the frame probabilities are
        scored = self.window_scores(steps, stride)
        partner = with_model.window_scores(steps, stride) if with_model is not None else None
        for model, s in ((self, scored), (with_model, partner)):
            if s is not None and len(s.probs) == 0:
                raise VideoError(f"{path}: {len(s.times)} steps at {model.fps:g} fps, shorter than one window of "
                                 f"{model.window}{f' ({model.checkpoint})' if with_model is not None else ''}")
        info = probe(path)
        fps = self.fps if mode == "live" or self.clip is not None else max(info.fps, self.fps)
        frame_probs = readout_frame_probabilities(frame_readout(self.head), scored.probs, scored.step_probs,
                                                  scored.starts, self.window, len(scored.times))
        if partner is not None:
            from .decode import agreement

            frame_probs = agreement([frame_probs, readout_frame_probabilities(
                frame_readout(with_model.head), partner.probs, partner.step_probs, partner.starts, with_model.window,
                len(partner.times))])
        labels = decode(frame_probs, decoding, fps)
        duration = info.duration or None
        segs = decoded_segments(labels, frame_probs, scored.times, fps, self.classes, duration, top_k)
        scores = np.array(step_scores) if step_scores else None
        if scores is not None:
            segs = self.mark_unfamiliar(segs, scored.times, scores)
        return VideoSegmentation(scored, fps, duration, frame_probs, labels, segs, scores)

    def _scoring(self, steps: Iterable[tuple[float, np.ndarray]], out: list[float]):
        """``steps`` passed on, each one's unfamiliarity appended to ``out`` (scored in batches of 64)."""
        pending: list[tuple[float, np.ndarray]] = []
        for step in steps:
            pending.append(step)
            if len(pending) == 64:
                out.extend(self.familiarity.scores(np.stack([e for _, e in pending])).tolist())
                yield from pending
                pending.clear()
        if pending:
            out.extend(self.familiarity.scores(np.stack([e for _, e in pending])).tolist())
            yield from pending

    def mark_unfamiliar(self, segments: list[Segment], times: np.ndarray, scores: np.ndarray) -> list[Segment]:
        """Each segment with the mean unfamiliarity of its steps and whether it passes the threshold."""
        out = []
        for s in segments:
            inside = scores[(times >= s.start - 1e-6) & (times < s.end - 1e-6)]
            mean = float(inside.mean()) if len(inside) else float("nan")
            out.append(replace(s, unfamiliarity=mean, unfamiliar=bool(len(inside)) and self.familiarity.unfamiliar(inside)))
        return out

    def predict(self, video: str | os.PathLike, decoding: Decoding | None = None, stride: int = 1,
                batch_size: int = 32, top_k: int = 5, unfamiliar: bool = True,
                progress: bool | Callable[[int, int], None] = False, with_model: "Model | None" = None) -> Prediction:
        """Label the actions along ``video``: segments (with their top-k and, where the checkpoint can tell,
        whether each is unlike the training data) and per-step labels; nothing is written. ``progress``: a bar,
        or a function called with (steps done, steps expected) as the video is embedded. ``with_model``: a
        second model read together with this one (:meth:`segment`)."""
        from .config import PredictConfig

        PredictConfig(checkpoint=str(self.checkpoint), inputs=(str(video),), stride=stride, batch_size=batch_size,
                      top_k=top_k, decoding=decoding or Decoding())  # the CLI's checks, the CLI's messages
        path = Path(video)
        v = self.segment(path, decoding, "live", stride, batch_size, progress=progress, top_k=top_k,
                         unfamiliar=unfamiliar, with_model=with_model)
        return self.prediction(path, v, decoding, "live", top_k, with_model)

    def prediction(self, path: str | os.PathLike, v: VideoSegmentation, decoding: Decoding, mode: str,
                   top_k: int, with_model: "Model | None" = None) -> Prediction:
        """:meth:`segment`'s result as a :class:`Prediction` (what ``lrcn predict`` writes out)."""
        fam = self.familiarity if v.unfamiliarity is not None else None
        return Prediction(str(path), v.segments, v.scored.times, [self.classes[c] for c in v.labels], v.frame_probs,
                          v.scored.starts, v.scored.probs, self.classes, v.unfamiliarity, v.fps, self.window,
                          v.duration, str(self.checkpoint) + (f" with {with_model.checkpoint}" if with_model else ""),
                          dict(self.joint_decoding(decoding, with_model).__dict__), mode, top_k,
                          None if fam is None else {
                              "threshold": round(fam.threshold, 3), "calibrated_on": fam.calibrated_on,
                              "rule": "a segment is unfamiliar when the mean unfamiliarity of its steps exceeds the "
                                      "threshold (about 1 % of the held-out familiar steps do)"})

    def predict_many(self, videos: str | os.PathLike | Iterable[str | os.PathLike],
                     raise_errors: bool = False, **kwargs) -> list[Prediction | Exception]:
        """:meth:`predict` for each video; one path (a ``str``) is one video. A video that fails gives its
        error in its place (finished results are kept), unless ``raise_errors``."""
        from .errors import LrcnError

        if isinstance(videos, (str, os.PathLike)):
            videos = [videos]
        out: list[Prediction | Exception] = []
        for v in videos:
            try:
                out.append(self.predict(v, **kwargs))
            except LrcnError as exc:
                if raise_errors:
                    raise
                out.append(exc)
        return out

    def classify(self, frames: np.ndarray | Sequence[np.ndarray]) -> tuple[str, np.ndarray]:
        """The action in ``frames``: ``(T, H, W, 3)`` uint8 RGB sampled at :attr:`fps` (frame models), any
        size (scaled by the one rule, then centre-cropped). ``T`` must be at least :attr:`window`; a
        longer sequence is scored by every window, averaged. Returns the label and the probabilities.
        Frames from :meth:`read_frames` give exactly what ``predict`` gives for the same video."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ConfigError(f"frames must be (T, H, W, 3) uint8 RGB, got {frames.dtype} {frames.shape}")
        if self.clip is not None:
            raise ConfigError(f"{self.checkpoint}: classify takes frames of a frame model; use predict for a clip model")
        if len(frames) < self.window:
            raise ConfigError(f"{len(frames)} frames, the model reads windows of {self.window}")
        embedder = self.step_embedder(batch=len(frames))
        steps = [s for i, f in enumerate(self.scale(frames)) for s in embedder.push(i / self.fps, f)]
        steps += embedder.flush()
        scored = self.window_scores(steps)
        probs = scored.probs.mean(0)
        return self.classes[int(probs.argmax())], probs


def load(source: str | os.PathLike, device: str | None = None, precision: str = "auto", runtime: str = "auto") -> Model:
    """A model from a checkpoint file, a run folder (its final, else best, else last model), or ``"kinetics400"``.
    ``runtime``: what runs the frame CNN (``auto``: ONNX Runtime on a CPU in fp32 where installed)."""
    return Model(source, device=device, precision=precision, runtime=runtime)
