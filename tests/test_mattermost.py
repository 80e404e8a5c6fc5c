"""The Mattermost adapter end to end: real HTTP to our endpoints, real mattermostdriver against a stand-in."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from mattermostdriver import Driver

from bot.mattermost import ACTIONS_PATH, COMMAND_PATH, setup_mattermost
from core.config import Settings, load_settings
from core.sessions import SessionService
from core.store import Store
from tests.standins.mattermost_server import Channel, MattermostStandIn, User, new_id

COMMAND_TOKEN = "slash-command-token-1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    sessions: SessionService


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


@pytest_asyncio.fixture
async def world(mongo_uri: str, database_name: str, store: Store) -> AsyncIterator[World]:
    bot = User(new_id(), "moodreel", new_id())
    standin = MattermostStandIn(bot)
    alice = standin.add_user("alice", "en")
    minji = standin.add_user("minji", "ko")
    channel = standin.add_channel("town-square")
    await standin.start()
    settings = load_settings(
        env={
            "MONGODB_URI": mongo_uri,
            "MOODREEL_SECRET": "test-secret",
            "MOODREEL_MONGODB_DATABASE": database_name,
            "MOODREEL_SERVER_PORT": str(free_port()),
            "MOODREEL_MATTERMOST_DELIVER_RETRY_SECONDS": "0.2",
            "MATTERMOST_URL": standin.url,
            "MATTERMOST_TOKEN": bot.token,
            "MATTERMOST_COMMAND_TOKEN": COMMAND_TOKEN,
        }
    )
    services = Services(settings, store, SessionService(store, settings))
    app = web.Application()
    setup_mattermost(app, services)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.server.port).start()
    async with aiohttp.ClientSession() as http:
        try:
            yield World(settings, services, standin, alice, minji, channel, http)
        finally:
            await runner.cleanup()
            await standin.stop()


async def _sessions(store: Store) -> list[dict[str, Any]]:
    return [d async for d in store.sessions.find({}, {"_id": 0})]


# --- the slash command ---------------------------------------------------------------------------


async def test_slash_command_answers_with_a_private_link(world: World) -> None:
    status, ctype, body = await world.slash(world.alice)
    assert status == 200 and ctype == "application/json"
    assert body["response_type"] == "ephemeral"
    [doc] = await _sessions(world.services.store)
    link = next(w for w in body["text"].split() if w.startswith(f"{world.base}/s/"))
    assert world.services.sessions.verify_token(link.rsplit("/", 1)[1]) == doc["session_id"]
    assert "valid for 10 minutes" in body["text"] and "~town-square" in body["text"]
    origin = doc["origin"]
    assert origin["platform"] == "mattermost" and origin["user_id"] == world.alice.id
    assert origin["channel_id"] == world.channel.id and origin["user_name"] == "alice"
    assert origin["extra"]["team_id"] == world.channel.team_id and origin["declared_feeling"] is None


async def test_wrong_or_missing_token_gets_401_and_no_session(world: World) -> None:
    for token in ("wrong-token", "", COMMAND_TOKEN[:-1], COMMAND_TOKEN + "x"):
        status, ctype, body = await world.slash(world.alice, token=token)
        assert status == 401 and ctype == "application/json" and body["response_type"] == "ephemeral"
    assert await _sessions(world.services.store) == []
    # Mattermost also sends the token as "Authorization: Token ...": that alone is accepted.
    form = world.form(world.alice)
    del form["token"]
    url = f"{world.base}{COMMAND_PATH}"
    async with world.http.post(url, data=form, headers={"Authorization": f"Token {COMMAND_TOKEN}"}) as resp:
        assert resp.status == 200
    assert len(await _sessions(world.services.store)) == 1


async def test_feeling_in_the_text_is_the_fallback(world: World) -> None:
    status, _, body = await world.slash(world.alice, "happy")
    assert status == 200 and "**Happy**" in body["text"]
    [doc] = await _sessions(world.services.store)
    assert doc["origin"]["declared_feeling"] == "happy"


async def test_help_prints_usage_and_creates_nothing(world: World) -> None:
    status, ctype, body = await world.slash(world.alice, "help")
    assert status == 200 and ctype == "application/json" and body["response_type"] == "ephemeral"
    assert "/moodreel happy" in body["text"] and "never stored" in body["text"]
    _, _, body = await world.slash(world.alice, "도움말")
    assert "/moodreel 행복" in body["text"]
    assert await _sessions(world.services.store) == []


async def test_unknown_word_is_explained_and_creates_nothing(world: World) -> None:
    status, _, body = await world.slash(world.alice, "hangry")
    assert status == 200 and "`hangry`" in body["text"] and "No link was created" in body["text"]
    assert await _sessions(world.services.store) == []


async def test_reply_language_follows_the_user_or_the_text(world: World) -> None:
    # minji's Mattermost language is Korean (looked up through the bot account)
    _, _, body = await world.slash(world.minji)
    assert "나만 볼 수 있는 MoodReel 링크" in body["text"]
    doc = await world.services.store.sessions.find_one({"origin.user_id": world.minji.id, "state": "created"})
    assert doc is not None and doc["origin"]["locale"] == "ko"
    # ... unless she asks for English; alice gets Korean by typing a Korean feeling
    _, _, body = await world.slash(world.minji, "en sad")
    assert "Here is your private MoodReel link" in body["text"] and "Your previous link" in body["text"]
    _, _, body = await world.slash(world.alice, "슬픔")
    assert "**슬픔**" in body["text"]
    doc = await world.services.store.sessions.find_one({"origin.user_id": world.alice.id, "state": "created"})
    assert doc is not None and doc["origin"]["locale"] == "ko" and doc["origin"]["declared_feeling"] == "sad"


async def test_a_new_command_replaces_the_open_link(world: World) -> None:
    await world.slash(world.alice)
    _, _, body = await world.slash(world.alice)
    assert "Your previous link no longer works" in body["text"]
    states = sorted(d["state"] for d in await _sessions(world.services.store))
    assert states == ["created", "expired"]


async def test_locale_falls_back_to_config_when_mattermost_is_down(world: World) -> None:
    await world.standin.stop()
    status, _, body = await world.slash(world.minji)
    assert status == 200 and "Here is your private MoodReel link" in body["text"]
    assert len(await _sessions(world.services.store)) == 1


# --- buttons -------------------------------------------------------------------------------------


async def test_tampered_or_missing_button_context_is_refused(world: World) -> None:
    url = f"{world.base}{ACTIONS_PATH}"
    request = {
        "user_id": world.alice.id,
        "user_name": "alice",
        "channel_id": world.channel.id,
        "channel_name": world.channel.name,
        "team_id": world.channel.team_id,
        "team_domain": world.channel.team_domain,
        "post_id": new_id(),
        "trigger_id": new_id(),
        "type": "button",
        "data_source": "",
        "context": {"v": 1, "session_id": "x", "index": 1, "locale": "en", "file_ids": [], "sig": "0" * 64},
    }
    async with world.http.post(url, json=request) as resp:
        assert resp.status == 403 and resp.headers["Content-Type"] == "application/json"
        assert "update" not in await resp.json()
    async with world.http.post(url, json={**request, "context": None}) as resp:
        assert resp.status == 403
    async with world.http.post(url, data=b"not json", headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400


async def test_standin_speaks_what_mattermostdriver_expects(world: World) -> None:
    driver = world.driver(world.alice)
    me = await asyncio.to_thread(driver.login)
    assert me["id"] == world.alice.id and driver.client.userid == world.alice.id
    bad = Driver({"url": "127.0.0.1", "scheme": "http", "port": world.standin.port, "token": "nope"})
    with pytest.raises(Exception, match="Invalid or expired session"):
        await asyncio.to_thread(bad.login)
