"""The performer's summary: the timeline PNG and the windows CSV (pandas)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from PIL import Image

from core.stage.summary import CSV_COLUMNS, SIZE, timeline_png, windows_csv, write_summary
from core.stage.windows import StageWindow, summarise
from core.values.emotions import EMOTIONS


def probs(emotion: str, p: float) -> tuple[float, ...]:
    return tuple(p if e == emotion else (1 - p) / 6 for e in EMOTIONS)


def some_windows() -> list[StageWindow]:
    return [
        summarise(0, 0.0, 20.0, [[probs("happy", 0.8)] * 5] * 10, "neutral"),
        summarise(1, 20.0, 40.0, [[]] * 10, "neutral"),
        summarise(2, 40.0, 55.5, [[probs("surprise", 0.6)] * 3] * 8, "neutral"),
    ]


def test_the_csv_has_one_row_per_window() -> None:
    frame = pd.read_csv(io.StringIO(windows_csv(some_windows())))
    assert tuple(frame.columns) == CSV_COLUMNS
    assert list(frame["emotion"]) == ["happy", "neutral", "surprise"]
    assert list(frame["fallback"]) == [False, True, False]
    assert list(frame["faces"]) == [5, 0, 3]
    assert frame["confidence"][0] == 0.8 and pd.isna(frame["confidence"][1])
    assert frame["end_s"][2] == 55.5
    means = [float(frame[f"mean_{e}"][0]) for e in EMOTIONS]
    assert abs(sum(means) - 1) < 1e-3


def test_the_timeline_is_a_png_in_both_languages(tmp_path: Path) -> None:
    for locale in ("en", "ko"):
        image = Image.open(io.BytesIO(timeline_png(some_windows(), "neutral", 20, locale)))
        assert image.format == "PNG" and image.size == SIZE
    # The happy window is drawn in its stage colour: the strip above the chart is yellow there.
    rgb = Image.open(io.BytesIO(timeline_png(some_windows(), "neutral", 20))).convert("RGB")
    r, g, b = rgb.getpixel((200, 100))  # type: ignore[misc]
    assert r > 200 and g > 180 and b < 120
    empty = Image.open(io.BytesIO(timeline_png([], "sad", 20)))
    assert empty.size == SIZE
    png, csv = write_summary(tmp_path / "out", some_windows(), "neutral", 20)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and csv.read_text().startswith("window,")
