"""The stage's frame analyser: every face of a crowd, found by BlazeFace at `stage.detect_size`.

A webcam session follows one face near the camera, so its detector sees the frame at 224 px; an
audience camera sees many small faces, so the stage runs BlazeFace on a larger copy of the frame
(448 px by default: on bench.stage's 30-face 640x480 frames it finds about 9 in 10 faces, at 224 px
almost none) and classifies up to `stage.max_faces` of them in one pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Settings
    from core.emotion.frames import FrameAnalyser, FrameScore


def stage_analyser(settings: Settings, threads: int = 1) -> FrameAnalyser:
    from core.emotion.detectors import make_detector
    from core.emotion.frames import FrameAnalyser

    a, s = settings.analysis, settings.stage
    detector = make_detector("auto", detect_width=a.detect_width, size=s.detect_size)
    return FrameAnalyser(
        None,
        detect_every=a.detect_every,
        detect_width=a.detect_width,
        threads=threads,
        detector=detector,
        max_faces=s.max_faces,
    )


def readings(score: FrameScore) -> list[tuple[float, ...]]:
    """The seven probabilities of every face in a frame (what a window counts)."""
    return [face.probs for face in score.faces]
