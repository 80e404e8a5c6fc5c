"""A movie night in Discord, end to end: the real bot, the strict stand-in, the real web app and its
WebSocket; members declare their feeling on the page (the camera path is tested elsewhere)."""

from __future__ import annotations

from core.config import Settings
from core.storage.store import Store
from tests.support.declare import declare_session
from tests.support.discord_group import (
    EMOTION_WORDS,
    click,
    description,
    groups,
    ids,
    join,
    posts,
    start_night,
)
from tests.support.discord_world import open_page_world


async def test_a_movie_night_of_four_joins_picks_without_misery_and_votes(
    store: Store, settings: Settings
) -> None:
    async with open_page_world(store, settings) as w:
        await w.start_bot()
        host, minji = w.alice, w.minji
        joon, sora = w.standin.add_user("joon", "Joon"), w.standin.add_user("sora", "Sora")
        message_id, group_id = await start_night(w, host)
        assert {"join", "pick", "cancel"} == {
            i.rsplit(":", 1)[1] for i in ids(w.standin.messages[message_id])
        }

        feelings = {host.id: "happy", minji.id: "happy", joon.id: "sad", sora.id: None}  # Sora never finishes
        for user in (host, minji, joon, sora):
            url = await join(w, user, message_id, group_id)
            feeling = feelings[user.id]
            if feeling is not None:
                result = await declare_session(url, feeling)
                assert result["type"] == "result"
        await w.standin.wait_for(
            lambda: description(w, message_id).count("✅") == 3 and "Sora" in description(w, message_id),
            "three done, one still taking the check",
        )
        progress = description(w, message_id)
        assert "Sora: taking the check" in progress and "Joined: 4" in progress, progress
        assert not EMOTION_WORDS.search(progress), f"no one's mood before the pick: {progress}"

        refused = await click(w, minji, message_id, f"moodreel:group:{group_id}:pick")
        assert "Only Alice" in refused
        assert not posts(w, "The group's mood")

        await click(w, host, message_id, f"moodreel:group:{group_id}:pick")
        await w.standin.wait_for(lambda: posts(w, "which one shall we watch"), "the poll")
        [result] = posts(w, "The group's mood")
        head = result["embeds"][0]
        assert head["title"] == "🍿 The group's mood: Happy"
        assert "2 happy, 1 sad · 3 of 4 took part" in head["description"]
        assert "average without misery" in head["description"]
        assert head["image"]["url"].endswith("/mood-card.png") or "attachments" in head["image"]["url"]
        movie = result["embeds"][1]
        assert "of you" in movie["description"] or any(
            "of you" in f["value"] for f in movie.get("fields", [])
        )
        await w.standin.wait_for(
            lambda: "The pick is in" in description(w, message_id), "the message updated"
        )
        assert not ids(w.standin.messages[message_id]), "no more buttons once picked"

        [poll_message] = posts(w, "which one shall we watch")
        poll_id = int(poll_message["id"])
        answers = poll_message["poll"]["answers"]
        assert len(answers) == 3
        w.standin.vote(poll_id, host, 2)
        w.standin.vote(poll_id, minji, 2)
        w.standin.vote(poll_id, joon, 1)
        w.standin.vote(poll_id, joon, 3)  # a changed vote replaces the first
        [close] = ids(w.standin.messages[poll_id])
        assert "Only Alice" in await click(w, joon, poll_id, close)
        await click(w, host, poll_id, close)
        await w.standin.wait_for(lambda: posts(w, "Tonight's movie"), "the winner")
        [winner] = posts(w, "Tonight's movie")
        title = answers[1]["poll_media"]["text"]
        assert f"**{title}** (2 of 3 votes)" in winner["content"]
        assert w.standin.messages[poll_id]["poll"]["results"]["is_finalized"]
        assert not ids(w.standin.messages[poll_id]), "the Close button is gone"
        # Closing again (say, the deadline) announces nothing new.
        await groups(w).close_poll(group_id, str(host.id))
        assert len(posts(w, "Tonight's movie")) == 1
        assert len(posts(w, "The group's mood")) == 1


async def test_the_host_cancels_and_a_restart_keeps_the_buttons_and_delivers_the_pick_once(
    store: Store, settings: Settings
) -> None:
    async with open_page_world(store, settings) as w:
        await w.start_bot()
        cancelled_id, cancelled = await start_night(w, w.alice)
        assert "Only Alice" in await click(w, w.minji, cancelled_id, f"moodreel:group:{cancelled}:cancel")
        await click(w, w.alice, cancelled_id, f"moodreel:group:{cancelled}:cancel")
        await w.standin.wait_for(lambda: "cancelled" in description(w, cancelled_id), "the cancelled message")
        assert not ids(w.standin.messages[cancelled_id])

        message_id, group_id = await start_night(w, w.alice)
        url = await join(w, w.minji, message_id, group_id)
        await w.stop_bot()
        # While the bot is away: the member finishes and the deadline pick is made (run_due does this).
        assert (await declare_session(url, "sad"))["type"] == "result"
        await groups(w).pick(group_id, None)
        assert not posts(w, "The group's mood")

        await w.start_bot()  # a new process: the outbox delivers what waited, once
        await w.standin.wait_for(lambda: posts(w, "which one shall we watch"), "the pick after the restart")
        await w.standin.wait_for(
            lambda: "The pick is in" in description(w, message_id), "the message updated"
        )
        assert len(posts(w, "The group's mood")) == 1
        [poll] = posts(w, "which one shall we watch")
        [close] = ids(poll)
        await click(w, w.alice, int(poll["id"]), close)  # a button from before the restart still works
        await w.standin.wait_for(lambda: posts(w, "Nobody voted"), "the winner with no votes")


async def test_mode_stage_hands_out_a_control_and_a_stage_link_privately(
    store: Store, settings: Settings
) -> None:
    import dataclasses

    import aiohttp

    async with open_page_world(store, dataclasses.replace(settings, secret="s" * 32)) as w:
        await w.start_bot()
        before = len(w.standin.calls)
        inter = await w.standin.slash_command(w.alice, options={"mode": "stage", "feeling": "happy"})
        answer = await w.standin.wait_for_call(
            "POST", f"/interactions/{inter.id}/", "the links", after=before
        )
        data = answer.payload["data"]
        assert data["flags"] & 64, "only the performer sees the links"
        urls = [c["url"] for row in data["components"] for c in row["components"]]
        assert len(urls) == 2 and "/stage/control/" in urls[0] and ".happy." in urls[0]
        async with aiohttp.ClientSession() as http:
            for url in urls:
                async with http.get(url) as page:
                    assert page.status == 200, url
