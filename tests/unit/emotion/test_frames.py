"""core.frames: decoding, face finding, box reuse and batching on real FER2013 faces in webcam-like frames."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from core.emotion.decode import BadFrame, decode_grey, jpeg_size
from core.emotion.detect import FaceTracker
from core.emotion.frames import FrameAnalyser, FrameScore
from models.net import EMOTIONS
from tests.support.face_frames import face_clips, face_frames, face_jpeg_for, labelled_frames, no_face_frames


@pytest.fixture(scope="module")
def analyser() -> FrameAnalyser:
    return FrameAnalyser(threads=1)


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / min(a[2] * a[3], b[2] * b[3])


def _assert_same_probs(got: FrameScore, want: FrameScore) -> None:
    assert got.probs is not None and want.probs is not None
    np.testing.assert_allclose(got.probs, want.probs, atol=1e-5)


@pytest.mark.parametrize("size", [(640, 480), (320, 240)])
def test_finds_the_face_where_it_was_put(analyser: FrameAnalyser, size: tuple[int, int]) -> None:
    for frame in labelled_frames(3, size, seed=3):
        score = analyser.analyse(frame.jpeg)
        assert score.face and score.detected
        assert score.box is not None and _overlap(score.box, frame.box) > 0.6
        assert score.probs is not None
        assert len(score.probs) == len(EMOTIONS)
        assert sum(score.probs) == pytest.approx(1.0, abs=1e-5)
        assert all(0.0 <= p <= 1.0 for p in score.probs)
        assert score.top in EMOTIONS


def test_a_plain_happy_face_reads_as_happy(analyser: FrameAnalyser) -> None:
    score = analyser.analyse(face_jpeg_for("happy"))
    assert score.top == "happy"


def test_no_face_on_a_blank_frame_or_an_empty_room(analyser: FrameAnalyser) -> None:
    blank = _jpeg(np.full((480, 640, 3), 128, np.uint8))
    for jpeg in [blank, *no_face_frames(2, seed=4)]:
        score = analyser.analyse(jpeg)
        assert score == FrameScore(None, None, True)
        assert not score.face and score.top is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not a jpeg",
        cv2.imencode(".png", np.zeros((32, 32), np.uint8))[1].tobytes(),
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",  # a JPEG start with nothing after it
    ],
    ids=["empty", "text", "png", "truncated"],
)
def test_non_jpeg_bytes_raise_value_error(analyser: FrameAnalyser, data: bytes) -> None:
    with pytest.raises(ValueError):
        analyser.analyse(data)


def test_a_huge_declared_size_is_refused_before_decoding() -> None:
    jpeg = bytearray(_jpeg(np.zeros((16, 16), np.uint8)))
    sof = jpeg.find(b"\xff\xc0")
    assert sof > 0
    jpeg[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") * 2  # height, width
    assert jpeg_size(bytes(jpeg)) == (20000, 20000)
    with pytest.raises(ValueError, match="larger than allowed"):
        decode_grey(bytes(jpeg))


def test_tracker_reuses_the_box_while_the_face_stays_put(analyser: FrameAnalyser) -> None:
    frame = face_frames(1, seed=5)[0]
    tracker = FaceTracker()
    scores = [analyser.analyse(frame, tracker) for _ in range(11)]
    # detect_every=5 (the default): the detector runs on frames 1, 6 and 11, the box is reused in between.
    assert [s.detected for s in scores] == [True, False, False, False, False] * 2 + [True]
    assert len({s.box for s in scores}) == 1
    assert len({s.probs for s in scores}) == 1
    assert tracker.frames == 11


def test_tracker_detects_again_when_the_picture_changes(analyser: FrameAnalyser) -> None:
    face, other = face_frames(2, seed=6)
    tracker = FaceTracker()
    assert analyser.analyse(face, tracker).detected
    changed = analyser.analyse(other, tracker)
    assert changed.detected and changed.face
    assert analyser.analyse(_jpeg(np.zeros((480, 640), np.uint8)), tracker) == FrameScore(None, None, True)
    assert tracker.box is None  # nothing to reuse after a miss
    resized = analyser.analyse(face_frames(1, size=(320, 240), seed=6)[0], tracker)
    assert resized.detected and resized.face


def test_without_the_stillness_check_a_box_is_reused_blindly() -> None:
    blind = FrameAnalyser(detect_every=2, moved_threshold=None)
    face = face_frames(1, seed=7)[0]
    empty = _jpeg(np.zeros((480, 640, 3), np.uint8))
    tracker = FaceTracker()
    first = blind.analyse(face, tracker)
    reused = blind.analyse(empty, tracker)
    assert reused.face and not reused.detected and reused.box == first.box
    assert blind.analyse(empty, tracker) == FrameScore(None, None, True)


def test_batch_equals_one_by_one(analyser: FrameAnalyser) -> None:
    frames = face_frames(4, seed=8) + no_face_frames(1, seed=8) + face_frames(2, size=(320, 240), seed=8)
    batch = analyser.analyse_batch([(f, None) for f in frames])
    single = [analyser.analyse(f) for f in frames]
    assert [s.box for s in batch] == [s.box for s in single]
    assert [s.face for s in batch] == [True] * 4 + [False] + [True] * 2
    for b, s in zip(batch, single, strict=True):
        if s.face:
            _assert_same_probs(b, s)


def test_batch_of_streams_matches_streams_one_by_one(analyser: FrameAnalyser) -> None:
    clips = face_clips(2, 4, seed=9)
    together = [FaceTracker(), FaceTracker()]
    batched = [
        analyser.analyse_batch([(c.frames[k], t) for c, t in zip(clips, together, strict=True)])
        for k in range(4)
    ]
    for i, clip in enumerate(clips):
        alone = FaceTracker()
        for k, frame in enumerate(clip.frames):
            single = analyser.analyse(frame, alone)
            assert batched[k][i].box == single.box and batched[k][i].detected == single.detected
            _assert_same_probs(batched[k][i], single)


def test_a_bad_frame_in_a_batch_is_named_and_changes_no_tracker(analyser: FrameAnalyser) -> None:
    good = face_frames(2, seed=10)
    tracker = FaceTracker()
    with pytest.raises(BadFrame) as err:
        analyser.analyse_batch([(good[0], tracker), (b"junk", tracker), (good[1], None)])
    assert err.value.index == 1 and "frame 2 of 3" in str(err.value)
    assert tracker.box is None and tracker.frames == 0
    assert analyser.analyse_batch([]) == []


def test_classify_faces_checks_its_input(analyser: FrameAnalyser) -> None:
    probs = analyser.classify_faces(np.zeros((3, 48, 48), np.uint8))
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert analyser.classify_faces(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)
    with pytest.raises(ValueError):
        analyser.classify_faces(np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError):
        analyser.classify_faces(np.zeros((2, 48, 48), np.float32))


def test_threads_may_share_one_analyser(analyser: FrameAnalyser) -> None:
    clips = face_clips(4, 3, size=(320, 240), seed=11)
    expected = []
    for clip in clips:
        tracker = FaceTracker()
        expected.append([analyser.analyse(f, tracker) for f in clip.frames])
    results: list[list[FrameScore] | None] = [None] * len(clips)

    def run(i: int) -> None:
        tracker = FaceTracker()
        results[i] = [analyser.analyse_batch([(f, tracker)])[0] for f in clip_frames[i]]

    clip_frames = [c.frames for c in clips]
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=True):
        assert got is not None
        assert [s.box for s in got] == [s.box for s in want]
        for g, w in zip(got, want, strict=True):
            _assert_same_probs(g, w)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        FrameAnalyser(detect_every=0)
    with pytest.raises(ValueError):
        FrameAnalyser(detect_width=10)
    with pytest.raises(FileNotFoundError):
        FrameAnalyser(weights=Path("/nonexistent/emotion_net.pt"))


def test_face_frames_are_deterministic_and_filter_by_label() -> None:
    from tests.support import face_frames as ff

    first = ff.labelled_frames(3, (320, 240), labels=["sad", "surprise"], seed=12)
    ff._labelled.cache_clear()
    again = ff.labelled_frames(3, (320, 240), labels=["sad", "surprise"], seed=12)
    assert [f.jpeg for f in first] == [f.jpeg for f in again]
    assert {f.label for f in first} <= {"sad", "surprise"}
    assert all(decode_grey(f.jpeg).shape == (240, 320) for f in first)
    sad = ff.labelled_frames(2, (320, 240), labels=[4], seed=13)
    assert {f.label for f in sad} == {"sad"} and [f.jpeg for f in sad] != [f.jpeg for f in first[:2]]
    clip = ff.face_clips(1, 3, (320, 240), seed=12)[0]
    assert len(clip.frames) == len(clip.boxes) == 3 and len(set(clip.frames)) == 3
    with pytest.raises(ValueError, match="unknown emotion"):
        ff.face_frames(1, labels=["bored"])
    assert ff.face_frames(0) == []


def test_a_face_that_moved_is_followed_near_its_box_and_the_whole_frame_searched_every_third(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A drifting head, with crop matching off: between whole-frame searches (every detect_every
    frames) the moved face is looked for around its last box only, and the boxes follow the head as
    the clip says it moved."""
    analyser = FrameAnalyser(detect_every=3, track_shifts=False)
    calls: list[str] = []
    detector = analyser.detector
    detect, near = detector.detect, detector.near  # type: ignore[attr-defined]

    def counted_detect(grey: np.ndarray) -> Any:
        calls.append("frame")
        return detect(grey)

    def counted_near(grey: np.ndarray, box: Any) -> Any:
        calls.append("near")
        return near(grey, box)

    monkeypatch.setattr(detector, "detect", counted_detect)
    monkeypatch.setattr(detector, "near", counted_near)
    [clip] = face_clips(1, length=9, seed=3)
    tracker = FaceTracker()
    scores = [analyser.analyse(frame, tracker) for frame in clip.frames]
    assert all(s.face for s in scores)
    assert calls.count("near") >= 4, calls  # the head drifts on most frames
    assert calls.count("frame") == 3, calls  # frames 1, 4 and 7, whatever the head does
    for score, truth in zip(scores, clip.boxes, strict=True):
        assert score.box is not None and _overlap(score.box, truth) > 0.5, (score.box, truth)


def test_a_drifting_head_is_followed_by_matching_its_crop_without_the_detector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default: a face that shifted a little is found by matching its last crop (no detector
    call), the whole frame is still searched every third frame, and the boxes follow the head."""
    analyser = FrameAnalyser(detect_every=3)
    calls: list[str] = []
    detector = analyser.detector
    detect = detector.detect

    def counted_detect(grey: np.ndarray) -> Any:
        calls.append("frame")
        return detect(grey)

    monkeypatch.setattr(detector, "detect", counted_detect)
    monkeypatch.setattr(detector, "near", lambda grey, box: calls.append("near"))
    [clip] = face_clips(1, length=9, seed=3)
    tracker = FaceTracker()
    scores = [analyser.analyse(frame, tracker) for frame in clip.frames]
    assert calls == ["frame"] * 3, calls  # frames 1, 4 and 7 only
    assert [s.detected for s in scores] == [True, False, False] * 3
    for score, truth in zip(scores, clip.boxes, strict=True):
        assert score.box is not None and _overlap(score.box, truth) > 0.5, (score.box, truth)
    # The matched boxes moved with the head, not stayed where the detector left them.
    assert len({s.box for s in scores[1:3]} | {scores[0].box}) == 3


def test_a_face_gone_from_its_box_sends_the_search_back_to_the_whole_frame() -> None:
    analyser = FrameAnalyser(detect_every=3)
    left, right = face_frames(2, seed=11)
    tracker = FaceTracker()
    first = analyser.analyse(left, tracker)
    assert first.box is not None
    image = cv2.imdecode(np.frombuffer(right, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    moved = np.roll(image, 320 - first.box[0], axis=1)  # the face jumps far from where it was
    second = analyser.analyse(_jpeg(moved), tracker)
    assert second.detected and second.face and second.box is not None
    assert _overlap(second.box, first.box) < 0.3
    assert tracker.since_detect == 1, "a whole-frame search ran"
