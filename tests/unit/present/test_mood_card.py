"""The mood card PNG: size, swatch colours, chart bars, Korean labels."""

from __future__ import annotations

import io
import itertools

import numpy as np
from PIL import Image

from core.colour.psychology import EMOTION_PALETTES, emotion_from_names, mood_colours
from core.present.mood_card import (
    CARD_SIZE,
    CHART_TOP,
    ROW_HEIGHT,
    hangul_font_path,
    render_mood_card,
    swatch_boxes,
)
from core.values.emotions import EMOTIONS
from core.values.results import EmotionResult, EmotionScore, MoodResult

CHANGES = dict(zip(EMOTIONS, (-0.02, 0.0, 0.01, 0.31, -0.08, 0.12, -0.25), strict=True))


def _result(declared: bool = False) -> MoodResult:
    named = emotion_from_names("happy", ["surprise", "neutral"])
    if declared:
        emotion = named
    else:
        scores = tuple(EmotionScore(e, 0.2, 0.2 + d, d, d * 3, 0.01, 40, 40) for e, d in CHANGES.items())
        emotion = EmotionResult("happy", ("surprise", "neutral"), named.strengths, scores, "change", (40, 40))
    return MoodResult("s-1", emotion, mood_colours(emotion), ())


def _image(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.verify()  # a complete, valid PNG
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == CARD_SIZE
    return np.asarray(image.convert("RGB"))


def test_swatches_have_the_mood_colours() -> None:
    result = _result()
    pixels = _image(render_mood_card(result, "en"))
    boxes = swatch_boxes(len(result.colours))
    assert len(boxes) == 5
    for colour, (left, top, right, bottom) in zip(result.colours, boxes, strict=True):
        inner = pixels[top + 2 : bottom - 1, left + 2 : right - 1].reshape(-1, 3)
        assert (inner == colour.rgb).all(), colour.name
    # Swatches sit side by side inside the card without overlapping.
    assert all(a[2] < b[0] for a, b in itertools.pairwise(boxes))
    assert boxes[-1][2] < CARD_SIZE[0]


def _bar_columns(pixels: np.ndarray, row: int, emotion: str) -> np.ndarray:
    """x positions in the emotion's chart row painted in its bar colour."""
    y = CHART_TOP + row * ROW_HEIGHT + ROW_HEIGHT // 2
    return np.flatnonzero((pixels[y] == EMOTION_PALETTES[emotion][0].rgb).all(axis=1))


def test_chart_draws_a_bar_per_changed_emotion() -> None:
    pixels = _image(render_mood_card(_result(), "en"))
    bars = {e: _bar_columns(pixels, row, e) for row, e in enumerate(EMOTIONS)}
    for emotion, change in CHANGES.items():
        if abs(change) >= 0.05:
            assert bars[emotion].size > 20, emotion  # long enough to see
        if change == 0:
            assert bars[emotion].size == 0, emotion
    # The biggest change (happy, +0.31) has the longest bar; rises and falls sit on either side of zero.
    assert max(bars, key=lambda e: bars[e].size) == "happy"
    assert bars["happy"].min() > bars["neutral"].max()


def test_korean_card_uses_a_hangul_font_and_declared_strengths() -> None:
    assert hangul_font_path() is not None, "make system-deps installs fonts-noto-cjk"
    result = _result(declared=True)
    korean = _image(render_mood_card(result, "ko"))
    english = _image(render_mood_card(result, "en"))
    top, bottom = swatch_boxes(5)[0][1], swatch_boxes(5)[0][3]
    # Same swatches, different words around them.
    assert (korean[top:bottom] == english[top:bottom]).all()
    assert (korean[:top] != english[:top]).any()
    for colour, (left, t, right, b) in zip(result.colours, swatch_boxes(5), strict=True):
        assert tuple(korean[(t + b) // 2, (left + right) // 2]) == colour.rgb
