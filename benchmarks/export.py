"""ONNX Runtime against PyTorch on CPU, for the exported CNN and head (``lrcn export``).

    python benchmarks/export.py [--seconds 5]

Trains a tiny causal checkpoint (MobileNetV2 with its ImageNet weights when installed, else random:
speed does not depend on the weights), exports it, and times in one run: the CNN on 224x224 frames
at batch 1 and 16 (PyTorch eager fp32 with BatchNorm folded, as lrcn runs it; ``torch.compile``;
ONNX Runtime), and the window head on batches of 64 windows of 5 (PyTorch, ONNX Runtime), printing
frames (windows) per second and ONNX Runtime's ratio to PyTorch eager.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def rate(fn, items: int, seconds: float) -> float:
    fn()  # warm up (and compile)
    fn()
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        fn()
        n += items
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    import onnxruntime

    from lrcn.backbone import FrameEmbedder, imagenet_cache_path
    from lrcn.checkpoint import load_checkpoint
    from lrcn.config import ExportConfig, SynthConfig, TrainConfig
    from lrcn.export import run as export
    from lrcn.synth import generate
    from lrcn.train import run as train

    weights = "imagenet" if imagenet_cache_path("mobilenet_v2").is_file() else "none"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = generate(SynthConfig(str(tmp / "d"), num_classes=4, groups=4, clips_per_group=1), progress=False)
        run_dir = train(TrainConfig(str(data), backbone="mobilenet_v2", weights=weights, cache_dir=str(tmp / "c"),
                                    run_dir=str(tmp / "r"), epochs=1, num_workers=0, val_split=0, causal=True,
                                    views=("center",)), progress=False)
        video = sorted(Path(data).rglob("*.avi"))[0]
        export(ExportConfig(str(run_dir), out_dir=str(tmp / "x"), video=str(video)))
        ckpt = load_checkpoint(run_dir / "Saved_model_checkpoints" / "final.pth.tar")
        eager = FrameEmbedder(ckpt.features.backbone, precision="fp32")
        compiled = FrameEmbedder(ckpt.features.backbone, precision="fp32", compile=True)
        ort_cnn = onnxruntime.InferenceSession(str(tmp / "x/cnn.onnx"), providers=["CPUExecutionProvider"])
        print(f"MobileNetV2 ({weights} weights), {torch.get_num_threads()} threads, "
              f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}")
        rng = np.random.default_rng(0)
        for batch in (1, 16):
            frames = rng.integers(0, 255, (batch, 224, 224, 3), dtype=np.uint8)
            x = torch.from_numpy(frames)
            e = rate(lambda: eager(x), batch, args.seconds)
            c = rate(lambda: compiled(x), batch, args.seconds)
            o = rate(lambda: ort_cnn.run(None, {"frames": frames}), batch, args.seconds)
            print(f"CNN batch {batch:2d}: PyTorch eager {e:6.1f} frames/s, compiled {c:6.1f} ({c / e:.2f}x), "
                  f"ONNX Runtime {o:6.1f} ({o / e:.2f}x eager)", flush=True)
        head = ckpt.head()
        ort_head = onnxruntime.InferenceSession(str(tmp / "x/head.onnx"), providers=["CPUExecutionProvider"])
        windows = rng.standard_normal((64, 5, ckpt.model_config.feature_dim)).astype(np.float32)
        xw = torch.from_numpy(windows)

        def torch_head():
            with torch.no_grad():
                head(xw)

        p = rate(torch_head, 64, args.seconds)
        o = rate(lambda: ort_head.run(None, {"embeddings": windows}), 64, args.seconds)
        print(f"head, 64 windows of 5: PyTorch {p:8.0f} windows/s, ONNX Runtime {o:8.0f} ({o / p:.2f}x)")


if __name__ == "__main__":
    main()
