"""Discord adapter: `/moodreel`, the private session link, and the result with a movie carousel.

`moodreel serve` runs `start_discord(services)` as a task whenever DISCORD_TOKEN is set; cancelling
the task closes the connection cleanly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord

from bot.discord.client import REQUIRED_PERMISSIONS, DiscordServices, DiscordUnavailable, MoodReelBot
from bot.discord.endpoints import use_endpoints

__all__ = [
    "REQUIRED_PERMISSIONS",
    "DiscordConfigError",
    "DiscordUnavailable",
    "MoodReelBot",
    "start_discord",
    "use_endpoints",
]


class DiscordConfigError(RuntimeError):
    """The bot cannot start as configured; the message says what to fix."""


def _quiet_payload_logs() -> None:
    """discord.py logs whole payloads at DEBUG: session links and interaction tokens would end up in
    the log with `moodreel -v`. Keep those loggers at INFO unless someone set them explicitly."""
    for name in ("discord.http", "discord.gateway", "discord.webhook.async_"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


async def start_discord(
    services: DiscordServices,
    *,
    token: str | None = None,
    api_base: str | None = None,
    gateway_url: str | None = None,
    on_started: Callable[[MoodReelBot], Any] | None = None,
    **client_options: Any,
) -> None:
    """Run the Discord bot until the task is cancelled: log in, sync /moodreel, connect to the gateway.

    `token` defaults to settings.discord.token (DISCORD_TOKEN). `api_base` and `gateway_url` point
    discord.py at another Discord (tests use a local stand-in); `on_started` receives the client
    before it logs in. discord.py reconnects by itself; this returns only when the bot is closed.
    """
    token = token or services.settings.discord.token
    if not token:
        raise DiscordConfigError("DISCORD_TOKEN is not set: copy the bot token from the Developer Portal")
    use_endpoints(api_base, gateway_url)
    _quiet_payload_logs()
    bot = MoodReelBot(services, **client_options)
    if on_started is not None:
        on_started(bot)
    async with bot:
        try:
            await bot.start(token, reconnect=True)
        except discord.LoginFailure:
            raise DiscordConfigError(
                "Discord refused DISCORD_TOKEN: reset the token on the Bot page of the Developer Portal "
                "and set the new one"
            ) from None
