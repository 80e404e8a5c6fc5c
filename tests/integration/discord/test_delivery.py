"""Results in Discord: summary, mood card, carousel, retries, backlog, failures, DMs."""

from __future__ import annotations

import asyncio
import dataclasses

from core.present.summary import summarise
from core.sessions.service import SessionService
from tests.support.discord_world import (
    TOKEN,
    BotServices,
    World,
    components,
    deliver_one,
    finish_session,
    finished_while_away,
    movie_title,
    original_of,
    run_moodreel,
    with_discord,
)


async def test_full_flow_posts_summary_card_and_carousel_and_pages(world: World) -> None:
    """deliver=channel: the public version in the channel, with a mention (private is the default)."""
    await world.start_bot(deliver="channel")
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
    told = summarise(result.emotion, "en")  # the same summary as on the page and in Mattermost
    assert values[:3] == [told.numbers(e, "en") for e in ("happy", "surprise", "neutral")]
    assert "+25" in values[0] and "p = 0.002" in values[0]
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
    pick = await world.standin.click(world.alice, message_id, select_id, values=["2"])
    await world.standin.wait_for_call("POST", f"/interactions/{pick.id}/", after=before)
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


async def test_korean_result(world: World) -> None:
    await world.start_bot()
    result, post = await deliver_one(world, world.minji, locale="ko")
    summary, movie = post.payload["embeds"]
    assert summary["title"] == "민지 님의 기분: 행복"
    assert [f["name"] for f in summary["fields"]][:3] == ["주된 기분 · 행복", "함께 · 놀람", "함께 · 평온"]
    assert summary["fields"][0]["value"] == summarise(result.emotion, "ko").numbers("happy", "ko")
    rec = result.recommendations[0]
    assert movie["title"] == f"{rec.title_ko} ({rec.year})" and f"*{rec.title}*" in movie["description"]
    assert {f["name"]: f["value"] for f in movie["fields"]}["장르"] == "코미디, SF"
    assert "MoodReel 결과" in post.payload["content"]


async def test_a_rate_limited_post_is_retried_by_discord_py(world: World) -> None:
    await world.start_bot(deliver="channel")
    channel = f"/channels/{world.standin.channel_id}/messages"
    world.standin.rate_limit_next(lambda c: c.method == "POST" and c.path == channel, 0.2)
    result, post = await deliver_one(world)
    posts = world.calls("POST", channel)
    assert [c.status for c in posts] == [429, 200], "the 429 was honoured and the post retried"
    assert (
        movie_title(post.payload) == f"{result.recommendations[0].title} ({result.recommendations[0].year})"
    )


async def test_results_wait_while_the_bot_is_down_and_go_out_when_it_is_back(world: World) -> None:
    await world.start_bot()
    call, session_id = await run_moodreel(world, world.alice)
    await world.stop_bot()
    # The page finishes while the bot is away: stored, not delivered, nothing posted.
    await finished_while_away(world, session_id)
    assert [r.session_id for r in await world.services.sessions.undelivered("discord")] == [session_id]
    assert not world.standin.channel_messages()

    # The /moodreel's interaction token waits in the store, sealed: never in the clear.
    kept = await world.services.store.db["discord_interactions"].find_one({"_id": session_id})
    assert kept is not None and "token" not in kept
    assert call.path.split("/")[3] not in str(kept), "the token is not stored in the clear"

    before = len(world.standin.calls)
    await world.start_bot()  # a new process, a new login: the outbox's waiting result goes out on READY
    # The new process answers with the kept token: the ephemeral link message becomes the private
    # result, as if the bot had never been away. No DM, nothing public.
    edit = await world.standin.wait_for_call(
        "PATCH", f"/webhooks/{world.standin.application_id}/", "the edit", after=before
    )
    assert edit.path.endswith(f"/{call.path.split('/')[3]}/messages/@original")
    assert edit.payload["embeds"][0]["title"] == "Alice's mood: Sad"
    assert not world.standin.dm_channels.get(world.alice.id), "no DM"
    assert not world.standin.channel_messages(), "nothing public"

    async def delivered() -> bool:
        doc = await world.services.sessions.get(session_id)
        return doc is not None and doc["state"] == "delivered"

    for _ in range(200):
        if await delivered():
            break
        await asyncio.sleep(0.05)
    assert await delivered()
    assert await world.services.sessions.undelivered("discord") == []
    used = await world.services.store.db["discord_interactions"].find_one({"_id": session_id})
    assert used is None, "a used token is deleted at once"


async def test_a_dropped_gateway_resumes_and_the_carousel_keeps_working(world: World) -> None:
    await world.start_bot(deliver="channel")
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
    bot = await world.start_bot()
    call, session_id = await run_moodreel(world, world.alice)
    inter_token = call.path.split("/")[3]
    before = len(world.standin.calls)
    await world.services.sessions.fail(session_id, "no face was found")
    # The ephemeral link message becomes the note (an edit: idempotent, and the dead link goes).
    follow = await world.standin.wait_for_call(
        "PATCH", f"/webhooks/{world.standin.application_id}/", after=before
    )
    assert follow.path == f"/webhooks/{world.standin.application_id}/{inter_token}/messages/@original"
    assert "no face was found" in follow.payload["content"] and follow.payload["components"] == []
    assert original_of(world, call)["flags"] & 64, "still only the user sees it"
    assert session_id not in bot.pending
    assert await world.services.sessions.delivery(session_id, "failure")


async def test_a_link_nobody_opens_expires_with_a_private_follow_up(world: World) -> None:
    short = dataclasses.replace(
        world.settings, sessions=dataclasses.replace(world.settings.sessions, link_ttl_minutes=0.02)
    )
    bot = await world.start_bot(
        BotServices(short, world.services.store, SessionService(world.services.store, short))
    )
    call, session_id = await run_moodreel(world, world.minji, locale="ko")
    inter_token = call.path.split("/")[3]
    # The bot notices on its own (no housekeeping needed) and says so privately, in Korean.
    follow = await world.standin.wait_for_call(
        "PATCH", f"/webhooks/{world.standin.application_id}/{inter_token}/messages/@original"
    )
    assert "만료" in follow.payload["content"] and original_of(world, call)["flags"] & 64
    assert session_id not in bot.pending


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
