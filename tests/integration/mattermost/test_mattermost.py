"""The Mattermost adapter end to end: real HTTP to our endpoints, real mattermostdriver against a stand-in."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from mattermostdriver import Driver

from bot.mattermost import ACTIONS_PATH, COMMAND_PATH, MATTERMOST_ADAPTER, MattermostAdapter, setup_mattermost
from bot.mattermost.client import driver_options
from bot.mattermost.command_text import CommandTextError, parse_command_text
from bot.mattermost.messages import result_post
from bot.mattermost.signing import BadContext, ContextSigner, PageContext
from core.colour.psychology import colour_name, emotion_from_names
from core.config import Settings
from core.mood import mood_result
from core.present.summary import summarise
from core.present.words import emotion_name
from core.services import Services
from core.storage.store import Store
from core.values.results import EmotionResult, MoodResult, Recommendation
from tests.support.face_frames import face_frames
from tests.support.services import running_services, short_settings
from tests.support.standins.mattermost_server import Channel, MattermostStandIn, User, new_id
from tests.support.ws_client import run_session
from webcam_page.app import create_app

COMMAND_TOKEN = "slash-command-token-1234"
FRAME_SIZE = (320, 240)  # small frames keep the test quick; the detector scales them anyway


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
async def world(store: Store, settings: Settings) -> AsyncIterator[World]:
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
            try:
                yield World(settings, services, standin, alice, minji, channel, http, app[MATTERMOST_ADAPTER])
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


# --- the result: post, carousel, buttons, retries ------------------------------------------------


async def _complete(world: World, session_id: str, primary: str, secondary: tuple[str, str]) -> MoodResult:
    """Finish a session as the page's "tell us how you feel" path does: the recommender's picks."""
    emotion = emotion_from_names(primary, secondary)
    origin = await world.services.sessions.origin(session_id)
    result = await mood_result(session_id, emotion, world.services.recommender, origin, top_n=4)
    await world.services.sessions.complete(session_id, result)
    return result


async def _link(world: World, user: User, text: str = "") -> tuple[str, str]:
    """/moodreel TEXT as `user`: (the session id, the link from the ephemeral reply)."""
    _, _, body = await world.slash(user, text)
    link = next(w for w in body["text"].split() if w.startswith(f"{world.base}/s/"))
    return world.services.sessions.verify_token(link.rsplit("/", 1)[1]), link


async def _link_session(world: World, user: User, text: str = "") -> str:
    return (await _link(world, user, text))[0]


def _attachment(post: dict[str, Any]) -> dict[str, Any]:
    [attachment] = post["props"]["attachments"]
    return attachment


def _shows(attachment: dict[str, Any], rec: Recommendation) -> bool:
    return attachment["title"] == f"{rec.title} ({rec.year})" and attachment["text"] == rec.reason


async def _click(world: World, user: User, post_id: str, action_id: str) -> None:
    """A user presses a button: the stand-in forwards it to MoodReel as Mattermost does."""
    driver = world.driver(user)
    await asyncio.to_thread(driver.login)
    await asyncio.to_thread(driver.posts.perform_post_action, post_id, action_id)


async def _wait_for(predicate: Any, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def test_full_flow_through_the_webcam_websocket(world: World) -> None:
    """/moodreel -> private link -> the link opened by a real WebSocket client streaming real face
    frames -> the result posted with the mood card and the carousel -> paging with the buttons."""
    session_id, url = await _link(world, world.alice, "happy")
    baseline = face_frames(10, FRAME_SIZE, labels=["neutral"], seed=1)
    stimulus = face_frames(10, FRAME_SIZE, labels=["happy"], seed=2)
    final = await run_session(url, baseline, stimulus, fps=10)
    assert final["type"] == "result"
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "delivered"
    result = MoodResult.from_dict(doc["result"])
    assert result.emotion.face_frames[0] >= world.settings.sessions.min_face_frames
    recs = result.recommendations
    n = len(recs)
    assert n >= 3

    # One post in the channel, by the bot, with the uploaded mood card and the first movie.
    [post] = world.standin.posts.values()
    assert post["channel_id"] == world.channel.id and post["user_id"] == world.standin.bot.id
    [file_id] = post["file_ids"]
    card = world.standin.files[file_id]
    assert card["data"].startswith(b"\x89PNG\r\n\x1a\n") and card["mime_type"] == "image/png"
    assert card["post_id"] == post["id"] and card["channel_id"] == world.channel.id
    headline = summarise(result.emotion, "en").headline
    assert post["message"].startswith(f"#### @alice's mood: {headline}\n")
    assert f"- **{emotion_name('en', result.emotion.primary)}**: " in post["message"]
    assert all(emotion_name("en", e) in post["message"] for e in result.emotion.secondary)
    assert all(c.hex in post["message"] for c in result.colours)
    first = _attachment(post)
    assert _shows(first, recs[0]) and first["footer"].endswith(f"1 / {n}")
    # The poster: TMDB's image when the catalogue knows it, else MoodReel's own copy (served to all).
    local = f"{world.base}/posters/{recs[0].tmdb_id}.jpg"
    assert first["image_url"] == (recs[0].poster_url or local)
    if first["image_url"] == local:  # tests reach only 127.0.0.1, so only our own copy is fetched
        async with world.http.get(local) as resp:
            assert resp.status == 200 and (await resp.read()).startswith(b"\xff\xd8")
    fields = {f["title"]: f["value"] for f in first["fields"]}
    assert fields == {
        "Year": str(recs[0].year),
        "Match": f"{round(recs[0].score)} / 100",
        "Genres": ", ".join(recs[0].genres),
    }
    buttons = first["actions"]
    assert [(b["id"], b["name"]) for b in buttons] == [("prev", "◀"), ("next", "▶")]
    assert all(b["integration"]["url"] == f"{world.base}{ACTIONS_PATH}" for b in buttons)

    # ▶ as another member of the channel: Mattermost sends the click to MoodReel and applies the update.
    await _click(world, world.minji, post["id"], "next")
    call = world.standin.actions[-1]
    assert call.status == 200 and call.request["user_id"] == world.minji.id
    assert call.response is not None and "update" in call.response
    assert _shows(_attachment(post), recs[1]) and _attachment(post)["footer"].endswith(f"2 / {n}")
    assert post["file_ids"] == [file_id] and world.standin.files[file_id]["post_id"] == post["id"]
    assert post["message"] == call.response["update"]["message"]
    await _click(world, world.alice, post["id"], "prev")
    await _click(world, world.alice, post["id"], "prev")
    assert _shows(_attachment(post), recs[n - 1])  # wraps around

    # The button endpoint itself, called with Mattermost's JSON action request.
    next_button = _attachment(post)["actions"][1]
    request = {**call.request, "trigger_id": new_id(), "context": next_button["integration"]["context"]}
    async with world.http.post(next_button["integration"]["url"], json=request) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        update = (await resp.json())["update"]
    assert _shows(update["props"]["attachments"][0], recs[0]) and update["file_ids"] == [file_id]

    # A tampered context (another movie, another session, or other files) is refused, nothing changes.
    context = next_button["integration"]["context"]
    before = json.dumps(post, sort_keys=True)
    for tampered in (
        {**context, "index": 2},
        {**context, "session_id": "x" + context["session_id"][1:]},
        {**context, "file_ids": []},
        {k: v for k, v in context.items() if k != "sig"},
    ):
        async with world.http.post(
            next_button["integration"]["url"], json={**request, "context": tampered}
        ) as r:
            assert r.status == 403 and "update" not in await r.json()
    assert json.dumps(post, sort_keys=True) == before


async def test_korean_result_post(world: World) -> None:
    session_id = await _link_session(world, world.minji)
    result = await _complete(world, session_id, "sad", ("neutral", "fear"))
    [post] = world.standin.posts.values()
    assert post["message"].startswith("#### @minji 님의 기분: 지금 기분을 슬픔(으)로 알려 주셨어요.")
    assert all(f"`{c.hex}` {colour_name(c, 'ko')}" in post["message"] for c in result.colours)
    first = _attachment(post)
    rec = result.recommendations[0]
    assert first["title"] == f"{rec.title_ko or rec.title} ({rec.year})"
    assert {f["title"] for f in first["fields"]} == {"개봉", "장르", "어울림"}
    # The match reason is in Korean too, naming the colour by its Korean name.
    assert rec.reason_ko and first["text"] == rec.reason_ko and first["text"] != rec.reason
    assert first["text"].startswith("포스터의") and "ΔE00" in first["text"]


async def test_results_wait_while_mattermost_is_down_and_are_retried(world: World) -> None:
    session_id = await _link_session(world, world.alice)
    port = world.standin.port
    await world.standin.stop()
    await _complete(world, session_id, "angry", ("disgust", "sad"))
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "analysed" and not doc["delivered"]
    assert [r.session_id for r in await world.services.sessions.undelivered("mattermost")] == [session_id]
    assert world.standin.posts == {}

    await world.standin.start(port)  # Mattermost is back; the retry task finds the result
    await _wait_for(lambda: bool(world.standin.posts), "the retried post")
    [post] = world.standin.posts.values()
    assert post["message"].startswith("#### @alice's mood: You told us you feel Angry.")
    assert len(post["file_ids"]) == 1

    async def delivered() -> bool:
        d = await world.services.sessions.get(session_id)
        return d is not None and d["state"] == "delivered"

    for _ in range(200):
        if await delivered():
            break
        await asyncio.sleep(0.05)
    assert await delivered()
    assert await world.services.sessions.undelivered("mattermost") == []
    await asyncio.sleep(3 * world.settings.mattermost.deliver_retry_seconds)
    assert len(world.standin.posts) == 1  # delivered once, never again


async def test_a_failed_session_is_reported_privately(world: World) -> None:
    # Bots may not post ephemeral messages by default (403): the note goes as a direct message.
    session_id = await _link_session(world, world.alice)
    await world.services.sessions.fail(session_id, "no face was found")
    [note] = world.standin.direct_posts(world.alice)
    assert note["user_id"] == world.standin.bot.id and world.standin.ephemeral == []
    assert "no face was found" in note["message"] and "/moodreel" in note["message"]
    # With the permission, it is an ephemeral message in the channel the command came from.
    world.standin.ephemeral_allowed = True
    session_id = await _link_session(world, world.minji)
    await world.services.sessions.fail(session_id, "the camera was denied")
    [note] = world.standin.ephemeral
    assert note["user_id"] == world.minji.id and note["post"]["channel_id"] == world.channel.id
    assert (
        "the camera was denied" in note["post"]["message"] and "세션이 끝났습니다" in note["post"]["message"]
    )
    assert len(world.standin.posts) == 1  # the direct message only: no result post for failures


# --- the pieces on their own ---------------------------------------------------------------------

SIGNER = ContextSigner("test-secret")


@given(
    session_id=st.text(min_size=1, max_size=30),
    index=st.integers(0, 99),
    locale=st.sampled_from(["en", "ko"]),
    file_ids=st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=26, max_size=26), max_size=3
    ),
    field=st.sampled_from(["v", "session_id", "index", "locale", "file_ids", "sig"]),
)
def test_signed_context_round_trips_and_any_change_is_refused(
    session_id: str, index: int, locale: str, file_ids: list[str], field: str
) -> None:
    page = PageContext(session_id, index, locale, tuple(file_ids))
    context = json.loads(json.dumps(SIGNER.sign(page)))  # as it comes back from Mattermost
    assert SIGNER.verify(context) == page
    changed = {
        "v": 2,
        "session_id": session_id + "x",
        "index": index + 1,
        "locale": "ko" if locale == "en" else "en",
        "file_ids": [*file_ids, "z" * 26],
        "sig": "0" * 64,
    }[field]
    with pytest.raises(BadContext):
        SIGNER.verify({**context, field: changed})
    with pytest.raises(BadContext):
        SIGNER.verify({k: v for k, v in context.items() if k != field})
    with pytest.raises(BadContext):
        ContextSigner("another-secret").verify(context)


def test_command_text_parsing() -> None:
    assert parse_command_text("") == parse_command_text("   ")
    assert parse_command_text("Happy").feeling == "happy"
    assert (
        parse_command_text("ko scared").feeling == "fear" and parse_command_text("ko scared").locale == "ko"
    )
    assert parse_command_text("행복").korean_words and parse_command_text("행복").feeling == "happy"
    assert parse_command_text("sad help").help
    with pytest.raises(CommandTextError) as err:
        parse_command_text("happy sad")  # one feeling only
    assert err.value.word == "sad"


def test_driver_options_from_mattermost_url(settings: Settings) -> None:
    def opts(url: str) -> dict[str, Any]:
        return driver_options(dataclasses.replace(settings.mattermost, url=url, token="t"))

    def where(o: dict[str, Any]) -> tuple[Any, ...]:
        return o["scheme"], o["url"], o["port"], o["basepath"]

    assert where(opts("chat.example.com")) == ("https", "chat.example.com", 443, "/api/v4")
    assert where(opts("http://127.0.0.1:8065")) == ("http", "127.0.0.1", 8065, "/api/v4")
    assert where(opts("https://example.com/mattermost/")) == (
        "https",
        "example.com",
        443,
        "/mattermost/api/v4",
    )
    with pytest.raises(ValueError, match="MATTERMOST_URL"):
        opts("ftp://example.com")


def test_carousel_with_one_movie_or_none() -> None:
    emotion = EmotionResult("happy", ("surprise", "neutral"), {"happy": 0.9, "surprise": 0.4, "neutral": 0.2})
    rec = Recommendation(
        603, "The Matrix", "매트릭스", 1999, ("Action", "Science Fiction"), 91.4,
        "Its green matches.", "초록이 어울려요.",
        poster_url="https://image.tmdb.org/t/p/w500/matrix.jpg", palette=("#113322",),
    )  # fmt: skip
    one = MoodResult("s1", emotion, (), (rec,), {"user_name": "ann"})
    post = result_post(one, "c1", "ko", ("f1",), SIGNER, "http://x/mattermost/actions")
    [attachment] = post["props"]["attachments"]
    assert attachment["image_url"] == rec.poster_url and attachment["color"] == "#113322"
    assert attachment["title"] == "매트릭스 (1999)" and "actions" not in attachment  # nothing to page to
    assert attachment["text"] == "초록이 어울려요."
    english = result_post(one, "c1", "en", ("f1",), SIGNER, "http://x/mattermost/actions")
    assert english["props"]["attachments"][0]["text"] == "Its green matches."
    assert {f["value"] for f in attachment["fields"]} == {"1999", "91 / 100", "액션, SF"}
    assert post["channel_id"] == "c1" and post["file_ids"] == ["f1"]
    none = result_post(MoodResult("s2", emotion, (), ()), "c1", "en", ("f2",), SIGNER, "http://x")
    assert none["props"]["attachments"] == [] and "No movie in the catalogue" in none["message"]
    assert none["message"].startswith("#### Your mood: Mostly Happy, with a touch of Surprised and Calm.\n")


async def test_a_channel_the_bot_cannot_post_in_is_set_aside(world: World) -> None:
    """Mattermost answers 403 (the bot is not a member): retrying cannot help, so it stops trying."""
    world.channel = world.standin.add_channel("private")
    world.standin.channels.pop(world.channel.id)  # the bot was never added to it
    session_id = await _link_session(world, world.alice)
    await _complete(world, session_id, "happy", ("surprise", "neutral"))
    assert not (await world.services.sessions.get(session_id) or {}).get("delivered")
    await world.adapter.retry_undelivered()
    uploads = world.standin.log.count(("POST", "/api/v4/files"))
    await world.adapter.retry_undelivered()
    assert world.standin.log.count(("POST", "/api/v4/files")) == uploads and world.standin.posts == {}
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "analysed"  # kept, not lost: a restart tries again
