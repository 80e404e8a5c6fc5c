"""Every way Mattermost refuses a result, against the strict stand-in: each ends with the result
delivered exactly once, or the user told and `undeliverable` recorded with the reasons."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

import pytest

from bot.mattermost.client import MattermostClient
from tests.support.declare import declare_session
from tests.support.mattermost_world import (
    World,
    click,
    complete,
    link,
    link_session,
    share_button,
    use_deliver,
)


async def settled(world: World, session_id: str, kind: str = "result") -> dict[str, Any]:
    outbox = world.services.sessions.outbox
    for _ in range(400):
        if (await outbox.status(outbox.item_id(session_id, kind))).settled:
            doc = await outbox.get(outbox.item_id(session_id, kind))
            assert doc is not None
            return doc
        await asyncio.sleep(0.05)
    raise AssertionError(f"the {kind} of {session_id} never settled")


def posts_in(world: World, channel_id: str) -> list[dict[str, Any]]:
    return [p for p in world.standin.posts.values() if p["channel_id"] == channel_id]


def uploads(world: World) -> int:
    return world.standin.log.count(("POST", "/api/v4/files"))


# --- outside a joined channel ----------------------------------------------------------------------


async def test_a_command_in_a_direct_message_answers_privately_and_delivers_once(world: World) -> None:
    """/moodreel in alice's DM with minji: the bot is not a member there. The reply names no channel
    (no raw ~id__id), and the result comes to alice as the bot's own DM, once, with nothing to share."""
    world.channel = world.standin.direct_channel(world.alice, world.minji)
    _, _, body = await world.slash(world.alice)
    assert "~" not in body["text"] and "__" not in body["text"] and "privately" in body["text"]
    session_id = await link_session(world, world.alice)
    await complete(world, session_id, "happy", ("surprise", "neutral"))
    item = await settled(world, session_id)
    assert item["state"] == "delivered" and item["delivered_to"]["target"] == "dm"
    [post] = world.standin.direct_posts(world.alice)
    assert not any(a.get("actions", [{}])[0].get("id") == "share" for a in post["props"]["attachments"])
    assert posts_in(world, world.channel.id) == [] and len(world.standin.posts) == 1


async def test_in_a_channel_the_bot_has_not_joined_share_says_why_not(world: World) -> None:
    world.channel = world.standin.add_channel("secret", member=False)
    session_id = await link_session(world, world.alice)
    await complete(world, session_id, "happy", ("surprise", "neutral"))
    [post] = world.standin.direct_posts(world.alice)
    assert uploads(world) == 1
    await click(world, world.alice, post["id"], "share")
    call = world.standin.actions[-1]
    assert call.status == 200, "answered 200, so Mattermost shows the words"
    said = world.standin.ephemeral[-1]["post"]["message"]
    assert "I'm not a member of that channel" in said and "/invite @moodreel" in said
    assert world.standin.action_failures == []
    status = await world.services.sessions.delivery(session_id, "share")
    assert status.state == "undeliverable" and "403" in status.reason
    assert posts_in(world, world.channel.id) == []
    assert share_button(post)["name"] == "Share with the channel", "it can be pressed again once invited"


async def test_channel_mode_in_an_unjoined_channel_falls_back_to_a_dm_once(world: World) -> None:
    use_deliver(world, "channel")
    world.channel = world.standin.add_channel("secret", member=False)
    _, _, body = await world.slash(world.alice)
    assert "posted in this channel" in body["text"] and "~" not in body["text"]
    session_id = await link_session(world, world.alice)
    await complete(world, session_id, "sad", ("neutral", "fear"))
    item = await settled(world, session_id)
    assert [a["outcome"] for a in item["attempts"]] == ["next", "delivered"]
    assert "channel: Mattermost answered 403" in item["attempts"][0]["detail"]
    [post] = world.standin.direct_posts(world.alice)
    assert len(world.standin.posts) == 1 and post["props"]["moodreel_item"].endswith(":result:dm")


# --- expiry notes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ephemeral", [False, True])
async def test_a_link_that_runs_out_unused_is_noted_privately(world: World, ephemeral: bool) -> None:
    world.standin.ephemeral_allowed = ephemeral
    session_id = await link_session(world, world.alice)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # the link ran out unused
    await world.services.store.sessions.update_one({"session_id": session_id}, {"$set": {"expires_at": past}})
    item = await settled(world, session_id, "expired")
    assert item["state"] == "delivered"
    if ephemeral:
        [note] = world.standin.ephemeral
        assert note["user_id"] == world.alice.id and note["post"]["channel_id"] == world.channel.id
        text = note["post"]["message"]
    else:
        [note] = world.standin.direct_posts(world.alice)
        text = note["message"]
    assert text.startswith("Your MoodReel link expired") and "/moodreel" in text
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "expired" and doc["reason"] == "link expired"


# --- exactly once ---------------------------------------------------------------------------------


async def test_a_post_stored_but_answered_after_the_client_timeout_is_posted_once(world: World) -> None:
    """Mattermost stores the post but answers after the client gave up: the retry finds it (its
    pending_post_id and props marker) instead of posting it again, and reuses the uploaded card."""
    world.adapter.client = MattermostClient(world.adapter.mm, timeout=1.0)
    world.standin.post_delay = 2.0
    session_id = await link_session(world, world.alice)
    await complete(world, session_id, "happy", ("surprise", "neutral"))
    item = await settled(world, session_id)
    assert item["state"] == "delivered"
    assert item["attempts"][0]["outcome"] == "retry" and "ReadTimeout" in item["attempts"][0]["detail"]
    assert item["attempts"][-1]["outcome"] == "delivered"
    assert len(world.standin.direct_posts(world.alice)) == 1 and len(world.standin.posts) == 1
    assert uploads(world) == 1, "one card per result, however many tries"


async def test_a_crash_between_posting_and_marking_posts_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL while the post is in flight: Mattermost has it, the outbox never heard. When the lease
    runs out the next worker looks up the marker and marks it delivered: still one post."""
    outbox = world.services.sessions.outbox
    monkeypatch.setattr(outbox, "lease_seconds", 0.5)

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemError("SIGKILL right after the post")

    monkeypatch.setattr(outbox, "_finish", killed)
    session_id = await link_session(world, world.alice)
    await complete(world, session_id, "happy", ("surprise", "neutral"))
    assert (await world.services.sessions.delivery(session_id)).state == "sending"
    assert len(world.standin.posts) == 1
    monkeypatch.undo()  # "moodreel serve" again: the worker of the new process takes over
    item = await settled(world, session_id)
    assert item["state"] == "delivered" and [a["outcome"] for a in item["attempts"]][-2:] == [
        "lost",
        "delivered",
    ]
    assert len(world.standin.posts) == 1 and uploads(world) == 1


async def test_a_429_waits_for_x_ratelimit_reset_and_the_card_is_uploaded_once(world: World) -> None:
    world.standin.rate_limit_next(lambda method, path: method == "POST" and path == "/api/v4/posts", 2)
    session_id = await link_session(world, world.alice)
    await complete(world, session_id, "angry", ("disgust", "sad"))
    item = await settled(world, session_id)
    first, last = item["attempts"][0], item["attempts"][-1]
    assert first["outcome"] == "retry" and first["detail"] == "dm: rate limited"
    assert (last["started_at"] - first["started_at"]).total_seconds() >= 2.0, "X-Ratelimit-Reset honoured"
    assert len(world.standin.posts) == 1 and uploads(world) == 1


# --- button answers, limits, the page ---------------------------------------------------------------


async def test_button_errors_answer_200_so_mattermost_shows_the_words(world: World) -> None:
    session_id = await link_session(world, world.alice)
    await complete(world, session_id, "happy", ("surprise", "neutral"))
    [post] = world.standin.direct_posts(world.alice)
    await world.services.store.sessions.delete_one({"session_id": session_id})  # purged since
    await click(world, world.alice, post["id"], "next")
    assert world.standin.actions[-1].status == 200 and world.standin.action_failures == []
    assert (
        world.standin.ephemeral[-1]["post"]["message"]
        == "This result is no longer available. Start a new session."
    )


async def test_a_share_context_copied_onto_another_post_is_refused(world: World) -> None:
    session_id = await link_session(world, world.alice)
    await complete(world, session_id, "happy", ("surprise", "neutral"))
    [post] = world.standin.direct_posts(world.alice)
    context = share_button(post)["integration"]["context"]
    request = {"user_id": world.alice.id, "post_id": "another-post", "context": context}
    async with world.http.post(share_button(post)["integration"]["url"], json=request) as resp:
        assert (
            resp.status == 200
            and (await resp.json())["ephemeral_text"] == "This button's context is not valid."
        )
    assert (await world.services.sessions.delivery(session_id, "share")).state == "none", "nothing shared"


async def test_long_texts_stay_within_mattermost_limits(world: World) -> None:
    session_id = await link_session(world, world.alice)
    result = await complete(world, session_id, "happy", ("surprise", "neutral"))
    long = tuple(dataclasses.replace(r, title="T" * 400, reason="R" * 5000) for r in result.recommendations)
    other = await link_session(world, world.minji)
    origin = await world.services.sessions.origin(other)
    await world.services.sessions.complete(
        other, dataclasses.replace(result, session_id=other, recommendations=long, origin=origin.to_dict())
    )
    item = await settled(world, other)
    assert item["state"] == "delivered", item.get("reason")


async def test_every_way_refused_tells_the_page_and_records_undeliverable(world: World) -> None:
    """The bot may not DM alice and may not post ephemeral messages: the page says it could not post
    to the chat (and shows the result), and the session records undeliverable with both reasons."""
    world.standin.no_direct.add(world.alice.id)
    session_id, url = await link(world, world.alice)
    final = await declare_session(url, "fear")
    assert final["type"] == "result" and final["delivered"] is False and final["delivery"] == "undeliverable"
    assert final["delivery_note"] == "We couldn't post this to your chat; here it is."
    assert final["reloaded"]["delivery"] == "undeliverable"
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["state"] == "undeliverable"
    assert (
        "dm: Mattermost answered 403" in doc["reason"]
        and "ephemeral: Mattermost answered 403" in doc["reason"]
    )
    assert world.standin.posts == {}


async def test_the_standin_refuses_what_mattermost_refuses(world: World) -> None:
    """Messages over 16,383 characters, props over 800,000, posts in a channel the bot is not in."""
    outside = world.standin.add_channel("outside", member=False)
    url = f"{world.standin.url}/api/v4/posts"
    headers = {"Authorization": f"Bearer {world.standin.bot.token}"}
    cases: list[tuple[dict[str, Any], int]] = [
        ({"channel_id": world.channel.id, "message": "x" * 16384}, 400),
        ({"channel_id": world.channel.id, "message": "ok", "props": {"big": "y" * 800_001}}, 400),
        ({"channel_id": outside.id, "message": "ok"}, 403),
        ({"channel_id": world.channel.id, "message": "x" * 16383}, 201),
    ]
    for body, status in cases:
        async with world.http.post(url, json=body, headers=headers) as resp:
            assert resp.status == status, str(body.get("message", ""))[:10]
    assert len(world.standin.posts) == 1


async def test_the_standin_shows_ephemeral_text_only_on_200(world: World) -> None:
    """An integration that answers 403 gets Mattermost's generic "Action failed", its text unseen."""
    from aiohttp import web

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"ephemeral_text": "you will never see this"}, status=403)

    app = web.Application()
    app.router.add_post("/refuse", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        button = {
            "id": "x",
            "name": "x",
            "type": "button",
            "integration": {"url": f"http://127.0.0.1:{port}/refuse"},
        }
        post = {
            "channel_id": world.channel.id,
            "message": "m",
            "props": {"attachments": [{"actions": [button]}]},
        }
        headers = {"Authorization": f"Bearer {world.standin.bot.token}"}
        async with world.http.post(f"{world.standin.url}/api/v4/posts", json=post, headers=headers) as resp:
            post_id = (await resp.json())["id"]
        await click(world, world.alice, post_id, "x")
    except Exception as exc:  # mattermostdriver raises for the stand-in's 400, as for Mattermost's
        assert "status=403" in str(exc)
    finally:
        await runner.cleanup()
    assert world.standin.ephemeral == [] and world.standin.action_failures[-1]["status"] == 403
