"""The settings module on its own: every bad value names its flag, flags and settings round-trip,
the per-backbone table is complete, and nothing heavy is imported."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from lrcn import config
from lrcn.config import (BACKBONES, BackboneSpec, Decoding, FeatureSpec, PredictConfig, StreamConfig, SynthConfig,
                         TrainConfig)
from lrcn.settings import flags, from_args
from lrcn.errors import ConfigError


@pytest.mark.parametrize("cls,kwargs,flag", [
    (TrainConfig, dict(lr=-1.0), "--lr"),
    (TrainConfig, dict(epochs=0), "--epochs"),
    (TrainConfig, dict(batch_size=0), "--batch-size"),
    (TrainConfig, dict(num_frames=0), "--num-frames"),
    (TrainConfig, dict(backbone="vgg16"), "--backbone"),
    (TrainConfig, dict(views=("center", "sideways")), "--views"),
    (TrainConfig, dict(precision="fp8"), "--precision"),
    (PredictConfig, dict(stride=0), "--stride"),
    (PredictConfig, dict(top_k=0), "--top-k"),
    (PredictConfig, dict(crop="square"), "--crop"),
    (PredictConfig, dict(runtime="onnx"), "--runtime must be one of auto, pytorch, onnxruntime"),
    (PredictConfig, dict(runtime="pytorch", onnx="export"), "--runtime pytorch and --onnx DIR"),
    (PredictConfig, dict(decoding=None, annotate_size=8), "--annotate-size"),
    (StreamConfig, dict(top_k=0), "--top-k"),
])
def test_a_bad_value_is_one_line_naming_its_flag(cls, kwargs, flag):
    positional = {TrainConfig: ("data",), PredictConfig: ("ckpt", ("v.mp4",)), StreamConfig: ("ckpt", "v.mp4")}[cls]
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        cls(*positional, **kwargs)
    message = str(err.value)
    assert flag in message and "\n" not in message, message


@pytest.mark.parametrize("bad,flag", [
    (dict(smoothing="mean"), "--smoothing"), (dict(switch_penalty=-1.0), "--switch-penalty"),
    (dict(min_seconds=-0.5), "--min-segment"),
])
def test_decoding_names_the_flag_too(bad, flag):
    with pytest.raises(ConfigError, match=flag):
        Decoding(**bad)


@pytest.mark.parametrize("cls,argv,expected", [
    (TrainConfig, ["data", "--lr", "0.001", "--epochs", "3", "--views", "center,flip", "--backbone", "i3d", "--no-refit"],
     dict(data_dir="data", lr=0.001, epochs=3, views=("center", "flip"), backbone="i3d", refit=False)),
    (TrainConfig, ["data"], dict(data_dir="data", both_readouts=None)),  # the head: lrcn train picks it for the data
    (TrainConfig, ["data", "--no-both-readouts"], dict(data_dir="data", both_readouts=False)),
    (TrainConfig, ["data", "--both-readouts"], dict(data_dir="data", both_readouts=True)),
    (PredictConfig, ["kinetics400", "a.mp4", "b.mp4", "--top-k", "3", "--switch-penalty", "4", "--no-video"],
     dict(checkpoint="kinetics400", inputs=("a.mp4", "b.mp4"), top_k=3, annotate=False,
          decoding=Decoding(switch_penalty=4.0))),
    (StreamConfig, ["kinetics400", "-", "--top-k", "2", "--realtime"],
     dict(checkpoint="kinetics400", source="-", top_k=2, realtime=True)),
    (SynthConfig, ["--preset", "order", "--groups", "4"], dict(preset="order", groups=4)),
])
def test_flags_build_the_settings_the_keywords_build(cls, argv, expected):
    """Every field is a flag (or a positional); parsing a command line gives the settings built by keyword."""
    parser = argparse.ArgumentParser()
    flags(parser, cls)
    dests = {a.dest for a in parser._actions}
    for f in dataclasses.fields(cls):
        if f.name in ("_", "progress"):
            continue
        if f.metadata.get("nested"):
            assert all(f"{f.name}.{g.name}" in dests for g in dataclasses.fields(f.default_factory())), f.name
        else:
            assert f.name in dests, f.name
    built = from_args(cls, parser.parse_args(argv))
    for name, value in expected.items():
        assert getattr(built, name) == value, name
    positional = [getattr(built, n) for n in expected if n in ("data_dir", "checkpoint", "source")]
    assert built == cls(*positional, **{k: v for k, v in expected.items() if k not in ("data_dir", "checkpoint",
                                                                                         "source")})


def test_every_backbone_has_its_facts_and_specs_check_them():
    assert set(config.ARCHITECTURES) == set(BACKBONES) == set(config.FEATURE_DIMS)
    assert config.CLIP_BACKBONES == {"i3d": (16, 25.0)}
    assert all(f.classifier for name, f in BACKBONES.items() if name not in config.CLIP_BACKBONES)
    assert BackboneSpec().arch == config.BACKBONE.default  # one default
    with pytest.raises(ConfigError, match="--backbone"):
        BackboneSpec("alexnet")
    with pytest.raises(ConfigError, match="--crop"):
        FeatureSpec(crop="diagonal")
    with pytest.raises(ConfigError, match="fps must be positive"):
        FeatureSpec(fps=0)


def test_the_settings_module_imports_nothing_heavy():
    code = "import sys, lrcn.config; print(sorted({'torch', 'numpy', 'av'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_the_head_left_unnamed_is_both_readouts_on_annotated_long_videos_and_the_window_classifier_on_clips():
    from lrcn.config import head_readouts

    assert head_readouts(None, annotated=True) and not head_readouts(None, annotated=False)
    assert not head_readouts(None, annotated=True, per_step=True) and not head_readouts(None, True, causal=True)
    assert head_readouts(True, annotated=False) and not head_readouts(False, annotated=True)  # as named
