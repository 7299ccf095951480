import pytest
import torch

from lrcn.errors import ConfigError
from lrcn.model import LRCNHead, ModelConfig


def test_logits_shape_and_no_softmax():
    torch.manual_seed(0)
    head = LRCNHead(ModelConfig(feature_dim=32, num_classes=7)).eval()
    logits = head(torch.randn(4, 5, 32))
    assert logits.shape == (4, 7)
    # Raw logits: not probabilities (CrossEntropyLoss applies log-softmax itself).
    assert not torch.allclose(logits.sum(1), torch.ones(4))
    assert (logits < 0).any()


@pytest.mark.parametrize("bidirectional", [True, False])
def test_classifier_reads_final_states_of_both_directions(bidirectional):
    torch.manual_seed(0)
    cfg = ModelConfig(feature_dim=16, num_classes=3, latent_dim=8, hidden_size=6, lstm_layers=2,
                      bidirectional=bidirectional)
    head = LRCNHead(cfg).eval()
    x = torch.randn(2, 5, 16)
    seen = {}
    head.classifier.register_forward_hook(lambda m, i, o: seen.setdefault("input", i[0]))
    head(x)
    out, _ = head.lstm(head.steps(x))  # (B, T, dirs * H)
    if bidirectional:
        # forward after the last frame, backward after the first frame: both have seen all 5 frames
        expected = torch.cat([out[:, -1, :6], out[:, 0, 6:]], dim=1)
    else:
        expected = out[:, -1]
    torch.testing.assert_close(seen["input"], expected)


def test_backward_direction_sees_the_whole_clip():
    """The seed read output[:, -1]: its backward half depended on the last frame only."""
    torch.manual_seed(0)
    head = LRCNHead(ModelConfig(feature_dim=8, num_classes=2, latent_dim=8, hidden_size=4, lstm_layers=1)).eval()
    seen = []
    head.classifier.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    x = torch.randn(1, 5, 8)
    y = x.clone()
    y[:, 0] += 5.0  # change only the first frame
    head(x), head(y)
    backward_half = slice(4, 8)
    assert not torch.allclose(seen[0][:, backward_half], seen[1][:, backward_half])


def test_gradients_reach_every_parameter():
    head = LRCNHead(ModelConfig(feature_dim=8, num_classes=3))
    loss = torch.nn.functional.cross_entropy(head(torch.randn(3, 5, 8)), torch.tensor([0, 1, 2]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


@pytest.mark.parametrize("kw", [{"num_classes": 1}, {"hidden_size": 0}, {"dropout": 1.0}])
def test_bad_model_config(kw):
    with pytest.raises(ConfigError):
        ModelConfig(**{"feature_dim": 8, "num_classes": 3, **kw})


def test_frame_differences_are_read_and_old_heads_still_load():
    cfg = ModelConfig(feature_dim=8, num_classes=3)
    assert cfg.frame_differences and LRCNHead(cfg).project.in_features == 16
    old = {k: v for k, v in cfg.to_dict().items() if k != "frame_differences"}  # an earlier release's checkpoint
    assert ModelConfig.from_dict(old).frame_differences is False
    assert LRCNHead(ModelConfig.from_dict(old)).project.in_features == 8
    # the head sees the change between frames: a constant sequence and one with the same mean but a trend differ
    torch.manual_seed(0)
    head = LRCNHead(ModelConfig(feature_dim=4, num_classes=2, latent_dim=4, hidden_size=4, lstm_layers=1)).eval()
    ramp = torch.linspace(-1, 1, 5)[None, :, None].expand(1, 5, 4)
    change = torch.cat([torch.zeros(1, 1, 4), torch.full((1, 4, 4), 0.5)], dim=1)  # 0 first, then the step
    with torch.no_grad():
        torch.testing.assert_close(head.steps(ramp), head.project(torch.cat([ramp, change], 2)))
        assert not torch.allclose(head(ramp), head(ramp.flip(1)))


def test_run_head_gives_the_same_logits_in_any_batch_size():
    import numpy as np

    from lrcn.model import LRCNHead, ModelConfig, run_head

    torch.manual_seed(0)
    head = LRCNHead(ModelConfig(feature_dim=6, num_classes=3, latent_dim=4, hidden_size=5))
    windows = np.random.default_rng(0).standard_normal((10, 5, 6)).astype(np.float32)
    whole = run_head(head, windows, "cpu", batch_size=256)
    assert whole.shape == (10, 3) and not head.training
    np.testing.assert_allclose(run_head(head, windows, "cpu", batch_size=3), whole, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(head(torch.from_numpy(windows[4:5])).numpy(), whole[4:5], rtol=1e-5, atol=1e-6)
    assert run_head(head, np.zeros((0, 5, 6), np.float32), "cpu").shape == (0, 3)


class _OneProcess:  # train_one_epoch's view of torch.distributed, for one process
    device = torch.device("cpu")
    world_size = 1

    @staticmethod
    def all_reduce_sum(values):
        return values


@pytest.mark.parametrize("kind", ["window", "per_step", "both_readouts"])
def test_an_ensemble_reads_as_the_mean_of_its_members_probabilities(kind):
    """--ensemble K: K heads of one shape from different initial weights; every reading of the
    ensemble (its logits, every step's, both readouts, window_probabilities) is the log of the mean
    of its members' probabilities, so a softmax gives that mean."""
    import numpy as np

    from lrcn.model import Ensemble, build_head, window_probabilities

    torch.manual_seed(0)
    flags = {} if kind == "window" else {kind: True}
    head = build_head(ModelConfig(feature_dim=8, num_classes=3, ensemble=3, **flags)).eval()
    assert isinstance(head, Ensemble) and len(head.members) == 3
    assert isinstance(build_head(ModelConfig(feature_dim=8, num_classes=3)), LRCNHead)
    a, b = (m.state_dict()["project.weight"] for m in head.members[:2])
    assert not torch.equal(a, b)  # each member its own initial weights
    x = torch.randn(4, 5, 8)

    def mean(call):
        return torch.stack([call(m).softmax(-1) for m in head.members]).mean(0)

    with torch.no_grad():
        torch.testing.assert_close(head(x).softmax(-1), mean(lambda m: m(x)))
        torch.testing.assert_close(head(x).exp(), mean(lambda m: m(x)))  # already log-probabilities
        if kind != "window":
            torch.testing.assert_close(head.step_logits(x).softmax(-1), mean(lambda m: m.step_logits(x)))
            steps, window = head.readouts(x)
            torch.testing.assert_close(steps.softmax(-1), mean(lambda m: m.readouts(x)[0]))
            torch.testing.assert_close(window.softmax(-1), mean(lambda m: m.readouts(x)[1]))
    w, s = window_probabilities(head, x.numpy(), "cpu", batch_size=3)
    if kind == "window":
        np.testing.assert_allclose(w, mean(lambda m: m(x)).detach().numpy(), atol=1e-6)
        assert s is None
    else:
        assert s.shape == (4, 5, 3)
        np.testing.assert_allclose(s, mean(lambda m: m.step_logits(x)).detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("every_step", [False, True])
def test_each_member_of_an_ensemble_trains_as_if_alone(every_step):
    """Training an ensemble, the loss is the mean of the members' own losses (not the loss of their mean),
    so a member's step with K times the learning rate is the step it takes trained by itself."""
    import copy

    from lrcn.model import EachMember, EveryStep, build_head, trained_as
    from lrcn.train import train_one_epoch

    torch.manual_seed(0)
    flags = {"per_step": True} if every_step else {}
    ensemble = build_head(ModelConfig(feature_dim=6, num_classes=3, ensemble=2, dropout=0.0, **flags))
    alone = copy.deepcopy(ensemble.members[1])
    x = torch.randn(5, 4, 6)
    y = torch.randint(0, 3, (5, 4) if every_step else (5,))
    trained = trained_as(ensemble, every_step)
    assert isinstance(trained, EachMember)
    assert trained(x).shape == ((5, 8, 3) if every_step else (5, 2, 3))
    ce = torch.nn.functional.cross_entropy
    with torch.no_grad():
        own = [ce(m.step_logits(x).flatten(0, 1), y.flatten()) if every_step else ce(m(x), y)
               for m in ensemble.members]
    sgd = torch.optim.SGD(ensemble.parameters(), lr=0.2)
    out = train_one_epoch(trained, [(x, y, len(x))], sgd, 0, seed=0, dist=_OneProcess())
    assert out["train_loss"] == pytest.approx(float(sum(own) / 2), rel=1e-5)
    train_one_epoch(EveryStep(alone) if every_step else alone, [(x, y, len(x))],
                    torch.optim.SGD(alone.parameters(), lr=0.1), 0, seed=0, dist=_OneProcess())
    for name, value in alone.state_dict().items():
        torch.testing.assert_close(ensemble.members[1].state_dict()[name], value)


def test_an_ensemble_of_causal_heads_is_refused():
    from lrcn.config import TrainConfig

    with pytest.raises(ConfigError, match="ensemble of causal heads"):
        ModelConfig(8, 3, causal=True, bidirectional=False, ensemble=2)
    with pytest.raises(ConfigError, match="--ensemble with --causal"):
        TrainConfig("data", causal=True, ensemble=2)
    with pytest.raises(ConfigError, match="ensemble must be >= 1"):
        ModelConfig(8, 3, ensemble=0)
