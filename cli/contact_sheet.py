"""A contact sheet: the mood's colour swatches, named, beside its top picks' posters, in one PNG.

For looking rather than reading: does the row of posters carry the colours on the left? Written by
`moodreel recommend … --sheet FILE.png` and by `python -m bench.quality --sheets DIR`. A movie's
poster comes from the local posters folder (`catalogue.posters_dir`, files `<tmdb_id>.jpg`); when
there is none, or no folder, a card is drawn from the poster's palette (bands as tall as each colour's
share), so a sheet never needs the network and can be shared without any poster in it.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from core.config import Settings
from core.present.words import emotion_name
from core.values.emotions import EMOTIONS
from core.values.results import EmotionResult, MoodColour

POSTER_W, POSTER_H = 150, 225
COLUMNS = 5
GAP = 14
MARGIN = 20
PANEL_W = 300
HEADER_H = 64
CAPTION_H = 62
STRIP_H = 10
SWATCH_W, SWATCH_H = 64, 46
BACKGROUND = (250, 250, 248)
INK = (34, 34, 38)
MUTED = (110, 110, 118)
LINE = (214, 214, 218)

_DEJAVU, _LIBERATION = "/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation"
_FONTS = {
    False: (f"{_DEJAVU}/DejaVuSans.ttf", f"{_LIBERATION}/LiberationSans-Regular.ttf"),
    True: (f"{_DEJAVU}/DejaVuSans-Bold.ttf", f"{_LIBERATION}/LiberationSans-Bold.ttf"),
}


@dataclass(frozen=True)
class SheetPick:
    tmdb_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    score: float
    palette: tuple[tuple[tuple[int, int, int], float], ...]  # (sRGB, share), most dominant first

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], score: float) -> SheetPick:
        """From a movie document (the store's or the sample's) and its match score."""
        colours = []
        for colour in doc.get("palette") or ():
            r, g, b = (round(float(v)) for v in colour["rgb"])
            colours.append(((r, g, b), float(colour["share"])))
        colours.sort(key=lambda c: -c[1])
        year = doc.get("year")
        return cls(
            tmdb_id=int(doc["tmdb_id"]),
            title=str(doc.get("title") or doc.get("original_title") or f"TMDB {doc['tmdb_id']}"),
            year=year if isinstance(year, int) else None,
            genres=tuple(doc.get("genres") or ()),
            score=float(score),
            palette=tuple(colours),
        )


def default_posters_dir() -> Path | None:
    """The posters folder of the default settings, if it exists here."""
    return Settings().posters_path()


@functools.cache
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _FONTS[bold]:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
         width: float) -> str:  # fmt: skip
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def palette_card(pick: SheetPick, size: tuple[int, int] = (POSTER_W, POSTER_H)) -> Image.Image:
    """A stand-in poster: the palette as horizontal bands, each as tall as its share (the caption under
    it names the movie)."""
    w, h = size
    card = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(card)
    top = 0.0
    total = sum(s for _, s in pick.palette) or 1.0
    for i, (rgb, share) in enumerate(pick.palette):
        bottom = h if i == len(pick.palette) - 1 else top + h * share / total
        draw.rectangle((0, round(top), w, round(bottom)), fill=rgb)
        top = bottom
    return card


def _poster(pick: SheetPick, posters_dir: Path | None) -> Image.Image:
    path = posters_dir / f"{pick.tmdb_id}.jpg" if posters_dir is not None else None
    if path is not None and path.is_file():
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except OSError:
            return palette_card(pick)
        # Fill the slot, cropping the overflow evenly (posters are close to 2:3 anyway).
        scale = max(POSTER_W / image.width, POSTER_H / image.height)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        left, top = (image.width - POSTER_W) // 2, (image.height - POSTER_H) // 2
        return image.crop((left, top, left + POSTER_W, top + POSTER_H))
    return palette_card(pick)


def render_sheet(
    emotion: EmotionResult,
    colours: Sequence[MoodColour],
    picks: Sequence[SheetPick],
    posters_dir: Path | None,
    subtitle: str = "",
) -> Image.Image:
    """The sheet: a header, the named swatches on the left, the picks in rows of COLUMNS on the right."""
    labels = {e: emotion_name("en", e) for e in EMOTIONS}  # the sheet is in English
    rows = max(1, -(-len(picks) // COLUMNS))
    cell_w, cell_h = POSTER_W + GAP, POSTER_H + STRIP_H + CAPTION_H + GAP
    width = MARGIN * 2 + PANEL_W + COLUMNS * cell_w
    swatches_h = len(colours) * (SWATCH_H + 12)
    height = HEADER_H + max(rows * cell_h, swatches_h + 40) + MARGIN
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)

    title = labels.get(emotion.primary, emotion.primary)
    if emotion.secondary:
        title += ", with " + " and ".join(labels.get(s, s).lower() for s in emotion.secondary)
    draw.text((MARGIN, 16), title, fill=INK, font=_font(24, bold=True))
    if subtitle:
        x = MARGIN + draw.textlength(title, font=_font(24, bold=True)) + 14
        draw.text((x, 24), subtitle, fill=MUTED, font=_font(15))
    draw.line((MARGIN, HEADER_H - 8, width - MARGIN, HEADER_H - 8), fill=LINE, width=1)

    y = HEADER_H + 6
    draw.text((MARGIN, y), "Mood colours", fill=MUTED, font=_font(14, bold=True))
    y += 26
    for colour in colours:
        draw.rectangle((MARGIN, y, MARGIN + SWATCH_W, y + SWATCH_H), fill=colour.rgb, outline=LINE)
        x = MARGIN + SWATCH_W + 12
        name_w = PANEL_W - SWATCH_W - 24
        draw.text(
            (x, y + 2), _fit(draw, colour.name, _font(16, bold=True), name_w), fill=INK, font=_font(16, True)
        )
        detail = f"{colour.hex}  {colour.weight:.0%}  {labels.get(colour.emotion, colour.emotion)}"
        draw.text((x, y + 24), _fit(draw, detail, _font(13), name_w), fill=MUTED, font=_font(13))
        y += SWATCH_H + 12

    left = MARGIN + PANEL_W
    if not picks:
        draw.text((left, HEADER_H + 6), "No movies match this mood's genres.", fill=MUTED, font=_font(16))
    for i, pick in enumerate(picks):
        x = left + (i % COLUMNS) * cell_w
        y = HEADER_H + 6 + (i // COLUMNS) * cell_h
        sheet.paste(_poster(pick, posters_dir), (x, y))
        strip_top = y + POSTER_H + 2
        total = sum(s for _, s in pick.palette) or 1.0
        px = float(x)
        for rgb, share in pick.palette:
            right = px + POSTER_W * share / total
            draw.rectangle((round(px), strip_top, round(right), strip_top + STRIP_H - 2), fill=rgb)
            px = right
        ty = strip_top + STRIP_H + 2
        name = f"{i + 1}. {pick.title}"
        lines = textwrap.wrap(name, 22)
        if len(lines) > 2:
            lines = [lines[0], _fit(draw, " ".join(lines[1:]), _font(13, True), POSTER_W)]
        for n, line in enumerate(lines[:2]):
            draw.text(
                (x, ty + 16 * n), _fit(draw, line, _font(13, True), POSTER_W), fill=INK, font=_font(13, True)
            )
        facts = " · ".join(p for p in (str(pick.year or ""), f"{pick.score:.1f}") if p)
        genres = ", ".join(pick.genres[:3])
        draw.text(
            (x, ty + 33), _fit(draw, f"{facts}  {genres}", _font(11), POSTER_W), fill=MUTED, font=_font(11)
        )
    return sheet
