"""The Discord world for integration tests: the strict stand-in, the bot as `serve` runs it, helpers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from bot.discord import MoodReelBot, start_discord
from core.colour.psychology import emotion_from_names, mood_colours
from core.config import Settings
from core.group.service import GroupService
from core.sessions.service import SessionService
from core.storage.store import Store
from core.values.results import EmotionScore, MoodResult, Recommendation
from tests.support.standins.discord_server import Call, DiscordStandIn, StandInUser

TOKEN = "stand-in-bot-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class BotServices:
    """The part of core.services.Services the Discord adapter uses."""

    settings: Settings
    store: Store
    sessions: SessionService
    groups: GroupService | None = None


class WorldServices(Protocol):
    """What the world needs of its services: BotServices, or the full core.services.Services."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store: ...

    @property
    def sessions(self) -> SessionService: ...

    @property
    def groups(self) -> GroupService | None: ...


@dataclass
class World:
    standin: DiscordStandIn
    settings: Settings
    services: WorldServices
    alice: StandInUser
    minji: StandInUser
    bot: MoodReelBot | None = None
    task: asyncio.Task[None] | None = None

    async def start_bot(
        self, services: Any = None, *, deliver: str | None = None, **options: Any
    ) -> MoodReelBot:
        """`start_discord` as `moodreel serve` runs it, until `stop_bot` cancels it (`deliver`
        overrides discord.deliver, which is `private` by default)."""
        if deliver is not None:
            base = services or self.services
            settings = with_discord(base.settings, deliver=deliver)
            services = BotServices(settings, base.store, base.sessions, getattr(base, "groups", None))
        started: list[MoodReelBot] = []
        self.task = asyncio.create_task(
            start_discord(
                services or self.services,
                token=TOKEN,
                api_base=self.standin.api_base,
                gateway_url=self.standin.gateway_url,
                on_started=started.append,
                guild_ready_timeout=0.1,
                **options,
            )
        )
        while not started:
            await asyncio.sleep(0.01)
        self.bot = started[0]
        ready = asyncio.ensure_future(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, self.task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            self.task.result()  # raises the bot's start-up error
        assert ready in done, "the bot never became ready"
        return self.bot

    async def stop_bot(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = None
        assert self.bot is None or self.bot.is_closed()

    def calls(self, method: str, part: str) -> list[Call]:
        return [c for c in self.standin.calls if c.method == method and part in c.path]


def with_discord(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, discord=dataclasses.replace(settings.discord, **changes))


@contextlib.asynccontextmanager
async def open_page_world(store: Store, settings: Settings) -> AsyncIterator[World]:
    """The world with MoodReel's whole web app on a real port (real services: the recommender, the
    analysis pool), so a test can run the page's session and see what it is told."""
    from aiohttp import web

    from tests.support.services import running_services, short_settings
    from webcam_page.app import create_app

    port = free_port()
    async with DiscordStandIn(TOKEN) as standin:
        settings = short_settings(settings)
        settings = dataclasses.replace(settings, server=dataclasses.replace(settings.server, port=port))
        settings = with_discord(settings, guild_ids=(standin.guild_id,))
        async with running_services(store, settings) as services:
            runner = web.AppRunner(create_app(services))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            w = World(
                standin, settings, services, standin.add_user("alice", "Alice"), standin.add_user("minji")
            )
            try:
                yield w
            finally:
                await w.stop_bot()
                await runner.cleanup()


@contextlib.asynccontextmanager
async def open_world(store: Store, settings: Settings) -> AsyncIterator[World]:
    async with DiscordStandIn(TOKEN) as standin:
        settings = with_discord(settings, guild_ids=(standin.guild_id,))
        services = BotServices(settings, store, SessionService(store, settings))
        w = World(
            standin,
            settings,
            services,
            standin.add_user("alice", "Alice"),
            standin.add_user("minji", "민지"),
        )
        try:
            yield w
        finally:
            await w.stop_bot()


def link_button(message: dict[str, Any]) -> dict[str, Any]:
    [row] = message["components"]
    [button] = row["components"]
    return button


def token_of(url: str) -> str:
    return url.rsplit("/s/", 1)[1]


async def run_moodreel(w: World, user: StandInUser, **kw: Any) -> tuple[Call, str]:
    """Run /moodreel; returns discord.py's interaction callback and the session id of the link in it."""
    before = len(w.standin.calls)
    inter = await w.standin.slash_command(user, **kw)
    call = await w.standin.wait_for_call("POST", f"/interactions/{inter.id}/", "the reply", after=before)
    url = link_button(call.payload["data"])["url"]
    return call, w.services.sessions.verify_token(token_of(url))


async def finished_while_away(w: World, session_id: str) -> MoodResult:
    """The session's page finishes while the bot is stopped: a sad result, stored and not delivered."""
    emotion = emotion_from_names("sad", ("fear", "neutral"))
    origin = await w.services.sessions.origin(session_id)
    result = MoodResult(
        session_id, emotion, mood_colours(emotion), sample_recommendations(2), origin.to_dict()
    )
    assert (await w.services.sessions.complete(session_id, result)).state == "pending"
    return result


def sample_recommendations(n: int = 4) -> tuple[Recommendation, ...]:
    picks = []
    for i in range(n):
        tmdb_id = 1000 + i
        picks.append(
            Recommendation(
                tmdb_id=tmdb_id,
                title=f"Movie number {i + 1}",
                title_ko=f"영화 {i + 1}",
                year=2000 + i,
                genres=("Comedy", "Science Fiction") if i % 2 == 0 else ("Drama",),
                score=90.0 - i,
                reason=f"Its poster's warm yellows match your happy mood ({i + 1}).",
                vote_count=1000 + i,
                vote_average=7.5,
                poster_url=None if i % 2 else f"https://image.tmdb.org/t/p/w500/poster{i}.jpg",
                tmdb_url=f"https://www.themoviedb.org/movie/{tmdb_id}",
                watcha_url=f"https://pedia.watcha.com/ko-KR/contents/m{tmdb_id}" if i == 0 else None,
                palette=("#f5c542", "#2d3a8c", "#e0e0e0"),
            )
        )
    return tuple(picks)


async def finish_session(w: World, session_id: str, n: int = 4) -> MoodResult:
    """Complete the session as the webcam page does when the analysis is done."""
    emotion = emotion_from_names("happy", ("surprise", "neutral"))
    scores = (
        EmotionScore("happy", 0.20, 0.45, 0.25, 1.4, 0.002, 60, 62),
        EmotionScore("surprise", 0.05, 0.12, 0.07, 0.5, 0.03, 60, 62),
        EmotionScore("neutral", 0.60, 0.35, -0.25, -1.1, 0.15, 60, 62),
    )
    emotion = dataclasses.replace(emotion, scores=scores, method="change", face_frames=(60, 62))
    origin = await w.services.sessions.origin(session_id)
    result = MoodResult(
        session_id, emotion, mood_colours(emotion), sample_recommendations(n), origin.to_dict()
    )
    assert await w.services.sessions.complete(session_id, result), "the Discord hook took the result"
    return result


def components(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [row["components"] for row in message["components"]]


def movie_title(message_or_payload: dict[str, Any]) -> str:
    return str(message_or_payload["embeds"][1]["title"])


async def deliver_one(
    w: World, user: StandInUser | None = None, n: int = 4, **kw: Any
) -> tuple[MoodResult, Call]:
    """/moodreel, then the session completes; returns the result and the post it made: the channel
    post (deliver=channel), or the edit of the /moodreel reply into the private result."""
    user = user or w.alice
    reply, session_id = await run_moodreel(w, user, **kw)
    before = len(w.standin.calls)
    result = await finish_session(w, session_id, n)
    assert w.bot is not None
    if w.bot.settings.discord.deliver == "channel":
        call = await w.standin.wait_for_call("POST", "/messages", "the result post", after=before)
    else:
        token = reply.path.split("/")[3]
        call = await w.standin.wait_for_call(
            "PATCH",
            f"/webhooks/{w.standin.application_id}/{token}/messages/@original",
            "the private result",
            after=before,
        )
    return result, call


def original_of(w: World, reply: Call) -> dict[str, Any]:
    """The message a /moodreel reply created (the ephemeral link, later the private result)."""
    interaction_id = int(reply.path.split("/")[2])
    inter = w.standin.interactions[interaction_id]
    assert inter.original_id is not None
    return w.standin.messages[inter.original_id]
