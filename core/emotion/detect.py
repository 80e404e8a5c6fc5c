"""Finding faces: the Haar cascade with the original project's settings, box reuse per stream, cropping.

The detectors themselves (BlazeFace, the default, and this Haar cascade as the fallback) sit behind
one interface in core.emotion.detectors.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import cv2.data
import numpy as np

from models.net import INPUT_SIZE

CASCADE = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
# The original project's detector settings, kept so that a face gets the very same box (see find_faces).
SCALE_FACTOR = 1.3
MIN_NEIGHBORS = 5
MIN_FACE = 24  # the cascade's window, in pixels of the smallest scanned pyramid level

Box = tuple[int, int, int, int]  # x, y, width, height in full-frame pixels


class FaceTracker:
    """Per-stream state: the last faces' boxes and crops, and how many frames ago the detector found them.

    `boxes` and `crops` hold every face the detector found, the followed one (the largest) first;
    `box` and `face` are that first face's, or None when none was found.
    """

    def __init__(self) -> None:
        self.boxes: tuple[Box, ...] = ()
        self.angles: tuple[float, ...] = ()  # the turn each face's crop is taken with (see crop_face)
        self.crops: tuple[np.ndarray, ...] = ()  # the 48x48 crops the detector's boxes gave
        self.frame_size: tuple[int, int] | None = None  # (width, height) the boxes belong to
        self.frames = 0  # frames analysed on this stream
        self.since_detect = 0  # frames since the detector last ran
        self.lock = threading.Lock()  # one stream's frames are analysed in order

    @property
    def box(self) -> Box | None:
        return self.boxes[0] if self.boxes else None

    @property
    def face(self) -> np.ndarray | None:
        return self.crops[0] if self.crops else None

    def needs_detection(self, frame_size: tuple[int, int], detect_every: int) -> bool:
        return not self.boxes or self.frame_size != frame_size or self.since_detect >= detect_every

    def update(
        self,
        boxes: tuple[Box, ...],
        angles: tuple[float, ...],
        crops: tuple[np.ndarray, ...],
        frame_size: tuple[int, int],
    ) -> None:
        """The detector has just run on a frame of `frame_size` and found these faces."""
        self.boxes, self.angles, self.crops = boxes, angles, crops
        self.frame_size, self.since_detect = frame_size, 1

    def follow(
        self, boxes: tuple[Box, ...], angles: tuple[float, ...], crops: tuple[np.ndarray, ...]
    ) -> None:
        """The same faces were found again near their last boxes (not a whole-frame search, so the
        count towards the next one goes on)."""
        self.boxes, self.angles, self.crops = boxes, angles, crops
        self.since_detect += 1

    def reset(self) -> None:
        self.boxes, self.angles, self.crops, self.frame_size, self.since_detect = (), (), (), None, 0


def find_faces(cascade: cv2.CascadeClassifier, grey: np.ndarray, detect_width: int) -> np.ndarray:
    """Face boxes (N, 4) found on the frame downscaled to at most `detect_width` pixels wide.

    The cascade scans a pyramid of the frame shrunk by 1.3, 1.3^2, ...; the levels wider than
    `detect_width` find only small faces and cost most of the time, so a minimum face size skips
    them. The remaining levels are sampled exactly as in a full scan, so a face large enough to be
    seen gets the same box as in the original full-frame pipeline, for a fraction of the cost.
    """
    min_face = max(MIN_FACE, round(MIN_FACE * grey.shape[1] / detect_width))
    found = cascade.detectMultiScale(
        grey, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS, minSize=(min_face, min_face)
    )
    return np.asarray(found, dtype=np.int32).reshape(-1, 4)


def crop_face(grey: np.ndarray, box: Box, margin: float, angle: float = 0.0) -> np.ndarray:
    """A 48x48 square around `box`, grown by `margin` of its side on every edge, padded at the frame edge.

    A non-zero `angle` (degrees, counter-clockwise) turns the square by that much about its centre
    before cropping, so a face tilted by -angle comes out upright.
    """
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    if angle:
        m = cv2.getRotationMatrix2D((cx, cy), angle, INPUT_SIZE / side)
        m[0, 2] += INPUT_SIZE / 2 - cx
        m[1, 2] += INPUT_SIZE / 2 - cy
        return np.asarray(
            cv2.warpAffine(
                grey, m, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            ),
            np.uint8,
        )
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    x1, y1 = x0 + round(side), y0 + round(side)
    fh, fw = grey.shape
    patch = grey[max(0, y0) : min(fh, y1), max(0, x0) : min(fw, x1)]
    pads = (max(0, -y0), max(0, y1 - fh), max(0, -x0), max(0, x1 - fw))
    if any(pads):
        patch = cv2.copyMakeBorder(patch, *pads, cv2.BORDER_REPLICATE)
    # Bilinear, as the original pipeline resized: the same box then gives the very same 48x48 input.
    return cv2.resize(patch, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


def _mean_abs_diff(a: np.ndarray, b: np.ndarray | None) -> float:
    return float("inf") if b is None else cv2.norm(a, b, cv2.NORM_L1) / a.size
