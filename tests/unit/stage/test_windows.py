"""The stage's window arithmetic: dominant emotion, confidence, faces, fallback, boundaries."""

from __future__ import annotations

import math

import pytest

from core.stage.windows import StageWindow, Windower, summarise, windows_of
from core.values.emotions import EMOTIONS


def probs(**values: float) -> tuple[float, ...]:
    """Seven probabilities: the named ones, the rest sharing what is left equally."""
    rest = (1.0 - sum(values.values())) / (len(EMOTIONS) - len(values))
    return tuple(values.get(e, rest) for e in EMOTIONS)


def test_the_dominant_emotion_is_the_highest_mean_over_every_face_in_every_frame() -> None:
    frames = [
        [probs(happy=0.9), probs(sad=0.6)],  # two faces
        [probs(happy=0.7), probs(sad=0.8), probs(happy=0.5)],
    ]
    w = summarise(0, 0.0, 20.0, frames, "neutral")
    happy = (0.9 + 0.7 + 0.5 + 0.4 / 6 + 0.2 / 6) / 5  # the sad faces give happy what they leave over
    sad = (0.6 + 0.8 + 0.1 / 6 + 0.3 / 6 + 0.5 / 6) / 5
    assert w.emotion == "happy" and not w.fallback
    assert w.confidence == pytest.approx(happy)
    assert dict(zip(EMOTIONS, w.means, strict=True))["sad"] == pytest.approx(sad)
    assert math.isclose(sum(w.means), 1.0)
    assert (w.faces, w.readings, w.frames) == (3, 5, 2)  # most faces at once, all readings


def test_many_lukewarm_faces_outweigh_one_certain_face() -> None:
    """Every reading counts once: a crowd's mild smiles beat one person's certain frown."""
    frames = [[probs(angry=1.0)] + [probs(happy=0.4, neutral=0.3)] * 4]
    assert summarise(0, 0, 1, frames, "sad").emotion == "happy"


def test_ties_go_to_the_first_emotion_in_model_order() -> None:
    w = summarise(0, 0, 1, [[probs(sad=0.5, happy=0.5)]], "neutral")
    assert w.emotion == "happy"  # happy comes before sad in EMOTIONS


def test_no_face_falls_back_on_the_intended_emotion() -> None:
    nothing: list[list[list[list[float]]]] = [[], [[], [], []]]
    for frames in nothing:
        w = summarise(3, 60.0, 80.0, frames, "Fear")
        assert w.fallback and w.emotion == w.intended == "fear"
        assert w.confidence is None and w.means == () and w.faces == w.readings == 0
    assert summarise(0, 0, 1, [[], []], "sad").frames == 2


def test_bad_readings_and_emotions_are_refused() -> None:
    with pytest.raises(ValueError, match="7 finite"):
        summarise(0, 0, 1, [[(0.5, 0.5)]], "sad")
    with pytest.raises(ValueError, match="finite"):
        summarise(0, 0, 1, [[(float("nan"),) * 7]], "sad")
    with pytest.raises(ValueError, match="unknown emotion"):
        Windower(20, "bored")
    with pytest.raises(ValueError):
        Windower(0, "sad")


def test_windows_start_at_the_first_frame_and_tile_the_time() -> None:
    w = Windower(10, "neutral")
    assert [w.open_since, w.open_until] == [None, None]
    assert w.add(5.0, [probs(happy=0.9)]) == []
    assert w.open_since == 5.0 and w.open_until == 15.0
    assert w.add(14.99, [probs(happy=0.8)]) == []
    [first] = w.add(15.0, [probs(sad=0.9)])  # a frame at the end belongs to the next window
    assert (first.index, first.start, first.end, first.frames, first.emotion) == (0, 5.0, 15.0, 2, "happy")
    # A gap with no frames closes empty windows: they fall back.
    closed = w.add(47.0, [probs(surprise=0.9)])
    assert [(c.index, c.start, c.end, c.fallback) for c in closed] == [
        (1, 15.0, 25.0, False),
        (2, 25.0, 35.0, True),
        (3, 35.0, 45.0, True),
    ]
    assert closed[0].emotion == "sad" and closed[1].frames == 0
    assert w.closed[-1] is closed[-1]


def test_advance_closes_windows_by_time_and_late_frames_are_dropped() -> None:
    w = Windower(2, "sad")
    w.add(0.0, [probs(happy=0.9)])
    assert w.advance(1.9) == []
    [done] = w.advance(2.5)
    assert done.emotion == "happy" and w.open_since == 2.0
    w.add(1.5, [probs(angry=0.9)])  # analysed after its window closed
    assert w.late == 1
    [empty] = w.advance(4.0)
    assert empty.fallback and empty.frames == 0


def test_the_intended_emotion_can_change_during_the_show() -> None:
    w = Windower(1, "sad")
    w.add(0.0, [])
    w.intended = "happy"
    [done] = w.advance(1.0)
    assert done.fallback and done.emotion == "happy"


def test_flush_ends_the_open_window_early_and_the_next_frame_starts_anew() -> None:
    w = Windower(10, "neutral")
    w.add(0.0, [probs(happy=0.9)])
    [part] = w.flush(4.0)
    assert (part.start, part.end, part.frames) == (0.0, 4.0, 1)
    assert [w.open_since] == [None] and w.flush(5.0) == []
    w.add(30.0, [probs(sad=0.9)])  # after a pause: no empty windows for the gap
    assert w.open_until == 40.0
    [late_part] = w.flush(31.0)
    assert late_part.index == 1 and late_part.emotion == "sad"
    # A window that ended exactly when the show did, and an empty partial one, are not repeated.
    w.add(50.0, [probs(happy=0.9)])
    closed = w.flush(60.0)
    assert [(c.start, c.end) for c in closed] == [(50.0, 60.0)]


def test_windows_of_a_recorded_run() -> None:
    frames = [(i / 10, [probs(happy=0.9)] if i < 25 else []) for i in range(45)]
    ws = windows_of(frames, 2.0, "fear")
    assert [(w.start, w.end, w.emotion, w.fallback, w.frames) for w in ws] == [
        (0.0, 2.0, "happy", False, 20),
        (2.0, 4.0, "happy", False, 20),  # 5 of its 20 frames show the face
        (4.0, 4.5, "fear", True, 5),  # the last window ends a frame after the last frame
    ]
    assert windows_of([], 2.0, "fear") == []


def test_to_dict_rounds_and_names_every_emotion() -> None:
    w = summarise(1, 20.0, 40.0, [[probs(happy=0.91234567)]], "sad")
    d = w.to_dict()
    assert d["confidence"] == 0.9123 and set(d["means"]) == set(EMOTIONS)
    assert {k: d[k] for k in ("window", "emotion", "faces", "fallback", "intended")} == {
        "window": 1,
        "emotion": "happy",
        "faces": 1,
        "fallback": False,
        "intended": "sad",
    }
    empty = StageWindow(0, 0, 1, "sad", None, 0, 0, 0, True, "sad").to_dict()
    assert empty["confidence"] is None and empty["means"] == {}
