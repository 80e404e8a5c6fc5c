"""`moodreel serve`: the web app (webcam page, try-it page, Mattermost endpoints) and the Discord bot."""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

from cli.common import run_async, settings_from
from core.catalogue.movies import count_movies
from core.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="start MoodReel: web page, embedded MongoDB, and the chat bots that are configured",
        description="Start MoodReel. With no MONGODB_URI it runs its own mongod; an empty catalogue is "
        "filled from the committed sample. The Discord bot starts when DISCORD_TOKEN is set, the "
        "Mattermost endpoints when MATTERMOST_URL, MATTERMOST_TOKEN and MATTERMOST_COMMAND_TOKEN are set.",
    )
    p.add_argument("--host", help="interface to bind (default: server.host from the config)")
    p.add_argument("--port", type=int, help="port to bind (default: server.port from the config)")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    run_async(serve, settings, args.host, args.port)
    return 0


async def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Build the app with every configured adapter, run it until SIGINT or SIGTERM."""
    from core.services import open_services
    from webcam_page.app import create_app, runner_options

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with open_services(settings) as services:
        app = create_app(services)
        if settings.mattermost.enabled:
            from bot.mattermost import setup_mattermost

            setup_mattermost(app, services)
        if settings.discord.token:
            from bot.discord import setup_discord

            setup_discord(app, services)
        runner = web.AppRunner(app, **runner_options(settings))  # no access log; slow clients time out
        await runner.setup()
        try:
            await web.TCPSite(runner, host or settings.server.host, port or settings.server.port).start()
            count = await count_movies(services.store)
            print(
                f"MoodReel is running with {count} movies. Open {settings.server.base_url}/ to try it.\n"
                + ("Discord bot: on." if settings.discord.token else "Discord bot: off (set DISCORD_TOKEN).")
                + "\nMattermost endpoints: "
                + (
                    "on."
                    if settings.mattermost.enabled
                    else "off (set MATTERMOST_URL/_TOKEN/_COMMAND_TOKEN)."
                )
                + "\nPress Ctrl-C to stop.",
                flush=True,
            )
            await stop.wait()
        finally:
            await runner.cleanup()
    print("MoodReel stopped.", flush=True)
