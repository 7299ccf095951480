import numpy as np
import pytest
import torch

from lrcn.backbone import BackboneSpec, FrameEmbedder, worth_compiling
from lrcn.embedded import frames_to_embed
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


def test_an_entry_with_other_numbers_of_the_same_shape_is_refused_by_its_sha1(tmp_path, make_video, embedder):
    """The record's SHA-1 is what notices a same-shape, same-dtype, finite replacement (nothing else can)."""
    from lrcn.errors import CacheError

    video = make_video("v.avi", 30)
    cache = EmbeddingCache(tmp_path / "cache", SPEC)
    request = Request(str(video), ("center",))
    extract([request], cache, embedder=embedder, workers=0, progress=False)
    good = np.array(cache.load(request))
    path = cache.entry_path(cache.key(str(video), ("center",)))
    np.save(path, good[:, ::-1].copy())  # the frames in reverse order: same shape, dtype, values
    with pytest.raises(CacheError, match="other numbers than were stored"):
        cache.load(request)
    assert not path.exists()
