"""The Mattermost world for integration tests: MoodReel serving the Mattermost routes on a real port,
the strict stand-in Mattermost, who is who, and helpers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from mattermostdriver import Driver

from bot.mattermost import COMMAND_PATH, MATTERMOST_ADAPTER, MattermostAdapter, setup_mattermost
from core.colour.psychology import emotion_from_names
from core.config import Settings
from core.mood import mood_result
from core.services import Services
from core.storage.store import Store
from core.values.results import MoodResult, Recommendation
from tests.support.services import running_services, short_settings
from tests.support.standins.mattermost_server import Channel, MattermostStandIn, User, new_id
from webcam_page.app import create_app

COMMAND_TOKEN = "slash-command-token-1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    """MoodReel serving the Mattermost routes, the stand-in Mattermost, and who is who."""

    settings: Settings
    services: Services
    standin: MattermostStandIn
    alice: User
    minji: User
    channel: Channel
    http: aiohttp.ClientSession
    adapter: MattermostAdapter
    runner: web.AppRunner | None = None

    async def restart(self) -> None:
        """MoodReel restarts: the old app stops, a new one (a new adapter) serves on the same port
        over the same services and store, picking up what the outbox still holds."""
        if self.runner is not None:
            await self.runner.cleanup()
        app = create_app(self.services)
        setup_mattermost(app, self.services)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.settings.server.port, reuse_address=True).start()
        self.adapter = app[MATTERMOST_ADAPTER]

    @property
    def base(self) -> str:
        return self.settings.server.base_url

    def form(self, user: User, text: str = "", token: str = COMMAND_TOKEN) -> dict[str, str]:
        """A slash-command request exactly as Mattermost sends it (application/x-www-form-urlencoded)."""
        return {
            "token": token,
            "team_id": self.channel.team_id,
            "team_domain": self.channel.team_domain,
            "channel_id": self.channel.id,
            "channel_name": self.channel.name,
            "user_id": user.id,
            "user_name": user.username,
            "command": "/moodreel",
            "text": text,
            "trigger_id": new_id(),
            "response_url": f"{self.standin.url}/hooks/commands/{new_id()}",
        }

    async def slash(self, user: User, text: str = "", token: str = COMMAND_TOKEN) -> tuple[int, str, Any]:
        async with self.http.post(f"{self.base}{COMMAND_PATH}", data=self.form(user, text, token)) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.json(content_type=None)

    def driver(self, user: User) -> Driver:
        return Driver({"url": "127.0.0.1", "scheme": "http", "port": self.standin.port, "token": user.token})


@contextlib.asynccontextmanager
async def open_world(store: Store, settings: Settings) -> AsyncIterator[World]:
    """Real services (mongod, the emotion model, the recommender over sample movies), MoodReel's web
    app with the Mattermost routes on a real port, and the stand-in Mattermost."""
    bot = User(new_id(), "moodreel", new_id())
    standin = MattermostStandIn(bot)
    alice = standin.add_user("alice", "en")
    minji = standin.add_user("minji", "ko")
    channel = standin.add_channel("town-square")
    await standin.start()
    settings = short_settings(settings)
    settings = dataclasses.replace(
        settings,
        server=dataclasses.replace(settings.server, port=free_port()),
        mattermost=dataclasses.replace(
            settings.mattermost,
            url=standin.url,
            token=bot.token,
            command_token=COMMAND_TOKEN,
            deliver_retry_seconds=0.2,
        ),
    )
    async with running_services(store, settings) as services:
        app = create_app(services)
        setup_mattermost(app, services)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", settings.server.port).start()
        async with aiohttp.ClientSession() as http:
            world = World(
                settings, services, standin, alice, minji, channel, http, app[MATTERMOST_ADAPTER], runner
            )
            try:
                yield world
            finally:
                if world.runner is not None:
                    await world.runner.cleanup()
                await standin.stop()


async def stored_sessions(store: Store) -> list[dict[str, Any]]:
    return [d async for d in store.sessions.find({}, {"_id": 0})]


async def complete(world: World, session_id: str, primary: str, secondary: tuple[str, str]) -> MoodResult:
    """Finish a session as the page's "tell us how you feel" path does: the recommender's picks."""
    emotion = emotion_from_names(primary, secondary)
    origin = await world.services.sessions.origin(session_id)
    result = await mood_result(session_id, emotion, world.services.recommender, origin, top_n=4)
    await world.services.sessions.complete(session_id, result)
    return result


async def link(world: World, user: User, text: str = "") -> tuple[str, str]:
    """/moodreel TEXT as `user`: (the session id, the link from the ephemeral reply)."""
    _, _, body = await world.slash(user, text)
    link = next(w for w in body["text"].split() if w.startswith(f"{world.base}/s/"))
    return world.services.sessions.verify_token(link.rsplit("/", 1)[1]), link


async def link_session(world: World, user: User, text: str = "") -> str:
    return (await link(world, user, text))[0]


def carousel_attachment(post: dict[str, Any]) -> dict[str, Any]:
    """The carousel attachment (a private post also has one holding the Share button)."""
    [attachment] = [a for a in post["props"]["attachments"] if "title" in a]
    return attachment


def summary_of(post: dict[str, Any]) -> str:
    """The post's message without the private version's intro line (italic, above the summary)."""
    message = str(post["message"])
    return message.split("\n", 1)[1] if message.startswith("_") else message


def share_button(post: dict[str, Any]) -> dict[str, Any]:
    [button] = [b for a in post["props"]["attachments"] for b in a.get("actions", []) if b["id"] == "share"]
    return button


def use_deliver(world: World, mode: str) -> None:
    """mattermost.deliver for the commands that follow (private is the default)."""
    world.adapter.mm = dataclasses.replace(world.adapter.mm, deliver=mode)


def shows(attachment: dict[str, Any], rec: Recommendation) -> bool:
    return attachment["title"] == f"{rec.title} ({rec.year})" and attachment["text"] == rec.reason


async def click(world: World, user: User, post_id: str, action_id: str) -> None:
    """A user presses a button: the stand-in forwards it to MoodReel as Mattermost does."""
    driver = world.driver(user)
    await asyncio.to_thread(driver.login)
    await asyncio.to_thread(driver.posts.perform_post_action, post_id, action_id)


async def wait_until(predicate: Any, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)
