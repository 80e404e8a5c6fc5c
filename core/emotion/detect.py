"""Finding the face: the Haar cascade with the original project's settings, box reuse per stream, cropping."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from models.net import INPUT_SIZE

CASCADE = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
# The original project's detector settings, kept so that a face gets the very same box (see find_faces).
SCALE_FACTOR = 1.3
MIN_NEIGHBORS = 5
MIN_FACE = 24  # the cascade's window, in pixels of the smallest scanned pyramid level

Box = tuple[int, int, int, int]  # x, y, width, height in full-frame pixels


class FaceTracker:
    """Per-stream state: the last face box, its crop, and how many frames ago the detector found it."""

    def __init__(self) -> None:
        self.box: Box | None = None
        self.frame_size: tuple[int, int] | None = None  # (width, height) the box belongs to
        self.frames = 0  # frames analysed on this stream
        self.since_detect = 0  # frames since the detector last ran
        self.face: np.ndarray | None = None  # the 48x48 crop the detector's box gave
        self.lock = threading.Lock()  # one stream's frames are analysed in order

    def needs_detection(self, frame_size: tuple[int, int], detect_every: int) -> bool:
        return self.box is None or self.frame_size != frame_size or self.since_detect >= detect_every

    def reset(self) -> None:
        self.box, self.frame_size, self.since_detect, self.face = None, None, 0, None


def find_faces(cascade: cv2.CascadeClassifier, grey: np.ndarray, detect_width: int) -> np.ndarray:
    """Face boxes (N, 4) found on the frame downscaled to at most `detect_width` pixels wide.

    The cascade scans a pyramid of the frame shrunk by 1.3, 1.3^2, ...; the levels wider than
    `detect_width` find only small faces and cost most of the time, so a minimum face size skips
    them. The remaining levels are sampled exactly as in a full scan, so a face large enough to be
    seen gets the same box as in the original full-frame pipeline, for a fraction of the cost.
    """
    min_face = max(MIN_FACE, round(MIN_FACE * grey.shape[1] / detect_width))
    return cascade.detectMultiScale(
        grey, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS, minSize=(min_face, min_face)
    )


def crop_face(grey: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """A 48x48 square around `box`, grown by `margin` of its side on every edge, padded at the frame edge."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
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
