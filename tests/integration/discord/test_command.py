"""/moodreel: the private link, deferral, languages, replacing an open link."""

from __future__ import annotations

import logging

import pytest

from tests.support.discord_world import TOKEN, World, link_button, run_moodreel, token_of

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
        "deliver": "private",
        "application_id": str(world.standin.application_id),
        "app_permissions": str(world.standin.permissions_in(world.standin.channel_id)),
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
    bot = await world.start_bot(reply_budget=0.0)
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
    assert inter.original_id is not None, "the deferred answer made the original message"
    original = world.standin.messages[inter.original_id]
    assert original["flags"] & 64 and link_button(original)["url"] == url
    assert session_id in bot.pending


async def test_korean_users_get_korean(world: World) -> None:
    await world.start_bot()
    call, session_id = await run_moodreel(world, world.minji, locale="ko", options={"feeling": "sad"})
    data = call.payload["data"]
    assert "한 번만 쓸 수 있고" in data["content"] and "**슬픔**" in data["content"]
    assert link_button(data)["label"] == "기분 측정 열기"
    doc = await world.services.sessions.get(session_id)
    assert doc is not None and doc["origin"]["locale"] == "ko"


async def test_running_moodreel_again_replaces_the_open_link(world: World) -> None:
    bot = await world.start_bot()
    first, old_id = await run_moodreel(world, world.alice)
    assert "replaces" not in first.payload["data"]["content"]
    second, new_id = await run_moodreel(world, world.alice)
    assert new_id != old_id
    assert "no longer works" in second.payload["data"]["content"]
    old = await world.services.sessions.get(old_id)
    assert old is not None and old["state"] == "expired" and old["reason"] == "replaced"
    assert old_id not in bot.pending and new_id in bot.pending
