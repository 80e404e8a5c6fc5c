"""A tracked face that moved a little: found again by matching its last 48x48 crop near its last box.

A webcam head drifts a few pixels between frames, which is enough to change the crop and end box
reuse. Looking for the face with the detector costs about 1.4 ms a face (BlazeFace near its box); a
normalised cross-correlation of the last crop over a slightly larger window, at the crop's own
48-pixel scale, costs about 0.1 ms. It finds shifts only (not a change of size or tilt),
so it is trusted only when the match is close, and the whole-frame search still runs every
`detect_every` frames to put the boxes right.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.emotion.detect import Box
from models.net import INPUT_SIZE

# The window is this much larger than the face on each side (at 48 px: 12 px of slack either way).
SEARCH_SLACK = 0.25
# Normalised cross-correlation a match must reach; below it the face has turned, grown or changed
# too much for a plain shift, and the detector looks instead.
MIN_CORRELATION = 0.9


def _window(grey: np.ndarray, box: Box, angle: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The square around `box`, grown by SEARCH_SLACK on every side, sampled exactly as crop_face
    samples the crop (same scale, turn and pixel grid), so a face that did not move matches with no
    offset; and the 2x3 frame-to-window matrix."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    size = round(INPUT_SIZE * (1 + 2 * SEARCH_SLACK))
    pad = (size - INPUT_SIZE) / 2
    if angle:  # crop_face turns with warpAffine about the box centre
        m = cv2.getRotationMatrix2D((cx, cy), angle, INPUT_SIZE / side)
        m[0, 2] += size / 2 - cx
        m[1, 2] += size / 2 - cy
    else:  # crop_face resizes the whole-pixel square at (x0, y0): cv2.resize's half-pixel grid
        x0, y0, scale = round(cx - side / 2), round(cy - side / 2), INPUT_SIZE / round(side)
        offset = 0.5 * scale - 0.5 + pad
        m = np.array([[scale, 0.0, offset - scale * x0], [0.0, scale, offset - scale * y0]])
    window = cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(window, np.uint8), m


def _peak(scores: np.ndarray, at: tuple[int, int]) -> tuple[float, float]:
    """Sub-pixel position of the maximum at `at` (a parabola through it and its neighbours)."""
    col, row = at
    out = []
    for pos, line in ((col, scores[row, :]), (row, scores[:, col])):
        if 0 < pos < len(line) - 1:
            left, mid, right = float(line[pos - 1]), float(line[pos]), float(line[pos + 1])
            bend = left - 2 * mid + right
            out.append(pos + (0.5 * (left - right) / bend if bend < 0 else 0.0))
        else:
            out.append(float(pos))
    return out[0], out[1]


def shifted_box(
    grey: np.ndarray, box: Box, angle: float, last_crop: np.ndarray, margin: float = 0.0
) -> Box | None:
    """`box` moved to where `last_crop` (the face's 48x48 crop_face at `box`, taken with `margin` and
    `angle`) now is in `grey`, or None when no place matches closely enough."""
    if last_crop.shape != (INPUT_SIZE, INPUT_SIZE) or float(last_crop.std()) < 1.0:
        return None  # a flat crop matches anywhere
    window, m = _window(grey, box, angle, margin)
    scores = cv2.matchTemplate(window, last_crop, cv2.TM_CCOEFF_NORMED)
    _, best, _, at = cv2.minMaxLoc(scores)
    if not best >= MIN_CORRELATION:  # also refuses NaN (a flat window)
        return None
    col, row = _peak(scores, (int(at[0]), int(at[1])))
    centre = (scores.shape[1] - 1) / 2
    # A shift in the window is one in the frame through the inverse of the window's turn and scale.
    dx, dy = np.linalg.solve(m[:, :2], np.array([col - centre, row - centre]))
    x, y, w, h = box
    return (round(x + dx), round(y + dy), w, h)
