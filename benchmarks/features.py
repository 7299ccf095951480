"""Backbone throughput as shipped against plain eager fp32 at batch 1, same run; and fidelity.

Speed: frames/s of the frozen CNN at 224x224 for
  * baseline: fp32, eager, batch 1 (the seed's way of running a frozen CNN);
  * fp32 channels_last, batch B;
  * bf16 autocast + channels_last, batch B;
  * the shipped precision at other micro-batches (``--batches``);
  * as shipped (``--precision auto``, the architecture's CPU micro-batch);
  * fp32 and bf16 with ``torch.compile`` at that micro-batch (``--compile``: seconds to
    tens of seconds once each).
Fidelity: cosine similarity of each against the fp32 baseline on real video
frames with the real ImageNet weights (MobileNetV2 offline file), min and mean.

    python benchmarks/features.py [--arch mobilenet_v2|resnet152] [--batch 16] [--batches 2,4,8] [--compile]

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
    parser.add_argument("--batch", type=int, default=16, help="frames per call of the explicit variants")
    parser.add_argument("--batches", default="", help="also sweep the shipped path over these micro-batches (2,4,8)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    weights = "imagenet" if imagenet_cache_path(args.arch).is_file() else "none"
    spec = BackboneSpec(args.arch, weights)
    frames = real_frames(64)
    cpu = torch.device("cpu")
    base = FrameEmbedder(spec, device=cpu, precision="fp32", fold_batchnorm=False)  # the seed: BatchNorm as is
    base.cnn = base.cnn.to(memory_format=torch.contiguous_format)
    base_fwd = base.cnn

    def eager_fp32(x):  # no channels_last, batch as given
        with torch.inference_mode():
            x = x.permute(0, 3, 1, 2).float()
            return base_fwd((x - base.mean) / base.std)

    shipped = FrameEmbedder(spec, device=cpu, precision="auto")
    b = args.batch
    variants = {f"fp32 channels_last, batch {b}": FrameEmbedder(spec, device=cpu, precision="fp32", micro_batch=b),
                f"bf16 autocast + channels_last, batch {b}":
                    FrameEmbedder(spec, device=cpu, precision="bf16", micro_batch=b)}
    for m in [int(x) for x in args.batches.split(",") if x]:
        variants[f"{shipped.precision} channels_last, batch {m}"] = FrameEmbedder(
            spec, device=cpu, precision=shipped.precision, micro_batch=m)
    variants[f"as shipped: {shipped.precision} channels_last, batch {shipped.micro_batch}"] = shipped
    if args.compile:
        for precision in ("fp32", "bf16"):
            compiled = FrameEmbedder(spec, device=cpu, precision=precision, compile=True)
            t = time.perf_counter()
            compiled(frames[: compiled.micro_batch])
            variants[f"{precision} channels_last + torch.compile, batch {compiled.micro_batch} "
                     f"(compile {time.perf_counter() - t:.0f} s)"] = compiled
    reference = torch.cat([eager_fp32(frames[s : s + 1]) for s in range(len(frames))]).float()
    print(f"{args.arch} ({weights} weights) at 224x224 on {torch.get_num_threads()} threads, "
          f"{torch.backends.cpu.get_cpu_capability()}; --precision auto picks {shipped.precision}, "
          f"{shipped.micro_batch} frames per CNN call")
    from lrcn.backbone import BF16_FAITHFUL, native_cpu_bf16

    why = ("bf16 is not faithful for this architecture" if args.arch not in BF16_FAITHFUL else
           "the CPU has bf16 in hardware (avx512_bf16 or amx_bf16 in its flags)" if native_cpu_bf16() else
           "the CPU has no bf16 in hardware (oneDNN would only emulate it, slower than fp32)")
    print(f"  why: {why}")
    baseline = frames_per_second(eager_fp32, frames, 1, args.seconds)
    print(f"  {'fp32 eager, batch 1 (baseline)':<66} {baseline:7.1f} frames/s  1.00x  cosine 1.00000")
    for name, embedder in variants.items():
        # Handed 32 frames a call, as ``lrcn features`` does; the embedder runs its own micro-batches.
        rate = frames_per_second(embedder, frames, 32, args.seconds)
        out = torch.cat([embedder(frames[s : s + 32]) for s in range(0, len(frames), 32)])
        cosine = torch.nn.functional.cosine_similarity(reference, out, dim=1)
        print(f"  {name:<66} {rate:7.1f} frames/s  {rate / baseline:4.2f}x  cosine min {cosine.min():.5f} "
              f"mean {cosine.mean():.5f}", flush=True)


if __name__ == "__main__":
    main()
