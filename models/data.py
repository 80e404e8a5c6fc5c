"""Loading FER2013 in the npz layout of ../shared/data/fer2013 (pixels, label, usage, ferplus_votes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_NPZ = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fer2013" / "fer2013.npz"
# FER+ vote columns in FER2013 label order (angry, disgust, fear, happy, sad, surprise, neutral).
FERPLUS_TO_FER = (4, 5, 6, 1, 3, 2, 0)


@dataclass(frozen=True)
class FaceSet:
    pixels: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64
    soft: np.ndarray | None  # (N, 7) float32 FER+ vote shares, rows without votes are zero


def load_faces(path: Path | str, usage: int | None = None) -> FaceSet:
    with np.load(path) as data:
        pixels, labels = data["pixels"], data["label"].astype(np.int64)
        keep = np.ones(len(labels), dtype=bool)
        if usage is not None:
            keep = data["usage"] == usage
        soft = None
        if "ferplus_votes" in data:
            votes = data["ferplus_votes"][:, FERPLUS_TO_FER].astype(np.float32)
            flags = data["flags"] if "flags" in data else np.zeros(len(labels), np.uint8)
            votes[(flags & 4) != 0] = 0  # these rows' votes belong to another image
            total = votes.sum(axis=1, keepdims=True)
            soft = np.divide(votes, total, out=np.zeros_like(votes), where=total > 0)[keep]
    return FaceSet(pixels[keep], labels[keep], soft)
