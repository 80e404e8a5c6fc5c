"""Matching a tracked face's last crop: a shifted face is found where it went (upright and tilted),
and anything a plain shift does not explain is refused, so that the detector looks instead."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.emotion.detect import crop_face
from core.emotion.motion import shifted_box
from tests.support.face_frames import face_clips


def _scene(dx: int = 0, dy: int = 0, scale: float = 1.0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A real face painted at (200 + dx, 150 + dy), 120 px (times `scale`), on a textured frame."""
    [clip] = face_clips(1, 1, seed=4)
    grey = cv2.imdecode(np.frombuffer(clip.frames[0], np.uint8), cv2.IMREAD_GRAYSCALE)
    assert grey is not None
    face = crop_face(grey, clip.boxes[0], 0.0)
    frame = np.full((480, 640), 90, np.uint8)
    frame[::7, :] = 120  # some background texture
    side = round(120 * scale)
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_LINEAR)
    frame[150 + dy : 150 + dy + side, 200 + dx : 200 + dx + side] = big
    return frame, (200, 150, 120, 120)


@pytest.mark.parametrize(("dx", "dy"), [(0, 0), (6, -4), (-10, 9), (13, 0)])
def test_an_upright_face_is_found_where_it_shifted(dx: int, dy: int) -> None:
    before, box = _scene()
    after, _ = _scene(dx, dy)
    moved = shifted_box(after, box, 0.0, crop_face(before, box, 0.0))
    assert moved is not None
    assert abs(moved[0] - (box[0] + dx)) <= 1 and abs(moved[1] - (box[1] + dy)) <= 1
    assert moved[2:] == box[2:]  # a shift keeps the size


def test_a_tilted_face_is_followed_in_frame_coordinates() -> None:
    """The crop of a tilted face is taken turned (crop_face's angle); the shift found in that turned
    window must come back as the frame's shift."""
    before, box = _scene()
    after, _ = _scene(8, 5)
    moved = shifted_box(after, box, 20.0, crop_face(before, box, 0.0, 20.0))
    assert moved is not None
    assert abs(moved[0] - (box[0] + 8)) <= 1 and abs(moved[1] - (box[1] + 5)) <= 1


def test_what_a_shift_does_not_explain_is_refused() -> None:
    before, box = _scene()
    crop = crop_face(before, box, 0.0)
    assert shifted_box(_scene(scale=1.5)[0], box, 0.0, crop) is None  # the face came much closer
    gone = np.full_like(before, 90)
    gone[::7, :] = 120
    assert shifted_box(gone, box, 0.0, crop) is None  # the face left
    assert shifted_box(_scene(40, 0)[0], box, 0.0, crop) is None  # too far for the window
    flat = np.full((48, 48), 128, np.uint8)
    assert shifted_box(before, box, 0.0, flat) is None  # a flat crop would match anywhere
    assert shifted_box(before, box, 0.0, crop[:40]) is None


@pytest.mark.parametrize(
    ("side", "margin", "angle"), [(120, 0.0, 0.0), (77, 0.0, 0.0), (91, 0.1, 0.0), (120, 0.0, 15.0)]
)
def test_a_face_that_did_not_move_keeps_its_box_frame_after_frame(
    side: int, margin: float, angle: float
) -> None:
    """The window is sampled on crop_face's own pixel grid: no move means no shift, and matching the
    crop re-taken at each new box does not creep (a half-pixel bias would add up frame by frame)."""
    frame, _ = _scene(scale=side / 120)
    box = (200, 150, side, side)
    for _ in range(6):
        moved = shifted_box(frame, box, angle, crop_face(frame, box, margin, angle), margin)
        assert moved == box
