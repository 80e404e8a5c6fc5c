"""The group movie night in Mattermost, against the strict stand-in: members join from the channel's
post, finish their checks through the real WebSocket page (declaring a feeling), and the host picks,
cancels and closes the vote; plus `/moodreel stage` and its two links."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.mattermost.client import MattermostClient
from bot.mattermost.command_text import parse_command_text
from core.present.group import explanation_text
from core.present.words import say
from core.values.emotions import EMOTIONS
from tests.support.declare import declare_session
from tests.support.mattermost_world import World, click, wait_until
from tests.support.standins.mattermost_server import User


def said_to(world: World, user: User) -> str:
    """The last ephemeral text `user` was shown."""
    return str([e for e in world.standin.ephemeral if e["user_id"] == user.id][-1]["post"]["message"])


def marked(world: World, kind: str) -> list[dict[str, Any]]:
    return [
        p
        for p in world.standin.posts.values()
        if str((p.get("props") or {}).get("moodreel_item", "")).endswith(f":{kind}:channel")
    ]


def buttons(post: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for a in post["props"].get("attachments", []) for b in a.get("actions", [])}


async def start(world: World, host: User) -> dict[str, Any]:
    _, _, body = await world.slash(host, "group")
    assert body["response_type"] == "ephemeral" and "posted in this channel" in body["text"], body
    await wait_until(lambda: len(marked(world, "group_progress")) == 1, "the movie night post")
    [post] = marked(world, "group_progress")
    assert post["channel_id"] == world.channel.id and set(buttons(post)) == {"join", "pick", "cancel"}
    return post


async def join(world: World, user: User, post: dict[str, Any]) -> str:
    """`user` presses Join; the link from their ephemeral answer."""
    await click(world, user, post["id"], "join")
    text = said_to(world, user)
    return next(w for w in text.split() if w.startswith(f"{world.base}/s/"))


async def finish(world: World, user: User, url: str, feeling: str, post: dict[str, Any]) -> None:
    final = await declare_session(url, feeling)
    assert final["type"] == "result", final
    await wait_until(lambda: f"✅ {user.username}: done" in post["message"], f"{user.username} shown done")


def vote_labels(post: dict[str, Any]) -> list[str]:
    return [b["name"] for i, b in buttons(post).items() if i.startswith("vote")]


async def test_movie_night_join_progress_and_pick(world: World) -> None:
    bob, carol = world.standin.add_user("bob"), world.standin.add_user("carol")
    post = await start(world, world.alice)
    links = {u.username: await join(world, u, post) for u in (world.alice, world.minji, bob, carol)}
    assert "movie night" in said_to(world, bob) and "영화의 밤" in said_to(world, world.minji)
    again = await join(world, bob, post)
    assert again != links["bob"] and "replaces your earlier one" in said_to(world, bob)
    links["bob"] = again
    # The post is edited through the outbox, after the clicks are answered.
    await wait_until(lambda: "Joined: 4" in post["message"], "four joined")
    assert "⏳ carol: taking the check" in post["message"]

    await finish(world, world.alice, links["alice"], "happy", post)
    await finish(world, bob, links["bob"], "happy", post)
    await finish(world, world.minji, links["minji"], "sad", post)
    lowered = post["message"].lower()
    assert not any(e in lowered for e in EMOTIONS), "no one's mood before the pick"
    assert "⏳ carol: taking the check" in post["message"]
    assert len(world.standin.direct_posts(bob)) == 1, "bob's own result came privately"

    await click(world, world.minji, post["id"], "pick")
    assert said_to(world, world.minji) == say("en", "group.not_host", host="alice")
    assert marked(world, "group_pick") == []
    await click(world, world.alice, post["id"], "pick")
    await wait_until(lambda: len(marked(world, "group_pick")) == 1, "the group's pick")
    [pick] = marked(world, "group_pick")
    assert "2 happy, 1 sad" in pick["message"] and "3 of 4 took part" in pick["message"], "carol not counted"
    assert len(pick["file_ids"]) == 1 and world.standin.files[pick["file_ids"][0]]["mime_type"] == "image/png"
    reasons = [a["text"] for a in pick["props"]["attachments"] if "title" in a]
    assert reasons and all("of you" in r or "worst-off" in r for r in reasons), reasons

    # Average without misery: the headline says so, and every pick's reason opens with its group
    # explanation; a pick not marked relaxed fits every one of the three who took part.
    group = await world.services.groups.get(_group_id(world))
    assert group is not None and group.pick is not None
    assert group.pick.strategy == world.settings.group.strategy == "average_without_misery"
    assert say("en", "group.strategy.average_without_misery") in pick["message"]
    explanations = group.pick.explanations
    assert len(explanations) == len(reasons) == len(group.pick.result.recommendations)
    for reason, why in zip(reasons, explanations, strict=True):
        assert reason.startswith(explanation_text(why, "en")), (reason, why)
        assert why.of == 3 and (why.relaxed or why.fits == 3), why
    seen = [why.relaxed for why in explanations]
    assert seen == sorted(seen), "picks that fit everyone come before the relaxed ones"
    assert len(vote_labels(pick)) == world.settings.group.poll_size and "close" in buttons(pick)
    await wait_until(lambda: not buttons(post), "the progress post without buttons")
    assert "The pick is in" in post["message"]
    assert world.standin.action_failures == []


async def test_the_host_cancels_and_no_one_else_may(world: World) -> None:
    post = await start(world, world.alice)
    join_context = {"context": buttons(post)["join"]["integration"]["context"]}
    await join(world, world.minji, post)
    await click(world, world.minji, post["id"], "cancel")
    assert said_to(world, world.minji) == say("en", "group.not_host", host="alice") and buttons(post)
    await click(world, world.alice, post["id"], "pick")
    assert "Nobody has finished" in said_to(world, world.alice), "nothing to pick from yet"
    await click(world, world.alice, post["id"], "cancel")
    await wait_until(lambda: "cancelled this movie night" in post["message"], "the cancelled post")
    assert not buttons(post) and marked(world, "group_pick") == []
    assert world.standin.action_failures == []

    # An old client's Join (the button is gone from the post, its context is not): the night is over.
    bob = world.standin.add_user("bob")
    assert await _press(world, bob, join_context, post["id"]) == say("en", "group.over")
    group = await world.services.groups.get(_group_id(world))
    assert (
        group is not None
        and group.state == "cancelled"
        and [m.user_id for m in group.members] == [world.minji.id]
    )


async def _press(world: World, user: User, button: dict[str, Any], post_id: str) -> str:
    """POST a button's integration request straight to MoodReel (as Mattermost would, for a post and a
    context of our choosing); the ephemeral text it answers with."""
    request = {"user_id": user.id, "user_name": user.username, "post_id": post_id, **button}
    async with world.http.post(world.adapter.actions_url, json=request) as resp:
        assert resp.status == 200
        return str((await resp.json())["ephemeral_text"])


async def picked(world: World, members: list[tuple[User, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    post = await start(world, world.alice)
    for user, feeling in members:
        await finish(world, user, await join(world, user, post), feeling, post)
    await click(world, world.alice, post["id"], "pick")
    await wait_until(lambda: len(marked(world, "group_pick")) == 1, "the group's pick")
    return post, marked(world, "group_pick")[0]


async def test_votes_count_live_and_the_host_closes_once(world: World) -> None:
    bob = world.standin.add_user("bob")
    _, pick = await picked(world, [(world.alice, "happy"), (world.minji, "happy"), (bob, "sad")])
    assert all(label.endswith("· 0 votes") for label in vote_labels(pick))
    await click(world, world.minji, pick["id"], "vote0")
    assert vote_labels(pick)[0].endswith("· 1 vote") and said_to(world, world.minji).startswith("Your vote")
    await click(world, bob, pick["id"], "vote1")
    await click(world, world.minji, pick["id"], "vote1")  # minji changes her vote
    labels = vote_labels(pick)
    assert labels[0].endswith("· 0 votes") and labels[1].endswith("· 2 votes"), labels
    assert len(pick["file_ids"]) == 1, "the card stays attached through the updates"

    await click(world, bob, pick["id"], "close")
    assert said_to(world, bob) == say("en", "group.not_host", host="alice")
    assert marked(world, "group_winner") == []
    await click(world, world.alice, pick["id"], "close")
    await wait_until(lambda: len(marked(world, "group_winner")) == 1, "the winner")
    [winner] = marked(world, "group_winner")
    title = labels[1].split(". ", 1)[1].rsplit(" (", 1)[0]
    assert f"**{title}" in winner["message"] and "(2 of 2 votes)" in winner["message"], winner["message"]
    await wait_until(lambda: not buttons(pick), "the vote closed on the result post")
    await world.services.groups.close_poll(_group_id(world), world.alice.id)  # a second press
    assert len(marked(world, "group_winner")) == 1, "the winner is posted exactly once"
    assert world.standin.action_failures == []


def _group_id(world: World) -> str:
    [post] = marked(world, "group_progress")
    return str(str(post["props"]["moodreel_item"]).split(":", 1)[0])


async def test_after_a_restart_buttons_work_and_an_undelivered_pick_comes_once(world: World) -> None:
    world.services.groups.pick_wait = 0.3
    post = await start(world, world.alice)
    alice_link = await join(world, world.alice, post)
    await world.restart()
    minji_link = await join(world, world.minji, post)  # the old post's button, the new adapter
    await finish(world, world.alice, alice_link, "happy", post)
    await finish(world, world.minji, minji_link, "sad", post)

    release = world.standin.refuse(lambda method, path: method == "POST" and path == "/api/v4/files")
    await click(world, world.alice, post["id"], "pick")
    outbox = world.services.sessions.outbox
    item_id = outbox.item_id(_group_id(world), "group_pick")

    async def attempts() -> int:
        doc = await outbox.get(item_id)
        return len(doc["attempts"]) if doc else 0

    for _ in range(200):
        if await attempts():
            break
        await asyncio.sleep(0.05)
    assert await attempts() >= 1 and marked(world, "group_pick") == []
    await world.restart()
    release()
    await wait_until(lambda: len(marked(world, "group_pick")) == 1, "the pick, once Mattermost takes it")
    [pick] = marked(world, "group_pick")
    for _ in range(200):  # the post is in before the attempt records its outcome
        if (await outbox.status(item_id)).settled:
            break
        await asyncio.sleep(0.05)
    doc = await outbox.get(item_id)
    assert doc is not None and doc["state"] == "delivered" and doc["delivered_to"]["post_id"] == pick["id"]
    assert doc["attempts"][0]["outcome"] == "retry" and doc["attempts"][-1]["outcome"] == "delivered"
    await click(world, world.minji, pick["id"], "vote0")
    assert vote_labels(pick)[0].endswith("· 1 vote")
    await world.restart()  # nothing is left for the new worker to send again
    await outbox.deliver_now(item_id, 1.0)
    assert len(marked(world, "group_pick")) == 1, "the pick is posted exactly once"
    assert world.standin.action_failures == []


async def test_a_pick_stored_but_answered_late_is_posted_once(world: World) -> None:
    """Mattermost stores the group's result but answers after the client gave up: the retry finds the
    post by its marker instead of posting again, reuses the uploaded card, and the vote works on it."""
    post = await start(world, world.alice)
    for user, feeling in ((world.alice, "happy"), (world.minji, "fear")):
        await finish(world, user, await join(world, user, post), feeling, post)
        await wait_until(lambda u=user: len(world.standin.direct_posts(u)) == 1, "the member's own result")
    uploads_before = world.standin.log.count(("POST", "/api/v4/files"))
    world.adapter.client = MattermostClient(world.adapter.mm, timeout=1.0)
    world.standin.post_delay = 2.0
    await click(world, world.alice, post["id"], "pick")
    outbox = world.services.sessions.outbox
    item_id = outbox.item_id(_group_id(world), "group_pick")
    for _ in range(400):
        if (await outbox.status(item_id)).settled:
            break
        await asyncio.sleep(0.05)
    doc = await outbox.get(item_id)
    assert doc is not None and doc["state"] == "delivered", doc
    assert doc["attempts"][0]["outcome"] == "retry" and "ReadTimeout" in doc["attempts"][0]["detail"]
    [pick] = marked(world, "group_pick")
    assert doc["delivered_to"]["post_id"] == pick["id"]
    assert world.standin.log.count(("POST", "/api/v4/files")) == uploads_before + 1, "one card"
    world.standin.post_delay = 0.0
    await click(world, world.minji, pick["id"], "vote1")
    assert vote_labels(pick)[1].endswith("· 1 vote") and len(pick["file_ids"]) == 1
    assert world.standin.action_failures == []


async def test_group_contexts_copied_or_tampered_with_are_refused(world: World) -> None:
    post = await start(world, world.alice)
    join_button = {"context": buttons(post)["join"]["integration"]["context"]}
    await finish(world, world.alice, await join(world, world.alice, post), "sad", post)
    await click(world, world.alice, post["id"], "pick")
    await wait_until(lambda: len(marked(world, "group_pick")) == 1, "the group's pick")
    [pick] = marked(world, "group_pick")
    vote = dict(buttons(pick)["vote0"]["integration"]["context"])
    bad = say("en", "mattermost.bad_button")
    assert await _press(world, world.minji, join_button, pick["id"]) == bad, "Join copied onto the result"
    assert await _press(world, world.minji, {"context": vote}, post["id"]) == bad, "a vote on another post"
    assert await _press(world, world.minji, {"context": {**vote, "option": 1}}, pick["id"]) == bad
    group = await world.services.groups.get(_group_id(world))
    assert group is not None and group.poll.votes == {}, "no vote counted"
    assert vote_labels(pick)[0].endswith("· 0 votes") and vote_labels(pick)[1].endswith("· 0 votes")


async def test_stage_gives_a_control_and_a_stage_link(world: World) -> None:
    status, _, body = await world.slash(world.alice, "stage happy")
    assert status == 200 and body["response_type"] == "ephemeral" and "**Happy**" in body["text"]
    urls = [w for w in body["text"].split() if w.startswith(f"{world.base}/stage/")]
    assert [u.split("/")[4] for u in urls] == ["control", "show"], urls
    for url in urls:
        async with world.http.get(url) as resp:
            assert resp.status == 200, url
    assert await world.services.store.sessions.count_documents({}) == 0
    _, _, body = await world.slash(world.alice, "help")
    assert "`/moodreel group`" in body["text"] and "`/moodreel stage happy`" in body["text"], body["text"]


def test_group_and_stage_command_words() -> None:
    assert parse_command_text("group").mode == "group" and parse_command_text("그룹 ko").locale == "ko"
    assert parse_command_text("stage sad").feeling == "sad" and parse_command_text("stage").mode == "stage"
    assert parse_command_text("happy").mode is None
