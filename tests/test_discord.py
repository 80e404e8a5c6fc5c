"""The Discord adapter end to end: the real discord.py client against a stand-in Discord on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.discord import DiscordConfigError, MoodReelBot, start_discord
from bot.discord.render import summary_embed
from bot.discord.texts import TEXTS, lang_of
from core.colour_psychology import emotion_from_names, mood_colours
from core.config import Settings
from core.emotions import EMOTION_LABELS
from core.results import EmotionScore, MoodResult, Recommendation
from core.sessions import SessionService
from core.store import Store
from tests.standins.discord_server import PRIVILEGED_INTENTS, Call, DiscordStandIn, StandInUser

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


@dataclass
class World:
    standin: DiscordStandIn
    settings: Settings
    services: BotServices
    alice: StandInUser
    minji: StandInUser
    bot: MoodReelBot | None = None
    task: asyncio.Task[None] | None = None

    async def start_bot(self, services: Any = None, **options: Any) -> MoodReelBot:
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


def test_every_text_exists_in_both_languages() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["ko"])
    assert lang_of("ko") == "ko" and lang_of("en-US") == "en" and lang_of("ja") == "en"


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
    with pytest.raises(DiscordConfigError, match="Discord refused DISCORD_TOKEN"):
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


async def test_links_and_interaction_tokens_stay_out_of_debug_logs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await world.start_bot()
    call, _ = await run_moodreel(world, world.alice)
    link_token = token_of(link_button(call.payload["data"])["url"])
    interaction_token = call.path.split("/")[3]
    assert caplog.records, "debug logging was on"
    assert link_token not in caplog.text and interaction_token not in caplog.text
    assert TOKEN not in caplog.text


async def test_a_slow_start_defers_within_the_window_then_edits_in_the_link(world: World) -> None:
    # A budget of 0 s stands for a database slower than Discord's 3-second window.
    await world.start_bot(reply_budget=0.0)
    before = len(world.standin.calls)
    inter = await world.standin.slash_command(world.alice)
    deferred = await world.standin.wait_for_call("POST", f"/interactions/{inter.id}/", after=before)
    assert deferred.payload == {"type": 5, "data": {"flags": 64}}, "an ephemeral 'thinking…' first"
    edit = await world.standin.wait_for_call(
        "PATCH", f"/webhooks/{world.standin.application_id}/", after=before
    )
    assert edit.path.endswith(f"/{inter.token}/messages/@original")
    url = link_button(edit.payload)["url"]
    session_id = world.services.sessions.verify_token(token_of(url))
    assert "🔒" in edit.payload["content"]
    original = world.standin.messages[inter.original_id]  # type: ignore[index]
    assert original["flags"] & 64 and link_button(original)["url"] == url
    assert session_id in world.bot.pending  # type: ignore[union-attr]


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


# --- the result: summary, mood card, carousel ---------------------------------------------------


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
    """/moodreel, then the session completes; returns the result and the channel post it made."""
    user = user or w.alice
    _, session_id = await run_moodreel(w, user, **kw)
    before = len(w.standin.calls)
    result = await finish_session(w, session_id, n)
    call = await w.standin.wait_for_call("POST", "/messages", "the result post", after=before)
    return result, call


async def test_full_flow_posts_summary_card_and_carousel_and_pages(world: World) -> None:
    await world.start_bot()
    result, post = await deliver_one(world, options={"feeling": "happy"})
    recs = result.recommendations
    assert post.path == f"/channels/{world.standin.channel_id}/messages", "posted where /moodreel was used"
    doc = await world.services.sessions.get(result.session_id)
    assert doc is not None and doc["state"] == "delivered"

    # One message: mention, summary embed, the mood card PNG, the first movie, the carousel.
    payload = post.payload
    assert f"<@{world.alice.id}>" in payload["content"]
    assert [int(u) for u in payload["allowed_mentions"]["users"]] == [world.alice.id]
    [card] = post.files
    assert card.filename == "moodreel.png" and card.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert payload["attachments"] == [{"id": 0, "filename": "moodreel.png"}]
    summary, movie = payload["embeds"]
    assert summary["title"] == "Alice's mood: Happy"
    names = [f["name"] for f in summary["fields"]]
    assert names == ["Main feeling · Happy", "Also · Surprised", "Also · Calm", "Your colours"]
    values = [f["value"] for f in summary["fields"]]
    assert values[0].startswith("up 25 points from your baseline: we're very sure")
    assert values[1].startswith("up 7 points") and "fairly sure" in values[1]
    assert values[2].startswith("down 25 points") and "a hint" in values[2]
    assert all(c.hex in values[3] for c in result.colours)
    assert summary["image"]["url"] == "attachment://moodreel.png"
    assert "62 face frames" in summary["footer"]["text"]
    assert movie["title"] == f"{recs[0].title} ({recs[0].year})"
    assert movie["author"]["name"] == "Pick 1 of 4"
    assert movie["image"]["url"] == recs[0].poster_url
    assert movie["url"] == recs[0].tmdb_url
    assert recs[0].reason in movie["description"] and recs[0].title_ko in movie["description"]
    fields = {f["name"]: f["value"] for f in movie["fields"]}
    assert fields["Genres"] == "Comedy, Science Fiction" and fields["Match"] == "90 / 100"
    assert fields["Rating"].startswith("★ 7.5")
    assert "[Watcha Pedia](https://pedia.watcha.com" in fields["Links"] and "[TMDB](" in fields["Links"]
    row0, row1, row2 = components(payload)
    prev, page, nxt = row0
    assert prev["disabled"] is True and page["label"] == "1 / 4" and page["disabled"] is True
    assert nxt["disabled"] is False and nxt["custom_id"].startswith("moodreel:")
    [jump] = row1
    assert jump["type"] == 3 and [o["value"] for o in jump["options"]] == ["0", "1", "2", "3"]
    assert jump["options"][0]["default"] is True
    assert [(b["label"], b["style"]) for b in row2] == [("TMDB", 5), ("Watcha Pedia", 5)]
    # Discord resolved the attachment reference to the uploaded file.
    [message] = world.standin.channel_messages()
    assert message["embeds"][0]["image"]["url"].endswith("/moodreel.png")

    # Someone else cannot turn the pages: a private hint, and the message stays as it is.
    message_id = int(message["id"])
    before = len(world.standin.calls)
    stranger = await world.standin.click(world.minji, message_id, nxt["custom_id"], locale="ko")
    hint = await world.standin.wait_for_call("POST", f"/interactions/{stranger.id}/", after=before)
    assert hint.payload["type"] == 4 and hint.payload["data"]["flags"] == 64
    assert "실행한 사람만" in hint.payload["data"]["content"]
    assert movie_title(world.standin.messages[message_id]) == f"{recs[0].title} ({recs[0].year})"

    # The requester's ▶ edits the message to the next movie (posterless: a generated card).
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, message_id, nxt["custom_id"])
    update = await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    assert update.payload["type"] == 7, "UPDATE_MESSAGE edits the carousel in place"
    assert movie_title(update.payload["data"]) == f"{recs[1].title} ({recs[1].year})"
    assert update.payload["data"]["embeds"][0]["title"] == summary["title"], "the summary stays"
    poster = f"poster-{recs[1].tmdb_id}.png"
    assert update.payload["data"]["embeds"][1]["image"]["url"] == f"attachment://{poster}"
    assert [f.filename for f in update.files] == [poster] and update.files[0].data.startswith(b"\x89PNG")
    kept = world.standin.messages[message_id]
    assert [a["filename"] for a in kept["attachments"]] == ["moodreel.png", poster]
    assert movie_title(kept) == f"{recs[1].title} ({recs[1].year})"
    prev, page, nxt = components(kept)[0]
    assert prev["disabled"] is False and page["label"] == "2 / 4"
    assert [b["label"] for b in components(kept)[2]] == ["TMDB"], "links follow the page"

    # The jump select goes straight to the third movie; its poster is a URL, so the card goes.
    select_id = components(kept)[1][0]["custom_id"]
    before = len(world.standin.calls)
    jump = await world.standin.click(world.alice, message_id, select_id, values=["2"])
    await world.standin.wait_for_call("POST", f"/interactions/{jump.id}/", after=before)
    kept = world.standin.messages[message_id]
    assert movie_title(kept) == f"{recs[2].title} ({recs[2].year})"
    assert [a["filename"] for a in kept["attachments"]] == ["moodreel.png"]
    assert [o.get("default") for o in components(kept)[1][0]["options"]] == [False, False, True, False]
    # ... and ▶ to the last one, where ▶ is off.
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, message_id, components(kept)[0][2]["custom_id"])
    await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    kept = world.standin.messages[message_id]
    assert movie_title(kept) == f"{recs[3].title} ({recs[3].year})"
    assert components(kept)[0][2]["disabled"] is True, "▶ is off on the last page"


def test_a_declared_feeling_is_described_as_the_users_pick() -> None:
    emotion = emotion_from_names("happy", ("surprise", "neutral"))
    assert emotion.method == "declared"
    result = MoodResult("s", emotion, mood_colours(emotion), (), {"user_id": "1", "locale": "en"})
    embed = summary_embed(result, "en")
    values = [f.value for f in embed.fields]
    assert values[:3] == ["the feeling you picked", *["a feeling that often comes with it"] * 2]
    assert embed.footer.text and "the feeling you picked" in embed.footer.text
    assert embed.title == "How you feel: Happy"


async def test_korean_result(world: World) -> None:
    await world.start_bot()
    result, post = await deliver_one(world, world.minji, locale="ko")
    summary, movie = post.payload["embeds"]
    assert summary["title"] == "민지 님의 기분: 행복"
    assert [f["name"] for f in summary["fields"]][:3] == ["주된 기분 · 행복", "함께 · 놀람", "함께 · 평온"]
    assert summary["fields"][0]["value"].startswith("기준보다 25%p 올랐어요: 거의 확실해요")
    rec = result.recommendations[0]
    assert movie["title"] == f"{rec.title_ko} ({rec.year})" and f"*{rec.title}*" in movie["description"]
    assert {f["name"]: f["value"] for f in movie["fields"]}["장르"] == "코미디, SF"
    assert "MoodReel 결과" in post.payload["content"]


async def test_a_rate_limited_post_is_retried_by_discord_py(world: World) -> None:
    await world.start_bot()
    channel = f"/channels/{world.standin.channel_id}/messages"
    world.standin.fail_next(
        lambda c: c.method == "POST" and c.path == channel,
        429,
        {"message": "You are being rate limited.", "retry_after": 0.2, "global": False},
        {"Via": "1.1 google", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.2"},
    )
    result, post = await deliver_one(world)
    posts = world.calls("POST", channel)
    assert [c.status for c in posts] == [429, 200], "the 429 was honoured and the post retried"
    assert (
        movie_title(post.payload) == f"{result.recommendations[0].title} ({result.recommendations[0].year})"
    )


async def test_results_wait_while_the_bot_is_down_and_go_out_when_it_is_back(world: World) -> None:
    await world.start_bot()
    _, session_id = await run_moodreel(world, world.alice)
    await world.stop_bot()
    # The page finishes while the bot is away: stored, not delivered, nothing posted.
    emotion = emotion_from_names("sad", ("fear", "neutral"))
    origin = await world.services.sessions.origin(session_id)
    result = MoodResult(
        session_id, emotion, mood_colours(emotion), sample_recommendations(2), origin.to_dict()
    )
    assert not await world.services.sessions.complete(session_id, result)
    assert [r.session_id for r in await world.services.sessions.undelivered("discord")] == [session_id]
    assert not world.standin.channel_messages()

    await world.start_bot()  # a new process, a new login: the backlog goes out on READY
    [message] = await world.standin.wait_for(world.standin.channel_messages, "the waiting result")
    assert message["embeds"][0]["title"] == "Alice's mood: Sad"

    async def delivered() -> bool:
        doc = await world.services.sessions.get(session_id)
        return doc is not None and doc["state"] == "delivered"

    for _ in range(200):
        if await delivered():
            break
        await asyncio.sleep(0.05)
    assert await delivered()
    assert await world.services.sessions.undelivered("discord") == []


async def test_a_dropped_gateway_resumes_and_the_carousel_keeps_working(world: World) -> None:
    await world.start_bot()
    result, _ = await deliver_one(world)
    [message] = world.standin.channel_messages()
    await world.standin.drop_gateway()
    await world.standin.wait_for(lambda: world.standin.resumes, "a RESUME after the drop")
    resume = world.standin.resumes[0]
    assert resume["token"] == TOKEN and resume["session_id"] and resume["seq"] >= 1
    await world.standin.wait_until_connected(count=2)
    before = len(world.standin.calls)
    nxt = components(message)[0][2]["custom_id"]
    click = await world.standin.click(world.alice, int(message["id"]), nxt)
    update = await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    assert movie_title(update.payload["data"]).startswith(result.recommendations[1].title)
    assert len(world.standin.identifies) == 1, "resumed, not a new login"


async def test_failed_and_expired_sessions_get_a_private_follow_up(world: World) -> None:
    await world.start_bot()
    call, session_id = await run_moodreel(world, world.alice)
    inter_token = call.path.split("/")[3]
    before = len(world.standin.calls)
    await world.services.sessions.fail(session_id, "no face was found")
    follow = await world.standin.wait_for_call(
        "POST", f"/webhooks/{world.standin.application_id}/", after=before
    )
    assert follow.path == f"/webhooks/{world.standin.application_id}/{inter_token}", (
        "the interaction's webhook"
    )
    assert follow.payload["flags"] == 64 and "no face was found" in follow.payload["content"]
    assert session_id not in world.bot.pending  # type: ignore[union-attr]


async def test_a_link_nobody_opens_expires_with_a_private_follow_up(world: World) -> None:
    short = dataclasses.replace(
        world.settings, sessions=dataclasses.replace(world.settings.sessions, link_ttl_minutes=0.02)
    )
    await world.start_bot(
        BotServices(short, world.services.store, SessionService(world.services.store, short))
    )
    call, session_id = await run_moodreel(world, world.minji, locale="ko")
    inter_token = call.path.split("/")[3]
    # The bot notices on its own (no housekeeping needed) and says so privately, in Korean.
    follow = await world.standin.wait_for_call(
        "POST", f"/webhooks/{world.standin.application_id}/{inter_token}"
    )
    assert follow.payload["flags"] == 64 and "만료" in follow.payload["content"]
    assert session_id not in world.bot.pending  # type: ignore[union-attr]


async def test_dm_delivery(world: World) -> None:
    settings = with_discord(world.settings, deliver="dm")
    await world.start_bot(BotServices(settings, world.services.store, world.services.sessions))
    _, session_id = await run_moodreel(world, world.alice)
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["origin"]["extra"]["deliver"] == "dm"
    before = len(world.standin.calls)
    await finish_session(world, session_id)
    opened = await world.standin.wait_for_call("POST", "/users/@me/channels", after=before)
    assert opened.payload == {"recipient_id": world.alice.id}
    dm = world.standin.dm_channels[world.alice.id]
    post = await world.standin.wait_for_call("POST", f"/channels/{dm}/messages", after=before)
    assert post.files[0].filename == "moodreel.png"
    assert not world.standin.channel_messages(), "nothing in the guild channel"


async def test_the_carousel_times_out_and_its_buttons_are_disabled(world: World) -> None:
    settings = with_discord(world.settings, carousel_timeout=0.5)
    await world.start_bot(BotServices(settings, world.services.store, world.services.sessions))
    await deliver_one(world)
    [message] = world.standin.channel_messages()
    edit = await world.standin.wait_for_call(
        "PATCH", f"/channels/{world.standin.channel_id}/messages/{message['id']}"
    )
    assert "components" in edit.payload, "the buttons change..."
    assert not {"content", "embeds", "attachments"} & set(edit.payload), "...and nothing else"
    rows = components(world.standin.messages[int(message["id"])])
    assert all(c["disabled"] for c in rows[0] + rows[1])
    assert all(not c.get("disabled") for c in rows[2]), "link buttons keep working"
    with pytest.raises(AssertionError, match="disabled"):
        await world.standin.click(world.alice, int(message["id"]), rows[0][2]["custom_id"])


async def test_a_carousel_from_before_a_restart_is_restored_from_the_store(world: World) -> None:
    await world.start_bot()
    result, _ = await deliver_one(world)
    [message] = world.standin.channel_messages()
    await world.stop_bot()
    await world.start_bot()
    nxt = components(message)[0][2]["custom_id"]
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, int(message["id"]), nxt)
    update = await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    assert update.payload["type"] == 7
    assert movie_title(update.payload["data"]).startswith(result.recommendations[1].title)
    # From then on the restored carousel handles the clicks itself.
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, int(message["id"]), nxt)
    update = await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    assert movie_title(update.payload["data"]).startswith(result.recommendations[2].title)


async def test_long_texts_and_many_movies_stay_within_discord_limits(world: World) -> None:
    await world.start_bot()
    _, session_id = await run_moodreel(world, world.alice)
    long = tuple(
        dataclasses.replace(r, title="T" * 400 + str(i), reason="R" * 5000, genres=("Drama",) * 300)
        for i, r in enumerate(sample_recommendations(1) * 30)
    )
    emotion = emotion_from_names("happy", ("surprise", "neutral"))
    origin = await world.services.sessions.origin(session_id)
    origin_dict = {**origin.to_dict(), "user_name": "N" * 300}
    result = MoodResult(session_id, emotion, mood_colours(emotion), long, origin_dict)
    before = len(world.standin.calls)
    await world.services.sessions.complete(session_id, result)
    post = await world.standin.wait_for_call("POST", "/messages", after=before)
    assert post.status == 200, post.response  # the stand-in refuses what Discord would refuse
    total = 0
    for embed in post.payload["embeds"]:
        assert len(embed.get("title", "")) <= 256 and len(embed.get("description", "")) <= 4096
        assert all(len(f["value"]) <= 1024 for f in embed["fields"])
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
        total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    assert total <= 6000
    [jump] = components(post.payload)[1]
    assert len(jump["options"]) == 25 and all(len(o["label"]) <= 100 for o in jump["options"])
    assert components(post.payload)[0][1]["label"] == "1 / 30"


# --- the whole way: Discord -> link -> webcam WebSocket -> result in Discord ----------------------


async def test_full_flow_through_the_webcam_websocket(store: Store, settings: Settings) -> None:
    """/moodreel, the link opened by a real WebSocket client streaming real face frames, the analysed
    result posted to the channel with the real mood card and recommender picks, then a page turn."""
    from aiohttp import web

    from bench.face_frames import face_frames
    from tests.webcam_support import running_services, short_settings
    from webcam_page.app import create_app
    from webcam_page.client import run_session

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
                await w.start_bot()
                call, session_id = await run_moodreel(w, w.alice)
                url = link_button(call.payload["data"])["url"]
                assert url.startswith(f"http://127.0.0.1:{port}/s/")
                baseline = face_frames(10, labels=["neutral"], seed=1)
                stimulus = face_frames(10, labels=["happy"], seed=2)
                final = await run_session(url, baseline, stimulus, fps=10)
                assert final["type"] == "result"

                post = await standin.wait_for_call("POST", f"/channels/{standin.channel_id}/messages")
                doc = await services.sessions.get(session_id)
                assert doc is not None and doc["state"] == "delivered"
                result = MoodResult.from_dict(doc["result"])
                assert len(result.recommendations) >= 2
                card = post.files[0]
                assert card.filename == "moodreel.png" and card.data.startswith(b"\x89PNG")
                first = result.recommendations[0]
                posters = [f.filename for f in post.files[1:]]
                assert posters == ([] if first.poster_url else [f"poster-{first.tmdb_id}.png"])
                summary, movie = post.payload["embeds"]
                primary = EMOTION_LABELS["en"][result.emotion.primary]
                assert summary["title"] == f"Alice's mood: {primary}"
                assert summary["fields"][0]["name"] == f"Main feeling · {primary}"
                assert all(c.hex in summary["fields"][-1]["value"] for c in result.colours), "the swatches"
                first = result.recommendations[0]
                assert (
                    movie["title"].startswith(first.title)
                    and movie["fields"][1]["value"] == f"{round(first.score)} / 100"
                )
                assert components(post.payload)[0][1]["label"] == f"1 / {len(result.recommendations)}"

                [message] = standin.channel_messages()
                before = len(standin.calls)
                click = await standin.click(
                    w.alice, int(message["id"]), components(message)[0][2]["custom_id"]
                )
                update = await standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
                assert update.payload["type"] == 7
                assert movie_title(update.payload["data"]).startswith(result.recommendations[1].title)
            finally:
                await w.stop_bot()
                await runner.cleanup()
