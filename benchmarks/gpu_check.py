"""The GPU check: lrcn's CUDA paths, end to end, in one short run (about 5 minutes on one GPU).

1. Embedding speed of the backbone (random weights: speed does not depend on them) on real
   decoded frames: fp32, bf16 autocast + channels_last, and compiled bf16; frames/s, and the
   cosine of bf16 against fp32 embeddings.
2. ``lrcn synth`` -> ``train`` (a few epochs) -> ``test`` -> ``predict`` on the device, each as the
   user runs it, with its seconds and exit code.
3. One DDP training step under ``torchrun --nproc_per_node 1`` (NCCL on CUDA, gloo on CPU).
4. Whether decoding keeps up: sampled frames/s that the machine's cores decode (one process per
   core) against the frames/s the device embeds.
5. I3D (random weights, 16-frame 224 x 224 clips, channels_last_3d): clips/s and source frames/s
   in fp32 and bf16, and the cosine of bf16 against fp32 features.

Everything goes to stdout and to ``--out`` (JSON). On a GPU machine whose Python lacks PyAV, run
``bash scripts/gpu_check.sh`` (it installs the carried wheel first). Here and in the tests it runs
on CPU: ``python benchmarks/gpu_check.py --device cpu --quick``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def lrcn(*args, env_extra=None, module=("-m", "lrcn")) -> dict:
    """Run one lrcn command as a user would; returns its seconds, exit code and last output line."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env_extra or {})}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, *module, *map(str, args)], capture_output=True, text=True, env=env)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return {"seconds": round(time.perf_counter() - t, 1), "rc": proc.returncode, "last": lines[-1] if lines else ""}


def _decode_one(job):
    from lrcn.features import FeatureSpec, decode_sampled

    return len(decode_sampled(job, FeatureSpec()))


def decode_rate(videos: list[Path], workers: int) -> float:
    """Sampled frames per second that ``workers`` processes decode (256-pixel frames, 2.5 fps)."""
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_decode_one, videos[:workers]))  # start-up and imports out of the timing
        t = time.perf_counter()
        frames = sum(pool.map(_decode_one, videos))
    return frames / (time.perf_counter() - t)


def embedding_speed(arch: str, device, frames, seconds: float, compile: bool) -> list[dict]:
    import torch

    from lrcn.backbone import BackboneSpec, FrameEmbedder

    spec = BackboneSpec(arch, "none")
    rows, reference = [], None
    variants = [("fp32", "fp32", False), ("bf16 autocast + channels_last", "bf16", False)]
    if compile:
        variants.append(("bf16 + torch.compile", "bf16", True))
    for name, precision, compiled in variants:
        torch.manual_seed(0)  # the same random weights in every variant
        emb = FrameEmbedder(spec, device=device, precision=precision, compile=compiled)
        t = time.perf_counter()
        out = emb(frames)  # warm-up (and compilation)
        warm = time.perf_counter() - t
        done, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            emb(frames)
            done += len(frames)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rate = done / (time.perf_counter() - t)
        out = out.float().cpu()
        reference = out if reference is None else reference
        cosine = torch.nn.functional.cosine_similarity(reference, out, dim=1)
        rows.append({"variant": name, "frames_per_s": round(rate, 1), "first_call_s": round(warm, 1),
                     "cosine_min_vs_fp32": round(float(cosine.min()), 5)})
        print(f"  {name:<32} {rate:9.1f} frames/s  first call {warm:5.1f} s  cosine vs fp32 min {cosine.min():.5f}",
              flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", default=None, help="default: resnet152 on CUDA, mobilenet_v2 on CPU")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the test suite runs this on CPU)")
    ap.add_argument("--out", default="gpu_check.json")
    a = ap.parse_args()
    import torch

    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("lrcn: error: --device cuda, but torch sees no GPU")
    arch = a.arch or ("resnet152" if device.type == "cuda" else "mobilenet_v2")
    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "torch": torch.__version__, "arch": arch, "cores": len(os.sched_getaffinity(0))}
    print(f"lrcn GPU check on {report['device']}, torch {torch.__version__}, {report['cores']} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        groups, classes = (4, 4) if a.quick else (6, 6)
        report["synth"] = lrcn("synth", data, "--num-classes", classes, "--groups", groups, "--clips-per-group", 1,
                               "--width", 160 if a.quick else 320, "--height", 120 if a.quick else 240,
                               "--no-progress")
        videos = sorted(data.rglob("*.avi"))

        print("1. embedding speed", flush=True)
        from lrcn.features import FeatureSpec, decode_sampled, make_views

        crops = [make_views(decode_sampled(v, FeatureSpec()), ("center",))[0] for v in videos]
        frames = torch.from_numpy(__import__("numpy").concatenate(crops))[: 16 if a.quick else 256]
        report["embedding"] = embedding_speed(arch, device, frames, 0.3 if a.quick else 10.0,
                                              compile=not a.quick)

        print("2. synth -> train -> test -> predict on the device", flush=True)
        model = ["--backbone", arch, "--weights", "none", "--device", a.device]
        run, cache = tmp / "run", tmp / "cache"
        steps = {
            "train": ("train", data, *model, "--cache-dir", cache, "--run-dir", run, "--epochs", 2 if a.quick else 5,
                      "--views", "center", "--no-progress", "--num-workers", 2),
            "test": ("test", run, data, "--cache-dir", cache, "--device", a.device, "--no-progress"),
            "predict": ("predict", run, videos[0], "--out-dir", tmp / "pred", "--device", a.device, "--no-progress"),
        }
        for name, args in steps.items():
            report[name] = lrcn(*args)
            print(f"  lrcn {name:<8} rc {report[name]['rc']}  {report[name]['seconds']:6.1f} s  "
                  f"{report[name]['last'][:110]}", flush=True)

        print("3. one DDP step under torchrun", flush=True)
        report["ddp"] = lrcn("--standalone", "--nproc_per_node", 1, "-m", "lrcn.cli", "train", data, *model,
                             "--cache-dir", cache, "--run-dir", tmp / "ddp", "--epochs", 1, "--views", "center",
                             "--no-progress", "--no-refit", "--num-workers", 0,
                             module=("-m", "torch.distributed.run"))
        print(f"  torchrun train rc {report['ddp']['rc']}  {report['ddp']['seconds']:.1f} s  {report['ddp']['last'][:110]}",
              flush=True)

        print("4. does decoding keep up?", flush=True)
        rate = decode_rate(videos, report["cores"])
        best = max(r["frames_per_s"] for r in report["embedding"])
        report["decode"] = {"sampled_frames_per_s": round(rate, 1), "embed_frames_per_s": best,
                            "decode_over_embed": round(rate / best, 2)}
        print(f"  {report['cores']} decoding processes: {rate:.1f} sampled frames/s; the device embeds {best:.1f}: "
              f"ratio {rate / best:.2f} ({'keeps up' if rate >= best else 'decoding is the bottleneck'})")
        print("5. I3D clips", flush=True)
        report["i3d"] = i3d_speed(device, 2 if a.quick else 16, 0.3 if a.quick else 10.0)
        for r in report["i3d"]:
            print(f"  {r['precision']:<5} {r['clips_per_s']:8.2f} clips/s = {r['frames_per_s']:8.1f} frames/s  "
                  f"cosine vs fp32 {r['cosine_min_vs_fp32']:.5f}", flush=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    failed = [k for k in ("synth", "train", "test", "predict", "ddp") if report[k]["rc"] != 0]
    print(f"report: {a.out}; " + (f"FAILED: {', '.join(failed)}" if failed else "every step passed"))
    sys.exit(1 if failed else 0)


def i3d_speed(device, batch: int, seconds: float) -> list[dict]:
    """I3D features of ``batch`` random clips, repeated for about ``seconds``, in fp32 and bf16."""
    import torch

    from lrcn.backbone import I3DEmbedder

    clips = torch.randint(0, 255, (batch, 16, 224, 224, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out, reference = [], None
    for precision in ("fp32", "bf16"):
        emb = I3DEmbedder(device, precision, micro_batch=batch, weights="none")
        feats = emb(clips).float().cpu()
        reference = feats if reference is None else reference
        cos = torch.nn.functional.cosine_similarity(feats, reference, dim=1).min().item()
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds or n == 0:
            emb(clips)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            n += batch
        rate = n / (time.perf_counter() - t)
        out.append({"precision": precision, "clips_per_s": round(rate, 2), "frames_per_s": round(16 * rate, 1),
                    "cosine_min_vs_fp32": round(cos, 5)})
    return out


if __name__ == "__main__":
    main()
