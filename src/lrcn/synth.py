"""``lrcn synth``: a small synthetic action dataset in UCF-101's layout.

Ten classes. Eight come in pairs that differ **only in the order of their
frames** (a circle growing vs shrinking, a bar stretching vs
squeezing sideways, a bar filling up vs draining, a scene fading in vs out): each is a
periodic sawtooth with a random phase, so the *set* of frames of a clip has
the same distribution in both classes of a pair and a model that ignores
order is at chance on them. Two classes are static (a cross, stripes) and
need no order. Videos of one group share a background, like UCF-101's groups
share an actor and a scene; groups 1-3 are the test groups of split 1 (the
split files rotate them for splits 2 and 3).
"""

from __future__ import annotations

import colorsys
import logging
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .io import atomic_path, write_text_atomic
from .video import write_video

log = logging.getLogger(__name__)

CLASSES = (
    "CircleGrow", "CircleShrink",
    "Stretch", "Squeeze",
    "FillUp", "DrainDown",
    "FadeIn", "FadeOut",
    "Cross", "Stripes",
)
ORDER_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))  # class indices that differ only in frame order


@dataclass(frozen=True)
class SynthConfig:
    """Settings of ``lrcn synth``."""

    out_dir: str = "synthetic_ucf"
    num_classes: int = len(CLASSES)  # the first N of CLASSES
    groups: int = 10  # groups per class (UCF-101 has 25)
    clips_per_group: int = 3  # videos per group (UCF-101 has 4-7)
    width: int = 160
    height: int = 120
    fps: float = 25.0
    min_seconds: float = 3.0
    max_seconds: float = 6.0
    seed: int = 0
    workers: int = 0  # 0 = all cores

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= len(CLASSES):
            raise ValueError(f"num_classes must be 1..{len(CLASSES)}")
        if self.groups < 4:
            raise ValueError("groups must be >= 4 (3 are test groups)")
        if self.min_seconds <= 0 or self.max_seconds < self.min_seconds:
            raise ValueError("need 0 < min_seconds <= max_seconds")


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth random colour field: a few low-frequency sinusoids per channel."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        base = rng.uniform(40, 160)
        for _ in range(3):
            fx, fy = rng.uniform(0.5, 3.0, size=2) * 2 * math.pi
            img[..., c] += rng.uniform(10, 30) * np.sin(fx * x / width + fy * y / height + rng.uniform(0, 6.3))
        img[..., c] += base
    return img


def _render(label: int, t: np.ndarray, rng: np.random.Generator, bg: np.ndarray) -> np.ndarray:
    """Frames of class ``label`` at phases ``t`` (cycles, any real) -> (T, H, W, 3) uint8."""
    height, width = bg.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx = width / 2 + rng.uniform(-0.12, 0.12) * width
    cy = height / 2 + rng.uniform(-0.12, 0.12) * height
    colour = np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), 0.8, 0.95), np.float32) * 255
    scale = min(width, height)
    frames = []
    for phase in t:
        saw = phase % 1.0  # 0 -> 1 over one period
        img = bg.copy()
        if label in (0, 1):  # circle growing / shrinking
            s = saw if label == 0 else 1.0 - saw
            radius = scale * (0.08 + 0.32 * s)
            img[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = colour
        elif label in (2, 3):  # a horizontal bar stretching / squeezing sideways
            half_width = scale * (0.06 + 0.5 * (saw if label == 2 else 1.0 - saw))
            img[(abs(x - cx) <= half_width) & (abs(y - cy) <= scale * 0.12)] = colour
        elif label in (4, 5):  # a bar filling up / draining
            level = 0.1 + 0.85 * (saw if label == 4 else 1.0 - saw)
            top = height * (1.0 - level)
            img[(abs(x - cx) <= scale * 0.2) & (y >= top)] = colour
        elif label in (6, 7):  # whole scene fading in / out
            level = 0.15 + 0.85 * (saw if label == 6 else 1.0 - saw)
            img[(x - cx) ** 2 + (y - cy) ** 2 <= (scale * 0.2) ** 2] = colour
            img *= level
        elif label == 8:  # a cross, still
            arm, half = scale * 0.3, scale * 0.06
            img[((abs(x - cx) <= arm) & (abs(y - cy) <= half)) | ((abs(x - cx) <= half) & (abs(y - cy) <= arm))] = colour
        else:  # stripes, still
            img[(np.floor((x + y) / (scale * 0.12)) % 2) == 0] = colour
        img += rng.normal(0, 3, size=img.shape).astype(np.float32)  # sensor noise
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _make_video(job: tuple[str, int, int, int, SynthConfig]) -> str:
    path, label, group, clip, cfg = job
    rng = np.random.default_rng([cfg.seed, label, group, clip])
    bg = _background(np.random.default_rng([cfg.seed, 10_000, group]), cfg.width, cfg.height)
    seconds = rng.uniform(cfg.min_seconds, cfg.max_seconds)
    num = int(round(seconds * cfg.fps))
    period = rng.uniform(2.4, 3.6) * cfg.fps  # frames per cycle: 6-9 samples at 2.5 fps
    t = rng.uniform(0, 1) + np.arange(num) / period
    frames = _render(label, t, rng, bg)
    with atomic_path(path) as tmp:
        # UCF-101 is MPEG-4 part 2 in AVI with B-frames; so is this.
        write_video(tmp, frames, cfg.fps, codec="mpeg4", quality=3, max_b_frames=2)
    return path


def test_groups(split: int) -> set[int]:
    """Groups held out for testing in split 1, 2 or 3 (three groups each, rotating)."""
    return {3 * (split - 1) + g for g in (1, 2, 3)}


def generate(cfg: SynthConfig, progress: bool = True) -> Path:
    """Write the dataset to ``cfg.out_dir``; videos already there are kept (resumable)."""
    root = Path(cfg.out_dir)
    classes = CLASSES[: cfg.num_classes]
    jobs = []
    names: dict[tuple[int, int], list[str]] = {}
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for group in range(1, cfg.groups + 1):
            for clip in range(1, cfg.clips_per_group + 1):
                rel = f"{name}/v_{name}_g{group:02d}_c{clip:02d}.avi"
                names.setdefault((label, group), []).append(rel)
                if not (root / rel).is_file():
                    jobs.append((str(root / rel), label, group, clip, cfg))
    workers = cfg.workers or None
    if jobs:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(tqdm(pool.map(_make_video, jobs, chunksize=4), total=len(jobs), desc="synth", disable=not progress))
    lists = root / "ucfTrainTestlist"
    lists.mkdir(exist_ok=True)
    crlf = "\r\n"  # as UCF-101's own files
    write_text_atomic(lists / "classInd.txt", "".join(f"{i + 1} {n}{crlf}" for i, n in enumerate(classes)))
    for split in (1, 2, 3):
        held_out = test_groups(split)
        train, test = [], []
        for (label, group), rels in sorted(names.items()):
            for rel in rels:
                (test if group in held_out else train).append((rel, label))
        write_text_atomic(lists / f"trainlist0{split}.txt", "".join(f"{r} {lab + 1}{crlf}" for r, lab in train))
        write_text_atomic(lists / f"testlist0{split}.txt", "".join(f"{r}{crlf}" for r, _ in test))
    log.info("wrote %d videos (%d new) to %s", sum(map(len, names.values())), len(jobs), root)
    return root
