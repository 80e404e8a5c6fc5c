"""The mood card: a PNG with the mood's colour swatches and the emotion-change chart.

Discord and Mattermost attach it to a result (the page draws its own chart). Korean labels need a
font with Hangul (Debian's fonts-noto-cjk, installed by `make system-deps`); without one the card
falls back to English labels rather than drawing empty boxes.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from core.colour.psychology import EMOTION_PALETTES, colour_name
from core.present.summary import MINUS, Summary, summarise
from core.present.words import emotion_name, say
from core.values.emotions import EMOTIONS
from core.values.results import MoodResult

log = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

CARD_SIZE = (800, 510)
MARGIN = 20
SWATCH_TOP, SWATCH_HEIGHT, SWATCH_GAP = 64, 120, 10
CHART_TOP = 270
ROW_HEIGHT = 28
LABEL_WIDTH = 130
BACKGROUND = (250, 250, 248)
INK = (34, 34, 38)
MUTED = (110, 110, 118)
AXIS = (190, 190, 196)

_HANGUL_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansKR-Regular.otf",
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
)
_LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


@functools.cache
def hangul_font_path() -> Path | None:
    """A font file that can draw Hangul, if this machine has one."""
    for path in _HANGUL_FONTS:
        if Path(path).exists():
            return Path(path)
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=ko", "file"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for line in sorted(out.splitlines()):
            path = line.split(":", 1)[0].strip()
            if path and Path(path).exists():
                return Path(path)
    return None


@functools.cache
def font(size: int, hangul: bool) -> Font:
    """A font of `size` that can draw Hangul when asked (the stage summary draws with it too)."""
    paths = ([str(hangul_font_path())] if hangul and hangul_font_path() else []) + list(_LATIN_FONTS)
    for path in paths:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def card_locale(locale: str) -> str:
    """The locale the card can really be drawn in: Korean needs a Hangul font, else English."""
    if locale == "ko":
        if hangul_font_path() is not None:
            return "ko"
        log.warning("no Hangul font found (install fonts-noto-cjk); drawing the mood card in English")
    return "en"


def swatch_boxes(count: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each swatch, left to right, for `count` colours."""
    width = CARD_SIZE[0] - 2 * MARGIN
    each = (width - SWATCH_GAP * (count - 1)) / max(count, 1)
    return [
        (
            round(MARGIN + i * (each + SWATCH_GAP)),
            SWATCH_TOP,
            round(MARGIN + i * (each + SWATCH_GAP) + each) - 1,
            SWATCH_TOP + SWATCH_HEIGHT - 1,
        )
        for i in range(count)
    ]


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _swatches(
    draw: ImageDraw.ImageDraw, result: MoodResult, lang: str, name_font: Font, small_font: Font
) -> None:
    boxes = swatch_boxes(len(result.colours))
    for colour, (left, top, right, bottom) in zip(result.colours, boxes, strict=True):
        draw.rectangle((left, top, right, bottom), fill=tuple(colour.rgb))
        width = right - left
        name = _fit(draw, colour_name(colour, lang), name_font, width)
        draw.text((left, bottom + 6), name, fill=INK, font=name_font)
        detail = f"{emotion_name(lang, colour.emotion)} · {colour.weight:.0%}"
        draw.text((left, bottom + 28), _fit(draw, detail, small_font, width), fill=MUTED, font=small_font)


def render_group_card(
    result: MoodResult, counts: Mapping[str, int], took_part: int, joined: int, locale: str = "en"
) -> bytes:
    """A movie night's card: the group's mood and colours, and how many members felt each way (an
    anonymous count, as bars) instead of one person's chart."""
    lang = card_locale(locale)
    hangul = lang == "ko"
    image = Image.new("RGB", CARD_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, name_font, small_font = font(24, hangul), font(16, hangul), font(13, hangul)
    usable = CARD_SIZE[0] - 2 * MARGIN
    title = say(lang, "group.card_title", emotion=emotion_name(lang, result.emotion.primary))
    draw.text((MARGIN, 18), _fit(draw, title, title_font, usable), fill=INK, font=title_font)
    _swatches(draw, result, lang, name_font, small_font)
    draw.text((MARGIN, CHART_TOP - 30), say(lang, "group.card_caption"), fill=INK, font=name_font)
    chart_left = MARGIN + LABEL_WIDTH
    chart_right = CARD_SIZE[0] - MARGIN - 90
    most = max([*counts.values(), 1])
    for row, emotion in enumerate(EMOTIONS):
        y = CHART_TOP + row * ROW_HEIGHT
        n = int(counts.get(emotion, 0))
        weight = name_font if emotion == result.emotion.primary else small_font
        draw.text((MARGIN, y + 4), emotion_name(lang, emotion), fill=INK if n else MUTED, font=weight)
        length = round(n / most * (chart_right - chart_left))
        if length:
            bar = EMOTION_PALETTES[emotion][0].rgb
            draw.rectangle(
                (chart_left, y + 5, chart_left + length, y + ROW_HEIGHT - 5), fill=bar, outline=AXIS
            )
        draw.text((chart_left + length + 6, y + 6), str(n), fill=MUTED, font=small_font)
    legend_top = CHART_TOP + ROW_HEIGHT * len(EMOTIONS) + 8
    legend = say(lang, "group.took_part", took_part=took_part, joined=joined)
    draw.text((MARGIN, legend_top), _fit(draw, legend, small_font, usable), fill=MUTED, font=small_font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def render_mood_card(result: MoodResult, locale: str = "en") -> bytes:
    """The card as PNG bytes (CARD_SIZE): title, colour swatches with names, and the emotion chart."""
    lang = card_locale(locale)
    hangul = lang == "ko"
    image = Image.new("RGB", CARD_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, name_font, small_font = font(24, hangul), font(16, hangul), font(13, hangul)
    usable = CARD_SIZE[0] - 2 * MARGIN
    emotion = result.emotion

    summary = summarise(emotion, lang)
    draw.text((MARGIN, 18), _fit(draw, summary.headline, title_font, usable), fill=INK, font=title_font)

    _swatches(draw, result, lang, name_font, small_font)

    caption = summary.method
    draw.text((MARGIN, CHART_TOP - 30), say(lang, f"card.{caption}"), fill=INK, font=name_font)
    legend_top = CHART_TOP + ROW_HEIGHT * len(EMOTIONS) + 8
    if summary.method == "declared":
        # A declared feeling was not measured: no bars, just what the colours stand for.
        for i, line in enumerate(wrap(draw, summary.method_text, name_font, usable)[:3]):
            draw.text((MARGIN, CHART_TOP + 10 + i * 24), line, fill=MUTED, font=name_font)
    else:
        _draw_chart(draw, summary, name_font, small_font)
    for i, line in enumerate(wrap(draw, summary.legend, small_font, usable)[:2]):
        draw.text((MARGIN, legend_top + i * 17), line, fill=MUTED, font=small_font)

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _draw_chart(draw: ImageDraw.ImageDraw, summary: Summary, name_font: Font, small_font: Font) -> None:
    """One row per emotion: the change from the baseline (or, for "levels", the level) as a bar."""
    signed = summary.method == "change"
    lines = summary.lines
    values = {x.emotion: (_points(x.change) if signed else (x.level or 0.0)) for x in lines}
    chart_left = MARGIN + LABEL_WIDTH
    chart_right = CARD_SIZE[0] - MARGIN - 90
    zero = (chart_left + chart_right) // 2 if signed else chart_left
    half = (chart_right - chart_left) // 2 if signed else chart_right - chart_left
    scale = max([abs(v) for v in values.values()] + [5.0 if signed else 1.0])
    draw.line((zero, CHART_TOP - 4, zero, CHART_TOP + ROW_HEIGHT * len(EMOTIONS)), fill=AXIS, width=1)
    for row, line in enumerate(lines):
        y = CHART_TOP + row * ROW_HEIGHT
        weight = name_font if line.role == "primary" else small_font
        draw.text((MARGIN, y + 4), _fit(draw, line.name, weight, LABEL_WIDTH - 8), fill=INK, font=weight)
        value = values[line.emotion]
        length = round(abs(value) / scale * half)
        if length:
            x0, x1 = (zero, zero + length) if value >= 0 else (zero - length, zero)
            bar_colour = EMOTION_PALETTES[line.emotion][0].rgb
            draw.rectangle((x0, y + 5, x1, y + ROW_HEIGHT - 5), fill=bar_colour, outline=AXIS)
        mark = summary.mark if line.significant else ""
        text = f"{line.change_text}{mark}" if signed else f"{round(value * 100)}%"
        tx = zero + length + 6 if value >= 0 else zero - length - 6 - draw.textlength(text, font=small_font)
        draw.text((tx, y + 6), text, fill=MUTED, font=small_font)


def _points(change: str | None) -> float:
    return float((change or "0").replace(MINUS, "-"))
