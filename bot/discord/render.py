"""The result message: an emotion summary embed, the mood card, and one movie page of the carousel.

Pure functions of the MoodResult, so a page turn (or a carousel restored after a restart) rebuilds
exactly what the first post showed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import discord
from PIL import Image, ImageDraw, ImageFont

from bot.discord.limits import clip, fit_embeds
from core.colour.psychology import colour_name
from core.present.locale import titles
from core.present.summary import summarise
from core.present.words import emotion_name, genre_names, say
from core.values.results import MoodResult, Recommendation

MOOD_CARD_FILE = "moodreel.png"
FALLBACK_COLOUR = discord.Colour(0x5865F2)
POSTER_SIZE = (300, 450)


def poster_file_name(rec: Recommendation) -> str:
    return f"poster-{rec.tmdb_id}.png"


def page_label(index: int, total: int) -> str:
    """The page indicator on the carousel, e.g. '3 / 10'."""
    return f"{index + 1} / {total}"


def embed_colour(hex_or_rgb: str | tuple[int, int, int] | None) -> discord.Colour:
    try:
        if isinstance(hex_or_rgb, str):
            return discord.Colour(int(hex_or_rgb.lstrip("#")[:6], 16))
        if hex_or_rgb is not None:
            return discord.Colour.from_rgb(*hex_or_rgb)
    except (ValueError, TypeError):
        pass
    return FALLBACK_COLOUR


def summary_embed(result: MoodResult, lang: str) -> discord.Embed:
    emo = result.emotion
    name = str(result.origin.get("user_name") or "")
    primary = emotion_name(lang, emo.primary)
    title = (
        say(lang, "discord.summary_title_of", name=name, emotion=primary)
        if name
        else say(lang, "discord.summary_title", emotion=primary)
    )
    colour = embed_colour(result.colours[0].rgb if result.colours else None)
    summary = summarise(emo, lang)
    embed = discord.Embed(title=title, description=summary.headline, colour=colour)
    embed.add_field(
        name=say(lang, "discord.primary", emotion=primary),
        value=summary.numbers(emo.primary, lang),
        inline=False,
    )
    for secondary in emo.secondary:
        embed.add_field(
            name=say(lang, "discord.secondary", emotion=emotion_name(lang, secondary)),
            value=summary.numbers(secondary, lang),
            inline=False,
        )
    if result.colours:
        swatches = " · ".join(
            f"**{colour_name(c, lang)}** `{c.hex}` {round(c.weight * 100)}%" for c in result.colours
        )
        embed.add_field(name=say(lang, "discord.colours"), value=swatches, inline=False)
    embed.set_footer(text=f"{summary.method_text}\n{summary.legend}")
    embed.set_image(url=f"attachment://{MOOD_CARD_FILE}")
    return embed


def movie_embed(result: MoodResult, index: int, lang: str) -> discord.Embed:
    recs = result.recommendations
    rec = recs[index]
    main_title, other_title = titles(rec, lang)
    year = f" ({rec.year})" if rec.year else ""
    lines = [f"*{other_title}*"] if other_title else []
    reason = rec.reason_ko if lang == "ko" and rec.reason_ko else rec.reason
    if reason:
        lines.append(reason)
    embed = discord.Embed(
        title=clip(main_title, 240) + year,
        url=rec.tmdb_url or rec.watcha_url or None,
        description="\n".join(lines) or None,
        colour=embed_colour(rec.palette[0] if rec.palette else None),
    )
    embed.set_author(name=say(lang, "discord.pick_of", page=index + 1, total=len(recs)))
    embed.add_field(
        name=say(lang, "discord.genres"),
        value=genre_names(lang, rec.genres) or say(lang, "discord.unknown"),
        inline=True,
    )
    embed.add_field(name=say(lang, "discord.match"), value=f"{round(rec.score)} / 100", inline=True)
    if rec.vote_count:
        votes = say(lang, "discord.votes", count=f"{rec.vote_count:,}")
        embed.add_field(
            name=say(lang, "discord.rating"), value=f"★ {rec.vote_average:.1f} ({votes})", inline=True
        )
    links = [
        f"[TMDB]({rec.tmdb_url})" if rec.tmdb_url else "",
        f"[Watcha Pedia]({rec.watcha_url})" if rec.watcha_url else "",
    ]
    if any(links):
        embed.add_field(
            name=say(lang, "discord.links"), value=" · ".join(x for x in links if x), inline=False
        )
    embed.set_image(url=rec.poster_url or f"attachment://{poster_file_name(rec)}")
    if len(recs) > 1:
        who = str(result.origin.get("user_name") or "") or "@you"
        embed.set_footer(text=say(lang, "discord.browse_hint", name=who))
    return embed


def poster_card_png(rec: Recommendation) -> bytes:
    """A stand-in poster for a movie with none: its palette as bands, and its title."""
    width, height = POSTER_SIZE
    image = Image.new("RGB", POSTER_SIZE, (40, 40, 48))
    draw = ImageDraw.Draw(image)
    colours = [c for c in rec.palette if isinstance(c, str) and len(c.lstrip("#")) == 6] or ["#5865f2"]
    caption = 120  # the dark box at the bottom that holds the title
    band = (height - caption) / len(colours)
    for i, hex_colour in enumerate(colours):
        rgb = tuple(int(hex_colour.lstrip("#")[j : j + 2], 16) for j in (0, 2, 4))
        draw.rectangle((0, round(i * band), width, round((i + 1) * band)), fill=rgb)
    draw.rectangle((0, height - caption, width, height), fill=(20, 20, 24))
    title_font = ImageFont.load_default(size=24)
    small_font = ImageFont.load_default(size=16)
    # The bundled font has no Hangul, so the card names the movie by its English title.
    title = rec.title if len(rec.title) <= 40 else rec.title[:39] + "…"
    words, lines, line = title.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=title_font) > width - 24 and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    lines.append(line)
    y = height - 110
    for line in lines[:2]:
        draw.text((12, y), line, fill=(245, 245, 245), font=title_font)
        y += 30
    if rec.year:
        draw.text((12, height - 30), str(rec.year), fill=(200, 200, 200), font=small_font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


@dataclass
class ResultPage:
    """What one page of the result message holds: embeds, plus the poster card it needs (if any)."""

    embeds: list[discord.Embed]
    poster_card: tuple[str, bytes] | None


def result_page(result: MoodResult, index: int, lang: str) -> ResultPage:
    embeds = [summary_embed(result, lang)]
    card: tuple[str, bytes] | None = None
    if result.recommendations:
        index = max(0, min(index, len(result.recommendations) - 1))
        rec = result.recommendations[index]
        embeds.append(movie_embed(result, index, lang))
        if not rec.poster_url:
            card = (poster_file_name(rec), poster_card_png(rec))
    else:
        embeds[0].description = f"{embeds[0].description}\n\n{say(lang, 'discord.picks_none')}"
    return ResultPage(fit_embeds(embeds), card)
