"""Training helpers: growing a trained net keeps what it learnt, and the weight average averages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.net import EmotionNet, normalise
from models.train import WeightAverage, augment, grow_from
from models.weights import load_model, save_weights


def _trained_like(seed: int, extra_blocks: int = 0) -> EmotionNet:
    """A net with random, non-trivial BN statistics, as if trained."""
    torch.manual_seed(seed)
    net = EmotionNet(extra_blocks=extra_blocks)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return net.eval()


@torch.inference_mode()
def test_growing_a_net_keeps_its_predictions() -> None:
    source = _trained_like(1)
    grown = EmotionNet(extra_blocks=2)
    grow_from(grown, source)
    grown.eval()
    x = normalise(torch.randint(0, 256, (4, 48, 48), dtype=torch.uint8))
    assert torch.allclose(grown(x), source(x), atol=1e-5)
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in source.parameters())


def test_growing_refuses_weights_of_another_shape() -> None:
    with pytest.raises(SystemExit, match="do not fit"):
        grow_from(EmotionNet(widths=(32, 64, 128, 256)), EmotionNet())
    with pytest.raises(SystemExit, match="do not fit"):
        grow_from(EmotionNet(), EmotionNet(extra_blocks=1))


def test_weight_average_moves_part_way() -> None:
    a, b = _trained_like(1), _trained_like(2)
    start = {k: v.clone() for k, v in a.state_dict().items()}
    avg = WeightAverage(a, decay=0.75)
    avg.update(b)
    for key, value in avg.model.state_dict().items():
        if value.is_floating_point():
            expected = 0.75 * start[key] + 0.25 * b.state_dict()[key]
            assert torch.allclose(value, expected, atol=1e-6), key
    # The average is a copy: updating it leaves the training net alone.
    assert torch.equal(a.stem[0][0].weight, start["stem.0.0.weight"])


def test_grown_weights_round_trip(tmp_path: Path) -> None:
    net = _trained_like(3, extra_blocks=1)
    save_weights(net, tmp_path / "w.pt", {"publictest_accuracy": 0.5})
    loaded = load_model(tmp_path / "w.pt")
    assert loaded.extra_blocks == 1
    x = normalise(torch.randint(0, 256, (2, 48, 48), dtype=torch.uint8))
    with torch.inference_mode():
        assert torch.allclose(loaded(x), net(x), atol=1e-6)


def test_augment_without_jitter_or_erasing_only_flips() -> None:
    x = normalise(torch.randint(0, 256, (64, 48, 48), dtype=torch.uint8))
    out = augment(x, torch.Generator().manual_seed(0), jitter=0.0, erase=0.0)
    same = torch.isclose(out, x, atol=1e-4).flatten(1).all(1)
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-4).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 0 < int(mirrored.sum()) < 64
