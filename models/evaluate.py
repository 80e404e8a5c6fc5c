"""Evaluate the shipped expression pipeline on an npz in the FER2013 layout: `python -m models.evaluate`.

By default this is what MoodReel runs on every face (models.pipeline: all three networks, int8, face and
mirror image); `--single` scores one float32 EmotionNet pass instead, as training does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from models.data import DEFAULT_NPZ
from models.net import EMOTIONS, INPUT_SIZE, normalise
from models.pipeline import PIPELINE_WEIGHTS, load_pipeline
from models.weights import DEFAULT_WEIGHTS, load_model, weights_meta

USAGE_NAMES = {0: "Training", 1: "PublicTest", 2: "PrivateTest"}


class DataError(ValueError):
    """An npz that cannot be evaluated; the message says why."""


@dataclass(frozen=True)
class Evaluation:
    """Counts behind every reported number; `confusion[true][predicted]`."""

    confusion: np.ndarray  # (7, 7) int64

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(np.trace(self.confusion))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def support(self) -> list[int]:
        return [int(v) for v in self.confusion.sum(axis=1)]

    def recall(self) -> list[float | None]:
        """Per true class: the share predicted right; None for a class with no faces."""
        return [int(self.confusion[i, i]) / s if s else None for i, s in enumerate(self.support())]

    def precision(self) -> list[float | None]:
        predicted = self.confusion.sum(axis=0)
        return [int(self.confusion[i, i]) / int(p) if p else None for i, p in enumerate(predicted)]

    def to_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "correct": self.correct,
            "total": self.total,
            "recall": dict(zip(EMOTIONS, self.recall(), strict=True)),
            "precision": dict(zip(EMOTIONS, self.precision(), strict=True)),
            "support": dict(zip(EMOTIONS, self.support(), strict=True)),
            "confusion": self.confusion.tolist(),
        }


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = len(EMOTIONS)) -> np.ndarray:
    """Rows: true label; columns: predicted label."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def load_rows(path: Path, usage: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, labels) of the npz, only rows with that usage when given; DataError if unusable."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable npz file: {exc}") from None
    with data:
        missing = [k for k in ("pixels", "label") if k not in data]
        if usage is not None and "usage" not in data:
            missing.append("usage")
        if missing:
            raise DataError(f"{path} lacks the array(s) {', '.join(missing)}")
        pixels, labels = data["pixels"], data["label"]
        if pixels.ndim != 3 or pixels.shape[1:] != (INPUT_SIZE, INPUT_SIZE) or pixels.dtype != np.uint8:
            raise DataError(f"pixels must be uint8 of shape (N, 48, 48), not {pixels.dtype} {pixels.shape}")
        if labels.shape != (len(pixels),):
            raise DataError(f"label must have one entry per image ({len(pixels)}), not shape {labels.shape}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(EMOTIONS)):
            raise DataError(f"labels must lie in 0..{len(EMOTIONS) - 1}")
        if usage is not None:
            keep = data["usage"] == usage
            pixels, labels = pixels[keep], labels[keep]
    if len(labels) == 0:
        raise DataError(f"{path} has no rows" + (f" with usage {usage}" if usage is not None else ""))
    return pixels, labels.astype(np.int64)


Classifier = Callable[[np.ndarray], np.ndarray]  # (N, 48, 48) uint8 faces -> (N, 7) probabilities


def single_network(model: torch.nn.Module) -> Classifier:
    """One float32 EmotionNet pass per face, no test-time views (how training cycles are scored)."""
    model = model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it

    @torch.inference_mode()
    def classify(faces: np.ndarray) -> np.ndarray:
        x = normalise(torch.from_numpy(np.ascontiguousarray(faces)))
        return torch.softmax(model(x.contiguous(memory_format=torch.channels_last)), 1).numpy()

    return classify


def predict(
    classify: Classifier | torch.nn.Module, pixels: np.ndarray, batch_size: int = 256, progress: bool = True
) -> np.ndarray:
    """Predicted class per face, in batches; `classify` is a Pipeline, or a bare network (run alone)."""
    if isinstance(classify, torch.nn.Module):
        classify = single_network(classify)
    out = np.empty(len(pixels), np.int64)
    starts = range(0, len(pixels), batch_size)
    for start in tqdm(starts, desc="evaluating", unit="batch", disable=not progress, file=sys.stderr):
        out[start : start + batch_size] = classify(pixels[start : start + batch_size]).argmax(1)
    return out


def evaluate(
    classify: Classifier | torch.nn.Module, pixels: np.ndarray, labels: np.ndarray, **kw: Any
) -> Evaluation:
    return Evaluation(confusion_matrix(labels, predict(classify, pixels, **kw)))


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.1%}"


def report(result: Evaluation, title: str) -> str:
    lines = [title, f"accuracy: {result.accuracy:.2%} ({result.correct}/{result.total})", ""]
    lines.append(f"{'emotion':<9} {'faces':>6} {'recall':>7} {'precision':>9}")
    for name, n, rec, prec in zip(
        EMOTIONS, result.support(), result.recall(), result.precision(), strict=True
    ):
        lines.append(f"{name:<9} {n:>6} {_fmt(rec):>7} {_fmt(prec):>9}")
    lines += ["", "confusion matrix (rows: true emotion, columns: predicted)"]
    short = [e[:7] for e in EMOTIONS]
    lines.append(" " * 9 + "".join(f"{s:>8}" for s in short))
    for name, row in zip(EMOTIONS, result.confusion, strict=True):
        lines.append(f"{name:<9}" + "".join(f"{int(v):>8}" for v in row))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m models.evaluate",
        description="Accuracy, per-class recall and the confusion matrix of the shipped expression pipeline "
        "on an npz with `pixels` (N, 48, 48) uint8 and `label` (N,) 0..6 (and `usage` for --usage).",
    )
    p.add_argument("--data", type=Path, default=DEFAULT_NPZ, help="npz to evaluate (default: %(default)s)")
    p.add_argument(
        "--usage",
        type=int,
        default=None,
        help="only rows with this usage (0 Training, 1 PublicTest); default: all",
    )
    p.add_argument(
        "--pipeline",
        type=Path,
        default=PIPELINE_WEIGHTS,
        help="the pipeline's int8 weights and blend (default: %(default)s)",
    )
    p.add_argument("--float32", action="store_true", help="run the pipeline's networks unquantised (float32)")
    p.add_argument(
        "--single",
        action="store_true",
        help="score one float32 EmotionNet pass per face (--weights), without views or ensemble",
    )
    p.add_argument(
        "--weights", type=Path, default=DEFAULT_WEIGHTS, help="EmotionNet weights (default: %(default)s)"
    )
    p.add_argument(
        "--batch-size", type=int, default=256, help="faces per forward pass (default: %(default)s)"
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    p.add_argument(
        "--json", action="store_true", help="print a JSON object with the results as the last line"
    )
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    if args.threads < 0:
        p.error("--threads must not be negative")
    return args


def _describe(meta: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in meta.items())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    needed = [args.weights] if args.single else [args.weights, args.pipeline]
    for path in needed:
        if not path.is_file():
            print(f"evaluate: weights not found at {path}", file=sys.stderr)
            return 2
    try:
        pixels, labels = load_rows(args.data, args.usage)
    except DataError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    subset = "all rows" if args.usage is None else f"usage {args.usage} ({USAGE_NAMES.get(args.usage, '?')})"
    head = f"{args.data.name}, {subset}: {len(labels)} faces"
    info: dict[str, object]
    if args.single:
        result = evaluate(load_model(args.weights), pixels, labels, batch_size=args.batch_size)
        title = (
            f"{head}; one EmotionNet pass, weights {args.weights} ({_describe(weights_meta(args.weights))})"
        )
        info = {"pipeline": "single EmotionNet, float32", "quantised": False, "weights": str(args.weights)}
    else:
        pipeline = load_pipeline(
            args.pipeline, net_weights=args.weights, quantised=False if args.float32 else None
        )
        result = evaluate(pipeline, pixels, labels, batch_size=args.batch_size)
        title = f"{head}; pipeline {args.pipeline}: {pipeline.description}"
        info = {
            "pipeline": pipeline.description,
            "quantised": pipeline.quantised,
            "weights": str(args.pipeline),
            "net_weight": pipeline.meta["net_weight"],
            "wide_weight": pipeline.meta.get("wide_weight", 0.0),
            "wide_mirror": pipeline.meta.get("wide_mirror", True),
        }
    print(report(result, title))
    if args.json:
        print(json.dumps({"data": str(args.data), "usage": args.usage, **info, **result.to_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
