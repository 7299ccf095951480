"""backbone.py: the frozen CNNs (precision, weights files and their hashes, micro-batches, compiling,
BatchNorm folding, feature sizes) and :func:`create_embedder`'s choice of embedder."""

import pytest
import torch

from lrcn.backbone import BackboneSpec, FrameEmbedder, choose_precision, verify_hash
from lrcn.errors import WeightsError

SPEC_BACKBONE = BackboneSpec("mobilenet_v2", "none")


def test_create_embedder_picks_the_embedder_of_the_backbone_kind():
    """A frame CNN embeds frames (N, 224, 224, 3); a clip backbone embeds clips (N, T, 224, 224, 3)."""
    from lrcn.backbone import I3DEmbedder, create_embedder
    frame = create_embedder(SPEC_BACKBONE, device=torch.device("cpu"), precision="fp32", runtime="pytorch")
    assert isinstance(frame, FrameEmbedder) and frame.dim == 1280
    frames = torch.randint(0, 255, (3, 224, 224, 3), dtype=torch.uint8)
    out = frame(frames)
    assert out.shape == (3, 1280) and torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])  # different frames, different embeddings
    torch.manual_seed(0)
    clip = create_embedder(BackboneSpec("i3d", "none"), device=torch.device("cpu"), precision="fp32")
    assert isinstance(clip, I3DEmbedder) and clip.dim == 1024
    clips = torch.randint(0, 255, (1, 16, 224, 224, 3), dtype=torch.uint8)
    assert clip(clips).shape == (1, 1024)


def test_precision_choice(monkeypatch):
    from lrcn import backbone
    from lrcn.errors import ConfigError

    monkeypatch.setattr(backbone, "native_cpu_bf16", lambda cpuinfo=None: False)
    assert choose_precision(torch.device("cpu"), "fp32") == "fp32"
    assert choose_precision(torch.device("cpu"), "bf16", "resnet152") == "bf16"  # asked for: given
    assert choose_precision(torch.device("cpu"), "auto", "resnet152") == "fp32"  # no bf16 in hardware
    assert choose_precision(torch.device("cpu"), "auto", "mobilenet_v2") == "fp32"  # bf16 not faithful for it
    with pytest.raises(ConfigError, match="CUDA"):
        choose_precision(torch.device("cpu"), "fp16")


def test_missing_weights_file_is_one_clear_line(tmp_path):
    with pytest.raises(WeightsError, match="weights file not found"):
        FrameEmbedder(BackboneSpec("resnet18", str(tmp_path / "missing.pth")))


def test_imagenet_weights_missing_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    import torch.hub

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(WeightsError) as err:
        FrameEmbedder(BackboneSpec("resnet152", "imagenet"))
    message = str(err.value)
    assert "resnet152-394f9c45.pth" in message and str(tmp_path) in message and "--weights PATH" in message


def test_wrong_architecture_weights(tmp_path):
    import torchvision

    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(WeightsError, match="does not fit mobilenet_v2"):
        FrameEmbedder(BackboneSpec("mobilenet_v2", str(path)))


def test_embedder_runs_micro_batches_padded_to_one_static_shape_when_compiled(monkeypatch):
    embedder = FrameEmbedder(SPEC_BACKBONE, device=torch.device("cpu"), precision="fp32", micro_batch=4)
    seen = []
    real = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda x: (seen.append(x.shape[0]), real(x))[1])
    frames = torch.randint(0, 255, (6, 224, 224, 3), dtype=torch.uint8)
    whole = torch.cat([real(frames[i : i + 1]) for i in range(6)])
    eager = embedder(frames)
    assert seen == [4, 2] and eager.shape == (6, embedder.dim)
    seen.clear()
    embedder.compiled = True
    padded = embedder(frames)
    assert seen == [4, 4]
    torch.testing.assert_close(eager, whole, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(padded, whole, rtol=1e-4, atol=1e-4)


def test_a_failed_compilation_falls_back_to_eager(monkeypatch, caplog):
    def broken(model, **kw):
        def run(x):
            raise RuntimeError("InductorError: no C++ compiler found\nlong trace")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    embedder = FrameEmbedder(SPEC_BACKBONE, device=torch.device("cpu"), precision="fp32", compile=True, micro_batch=4)
    frames = torch.randint(0, 255, (6, 224, 224, 3), dtype=torch.uint8)
    with caplog.at_level("WARNING"):
        out = embedder(frames)
    assert "torch.compile failed (InductorError: no C++ compiler found)" in caplog.text
    assert not embedder.compiled and out.shape == (6, embedder.dim)
    eager = FrameEmbedder(SPEC_BACKBONE, device=torch.device("cpu"), precision="fp32", micro_batch=4)
    torch.testing.assert_close(out, eager(frames), rtol=1e-4, atol=1e-4)


def test_hash_check(tmp_path):
    good = tmp_path / "w-00000000.pth"
    good.write_bytes(b"x")
    with pytest.raises(WeightsError, match="does not match"):
        verify_hash(good)


def test_feature_sizes_match_torchvision():
    import torchvision

    from lrcn.config import ARCHITECTURES, CLIP_BACKBONES, FEATURE_DIMS
    from lrcn.i3d import I3D

    assert I3D().dim == FEATURE_DIMS["i3d"]
    for arch in set(ARCHITECTURES) - set(CLIP_BACKBONES):
        model = torchvision.models.get_model(arch, weights=None)
        head = model.fc if arch.startswith("resnet") else model.classifier[-1]
        assert head.in_features == FEATURE_DIMS[arch], arch


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2 avx512f avx512bw avx512_vnni", False),  # AVX-512 without bf16: oneDNN would only emulate it
    ("fpu avx512f avx512_bf16", True),
    ("fpu avx512f amx_tile amx_bf16", True),
    ("fpu sse sse2", False),
])
def test_bf16_only_where_the_cpu_has_it(flags, expected, monkeypatch):
    from lrcn import backbone

    info = f"processor\t: 0\nflags\t\t: {flags}\n"
    assert backbone.native_cpu_bf16(info) is expected
    monkeypatch.setattr(backbone, "native_cpu_bf16", lambda cpuinfo=None: expected)
    assert choose_precision(torch.device("cpu"), "auto", "resnet152") == ("bf16" if expected else "fp32")
    assert choose_precision(torch.device("cpu"), "auto", "mobilenet_v2") == "fp32"  # bf16 not faithful for it


@pytest.mark.parametrize("arch", ["mobilenet_v2", "resnet18"])
def test_folding_batchnorm_keeps_the_embeddings(arch, tmp_path):
    import torchvision

    # Weights whose BatchNorm statistics and affine terms are far from the identity, as trained ones are.
    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.5, 0.5)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    spec = BackboneSpec(arch, str(tmp_path / "w.pth"))
    folded = FrameEmbedder(spec, precision="fp32")
    plain = FrameEmbedder(spec, precision="fp32", fold_batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.cnn.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.cnn.modules())
    frames = torch.randint(0, 255, (3, 224, 224, 3), dtype=torch.uint8)
    a, b = folded(frames), plain(frames)
    assert (a - b).abs().max() <= 1e-4 * b.abs().max()


def test_on_a_cpu_the_frame_cnn_runs_in_onnx_runtime_exported_once_and_faithful(tmp_path, monkeypatch, caplog):
    """``runtime="auto"`` on a CPU in fp32: the CNN as an ONNX graph (written once per weights, then loaded),
    giving PyTorch's embeddings; a failed export falls back to PyTorch with one warning."""
    import lrcn.runtime
    from lrcn.backbone import choose_runtime, create_embedder
    from lrcn.errors import ConfigError
    from lrcn.runtime import OnnxEmbedder

    monkeypatch.setenv("LRCN_ONNX_CACHE", str(tmp_path))
    cpu = torch.device("cpu")
    frames = torch.randint(0, 255, (5, 224, 224, 3), dtype=torch.uint8)
    ort = create_embedder(SPEC_BACKBONE, device=cpu, precision="auto")
    assert isinstance(ort, OnnxEmbedder) and ort.dim == 1280 and len(list(tmp_path.glob("mobilenet_v2-*.onnx"))) == 1
    made = ort.path.stat().st_mtime_ns
    pt = create_embedder(SPEC_BACKBONE, device=cpu, precision="fp32", runtime="pytorch")
    a, b = ort(frames), pt(frames)
    assert (a - b).abs().max() <= 1e-4 * b.abs().max()
    again = create_embedder(SPEC_BACKBONE, device=cpu)
    assert again.path == ort.path and again.path.stat().st_mtime_ns == made  # loaded, not written again
    assert choose_runtime(SPEC_BACKBONE, cpu, "bf16") == "pytorch"  # bf16 asked for: PyTorch's
    assert choose_runtime(SPEC_BACKBONE, cpu, "fp32", compile=True) == "pytorch"
    assert choose_runtime(BackboneSpec("i3d", "none"), cpu, "fp32") == "pytorch"
    with pytest.raises(ConfigError, match="runs a frame CNN"):
        choose_runtime(BackboneSpec("i3d", "none"), cpu, "fp32", requested="onnxruntime")

    def broken(embedder):
        raise RuntimeError("exporter failed\nlong trace")

    monkeypatch.setattr(lrcn.runtime, "onnx_cnn", broken)
    with caplog.at_level("WARNING"):
        fallback = create_embedder(SPEC_BACKBONE, device=cpu)
    assert isinstance(fallback, FrameEmbedder) and "ONNX Runtime not used for mobilenet_v2 (exporter failed)" in caplog.text
