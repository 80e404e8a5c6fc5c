"""Every way Discord refuses a result, against the strict stand-in: each ends with the result delivered
exactly once, or the user told and `undeliverable` recorded with the reasons."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp
import pytest

from core.colour.psychology import emotion_from_names, mood_colours
from core.config import Settings
from core.sessions.service import SessionService
from core.storage.store import Store, utcnow
from core.values.results import MoodResult
from tests.support.declare import declare_session
from tests.support.discord_world import (
    TOKEN,
    BotServices,
    World,
    components,
    deliver_one,
    finish_session,
    finished_while_away,
    link_button,
    movie_title,
    open_page_world,
    original_of,
    run_moodreel,
    sample_recommendations,
    with_discord,
)
from tests.support.standins.discord_server import (
    ALL_PERMISSIONS,
    ATTACH_FILES,
    EMBED_LINKS,
    SEND_MESSAGES,
    Call,
)

FIFTEEN_MINUTES = 15 * 60


def expire_token(w: World, reply: Call, session_id: str) -> None:
    """Fifteen minutes pass after /moodreel: the interaction token is dead on both sides."""
    w.standin.age_interaction(w.standin.interactions[int(reply.path.split("/")[2])], FIFTEEN_MINUTES)
    assert w.bot is not None
    w.bot.pending[session_id].issued -= FIFTEEN_MINUTES


def posts_to(w: World, channel_id: int) -> list[Call]:
    return [c for c in w.calls("POST", f"/channels/{channel_id}/messages") if c.status == 200]


async def outcome_of(w: World, session_id: str, kind: str = "result") -> dict[str, Any]:
    for _ in range(300):
        status = await w.services.sessions.delivery(session_id, kind)
        if status.settled:
            doc = await w.services.sessions.outbox.get(w.services.sessions.outbox.item_id(session_id, kind))
            assert doc is not None
            return doc
        await asyncio.sleep(0.05)
    raise AssertionError(f"the {kind} of {session_id} never settled")


# --- every target refused --------------------------------------------------------------------------


async def test_every_target_refused_tells_the_page_and_records_undeliverable(
    store: Store, settings: Settings
) -> None:
    """deliver=channel in a channel without Send Messages, more than 15 minutes after /moodreel, DMs
    closed: nothing is posted, the page says so, and the session is undeliverable with each reason."""
    async with open_page_world(store, settings) as w:
        await w.start_bot(deliver="channel")
        w.standin.channel_permissions[w.standin.channel_id] = ALL_PERMISSIONS & ~SEND_MESSAGES
        w.standin.dms_closed.add(w.alice.id)
        reply, session_id = await run_moodreel(w, w.alice)
        expire_token(w, reply, session_id)
        final = await declare_session(link_button(reply.payload["data"])["url"], "sad")
        assert final["type"] == "result" and final["delivered"] is False
        assert final["delivery"] == "undeliverable"
        assert final["delivery_note"] == "We couldn't post this to your chat; here it is."
        assert final["result"]["emotion"]["primary"] == "sad", "the page shows the result itself"
        assert final["reloaded"]["delivery_note"] == final["delivery_note"], "a reload says so too"
        doc = await w.services.sessions.get(session_id)
        assert doc is not None and doc["state"] == "undeliverable" and not doc["delivered"]
        assert "channel: MoodReel may not send messages" in doc["reason"]
        assert "interaction: the 15-minute interaction token has run out" in doc["reason"]
        assert "dm: 403 50007" in doc["reason"]
        assert not w.standin.channel_messages() and not posts_to(w, w.standin.channel_id)


async def test_dms_closed_after_a_restart_the_kept_token_still_delivers_privately(world: World) -> None:
    """deliver=dm, DMs closed, the bot restarted within the token's 15 minutes: the DM is refused and
    the kept interaction token edits the /moodreel reply instead; delivered once, nothing public."""
    await world.start_bot(deliver="dm")
    call, session_id = await run_moodreel(world, world.alice)
    await world.stop_bot()
    await finished_while_away(world, session_id)
    world.standin.dms_closed.add(world.alice.id)
    await world.start_bot(deliver="dm")
    item = await outcome_of(world, session_id)
    assert item["state"] == "delivered" and item["delivered_to"]["target"] == "interaction"
    assert [a["outcome"] for a in item["attempts"]] == ["next", "delivered"]
    token = call.path.split("/")[3]
    edits = world.calls("PATCH", f"/{token}/messages/@original")
    assert len(edits) == 1 and edits[0].payload["embeds"][0]["title"] == "Alice's mood: Sad"
    assert not world.standin.channel_messages()


async def test_dm_with_dms_closed_from_the_backlog_is_undeliverable(world: World) -> None:
    """deliver=dm, DMs closed, and the result waited while the bot was down past the interaction
    token's life (so no token is kept): recorded undeliverable with the reasons, never delivered."""
    await world.start_bot(deliver="dm")
    _, session_id = await run_moodreel(world, world.alice)
    await world.stop_bot()
    kept = world.services.store.db["discord_interactions"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert (await kept.update_one({"_id": session_id}, {"$set": {"expires_at": past}})).modified_count == 1
    await finished_while_away(world, session_id)
    world.standin.dms_closed.add(world.alice.id)
    await world.start_bot(deliver="dm")
    item = await outcome_of(world, session_id)
    assert item["state"] == "undeliverable"
    assert [a["outcome"] for a in item["attempts"]] == ["next", "refused"]
    assert "dm: 403 50007 Cannot send messages to this user" in item["reason"]
    assert "interaction: no interaction token kept for this /moodreel" in item["reason"]
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "undeliverable" and doc["delivered"] is False


# --- permissions -----------------------------------------------------------------------------------


async def test_without_embed_links_the_result_is_text_not_silently_dropped_embeds(world: World) -> None:
    await world.start_bot(deliver="channel")
    world.standin.channel_permissions[world.standin.channel_id] = ALL_PERMISSIONS & ~EMBED_LINKS
    result, post = await deliver_one(world)
    assert post.payload["embeds"] == [], "no embeds for Discord to drop"
    content = post.payload["content"]
    assert f"<@{world.alice.id}>" in content and "**Alice's mood: Happy**" in content
    assert result.recommendations[0].title in content and "Embed Links" in content
    assert [f.filename for f in post.files] == ["moodreel.png"], "the card still goes (Attach Files)"
    [message] = world.standin.channel_messages()
    assert message["content"] == content and len(posts_to(world, world.standin.channel_id)) == 1
    # A page turn there stays text too.
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, int(message["id"]), components(message)[0][2]["custom_id"])
    turn = await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    assert (
        turn.payload["data"]["embeds"] == []
        and result.recommendations[1].title in turn.payload["data"]["content"]
    )


async def test_the_standin_drops_embeds_without_embed_links_like_discord(world: World) -> None:
    world.standin.channel_permissions[world.standin.channel_id] = ALL_PERMISSIONS & ~EMBED_LINKS
    url = f"{world.standin.api_base}/channels/{world.standin.channel_id}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http:
        async with http.post(url, json={"content": "hi", "embeds": [{"title": "gone"}]}) as resp:
            assert resp.status == 200 and (await resp.json())["embeds"] == []
        world.standin.channel_permissions[world.standin.channel_id] = ALL_PERMISSIONS & ~SEND_MESSAGES
        async with http.post(url, json={"content": "hi"}) as resp:
            assert resp.status == 403 and (await resp.json())["code"] == 50013


async def test_without_attach_files_the_result_goes_without_the_card(world: World) -> None:
    await world.start_bot(deliver="channel")
    world.standin.channel_permissions[world.standin.channel_id] = ALL_PERMISSIONS & ~ATTACH_FILES
    _, post = await deliver_one(world, n=2)
    assert post.status == 200 and post.files == []
    assert "image" not in post.payload["embeds"][0], "no attachment:// left pointing at nothing"


async def test_a_channel_without_send_messages_is_skipped_for_the_private_reply(world: World) -> None:
    await world.start_bot(deliver="channel")
    world.standin.channel_permissions[world.standin.channel_id] = ALL_PERMISSIONS & ~SEND_MESSAGES
    reply, session_id = await run_moodreel(world, world.alice)
    await finish_session(world, session_id)
    item = await outcome_of(world, session_id)
    assert item["state"] == "delivered" and item["delivered_to"]["target"] == "interaction"
    assert item["attempts"][0]["outcome"] == "next" and "may not send" in item["attempts"][0]["detail"]
    assert world.calls("POST", f"/channels/{world.standin.channel_id}/messages") == [], "not even tried"
    assert original_of(world, reply)["embeds"][0]["title"] == "Alice's mood: Happy"


async def test_a_50013_from_discord_moves_on_to_the_private_reply(world: World) -> None:
    await world.start_bot(deliver="channel")
    channel = f"/channels/{world.standin.channel_id}/messages"
    world.standin.fail_next(
        lambda c: c.method == "POST" and c.path == channel,
        403,
        {"code": 50013, "message": "Missing Permissions"},
    )
    reply, session_id = await run_moodreel(world, world.alice)
    await finish_session(world, session_id)
    item = await outcome_of(world, session_id)
    assert item["delivered_to"]["target"] == "interaction" and "50013" in item["attempts"][0]["detail"]
    assert original_of(world, reply)["flags"] & 64 and not world.standin.channel_messages()


# --- tokens, DMs, rate limits ----------------------------------------------------------------------


async def test_after_fifteen_minutes_the_private_result_is_a_dm_once(world: World) -> None:
    await world.start_bot()
    reply, session_id = await run_moodreel(world, world.alice)
    expire_token(world, reply, session_id)
    await finish_session(world, session_id)
    item = await outcome_of(world, session_id)
    assert item["delivered_to"]["target"] == "dm"
    dm = world.standin.dm_channels[world.alice.id]
    [message] = world.standin.channel_messages(dm)
    assert message["embeds"][0]["title"] == "Alice's mood: Happy"
    assert components(message)[-1][0]["label"] == "Share with the channel"
    assert len(posts_to(world, dm)) == 1 and not world.standin.channel_messages()


async def test_the_standin_refuses_a_stale_token_with_50027(world: World) -> None:
    await world.start_bot()
    reply, _ = await run_moodreel(world, world.alice)
    inter = world.standin.interactions[int(reply.path.split("/")[2])]
    world.standin.age_interaction(inter, FIFTEEN_MINUTES + 1)
    url = f"{world.standin.api_base}/webhooks/{world.standin.application_id}/{inter.token}"
    async with aiohttp.ClientSession() as http, http.post(url, json={"content": "late"}) as resp:
        assert resp.status == 401 and (await resp.json())["code"] == 50027


async def test_dms_closed_falls_back_to_the_private_reply(world: World) -> None:
    await world.start_bot(deliver="dm")
    world.standin.dms_closed.add(world.alice.id)
    reply, session_id = await run_moodreel(world, world.alice)
    await finish_session(world, session_id)
    item = await outcome_of(world, session_id)
    assert item["delivered_to"]["target"] == "interaction" and "50007" in item["attempts"][0]["detail"]
    assert original_of(world, reply)["embeds"][0]["title"] == "Alice's mood: Happy"


async def test_a_long_rate_limit_is_waited_out_by_the_outbox_then_posted_once(world: World) -> None:
    """A 429 with retry_after beyond discord.py's own wait (30 s) goes back to the outbox, which does
    not try again before it is over."""
    await world.start_bot(deliver="channel")
    channel = f"/channels/{world.standin.channel_id}/messages"
    world.standin.fail_next(
        lambda c: c.method == "POST" and c.path == channel,
        429,
        {"message": "You are being rate limited.", "retry_after": 45.0, "global": False},
        {"Retry-After": "45"},
    )
    _, session_id = await run_moodreel(world, world.alice)
    before = utcnow()
    status = await world.services.sessions.complete(session_id, await _result(world, session_id))
    assert status.state == "pending"
    outbox = world.services.sessions.outbox
    item_id = outbox.item_id(session_id, "result")
    doc = await outbox.get(item_id)
    assert doc is not None and (doc["not_before"] - before).total_seconds() >= 45
    assert doc["attempts"][-1]["detail"] == "channel: rate limited"
    assert await outbox.work("discord") == 0, "nothing is tried before Discord's wait is over"
    await outbox.collection.update_one({"_id": item_id}, {"$set": {"not_before": utcnow()}})
    await outbox.work("discord")
    assert await world.services.sessions.delivery(session_id)
    assert [c.status for c in world.calls("POST", channel)] == [429, 200]


async def _result(w: World, session_id: str) -> MoodResult:
    emotion = emotion_from_names("happy", ("surprise", "neutral"))
    origin = await w.services.sessions.origin(session_id)
    return MoodResult(session_id, emotion, mood_colours(emotion), sample_recommendations(2), origin.to_dict())


# --- exactly once --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["channel", "dm"])
async def test_a_crash_between_posting_and_marking_posts_once(
    world: World, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after Discord accepted the message and before the outbox recorded it: after
    the lease runs out, the next worker finds the message (its buttons carry the session) and marks
    it delivered without posting again."""
    await world.start_bot(deliver=mode)
    outbox = world.services.sessions.outbox
    monkeypatch.setattr(outbox, "lease_seconds", 1.5)

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemError("SIGKILL right after the post")  # nothing after this point is recorded

    monkeypatch.setattr(outbox, "_finish", killed)
    _, session_id = await run_moodreel(world, world.alice)
    status = await world.services.sessions.complete(session_id, await _result(world, session_id))
    assert status.state == "sending", "posted, but never marked"
    await world.stop_bot()  # the process is gone
    monkeypatch.undo()
    channel = world.standin.channel_id if mode == "channel" else world.standin.dm_channels[world.alice.id]
    assert len(world.standin.channel_messages(channel)) == 1
    await asyncio.sleep(1.6)  # the dead process's lease runs out
    restarted = BotServices(
        world.settings, world.services.store, SessionService(world.services.store, world.settings)
    )
    await world.start_bot(restarted, deliver=mode)  # `moodreel serve` again: a new process
    doc = await outcome_of(world, session_id)
    assert doc["state"] == "delivered"
    outcomes = [a["outcome"] for a in doc["attempts"]]
    assert outcomes[-1] == "delivered" and set(outcomes[:-1]) == {"lost"}
    assert len(world.standin.channel_messages(channel)) == 1, "posted exactly once"
    assert len(posts_to(world, channel)) == 1, "the retry looked up instead of posting"


async def test_the_standin_returns_the_first_message_for_a_repeated_nonce(world: World) -> None:
    url = f"{world.standin.api_base}/channels/{world.standin.channel_id}/messages"
    body = {"content": "once", "nonce": "12345", "enforce_nonce": True}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http,
        http.post(url, json=body) as first,
        http.post(url, json=body) as again,
    ):
        assert (await first.json())["id"] == (await again.json())["id"]
    assert len(world.standin.channel_messages()) == 1


# --- deadlines -------------------------------------------------------------------------------------


async def test_a_carousel_click_after_a_restart_with_a_slow_store_defers_in_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first click after a restart reads the store: with a store that takes 3.5 s it must
    acknowledge first, or Discord shows "This interaction failed" (10062 in the stand-in)."""
    await world.start_bot(deliver="channel")
    result, _ = await deliver_one(world)
    [message] = world.standin.channel_messages()
    await world.stop_bot()
    bot = await world.start_bot(deliver="channel")
    get = bot.sessions.get

    async def slow_get(session_id: str) -> dict[str, Any] | None:
        await asyncio.sleep(3.5)
        return await get(session_id)

    monkeypatch.setattr(bot.sessions, "get", slow_get)
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, int(message["id"]), components(message)[0][2]["custom_id"])
    edit = await world.standin.wait_for_call("PATCH", "/messages/@original", after=before)
    ack = next(c for c in world.standin.calls[before:] if c.path.startswith(f"/interactions/{click.id}/"))
    assert ack.payload["type"] == 6 and click.late == [], "acknowledged within Discord's 3 seconds"
    assert movie_title(edit.payload).startswith(result.recommendations[1].title)


async def test_the_standin_answers_10062_after_three_seconds(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bot that waits too long before answering (here: a reply budget past the window and a slow
    database) gets Discord's 10062, as the user gets "This interaction failed"."""
    await world.start_bot(reply_budget=10.0)
    create = world.services.sessions.create

    async def slow_create(*args: Any) -> Any:
        await asyncio.sleep(3.2)
        return await create(*args)

    monkeypatch.setattr(world.services.sessions, "create", slow_create)
    inter = await world.standin.slash_command(world.alice)
    await world.standin.wait_for(lambda: inter.late, "the late answer", timeout=10)
    assert inter.late == ["10062"] and not inter.responded


# --- sharing --------------------------------------------------------------------------------------


async def test_share_posts_the_public_version_once_with_consent(world: World) -> None:
    await world.start_bot()
    reply, session_id = await run_moodreel(world, world.alice)
    await finish_session(world, session_id)
    private = original_of(world, reply)
    share_id = components(private)[-1][0]["custom_id"]
    assert share_id == f"moodreel:{session_id}:{world.alice.id}:share"
    assert not world.standin.channel_messages(), "nothing public before Share"
    # Someone else cannot share it (they could not even see it; the stand-in lets us try).
    before = len(world.standin.calls)
    stranger = await world.standin.click(world.minji, int(private["id"]), share_id)
    hint = await world.standin.wait_for_call("POST", f"/interactions/{stranger.id}/", after=before)
    assert hint.payload["data"]["flags"] == 64 and not world.standin.channel_messages()
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, int(private["id"]), share_id)
    ack = await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    assert ack.payload["type"] == 6, "deferred before the post"
    said = await world.standin.wait_for_call(
        "POST", f"/webhooks/{world.standin.application_id}/{click.token}", after=before
    )
    assert (
        said.payload["flags"] == 64 and said.payload["content"] == f"Shared in <#{world.standin.channel_id}>."
    )
    [public] = world.standin.channel_messages()
    assert public["content"] == f"<@{world.alice.id}> shared their MoodReel result."
    assert public["mentions"] == [] and public["embeds"][0]["title"] == "Alice's mood: Happy"
    shared = world.standin.messages[int(private["id"])]
    assert components(shared)[-1][0]["label"] == "Shared" and components(shared)[-1][0]["disabled"]
    assert await world.services.sessions.delivery(session_id, "share")


async def test_share_without_permission_says_why_and_works_once_allowed(world: World) -> None:
    await world.start_bot()
    reply, session_id = await run_moodreel(world, world.alice)
    await finish_session(world, session_id)
    private = original_of(world, reply)
    share_id = components(private)[-1][0]["custom_id"]
    world.standin.channel_permissions[world.standin.channel_id] = ALL_PERMISSIONS & ~SEND_MESSAGES
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, int(private["id"]), share_id)
    said = await world.standin.wait_for_call(
        "POST", f"/webhooks/{world.standin.application_id}/{click.token}", after=before
    )
    assert "couldn't post in this channel" in said.payload["content"]
    status = await world.services.sessions.delivery(session_id, "share")
    assert status.state == "undeliverable" and "may not send" in status.reason
    world.standin.channel_permissions.pop(world.standin.channel_id)  # an admin fixed it
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, int(private["id"]), share_id)
    said = await world.standin.wait_for_call(
        "POST", f"/webhooks/{world.standin.application_id}/{click.token}", after=before
    )
    assert said.payload["content"].startswith("Shared in") and len(world.standin.channel_messages()) == 1


async def test_share_from_a_dm_posts_in_the_channel_of_the_command(world: World) -> None:
    await world.start_bot(deliver="dm")
    _, session_id = await run_moodreel(world, world.alice)
    await finish_session(world, session_id)
    dm = world.standin.dm_channels[world.alice.id]
    [private] = world.standin.channel_messages(dm)
    before = len(world.standin.calls)
    click = await world.standin.click(
        world.alice, int(private["id"]), components(private)[-1][0]["custom_id"]
    )
    await world.standin.wait_for_call(
        "POST", f"/webhooks/{world.standin.application_id}/{click.token}", after=before
    )
    [public] = world.standin.channel_messages()
    assert public["content"].endswith("shared their MoodReel result.")
    assert len(world.standin.channel_messages(dm)) == 1, "not shared into the DM"


# --- commands ------------------------------------------------------------------------------------


async def test_moving_to_guild_sync_removes_the_stale_global_command(world: World) -> None:
    world.standin.commands["global"] = [{"id": "1", "name": "moodreel", "description": "old", "type": 1}]
    await world.start_bot()
    assert world.standin.commands["global"] == [] and [
        c["name"] for c in world.standin.commands[str(world.standin.guild_id)]
    ] == ["moodreel"]


async def test_moving_to_global_sync_removes_stale_guild_commands(world: World) -> None:
    world.standin.commands[str(world.standin.guild_id)] = [
        {"id": "1", "name": "moodreel", "description": "old", "type": 1}
    ]
    settings = with_discord(world.settings, guild_ids=())
    await world.start_bot(BotServices(settings, world.services.store, world.services.sessions))
    await world.standin.wait_for(
        lambda: world.standin.commands[str(world.standin.guild_id)] == [], "the guild copy removed"
    )
    assert [c["name"] for c in world.standin.commands["global"]] == ["moodreel"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "MoodReel"}, "lower case"),
        ({"name": "mood reel"}, "word characters"),
        ({"name_localizations": {"ko-KR": "기분"}}, "'ko-KR'"),
        ({"description": ""}, "1-100"),
        ({"description": "x" * 101}, "1-100"),
        (
            {
                "options": [
                    {"type": 3, "name": "a", "description": "d"},
                    {"type": 3, "name": "a", "description": "d"},
                ]
            },
            "unique",
        ),
    ],
)
async def test_the_standin_refuses_commands_discord_would_refuse(
    world: World, change: dict[str, Any], message: str
) -> None:
    command = {"name": "moodreel", "description": "ok", "type": 1, **change}
    url = f"{world.standin.api_base}/applications/{world.standin.application_id}/commands"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http,
        http.put(url, json=[command]) as resp,
    ):
        body = await resp.json()
    assert resp.status == 400 and body["code"] == 50035 and message in str(body)


async def test_the_standin_refuses_duplicate_custom_ids_and_long_urls(world: World) -> None:
    url = f"{world.standin.api_base}/channels/{world.standin.channel_id}/messages"
    twice = {"type": 2, "style": 1, "label": "x", "custom_id": "same"}
    long_link = {"type": 2, "style": 5, "label": "x", "url": "https://example.com/" + "a" * 500}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http:
        for components_ in (
            [{"type": 1, "components": [twice, twice]}],
            [{"type": 1, "components": [long_link]}],
        ):
            async with http.post(url, json={"content": "x", "components": components_}) as resp:
                assert resp.status == 400 and (await resp.json())["code"] == 50035
    assert not world.standin.channel_messages()


def test_session_links_fit_discords_link_button_limit(settings: Settings) -> None:
    from core.sessions.tokens import LinkSigner, new_session_id

    token = LinkSigner("s").make_token(new_session_id(), utcnow())
    assert len(f"{settings.server.base_url}/s/{token}") + 200 <= 512, "room for a long public_url"
