"""lrcn export: ONNX files that ONNX Runtime runs like PyTorch, on real frames."""

import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the optional extra lrcn[onnx]; scripts/setup.sh installs it")
pytestmark = pytest.mark.slow  # each exports MobileNetV2 (10-20 s)

from lrcn.config import ExportConfig  # noqa: E402
from lrcn.export import TOLERANCE, run  # noqa: E402
from lrcn.inference import Model  # noqa: E402


@pytest.fixture(scope="module")
def causal_checkpoint(causal_trained):
    return causal_trained


@pytest.fixture(scope="module")
def exported(trained, tiny_dataset, tmp_path_factory):
    """``trained``'s checkpoint exported (checked on a real video): (folder, what run returned)."""
    folder = tmp_path_factory.mktemp("export") / "x"
    return folder, run(ExportConfig(str(trained[0]), out_dir=str(folder), video=str(sorted(tiny_dataset.rglob("*.avi"))[1])))


def test_the_window_head_and_the_cnn_run_in_onnx_runtime_like_pytorch(trained, tiny_dataset, exported):
    import onnxruntime
    import torch

    from lrcn.checkpoint import load_checkpoint
    from lrcn.features import decode_sampled, make_views

    ckpt, _ = trained
    video = sorted(tiny_dataset.rglob("*.avi"))[1]
    folder, info = exported
    assert sorted(p.name for p in folder.iterdir()) == ["cnn.onnx", "head.onnx", "lrcn_model.json"]
    assert json.loads((folder / "lrcn_model.json").read_text()) == info
    assert info["fps"] == 2.5 and info["window"] == 5 and len(info["classes"]) == 4 and not info["causal"]
    for part in ("cnn", "head"):
        assert info["check"][part]["relative"] <= TOLERANCE
    # A deployment's path, from the file alone: frames of another length and batch, through both graphs.
    loaded = load_checkpoint(ckpt)
    frames = make_views(decode_sampled(video, loaded.features), ("center",))[0][:6]
    cnn = onnxruntime.InferenceSession(str(folder / "cnn.onnx"), providers=["CPUExecutionProvider"])
    head = onnxruntime.InferenceSession(str(folder / "head.onnx"), providers=["CPUExecutionProvider"])
    emb = cnn.run(None, {"frames": frames})[0]
    logits = head.run(None, {"embeddings": emb[None]})[0]  # one window of 6 frames
    from lrcn.backbone import FrameEmbedder

    with torch.no_grad():
        want = loaded.head()(FrameEmbedder(loaded.features.backbone, precision="fp32")(torch.from_numpy(frames))[None])
    np.testing.assert_allclose(logits, want.numpy(), rtol=0, atol=TOLERANCE * float(np.abs(want.numpy()).max()) + 1e-6)


@pytest.fixture(scope="module")
def causal_exported(causal_checkpoint, tiny_dataset, tmp_path_factory):
    """The causal checkpoint exported once: (folder, what run returned); another model's files for the tamper test."""
    folder = tmp_path_factory.mktemp("export_causal") / "x"
    return folder, run(ExportConfig(str(causal_checkpoint), out_dir=str(folder),
                                    video=str(sorted(tiny_dataset.rglob("*.avi"))[0])))


def test_a_causal_head_exports_a_step_with_its_state(causal_exported):
    info = causal_exported[1]
    assert info["causal"] and info["files"]["head_step"] == "head_step.onnx"
    # stepping head_step.onnx through a window with its h/c reaches the window head's logits
    assert info["check"]["head_step"]["relative"] <= TOLERANCE


def test_an_export_that_is_not_faithful_is_refused(trained, tiny_dataset, tmp_path, monkeypatch):
    """An exported CNN that is off by 1 % (as a wrong normalisation would be): the ONNX Runtime check,
    against lrcn's own PyTorch path, refuses it."""
    import lrcn.runtime
    from lrcn.errors import LrcnError

    real = lrcn.runtime.CnnGraph.forward
    monkeypatch.setattr(lrcn.runtime.CnnGraph, "forward", lambda self, frames: real(self, frames) * 1.01)
    with pytest.raises(LrcnError, match="not faithful"):
        run(ExportConfig(str(trained[0]), out_dir=str(tmp_path / "x"), video=str(sorted(tiny_dataset.rglob("*.avi"))[0])))


def test_predict_and_stream_run_the_export_in_onnx_runtime(trained, tiny_dataset, exported, tmp_path):
    import io

    from lrcn.config import PredictConfig, StreamConfig
    from lrcn.predict import run as predict
    from lrcn.stream import run as stream

    ckpt, _ = trained
    video = sorted(tiny_dataset.rglob("*.avi"))[2]
    folder, _ = exported
    (torch_result,), _ = predict(PredictConfig(str(ckpt), (str(video),), str(tmp_path / "a"), annotate=False,
                                               progress=False))
    (onnx_result,), _ = predict(PredictConfig(str(ckpt), (str(video),), str(tmp_path / "b"), annotate=False,
                                              progress=False, onnx=str(folder)))
    assert len(onnx_result["windows"]) == len(torch_result["windows"])
    assert onnx_result["onnx_export"] == str(folder) and torch_result["onnx_export"] is None
    assert onnx_result["model"] == torch_result["model"] == str(ckpt)  # the outputs name what made them
    for a, b in zip(torch_result["windows"], onnx_result["windows"]):
        assert a["top"][0]["label"] == b["top"][0]["label"]
        assert abs(a["top"][0]["probability"] - b["top"][0]["probability"]) < 2e-3  # float16-rounded embeddings
    out = io.StringIO()
    summary = stream(StreamConfig(str(ckpt), str(video), onnx=str(folder)), out=out)
    assert summary["frames"] == len(torch_result["windows"])


def test_an_export_of_another_model_is_refused(causal_checkpoint, exported, tiny_dataset, tmp_path):
    from lrcn.config import PredictConfig
    from lrcn.errors import ConfigError
    from lrcn.predict import run as predict

    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    with pytest.raises(ConfigError, match="exported from another model"):  # the causal head, a window head's export
        predict(PredictConfig(str(causal_checkpoint), (str(video),), str(tmp_path / "p"), onnx=str(exported[0])))
    with pytest.raises(ConfigError, match="no lrcn_model.json"):
        predict(PredictConfig(str(causal_checkpoint), (str(video),), str(tmp_path / "p"), onnx=str(tmp_path)))


def test_a_runner_written_from_the_json_alone_agrees_with_lrcn_predict(trained, exported, tmp_path):
    """examples/onnx_runner.py (numpy + onnxruntime + PyAV, no lrcn, no torch) on a real clip: the same
    labels and probabilities within 1e-3 as lrcn predict in PyTorch, and as classify on read_frames."""
    import subprocess
    import sys
    from pathlib import Path

    import lrcn
    from lrcn.datasets import packaged_video

    video = packaged_video("carphone_pristine.mp4")
    runner = Path(__file__).parent.parent / "examples" / "onnx_runner.py"
    code = ("import json, runpy, sys; m = runpy.run_path(sys.argv[1]); rows = m['main'](sys.argv[2], sys.argv[3]); "
            "assert not any(k == 'torch' or k.startswith(('torch.', 'lrcn')) for k in sys.modules), 'imported'; "
            "print(json.dumps(rows))")
    done = subprocess.run([sys.executable, "-c", code, str(runner), str(exported[0]), str(video)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)
    model = lrcn.load(trained[0], precision="fp32")
    result = model.predict(video)
    assert [r["label"] for r in rows] == [model.classes[int(p.argmax())] for p in result.frame_probs]
    np.testing.assert_allclose([r["time"] for r in rows], result.times, atol=1e-3)
    np.testing.assert_allclose(np.array([r["probabilities"] for r in rows]), result.frame_probs, atol=1e-3)
    label, probs = model.classify(model.read_frames(video))
    np.testing.assert_allclose(probs, result.window_probs.mean(0), atol=1e-3)


def _copy(folder, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


@pytest.mark.parametrize("tamper", ["flip_cnn", "foreign_head", "no_hashes", "other_weights"])
def test_a_tampered_export_is_refused_naming_the_file(tamper, trained, causal_exported, exported, tmp_path):
    from lrcn.config import PredictConfig
    from lrcn.errors import ConfigError
    from lrcn.inference import Model

    folder = _copy(exported[0], tmp_path)
    info_path = folder / "lrcn_model.json"
    info = json.loads(info_path.read_text())
    if tamper == "flip_cnn":  # bytes flipped inside the weights
        data = bytearray((folder / "cnn.onnx").read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(255 - b for b in data[len(data) // 2 : len(data) // 2 + 64])
        (folder / "cnn.onnx").write_bytes(bytes(data))
        match = "cnn.onnx: SHA-256 differs"
    elif tamper == "foreign_head":  # another model's head copied in
        other, info_other = causal_exported
        (folder / "head.onnx").write_bytes((other / info_other["files"]["head"]).read_bytes())
        match = "head.onnx: SHA-256 differs"
    elif tamper == "no_hashes":
        del info["sha256"]
        info_path.write_text(json.dumps(info))
        match = "no SHA-256"
    else:
        info["checkpoint_weights_sha256"] = "0" * 64
        info_path.write_text(json.dumps(info))
        match = "other weights"
    with pytest.raises(ConfigError, match=match):
        Model(trained[0], onnx=folder)
    PredictConfig(str(trained[0]), ("x.avi",), onnx=str(folder))  # the settings are fine; the files are not


def test_an_ensemble_trains_validates_as_one_and_exports_as_one_head(tiny_dataset, tmp_path):
    """lrcn train --ensemble 2: both members trained, validation and the refit read as one model, the
    checkpoint holds both, lrcn info says so, and the ONNX head is the ensemble (ONNX Runtime gives its
    mean probabilities, checked against PyTorch by lrcn export)."""
    import torch

    import lrcn
    from lrcn.checkpoint import info_lines, load_checkpoint
    from lrcn.model import Ensemble
    from lrcn.train import TrainConfig, run as train

    run_dir = train(TrainConfig(str(tiny_dataset), backbone="mobilenet_v2", weights="none",
                                cache_dir=str(tmp_path / "c"), run_dir=str(tmp_path / "run"), epochs=2, batch_size=4,
                                num_workers=0, val_split=0.25, val_check_interval=1, views=("center",), ensemble=2),
                    progress=False)
    final = load_checkpoint(run_dir / "Saved_model_checkpoints" / "final.pth.tar")
    assert final.final["refit"] and all(h["val_acc"] is not None for h in final.final["validation_history"])
    assert {k.split(".")[1] for k in final.model} == {"0", "1"}  # members.0.*, members.1.*
    head = final.head()
    assert isinstance(head, Ensemble) and final.model_config.ensemble == 2
    assert any("an ensemble of 2" in line for line in info_lines(run_dir))
    video = sorted(tiny_dataset.rglob("*.avi"))[1]
    info = run(ExportConfig(str(run_dir), out_dir=str(tmp_path / "x"), video=str(video)))
    assert info["check"]["head"]["relative"] <= TOLERANCE
    model = lrcn.load(run_dir, runtime="pytorch")
    onnx = Model(run_dir, onnx=str(tmp_path / "x"))  # its CNN and head in ONNX Runtime
    frames = model.read_frames(video)
    (label, probs), (onnx_label, onnx_probs) = model.classify(frames), onnx.classify(frames)
    assert onnx_label == label and probs.shape == (4,)
    np.testing.assert_allclose(onnx_probs, probs, atol=1e-4)
    embedder = model.step_embedder(batch=len(frames))  # what classify reads: every window's steps ...
    steps = [s for i, f in enumerate(model.scale(frames)) for s in embedder.push(i / model.fps, f)] + embedder.flush()
    emb = np.stack([e for _, e in steps])
    windows = torch.from_numpy(np.stack([emb[s:s + model.window] for s in range(len(emb) - model.window + 1)]))
    with torch.no_grad():  # ... and in each, the mean of the two members' probabilities
        want = torch.stack([m(windows).softmax(-1) for m in model.head.members]).mean(0).mean(0)
    np.testing.assert_allclose(probs, want.numpy(), atol=1e-5)


@pytest.mark.parametrize("readout", ["per_step", "both_readouts"])
def test_a_head_that_labels_each_step_exports_its_steps(readout, tiny_dataset, tmp_path):
    """A --per-step or --both-readouts head: head.onnx gives the step logits too and lrcn_model.json the
    rule, so predict --onnx and a runner written from the JSON label frames as PyTorch does (not by the
    window's label, which differs); an export without the steps (an earlier release's) is refused."""
    import subprocess
    import sys
    from pathlib import Path

    import lrcn
    from lrcn.decode import frame_probabilities
    from lrcn.errors import ConfigError
    from lrcn.train import TrainConfig, run as train

    run_dir = train(TrainConfig(str(tiny_dataset), backbone="mobilenet_v2", weights="none",
                                cache_dir=str(tmp_path / "c"), run_dir=str(tmp_path / "run"), epochs=4, batch_size=4,
                                lr=5e-3, num_workers=0, val_split=0, views=("center",), **{readout: True}),
                    progress=False)
    video = sorted(tiny_dataset.rglob("*.avi"))[1]
    info = run(ExportConfig(str(run_dir), out_dir=str(tmp_path / "x"), video=str(video)))
    want = "steps" if readout == "per_step" else "both"
    assert info["readout"] == want and info["outputs"]["head"] == ["logits", "step_logits"]
    assert info["check"]["head_steps"]["relative"] <= TOLERANCE
    assert "own step" in info["preprocessing"]["frame_probabilities"]

    result = lrcn.load(run_dir, runtime="pytorch", precision="fp32").predict(video)
    onnx = Model(run_dir, onnx=str(tmp_path / "x")).predict(video)
    np.testing.assert_allclose(onnx.frame_probs, result.frame_probs, atol=1e-5)
    by_window = frame_probabilities(result.window_probs, range(len(result.window_probs)),
                                    len(result.frame_probs) - len(result.window_probs) + 1, len(result.frame_probs))
    gap = np.abs(by_window - result.frame_probs).max()
    assert gap > 5e-4  # the window's label alone would not pass

    runner = Path(__file__).parent.parent / "examples" / "onnx_runner.py"
    code = ("import json, runpy, sys; m = runpy.run_path(sys.argv[1]); "
            "print(json.dumps(m['main'](sys.argv[2], sys.argv[3])))")
    done = subprocess.run([sys.executable, "-c", code, str(runner), str(tmp_path / "x"), str(video)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = np.array([r["probabilities"] for r in json.loads(done.stdout)])
    np.testing.assert_allclose(rows, result.frame_probs, atol=1e-5)

    path = tmp_path / "x" / "lrcn_model.json"
    old = json.loads(path.read_text())
    del old["readout"]
    path.write_text(json.dumps(old))
    with pytest.raises(ConfigError, match=f"readout: export 'window', checkpoint '{want}'"):
        Model(run_dir, onnx=str(tmp_path / "x"))
