import numpy as np
import pytest
import torch

from lrcn.backbone import BackboneSpec, FrameEmbedder, choose_precision, verify_hash, worth_compiling
from lrcn.embedded import frames_to_embed
from lrcn.errors import WeightsError
from lrcn.features import (EmbeddingCache, FeatureSpec, Request, decode_size, entry_key, extract, fingerprint,
                           make_views)

SPEC = FeatureSpec(BackboneSpec("mobilenet_v2", "none"), 2.5)


@pytest.fixture(scope="module")
def embedder():
    return FrameEmbedder(SPEC.backbone, device=torch.device("cpu"), precision="fp32")


@pytest.mark.parametrize("w,h,crop,expected", [(320, 240, "center", (341, 256)), (240, 320, "center", (256, 341)),
                                               (64, 48, "center", (341, 256)), (97, 61, "center", (407, 256)),
                                               (320, 240, "full", (224, 224))])
def test_decode_size(w, h, crop, expected):
    assert decode_size(w, h, crop) == expected


def test_views_are_crops_and_flips():
    frames = np.random.default_rng(0).integers(0, 255, (3, 256, 341, 3), dtype=np.uint8)
    views = make_views(frames, ("center", "flip", "top_left", "bottom_right"))
    assert views.shape == (4, 3, 224, 224, 3)
    np.testing.assert_array_equal(views[1], views[0][:, :, ::-1])
    np.testing.assert_array_equal(views[2], frames[:, :224, :224])
    np.testing.assert_array_equal(views[3], frames[:, -224:, -224:])


def test_key_changes_with_every_input(make_video):
    a = make_video("a.avi", 30)
    b = make_video("b.avi", 31)
    base = entry_key(fingerprint(a), SPEC, ("center",))
    assert base == entry_key(fingerprint(a), SPEC, ("center",))
    others = [
        entry_key(fingerprint(b), SPEC, ("center",)),
        entry_key(fingerprint(a), SPEC, ("center", "flip")),
        entry_key(fingerprint(a), FeatureSpec(BackboneSpec("resnet18", "none"), 2.5), ("center",)),
        entry_key(fingerprint(a), FeatureSpec(BackboneSpec("mobilenet_v2", "imagenet"), 2.5), ("center",)),
        entry_key(fingerprint(a), FeatureSpec(SPEC.backbone, 5.0), ("center",)),
        entry_key(fingerprint(a), FeatureSpec(SPEC.backbone, 2.5, "full"), ("center",)),
    ]
    assert len({base, *others}) == 7


def test_extract_once_then_cached(tmp_path, make_video, embedder):
    videos = [make_video(f"v{i}.avi", 25 * 3) for i in range(3)]
    (tmp_path / "bad.avi").write_bytes(b"")
    cache = EmbeddingCache(tmp_path / "cache", SPEC)
    requests = [Request(str(v), ("center", "flip")) for v in videos] + [Request(str(tmp_path / "bad.avi"), ("center",))]
    first = extract(requests, cache, embedder=embedder, workers=0, progress=False)
    assert first["computed"] == 3 and first["cached"] == 0
    assert len(first["failed"]) == 1 and "empty file" in first["failed"][0]["reason"]
    second = extract(requests, cache, embedder=embedder, workers=0, progress=False)
    assert second["computed"] == 0 and second["cached"] == 3
    emb = cache.load(requests[0])
    assert emb.shape == (2, 8, embedder.dim) and emb.dtype == np.float16  # 3 s at 2.5 fps = 8 frames
    assert isinstance(emb, np.memmap)


def test_cached_values_match_a_direct_backbone_run(tmp_path, make_video, embedder):
    from lrcn.features import decode_sampled

    video = make_video("v.avi", 40)
    cache = EmbeddingCache(tmp_path / "cache", SPEC)
    extract([Request(str(video), ("center",))], cache, embedder=embedder, workers=0, progress=False)
    frames = make_views(decode_sampled(video, SPEC), ("center",))[0]
    direct = embedder(torch.from_numpy(frames)).numpy()
    cached = cache.load(Request(str(video), ("center",)))[0].astype(np.float32)
    assert np.abs(direct).mean() > 1e-2  # real magnitudes, not float16 underflow
    np.testing.assert_allclose(cached, direct, rtol=2e-3, atol=2e-3 * np.abs(direct).max())


def test_sharded_extraction_equals_one_run(tmp_path, make_video, embedder):
    videos = [make_video(f"v{i}.avi", 30 + i) for i in range(5)]
    requests = [Request(str(v), ("center",)) for v in videos]
    whole = EmbeddingCache(tmp_path / "whole", SPEC)
    extract(requests, whole, embedder=embedder, workers=0, progress=False)
    sharded = EmbeddingCache(tmp_path / "sharded", SPEC)
    done = [extract(requests, sharded, embedder=embedder, workers=0, shard=(i, 2), progress=False)["computed"]
            for i in range(2)]
    assert done == [3, 2]
    for r in requests:
        np.testing.assert_array_equal(whole.load(r), sharded.load(r))


def test_damaged_entry_is_detected_and_removed(tmp_path, make_video, embedder):
    from lrcn.errors import CacheError

    video = make_video("v.avi", 30)
    cache = EmbeddingCache(tmp_path / "cache", SPEC)
    request = Request(str(video), ("center",))
    extract([request], cache, embedder=embedder, workers=0, progress=False)
    path = cache.entry_path(cache.key(str(video), ("center",)))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CacheError, match="damaged"):
        cache.load(request)
    assert not path.exists()


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
    embedder = FrameEmbedder(SPEC.backbone, device=torch.device("cpu"), precision="fp32", micro_batch=4)
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


def test_compiling_is_chosen_by_the_frames_to_embed(make_video, tmp_path):
    videos = [make_video(f"v{i}.avi", 25 * 4) for i in range(6)]  # 4 s at 2.5 fps: 10 frames each
    (tmp_path / "bad.avi").write_bytes(b"")
    requests = [Request(str(v), ("center", "flip")) for v in videos] + [Request(str(tmp_path / "bad.avi"), ("center",))]
    assert frames_to_embed(requests, 2.5) == 10 * 13
    assert frames_to_embed(requests, 2.5, sample=2) == 10 * 13
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not worth_compiling(10 * 13, cpu, "resnet152")
    assert worth_compiling(10_000, cpu, "resnet152") and not worth_compiling(10_000, cuda, "resnet152")
    assert not worth_compiling(10**6, cpu, "mobilenet_v2")  # measured: compiling it gains nothing on CPU


def test_a_failed_compilation_falls_back_to_eager(monkeypatch, caplog):
    def broken(model, **kw):
        def run(x):
            raise RuntimeError("InductorError: no C++ compiler found\nlong trace")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    embedder = FrameEmbedder(SPEC.backbone, device=torch.device("cpu"), precision="fp32", compile=True, micro_batch=4)
    frames = torch.randint(0, 255, (6, 224, 224, 3), dtype=torch.uint8)
    with caplog.at_level("WARNING"):
        out = embedder(frames)
    assert "torch.compile failed (InductorError: no C++ compiler found)" in caplog.text
    assert not embedder.compiled and out.shape == (6, embedder.dim)
    eager = FrameEmbedder(SPEC.backbone, device=torch.device("cpu"), precision="fp32", micro_batch=4)
    torch.testing.assert_close(out, eager(frames), rtol=1e-4, atol=1e-4)


def test_hash_check(tmp_path):
    good = tmp_path / "w-00000000.pth"
    good.write_bytes(b"x")
    with pytest.raises(WeightsError, match="does not match"):
        verify_hash(good)


@pytest.mark.parametrize("spoil, message", [
    (lambda a: a * np.float16("nan"), "non-finite"),
    (lambda a: np.concatenate([a, a]), r"shape \(2, "),  # two views where one was asked for
    (lambda a: a[:, :, :100], "shape"),  # another backbone's feature size
    (lambda a: a.astype(np.float32), "float32"),
])
def test_wrong_or_non_finite_entries_are_refused_and_recomputed(tmp_path, make_video, embedder, spoil, message):
    from lrcn.errors import CacheError

    video = make_video("v.avi", 30)
    cache = EmbeddingCache(tmp_path / "cache", SPEC)
    request = Request(str(video), ("center",), "Class/v.avi")
    extract([request], cache, embedder=embedder, workers=0, progress=False)
    good = np.array(cache.load(request))
    path = cache.entry_path(cache.key(str(video), ("center",)))
    np.save(path, spoil(good))
    with pytest.raises(CacheError, match=message) as err:
        cache.load(request)
    assert "Class/v.avi" in str(err.value)
    assert not path.exists()  # removed, so the next run computes it again
    extract([request], cache, embedder=embedder, workers=0, progress=False)
    np.testing.assert_array_equal(cache.load(request), good)


def test_feature_sizes_match_torchvision():
    import torchvision

    from lrcn.backbone import ARCHITECTURES, CLIP_BACKBONES, FEATURE_DIMS
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
