"""``lrcn synth``: a small synthetic action dataset in UCF-101's layout.

Two presets. ``--preset order`` (the harder one, for measuring whether a model
reads frame order): twelve classes in six pairs, the second class of each pair
being the first one's videos **played backwards** -- so the two classes of a
pair have exactly the same distribution of frames and differ only in their
order. The cues are subtle and slow: a blob growing, a slow fade, a hue
turning round the colour wheel, a square morphing into a circle, a level
rising, a pattern coming into focus; each video has its own speed, duration,
phase, colour, position, camera shake and sensor noise. A model that ignores
order is at chance on every pair. No pair turns into the other when mirrored
(a horizontal flip is one of the cached training views), and none depends on
where in the frame something is (global pooling all but discards that).

``--preset classic`` (the demo's):
ten classes. Eight come in pairs that differ **only in the order of their
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
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .config import SYNTH_CLASSES as CLASSES, SYNTH_ORDER_CLASSES as ORDER_CLASSES, SYNTH_ORDER_PAIRS as ORDER_PAIRS  # noqa: F401
from .config import SYNTH_PRESET_CLASSES as PRESETS, SynthConfig, preset_classes  # noqa: F401
from .io import atomic_path, write_text_atomic
from .video import write_video

log = logging.getLogger(__name__)

def order_pairs(classes) -> tuple[tuple[int, int], ...]:
    """The pairs of class indices that differ only in frame order, for a dataset's class list."""
    for names, pairs in PRESETS.values():
        if tuple(classes) == names[: len(classes)]:
            return tuple(p for p in pairs if p[1] < len(classes))
    return ()


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
    d2, ax, ay = (x - cx) ** 2 + (y - cy) ** 2, abs(x - cx), abs(y - cy)  # per video, not per frame
    frames = np.empty((len(t), height, width, 3), np.uint8)
    for k, phase in enumerate(t):
        saw = phase % 1.0  # 0 -> 1 over one period
        img = bg.copy()
        if label in (0, 1):  # circle growing / shrinking
            s = saw if label == 0 else 1.0 - saw
            radius = scale * (0.08 + 0.32 * s)
            img[d2 <= radius**2] = colour
        elif label in (2, 3):  # a horizontal bar stretching / squeezing sideways
            half_width = scale * (0.06 + 0.5 * (saw if label == 2 else 1.0 - saw))
            img[(ax <= half_width) & (ay <= scale * 0.12)] = colour
        elif label in (4, 5):  # a bar filling up / draining
            level = 0.1 + 0.85 * (saw if label == 4 else 1.0 - saw)
            top = height * (1.0 - level)
            img[(ax <= scale * 0.2) & (y >= top)] = colour
        elif label in (6, 7):  # whole scene fading in / out
            level = 0.15 + 0.85 * (saw if label == 6 else 1.0 - saw)
            img[d2 <= (scale * 0.2) ** 2] = colour
            img *= level
        elif label == 8:  # a cross, still
            arm, half = scale * 0.3, scale * 0.06
            img[((ax <= arm) & (ay <= half)) | ((ax <= half) & (ay <= arm))] = colour
        else:  # stripes, still
            img[(np.floor((x + y) / (scale * 0.12)) % 2) == 0] = colour
        img += rng.integers(-5, 6, img.shape, dtype=np.int8)  # sensor noise, std 3.2 (a third of normal's time)
        np.clip(img, 0, 255, out=img)
        frames[k] = img
    return frames


def _render_order(pair: int, num: int, fps: float, rng: np.random.Generator, bg: np.ndarray) -> np.ndarray:
    """The forward class of order pair ``pair`` -> (T, H, W, 3) uint8; the backward class plays it reversed.

    Each process moves at its own random speed from a random phase; ramps that
    must restart (growing, brightening, morphing) do so every 4-8 s, so most
    windows see a slow, steady change and only a few a reset.
    """
    height, width = bg.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = min(width, height)
    cx = width / 2 + rng.uniform(-0.1, 0.1) * width
    cy = height / 2 + rng.uniform(-0.1, 0.1) * height
    hue = rng.uniform(0, 1)
    colour = np.array(colorsys.hsv_to_rgb(hue, 0.7, 0.9), np.float32) * 255
    seconds = np.arange(num) / fps
    ramp = (rng.uniform(0, 1) + seconds / rng.uniform(4.0, 8.0)) % 1.0  # slow sawtooth, 0 -> 1
    turn = rng.uniform(0, 1) + seconds * rng.uniform(0.12, 0.3)  # cycles of a continuous motion
    shake = rng.normal(0, scale * 0.01, size=(num, 2))
    noise = rng.uniform(4, 9)
    if pair == 5:
        period = scale * rng.uniform(0.08, 0.16)
        sharp = np.where(np.floor((x * math.cos(hue * 6.3) + y * math.sin(hue * 6.3)) / period) % 2 == 0, 1.0, -1.0)
        sharp = (sharp[..., None] * (colour - 128) * 0.5 * (((x - cx) ** 2 + (y - cy) ** 2) <= (scale * 0.35) ** 2)
                 [..., None]).astype(np.float32)
        f = max(2, int(period))  # a box blur as wide as a stripe: the pattern melts into its mean
        pad = np.pad(sharp, ((f, f), (f, f), (0, 0)), mode="edge")
        c = pad.cumsum(0).cumsum(1)
        blurred = ((c[2 * f:, 2 * f:] - c[:-2 * f, 2 * f:] - c[2 * f:, :-2 * f] + c[:-2 * f, :-2 * f])
                   / (2 * f) ** 2)[:height, :width].astype(np.float32)
    frames = []
    for k in range(num):
        img = bg.copy()
        dx, dy = x - cx - shake[k, 0], y - cy - shake[k, 1]
        if pair == 0:  # a blob growing
            r = scale * (0.1 + 0.22 * ramp[k])
            img[(dx / 1.3) ** 2 + dy**2 <= r**2] = colour
        elif pair == 1:  # the whole scene brightening, a little
            img[dx**2 + dy**2 <= (scale * 0.22) ** 2] = colour
            img *= 0.55 + 0.45 * ramp[k]
        elif pair == 2:  # a disc whose hue turns one way round the colour wheel
            c = np.array(colorsys.hsv_to_rgb((hue + turn[k]) % 1.0, 0.7, 0.9), np.float32) * 255
            img[dx**2 + dy**2 <= (scale * 0.25) ** 2] = c
        elif pair == 3:  # a square morphing into a circle (a superellipse losing its corners)
            p = 8.0 - 6.0 * ramp[k]
            r = scale * 0.25
            img[(np.abs(dx / r) ** p + np.abs(dy / r) ** p) <= 1.0] = colour
        elif pair == 4:  # a bar filling up
            level = 0.15 + 0.7 * ramp[k]
            img[(np.abs(dx) <= scale * 0.18) & (y >= height * (1.0 - level))] = colour
        else:  # a striped pattern coming into focus
            a = ramp[k]
            img = bg + (1.0 - a) * blurred + a * sharp
        img += rng.normal(0, noise, size=img.shape).astype(np.float32)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _make_video(job: tuple[str, int, int, int, SynthConfig]) -> str:
    path, label, group, clip, cfg = job
    rng = np.random.default_rng([cfg.seed, label, group, clip])
    bg = _background(np.random.default_rng([cfg.seed, 10_000, group]), cfg.width, cfg.height)
    seconds = rng.uniform(cfg.min_seconds, cfg.max_seconds)
    num = int(round(seconds * cfg.fps))
    if cfg.preset == "order":
        frames = _render_order(label // 2, num, cfg.fps, rng, bg)
        if label % 2:  # the pair's second class: the same kind of video, played backwards
            frames = frames[::-1]
    else:
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
    classes = cfg.classes
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


def annotated_long_videos(data: Path, dataset, items, out: Path, count: int, seed: int = 0,
                          actions: tuple[int, int] = (3, 8), fps: float = 25.0, split: str | None = None,
                          prefix: str = "long") -> list[tuple[Path, list[tuple[float, float, str]]]]:
    """``count`` long MP4s of ``items`` end to end, each with its ``start,end,label`` CSV beside it, and
    ``classes.txt`` (the dataset's class order): an annotated dataset (:func:`lrcn.datasets.load_annotated`)
    made from trimmed clips.

    Each long video has 3-8 actions (``actions``); each action is one whole clip of a class other than
    the one before, so an action lasts as long as its clip (``lrcn synth --min-seconds 2 --max-seconds
    20`` makes clips of 2-20 s) and no action is cut or joined from two clips (an order-only action
    joined from two clips would jump backwards in the middle). ``split`` (train/test) is written into
    each CSV's ``split`` column; files are ``<prefix>_NNN``. Frames are streamed to the encoder, so
    memory holds one clip at a time. Videos already written are kept (resumable)."""
    from .io import atomic_path
    from .video import probe, read_frames, write_video_stream

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "classes.txt", "".join(f"{c}\n" for c in dataset.classes))
    by_class: dict[int, list] = {}
    for item in items:
        by_class.setdefault(item.label, []).append(data / (item.source or item.path))
    labels = sorted(by_class)
    made = []
    for v in range(count):
        rng = np.random.default_rng([seed, v])
        plan, previous = [], None
        for _ in range(int(rng.integers(actions[0], actions[1] + 1))):
            label = int(rng.choice([c for c in labels if c != previous] or labels))
            plan.append((label, by_class[label][int(rng.integers(len(by_class[label])))]))
            previous = label
        rows, t = [], 0
        for label, path in plan:
            frames = probe(path).num_frames
            rows.append((round(t / fps, 3), round((t + frames) / fps, 3), dataset.classes[label]))
            t += frames

        def frames_of(plan=plan):
            for _, path in plan:
                yield from read_frames(path, list(range(probe(path).num_frames)))

        video = out / f"{prefix}_{v:03d}.mp4"
        if not video.is_file():
            with atomic_path(video) as tmp:
                write_video_stream(tmp, frames_of(), fps, codec="libx264", quality=18)
        tail = f",{split}" if split else ""
        write_text_atomic(video.with_suffix(".csv"), f"start,end,label{',split' if split else ''}\n"
                          + "".join(f"{s},{e},{name}{tail}\n" for s, e, name in rows))
        made.append((video, rows))
    return made
