"""Discord's message limits, and clipping that keeps every message we build inside them.

Discord refuses a whole message (400 Invalid Form Body) when any one part is too long, so text
from the catalogue (titles, reasons) is clipped here rather than trusted to be short.
"""

from __future__ import annotations

import discord

EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL = 6000  # all embeds of one message together
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER_TEXT = 2048
AUTHOR_NAME = 256
SELECT_OPTIONS = 25
BUTTON_LABEL = 80
OPTION_LABEL = 100
OPTION_DESCRIPTION = 100
CUSTOM_ID = 100


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def fit_embed(embed: discord.Embed, budget: int = EMBED_TOTAL) -> discord.Embed:
    """Clip each part to its own limit, then shorten the description and fields until the embed fits
    `budget` characters (Discord counts title, description, field names and values, footer, author)."""
    if embed.title:
        embed.title = clip(embed.title, EMBED_TITLE)
    if embed.description:
        embed.description = clip(embed.description, EMBED_DESCRIPTION)
    if embed.author and embed.author.name:
        embed.set_author(
            name=clip(embed.author.name, AUTHOR_NAME), url=embed.author.url, icon_url=embed.author.icon_url
        )
    if embed.footer and embed.footer.text:
        embed.set_footer(text=clip(embed.footer.text, FOOTER_TEXT), icon_url=embed.footer.icon_url)
    fields = embed.fields[:EMBED_FIELDS]
    embed.clear_fields()
    for f in fields:
        embed.add_field(
            name=clip(f.name or "\u200b", FIELD_NAME),
            value=clip(f.value or "\u200b", FIELD_VALUE),
            inline=bool(f.inline),
        )
    over = len(embed) - budget
    if over > 0 and embed.description:
        embed.description = clip(embed.description, max(len(embed.description) - over, 1))
        over = len(embed) - budget
    index = len(embed.fields) - 1
    while over > 0 and index >= 0:
        f = embed.fields[index]
        value = clip(f.value or "", max(len(f.value or "") - over, 1))
        embed.set_field_at(index, name=f.name or "\u200b", value=value, inline=bool(f.inline))
        over = len(embed) - budget
        index -= 1
    return embed


def fit_embeds(embeds: list[discord.Embed]) -> list[discord.Embed]:
    """At most 10 embeds, each within its limits and together within Discord's 6000 characters
    (the longest ones give way first)."""
    embeds = embeds[:EMBEDS_PER_MESSAGE]
    for embed in embeds:
        fit_embed(embed)
    excess = sum(len(e) for e in embeds) - EMBED_TOTAL
    for embed in sorted(embeds, key=len, reverse=True):
        if excess <= 0:
            break
        before = len(embed)
        fit_embed(embed, max(before - excess, 1))
        excess -= before - len(embed)
    return embeds
