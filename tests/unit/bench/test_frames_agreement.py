"""bench.frames' split of top-emotion agreement, on a few real clips (untimed figures only)."""

from __future__ import annotations

from bench.frames import BaselinePipeline, measure_size
from core.emotion.frames import FrameAnalyser
from models.weights import DEFAULT_WEIGHTS


def test_without_shortcuts_ours_agrees_with_itself_detecting_every_frame() -> None:
    plain = FrameAnalyser(
        DEFAULT_WEIGHTS, threads=1, detect_every=1, moved_threshold=None, track_shifts=False
    )
    baseline = BaselinePipeline(DEFAULT_WEIGHTS)
    r = measure_size(plain, baseline, (320, 240), clips=2, length=3, seed=5, streams=1)
    assert r.agreement_every_frame == 1.0, "no reuse and no crop matching: the same computation"
    assert r.agreement_both == r.agreement, "every one of these frames has a face both pipelines find"
    assert r.face_rate == r.baseline_face_rate == 1.0
