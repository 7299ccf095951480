"""Backbone throughput as shipped against plain eager fp32 at batch 1, same run; and fidelity.

Speed: frames/s of the frozen CNN at 224x224 for
  * baseline: fp32, eager, batch 1 (the seed's way of running a frozen CNN);
  * fp32 channels_last, batch B;
  * as shipped: ``FrameEmbedder`` with ``--precision auto`` (bf16 autocast +
    channels_last where the CPU has native bf16), batch B;
  * as shipped + ``--compile`` (optional, ``--compile``: tens of seconds once).
Fidelity: cosine similarity of shipped vs fp32 embeddings on real video frames
with the real ImageNet weights (MobileNetV2 offline file), min and mean.

    python benchmarks/features.py [--arch mobilenet_v2|resnet152] [--batch 16] [--compile]

Speed does not depend on the weights' values, so an architecture whose
ImageNet file is missing is timed with random weights.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lrcn.backbone import BackboneSpec, FrameEmbedder, imagenet_cache_path


def frames_per_second(embedder, frames: torch.Tensor, batch: int, seconds: float = 8.0) -> float:
    embedder(frames[:batch])  # warm-up (and compile)
    done, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        for s in range(0, len(frames), batch):
            embedder(frames[s : s + batch])
            done += len(frames[s : s + batch])
    return done / (time.perf_counter() - t)


def real_frames(n: int) -> torch.Tensor:
    """Centre crops of synthetic-video frames (varied content, like real decoding)."""
    import tempfile
    from pathlib import Path

    from lrcn.features import FeatureSpec, decode_sampled, make_views
    from lrcn.synth import SynthConfig, generate

    with tempfile.TemporaryDirectory() as tmp:
        root = generate(SynthConfig(str(Path(tmp) / "d"), num_classes=10, groups=4, clips_per_group=1), progress=False)
        crops = [make_views(decode_sampled(p, FeatureSpec()), ("center",))[0] for p in sorted(root.rglob("*.avi"))]
    return torch.from_numpy(np.concatenate(crops)[:n])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="mobilenet_v2")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    weights = "imagenet" if imagenet_cache_path(args.arch).is_file() else "none"
    spec = BackboneSpec(args.arch, weights)
    frames = real_frames(64)
    cpu = torch.device("cpu")
    base = FrameEmbedder(spec, device=cpu, precision="fp32")
    base.cnn = base.cnn.to(memory_format=torch.contiguous_format)
    base_fwd = base.cnn

    def eager_fp32(x):  # no channels_last, batch as given
        with torch.inference_mode():
            x = x.permute(0, 3, 1, 2).float()
            return base_fwd((x - base.mean) / base.std)

    shipped = FrameEmbedder(spec, device=cpu, precision="auto")
    cl_fp32 = FrameEmbedder(spec, device=cpu, precision="fp32")
    rates = {
        "fp32 eager, batch 1 (baseline)": frames_per_second(eager_fp32, frames, 1, args.seconds),
        f"fp32 channels_last, batch {args.batch}": frames_per_second(cl_fp32, frames, args.batch, args.seconds),
        f"as shipped ({shipped.precision} + channels_last), batch {args.batch}":
            frames_per_second(shipped, frames, args.batch, args.seconds),
    }
    if args.compile:
        compiled = FrameEmbedder(spec, device=cpu, precision="auto", compile=True)
        t = time.perf_counter()
        compiled(frames[: args.batch])
        compile_s = time.perf_counter() - t
        rates[f"as shipped + torch.compile, batch {args.batch} (compile {compile_s:.0f} s once)"] = \
            frames_per_second(compiled, frames, args.batch, args.seconds)
    reference = torch.cat([cl_fp32(frames[s : s + 16]) for s in range(0, len(frames), 16)])
    fast = torch.cat([shipped(frames[s : s + 16]) for s in range(0, len(frames), 16)])
    cosine = torch.nn.functional.cosine_similarity(reference, fast, dim=1)
    print(f"{args.arch} ({weights} weights) at 224x224 on {torch.get_num_threads()} threads, "
          f"{torch.backends.cpu.get_cpu_capability()}")
    baseline = next(iter(rates.values()))
    for name, rate in rates.items():
        print(f"  {name:<62} {rate:7.1f} frames/s  {rate / baseline:5.2f}x")
    print(f"fidelity of shipped vs fp32 ({len(frames)} real frames): cosine min {cosine.min():.5f}, "
          f"mean {cosine.mean():.5f}")


if __name__ == "__main__":
    main()
