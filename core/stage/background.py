"""A window's stage background, as the stage page draws it: the emotion's colours, how bright and
lively, a fresh seed, and how long to cross-fade (the page's contract, see webcam_page/static/stage.js).

As in the concert capstone, confidence sets brightness and intensity. The mean probability of a
window's dominant emotion is at least 1/7 (chance over seven emotions), so strength measures how far
above chance it is: strength = (confidence - 1/7) / (1 - 1/7), clipped to 0..1. Strength drives:
- the colours: each of the emotion's three table colours (core.colour.psychology) through
  `intensify`, the same rule the mood colours use;
- brightness = 0.5 + 0.5 x sqrt(strength) (the page dims the whole picture by it; the square root
  keeps the usual crowd confidences, 0.5-0.7, bright enough for a yellow to stay yellow);
- motion = 0.35 + 0.65 x strength (how fast the shapes drift).
A fallback window (no faces) shows the intended emotion at FALLBACK_STRENGTH. Every background gets
a new random seed, so the procedural picture is never the same twice, even for the same emotion.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

from core.colour.psychology import EMOTION_PALETTES, intensify
from core.stage.windows import N_EMOTIONS, StageWindow
from core.values.emotions import check_emotion

CHANCE = 1.0 / N_EMOTIONS
FALLBACK_STRENGTH = 0.8  # the intended feeling, a little below full: nobody was read
MIN_BRIGHTNESS = 0.5
MIN_MOTION = 0.35


@dataclass(frozen=True)
class StageColour:
    hex: str
    rgb: tuple[int, int, int]
    name: str
    name_ko: str
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "hex": self.hex,
            "rgb": list(self.rgb),
            "name": self.name,
            "name_ko": self.name_ko,
            "share": self.share,
        }


@dataclass(frozen=True)
class Background:
    emotion: str
    fallback: bool
    confidence: float | None
    strength: float
    brightness: float
    motion: float
    seed: int
    colours: tuple[StageColour, ...]
    fade_ms: int
    window: int | None  # the window it shows, None before the first

    def to_dict(self) -> dict[str, Any]:
        return {
            "emotion": self.emotion,
            "fallback": self.fallback,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "strength": round(self.strength, 4),
            "brightness": round(self.brightness, 4),
            "motion": round(self.motion, 4),
            "seed": self.seed,
            "colours": [c.to_dict() for c in self.colours],
            "fade_ms": self.fade_ms,
            "window": self.window,
        }


def strength_of(confidence: float | None) -> float:
    """0..1: how far above chance the confidence is; FALLBACK_STRENGTH when nothing was measured."""
    if confidence is None:
        return FALLBACK_STRENGTH
    if confidence != confidence:  # NaN
        raise ValueError("confidence must be a number")
    return min(1.0, max(0.0, (float(confidence) - CHANCE) / (1.0 - CHANCE)))


def stage_colours(emotion: str, strength: float) -> tuple[StageColour, ...]:
    """The emotion's three table colours at this strength, strongest link first."""
    out = []
    for entry in EMOTION_PALETTES[check_emotion(emotion)]:
        rgb, _ = intensify(entry.rgb, strength)
        hex_ = "#{:02x}{:02x}{:02x}".format(*rgb)
        out.append(StageColour(hex_, rgb, entry.name, entry.name_ko, entry.share))
    return tuple(out)


def new_seed() -> int:
    """A fresh random seed (31 bits, exact in JavaScript)."""
    return secrets.randbits(31)


def background(
    emotion: str,
    confidence: float | None,
    *,
    fallback: bool,
    fade_seconds: float,
    seed: int | None = None,
    window: int | None = None,
) -> Background:
    strength = strength_of(confidence)
    return Background(
        emotion=check_emotion(emotion),
        fallback=fallback,
        confidence=confidence,
        strength=strength,
        brightness=MIN_BRIGHTNESS + (1 - MIN_BRIGHTNESS) * math.sqrt(strength),
        motion=MIN_MOTION + (1 - MIN_MOTION) * strength,
        seed=new_seed() if seed is None else int(seed),
        colours=stage_colours(emotion, strength),
        fade_ms=round(fade_seconds * 1000),
        window=window,
    )


def window_background(window: StageWindow, fade_seconds: float, seed: int | None = None) -> Background:
    """The background for a closed window (its emotion, or the intended one on fallback)."""
    return background(
        window.emotion,
        window.confidence,
        fallback=window.fallback,
        fade_seconds=fade_seconds,
        seed=seed,
        window=window.index,
    )


def opening_background(intended: str, fade_seconds: float, seed: int | None = None) -> Background:
    """Before the first window closes, the stage shows the intended feeling."""
    return background(intended, None, fallback=True, fade_seconds=fade_seconds, seed=seed)
