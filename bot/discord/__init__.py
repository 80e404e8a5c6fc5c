"""Discord adapter: `/moodreel`, the private session link, and the result with a movie carousel.

`setup_discord(app, services)` wires the bot into MoodReel's aiohttp app like every adapter: a
`cleanup_ctx` runs `start_discord` as a task while the app runs and cancels it (closing the
connection cleanly) when the app stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
from aiohttp import web

from bot.discord.client import REQUIRED_PERMISSIONS, DiscordServices, DiscordUnavailable, MoodReelBot
from bot.discord.endpoints import use_endpoints

__all__ = [
    "DISCORD_BOT",
    "REQUIRED_PERMISSIONS",
    "DiscordConfigError",
    "DiscordUnavailable",
    "MoodReelBot",
    "setup_discord",
    "start_discord",
    "use_endpoints",
]


log = logging.getLogger(__name__)

DISCORD_BOT = web.AppKey("discord_bot", list[MoodReelBot])  # the running client, once it has started


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


def setup_discord(app: web.Application, services: DiscordServices, **start_options: Any) -> None:
    """Run the Discord bot for as long as `app` runs (options as for start_discord)."""
    bots: list[MoodReelBot] = []
    app[DISCORD_BOT] = bots

    def stopped(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # The web page and the other adapters keep running; the log says what to fix.
            log.error("the Discord bot stopped: %s", task.exception())

    async def run_bot(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(start_discord(services, on_started=bots.append, **start_options))
        task.add_done_callback(stopped)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        bots.clear()

    app.cleanup_ctx.append(run_bot)
