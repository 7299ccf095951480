"""Is this input like anything the model was trained on? A distance from the training embeddings.

A classifier names one of its classes whatever it is shown: a model trained on synthetic shapes
calls a street scene one of them at 54-77 % confidence. The head's confidence cannot tell "unsure
between two trained actions" from "none of them": the embeddings can. At the end of ``lrcn train``
(:func:`fit`) the cached training embeddings (centre view) give:

- their mean and their ``k`` principal directions (k <= 64): the subspace the training frames span;
- each class's mean in that subspace and one covariance shared by the classes (the Mahalanobis
  score of Lee et al., 2018, on the frozen CNN's features);
- the typical distance off the subspace (the residual, which a frame of other content grows).

A step's **unfamiliarity** (:meth:`Familiarity.scores`) is ``min over classes of d_M^2 / k`` plus
``residual^2 / typical residual^2``: about 2 on training data, larger for frames unlike them. The
threshold is the 99th percentile of the scores of the validation videos (held out from training,
so an honest sample of familiar input; the training videos where there is no validation): about
1 % of familiar steps pass it. A segment is marked ``unfamiliar`` when the mean score of its steps
does. ``benchmarks/unfamiliar.py`` measures it (AUROC of familiar against other footage, beside
the head's maximum probability).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Largest subspace kept, and the share of the validation scores below the threshold.
MAX_COMPONENTS, PERCENTILE = 64, 99.0


@dataclass
class Familiarity:
    """The training data's shape in embedding space, and the threshold above which input is unfamiliar."""

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D) orthonormal rows
    class_means: np.ndarray  # (C, k)
    precision: np.ndarray  # (k, k) inverse of the shared covariance
    residual_scale: float  # mean squared residual of the training steps
    threshold: float
    calibrated_on: str = "validation"  # or "training"

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """``(N,)`` unfamiliarity of each embedding ``(N, D)`` (about 2 on training data)."""
        x = np.asarray(embeddings, np.float64).reshape(-1, self.mean.shape[0]) - self.mean
        z = x @ self.components.T  # (N, k)
        residual = (x * x).sum(1) - (z * z).sum(1)
        d = z[:, None, :] - self.class_means[None]  # (N, C, k)
        maha = np.einsum("nck,kl,ncl->nc", d, self.precision, d).min(1)
        return maha / self.components.shape[0] + np.maximum(residual, 0.0) / self.residual_scale

    def unfamiliar(self, scores: np.ndarray) -> bool:
        """Whether steps with these scores are, together, unlike the training data."""
        return bool(len(scores)) and float(np.mean(scores)) > self.threshold

    def to_dict(self) -> dict:
        """The stored form (tensors and numbers: a ``weights_only`` checkpoint reads it)."""
        import torch

        return {"mean": torch.from_numpy(self.mean.astype(np.float32)),
                "components": torch.from_numpy(self.components.astype(np.float32)),
                "class_means": torch.from_numpy(self.class_means.astype(np.float32)),
                "precision": torch.from_numpy(self.precision.astype(np.float32)),
                "residual_scale": float(self.residual_scale), "threshold": float(self.threshold),
                "calibrated_on": self.calibrated_on}

    @classmethod
    def from_dict(cls, state: dict | None) -> "Familiarity | None":
        if not state:
            return None

        def arr(key):
            value = state[key]
            return value.numpy().astype(np.float64) if hasattr(value, "numpy") else np.asarray(value, np.float64)

        return cls(arr("mean"), arr("components"), arr("class_means"), arr("precision"),
                   float(state["residual_scale"]), float(state["threshold"]), str(state.get("calibrated_on", "")))


def fit(train: Sequence[np.ndarray], labels: Sequence[int], num_classes: int,
        val: Sequence[np.ndarray] = ()) -> Familiarity | None:
    """The training data's :class:`Familiarity` from per-video step embeddings ``(T, D)`` (centre view)
    and their class; the threshold from ``val`` (held-out videos), else from ``train``. None when
    there are too few steps to estimate it (fewer than 20)."""
    steps = [np.asarray(e, np.float64) for e in train if len(e)]
    if sum(len(e) for e in steps) < 20:
        return None
    x = np.concatenate(steps)
    y = np.concatenate([np.full(len(e), c) for e, c in zip(train, labels) if len(e)])
    mean = x.mean(0)
    centred = x - mean
    k = int(min(MAX_COMPONENTS, max(1, len(x) // 8), x.shape[1]))  # >= 8 steps per direction estimated
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:k]
    z = centred @ components.T
    class_means = np.stack([z[y == c].mean(0) if (y == c).any() else np.zeros(k) for c in range(num_classes)])
    within = z - class_means[y]
    cov = within.T @ within / max(1, len(z) - num_classes)
    cov += np.eye(k) * (1e-3 * np.trace(cov) / k + 1e-9)  # a little shrinkage: few samples per direction
    precision = np.linalg.inv(cov)
    residual = (centred * centred).sum(1) - (z * z).sum(1)
    scale = float(np.mean(np.maximum(residual, 0.0)))
    if scale <= 1e-6 * float(np.mean((centred * centred).sum(1))):  # the subspace is the whole space: no residual
        scale = float("inf")
    model = Familiarity(mean, components, class_means, precision, scale, 0.0)
    held = [np.asarray(e, np.float64) for e in val if len(e)]
    calibration = np.concatenate([model.scores(e) for e in held]) if held else model.scores(x)
    model.threshold = threshold(calibration)
    model.calibrated_on = "validation" if held else "training"
    return model


def threshold(scores: np.ndarray) -> float:
    """The :data:`PERCENTILE` of familiar ``scores``, read off a log-normal fitted to them: stable with the
    few validation steps a small dataset has (the empirical 99th percentile of 30 steps is their
    largest), and never below the empirical one."""
    logs = np.log(np.maximum(np.asarray(scores, float), 1e-9))
    z = 2.3263478740408408  # the standard normal's 99th percentile
    return float(max(np.exp(logs.mean() + z * logs.std(ddof=1 if len(logs) > 1 else 0)),
                     np.percentile(scores, PERCENTILE)))


def auroc(familiar: np.ndarray, unfamiliar: np.ndarray) -> float:
    """Area under the ROC curve of telling ``unfamiliar`` (positive) from ``familiar`` by a higher score:
    the chance that a random unfamiliar score exceeds a random familiar one (ties count half)."""
    a, b = np.sort(np.asarray(familiar, float)), np.asarray(unfamiliar, float)
    if not len(a) or not len(b):
        return float("nan")
    below, not_above = np.searchsorted(a, b, "left"), np.searchsorted(a, b, "right")
    return float((below + (not_above - below) / 2).sum() / (len(a) * len(b)))
