"""The ``lrcn`` command: a table from subcommand to function.

Errors a user can cause (a missing file, a bad video, a wrong flag
combination) print one line, ``lrcn: error: ...``, and exit non-zero; no
traceback. Ctrl-C says how to resume. Each command builds (and so validates) its settings before
it imports the module that runs it, so a wrong flag is answered before PyTorch is loaded.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Callable

from . import __version__
from .errors import ConfigError, LrcnError
from .config import (CheckConfig, ContinuousConfig, DemoConfig, EvalConfig, ExportConfig, FeaturesConfig, InfoConfig, PredictConfig, ReviewConfig,
                     PreprocessConfig, StreamConfig, SynthConfig, TrainConfig, WeightsConfig)
from .settings import apply_config, flags, from_args

log = logging.getLogger("lrcn")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults as a user types them (``center,flip``), and none shown where there is nothing to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_ = action.help or ""
        if "(default:" in help_ or action.required or any(action.default is x for x in (None, False, argparse.SUPPRESS)) \
                or not action.option_strings or isinstance(action, argparse._StoreFalseAction):
            return help_  # said in words already, required, off by default, or positional
        default = action.default
        if isinstance(default, (tuple, list)):
            default = ",".join(map(str, default))
        return f"{help_} (default: {default})".replace("%", "%%")


def _add_runtime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


# --- subcommands ------------------------------------------------------------------------------

def cmd_synth(a) -> int:
    from .synth import generate

    if a.dir and a.out_dir not in (a.dir, SynthConfig.__dataclass_fields__["out_dir"].default):
        raise ConfigError(f"two dataset folders given: {a.dir} and --out-dir {a.out_dir}")
    root = generate(from_args(SynthConfig, a, **({"out_dir": a.dir} if a.dir else {})), progress=not a.no_progress)
    print(f"synthetic dataset: {root} (split files in {root / 'ucfTrainTestlist'})")
    return 0


def cmd_preprocess(a) -> int:
    cfg = from_args(PreprocessConfig, a)
    from .preprocess import run

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


def cmd_features(a) -> int:
    cfg = from_args(FeaturesConfig, a)
    from .embedded import features

    summary, embedder = features(cfg, progress=not a.no_progress)
    how = (f" ({embedder.spec.arch}, {embedder.precision} on {embedder.device}"
           f"{', compiled' if embedder.compiled else ''})" if embedder else "")
    print(f"embeddings in {a.cache_dir}: {summary['computed']} computed, {summary['cached']} already cached, "
          f"{len(summary['failed'])} failed{how}")
    for f in summary["failed"][:10]:
        print(f"  skipped {f['video']}: {f['reason']}")
    return 0


def cmd_weights(a) -> int:
    cfg = from_args(WeightsConfig, a)
    from .backbone import imagenet_cache_path, install_weights

    i3d = cfg.file == "i3d" or bool(cfg.file and cfg.file.endswith((".ckpt", ".tar.gz", ".tgz")))
    if cfg.action == "where":
        if i3d:
            from .weights import i3d_weights_folder, installed_i3d_file

            print(installed_i3d_file() or f"{i3d_weights_folder()} (not installed)")
        else:
            print(imagenet_cache_path(cfg.backbone))
        return 0
    if i3d:
        from .weights import install_i3d

        print(f"installed {install_i3d(None if cfg.file == 'i3d' else cfg.file)} (Kinetics-400 I3D)")
        return 0
    print(f"installed {install_weights(cfg.file, cfg.backbone)}")
    return 0


def cmd_train(a) -> int:
    cfg = from_args(TrainConfig, a)
    from .train import run, summary_lines

    run_dir = run(cfg, progress=not a.no_progress)
    print("\n".join(summary_lines(run_dir)))
    return 0


def cmd_test(a) -> int:
    cfg = from_args(EvalConfig, a)
    from .evaluate import run

    report = run(cfg, progress=not a.no_progress)
    print(_test_summary(report))
    return 0


def _test_summary(r: dict) -> str:
    if r.get("kind") == "annotated":
        b, a = r["before_smoothing"], r["after_smoothing"]
        window = f"{r['window_accuracy']:.1%}" if r["window_accuracy"] is not None else "-"
        return (f"{r['test_videos']} annotated test videos, {r['frames_scored']} frames scored; "
                f"after decoding: frames {a['frame_accuracy']:.1f} %, edit {a['edit']:.1f}, F1@10/25/50 "
                f"{a['f1@10']:.1f}/{a['f1@25']:.1f}/{a['f1@50']:.1f}; before: frames {b['frame_accuracy']:.1f} %, "
                f"edit {b['edit']:.1f}, F1@50 {b['f1@50']:.1f}; window accuracy {window}; "
                f"actions found by length (sampled frames): "
                + ", ".join(f"{v['frames']}: {v['found']}/{v['actions']}" for v in r["by_action_length"].values())
                + f"; report: {r['report']}")
    return (f"clip accuracy {r['clip_accuracy']:.1%} (top-5 {r['clip_top5_accuracy']:.1%}) on {r['test_clips']} clips; "
            f"video accuracy {r['video_accuracy']:.1%} on {r['test_videos']} videos; "
            f"mean class accuracy {r['mean_class_accuracy']:.1%}; report: {r['report']}")


def cmd_test_continuous(a) -> int:
    cfg = from_args(ContinuousConfig, a)
    from .continuous import run

    r = run(cfg, progress=not a.no_progress)
    by_k = ", ".join(f"{k}: {v['mean']:.0%}" for k, v in r["accuracy_by_frames_from_first_action"].items())
    print(f"window accuracy {r['window_accuracy_mean']:.1%} +- {r['window_accuracy_std']:.1%} over {r['repeats']} "
          f"videos of {r['frames']} frames; by frames from the first action: {by_k}; mixed windows follow the "
          f"first action {r['mixed_follows_first_mean']:.0%}, the last {r['mixed_follows_last_mean']:.0%}")
    print("as a segmentation (means over the repeats): " + _segmentation_line(r["segmentation"]))
    print(f"report: {r['report']}")
    return 0


def cmd_predict(a) -> int:
    cfg = from_args(PredictConfig, a)
    from .predict import run

    results, failures = run(cfg)
    for r in results:
        segs = r["segments"]
        main_label = max(segs, key=lambda s: s["end"] - s["start"])["label"] if segs else "-"
        print(f"{r['video']}: {len(segs)} segments, mostly {main_label}; {r['out_dir']}")
        odd = [s for s in segs if s.get("unfamiliar")]
        if odd:
            share = sum(s["end"] - s["start"] for s in odd) / max(1e-9, sum(s["end"] - s["start"] for s in segs))
            print(f"lrcn: warning: {r['video']}: {len(odd)} of {len(segs)} segments ({100 * share:.0f} % of the time) "
                  f"look unlike the training data; their labels are guesses among classes that may not apply",
                  file=sys.stderr)
        if "scores" in r:
            print("  against the truth: " + _segmentation_line(r["scores"]))
    for f in failures:
        print(f"lrcn: error: {f['reason']}", file=sys.stderr)
    return 1 if failures else 0


def cmd_review(a) -> int:
    cfg = from_args(ReviewConfig, a)
    from .review import write_review

    page = write_review(cfg.folder, cfg.video)
    print(f"{page} (open it in a browser; it loads nothing from the network)")
    return 0


def cmd_stream(a) -> int:
    cfg = from_args(StreamConfig, a)
    from .stream import run

    summary = run(cfg)
    if not summary["frames"]:
        print(f"lrcn: warning: {cfg.source}: the stream ended with no frame labelled ({summary['dropped']} dropped; "
              f"it gave fewer sampled frames than a window needs, or none)", file=sys.stderr)
        return 1
    print(f"lrcn stream: {summary['frames']} frames labelled, {summary['dropped']} dropped, latency median "
          f"{summary['latency_median'] * 1000:.0f} ms (p95 {summary['latency_p95'] * 1000:.0f} ms)", file=sys.stderr)
    return 0


def cmd_export(a) -> int:
    cfg = from_args(ExportConfig, a)
    from .export import run

    info = run(cfg)
    checks = ", ".join(f"{k} {v['max_abs_difference']:.1e} ({v['relative']:.1e} of its range)"
                       for k, v in info["check"].items() if isinstance(v, dict))
    print(f"exported to {a.out_dir}: {', '.join(info['files'].values())}, lrcn_model.json; ONNX Runtime against "
          f"PyTorch on {info['check']['frames']} frames of {info['check']['video']}: {checks}")
    return 0


def _segmentation_line(scores: dict) -> str:
    def one(x: dict) -> str:
        return (f"frame accuracy {x['frame_accuracy']:.1f} %, edit {x['edit']:.1f}, F1@10/25/50 {x['f1@10']:.1f}/"
                f"{x['f1@25']:.1f}/{x['f1@50']:.1f}, {x['predicted_segments']} segments for {x['true_segments']}")

    return f"decoded: {one(scores['after_smoothing'])} (per frame, before smoothing: {one(scores['before_smoothing'])})"


def cmd_check(a) -> int:
    cfg = from_args(CheckConfig, a)
    from .check import format_report, run

    report = run(cfg, progress=not a.no_progress)
    print(format_report(report))
    return 0 if report["ok"] else 1


def cmd_info(a) -> int:
    cfg = from_args(InfoConfig, a)
    from .checkpoint import info_lines

    print("\n".join(info_lines(cfg.checkpoint)))
    return 0


def cmd_demo(a) -> int:
    cfg = from_args(DemoConfig, a)
    from .demo import run

    run(cfg, progress=not a.no_progress)
    return 0


# --- parser -----------------------------------------------------------------------------------

COMMANDS: dict[str, tuple[Callable, str]] = {
    "demo": (cmd_demo, "run the whole pipeline on a synthetic dataset and print the report (start here)"),
    "check": (cmd_check, "scan a dataset before a long job: split files, missing/undecodable videos, group overlap"),
    "synth": (cmd_synth, "write a small synthetic action dataset in UCF-101's layout"),
    "preprocess": (cmd_preprocess, "cut seeded 5-frame clips at 2.5 fps out of every video (the seed's pre-processing)"),
    "weights": (cmd_weights, "put weights into torch's cache (offline MobileNetV2; 'i3d': the Kinetics-400 I3D) or show where they go"),
    "features": (cmd_features, "embed every sampled frame once with the frozen CNN and cache it"),
    "train": (cmd_train, "train the LSTM head on cached embeddings"),
    "test": (cmd_test, "basic test mode: clip/video accuracy, top-5, confusion matrix, per-class plot"),
    "test-continuous": (cmd_test_continuous, "diverse-actions test: a sliding window over test clips laid end to end"),
    "predict": (cmd_predict, "label the actions along any video(s): segments, SRT subtitles, annotated MP4"),
    "stream": (cmd_stream, "label a live source as it plays (camera, rtsp/http/udp/tcp URL, - for a pipe, a file): "
                           "one JSON line per sampled frame and per segment"),
    "export": (cmd_export, "write the CNN and the head as ONNX (checked in ONNX Runtime) for use without PyTorch"),
    "info": (cmd_info, "what a checkpoint is: its model card (lrcn version, date, data, classes, validation, test)"),
    "review": (cmd_review, "write review.html for a prediction: watch, correct and download its segments offline"),
}


#: Commands that take ``--config FILE`` (a run's config.json, or a JSON object of their settings).
REPLAYABLE = ("train", "features", "test", "test-continuous", "predict")


def build_parser(replay: bool = False) -> argparse.ArgumentParser:
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

    # Every subcommand's flags come from its settings dataclass (lrcn.config): one definition each.
    settings = {"demo": DemoConfig, "check": CheckConfig, "synth": SynthConfig, "preprocess": PreprocessConfig,
                "weights": WeightsConfig, "features": FeaturesConfig, "train": TrainConfig, "test": EvalConfig,
                "test-continuous": ContinuousConfig, "predict": PredictConfig, "stream": StreamConfig, "export": ExportConfig,
                "info": InfoConfig, "review": ReviewConfig}
    parser.lrcn_subparsers = {}
    for name, cls in settings.items():
        p = add(name)
        parser.lrcn_subparsers[name] = p
        if name == "synth":  # the folder may also be given as a positional argument, like every data command
            p.add_argument("dir", nargs="?", default=None, metavar="DIR", help="dataset folder to write (as --out-dir)")
        flags(p, cls, optional_positionals=replay and name in REPLAYABLE)
        if name in REPLAYABLE:
            p.add_argument("--config", metavar="JSON", default=None,
                           help="replay settings from a JSON file: a run's config.json (its 'train' settings) or an "
                                "object of this command's settings; flags given here override it")
        if name not in ("weights", "stream", "export", "info", "review"):  # stream has no bar: its output is the JSON lines
            _add_runtime(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    replay = any(t == "--config" or t.startswith("--config=") for t in argv)
    parser = build_parser(replay)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if getattr(args, "config", None):
        try:
            apply_config(args, parser.lrcn_subparsers[args.command], argv, args.config)
        except LrcnError as exc:
            print(f"lrcn: error: {exc}", file=sys.stderr)
            return exc.exit_code
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("lrcn").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for noisy in ("PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    terminated = []

    def on_sigterm(signum, frame):  # SIGTERM stops like Ctrl-C: temporaries removed, one line, exit 143
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
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
        what = "terminated" if terminated else "interrupted"
        print(f"lrcn: {what}; what was finished is kept: run the same command again to resume where it stopped",
              file=sys.stderr)
        return 143 if terminated else 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
