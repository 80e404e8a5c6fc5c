"""Webcam frames to emotion probabilities: decode, find the face, crop, classify in batches.

Faces are found by BlazeFace (core.emotion.detectors; the Haar cascade is the fallback, or on
request with `detector="haar"`), which finds small, tilted, dark and several faces that the
original's Haar cascade misses. Every face in a frame is classified (FrameScore.faces, largest
first, at most `max_faces`); the largest is the one a single-user session follows (FrameScore.box
and .probs). Speed comes from what the original pipeline (full-frame Haar scan, one eager model call
per face) did not do:
- the detector sees a small copy of the frame (BlazeFace: 224 px on the longer side; Haar: only the
  pyramid levels at most `detect_width` pixels wide, see find_faces);
- a stream's FaceTracker reuses the boxes for up to `detect_every` frames while the faces under
  them have not moved or changed (mean absolute difference of each 48x48 crop at most
  `moved_threshold`); a face that moved a little is found again by matching its last crop near its
  box (core.emotion.motion), and only then by the detector near its box;
- the expression pipeline (core.emotion.classify: EmotionNet, WideNet and mini-Xception, each on
  the face and its mirror image) is int8 and frozen TorchScript, fed every waiting face in one call.
Frames stay in memory only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from core.emotion.classify import EmotionClassifier
from core.emotion.decode import BadFrame, decode_grey
from core.emotion.detect import Box, FaceTracker, _mean_abs_diff, crop_face
from core.emotion.detectors import Face, FaceDetector, LocalDetector, make_detector
from core.emotion.motion import shifted_box
from models.net import EMOTIONS, INPUT_SIZE
from models.weights import DEFAULT_WEIGHTS

# Local looks cost ~1.4 ms a face, a whole 640x480 frame at 224 px ~3.4 ms: past three faces (an
# audience) the whole-frame search is the cheaper way to follow them.
FOLLOW_MAX_FACES = 3


@dataclass(frozen=True)
class FaceScore:
    """One face of a frame: its box and 7 probabilities in EMOTIONS order."""

    box: Box
    probs: tuple[float, ...]

    @property
    def top(self) -> str:
        return EMOTIONS[int(np.argmax(self.probs))]


@dataclass(frozen=True)
class FrameScore:
    """One frame's result: the followed (largest) face's 7 probabilities and box, or None for no face.

    `faces` holds every face found in the frame, that one first.
    """

    probs: tuple[float, ...] | None
    box: Box | None
    detected: bool = False  # the detector ran on this frame (False: the tracked boxes were reused)
    faces: tuple[FaceScore, ...] = ()

    @property
    def face(self) -> bool:
        return self.probs is not None

    @property
    def top(self) -> str | None:
        """The most likely emotion, or None without a face."""
        return None if self.probs is None else EMOTIONS[int(np.argmax(self.probs))]


class FrameAnalyser:
    """Emotion probabilities for webcam frames; one instance serves many streams and threads.

    `threads` sets torch's and OpenCV's thread counts for the whole process: give each analysis
    worker one thread so that several workers do not fight over the cores. `margin` grows the
    face box on every side before cropping; it defaults to 0 because the Haar box already frames a
    face much as FER2013's crops do (measured on tests.support.face_frames: 0.93-1.0 of the crop's side),
    and any margin moves the input away from the original pipeline's. `moved_threshold=None` reuses
    the box for `detect_every` frames whatever happens under it. `detector` is "auto" (BlazeFace,
    falling back to Haar when its weights cannot be loaded), "blazeface", "haar" or a FaceDetector;
    `detect_width` is the Haar cascade's. `max_faces` caps the faces classified in one frame.
    `track_shifts` finds a tracked face that moved a little by matching its last crop
    (core.emotion.motion) before asking the detector.
    """

    def __init__(
        self,
        weights: Path | None = None,
        detect_every: int = 5,
        detect_width: int = 160,
        threads: int = 1,
        *,
        margin: float = 0.0,
        moved_threshold: float | None = 6.0,
        optimise: bool = True,
        detector: str | FaceDetector = "auto",
        max_faces: int = 8,
        track_shifts: bool = True,
    ) -> None:
        if detect_every < 1:
            raise ValueError("detect_every must be at least 1")
        if detect_width < 64:
            raise ValueError("detect_width must be at least 64 pixels")
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if max_faces < 1:
            raise ValueError("max_faces must be at least 1")
        path = Path(weights) if weights else DEFAULT_WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(f"emotion model weights not found at {path}")
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        self.detect_every, self.detect_width, self.margin = detect_every, detect_width, margin
        self.moved_threshold, self.max_faces, self.track_shifts = moved_threshold, max_faces, track_shifts
        self.weights = path
        self.classifier = EmotionClassifier(path, optimise)
        self.detector: FaceDetector = (
            make_detector(detector, detect_width=detect_width) if isinstance(detector, str) else detector
        )

    def detect_all(self, grey: np.ndarray) -> list[Face]:
        """Every face in a grey frame (boxes framed like FER2013 crops, and scores), largest first."""
        return self.detector.detect(grey)[: self.max_faces]

    def detect(self, grey: np.ndarray) -> Box | None:
        """The largest face in a grey frame, or None."""
        faces = self.detect_all(grey)
        return faces[0].box if faces else None

    def _locate(
        self, grey: np.ndarray, tracker: FaceTracker | None
    ) -> tuple[tuple[Box, ...], bool, tuple[np.ndarray, ...]]:
        """(boxes, whether the detector ran, 48x48 crops) for one frame, updating the stream's tracker."""
        size = (grey.shape[1], grey.shape[0])
        if tracker is not None:
            tracker.frames += 1
            if not tracker.needs_detection(size, self.detect_every):
                crops = tuple(
                    crop_face(grey, box, self.margin, angle)
                    for box, angle in zip(tracker.boxes, tracker.angles, strict=True)
                )
                # The boxes stay valid while no face under them has moved (or changed) noticeably.
                if self.moved_threshold is None or all(
                    _mean_abs_diff(now, then) <= self.moved_threshold
                    for now, then in zip(crops, tracker.crops, strict=True)
                ):
                    tracker.since_detect += 1
                    return tracker.boxes, False, crops
                shifted = self._shift(grey, tracker)
                if shifted is not None:
                    return shifted
                followed = self._follow(grey, tracker)
                if followed is not None:
                    return followed
        found = self.detect_all(grey)
        boxes, angles = tuple(f.box for f in found), tuple(f.angle for f in found)
        crops = tuple(crop_face(grey, f.box, self.margin, f.angle) for f in found)
        if tracker is not None:
            tracker.update(boxes, angles, crops, size)
        return boxes, True, crops

    def _shift(
        self, grey: np.ndarray, tracker: FaceTracker
    ) -> tuple[tuple[Box, ...], bool, tuple[np.ndarray, ...]] | None:
        """The tracked faces moved: each found again by matching its last crop near its box (a shift,
        no detector), or None when one does not match closely (then the detector looks)."""
        if not self.track_shifts:
            return None
        boxes = []
        for box, angle, crop in zip(tracker.boxes, tracker.angles, tracker.crops, strict=True):
            moved = shifted_box(grey, box, angle, crop, self.margin)
            if moved is None:
                return None
            boxes.append(moved)
        crops = tuple(
            crop_face(grey, box, self.margin, angle) for box, angle in zip(boxes, tracker.angles, strict=True)
        )
        tracker.follow(tuple(boxes), tracker.angles, crops)
        return tuple(boxes), False, crops

    def _follow(
        self, grey: np.ndarray, tracker: FaceTracker
    ) -> tuple[tuple[Box, ...], bool, tuple[np.ndarray, ...]] | None:
        """The tracked faces moved: look for each around its last box only (BlazeFace), or None when
        one is gone or the detector cannot look locally, so that the whole frame is searched. New
        faces are still found by the whole-frame search every `detect_every` frames."""
        if not isinstance(self.detector, LocalDetector) or len(tracker.boxes) > FOLLOW_MAX_FACES:
            return None
        found = []
        for box in tracker.boxes:
            face = self.detector.near(grey, box)
            if face is None:
                return None
            found.append(face)
        boxes, angles = tuple(f.box for f in found), tuple(f.angle for f in found)
        crops = tuple(crop_face(grey, f.box, self.margin, f.angle) for f in found)
        tracker.follow(boxes, angles, crops)
        return boxes, True, crops

    def classify_faces(self, faces: np.ndarray) -> np.ndarray:
        """(N, 48, 48) uint8 grey faces -> (N, 7) float32 probabilities: the shipped pipeline, one call."""
        return self.classifier(faces)

    def analyse(self, jpeg: bytes, tracker: FaceTracker | None = None) -> FrameScore:
        """One frame; ValueError if it is not a decodable JPEG (the tracker is then left as it was)."""
        return self.analyse_batch([(jpeg, tracker)])[0]

    def analyse_batch(self, items: Sequence[tuple[bytes, FaceTracker | None]]) -> list[FrameScore]:
        """Several frames (of one or many streams, in order) with one forward pass for all their faces.

        Every frame is decoded before any tracker changes, so a bad frame raises BadFrame (a
        ValueError whose `index` names it) and leaves all trackers as they were.
        """
        greys = []
        for i, (jpeg, _) in enumerate(items):
            try:
                greys.append(decode_grey(jpeg))
            except ValueError as exc:
                raise BadFrame(f"frame {i + 1} of {len(items)}: {exc}", i) from None
        return self.analyse_pixels(list(zip(greys, (t for _, t in items), strict=True)))

    def analyse_pixels(self, items: Sequence[tuple[np.ndarray, FaceTracker | None]]) -> list[FrameScore]:
        """Like analyse_batch, for frames already decoded to grey uint8 (H, W) arrays."""
        for i, (grey, _) in enumerate(items):
            if not isinstance(grey, np.ndarray) or grey.ndim != 2 or grey.dtype != np.uint8 or not grey.size:
                raise BadFrame(f"frame {i + 1} of {len(items)}: expected a grey uint8 (H, W) array", i)
        greys = [grey for grey, _ in items]
        trackers = sorted({id(t): t for _, t in items if t is not None}.values(), key=id)
        for t in trackers:  # a fixed order, so two threads sharing trackers cannot deadlock
            t.lock.acquire()
        try:
            located = [self._locate(grey, tracker) for grey, (_, tracker) in zip(greys, items, strict=True)]
        finally:
            for t in trackers:
                t.lock.release()
        # Every face of every frame in one forward pass.
        crops = [crop for _, _, frame_crops in located for crop in frame_crops]
        faces = np.zeros((len(crops), INPUT_SIZE, INPUT_SIZE), np.uint8)
        for row, crop in enumerate(crops):
            faces[row] = crop
        probs = self.classify_faces(faces)
        scores, row = [], 0
        for boxes, detected, _ in located:
            found = []
            for box in boxes:
                found.append(FaceScore(box, tuple(float(p) for p in probs[row])))
                row += 1
            if found:
                scores.append(FrameScore(found[0].probs, found[0].box, detected, tuple(found)))
            else:
                scores.append(FrameScore(None, None, detected))
        return scores
