"""Fixtures that write tiny real videos whose content is known."""

from __future__ import annotations

import numpy as np
import pytest

from lrcn.video import write_video

BLOCK = 16  # one bit of the frame index per 16x16 block: survives lossy coding
BITS = 10


def indexed_frames(n: int, width: int = 320, height: int = 240) -> np.ndarray:
    """Frames whose pixels spell their own index: bit b of i is block b of the top row."""
    frames = np.full((n, height, width, 3), 60, np.uint8)
    for i in range(n):
        for b in range(BITS):
            if (i >> b) & 1:
                frames[i, :BLOCK, b * BLOCK : (b + 1) * BLOCK] = 255
        frames[i, BLOCK * 2 :, :] = (i * 5) % 200 + 30  # content changes every frame
    return frames


def read_index(rgb: np.ndarray) -> int:
    """Inverse of :func:`indexed_frames` for one decoded frame (any size scaled from it)."""
    h, w = rgb.shape[:2]
    sy, sx = h / 240, w / 320
    value = 0
    for b in range(BITS):
        y0, y1 = int(2 * sy), max(int(2 * sy) + 1, int((BLOCK - 2) * sy))
        x0, x1 = int((b * BLOCK + 3) * sx), max(int((b * BLOCK + 3) * sx) + 1, int(((b + 1) * BLOCK - 3) * sx))
        if rgb[y0:y1, x0:x1].mean() > 160:
            value |= 1 << b
    return value


@pytest.fixture
def indexed_avi(tmp_path):
    """A 25-fps MPEG-4 AVI with B-frames, 120 frames, each showing its index."""
    path = tmp_path / "indexed.avi"
    write_video(path, indexed_frames(120), 25, codec="mpeg4", quality=3, max_b_frames=2)
    return path


@pytest.fixture
def make_video(tmp_path):
    """Write a small video: make_video(name, n_frames, fps=25, codec="mpeg4", size=(64, 48))."""

    def _make(name: str, n: int, fps: float = 25, codec: str = "mpeg4", size=(64, 48), frames=None):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if frames is None:
            w, h = size
            rng = np.random.default_rng(n)
            frames = rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)
        write_video(path, frames, fps, codec=codec)
        return path

    return _make


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A 4-class synthetic dataset in UCF-101 layout: 6 groups x 1 video, 2.2-2.6 s at 25 fps, 64x48."""
    from lrcn.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("tiny") / "data"
    generate(SynthConfig(str(root), num_classes=4, groups=6, clips_per_group=1, width=64, height=48,
                         min_seconds=2.2, max_seconds=2.6, workers=1), progress=False)
    return root


@pytest.fixture(scope="session")
def trained(tiny_dataset, tmp_path_factory):
    """A 2-epoch checkpoint on ``tiny_dataset`` (random MobileNetV2): (checkpoint path, cache dir)."""
    from lrcn.train import TrainConfig, run

    base = tmp_path_factory.mktemp("trained")
    cfg = TrainConfig(str(tiny_dataset), backbone="mobilenet_v2", weights="none", cache_dir=str(base / "cache"),
                      run_dir=str(base / "run"), epochs=2, batch_size=4, num_workers=0, val_split=0.25,
                      views=("center",), precision="fp32")
    run_dir = run(cfg, progress=False)
    return run_dir / "Saved_model_checkpoints" / "last.pth.tar", base / "cache"


@pytest.fixture(scope="session")
def causal_trained(tiny_dataset, tmp_path_factory):
    """A causal head (``lrcn train --causal``, 1 epoch, random MobileNetV2) on ``tiny_dataset``: its checkpoint."""
    from lrcn.train import TrainConfig, run

    base = tmp_path_factory.mktemp("causal")
    run_dir = run(TrainConfig(str(tiny_dataset), backbone="mobilenet_v2", weights="none", cache_dir=str(base / "c"),
                              run_dir=str(base / "run"), epochs=1, batch_size=4, num_workers=0, val_split=0,
                              views=("center",), causal=True), progress=False)
    return run_dir / "Saved_model_checkpoints" / "final.pth.tar"
