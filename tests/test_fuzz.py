"""Every text format lrcn reads, fed any bytes: a result or one LrcnError (a line naming the file), never
another exception. Property-based (hypothesis): UCF-101's split lists and classInd.txt, truth CSVs,
lrcn_model.json, preprocess.json with its manifests, and the embedding cache's records."""

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcn.errors import LrcnError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Bytes that look a little like the real files (so the parsers get past their first check), and any bytes.
text_like = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet=st.sampled_from(list("0123456789 ,.-_/\\\n\r\t\"'{}[]:abcAvi\x00\ufeff")), max_size=200)
    .map(lambda s: s.encode("utf-8")),
)
json_like = st.one_of(
    st.binary(max_size=200),
    st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=8),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                     st.sampled_from(["classes", "fps", "window", "files", "sha256", "sampling", "settings", "clip",
                                      "label", "group", "split", "source", "status", "frame_indices", "key", "views",
                                      "frames", "features", "dtype", "sha1", "feature_dim", "causal"]),
                     inner, max_size=6), max_leaves=12).map(lambda v: json.dumps(v).encode()),
)


_ROOT: list[Path] = []  # the module's one temporary folder (hypothesis runs a test many times per fixture)


@pytest.fixture(scope="module", autouse=True)
def _fuzz_root(tmp_path_factory):
    """Every example's files go under one folder that is removed after the module: nothing is left in /tmp."""
    _ROOT.append(tmp_path_factory.mktemp("fuzz"))
    yield
    shutil.rmtree(_ROOT.pop())


def _folder() -> Path:
    return Path(tempfile.mkdtemp(dir=_ROOT[-1]))


def _file(data: bytes, name: str) -> Path:
    folder = _folder()
    path = folder / name
    path.write_bytes(data)
    return path


def _only_lrcn_errors(fn, *args):
    try:
        fn(*args)
    except LrcnError as exc:
        assert "\n" not in str(exc).strip(), str(exc)


@FUZZ
@given(text_like)
def test_class_index(data):
    from lrcn.datasets import parse_class_index

    _only_lrcn_errors(parse_class_index, _file(data, "classInd.txt"))


@FUZZ
@given(text_like)
def test_split_list(data):
    from lrcn.datasets import parse_split_list

    _only_lrcn_errors(parse_split_list, _file(data, "trainlist01.txt"), ["ApplyEyeMakeup", "Archery"])


@FUZZ
@given(text_like)
def test_truth_csv(data):
    from lrcn.outputs import match_truth, read_truth

    def read(path):
        match_truth(read_truth(path), ["a", "b"], path, "ignore")

    _only_lrcn_errors(read, _file(data, "truth.csv"))


@FUZZ
@given(json_like)
def test_lrcn_model_json(data):
    from lrcn.model import ModelConfig
    from lrcn.runtime import load_export

    class Ckpt:  # what load_export reads of a checkpoint
        class_names = ["a", "b"]
        model_config = ModelConfig(feature_dim=8, num_classes=2)
        model = {}

        class features:
            fps = 2.5

        class sampling:
            num_frames = 5

    _only_lrcn_errors(load_export, _file(data, "lrcn_model.json").parent, Ckpt)


@FUZZ
@given(json_like, json_like)
def test_preprocess_json_and_manifest(info, manifest):
    from lrcn.datasets import load_clips

    root = _file(info, "preprocess.json").parent
    (root / "manifest.jsonl").write_bytes(manifest + b"\n" + manifest)
    _only_lrcn_errors(load_clips, root)


@FUZZ
@given(json_like)
def test_cache_record(record):
    from lrcn.backbone import BackboneSpec
    from lrcn.features import EmbeddingCache, FeatureSpec, Request

    root = _folder()
    video = root / "v.avi"
    video.write_bytes(b"not read: the key is made from the bytes")
    cache = EmbeddingCache(root / "cache", FeatureSpec(BackboneSpec("mobilenet_v2", "none"), 2.5))
    request = Request(str(video), ("center",))
    path = cache.entry_path(cache.key(str(video), ("center",)))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.zeros((1, 3, 1280), np.float16))
    path.with_suffix(".json").write_bytes(record)
    _only_lrcn_errors(cache.load, request)


def test_the_fuzzers_reach_the_parsers():
    """A sanity check of the harness: well-formed files parse, so the properties above are not vacuous."""
    from lrcn.datasets import parse_class_index
    from lrcn.outputs import read_truth

    assert parse_class_index(_file(b"1 A\r\n2 B\n", "classInd.txt")) == ["A", "B"]
    assert read_truth(_file(b"start,end,label\n0,1,a\n", "t.csv")) == [(0.0, 1.0, "a")]
    with pytest.raises(LrcnError):
        read_truth(_file(b"\xff\xfe\x00garbage", "t.csv"))
