"""The Mattermost adapter end to end: real HTTP to our endpoints, real mattermostdriver against a stand-in."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mattermostdriver import Driver

from bot.mattermost import ACTIONS_PATH, COMMAND_PATH
from bot.mattermost.client import driver_options
from bot.mattermost.command_text import CommandTextError, parse_command_text
from bot.mattermost.messages import result_post
from bot.mattermost.signing import BadContext, ContextSigner, PageContext
from core.colour.psychology import colour_name
from core.config import Settings
from core.present.summary import summarise
from core.present.words import emotion_name
from core.values.results import EmotionResult, MoodResult, Recommendation
from tests.support.face_frames import face_frames
from tests.support.mattermost_world import (
    COMMAND_TOKEN,
    World,
    carousel_attachment,
    click,
    complete,
    link,
    link_session,
    share_button,
    shows,
    stored_sessions,
    summary_of,
    wait_until,
)
from tests.support.standins.mattermost_server import new_id
from tests.support.ws_client import run_session

FRAME_SIZE = (320, 240)  # small frames keep the test quick; the detector scales them anyway


# --- the slash command ---------------------------------------------------------------------------


async def test_slash_command_answers_with_a_private_link(world: World) -> None:
    status, ctype, body = await world.slash(world.alice)
    assert status == 200 and ctype == "application/json"
    assert body["response_type"] == "ephemeral"
    [doc] = await stored_sessions(world.services.store)
    link = next(w for w in body["text"].split() if w.startswith(f"{world.base}/s/"))
    assert world.services.sessions.verify_token(link.rsplit("/", 1)[1]) == doc["session_id"]
    assert "valid for 10 minutes" in body["text"] and "privately" in body["text"]
    assert "~" not in body["text"], "no channel name: in a DM it would be a raw ~id__id"
    origin = doc["origin"]
    assert origin["platform"] == "mattermost" and origin["user_id"] == world.alice.id
    assert origin["channel_id"] == world.channel.id and origin["user_name"] == "alice"
    assert origin["extra"]["team_id"] == world.channel.team_id and origin["declared_feeling"] is None
    assert origin["extra"]["deliver"] == "private"


async def test_wrong_or_missing_token_gets_401_and_no_session(world: World) -> None:
    for token in ("wrong-token", "", COMMAND_TOKEN[:-1], COMMAND_TOKEN + "x"):
        status, ctype, body = await world.slash(world.alice, token=token)
        assert status == 401 and ctype == "application/json" and body["response_type"] == "ephemeral"
    assert await stored_sessions(world.services.store) == []
    # Mattermost also sends the token as "Authorization: Token ...": that alone is accepted.
    form = world.form(world.alice)
    del form["token"]
    url = f"{world.base}{COMMAND_PATH}"
    async with world.http.post(url, data=form, headers={"Authorization": f"Token {COMMAND_TOKEN}"}) as resp:
        assert resp.status == 200
    assert len(await stored_sessions(world.services.store)) == 1


async def test_feeling_in_the_text_is_the_fallback(world: World) -> None:
    status, _, body = await world.slash(world.alice, "happy")
    assert status == 200 and "**Happy**" in body["text"]
    [doc] = await stored_sessions(world.services.store)
    assert doc["origin"]["declared_feeling"] == "happy"


async def test_help_prints_usage_and_creates_nothing(world: World) -> None:
    status, ctype, body = await world.slash(world.alice, "help")
    assert status == 200 and ctype == "application/json" and body["response_type"] == "ephemeral"
    assert "/moodreel happy" in body["text"] and "never stored" in body["text"]
    _, _, body = await world.slash(world.alice, "도움말")
    assert "/moodreel 행복" in body["text"]
    assert await stored_sessions(world.services.store) == []


async def test_unknown_word_is_explained_and_creates_nothing(world: World) -> None:
    status, _, body = await world.slash(world.alice, "hangry")
    assert status == 200 and "`hangry`" in body["text"] and "No link was created" in body["text"]
    assert await stored_sessions(world.services.store) == []


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
    states = sorted(d["state"] for d in await stored_sessions(world.services.store))
    assert states == ["created", "expired"]


async def test_locale_falls_back_to_config_when_mattermost_is_down(world: World) -> None:
    await world.standin.stop()
    status, _, body = await world.slash(world.minji)
    assert status == 200 and "Here is your private MoodReel link" in body["text"]
    assert len(await stored_sessions(world.services.store)) == 1


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
    # HTTP 200 with ephemeral_text: Mattermost shows that text only on 200 ("Action failed" otherwise).
    async with world.http.post(url, json=request) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        answer = await resp.json()
        assert "update" not in answer and answer["ephemeral_text"] == "This button's context is not valid."
    async with world.http.post(url, json={**request, "context": None}) as resp:
        assert resp.status == 200 and "update" not in await resp.json()
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


async def test_full_flow_through_the_webcam_websocket(world: World) -> None:
    """/moodreel -> private link -> the link opened by a real WebSocket client streaming real face
    frames -> the result sent privately (a DM) with the mood card, the carousel and the Share button
    -> paging with the buttons -> Share posts the public version in the channel, once."""
    session_id, url = await link(world, world.alice, "happy")
    baseline = face_frames(10, FRAME_SIZE, labels=["neutral"], seed=1)
    stimulus = face_frames(10, FRAME_SIZE, labels=["happy"], seed=2)
    final = await run_session(url, baseline, stimulus, fps=10)
    assert final["type"] == "result" and final["delivered"] is True and final["delivery"] == "delivered"
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "delivered"
    result = MoodResult.from_dict(doc["result"])
    assert result.emotion.face_frames[0] >= world.settings.sessions.min_face_frames
    recs = result.recommendations
    n = len(recs)
    assert n >= 3

    # One post, private: a direct message from the bot, with the uploaded mood card and the first movie.
    [post] = world.standin.posts.values()
    [dm] = world.standin.direct_posts(world.alice)
    assert post is dm and post["user_id"] == world.standin.bot.id
    assert post["channel_id"] != world.channel.id, "nothing in the channel without the user's consent"
    [file_id] = post["file_ids"]
    card = world.standin.files[file_id]
    assert card["data"].startswith(b"\x89PNG\r\n\x1a\n") and card["mime_type"] == "image/png"
    assert card["post_id"] == post["id"] and card["channel_id"] == post["channel_id"]
    headline = summarise(result.emotion, "en").headline
    assert post["message"].startswith("_Only you can see this.")
    assert summary_of(post).startswith(f"#### @alice's mood: {headline}\n")
    assert f"- **{emotion_name('en', result.emotion.primary)}**: " in post["message"]
    assert all(emotion_name("en", e) in post["message"] for e in result.emotion.secondary)
    assert all(c.hex in post["message"] for c in result.colours)
    first = carousel_attachment(post)
    assert shows(first, recs[0]) and first["footer"].endswith(f"1 / {n}")
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

    # ▶: Mattermost sends the click to MoodReel and applies the update (the Share button stays).
    await click(world, world.alice, post["id"], "next")
    call = world.standin.actions[-1]
    assert call.status == 200 and call.request["user_id"] == world.alice.id
    assert share_button(post)["name"] == "Share with the channel"
    assert call.response is not None and "update" in call.response
    assert shows(carousel_attachment(post), recs[1]) and carousel_attachment(post)["footer"].endswith(
        f"2 / {n}"
    )
    assert post["file_ids"] == [file_id] and world.standin.files[file_id]["post_id"] == post["id"]
    assert post["message"] == call.response["update"]["message"]
    await click(world, world.alice, post["id"], "prev")
    await click(world, world.alice, post["id"], "prev")
    assert shows(carousel_attachment(post), recs[n - 1])  # wraps around

    # The button endpoint itself, called with Mattermost's JSON action request.
    next_button = carousel_attachment(post)["actions"][1]
    request = {**call.request, "trigger_id": new_id(), "context": next_button["integration"]["context"]}
    async with world.http.post(next_button["integration"]["url"], json=request) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        update = (await resp.json())["update"]
    assert shows(update["props"]["attachments"][0], recs[0]) and update["file_ids"] == [file_id]

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
            assert r.status == 200 and "update" not in await r.json()
    assert json.dumps(post, sort_keys=True) == before

    # Share: only alice may press it; then the public version appears in the channel, once.
    share_post = post["id"]
    await click(world, world.minji, share_post, "share")
    assert world.standin.ephemeral[-1]["post"]["message"].startswith("Only the person who ran")
    await click(world, world.alice, share_post, "share")
    assert (
        world.standin.ephemeral[-1]["post"]["message"] == "Shared in the channel where you ran the command."
    )
    [public] = [p for p in world.standin.posts.values() if p["channel_id"] == world.channel.id]
    assert public["message"].startswith("@alice shared their MoodReel result.\n#### @alice's mood:")
    assert len(public["file_ids"]) == 1 and public["file_ids"] != post["file_ids"]  # its own card there
    await click(world, world.alice, share_post, "share")
    assert world.standin.ephemeral[-1]["post"]["message"] == "This result is already shared."
    assert len([p for p in world.standin.posts.values() if p["channel_id"] == world.channel.id]) == 1
    assert await world.services.sessions.delivery(session_id, "share")


async def test_korean_result_post(world: World) -> None:
    session_id = await link_session(world, world.minji)
    result = await complete(world, session_id, "sad", ("neutral", "fear"))
    [post] = world.standin.posts.values()
    assert summary_of(post).startswith("#### @minji 님의 기분: 지금 기분을 슬픔(으)로 알려 주셨어요.")
    assert all(f"`{c.hex}` {colour_name(c, 'ko')}" in post["message"] for c in result.colours)
    first = carousel_attachment(post)
    rec = result.recommendations[0]
    assert first["title"] == f"{rec.title_ko or rec.title} ({rec.year})"
    assert {f["title"] for f in first["fields"]} == {"개봉", "장르", "어울림"}
    # The match reason is in Korean too, naming the colour by its Korean name.
    assert rec.reason_ko and first["text"] == rec.reason_ko and first["text"] != rec.reason
    assert first["text"].startswith("포스터의") and "ΔE00" in first["text"]


async def test_results_wait_while_mattermost_is_down_and_are_retried(world: World) -> None:
    session_id = await link_session(world, world.alice)
    port = world.standin.port
    await world.standin.stop()
    await complete(world, session_id, "angry", ("disgust", "sad"))
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "analysed" and not doc["delivered"]
    assert [r.session_id for r in await world.services.sessions.undelivered("mattermost")] == [session_id]
    assert world.standin.posts == {}

    await world.standin.start(port)  # Mattermost is back; the retry task finds the result
    await wait_until(lambda: bool(world.standin.posts), "the retried post")
    [post] = world.standin.posts.values()
    assert summary_of(post).startswith("#### @alice's mood: You told us you feel Angry.")
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
    session_id = await link_session(world, world.alice)
    await world.services.sessions.fail(session_id, "no face was found")
    [note] = world.standin.direct_posts(world.alice)
    assert note["user_id"] == world.standin.bot.id and world.standin.ephemeral == []
    assert "no face was found" in note["message"] and "/moodreel" in note["message"]
    # With the permission, it is an ephemeral message in the channel the command came from.
    world.standin.ephemeral_allowed = True
    session_id = await link_session(world, world.minji)
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
