"""Webcam-like 640x480 scenes with real FER2013 faces under hard conditions, for detector tests and benches.

Faces (48x48 grey, PublicTest by default, so the expression network has not trained on them) are
upscaled to a face size, optionally tilted, and painted with feathered edges over a synthetic room
(wall gradient, blurred furniture, a neck and shoulders per person), then lit (normal, dark,
washed-out or side-lit), given sensor noise and JPEG-encoded. Nothing is filtered: unlike
tests.support.face_frames, a scene keeps its faces whether or not any detector finds them, so a
benchmark can report recall. The same (condition, n, seed) always gives the same scenes.

Conditions (CONDITIONS): `upright-60` ... `upright-300` (one face of that many pixels), `tilt-30`,
`tilt-15`, `tilt+15`, `tilt+30` (degrees, counter-clockwise positive), `dark` (x0.2 brightness),
`washed` (low contrast, bright), `side-lit` (light falling off across the frame), `multi` (2-8
faces of 100-170 px), `empty` (nobody: every box found is false). Single faces in the tilt and
lighting conditions are 120-200 px.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from models.data import DEFAULT_NPZ
from models.net import EMOTIONS

SIZE = (640, 480)
JPEG_QUALITY = 85
UPRIGHT_SIZES = (60, 80, 120, 160, 200, 300)
TILTS = (-30, -15, 15, 30)
SINGLE_SIDES = (120, 200)  # face side range of the tilt and lighting conditions
MULTI_FACES = (2, 8)
MULTI_SIDES = (100, 170)
# A detection finds a painted face when its box centre is this close (in face sides) and its side
# is within these ratios of the painted side; each painted face and each box match at most once.
MATCH_DISTANCE = 0.35
MATCH_SIDE = (0.5, 1.6)
NOT_FACE = 9  # the FER+ vote column "not a face"


@dataclass(frozen=True)
class Condition:
    name: str
    sides: tuple[int, int] = SINGLE_SIDES  # face side range in pixels (inclusive)
    angle: float = 0.0  # degrees, counter-clockwise
    light: str = "normal"  # normal, dark, washed, side-lit
    faces: tuple[int, int] = (1, 1)  # how many faces (inclusive range)


CONDITIONS: dict[str, Condition] = {
    **{f"upright-{s}": Condition(f"upright-{s}", (s, s)) for s in UPRIGHT_SIZES},
    **{f"tilt{a:+d}": Condition(f"tilt{a:+d}", angle=float(a)) for a in TILTS},
    "dark": Condition("dark", light="dark"),
    "washed": Condition("washed", light="washed"),
    "side-lit": Condition("side-lit", light="side-lit"),
    "multi": Condition("multi", MULTI_SIDES, faces=MULTI_FACES),
    "empty": Condition("empty", faces=(0, 0)),
}


@dataclass(frozen=True)
class PaintedFace:
    """Where a face was painted: centre, side (before tilting), tilt, and which FER2013 face it is."""

    cx: float
    cy: float
    side: int
    angle: float
    label: str
    row: int  # its row in the npz

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The upright square it was painted into (x, y, side, side)."""
        return round(self.cx - self.side / 2), round(self.cy - self.side / 2), self.side, self.side


@dataclass(frozen=True)
class Scene:
    jpeg: bytes
    faces: tuple[PaintedFace, ...]
    condition: str

    def grey(self) -> np.ndarray:
        return np.asarray(cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE), np.uint8)


@dataclass(frozen=True)
class SceneClip:
    """Consecutive frames of the same people in the same room, their heads drifting."""

    frames: tuple[Scene, ...]
    condition: str


@dataclass(frozen=True)
class _Person:
    index: int  # into the pool of faces
    cx: float
    cy: float
    side: int
    angle: float
    tone: float
    shirt: tuple[float, float, float]


@functools.lru_cache(maxsize=4)
def _pool(npz: str, usage: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels, labels, npz rows) of one split, read once per process.

    The few rows that most FER+ voters marked "not a face" (blank or non-face images: 10 of the
    3589 PublicTest rows) are left out; nothing else is, and no detector has a say in it.
    """
    with np.load(npz) as data:
        keep = np.ones(len(data["label"]), bool) if usage is None else data["usage"] == usage
        if "ferplus_votes" in data:
            votes = data["ferplus_votes"].astype(np.int64)
            flags = data["flags"] if "flags" in data else np.zeros(len(votes), np.uint8)
            trusted = (flags & 4) == 0  # these rows' votes belong to another image
            keep &= ~(trusted & (votes[:, NOT_FACE] * 2 > votes.sum(1)))
        return data["pixels"][keep], data["label"][keep].astype(np.int64), np.flatnonzero(keep)


def _room(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    top, bottom = rng.uniform(60, 220, 3), rng.uniform(40, 200, 3)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.repeat((top * (1 - t) + bottom * t).astype(np.float32), width, axis=1)
    for _ in range(rng.integers(2, 6)):  # shelves, doors, a window, posters
        x0, y0 = int(rng.uniform(0, width * 0.9)), int(rng.uniform(0, height * 0.8))
        x1 = min(width, x0 + int(rng.uniform(0.1, 0.45) * width))
        y1 = min(height, y0 + int(rng.uniform(0.1, 0.6) * height))
        img[y0:y1, x0:x1] = rng.uniform(20, 240, 3)
    blur = max(3, (width // 40) | 1)
    return np.asarray(cv2.GaussianBlur(img, (blur, blur), 0), np.float32)


def _place(
    cond: Condition, rng: np.random.Generator, width: int, height: int
) -> list[tuple[float, float, int]]:
    """(cx, cy, side) of each face: single faces anywhere a webcam puts them, several on a jittered grid."""
    n = int(rng.integers(cond.faces[0], cond.faces[1] + 1))
    lo, hi = cond.sides
    if n == 0:
        return []
    if n == 1:
        side = int(rng.integers(lo, hi + 1))
        cx = rng.uniform(side * 0.55, width - side * 0.55)
        cy_lo, cy_hi = side * 0.55, max(side * 0.55, min(height - side * 0.6, height * 0.62))
        return [(cx, rng.uniform(cy_lo, cy_hi), side)]
    rows = 1 if n <= 3 else 2
    cols = math.ceil(n / rows)
    cw, ch = width / cols, height / rows
    cells = rng.permutation(rows * cols)[:n]
    out = []
    for cell in cells:
        r, c = divmod(int(cell), cols)
        top = min(hi, int(cw * 0.85), int(ch * 0.62))
        side = int(rng.integers(lo, max(lo, top) + 1))
        jx, jy = max(0.0, (cw - side * 1.1) / 2), max(0.0, (ch - side * 1.5) / 2)
        cx = (c + 0.5) * cw + rng.uniform(-jx, jx)
        cy = r * ch + side * 0.6 + rng.uniform(0, 2 * jy)
        out.append((cx, cy, side))
    return out


def _paint_body(img: np.ndarray, p: _Person) -> None:
    height = img.shape[0]
    a = math.radians(p.angle)
    nx, ny = p.cx - math.sin(a) * p.side * 0.55, p.cy + math.cos(a) * p.side * 0.55
    cv2.ellipse(
        img, (int(nx), int(ny)), (int(p.side * 0.2), int(p.side * 0.35)), -p.angle, 0, 360, (p.tone,) * 3, -1
    )
    shoulders = int(p.cy + p.side * 0.85)
    reach = int(p.side * 1.1)
    cv2.ellipse(img, (int(p.cx), shoulders + p.side // 2), (reach, p.side // 2), 0, 180, 360, p.shirt, -1)
    cv2.rectangle(img, (int(p.cx) - reach, shoulders + p.side // 2), (int(p.cx) + reach, height), p.shirt, -1)


def _paint_face(img: np.ndarray, face: np.ndarray, p: _Person) -> None:
    """The face upscaled to its side, feathered, rotated about its centre, blended over the scene."""
    side = p.side
    patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / (side * 0.08), 0, 1)
    alpha = np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)
    big = math.ceil(side * 1.5)
    off = (big - side) // 2
    canvas, mask = np.zeros((big, big), np.float32), np.zeros((big, big), np.float32)
    canvas[off : off + side, off : off + side] = patch
    mask[off : off + side, off : off + side] = alpha
    if p.angle:
        m = cv2.getRotationMatrix2D((off + side / 2 - 0.5, off + side / 2 - 0.5), p.angle, 1.0)
        canvas = np.asarray(cv2.warpAffine(canvas, m, (big, big), flags=cv2.INTER_LINEAR), np.float32)
        mask = np.asarray(cv2.warpAffine(mask, m, (big, big), flags=cv2.INTER_LINEAR), np.float32)
    height, width = img.shape[:2]
    x0, y0 = round(p.cx - off - side / 2), round(p.cy - off - side / 2)
    xs0, ys0, xs1, ys1 = max(0, x0), max(0, y0), min(width, x0 + big), min(height, y0 + big)
    if xs1 <= xs0 or ys1 <= ys0:
        return
    c = canvas[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0, None]
    a = mask[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0, None]
    img[ys0:ys1, xs0:xs1] = a * c + (1 - a) * img[ys0:ys1, xs0:xs1]


def _light(img: np.ndarray, light: str, flip: bool) -> np.ndarray:
    if light == "dark":
        return img * 0.2
    if light == "washed":
        return img * 0.35 + 150
    if light == "side-lit":
        ramp = np.linspace(1.25, 0.2, img.shape[1], dtype=np.float32)
        return img * (ramp[::-1] if flip else ramp)[None, :, None]
    return img


@dataclass(frozen=True)
class _Layout:
    room: np.ndarray
    people: tuple[_Person, ...]
    cond: Condition
    flip: bool


def _layout(
    cond: Condition, rng: np.random.Generator, size: tuple[int, int], pool_size: int, pixels: np.ndarray
) -> _Layout:
    width, height = size
    places = _place(cond, rng, width, height)
    picks = rng.choice(pool_size, len(places), replace=False) if places else np.zeros(0, np.int64)
    people = []
    for (cx, cy, side), index in zip(places, picks, strict=True):
        tone = float(np.median(pixels[index])) * rng.uniform(0.8, 1.0)
        shirt = (float(rng.uniform(10, 200)), float(rng.uniform(10, 200)), float(rng.uniform(10, 200)))
        people.append(_Person(int(index), float(cx), float(cy), int(side), cond.angle, tone, shirt))
    return _Layout(_room(rng, width, height), tuple(people), cond, bool(rng.random() < 0.5))


def _render(
    layout: _Layout, pixels: np.ndarray, labels: np.ndarray, rows: np.ndarray, rng: np.random.Generator
) -> Scene:
    img = layout.room.copy()
    for p in layout.people:  # bodies first, so no one's shoulders cover another's face
        _paint_body(img, p)
    for p in layout.people:
        _paint_face(img, pixels[p.index], p)
    img = _light(img, layout.cond.light, layout.flip)
    img += rng.standard_normal(img.shape, dtype=np.float32) * 3.0  # sensor noise, fresh every frame
    ok, buf = cv2.imencode(
        ".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise RuntimeError("could not encode a scene as JPEG")
    faces = tuple(
        PaintedFace(p.cx, p.cy, p.side, p.angle, EMOTIONS[int(labels[p.index])], int(rows[p.index]))
        for p in layout.people
    )
    return Scene(buf.tobytes(), faces, layout.cond.name)


def _condition(name: str) -> Condition:
    if name not in CONDITIONS:
        raise ValueError(f"unknown condition {name!r}; choose from {', '.join(CONDITIONS)}")
    return CONDITIONS[name]


def _seed(condition: str, seed: int) -> int:
    """One stream of random numbers per (condition, seed), so adding a condition changes no other's scenes.

    The key's bytes were once folded into 63 bits whole, which keeps only its first 8 characters: a
    longer key ("upright-120/1", "clips/multi/1") lost its seed, and the upright sizes share their
    draws. Seed 0 keeps those streams, so every figure published for it still holds; other seeds of
    longer keys now hash the whole key.
    """
    key = f"{condition}/{seed}".encode()
    if len(key) <= 8 or seed == 0:
        return int.from_bytes(key, "little") % (2**63)
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") % (2**63)


@functools.lru_cache(maxsize=64)
def _scenes(
    condition: str, n: int, seed: int, size: tuple[int, int], npz: str, usage: int | None
) -> tuple[Scene, ...]:
    cond = _condition(condition)
    pixels, labels, rows = _pool(npz, usage)
    rng = np.random.default_rng(_seed(condition, seed))
    return tuple(
        _render(_layout(cond, rng, size, len(labels), pixels), pixels, labels, rows, rng) for _ in range(n)
    )


def scenes(
    condition: str,
    n: int,
    seed: int = 0,
    *,
    size: tuple[int, int] = SIZE,
    npz: Path | str = DEFAULT_NPZ,
    usage: int | None = 1,
) -> list[Scene]:
    """`n` scenes of one condition (see CONDITIONS); `usage` picks the FER2013 split (1 = PublicTest)."""
    if n < 0:
        raise ValueError("n must not be negative")
    return list(_scenes(condition, n, seed, (int(size[0]), int(size[1])), str(npz), usage))


def scene(
    condition: str,
    seed: int = 0,
    *,
    side: int | None = None,
    angle: float | None = None,
    faces: int | None = None,
    size: tuple[int, int] = SIZE,
    npz: Path | str = DEFAULT_NPZ,
) -> Scene:
    """One scene of a condition, optionally with a fixed face side, tilt or number of faces."""
    cond = _condition(condition)
    if side is not None:
        cond = replace(cond, sides=(side, side))
    if angle is not None:
        cond = replace(cond, angle=float(angle))
    if faces is not None:
        cond = replace(cond, faces=(faces, faces))
    pixels, labels, rows = _pool(str(npz), 1)
    rng = np.random.default_rng(_seed(condition, seed))
    return _render(_layout(cond, rng, size, len(labels), pixels), pixels, labels, rows, rng)


def scene_clips(
    condition: str,
    n: int,
    length: int,
    seed: int = 0,
    *,
    size: tuple[int, int] = SIZE,
    npz: Path | str = DEFAULT_NPZ,
) -> list[SceneClip]:
    """`n` streams of `length` frames: the people of one scene, their heads drifting a few pixels a frame."""
    if n < 0 or length < 1:
        raise ValueError("n must not be negative and length must be at least 1")
    cond = _condition(condition)
    pixels, labels, rows = _pool(str(npz), 1)
    rng = np.random.default_rng(_seed(f"clips/{condition}", seed))
    out = []
    for _ in range(n):
        layout = _layout(cond, rng, size, len(labels), pixels)
        vx, vy = rng.uniform(-0.006, 0.006, 2) * size[0]  # at ~10 fps, as in a webcam stream
        frames = []
        for k in range(length):
            dx, dy = vx * k + rng.uniform(-1, 1), vy * k + rng.uniform(-1, 1)
            people = tuple(replace(p, cx=p.cx + dx, cy=p.cy + dy) for p in layout.people)
            frames.append(_render(replace(layout, people=people), pixels, labels, rows, rng))
        out.append(SceneClip(tuple(frames), condition))
    return out


def match(faces: Sequence[PaintedFace], boxes: Sequence[Sequence[float]]) -> tuple[list[int | None], int]:
    """For each painted face the index of the box that finds it (or None), and how many boxes found nothing.

    Greedy by distance: a box finds a face when its centre is within MATCH_DISTANCE face sides of the
    face's centre and its side (the larger of width and height) is within MATCH_SIDE of the face's.
    """
    pairs = []
    for i, f in enumerate(faces):
        for j, (x, y, w, h) in enumerate(boxes):
            d = math.hypot(x + w / 2 - f.cx, y + h / 2 - f.cy) / f.side
            ratio = max(w, h) / f.side
            if d <= MATCH_DISTANCE and MATCH_SIDE[0] <= ratio <= MATCH_SIDE[1]:
                pairs.append((d, i, j))
    found: list[int | None] = [None] * len(faces)
    used: set[int] = set()
    for _, i, j in sorted(pairs):
        if found[i] is None and j not in used:
            found[i] = j
            used.add(j)
    return found, len(boxes) - len(used)
