"""The carousel: timeout, restore after a restart, Discord's limits."""

from __future__ import annotations

import dataclasses

import pytest

from core.colour.psychology import emotion_from_names, mood_colours
from core.values.results import MoodResult
from tests.support.discord_world import (
    BotServices,
    World,
    components,
    deliver_one,
    movie_title,
    run_moodreel,
    sample_recommendations,
    with_discord,
)


async def test_the_carousel_times_out_and_its_buttons_are_disabled(world: World) -> None:
    settings = with_discord(world.settings, carousel_timeout=0.5, deliver="channel")
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


async def test_a_carousel_from_before_a_restart_turns_its_pages_from_the_store(world: World) -> None:
    """Nothing of the carousel lives in the process: its buttons' ids say session, owner and page."""
    await world.start_bot(deliver="channel")
    result, _ = await deliver_one(world)
    [message] = world.standin.channel_messages()
    message_id = int(message["id"])
    await world.stop_bot()
    await world.start_bot(deliver="channel")  # a new process: no result in memory
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, message_id, components(message)[0][2]["custom_id"])
    ack = await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    assert ack.payload["type"] == 6, "it acknowledges at once (deferred update) before reading the store"
    edit = await world.standin.wait_for_call("PATCH", "/messages/@original", after=before)
    assert movie_title(edit.payload).startswith(result.recommendations[1].title)
    # The message now shows page 2, and its buttons lead on from there; the result is in memory now.
    shown = world.standin.messages[message_id]
    assert components(shown)[0][1]["label"] == f"2 / {len(result.recommendations)}"
    before = len(world.standin.calls)
    click = await world.standin.click(world.alice, message_id, components(shown)[0][2]["custom_id"])
    update = await world.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
    assert update.payload["type"] == 7
    assert movie_title(update.payload["data"]).startswith(result.recommendations[2].title)


async def test_long_texts_and_many_movies_stay_within_discord_limits(world: World) -> None:
    await world.start_bot(deliver="channel")
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
