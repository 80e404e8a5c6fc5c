"""The contact sheet: named swatches beside posters, drawn cards where there is no poster."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from cli.contact_sheet import COLUMNS, MARGIN, PANEL_W, SheetPick, palette_card, render_sheet
from core.colour.psychology import emotion_from_names, mood_colours


def _pick(tmdb_id: int) -> SheetPick:
    doc = {
        "tmdb_id": tmdb_id,
        "title": f"A Rather Long Movie Title Number {tmdb_id}",
        "year": 2001,
        "genres": ["Comedy", "Family"],
        "palette": [{"rgb": [250, 210, 60], "share": 0.25}, {"rgb": [20, 20, 20], "share": 0.75}],
    }
    return SheetPick.from_doc(doc, 42.0)


def test_a_card_is_the_palette_in_bands_as_tall_as_the_shares() -> None:
    pick = _pick(1)
    assert pick.palette[0] == ((20, 20, 20), 0.75)  # most dominant first
    card = palette_card(pick, (100, 200))
    assert card.getpixel((50, 10)) == (20, 20, 20) and card.getpixel((50, 190)) == (250, 210, 60)


def test_sheet_uses_local_posters_and_draws_cards_for_the_rest(tmp_path: Path) -> None:
    Image.new("RGB", (342, 513), (10, 200, 30)).save(tmp_path / "1.jpg")
    (tmp_path / "2.jpg").write_bytes(b"not a jpeg")  # unreadable: a card instead
    emotion = emotion_from_names("happy")
    colours = mood_colours(emotion)
    picks = [_pick(i) for i in range(1, 8)]
    sheet = render_sheet(emotion, colours, picks, tmp_path, subtitle="strong feeling")
    left = MARGIN + PANEL_W
    poster = sheet.getpixel((left + 20, 120))
    assert isinstance(poster, tuple) and poster[1] > 150 and poster[0] < 60  # the green local poster
    assert sheet.getpixel((left + 150 + 14 + 20, 120)) == (20, 20, 20)  # a drawn card's top band
    swatch = sheet.getpixel((MARGIN + 10, 64 + 6 + 26 + 10))
    assert swatch == colours[0].rgb  # the first mood colour's swatch
    assert sheet.width == 2 * MARGIN + PANEL_W + COLUMNS * (150 + 14)
    empty = render_sheet(emotion, colours, [], None)
    assert empty.width == sheet.width
