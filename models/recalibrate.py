"""Re-estimate batch-norm statistics on unaugmented Training faces: `python -m models.recalibrate --help`.

During training the BN running statistics follow augmented faces (rotated, zoomed, partly erased
with noise); at test time the network sees clean faces. Re-measuring the statistics on clean
Training faces removes that mismatch without touching a single learnt weight. It uses no test data,
so PublicTest stays what it was: the set the better of the two versions is chosen on.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models.data import DEFAULT_NPZ, load_faces
from models.net import EmotionNet, normalise
from models.weights import DEFAULT_WEIGHTS, load_model, save_weights, weights_meta


@torch.no_grad()
def recalibrate_bn(model: EmotionNet, faces: torch.Tensor, batch: int = 512) -> EmotionNet:
    """A copy of `model` whose BN statistics are the average of its batch statistics over `faces`."""
    fresh = copy.deepcopy(model)
    norms = [m for m in fresh.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # a plain average over the batches, not a decaying one
    fresh.train()
    for i in range(0, len(faces), batch):
        fresh(faces[i : i + batch])
    for module, momentum in zip(norms, momenta, strict=True):
        module.momentum = momentum
    return fresh.eval()


@torch.inference_mode()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    model.eval()
    hits = sum(
        (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item() for i in range(0, len(x), batch)
    )
    return hits / len(x)


def model_from_checkpoint(path: Path, averaged: bool) -> tuple[EmotionNet, dict[str, Any]]:
    """The raw or averaged weights of a training checkpoint (`models.train --checkpoint`), with metadata."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    key = "ema" if averaged else "model"
    if key not in state:
        raise SystemExit(f"{path} has no {'averaged ' if averaged else ''}weights (was --ema used?)")
    weights = state[key]
    blocks = len({k.split(".")[1] for k in weights if k.startswith("deep.")})
    # The widths are not stored in a checkpoint; the convolutions' output channels give them (WideNet).
    w0, w1, w2, w3 = (
        int(weights[k].shape[0])
        for k in ("stem.0.0.weight", "stem.1.0.weight", "stages.1.conv1.0.weight", "stages.2.conv1.0.weight")
    )
    model = EmotionNet((w0, w1, w2, w3), extra_blocks=blocks)
    model.load_state_dict(weights)
    return model.eval(), {"checkpoint": path.name, "epoch": state.get("epoch"), "averaged": averaged}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m models.recalibrate",
        description="Re-estimate the network's batch-norm statistics on unaugmented FER2013 Training faces, "
        "and keep the result if it is better on PublicTest.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="weights to start from")
    source.add_argument(
        "--checkpoint", type=Path, help="or a training checkpoint, e.g. models/checkpoints/last.pt"
    )
    p.add_argument(
        "--averaged", action="store_true", help="with --checkpoint: take its weight average (--ema)"
    )
    p.add_argument("--data", type=Path, default=DEFAULT_NPZ, help="FER2013 npz (default: %(default)s)")
    p.add_argument(
        "--out", type=Path, default=DEFAULT_WEIGHTS, help="where better weights go (default: %(default)s)"
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument("--json", action="store_true", help="end with a JSON line: before, after, saved")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        model, meta = model_from_checkpoint(args.checkpoint, args.averaged)
    else:
        model, meta = load_model(args.weights), weights_meta(args.weights)
    train, val = load_faces(args.data, usage=0), load_faces(args.data, usage=1)
    x_val, y_val = normalise(torch.from_numpy(val.pixels)), torch.from_numpy(val.labels)
    before = accuracy(model, x_val, y_val)
    fresh = recalibrate_bn(model, normalise(torch.from_numpy(train.pixels)))
    after = accuracy(fresh, x_val, y_val)
    saved = after > before
    if saved:
        save_weights(fresh, args.out, {**meta, "publictest_accuracy": after, "recalibrated": True})
    print(f"PublicTest accuracy {before:.4f} before, {after:.4f} with recalibrated batch norm")
    print(f"saved to {args.out}" if saved else f"not better: {args.out} left as it was")
    if args.json:
        print(json.dumps({"before": before, "after": after, "saved": saved}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
