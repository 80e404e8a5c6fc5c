"""Train the emotion network on FER2013: `python -m models.train --help`."""

from __future__ import annotations

import argparse
import copy
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from models.data import DEFAULT_NPZ, load_faces
from models.net import EMOTIONS, EmotionNet, normalise
from models.recalibrate import accuracy, recalibrate_bn
from models.weights import DEFAULT_WEIGHTS, load_model, save_weights

CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "last.pt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m models.train",
        description="Train MoodReel's facial-expression CNN on FER2013 Training, selecting on PublicTest.",
    )
    p.add_argument("--data", type=Path, default=DEFAULT_NPZ, help="FER2013 npz (default: %(default)s)")
    p.add_argument(
        "--epochs", type=int, default=40, help="epochs of the one-cycle schedule (default: %(default)s)"
    )
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--ferplus", type=float, default=0.3, help="share of the target taken from FER+ votes")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="where the best weights go")
    p.add_argument("--limit", type=int, default=0, help="train on the first N faces only (smoke runs)")
    p.add_argument("--init", type=Path, help="start from these weights: a further, usually gentler, cycle")
    p.add_argument(
        "--widths",
        type=int,
        nargs=4,
        default=[32, 48, 96, 192],
        metavar="W",
        help="channels of the first convolution and the 24x24, 12x12 and 6x6 stages (default: 32 48 96 192)",
    )
    p.add_argument(
        "--extra-blocks",
        type=int,
        default=0,
        help="residual blocks added at 12x12; with --init they start as the identity (default: %(default)s)",
    )
    p.add_argument("--dropout", type=float, default=0.3, help="dropout before the classifier")
    p.add_argument("--jitter", type=float, default=1.0, help="scale of rotation, zoom and shift ranges")
    p.add_argument("--erase", type=float, default=0.5, help="share of faces given a random-erasing patch")
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="also keep an exponential moving average of the weights with this decay, e.g. 0.998",
    )
    p.add_argument(
        "--snapshots",
        type=Path,
        help="also keep every epoch's raw and averaged weights here (to pick ensemble members later)",
    )
    p.add_argument(
        "--teacher",
        type=Path,
        help="(N, 7) soft targets for the Training faces, from `python -m models.teacher`",
    )
    p.add_argument(
        "--distil",
        type=float,
        default=0.5,
        help="share of the target taken from --teacher (default: %(default)s)",
    )
    p.add_argument(
        "--recalibrate",
        action="store_true",
        help="also try each epoch's weights with batch-norm statistics re-measured on unaugmented faces",
    )
    return p.parse_args(argv)


def augment(x: torch.Tensor, gen: torch.Generator, jitter: float = 1.0, erase: float = 0.5) -> torch.Tensor:
    """Flips, small rotations, shifts and scale changes, then random erasing; all batched."""
    n, dev = x.shape[0], x.device
    u = lambda lo, hi: torch.rand(n, generator=gen, device=dev) * (hi - lo) + lo  # noqa: E731
    angle = u(-12 * jitter, 12 * jitter) * math.pi / 180
    scale = u(1 - 0.12 * jitter, 1 + 0.12 * jitter)
    shift = 0.12 * jitter
    flip = torch.where(torch.rand(n, generator=gen, device=dev) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, u(-shift, shift)], 1),
            torch.stack([sin * flip, cos, u(-shift, shift)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    # Random erasing: one rectangle on a share of the faces, filled with noise.
    size = x.shape[-1]
    h = (u(0.15, 0.4) * size).long()
    w = (u(0.15, 0.4) * size).long()
    top = (torch.rand(n, generator=gen, device=dev) * (size - h)).long()
    left = (torch.rand(n, generator=gen, device=dev) * (size - w)).long()
    rows = torch.arange(size, device=dev)
    mask = ((rows[None, :] >= top[:, None]) & (rows[None, :] < (top + h)[:, None]))[:, :, None] & (
        (rows[None, :] >= left[:, None]) & (rows[None, :] < (left + w)[:, None])
    )[:, None, :]
    mask &= (torch.rand(n, generator=gen, device=dev) < erase)[:, None, None]
    noise = torch.randn(x.shape, generator=gen, device=dev)
    return torch.where(mask[:, None], noise, x)


def grow_from(model: EmotionNet, source: EmotionNet) -> None:
    """Copy a trained net into `model`, which may have extra blocks; those keep their identity start."""
    try:
        missing, unexpected = model.load_state_dict(source.state_dict(), strict=False)
    except RuntimeError as exc:  # shapes differ: another width
        raise SystemExit(f"--init weights do not fit this network: {exc}") from None
    if unexpected or any(not key.startswith("deep.") for key in missing):
        raise SystemExit(f"--init weights do not fit this network: {unexpected or missing}")


class WeightAverage:
    """An exponential moving average of the weights (and BN statistics), evaluated beside the raw ones.

    Averaging smooths the noise of the last steps, which matters on labels as noisy as FER2013's.
    """

    def __init__(self, model: EmotionNet, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: EmotionNet) -> None:
        for avg, cur in zip(self.model.state_dict().values(), model.state_dict().values(), strict=True):
            if avg.is_floating_point():
                avg.lerp_(cur, 1 - self.decay)
            else:
                avg.copy_(cur)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)

    train, val = load_faces(args.data, usage=0), load_faces(args.data, usage=1)
    n = args.limit or len(train.labels)
    x_train = normalise(torch.from_numpy(train.pixels[:n])).to(dev)
    y_train = torch.from_numpy(train.labels[:n]).to(dev)
    onehot = F.one_hot(y_train, len(EMOTIONS)).float()
    if train.soft is not None and args.ferplus > 0:
        # Informed label smoothing: blend in the FER+ crowd's votes where the crowd saw a face.
        soft = torch.from_numpy(train.soft[:n]).to(dev)
        has = (soft.sum(1, keepdim=True) > 0).float()
        smooth = has * soft + (1 - has) * torch.full_like(onehot, 1 / len(EMOTIONS))
    else:
        smooth = torch.full_like(onehot, 1 / len(EMOTIONS))
    share = args.ferplus if args.ferplus > 0 else 0.1
    target = (1 - share) * onehot + share * smooth
    if args.teacher:
        # Distillation: the ensemble's view of each face, which the labels alone do not carry.
        taught = torch.from_numpy(np.load(args.teacher)[:n]).float().to(dev)
        if taught.shape != target.shape:
            raise SystemExit(f"--teacher holds {tuple(taught.shape)} targets, need {tuple(target.shape)}")
        target = (1 - args.distil) * target + args.distil * taught
    x_val = normalise(torch.from_numpy(val.pixels)).to(dev)
    y_val = torch.from_numpy(val.labels).to(dev)

    best = 0.0
    x_val = x_val.contiguous(memory_format=torch.channels_last)
    w0, w1, w2, w3 = args.widths
    model = EmotionNet((w0, w1, w2, w3), dropout=args.dropout, extra_blocks=args.extra_blocks)
    model = model.to(dev).to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
    if args.init:
        grow_from(model, load_model(args.init))
        best = accuracy(model, x_val, y_val)
        print(f"starting from {args.init} (PublicTest {best:.4f})")
    ema = WeightAverage(model, args.ema) if args.ema else None
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = math.ceil(n / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, epochs=args.epochs, steps_per_epoch=steps)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    start = 0
    if args.resume and args.checkpoint.exists():
        state = torch.load(args.checkpoint, map_location=dev)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"])
        start, best = state["epoch"], state["best"]
        if ema is not None and "ema" in state:
            ema.model.load_state_dict(state["ema"])
        print(f"resuming after epoch {start}, best PublicTest accuracy so far {best:.4f}")

    for epoch in range(start, args.epochs):
        model.train()
        order = torch.randperm(n, generator=gen, device=dev)
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch", leave=False)
        for step in bar:
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            xb = augment(x_train[idx], gen, args.jitter, args.erase)
            xb = xb.contiguous(memory_format=torch.channels_last)
            loss = torch.sum(-target[idx] * F.log_softmax(model(xb), 1), 1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(model)
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        raw_acc = acc = accuracy(model, x_val, y_val)
        candidate, ema_acc, averaged, recalibrated = model, None, False, False
        if ema is not None:
            ema_acc = accuracy(ema.model, x_val, y_val)
            if ema_acc > acc:
                candidate, acc, averaged = ema.model, ema_acc, True
        if args.recalibrate:
            for net, is_average in [(model, False)] + ([(ema.model, True)] if ema else []):
                fresh = recalibrate_bn(net, x_train)
                fresh_acc = accuracy(fresh, x_val, y_val)
                if fresh_acc > acc:
                    candidate, acc, averaged, recalibrated = fresh, fresh_acc, is_average, True
        improved = acc > best
        if improved:
            best = acc
            meta = {"publictest_accuracy": acc, "epoch": epoch + 1, "epochs": args.epochs, "lr": args.lr}
            meta.update(averaged=averaged, recalibrated=recalibrated)
            if args.init:
                meta["init"] = str(args.init.name)
            save_weights(candidate, args.out, meta)
        if args.snapshots:
            # A member chosen for an ensemble need not be the best alone, so keep every epoch's.
            meta = {"publictest_accuracy": raw_acc, "epoch": epoch + 1, "averaged": False}
            save_weights(model, args.snapshots / f"epoch{epoch + 1:02d}-raw.pt", meta)
            if ema is not None:
                meta = {**meta, "publictest_accuracy": ema_acc, "averaged": True}
                save_weights(ema.model, args.snapshots / f"epoch{epoch + 1:02d}-avg.pt", meta)
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "gen": gen.get_state(),
            "epoch": epoch + 1,
            "best": best,
        }
        if ema is not None:
            state["ema"] = ema.model.state_dict()
        torch.save(state, args.checkpoint.with_suffix(".tmp"))
        args.checkpoint.with_suffix(".tmp").replace(
            args.checkpoint
        )  # atomic: a kill never leaves half a file
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / seen:.4f}, PublicTest {raw_acc:.4f}"
            f"{'' if ema_acc is None else f' (averaged {ema_acc:.4f})'}"
            f"{f' (recalibrated batch norm {acc:.4f})' if recalibrated else ''}"
            f"{' (best, saved)' if improved else ''}, {time.perf_counter() - t0:.0f}s",
            flush=True,
        )
    print(f"best PublicTest accuracy {best:.4f}; weights in {args.out}")


if __name__ == "__main__":
    main()
