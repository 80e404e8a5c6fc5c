"""The `/moodreel [feeling]` slash command, its Korean translations, and the private link reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import locale_str

from core.present.locale import locale_of
from core.present.words import WORDS, emotion_name, say
from core.sessions.origin import SessionLink
from core.values.emotions import EMOTIONS

COMMAND_NAME = "moodreel"

StartSession = Callable[[discord.Interaction[Any], str | None], Awaitable[None]]
StartMode = Callable[[discord.Interaction[Any], str, str | None], Awaitable[None]]
MODES = ("group", "stage")  # /moodreel mode:group (a movie night), mode:stage (the audience stage)


class MoodReelTranslator(app_commands.Translator):
    """Korean names and descriptions for the command, its option and the feeling choices.

    Strings carry a `key` (a `discord.` entry of core.present.words) or an `emotion` in their extras;
    everything else, and every
    other locale, falls back to the English given in the code.
    """

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if locale_of(locale) != "ko":
            return None
        if "emotion" in string.extras:
            return emotion_name("ko", string.extras["emotion"])
        key = string.extras.get("key")
        return WORDS["ko"].get(f"discord.{key}") if key else None


def build_command(start_session: StartSession, start_mode: StartMode) -> app_commands.Command[Any, Any, None]:
    """A fresh Command object per client (a command belongs to one tree). Without `mode` it is the
    personal check; `mode` starts a group movie night or hands out stage links instead."""

    @app_commands.command(
        name=COMMAND_NAME,
        description=locale_str(say("en", "discord.command_description"), key="command_description"),
    )
    @app_commands.rename(
        feeling=locale_str(say("en", "discord.option_feeling"), key="option_feeling"),
        mode=locale_str(say("en", "discord.option_mode"), key="option_mode"),
    )
    @app_commands.describe(
        feeling=locale_str(say("en", "discord.option_feeling_description"), key="option_feeling_description"),
        mode=locale_str(say("en", "discord.option_mode_description"), key="option_mode_description"),
    )
    @app_commands.choices(
        feeling=[
            app_commands.Choice(name=locale_str(emotion_name("en", e), emotion=e), value=e) for e in EMOTIONS
        ],
        mode=[
            app_commands.Choice(name=locale_str(say("en", f"discord.mode_{m}"), key=f"mode_{m}"), value=m)
            for m in MODES
        ],
    )
    async def moodreel(
        interaction: discord.Interaction[Any],
        feeling: app_commands.Choice[str] | None = None,
        mode: app_commands.Choice[str] | None = None,
    ) -> None:
        if mode is not None:
            await start_mode(interaction, mode.value, feeling.value if feeling else None)
        else:
            await start_session(interaction, feeling.value if feeling else None)

    return moodreel


def link_reply(link: SessionLink, lang: str, feeling: str | None) -> tuple[str, discord.ui.View]:
    """The ephemeral answer: what the link is, when it expires, the privacy note, and a Link button."""
    lines = [say(lang, "discord.link_ready", expires=discord.utils.format_dt(link.expires_at, "R"))]
    if link.replaced:
        lines.append(say(lang, "discord.link_replaced"))
    if feeling:
        lines.append(say(lang, "discord.feeling_fallback", feeling=emotion_name(lang, feeling)))
    lines.append(f"-# {say(lang, 'discord.privacy')}")  # subtext: one small line
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label=say(lang, "discord.open_button"), emoji="🎥", url=link.url))
    return "\n".join(lines), view
