"""Would int8 be a faithful and faster CPU path for the frozen CNN? Measured, same run.

PyTorch's x86 post-training static quantization (FX graph mode, the ``x86`` backend: oneDNN /
VNNI), calibrated on frames of one set of videos and judged on frames of others, against the
shipped fp32 path (BatchNorm folded, channels_last, 4 frames per call): frames/s and the cosine
of each int8 embedding to its fp32 one. lrcn would ship ``--precision int8`` only with a cosine
of at least 0.999 on every frame and a real speed-up.

    python benchmarks/int8.py [--arch mobilenet_v2] [--frames 96]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def frames_from_synthetic_videos(n: int, seed: int) -> torch.Tensor:
    from lrcn.features import FeatureSpec, decode_sampled, make_views
    from lrcn.synth import SynthConfig, generate

    with tempfile.TemporaryDirectory() as tmp:
        root = generate(SynthConfig(str(Path(tmp) / "d"), num_classes=10, groups=4, clips_per_group=1, seed=seed),
                        progress=False)
        crops = [make_views(decode_sampled(p, FeatureSpec()), ("center",))[0] for p in sorted(root.rglob("*.avi"))]
    return torch.from_numpy(np.concatenate(crops)[:n])


def rate(fn, frames: torch.Tensor, seconds: float = 6.0) -> float:
    fn(frames[:4])
    done, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        for s in range(0, len(frames), 4):
            fn(frames[s : s + 4])
            done += len(frames[s : s + 4])
    return done / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="mobilenet_v2")
    ap.add_argument("--frames", type=int, default=96)
    a = ap.parse_args()
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from lrcn.backbone import BackboneSpec, FrameEmbedder, imagenet_cache_path

    weights = "imagenet" if imagenet_cache_path(a.arch).is_file() else "none"
    fp32 = FrameEmbedder(BackboneSpec(a.arch, weights), precision="fp32")
    calibration, judged = frames_from_synthetic_videos(a.frames, 0), frames_from_synthetic_videos(a.frames, 1)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x.permute(0, 3, 1, 2).float() - fp32.mean) / fp32.std

    torch.backends.quantized.engine = "x86"
    plain = FrameEmbedder(BackboneSpec(a.arch, weights), precision="fp32", fold_batchnorm=False).cnn
    plain = plain.to(memory_format=torch.contiguous_format).eval()
    prepared = prepare_fx(plain, get_default_qconfig_mapping("x86"), example_inputs=(normalise(calibration[:4]),))
    with torch.inference_mode():
        for s in range(0, len(calibration), 8):
            prepared(normalise(calibration[s : s + 8]))
    int8 = convert_fx(prepared)

    def run_int8(x):
        with torch.inference_mode():
            return int8(normalise(x))

    with torch.inference_mode():
        ref = torch.cat([fp32(judged[s : s + 4]) for s in range(0, len(judged), 4)]).float()
        out = torch.cat([run_int8(judged[s : s + 4]) for s in range(0, len(judged), 4)]).float()
    cosine = torch.nn.functional.cosine_similarity(ref, out, dim=1)
    r32, r8 = rate(fp32, judged), rate(run_int8, judged)
    print(f"{a.arch} ({weights} weights), {torch.get_num_threads()} threads, calibrated on {len(calibration)} frames, "
          f"judged on {len(judged)} others")
    print(f"  fp32 as shipped (BatchNorm folded, channels_last, 4 a call) {r32:7.1f} frames/s")
    print(f"  int8 x86 static PTQ                                        {r8:7.1f} frames/s  ({r8 / r32:.2f}x)  "
          f"cosine min {cosine.min():.5f} mean {cosine.mean():.5f}")
    ok = bool(cosine.min() >= 0.999 and r8 > 1.1 * r32)
    print(f"  ship --precision int8: {'yes' if ok else 'no'} (needs cosine >= 0.999 on every frame and a real speed-up)")


if __name__ == "__main__":
    main()
