"""The background payload the stage page draws: colours, brightness from confidence, fresh seeds."""

from __future__ import annotations

import pytest

from core.colour.psychology import EMOTION_PALETTES
from core.stage.background import (
    CHANCE,
    FALLBACK_STRENGTH,
    MIN_BRIGHTNESS,
    opening_background,
    stage_colours,
    strength_of,
    window_background,
)
from core.stage.windows import StageWindow
from core.values.emotions import EMOTIONS


def window(emotion: str, confidence: float | None, fallback: bool = False) -> StageWindow:
    means = tuple(confidence if e == emotion else 0.0 for e in EMOTIONS) if confidence else ()
    return StageWindow(2, 40.0, 60.0, emotion, confidence, 5, 500, 100, fallback, "neutral", means)


def test_strength_is_how_far_above_chance_the_confidence_is() -> None:
    assert strength_of(CHANCE) == 0.0 and strength_of(1.0) == 1.0
    assert strength_of(0.1) == 0.0  # below chance cannot happen for a dominant emotion, but clips
    assert strength_of((1 + CHANCE) / 2) == pytest.approx(0.5)
    assert strength_of(None) == FALLBACK_STRENGTH
    with pytest.raises(ValueError):
        strength_of(float("nan"))


def test_confidence_sets_brightness_motion_and_intensity() -> None:
    sure, unsure = window_background(window("happy", 0.95), 4), window_background(window("happy", 0.3), 4)
    assert sure.brightness > unsure.brightness >= MIN_BRIGHTNESS
    assert sure.motion > unsure.motion
    table = [e.hex for e in EMOTION_PALETTES["happy"]]
    assert [c.hex for c in window_background(window("happy", 1.0), 4).colours] == table
    assert [c.hex for c in unsure.colours] != table  # weaker: the softened colours
    assert [c.share for c in sure.colours] == [e.share for e in EMOTION_PALETTES["happy"]]


def test_the_payload_is_what_the_page_needs() -> None:
    bg = window_background(window("surprise", 0.6), 4.0, seed=1234)
    doc = bg.to_dict()
    assert set(doc) == {
        "emotion", "fallback", "confidence", "strength", "brightness", "motion", "seed", "colours",
        "fade_ms", "window",
    }  # fmt: skip
    assert doc["emotion"] == "surprise" and doc["fade_ms"] == 4000 and doc["seed"] == 1234
    assert doc["window"] == 2 and doc["fallback"] is False and doc["confidence"] == 0.6
    assert [c["name"] for c in doc["colours"]] == [e.name for e in EMOTION_PALETTES["surprise"]]
    assert all(c["hex"].startswith("#") and len(c["rgb"]) == 3 and c["name_ko"] for c in doc["colours"])


def test_every_background_gets_a_fresh_seed() -> None:
    seeds = {window_background(window("sad", 0.5), 4).seed for _ in range(50)}
    assert len(seeds) == 50 and all(0 <= s < 2**31 for s in seeds)


def test_fallback_and_opening_backgrounds_show_the_intended_feeling() -> None:
    bg = window_background(window("fear", None, fallback=True), 2)
    assert bg.fallback and bg.emotion == "fear" and bg.confidence is None
    assert bg.strength == FALLBACK_STRENGTH
    first = opening_background("angry", 3)
    assert first.fallback and first.emotion == "angry" and first.window is None and first.fade_ms == 3000
    assert len(stage_colours("neutral", 0.5)) == 3
