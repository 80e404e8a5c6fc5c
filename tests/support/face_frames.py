"""Webcam-like JPEG frames that each hold one real FER2013 face, for tests and benchmarks.

A FER2013 face (48x48 grey, PublicTest by default so the model has not trained on it) is upscaled
to a realistic webcam face size and pasted, with feathered edges, onto a synthetic room: a wall
gradient, blurred furniture, a neck and shoulders, sensor noise. Every frame is checked after JPEG
encoding: OpenCV's Haar frontal-face cascade must find exactly one face there, both the way the
original project ran it (full frame, scaleFactor 1.3, minNeighbors 5) and the way core.frames does
(only pyramid levels at most 160 px wide), and the found box must sit on the pasted face. Faces that
fail are skipped, so the same (n, size, labels, seed) always gives the same frames. `face_clips`
makes short streams instead: one person whose head drifts a few pixels a frame, as in a webcam.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import cv2
import cv2.data
import numpy as np

from core.emotion.detect import find_faces
from models.data import DEFAULT_NPZ, FERPLUS_TO_FER
from models.net import EMOTIONS


class DetectParams(TypedDict):
    """detectMultiScale's keywords."""

    scaleFactor: float
    minNeighbors: int


CASCADE = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
# The checks mirror the two pipelines the frames are made for (see core.frames and bench.frames).
BASELINE_DETECT: DetectParams = {"scaleFactor": 1.3, "minNeighbors": 5}
DETECT_WIDTH = 160  # core.frames' default detect_width
JPEG_QUALITY = 85


@dataclass(frozen=True)
class FaceFrame:
    """One frame with where it came from."""

    jpeg: bytes
    label: str  # the FER2013 label of the face
    row: int  # its row in the npz
    box: tuple[int, int, int, int]  # (x, y, w, h) where the face was pasted


@dataclass(frozen=True)
class FaceClip:
    """Consecutive frames of one person in one room, the head drifting as in a webcam stream."""

    frames: tuple[bytes, ...]
    label: str
    row: int
    boxes: tuple[tuple[int, int, int, int], ...]


@functools.lru_cache(maxsize=4)
def _faces(npz: str, usage: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pixels, labels, rows, FER+ votes in label order), read once per process."""
    with np.load(npz) as data:
        keep = np.ones(len(data["label"]), bool) if usage is None else data["usage"] == usage
        rows = np.flatnonzero(keep)
        votes = data["ferplus_votes"][:, FERPLUS_TO_FER][keep] if "ferplus_votes" in data else None
        pixels, labels = data["pixels"][keep], data["label"][keep].astype(np.int64)
    if votes is None:
        votes = np.zeros((len(labels), len(EMOTIONS)), np.uint8)
    return pixels, labels, rows, votes


@functools.lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(CASCADE))
    if cascade.empty():
        raise RuntimeError(f"could not load the Haar cascade {CASCADE}")
    return cascade


def _label_ids(labels: Sequence[str | int] | None) -> set[int] | None:
    if labels is None:
        return None
    ids = set()
    for label in labels:
        if isinstance(label, str):
            if label not in EMOTIONS:
                raise ValueError(f"unknown emotion {label!r}; choose from {', '.join(EMOTIONS)}")
            ids.add(EMOTIONS.index(label))
        elif 0 <= int(label) < len(EMOTIONS):
            ids.add(int(label))
        else:
            raise ValueError(f"emotion index {label!r} is out of range 0..{len(EMOTIONS) - 1}")
    return ids


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A plausible room behind the person (BGR uint8)."""
    top, bottom = rng.uniform(60, 220, 3), rng.uniform(40, 200, 3)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.repeat((top * (1 - t) + bottom * t).astype(np.float32), width, axis=1)
    for _ in range(rng.integers(2, 6)):  # shelves, doors, a window, posters
        x0, y0 = int(rng.uniform(0, width * 0.9)), int(rng.uniform(0, height * 0.8))
        x1 = min(width, x0 + int(rng.uniform(0.1, 0.45) * width))
        y1 = min(height, y0 + int(rng.uniform(0.1, 0.6) * height))
        img[y0:y1, x0:x1] = rng.uniform(20, 240, 3)
    blur = max(3, (width // 40) | 1)
    return cv2.GaussianBlur(img, (blur, blur), 0)


@dataclass(frozen=True)
class _Scene:
    """A person in a room; the face is drawn at (x, y) plus each frame's movement."""

    room: np.ndarray  # float32 BGR
    side: int
    x: int
    y: int
    tone: float  # skin grey of the neck
    shirt: tuple[float, float, float]
    exposure: float


def _scene(face: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> _Scene:
    width, height = size
    room = _background(rng, width, height)
    side = round(height * rng.uniform(0.34, 0.46))
    x = round(width / 2 - side / 2 + rng.uniform(-0.18, 0.18) * width)
    y = round(height * rng.uniform(0.12, 0.3))
    tone = float(np.median(face)) * rng.uniform(0.8, 1.0)
    shirt = (float(rng.uniform(10, 200)), float(rng.uniform(10, 200)), float(rng.uniform(10, 200)))
    return _Scene(room, side, max(0, min(width - side, x)), y, tone, shirt, rng.uniform(0.85, 1.1))


def _draw(
    scene: _Scene, face: np.ndarray, rng: np.random.Generator, dx: int = 0, dy: int = 0
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    img = scene.room.copy()
    height, width = img.shape[:2]
    side = scene.side
    x = max(0, min(width - side, scene.x + dx))
    y = max(0, min(height - side, scene.y + dy))
    cx = x + side // 2
    # Neck and shoulders first, so the face sits on top of them.
    neck_bottom = y + side + side // 3
    cv2.rectangle(
        img, (cx - side // 5, y + side - 8), (cx + side // 5, neck_bottom + 8), (scene.tone,) * 3, -1
    )
    reach = int(side * 1.2)
    cv2.ellipse(img, (cx, neck_bottom + side // 2), (reach, side // 2), 0, 180, 360, scene.shirt, -1)
    cv2.rectangle(img, (cx - reach, neck_bottom + side // 2), (cx + reach, height), scene.shirt, -1)
    patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    # Feathered edge: the FER crop fades into the scene instead of ending in a hard square.
    ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / (side * 0.08), 0, 1)
    alpha = np.minimum(ramp[:, None], ramp[None, :])[:, :, None]
    region = img[y : y + side, x : x + side]
    img[y : y + side, x : x + side] = alpha * patch[:, :, None] + (1 - alpha) * region
    img *= scene.exposure
    img += rng.standard_normal(img.shape, dtype=np.float32) * 3.0  # sensor noise, fresh every frame
    return np.clip(img, 0, 255).astype(np.uint8), (x, y, side, side)


def _encode_checked(img: np.ndarray, box: tuple[int, int, int, int]) -> bytes | None:
    """The frame as JPEG, or None when the detectors would not find the face in it."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        return None
    jpeg = buf.tobytes()
    return jpeg if _found(decode_image(jpeg, cv2.IMREAD_GRAYSCALE), box) else None


def decode_image(data: bytes, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Pixels of an encoded image (BGR by default); the frames made here always decode."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ValueError("not a decodable image")
    return image


def _box(values: Sequence[int] | np.ndarray) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in values)
    return x, y, w, h


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box: a detector's box sits inside the pasted crop."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))


def _found(grey: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    cascade = _cascade()
    found = find_faces(cascade, grey, DETECT_WIDTH)  # the cheap check first
    if len(found) == 0:
        return False
    largest = max(found, key=lambda f: int(f[2]) * int(f[3]))
    if _overlap(_box(largest), box) < 0.6:
        return False
    full = cascade.detectMultiScale(grey, **BASELINE_DETECT)
    return len(full) == 1 and _overlap(_box(full[0]), box) >= 0.6


def _pool(
    labels: frozenset[int] | None, usage: int | None, npz: str, clear: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pixels, face_labels, rows, votes = _faces(npz, usage)
    pool = np.arange(len(face_labels))
    if labels is not None:
        pool = pool[np.isin(face_labels[pool], sorted(labels))]
    if clear:  # the crowd agrees with the label, so the expression is plain to see
        pool = pool[votes[pool, face_labels[pool]] >= 7]
    return pool, pixels, face_labels, rows


@functools.lru_cache(maxsize=32)
def _labelled(
    n: int,
    size: tuple[int, int],
    labels: frozenset[int] | None,
    seed: int,
    usage: int | None,
    npz: str,
    clear: bool,
) -> tuple[FaceFrame, ...]:
    pool, pixels, face_labels, rows = _pool(labels, usage, npz, clear)
    rng = np.random.default_rng(seed)
    out: list[FaceFrame] = []
    for i in rng.permutation(pool):
        img, box = _draw(_scene(pixels[i], rng, size), pixels[i], rng)
        jpeg = _encode_checked(img, box)
        if jpeg is not None:
            out.append(FaceFrame(jpeg, EMOTIONS[face_labels[i]], int(rows[i]), box))
            if len(out) == n:
                return tuple(out)
    raise ValueError(f"only {len(out)} of {n} frames could be made from the chosen faces")


@functools.lru_cache(maxsize=16)
def _clips(
    n: int,
    length: int,
    size: tuple[int, int],
    labels: frozenset[int] | None,
    seed: int,
    usage: int | None,
    npz: str,
) -> tuple[FaceClip, ...]:
    pool, pixels, face_labels, rows = _pool(labels, usage, npz, False)
    rng = np.random.default_rng(seed)
    out: list[FaceClip] = []
    for i in rng.permutation(pool):
        scene = _scene(pixels[i], rng, size)
        # A head drifts a few pixels a frame (at ~10 fps) and jitters a little.
        vx, vy = rng.uniform(-0.006, 0.006, 2) * size[0]
        frames, boxes = [], []
        for k in range(length):
            dx, dy = round(vx * k + rng.uniform(-1, 1)), round(vy * k + rng.uniform(-1, 1))
            img, box = _draw(scene, pixels[i], rng, dx, dy)
            jpeg = _encode_checked(img, box)
            if jpeg is None:
                break
            frames.append(jpeg)
            boxes.append(box)
        if len(frames) == length:
            out.append(FaceClip(tuple(frames), EMOTIONS[face_labels[i]], int(rows[i]), tuple(boxes)))
            if len(out) == n:
                return tuple(out)
    raise ValueError(f"only {len(out)} of {n} clips could be made from the chosen faces")


def labelled_frames(
    n: int,
    size: tuple[int, int] = (640, 480),
    labels: Sequence[str | int] | None = None,
    seed: int = 0,
    *,
    usage: int | None = 1,
    npz: Path | str = DEFAULT_NPZ,
    clear: bool = False,
) -> list[FaceFrame]:
    """`n` frames with their labels; `labels` keeps faces with those emotions (names or indices).

    `usage` picks the split (1 = PublicTest, None = all rows); `clear=True` keeps only faces where at
    least 7 of 10 FER+ voters agree with the label.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    if n == 0:
        return []
    ids = _label_ids(labels)
    key = None if ids is None else frozenset(ids)
    return list(_labelled(n, (int(size[0]), int(size[1])), key, seed, usage, str(npz), clear))


def face_frames(
    n: int, size: tuple[int, int] = (640, 480), labels: Sequence[str | int] | None = None, seed: int = 0
) -> list[bytes]:
    """`n` webcam-like JPEG frames, each with one FER2013 face that the Haar cascade finds."""
    return [f.jpeg for f in labelled_frames(n, size, labels, seed)]


def face_jpeg_for(emotion: str, size: tuple[int, int] = (640, 480), seed: int = 0) -> bytes:
    """One frame whose face plainly shows `emotion` (label and FER+ crowd agree)."""
    return labelled_frames(1, size, [emotion], seed, clear=True)[0].jpeg


def face_clips(
    n: int,
    length: int = 9,
    size: tuple[int, int] = (640, 480),
    labels: Sequence[str | int] | None = None,
    seed: int = 0,
    *,
    usage: int | None = 1,
    npz: Path | str = DEFAULT_NPZ,
) -> list[FaceClip]:
    """`n` streams of `length` frames each; the cascade finds the face in every frame."""
    if n < 0 or length < 1:
        raise ValueError("n must not be negative and length must be at least 1")
    if n == 0:
        return []
    ids = _label_ids(labels)
    key = None if ids is None else frozenset(ids)
    return list(_clips(n, length, (int(size[0]), int(size[1])), key, seed, usage, str(npz)))


def no_face_frames(n: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> list[bytes]:
    """`n` frames of the same kind of room with nobody in it (the cascade finds no face)."""
    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    while len(out) < n:
        img = _background(rng, *size)
        img = np.clip(img + rng.standard_normal(img.shape, dtype=np.float32) * 3.0, 0, 255).astype(np.uint8)
        jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
        grey = decode_image(jpeg, cv2.IMREAD_GRAYSCALE)
        if len(_cascade().detectMultiScale(grey, **BASELINE_DETECT)) == 0:
            out.append(jpeg)
    return out
