"""Run an ``lrcn export`` folder with numpy, ONNX Runtime and PyAV alone -- no lrcn, no torch.

    python examples/onnx_runner.py EXPORT_DIR VIDEO

Written from ``lrcn_model.json`` (its "preprocessing" section) and nothing else, so it checks that the
JSON says everything a runtime needs: prints each sampled frame's time, label and probability as
JSON lines. ``tests/test_export.py`` compares it with ``lrcn predict`` on a real video.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import av
import numpy as np
import onnxruntime as ort


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sampled_frames(video: str, fps: float, scaled_size):
    """(time, RGB frame scaled as the JSON says) of each frame kept by the JSON's sampling rule."""
    with av.open(video) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        tol, k, first = 0.5 / max(rate, fps), 0, None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            first = frame.time if first is None else first
            t = frame.time - first
            if t + tol < k / fps:
                continue
            k = max(k + 1, math.floor((t + tol) * fps) + 1)
            w, h = scaled_size(frame.width, frame.height)
            yield t, frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="BILINEAR")


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def main(folder: str, video: str) -> list[dict]:
    folder = Path(folder)
    info = json.loads((folder / "lrcn_model.json").read_text())
    for name, file in info["files"].items():  # bound to what lrcn export wrote
        if sha256(folder / file) != info["sha256"][name]:
            raise SystemExit(f"{folder / file}: SHA-256 differs from lrcn_model.json")
    pre = info["preprocessing"]
    assert pre["interpolation"] == "bilinear"
    crop, short = pre["crop_size"], pre["resize_shorter_side"]

    def scaled_size(w: int, h: int) -> tuple[int, int]:
        if w <= h:
            return short, max(crop, round(h * short / w))
        return max(crop, round(w * short / h)), short

    cnn = ort.InferenceSession(str(folder / info["files"]["cnn"]), providers=["CPUExecutionProvider"])
    head = ort.InferenceSession(str(folder / info["files"]["head"]), providers=["CPUExecutionProvider"])
    times, embeddings = [], []
    for t, rgb in sampled_frames(video, info["fps"], scaled_size):
        top, left = (rgb.shape[0] - crop) // 2, (rgb.shape[1] - crop) // 2
        frame = np.ascontiguousarray(rgb[top : top + crop, left : left + crop])[None]
        emb = cnn.run(None, {"frames": frame})[0].astype(np.float16).astype(np.float32)  # "embedding_rounding"
        times.append(t)
        embeddings.append(emb[0])
    n, window = len(embeddings), info["window"]
    emb = np.stack(embeddings)
    windows = np.stack([emb[s : s + window] for s in range(n - window + 1)])
    outputs = dict(zip(info.get("outputs", {}).get("head", ["logits"]), head.run(None, {"embeddings": windows})))
    readout = info.get("readout", "window")  # "frame_probabilities" says the rule of each

    def per_frame(rows):  # rows (windows, window, C): each frame's mean over the windows that hold it
        total, count = np.zeros((n, rows.shape[2])), np.zeros(n)
        for s, p in enumerate(rows):
            total[s : s + window] += p
            count[s : s + window] += 1
        return total / count[:, None]

    if readout in ("window", "both"):  # each window's probabilities spread over its frames
        by_window = per_frame(np.repeat(softmax(outputs["logits"])[:, None], window, axis=1))
    if readout in ("steps", "both"):  # each frame's own step, in every window that holds it
        by_step = per_frame(softmax(outputs["step_logits"]))
    if readout == "window":
        frame_probs = by_window
    elif readout == "steps":
        frame_probs = by_step
    else:
        mixed = np.sqrt(np.maximum(by_window, 1e-12) * np.maximum(by_step, 1e-12))
        frame_probs = mixed / mixed.sum(1, keepdims=True)
    return [{"time": round(t, 3), "label": info["classes"][int(p.argmax())], "probabilities": p.tolist()}
            for t, p in zip(times, frame_probs)]


if __name__ == "__main__":
    for row in main(sys.argv[1], sys.argv[2]):
        print(json.dumps({k: v for k, v in row.items() if k != "probabilities"} |
                         {"probability": round(max(row["probabilities"]), 4)}))
