"""Training helpers: growing a trained net keeps what it learnt, the weight average averages, and
batch-norm recalibration re-measures statistics without touching learnt weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.net import EmotionNet, normalise
from models.recalibrate import main as recalibrate_main
from models.recalibrate import model_from_checkpoint, recalibrate_bn
from models.train import WeightAverage, augment, grow_from
from models.weights import load_model, save_weights, weights_meta


def _trained_like(seed: int, extra_blocks: int = 0) -> EmotionNet:
    """A net with random, non-trivial BN statistics, as if trained."""
    torch.manual_seed(seed)
    net = EmotionNet(extra_blocks=extra_blocks)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None  # BN tracks running stats
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return net.eval()


def _first_conv(net: EmotionNet) -> torch.nn.Conv2d:
    conv = net.get_submodule("stem.0.0")
    assert isinstance(conv, torch.nn.Conv2d)
    return conv


def _first_bn(net: EmotionNet) -> torch.nn.BatchNorm2d:
    bn = net.get_submodule("stem.0.1")
    assert isinstance(bn, torch.nn.BatchNorm2d)
    return bn


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
    assert torch.equal(_first_conv(a).weight, start["stem.0.0.weight"])


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


def test_recalibration_measures_batch_norm_on_the_given_faces() -> None:
    net = _trained_like(4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    faces = normalise(
        torch.randint(0, 256, (300, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    )
    fresh = recalibrate_bn(net, faces, batch=100)  # equal batches: their average is the mean
    assert not fresh.training and fresh is not net
    # The first BN sees the first convolution's output: its mean is now that output's mean, over all faces.
    with torch.no_grad():
        conv_out = _first_conv(net)(faces)
    bn = _first_bn(fresh)
    assert bn.running_mean is not None
    assert torch.allclose(bn.running_mean, conv_out.mean(dim=(0, 2, 3)), atol=1e-4)
    assert not torch.allclose(bn.running_mean, before["stem.0.1.running_mean"], atol=1e-2)
    # Learnt weights stay as they were, and the source net is untouched.
    for key, value in fresh.state_dict().items():
        if "running" not in key and "num_batches" not in key:
            assert torch.equal(value, before[key]), key
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_checkpoint_weights_load_raw_or_averaged(tmp_path: Path) -> None:
    raw, avg = _trained_like(6, extra_blocks=1), _trained_like(7, extra_blocks=1)
    path = tmp_path / "last.pt"
    torch.save({"model": raw.state_dict(), "ema": avg.state_dict(), "epoch": 3}, path)
    x = normalise(torch.randint(0, 256, (2, 48, 48), dtype=torch.uint8))
    with torch.inference_mode():
        for net, averaged in ((raw, False), (avg, True)):
            loaded, meta = model_from_checkpoint(path, averaged)
            assert torch.allclose(loaded(x), net(x), atol=1e-6) and loaded.extra_blocks == 1
            assert meta == {"checkpoint": "last.pt", "epoch": 3, "averaged": averaged}
    torch.save({"model": raw.state_dict(), "epoch": 3}, path)
    with pytest.raises(SystemExit, match="no averaged weights"):
        model_from_checkpoint(path, averaged=True)


def test_a_wider_nets_checkpoint_loads_with_its_widths(tmp_path: Path) -> None:
    """WideNet's checkpoints (`models.train --widths 48 72 144 288`) do not store the widths."""
    wide = EmotionNet((48, 72, 144, 288)).eval()
    path = tmp_path / "wide.pt"
    torch.save({"model": wide.state_dict(), "ema": wide.state_dict(), "epoch": 1}, path)
    loaded, _ = model_from_checkpoint(path, averaged=True)
    assert loaded.widths == (48, 72, 144, 288)
    x = normalise(torch.randint(0, 256, (2, 48, 48), dtype=torch.uint8))
    with torch.inference_mode():
        assert torch.allclose(loaded(x), wide(x), atol=1e-6)


def test_recalibrate_command_keeps_better_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Labels are the recalibrated net's own answers, so recalibration must win and be saved."""
    net = _trained_like(8)
    save_weights(net, tmp_path / "w.pt", {"publictest_accuracy": 0.1, "epoch": 1})
    gen = torch.Generator().manual_seed(9)
    pixels = torch.randint(0, 256, (60, 48, 48), dtype=torch.uint8, generator=gen)
    usage = np.array([0] * 40 + [1] * 20, np.uint8)
    fresh = recalibrate_bn(net, normalise(pixels[:40]))
    with torch.inference_mode():
        labels = fresh(normalise(pixels)).argmax(1).numpy().astype(np.uint8)
        assert (net(normalise(pixels[40:])).argmax(1).numpy() != labels[40:]).any()
    npz = tmp_path / "tiny.npz"
    np.savez(npz, pixels=pixels.numpy(), label=labels, usage=usage)
    out = tmp_path / "out.pt"
    args = ["--weights", str(tmp_path / "w.pt"), "--data", str(npz), "--out", str(out), "--json"]
    assert recalibrate_main(args) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["after"] == 1.0 and report["before"] < 1.0 and report["saved"] is True
    meta = weights_meta(out)
    assert meta["recalibrated"] is True and meta["publictest_accuracy"] == 1.0 and meta["epoch"] == 1
    # Run again on the recalibrated weights: nothing better, so nothing is written.
    stamp = out.stat().st_mtime_ns
    assert recalibrate_main([*args[:1], str(out), *args[2:]]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["saved"] is False
    assert out.stat().st_mtime_ns == stamp


def _tiny_faces(tmp_path: Path) -> Path:
    gen = torch.Generator().manual_seed(3)
    pixels = torch.randint(0, 256, (40, 48, 48), dtype=torch.uint8, generator=gen).numpy()
    npz = tmp_path / "tiny.npz"
    labels = np.arange(40, dtype=np.uint8) % 7
    np.savez(npz, pixels=pixels, label=labels, usage=np.array([0] * 30 + [1] * 10, np.uint8))
    return npz


def test_snapshots_keep_every_epochs_raw_and_averaged_weights(tmp_path: Path) -> None:
    """`--snapshots` keeps each epoch's weights whether or not they beat the best (ensemble members are
    chosen later, on what they add, not on what they score alone)."""
    from models.train import main as train_main

    npz = _tiny_faces(tmp_path)
    snaps = tmp_path / "snaps"
    args = ["--data", str(npz), "--epochs", "2", "--batch-size", "16", "--threads", "1", "--ema", "0.9"]
    args += ["--checkpoint", str(tmp_path / "last.pt"), "--out", str(tmp_path / "best.pt")]
    train_main([*args, "--snapshots", str(snaps)])
    names = sorted(p.name for p in snaps.iterdir())
    assert names == ["epoch01-avg.pt", "epoch01-raw.pt", "epoch02-avg.pt", "epoch02-raw.pt"]
    raw, avg = load_model(snaps / "epoch02-raw.pt"), load_model(snaps / "epoch02-avg.pt")
    assert not torch.equal(raw.state_dict()["head.3.weight"], avg.state_dict()["head.3.weight"])
    meta = weights_meta(snaps / "epoch02-avg.pt")
    assert meta["averaged"] is True and meta["epoch"] == 2 and 0.0 <= meta["publictest_accuracy"] <= 1.0


def test_a_teacher_changes_what_is_learnt_and_must_fit_the_faces(tmp_path: Path) -> None:
    """`--teacher` mixes an ensemble's soft targets into the labels: with the same seed, the weights
    differ from a run without it; a teacher for other faces is refused."""
    from models.teacher import soften
    from models.train import main as train_main

    npz = _tiny_faces(tmp_path)
    base = ["--data", str(npz), "--epochs", "1", "--batch-size", "16", "--threads", "1", "--seed", "5"]
    runs = {}
    teacher = tmp_path / "teacher.npy"
    np.save(teacher, np.eye(7, dtype=np.float32)[[3] * 30])
    for name, extra in (("plain", []), ("taught", ["--teacher", str(teacher), "--distil", "0.8"])):
        out = tmp_path / f"{name}.pt"
        train_main([*base, "--checkpoint", str(tmp_path / f"{name}-last.pt"), "--out", str(out), *extra])
        runs[name] = load_model(out).state_dict()["head.3.weight"]
    assert not torch.equal(runs["plain"], runs["taught"])
    np.save(teacher, np.full((29, 7), 1 / 7, np.float32))
    with pytest.raises(SystemExit, match="--teacher holds"):
        train_main(
            [
                *base,
                "--checkpoint",
                str(tmp_path / "x.pt"),
                "--out",
                str(tmp_path / "x-best.pt"),
                "--teacher",
                str(teacher),
            ]
        )
    # Softening keeps each face's order of classes and flattens it; T = 1 changes nothing.
    p = np.array([[0.7, 0.2, 0.1, 0, 0, 0, 0]], np.float32) + 1e-3
    p /= p.sum()
    assert np.allclose(soften(p, 1.0), p, atol=1e-6)
    warm = soften(p, 3.0)
    assert warm[0, 0] > warm[0, 1] > warm[0, 2] > warm[0, 3] and warm.max() < p.max()
