"""The performer's summary at the end of a show: the mood timeline as a PNG chart (Pillow) and the
windows as a table (CSV, written with pandas).

The chart stacks each window's mean emotion probabilities (they sum to 1) over the show's time, with
a strip above naming each window's dominant emotion in its stage colour; windows that fell back on
the intended feeling (no faces) are hatched grey, and the faces seen are drawn underneath.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

from core.colour.psychology import EMOTION_PALETTES
from core.present.mood_card import AXIS, BACKGROUND, INK, MUTED, Font, card_locale, font, wrap
from core.present.words import emotion_name, say
from core.stage.windows import StageWindow
from core.values.emotions import EMOTIONS

# One colour per emotion in charts: its strongest stage colour (core.colour.psychology), as on the stage.
CHART_COLOURS: dict[str, str] = {e: EMOTION_PALETTES[e][0].hex for e in EMOTIONS}
CSV_COLUMNS = (
    "window",
    "start_s",
    "end_s",
    "emotion",
    "confidence",
    "faces",
    "readings",
    "frames",
    "fallback",
    "intended",
    *(f"mean_{e}" for e in EMOTIONS),
)

SIZE = (1000, 560)
MARGIN = 24
PLOT_LEFT, PLOT_RIGHT = 70, SIZE[0] - MARGIN
STRIP_TOP, STRIP_HEIGHT = 84, 34
PLOT_TOP, PLOT_BOTTOM = 134, 404
FACES_TOP, FACES_BOTTOM = 420, 470
LEGEND_TOP = 488
FALLBACK = (214, 214, 218)


def windows_table(windows: Sequence[StageWindow]) -> pd.DataFrame:
    """One row per window, columns CSV_COLUMNS (confidence and means empty on fallback windows)."""
    rows = []
    for w in windows:
        means = dict(zip(EMOTIONS, w.means, strict=True)) if w.means else {}
        rows.append(
            {
                "window": w.index,
                "start_s": round(w.start, 3),
                "end_s": round(w.end, 3),
                "emotion": w.emotion,
                "confidence": None if w.confidence is None else round(w.confidence, 4),
                "faces": w.faces,
                "readings": w.readings,
                "frames": w.frames,
                "fallback": w.fallback,
                "intended": w.intended,
                **{f"mean_{e}": (round(means[e], 4) if means else None) for e in EMOTIONS},
            }
        )
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def windows_csv(windows: Sequence[StageWindow]) -> str:
    return str(windows_table(windows).to_csv(index=False, lineterminator="\n"))


def _rgb(hex_: str) -> tuple[int, int, int]:
    return int(hex_[1:3], 16), int(hex_[3:5], 16), int(hex_[5:7], 16)


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def timeline_png(
    windows: Sequence[StageWindow], intended: str, window_seconds: float, locale: str = "en"
) -> bytes:
    """The mood timeline as PNG bytes (SIZE)."""
    lang = card_locale(locale)
    hangul = lang == "ko"
    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    title, body, small = font(24, hangul), font(15, hangul), font(12, hangul)
    draw.text((MARGIN, 16), say(lang, "stage.summary.title"), fill=INK, font=title)
    subtitle = say(
        lang,
        "stage.summary.subtitle",
        windows=len(windows),
        seconds=f"{window_seconds:g}",
        intended=emotion_name(lang, intended),
    )
    draw.text((MARGIN, 50), subtitle, fill=MUTED, font=body)
    if not windows:
        draw.text((PLOT_LEFT, PLOT_TOP + 40), say(lang, "stage.summary.empty"), fill=MUTED, font=body)
    else:
        _plot(image, draw, windows, lang, body, small)
    _legend(draw, lang, small)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _plot(
    draw_image: Image.Image,
    draw: ImageDraw.ImageDraw,
    windows: Sequence[StageWindow],
    lang: str,
    body: Font,
    small: Font,
) -> None:
    t0, t1 = windows[0].start, max(w.end for w in windows)
    span = max(t1 - t0, 1e-6)

    def x(t: float) -> int:
        return round(PLOT_LEFT + (t - t0) / span * (PLOT_RIGHT - PLOT_LEFT))

    height = PLOT_BOTTOM - PLOT_TOP
    # Axes: 0, 50 and 100% of the audience's expression.
    for frac in (0.0, 0.5, 1.0):
        y = round(PLOT_BOTTOM - frac * height)
        draw.line((PLOT_LEFT, y, PLOT_RIGHT, y), fill=AXIS)
        draw.text((MARGIN, y - 7), f"{frac:.0%}", fill=MUTED, font=small)
    most = max([w.faces for w in windows] + [1])
    for w in windows:
        left, right = x(w.start), max(x(w.start) + 1, x(w.end) - 2)
        # The strip: the window's emotion in its stage colour, named when there is room.
        if w.fallback:
            _hatch(draw_image, (left, STRIP_TOP, right, STRIP_TOP + STRIP_HEIGHT))
        else:
            draw.rectangle(
                (left, STRIP_TOP, right, STRIP_TOP + STRIP_HEIGHT), fill=EMOTION_PALETTES[w.emotion][0].rgb
            )
        name = emotion_name(lang, w.emotion)
        label = f"{name} *" if w.fallback else f"{name} · {(w.confidence or 0):.0%}"
        if draw.textlength(label, font=small) + 8 > right - left:
            label = name if not w.fallback else f"{name} *"
        if draw.textlength(label, font=small) + 8 <= right - left:
            rgb = EMOTION_PALETTES[w.emotion][0].rgb
            bright = w.fallback or 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 150
            draw.text((left + 5, STRIP_TOP + 10), label, fill=INK if bright else (255, 255, 255), font=small)
        # The stack: mean probability of each emotion in the window, in EMOTIONS order from the bottom.
        if w.fallback:
            _hatch(draw_image, (left, PLOT_TOP, right, PLOT_BOTTOM))
        else:
            bottom = float(PLOT_BOTTOM)
            for emotion, mean in zip(EMOTIONS, w.means, strict=True):
                top = bottom - mean * height
                if round(bottom) > round(top):
                    draw.rectangle(
                        (left, round(top), right, round(bottom)), fill=_rgb(CHART_COLOURS[emotion])
                    )
                bottom = top
        # Faces seen: a bar per window, with its count.
        fh = round(w.faces / most * (FACES_BOTTOM - FACES_TOP - 16))
        if fh:
            draw.rectangle((left, FACES_BOTTOM - fh, right, FACES_BOTTOM), fill=(150, 150, 160))
        count = str(w.faces)
        if draw.textlength(count, font=small) + 6 <= right - left:
            draw.text((left + 4, FACES_BOTTOM - fh - 15), count, fill=MUTED, font=small)
    draw.text((MARGIN, FACES_TOP + 20), say(lang, "stage.summary.faces"), fill=MUTED, font=small)
    for t in _ticks(t0, t1):
        draw.line((x(t), FACES_BOTTOM, x(t), FACES_BOTTOM + 4), fill=MUTED)
        draw.text((x(t) - 12, FACES_BOTTOM + 6), _clock(t), fill=MUTED, font=small)


def _hatch(image: Image.Image, box: tuple[int, int, int, int]) -> None:
    """A light grey box with diagonal hatching: nothing measured here."""
    left, top, right, bottom = box
    tile = Image.new("RGB", (right - left + 1, bottom - top + 1), FALLBACK)
    pen = ImageDraw.Draw(tile)
    for x0 in range(-tile.height, tile.width, 10):
        pen.line((x0, tile.height, x0 + tile.height, 0), fill=(238, 238, 242), width=3)
    image.paste(tile, (left, top))


def _ticks(t0: float, t1: float) -> list[float]:
    span = t1 - t0
    step = next((s for s in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800) if span / s <= 10), 3600)
    first = (int(t0) // step + (1 if int(t0) % step else 0)) * step
    return [float(t) for t in range(first, int(t1) + 1, step)]


def _legend(draw: ImageDraw.ImageDraw, lang: str, small: Font) -> None:
    x = PLOT_LEFT
    y = LEGEND_TOP + 12
    for emotion in EMOTIONS:
        draw.rectangle((x, y, x + 14, y + 14), fill=_rgb(CHART_COLOURS[emotion]))
        name = emotion_name(lang, emotion)
        draw.text((x + 20, y), name, fill=INK, font=small)
        x += 34 + round(draw.textlength(name, font=small))
    draw.rectangle((x, y, x + 14, y + 14), fill=FALLBACK)
    draw.text((x + 20, y), say(lang, "stage.summary.fallback"), fill=INK, font=small)
    legend = wrap(draw, say(lang, "stage.summary.legend"), small, PLOT_RIGHT - PLOT_LEFT)
    for i, line in enumerate(legend[:2]):
        draw.text((PLOT_LEFT, y + 22 + i * 16), line, fill=MUTED, font=small)


def write_summary(
    folder: Path, windows: Sequence[StageWindow], intended: str, window_seconds: float, locale: str = "en"
) -> tuple[Path, Path]:
    """timeline.png and windows.csv in `folder` (created if needed); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    png, csv = folder / "timeline.png", folder / "windows.csv"
    png.write_bytes(timeline_png(windows, intended, window_seconds, locale))
    csv.write_text(windows_csv(windows), encoding="utf-8")
    return png, csv
