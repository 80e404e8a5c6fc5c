"""The Discord adapter end to end: the real discord.py client against a stand-in Discord on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.discord import MoodReelBot, start_discord
from core.config import Settings
from core.sessions import SessionService
from core.store import Store
from tests.standins.discord_server import PRIVILEGED_INTENTS, Call, DiscordStandIn, StandInUser

TOKEN = "stand-in-bot-token"


@dataclass(frozen=True)
class BotServices:
    """The part of core.services.Services the Discord adapter uses."""

    settings: Settings
    store: Store
    sessions: SessionService


@dataclass
class World:
    standin: DiscordStandIn
    settings: Settings
    services: BotServices
    alice: StandInUser
    minji: StandInUser
    bot: MoodReelBot | None = None
    task: asyncio.Task[None] | None = None

    async def start_bot(self, services: Any = None) -> MoodReelBot:
        """`start_discord` as `moodreel serve` runs it, until `stop_bot` cancels it."""
        started: list[MoodReelBot] = []
        self.task = asyncio.create_task(
            start_discord(
                services or self.services,
                token=TOKEN,
                api_base=self.standin.api_base,
                gateway_url=self.standin.gateway_url,
                on_started=started.append,
                guild_ready_timeout=0.1,
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


@pytest_asyncio.fixture
async def world(store: Store, settings: Settings) -> AsyncIterator[World]:
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


# --- the stand-in itself --------------------------------------------------------------------------


async def test_standin_replies_with_exactly_application_json(world: World) -> None:
    me = f"{world.standin.api_base}/users/@me"
    async with aiohttp.ClientSession() as http:
        async with http.get(me, headers={"Authorization": f"Bot {TOKEN}"}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/json"
            assert (await r.json())["id"] == str(world.standin.application_id)
        async with http.get(me, headers={"Authorization": "Bot wrong"}) as r:
            assert r.status == 401 and r.headers["Content-Type"] == "application/json"


# --- start-up: login, command sync, gateway -----------------------------------------------------


async def test_login_syncs_the_command_to_the_guild_and_identifies_without_privileged_intents(
    world: World,
) -> None:
    world.standin.heartbeat_interval_ms = 100
    await world.start_bot()
    assert world.calls("GET", "/users/@me") and world.calls("GET", "/oauth2/applications/@me")
    app, guild = world.standin.application_id, world.standin.guild_id
    [sync] = world.calls("PUT", f"/applications/{app}/guilds/{guild}/commands")
    [command] = sync.payload
    assert command["name"] == "moodreel"
    assert command["description_localizations"]["ko"].startswith("카메라로")
    [option] = command["options"]
    assert option["name"] == "feeling" and option["required"] is False and option["type"] == 3
    assert option["name_localizations"] == {"ko": "기분"}
    choices = {c["value"]: c for c in option["choices"]}
    assert set(choices) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert choices["happy"]["name"] == "Happy" and choices["happy"]["name_localizations"] == {"ko": "행복"}
    assert not world.calls("PUT", f"/applications/{world.standin.application_id}/commands")  # no global sync

    [identify] = world.standin.identifies
    assert identify["token"] == TOKEN
    assert identify["intents"] & 1, "the guilds intent keeps channels cached"
    assert not any(identify["intents"] & bit for bit in PRIVILEGED_INTENTS.values())
    session = await world.standin.wait_until_connected()
    await world.standin.wait_for(lambda: session.heartbeats >= 3, "three heartbeats")


async def test_without_guild_ids_the_command_is_synced_globally(world: World) -> None:
    settings = with_discord(world.settings, guild_ids=())
    await world.start_bot(BotServices(settings, world.services.store, world.services.sessions))
    [sync] = world.calls("PUT", f"/applications/{world.standin.application_id}/commands")
    assert [c["name"] for c in sync.payload] == ["moodreel"]
    assert not world.calls("PUT", "/guilds/")
    # A global command works in a DM with the bot too.
    call, session_id = await run_moodreel(world, world.alice, in_dm=True)
    assert call.payload["data"]["flags"] == 64
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and "guild_id" not in doc["origin"]["extra"]


async def test_a_wrong_token_is_a_clear_error(world: World) -> None:
    with pytest.raises(Exception, match="DISCORD_TOKEN"):
        await start_discord(world.services, token="not-the-token", api_base=world.standin.api_base)


# --- /moodreel ----------------------------------------------------------------------------------


async def test_moodreel_answers_privately_with_a_valid_session_link(world: World) -> None:
    await world.start_bot()
    call, session_id = await run_moodreel(world, world.alice, options={"feeling": "happy"})
    assert call.query.get("with_response") == "1"
    assert call.payload["type"] == 4  # CHANNEL_MESSAGE_WITH_SOURCE, answered at once
    data = call.payload["data"]
    assert data["flags"] == 64, "the link is ephemeral: only the user sees it"
    button = link_button(data)
    assert button["type"] == 2 and button["style"] == 5 and "custom_id" not in button
    assert button["url"].startswith(f"{world.settings.server.base_url}/s/")
    assert "🔒" in data["content"] and "deleted right after analysis" in data["content"]
    assert "**Happy**" in data["content"]
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "created"
    origin = doc["origin"]
    assert origin["platform"] == "discord" and origin["user_id"] == str(world.alice.id)
    assert origin["channel_id"] == str(world.standin.channel_id) and origin["user_name"] == "Alice"
    assert origin["declared_feeling"] == "happy" and origin["locale"] == "en"
    assert origin["extra"] == {
        "guild_id": str(world.standin.guild_id),
        "deliver": "channel",
        "application_id": str(world.standin.application_id),
    }


async def test_korean_users_get_korean(world: World) -> None:
    await world.start_bot()
    call, session_id = await run_moodreel(world, world.minji, locale="ko", options={"feeling": "sad"})
    data = call.payload["data"]
    assert "한 번만 쓸 수 있고" in data["content"] and "**슬픔**" in data["content"]
    assert link_button(data)["label"] == "기분 측정 열기"
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["origin"]["locale"] == "ko"


async def test_running_moodreel_again_replaces_the_open_link(world: World) -> None:
    await world.start_bot()
    first, old_id = await run_moodreel(world, world.alice)
    assert "replaces" not in first.payload["data"]["content"]
    second, new_id = await run_moodreel(world, world.alice)
    assert new_id != old_id
    assert "no longer works" in second.payload["data"]["content"]
    old = await world.services.sessions.get(old_id)
    assert old is not None and old["state"] == "expired" and old["reason"] == "replaced"
    assert old_id not in world.bot.pending and new_id in world.bot.pending  # type: ignore[union-attr]
