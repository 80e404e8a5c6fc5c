"""The emotion colour table, mood colours (weights, strength -> intensity) and emotion_from_names."""

from __future__ import annotations

import numpy as np
import pytest

from core.colour.ciede2000 import ciede2000
from core.colour.psychology import (
    DUPLICATE_DELTA_E,
    EMOTION_PALETTES,
    SOURCES,
    basic_colour_name,
    colour_name,
    emotion_from_names,
    intensify,
    mood_colours,
)
from core.colour.space import srgb_to_lab
from core.emotion.stats import DECLARED_NEIGHBOURS
from core.values.emotions import EMOTIONS


def _chroma(lab: tuple[float, float, float]) -> float:
    return float(np.hypot(lab[1], lab[2]))


def test_table_covers_every_emotion_with_sourced_colours() -> None:
    assert set(EMOTION_PALETTES) == set(EMOTIONS)
    for emotion, entries in EMOTION_PALETTES.items():
        assert len(entries) == 3, emotion
        assert sum(e.share for e in entries) == pytest.approx(1.0)
        assert [e.share for e in entries] == sorted((e.share for e in entries), reverse=True)
        for e in entries:
            assert e.evidence in ("robust", "reported", "design")
            if e.evidence != "design":  # research-backed rows name their source
                assert any(key in e.note for key in SOURCES), (emotion, e.name)
            assert e.name_ko and e.hex.startswith("#") and len(e.hex) == 7


def test_robust_links_from_the_research() -> None:
    def lab(emotion: str, i: int = 0) -> np.ndarray:
        return srgb_to_lab(EMOTION_PALETTES[emotion][i].rgb)

    anger = lab("angry")  # red: strongly positive a*, hue angle near 30-40°
    assert anger[1] > 50 and 0 < np.degrees(np.arctan2(anger[2], anger[1])) < 60
    joy = lab("happy")  # yellow: light, strongly positive b*
    assert joy[0] > 75 and joy[2] > 60
    sad = [lab("sad", i) for i in range(3)]
    assert any(c[0] < 15 for c in sad), "black is among sadness's colours"
    assert any(_chroma(tuple(c)) < 6 and 35 < c[0] < 65 for c in sad), "so is grey"
    assert lab("fear")[0] < 15  # black first for fear


def test_mood_colours_weights_and_order() -> None:
    emotion = emotion_from_names("happy", ["surprise", "neutral"])
    colours = mood_colours(emotion, primary_weight=0.6)
    assert [c.emotion for c in colours] == ["happy"] * 3 + ["surprise", "neutral"]
    assert sum(c.weight for c in colours) == pytest.approx(1.0, abs=1e-5)
    primary = sum(c.weight for c in colours if c.emotion == "happy")
    assert primary == pytest.approx(0.6, abs=1e-5)
    for name in ("surprise", "neutral"):
        assert sum(c.weight for c in colours if c.emotion == name) < primary
    # Full strength: the primary's colours are exactly the table's, and Lab agrees with sRGB.
    assert [c.rgb for c in colours[:3]] == [e.rgb for e in EMOTION_PALETTES["happy"]]
    for c in colours:
        np.testing.assert_allclose(c.lab, srgb_to_lab(c.rgb), atol=1e-3)


def test_primary_weight_must_outweigh_each_secondary() -> None:
    emotion = emotion_from_names("sad")
    with pytest.raises(ValueError, match="primary_weight"):
        mood_colours(emotion, primary_weight=0.3)
    only = mood_colours(emotion, primary_weight=1.0)
    assert {c.emotion for c in only} == {"sad"} and len(only) == 3


def test_strength_sets_lightness_and_chroma() -> None:
    red = EMOTION_PALETTES["angry"][0].rgb
    full_rgb, full = intensify(red, 1.0)
    _, half = intensify(red, 0.5)
    _, weak = intensify(red, 0.0)
    assert full_rgb == red
    assert _chroma(full) > _chroma(half) > _chroma(weak)
    assert full[0] < half[0] < weak[0] < 78  # lighter, towards a pale L* = 78, never past it
    strong = mood_colours(emotion_from_names("angry", strengths={"angry": 1.0}))
    faint = mood_colours(emotion_from_names("angry", strengths={"angry": 0.2}))
    assert _chroma(strong[0].lab) > _chroma(faint[0].lab)
    with pytest.raises(ValueError, match="between 0 and 1"):
        intensify(red, 1.5)


def test_secondary_colours_do_not_repeat_chosen_ones() -> None:
    # Anger's black and fear's black at full strength are the same colour: fear takes its next one.
    emotion = emotion_from_names("angry", ["fear", "sad"], strengths={"fear": 1.0, "sad": 1.0})
    colours = mood_colours(emotion)
    fear = next(c for c in colours if c.emotion == "fear")
    assert fear.name != "black"
    labs = np.array([c.lab for c in colours])
    gaps = ciede2000(labs[:, None, :], labs[None, :, :]) + np.eye(len(colours)) * 100
    assert gaps.min() >= DUPLICATE_DELTA_E


def test_emotion_from_names_fills_and_checks() -> None:
    filled = emotion_from_names("fear")
    assert filled.secondary == DECLARED_NEIGHBOURS["fear"]
    assert filled.method == "declared" and filled.scores == ()
    assert filled.strengths["fear"] == 1.0 and filled.strengths[filled.secondary[0]] == 0.5
    one = emotion_from_names("Happy", ["sad"], strengths={"sad": 0.9})
    assert one.primary == "happy" and one.secondary[0] == "sad" and one.strengths["sad"] == 0.9
    assert one.secondary[1] not in ("happy", "sad")
    with pytest.raises(ValueError, match="unknown emotion 'bored'"):
        emotion_from_names("bored")
    with pytest.raises(ValueError, match="must all differ"):
        emotion_from_names("sad", ["sad"])
    with pytest.raises(ValueError, match="at most two"):
        emotion_from_names("sad", ["fear", "angry", "happy"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        emotion_from_names("sad", strengths={"sad": 2})


def test_colour_names_in_both_languages() -> None:
    assert basic_colour_name(srgb_to_lab((214, 40, 40))) == "red"
    assert basic_colour_name(srgb_to_lab((20, 20, 22)), "ko") == "검정"
    colours = mood_colours(emotion_from_names("happy"))
    assert colour_name(colours[0], "ko") == "노랑" and colour_name(colours[0], "en") == "sunny yellow"
