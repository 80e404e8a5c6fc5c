"""The stage's frame analyser: every face of a crowd, found by BlazeFace at `stage.detect_size`.

A webcam session follows one face near the camera, so its detector sees the frame at 224 px; an
audience camera sees many small faces, so the stage runs BlazeFace on a larger copy of the frame
(`stage.detect_size`, 448 px: on 30-face 640x480 crowd frames it finds about 9 in 10 faces, at 224 px
almost none) and classifies up to `stage.max_faces` of them in one pass. A face needs a BlazeFace
score of `stage.detect_threshold` (0.6, above MediaPipe's 0.5): at 448 px, 0.5 saw a face in about
1 of 10 synthetic empty rooms, which would keep a window from falling back on the intended feeling;
0.6 saw one in 1 of 200 and still found 88% of the faces of 30-face crowds (tests.support.crowd_frames).
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
    detector = make_detector(
        "auto", detect_width=a.detect_width, size=s.detect_size, threshold=s.detect_threshold
    )
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
