"""Face detectors behind one interface: BlazeFace (the default) and the Haar cascade (the fallback).

Both return every face in a grey frame as `Face`s, largest first, each with a square `box` framed
the way FER2013 crops a face, so that `crop_face(grey, face.box, 0)` gives the 48x48 input the
expression network was trained on, whichever detector found it:
- BlazeFace (core.emotion.blazeface): MediaPipe's short-range network run by torch on the whole
  frame scaled to `size` px on its longer side. Its box covers the eyes-to-chin area: it sits lower
  than a FER crop and is ~0.83 of its side, so the box is grown by BLAZE_CROP_SCALE and moved up by
  BLAZE_CROP_SHIFT of the result (measured on PublicTest faces painted into frames, `python -m
  bench.detect --calibrate`). It finds tilted, small, dark and several faces that Haar misses. A
  frame where it finds a group (two faces or more) is searched again at `group_size` px.
- Haar: OpenCV's frontal-face cascade with the original project's settings (see detect.find_faces);
  its box already frames a face much as FER2013 does, so it is used as it is.
`make_detector("auto")` gives BlazeFace and falls back to Haar (with a warning) when the BlazeFace
weights cannot be loaded.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import torch

from core.emotion import blazeface
from core.emotion.detect import CASCADE, Box, find_faces

log = logging.getLogger(__name__)

BLAZE_SIZE = 224  # input pixels on the frame's longer side: 640x480 runs at 224x168 (padded to 224x176)
BLAZE_THRESHOLD = 0.5  # MediaPipe's default minimum detection confidence
BLAZE_CROP_SCALE = 1.18  # FER crop side / mean of BlazeFace's box width and height
BLAZE_CROP_SHIFT = -0.10  # FER crop centre - box centre, vertically, in crop sides
# A face whose eye line is tilted by at least this many degrees is cropped turned upright. The eye
# keypoints are noisy on small faces (their angle varies by ~12 degrees on upright faces), so
# smaller tilts are left alone; on faces tilted +-15/+-30 degrees this raised the expression
# network's accuracy from 58% to 64% (bench.scenes, 196 faces) and left upright faces unchanged.
ALIGN_MIN_DEGREES = 15.0
# A second look for doubtful faces: a candidate scoring between BLAZE_RECHECK_FLOOR and the
# threshold, away from any sure face, is cut out (BLAZE_RECHECK_ZOOM times its box, centred on it),
# scaled to the network's native 128 px, where a small face fills a good share of the input, and
# kept if the network is sure of it there too, at about the same place. On bench.scenes this
# raised recall on 60 px faces from 25% to 82.5%, at 80 px from 87.5% to 100% and in frames of
# 2-8 faces from 96.5% to 99%, with no more false boxes; frames without doubtful faces cost the same.
BLAZE_RECHECK_FLOOR = 0.2
BLAZE_RECHECK_ZOOM = 2.5
BLAZE_RECHECK_SIZE = 128
BLAZE_RECHECK_IOU = 0.4  # the second look's box must overlap the candidate's this much
BLAZE_MAX_RECHECKS = 3  # a frame's doubtful candidates looked at again, best first
# A tracked face that moved is looked for in a square of BLAZE_TRACK_ZOOM times its box around where
# it was (core.emotion.frames), at 96 px, where the face still spans ~50 px: 1.4 ms against 3.4 ms
# for the whole frame at 224 px (the network's fixed costs keep it from shrinking further).
BLAZE_TRACK_SIZE = 96
BLAZE_TRACK_ZOOM = 2.0
BLAZE_TRACK_IOU = 0.3  # how much of the old box the new one must still cover
# A group gets a finer look: when the whole-frame pass finds at least BLAZE_GROUP_MIN_FACES faces,
# the frame is searched again at BLAZE_GROUP_SIZE px, and its faces replace the coarse pass's where
# both found one (their boxes fit better). Groups are where faces are small and close together;
# frames of one face cost the same. On bench.scenes' frames of 2-8 faces (four seeds, 803 faces) this
# raised recall from 795 to 799 and put a box on every face of seed 0's 40 frames (38 before),
# with no more false boxes, at about twice the time for those frames only.
BLAZE_GROUP_SIZE = 288
BLAZE_GROUP_MIN_FACES = 2
BLAZE_GROUP_IOU = 0.3  # a coarse face overlapping a finer one this much is the same face
DETECTORS = ("auto", "blazeface", "haar")
_TRACED_SHAPES = 8  # input shapes kept as frozen TorchScript; others run eagerly


@dataclass(frozen=True)
class Face:
    """One detected face: the FER-framed square `box`, the detector's score and its own box."""

    box: Box  # x, y, side, side in full-frame pixels, framed like a FER2013 crop
    score: float
    raw: tuple[float, float, float, float]  # the detector's own box: x, y, width, height
    # BlazeFace's (x, y) keypoints: right eye, left eye, nose tip, mouth, right ear, left ear
    keypoints: tuple[tuple[float, float], ...] = ()
    angle: float = 0.0  # degrees to turn the crop by so that the face is upright (see crop_face)

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


@runtime_checkable
class LocalDetector(Protocol):
    """A detector that can look for a tracked face around its last box only (BlazeFace)."""

    def near(self, grey: np.ndarray, box: Box) -> Face | None: ...


class FaceDetector(Protocol):
    name: str

    def detect(self, grey: np.ndarray) -> list[Face]:
        """Every face in a grey uint8 (H, W) frame, largest first."""
        ...


class DetectorUnavailable(RuntimeError):
    """The detector's model cannot be loaded."""


def _largest_first(faces: list[Face]) -> list[Face]:
    return sorted(faces, key=lambda f: (-f.area, -f.score))


class HaarDetector:
    """OpenCV's Haar cascade, scanning only pyramid levels at most `detect_width` pixels wide."""

    name = "haar"

    def __init__(self, detect_width: int = 160) -> None:
        if detect_width < 64:
            raise ValueError("detect_width must be at least 64 pixels")
        self.detect_width = detect_width
        self._local = threading.local()  # a cascade per thread: detectMultiScale keeps scratch state
        self._cascade()  # fail now, not on the first frame

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(str(CASCADE))
            if cascade.empty():
                raise DetectorUnavailable(f"could not load the Haar cascade {CASCADE}")
            self._local.cascade = cascade
        return cascade

    def detect(self, grey: np.ndarray) -> list[Face]:
        found = find_faces(self._cascade(), grey, self.detect_width)
        faces = []
        for x, y, w, h in found:
            box = (int(x), int(y), int(w), int(h))
            faces.append(Face(box, 1.0, (float(x), float(y), float(w), float(h))))
        return _largest_first(faces)


class BlazeFaceDetector:
    """MediaPipe's BlazeFace short-range network in torch, on the frame scaled to `size` px (longer side)."""

    name = "blazeface"

    def __init__(
        self,
        size: int = BLAZE_SIZE,
        threshold: float = BLAZE_THRESHOLD,
        weights: Path | str | None = None,
        *,
        optimise: bool = True,
        group_size: int | None = BLAZE_GROUP_SIZE,
    ) -> None:
        if size < 64:
            raise ValueError("size must be at least 64 pixels")
        if group_size is not None and group_size < 64:
            raise ValueError("group_size must be at least 64 pixels (or None for no finer look)")
        if not 0.0 < threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1")
        path = Path(weights) if weights else blazeface.DEFAULT_WEIGHTS
        try:
            self._model = blazeface.load_blazeface(path)
        except Exception as exc:  # a missing, truncated or foreign file: say which and why
            raise DetectorUnavailable(f"could not load the BlazeFace weights {path}: {exc}") from exc
        self.size, self.threshold, self.weights, self.optimise = size, threshold, path, optimise
        # Only a larger input is a finer look (the stage already runs at 448 px).
        self.group_size = group_size if group_size and group_size > size else None
        self._traced: dict[tuple[int, int], torch.nn.Module] = {}
        self._anchors: dict[tuple[int, int], np.ndarray] = {}
        self._lock = threading.Lock()
        if optimise:  # trace for webcam frames now, not on a session's first frame
            # Whole frames, groups, second looks and tracked faces.
            looks = [(640, 480, size), (1, 1, BLAZE_RECHECK_SIZE), (1, 1, BLAZE_TRACK_SIZE)]
            if self.group_size:
                looks.append((640, 480, self.group_size))
            for w, h, side in looks:
                _, _, _, pw, ph = blazeface.input_shape(w, h, side)
                self._network((ph, pw))

    def _network(self, shape: tuple[int, int]) -> torch.nn.Module:
        """Frozen channels-last TorchScript for one input shape (about 2x faster on one core than eager)."""
        if not self.optimise:
            return self._model
        net = self._traced.get(shape)
        if net is not None:
            return net
        with self._lock:
            net = self._traced.get(shape)
            if net is None and len(self._traced) < _TRACED_SHAPES:
                example = torch.zeros(1, 1, *shape).contiguous(memory_format=torch.channels_last)
                model = blazeface.load_blazeface(self.weights)
                model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
                try:
                    with warnings.catch_warnings(), torch.inference_mode():
                        warnings.simplefilter("ignore")
                        net = torch.jit.freeze(torch.jit.trace(model, example))
                        for _ in range(3):  # the profiling executor optimises on the first calls
                            net(example)
                except (AttributeError, RuntimeError):
                    net = model
                self._traced[shape] = net
        return net if net is not None else self._model

    def _centres(self, shape: tuple[int, int]) -> np.ndarray:
        centres = self._anchors.get(shape)
        if centres is None:
            centres = self._anchors[shape] = blazeface.anchors(shape[1], shape[0])
        return centres

    def detect(self, grey: np.ndarray) -> list[Face]:
        faces = self._whole_frame(grey, self.size)
        if self.group_size and len(faces) >= BLAZE_GROUP_MIN_FACES:
            finer = self._whole_frame(grey, self.group_size)
            faces = finer + [f for f in faces if not _same_as_any(f, finer)]
        return _largest_first(faces)

    def _whole_frame(self, grey: np.ndarray, size: int) -> list[Face]:
        """The faces of one pass over the whole frame at `size` px, doubtful ones looked at again."""
        outputs = self._outputs(grey, size)
        sure = self._faces(outputs, grey.shape, self.threshold)
        # Decoded apart: the weighted suppression would mix doubtful boxes into the sure ones.
        doubtful = [
            f
            for f in self._faces(outputs, grey.shape, BLAZE_RECHECK_FLOOR)
            if f.score < self.threshold and not _inside_any(f, sure)
        ]
        for candidate in sorted(doubtful, key=lambda f: -f.score)[:BLAZE_MAX_RECHECKS]:
            confirmed = self._second_look(grey, candidate)
            if confirmed is not None:
                sure.append(confirmed)
        return sure

    def near(self, grey: np.ndarray, box: Box) -> Face | None:
        """The face that was at `box` a moment ago, looked for around it only (a tracked face that
        moved): far cheaper than the whole frame. None if it is not there any more."""
        x, y, side, _ = box
        cx, cy = x + side / 2, y + side / 2
        return self._look(grey, cx, cy, BLAZE_TRACK_ZOOM * side, BLAZE_TRACK_SIZE, box, BLAZE_TRACK_IOU)

    def _second_look(self, grey: np.ndarray, candidate: Face) -> Face | None:
        """The candidate again, zoomed in: the face found there (in frame coordinates), or None."""
        x0, y0, w, h = candidate.raw
        cx, cy, side = x0 + w / 2, y0 + h / 2, BLAZE_RECHECK_ZOOM * max(w, h)
        return self._look(grey, cx, cy, side, BLAZE_RECHECK_SIZE, candidate.box, BLAZE_RECHECK_IOU)

    def _look(
        self, grey: np.ndarray, cx: float, cy: float, side: float, size: int, like: Box, min_iou: float
    ) -> Face | None:
        """The surest face in the `side`-pixel square centred on (cx, cy), seen at `size` px, that
        overlaps `like` by at least `min_iou`; in frame coordinates."""
        s = max(4, round(side))
        left, top = round(cx - s / 2), round(cy - s / 2)
        crop = _cut(grey, left, top, s)
        best: Face | None = None
        for face in self._faces(self._outputs(crop, size), crop.shape, self.threshold):
            moved = _shifted(face, left, top)
            if _iou(moved.box, like) >= min_iou and (best is None or face.score > best.score):
                best = moved
        return best

    def _outputs(self, grey: np.ndarray, size: int) -> _Outputs:
        """One pass of the network over `grey` scaled to `size` px on its longer side."""
        x, scale = blazeface.frame_tensor(grey, size)
        shape = (int(x.shape[2]), int(x.shape[3]))
        if self.optimise:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            reg, logits = self._network(shape)(x)
        return _Outputs(reg[0].numpy(), logits[0].numpy(), self._centres(shape), scale)

    def _faces(self, out: _Outputs, frame: tuple[int, ...], threshold: float) -> list[Face]:
        """The faces of one pass scoring at least `threshold`, framed like FER crops."""
        boxes, scores, points = blazeface.decode(out.reg, out.logits, out.centres, threshold)
        scale = out.scale
        height, width = frame[:2]
        faces = []
        for (x0, y0, x1, y1), score, kp in zip(boxes / scale, scores, points / scale, strict=True):
            bw, bh = x1 - x0, y1 - y0
            side = BLAZE_CROP_SCALE * (bw + bh) / 2
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + BLAZE_CROP_SHIFT * side
            if not (0 <= cx < width and 0 <= cy < height) or side < 4:
                continue
            s = round(side)
            box = (round(cx - s / 2), round(cy - s / 2), s, s)
            keypoints = tuple((float(kp[2 * i]), float(kp[2 * i + 1])) for i in range(6))
            # Eye line from the face's right eye (image left) to its left eye; y grows downwards.
            tilt = math.degrees(math.atan2(kp[3] - kp[1], kp[2] - kp[0]))
            tilt = (tilt + 90.0) % 180.0 - 90.0  # whichever eye the network put first
            angle = tilt if abs(tilt) >= ALIGN_MIN_DEGREES else 0.0
            raw = (float(x0), float(y0), float(bw), float(bh))
            faces.append(Face(box, float(score), raw, keypoints, angle))
        return faces


@dataclass(frozen=True)
class _Outputs:
    reg: np.ndarray
    logits: np.ndarray
    centres: np.ndarray
    scale: float


def _cut(grey: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    """The `side`-pixel square at (left, top), black where it runs off the frame."""
    height, width = grey.shape
    out = np.zeros((side, side), grey.dtype)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, width), min(top + side, height)
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = grey[y0:y1, x0:x1]
    return out


def _shifted(face: Face, dx: int, dy: int) -> Face:
    x, y, w, h = face.box
    rx, ry, rw, rh = face.raw
    return Face(
        (x + dx, y + dy, w, h),
        face.score,
        (rx + dx, ry + dy, rw, rh),
        tuple((px + dx, py + dy) for px, py in face.keypoints),
        face.angle,
    )


def _iou(a: Box, b: Box) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1)


def _inside_any(face: Face, others: list[Face]) -> bool:
    """Whether the face's centre lies in another's box (a looser box round a face already found)."""
    cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
    return any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in (o.box for o in others))


def _same_as_any(face: Face, others: list[Face]) -> bool:
    """Whether another pass already found this face: its centre lies in one of theirs, or they overlap."""
    return _inside_any(face, others) or any(_iou(face.box, o.box) >= BLAZE_GROUP_IOU for o in others)


def make_detector(
    kind: str = "auto",
    *,
    detect_width: int = 160,
    size: int = BLAZE_SIZE,
    threshold: float = BLAZE_THRESHOLD,
    weights: Path | str | None = None,
) -> FaceDetector:
    """A detector by name: "blazeface", "haar", or "auto" (BlazeFace, else Haar with a warning)."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown face detector {kind!r}; choose from {', '.join(DETECTORS)}")
    if kind == "haar":
        return HaarDetector(detect_width)
    try:
        return BlazeFaceDetector(size, threshold, weights)
    except DetectorUnavailable as exc:
        if kind == "blazeface":
            raise
        log.warning("%s; falling back to the Haar cascade", exc)
        return HaarDetector(detect_width)
