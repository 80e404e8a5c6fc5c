"""Soft targets for distillation: `python -m models.teacher --help`.

The shipped ensemble's probabilities on every Training face (face and mirror, all three networks), so
that `models.train --teacher` can teach one network what the three know together. Temperatures above
1 soften them, passing on more of the ensemble's second choices.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.data import DEFAULT_NPZ, load_faces
from models.pipeline import load_pipeline

DEFAULT_OUT = Path(__file__).resolve().parent / "checkpoints" / "teacher.npy"


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T), renormalised: the softmax of the log-probabilities divided by T."""
    logp = np.log(np.clip(probs, 1e-8, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.teacher", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_NPZ)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="(N, 7) float32 .npy (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--batch-size", type=int, default=512)
    args = p.parse_args(argv)
    faces = load_faces(args.data, usage=0).pixels
    pipeline = load_pipeline(quantised=False)  # float32: the teacher need not be fast
    chunks = [
        pipeline(faces[i : i + args.batch_size])
        for i in tqdm(range(0, len(faces), args.batch_size), desc="teacher", unit="batch")
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, soften(np.concatenate(chunks), args.temperature))
    print(f"{len(faces)} soft targets ({pipeline.description}, T={args.temperature}) in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
