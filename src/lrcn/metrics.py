"""Metrics: pure functions over label and score arrays."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float((labels == predictions).mean()) if labels.size else float("nan")


def top_k_accuracy(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``(C, C)``: row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, int), np.asarray(predictions, int)), 1)
    return cm


def normalise_rows(cm: np.ndarray) -> np.ndarray:
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, float), where=totals > 0)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class; NaN for a class with no test sample."""
    totals = cm.sum(axis=1)
    return np.divide(np.diag(cm), totals, out=np.full(len(cm), np.nan), where=totals > 0)


def mean_class_accuracy(cm: np.ndarray) -> float:
    return float(np.nanmean(per_class_accuracy(cm))) if cm.sum() else float("nan")


def group_mean(keys: list, scores: np.ndarray) -> tuple[list, np.ndarray]:
    """Average rows of ``scores`` that share a key (e.g. the windows of one video)."""
    order: dict = {}
    for k in keys:
        order.setdefault(k, len(order))
    sums = np.zeros((len(order), scores.shape[1]))
    counts = np.zeros(len(order))
    for k, row in zip(keys, scores):
        sums[order[k]] += row
        counts[order[k]] += 1
    return list(order), sums / counts[:, None]


def low_frequency_classes(train_counts: np.ndarray, fraction: float = 0.9) -> np.ndarray:
    """Classes whose train frequency is below ``fraction`` of the mean (the seed's red bars)."""
    counts = np.asarray(train_counts, float)
    return counts < fraction * counts.mean()
