"""Audience frames: rooms full of people, each face a real FER2013 face of a known label.

For the audience stage's tests and bench.stage. `crowd_clip(labels, n)` paints one person per label
(48x48 PublicTest faces, by default only those where at least 7 of 10 FER+ voters agree with the
label, so the expression is plain to see), upscaled and feathered into a jittered grid of seats in a
synthetic room, with necks and shoulders, row by row from the back; then `n` consecutive frames of
them, heads drifting a pixel or two and fresh sensor noise in each, as a camera at a show would see
them. Nothing is filtered by any detector: a test of the whole pipeline sees what a camera would.
`empty_room(n)` gives frames of the same kind of room with nobody in it. Same arguments, same frames.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.data import DEFAULT_NPZ, FERPLUS_TO_FER
from models.net import EMOTIONS

JPEG_QUALITY = 85


@dataclass(frozen=True)
class Seat:
    cx: float
    cy: float
    side: int
    label: str
    row: int  # the face's row in the npz


@dataclass(frozen=True)
class CrowdClip:
    frames: tuple[bytes, ...]
    seats: tuple[Seat, ...]


@functools.lru_cache(maxsize=2)
def _faces(npz: str, clear: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels, labels, npz rows) of PublicTest, only faces the FER+ crowd agrees on when `clear`."""
    with np.load(npz) as data:
        keep = data["usage"] == 1
        labels = data["label"].astype(np.int64)
        if clear and "ferplus_votes" in data:
            votes = data["ferplus_votes"][:, FERPLUS_TO_FER]
            keep &= votes[np.arange(len(labels)), labels] >= 7
        rows = np.flatnonzero(keep)
        return data["pixels"][rows], labels[rows], rows


def _room(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    top, bottom = rng.uniform(30, 150, 3), rng.uniform(20, 110, 3)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.repeat((top * (1 - t) + bottom * t).astype(np.float32), width, axis=1)
    for _ in range(int(rng.integers(2, 6))):  # doors, lights, a stage edge
        x0, y0 = int(rng.uniform(0, width * 0.9)), int(rng.uniform(0, height * 0.5))
        x1 = min(width, x0 + int(rng.uniform(0.05, 0.3) * width))
        y1 = min(height, y0 + int(rng.uniform(0.05, 0.3) * height))
        img[y0:y1, x0:x1] = rng.uniform(20, 200, 3)
    blur = max(3, (width // 40) | 1)
    return np.asarray(cv2.GaussianBlur(img, (blur, blur), 0), np.float32)


def grid(count: int, width: int, height: int) -> tuple[int, int]:
    """(columns, rows) of seats for `count` people in a frame of this shape."""
    cols = max(1, math.ceil(math.sqrt(count * width / height)))
    return cols, max(1, math.ceil(count / cols))


def _seats(
    labels: Sequence[str], size: tuple[int, int], rng: np.random.Generator, npz: str, clear: bool
) -> tuple[list[Seat], list[np.ndarray]]:
    width, height = size
    pixels, face_labels, rows = _faces(npz, clear)
    cols, nrows = grid(len(labels), width, height)
    cw, ch = width / cols, height / nrows
    cells = sorted(rng.permutation(cols * nrows)[: len(labels)].tolist())
    used: set[int] = set()
    seats, faces = [], []
    for label, cell in zip(labels, cells, strict=True):
        if label not in EMOTIONS:
            raise ValueError(f"unknown emotion {label!r}; choose from {', '.join(EMOTIONS)}")
        pool = np.flatnonzero(face_labels == EMOTIONS.index(label))
        pool = np.setdiff1d(pool, list(used)) if len(pool) > len(used) else pool
        if not len(pool):
            raise ValueError(f"no {'clear ' if clear else ''}{label} faces in PublicTest")
        index = int(rng.choice(pool))
        used.add(index)
        r, c = divmod(int(cell), cols)
        side = int(min(cw * 0.72, ch * 0.6) * rng.uniform(0.85, 1.0))
        cx = (c + 0.5) * cw + rng.uniform(-0.1, 0.1) * (cw - side)
        cy = r * ch + side * 0.62 + rng.uniform(0, 0.15) * max(0.0, ch - side * 1.4)
        seats.append(Seat(float(cx), float(cy), side, label, int(rows[index])))
        faces.append(pixels[index])
    return seats, faces


def _paint(img: np.ndarray, face: np.ndarray, seat: Seat, tone: float, shirt: tuple[float, ...]) -> None:
    height, width = img.shape[:2]
    side = seat.side
    cx, cy = round(seat.cx), round(seat.cy)
    neck_top, neck_bottom = cy + side // 3, cy + side // 2 + side // 3
    cv2.rectangle(img, (cx - side // 5, neck_top), (cx + side // 5, neck_bottom), (tone,) * 3, -1)
    reach = int(side * 0.95)
    cv2.ellipse(img, (cx, neck_bottom + side // 3), (reach, side // 3), 0, 180, 360, shirt, -1)
    cv2.rectangle(img, (cx - reach, neck_bottom + side // 3), (cx + reach, height), shirt, -1)
    patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / (side * 0.08), 0, 1)
    alpha = np.minimum(ramp[:, None], ramp[None, :])[:, :, None]
    x0, y0 = cx - side // 2, cy - side // 2
    xs0, ys0, xs1, ys1 = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    if xs1 <= xs0 or ys1 <= ys0:
        return
    p = patch[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0, None]
    a = alpha[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
    img[ys0:ys1, xs0:xs1] = a * p + (1 - a) * img[ys0:ys1, xs0:xs1]


@functools.lru_cache(maxsize=32)
def _clip(
    labels: tuple[str, ...], n: int, size: tuple[int, int], seed: int, npz: str, clear: bool
) -> CrowdClip:
    rng = np.random.default_rng(seed)
    width, height = size
    room = _room(rng, width, height)
    seats, faces = _seats(labels, size, rng, npz, clear)
    tones = [float(np.median(f)) * rng.uniform(0.8, 1.0) for f in faces]
    shirts = [tuple(float(v) for v in rng.uniform(10, 200, 3)) for _ in seats]
    drift = rng.uniform(-0.4, 0.4, (len(seats), 2))  # pixels a frame
    order = sorted(range(len(seats)), key=lambda i: seats[i].cy)  # back rows first
    frames = []
    for k in range(n):
        img = room.copy()
        for i in order:
            s = seats[i]
            dx, dy = drift[i] * k + rng.uniform(-0.7, 0.7, 2)
            moved = Seat(s.cx + float(dx), s.cy + float(dy), s.side, s.label, s.row)
            _paint(img, faces[i], moved, tones[i], shirts[i])
        img += rng.standard_normal(img.shape, dtype=np.float32) * 3.0
        ok, buf = cv2.imencode(
            ".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        if not ok:
            raise RuntimeError("could not encode a frame")
        frames.append(buf.tobytes())
    return CrowdClip(tuple(frames), tuple(seats))


def crowd_clip(
    labels: Sequence[str],
    n: int,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    *,
    npz: Path | str = DEFAULT_NPZ,
    clear: bool = True,
) -> CrowdClip:
    """`n` consecutive frames of one person per label (see the module docstring)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return _clip(tuple(labels), n, (int(size[0]), int(size[1])), seed, str(npz), clear)


def crowd_frames(
    labels: Sequence[str], n: int, size: tuple[int, int] = (640, 480), seed: int = 0, *, clear: bool = True
) -> list[bytes]:
    return list(crowd_clip(labels, n, size, seed, clear=clear).frames)


def empty_room(n: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> list[bytes]:
    """`n` frames of a room with nobody in it."""
    rng = np.random.default_rng(seed)
    room = _room(rng, *size)
    out = []
    for _ in range(n):
        img = room + rng.standard_normal(room.shape, dtype=np.float32) * 3.0
        buf = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85])[1]
        out.append(buf.tobytes())
    return out
