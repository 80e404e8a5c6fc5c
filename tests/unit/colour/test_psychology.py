"""The emotion colour table, mood colours (weights, strength -> intensity) and emotion_from_names."""

from __future__ import annotations

import numpy as np
import pytest

from core.colour.ciede2000 import ciede2000
from core.colour.psychology import (
    BASIC_COLOURS,
    DUPLICATE_DELTA_E,
    EMOTION_PALETTES,
    SOFTEN_DELTA_E,
    SOURCES,
    basic_colour_name,
    colour_name,
    emotion_from_names,
    intensify,
    mood_colours,
    shown_colour_name,
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


def _hue(lab: tuple[float, float, float] | np.ndarray) -> float:
    return float(np.degrees(np.arctan2(lab[2], lab[1])))


@pytest.mark.parametrize("strength", [0.0, 0.25, 0.5, 0.75])
def test_weaker_feelings_soften_but_keep_their_colour(strength: float) -> None:
    for emotion, entries in EMOTION_PALETTES.items():
        for entry in entries:
            table = srgb_to_lab(entry.rgb)
            _, lab = intensify(entry.rgb, strength)
            gap = float(ciede2000(np.array(lab), table))
            # At most SOFTEN_DELTA_E from the table colour (less where the path to pale ends first), ...
            assert gap <= (1 - strength) * SOFTEN_DELTA_E + 0.6, (emotion, entry.name, gap)
            # ... never darker or more saturated, ...
            assert lab[0] >= table[0] - 0.5 and _chroma(lab) <= _chroma(tuple(table)) + 0.5
            # ... and with the same hue wherever there is a hue to keep.
            if _chroma(tuple(table)) > 10:
                turn = (_hue(lab) - _hue(table) + 180) % 360 - 180
                assert abs(turn) < 3, (emotion, entry.name, turn)


def test_a_weak_surprise_is_still_magenta_violet_and_cyan() -> None:
    weak = mood_colours(emotion_from_names("surprise", strengths={"surprise": 0.0}), primary_weight=1.0)
    families = [basic_colour_name(c.lab) for c in weak]
    assert families[0] in ("magenta", "pink") and families[1] in ("purple", "lavender")
    assert families[2] in ("cyan", "light blue", "teal")
    assert min(_chroma(c.lab) for c in weak) > 20  # soft, not grey


def test_the_swatch_name_is_the_name_of_the_colour_shown() -> None:
    names = {
        name: srgb_to_lab([int(h[i : i + 2], 16) for i in (1, 3, 5)])
        for name, (h, _) in BASIC_COLOURS.items()
    }
    for emotion in EMOTION_PALETTES:
        own = {e.name: srgb_to_lab(e.rgb) for e in EMOTION_PALETTES[emotion]}
        for strength in (1.0, 0.6, 0.3, 0.0):
            others = [s for s in EMOTIONS if s != emotion][:2]
            mood = emotion_from_names(
                emotion, others, strengths={emotion: strength, **dict.fromkeys(others, strength)}
            )
            for colour in mood_colours(mood):
                assert (colour.name, colour.name_ko) == shown_colour_name(colour.emotion, colour.lab)
                vocabulary = {
                    **names,
                    **{e.name: srgb_to_lab(e.rgb) for e in EMOTION_PALETTES[colour.emotion]},
                }
                gaps = {n: float(ciede2000(lab, np.array(colour.lab))) for n, lab in vocabulary.items()}
                assert gaps[colour.name] <= min(gaps.values()) + 1e-9, (
                    colour.emotion,
                    colour.hex,
                    colour.name,
                )
                assert colour_name(colour, "ko") == colour.name_ko != ""
            if strength == 1.0:  # at full strength the primary's colours keep the table's names
                assert [c.name for c in mood_colours(mood)[:3]] == list(own)


def test_a_weak_black_stays_black() -> None:
    for emotion in ("angry", "fear", "sad"):
        black = next(e for e in EMOTION_PALETTES[emotion] if e.name == "black")
        _, lab = intensify(black.rgb, 0.0)
        assert lab[0] < 25 and shown_colour_name(emotion, lab)[0] == "black"
