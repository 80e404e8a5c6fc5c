"""The `/moodreel [feeling]` slash command, its Korean translations, and the private link reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import locale_str

from bot.discord.texts import TEXTS, emotion_name, lang_of, text
from core.sessions.origin import SessionLink
from core.values.emotions import EMOTION_LABELS, EMOTIONS

COMMAND_NAME = "moodreel"

StartSession = Callable[[discord.Interaction[Any], str | None], Awaitable[None]]


class MoodReelTranslator(app_commands.Translator):
    """Korean names and descriptions for the command, its option and the feeling choices.

    Strings carry a `key` (a TEXTS entry) or an `emotion` in their extras; everything else, and every
    other locale, falls back to the English given in the code.
    """

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if lang_of(locale) != "ko":
            return None
        if "emotion" in string.extras:
            return EMOTION_LABELS["ko"].get(string.extras["emotion"])
        key = string.extras.get("key")
        return TEXTS["ko"].get(key) if key else None


def build_command(start_session: StartSession) -> app_commands.Command[Any, Any, None]:
    """A fresh Command object per client (a command belongs to one tree)."""

    @app_commands.command(
        name=COMMAND_NAME,
        description=locale_str(TEXTS["en"]["command_description"], key="command_description"),
    )
    @app_commands.rename(feeling=locale_str(TEXTS["en"]["option_feeling"], key="option_feeling"))
    @app_commands.describe(
        feeling=locale_str(TEXTS["en"]["option_feeling_description"], key="option_feeling_description")
    )
    @app_commands.choices(
        feeling=[
            app_commands.Choice(name=locale_str(EMOTION_LABELS["en"][e], emotion=e), value=e)
            for e in EMOTIONS
        ]
    )
    async def moodreel(
        interaction: discord.Interaction[Any], feeling: app_commands.Choice[str] | None = None
    ) -> None:
        await start_session(interaction, feeling.value if feeling else None)

    return moodreel


def link_reply(link: SessionLink, lang: str, feeling: str | None) -> tuple[str, discord.ui.View]:
    """The ephemeral answer: what the link is, when it expires, the privacy note, and a Link button."""
    lines = [text(lang, "link_ready", expires=discord.utils.format_dt(link.expires_at, "R"))]
    if link.replaced:
        lines.append(text(lang, "link_replaced"))
    if feeling:
        lines.append(text(lang, "feeling_fallback", feeling=emotion_name(lang, feeling)))
    lines.append(f"-# {text(lang, 'privacy')}")  # subtext: one small line
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label=text(lang, "open_button"), emoji="🎥", url=link.url))
    return "\n".join(lines), view
