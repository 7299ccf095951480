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
