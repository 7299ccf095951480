"""Every figure of the seed, drawn from result arrays. The only module that imports matplotlib."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
# A file name in a script the font lacks (e.g. CJK) loses those glyphs in a title: not worth a warning each time.
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_path  # noqa: E402


def _save(fig, path: str | Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(str(path)).suffix.lstrip(".") or "png")
    plt.close(fig)
    return str(path)


def _size(n: int) -> tuple[float, float]:
    return (max(6.0, 0.28 * n + 2), max(4.5, 0.25 * n + 2))


def class_frequencies(counts: dict[str, np.ndarray], classes: Sequence[str], title: str, path: str | Path) -> str:
    """Bars of how many items each class has in each named subset (the seed's train_val / test figures)."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.3 * len(classes) + 2), 4.5))
    width = 0.8 / max(1, len(counts))
    x = np.arange(len(classes))
    for k, (name, c) in enumerate(counts.items()):
        ax.bar(x + k * width, c, width, label=name)
    ax.set_xticks(x + width * (len(counts) - 1) / 2, classes, rotation=90, fontsize=7)
    ax.set_ylabel("number of videos")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def confusion(cm_normalised: np.ndarray, classes: Sequence[str], path: str | Path, title: str) -> str:
    fig, ax = plt.subplots(figsize=_size(len(classes)))
    im = ax.imshow(cm_normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(classes) <= 20:
        for i in range(len(classes)):
            for j in range(len(classes)):
                v = cm_normalised[i, j]
                if v > 0.005:
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if v > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def per_class_accuracy(acc: np.ndarray, classes: Sequence[str], low_frequency: np.ndarray, path: str | Path) -> str:
    """The seed's 'accuracy score for each class', classes rare in training in red."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.3 * len(classes) + 2), 4.5))
    colours = ["tab:red" if low else "tab:blue" for low in low_frequency]
    ax.bar(range(len(classes)), np.nan_to_num(acc), color=colours)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy of each class (red: train frequency < 90% of the mean)")
    return _save(fig, path)


def training_curves(history: list[dict], path: str | Path) -> str:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [h["epoch"] for h in history]
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    val = [h for h in history if h.get("val_loss") is not None]
    ax1.plot([h["epoch"] for h in val], [h["val_loss"] for h in val], "o-", label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(epochs, [h["train_acc"] for h in history], label="train")
    ax2.plot([h["epoch"] for h in val], [h["val_acc"] for h in val], "o-", label="validation")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1.05)
    ax2.legend()
    return _save(fig, path)


def accuracy_by_first_action_frames(counts: Sequence[int], accuracies: Sequence[float],
                                    spreads: Sequence[float] | None, path: str | Path) -> str:
    """The seed's analysis_of_predicted_labels_in_sliding_window: accuracy vs frames from the first action."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.bar([str(c) for c in counts], accuracies, yerr=spreads, capsize=4, color="tab:blue")
    ax.set_xlabel("frames of the window from the first action")
    ax.set_ylabel("window accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("Accuracy by window composition")
    return _save(fig, path)


def windows_along_video(true: Sequence[int], predicted: Sequence[int], classes: Sequence[str],
                        path: str | Path, title: str) -> str:
    """The seed's change_in_accuracy_with_the_movment_of_sliding_window: truth and prediction per window."""
    used = sorted(set(true) | set(predicted))
    row = {c: i for i, c in enumerate(used)}
    fig, ax = plt.subplots(figsize=(max(8.0, 0.12 * len(true) + 2), max(3.0, 0.35 * len(used) + 1.5)))
    x = np.arange(len(true))
    ax.step(x, [row[t] for t in true], where="mid", color="tab:green", linewidth=2, label="true (majority)")
    hit = np.array(true) == np.array(predicted)
    ax.scatter(x[hit], [row[p] for p, h in zip(predicted, hit) if h], color="tab:blue", s=18, label="predicted, right")
    ax.scatter(x[~hit], [row[p] for p, h in zip(predicted, hit) if not h], color="tab:red", marker="x", s=24,
               label="predicted, wrong")
    ax.set_yticks(range(len(used)), [classes[c] for c in used], fontsize=7)
    ax.set_xlabel("window start (sampled frame)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def timeline(times: Sequence[float], probabilities: np.ndarray, classes: Sequence[str], path: str | Path,
             title: str, decoded: Sequence[int] | None = None, truth: Sequence[str | None] | None = None,
             scores: dict | None = None) -> str:
    """Each sampled frame's class probabilities over time (``lrcn predict``).

    Every class that is the most probable one at some frame gets a curve (so
    the class that wins a stretch is never missing); under the curves a band
    shows the decoded segments and, when given, a band the true ones, each run
    named where its text fits. Every colour drawn has a legend entry; ``scores``
    (against the truth, after decoding) go into the title.
    """
    probabilities = np.asarray(probabilities)
    times = np.asarray(times, float)
    bands = [("decoded", [classes[c] for c in decoded])] if decoded is not None else []
    if truth is not None:
        bands.append(("truth", list(truth)))
    fig, axes = plt.subplots(1 + len(bands), 1, figsize=(10, 3.5 + 0.5 * len(bands)), sharex=True,
                             gridspec_kw={"height_ratios": [6] + [1] * len(bands)}, squeeze=False)
    ax = axes[0, 0]
    shown = sorted(set(probabilities.argmax(1).tolist())) if len(times) else []
    names = sorted({classes[c] for c in shown} | {x for _, labels in bands for x in labels if x is not None})
    palette = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    colour = {name: palette(k % palette.N) for k, name in enumerate(names)}
    for c in shown:
        ax.plot(times, probabilities[:, c], label=classes[c], color=colour[classes[c]])
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color=colour[n], label=f"{n} (bands only)") for n in names if n not in {classes[c] for c in shown}]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="upper right", ncol=max(1, len(handles) // 8))
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.02)
    if scores:
        title += (f" | vs truth: frames {scores['frame_accuracy']:.0f} %, edit {scores['edit']:.0f}, "
                  f"F1@50 {scores['f1@50']:.0f}")
    ax.set_title(title, fontsize=9 if scores else None)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    span = (float(times[-1]) + step - float(times[0])) if len(times) else 1.0
    for (name, labels), band in zip(bands, axes[1:, 0]):
        for t, label in zip(times, labels):
            if label is not None:
                band.axvspan(t, t + step, color=colour[label], lw=0)
        k = 0
        while k < len(labels):  # each run's name in its middle, where it fits (about 7 px per character)
            j = k
            while j + 1 < len(labels) and labels[j + 1] == labels[k]:
                j += 1
            width = float(times[j]) + step - float(times[k])
            if labels[k] is not None and width / span * 900 > 7 * len(labels[k]):
                band.text((float(times[k]) + float(times[j]) + step) / 2, 0.5, labels[k], ha="center", va="center",
                          fontsize=7, transform=band.get_xaxis_transform(), clip_on=True)
            k = j + 1
        band.set_yticks([])
        band.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    return _save(fig, path)
