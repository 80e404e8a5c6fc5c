"""Discord start-up against the strict stand-in: login, command sync, gateway."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from bot.discord import DISCORD_BOT, DiscordConfigError, setup_discord, start_discord
from tests.support.discord_world import TOKEN, BotServices, World, run_moodreel, with_discord
from tests.support.standins.discord_server import PRIVILEGED_INTENTS


async def test_standin_replies_with_exactly_application_json(world: World) -> None:
    me = f"{world.standin.api_base}/users/@me"
    async with aiohttp.ClientSession() as http:
        async with http.get(me, headers={"Authorization": f"Bot {TOKEN}"}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/json"
            assert (await r.json())["id"] == str(world.standin.application_id)
        async with http.get(me, headers={"Authorization": "Bot wrong"}) as r:
            assert r.status == 401 and r.headers["Content-Type"] == "application/json"


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
    option, mode = command["options"]
    assert option["name"] == "feeling" and option["required"] is False and option["type"] == 3
    assert (
        mode["name"] == "mode" and mode["required"] is False and mode["name_localizations"] == {"ko": "모드"}
    )
    assert [c["value"] for c in mode["choices"]] == ["group", "stage"]
    assert mode["choices"][0]["name_localizations"] == {"ko": "영화의 밤 (그룹)"}
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


async def test_setup_discord_runs_the_bot_for_as_long_as_the_app_runs(world: World) -> None:
    """`moodreel serve` wires Discord like Mattermost: a cleanup_ctx starts it and closes it."""
    app = web.Application()
    setup_discord(
        app,
        world.services,
        token=TOKEN,
        api_base=world.standin.api_base,
        gateway_url=world.standin.gateway_url,
        guild_ready_timeout=0.1,
    )
    runner = web.AppRunner(app)
    await runner.setup()  # runs the cleanup_ctx up to its yield: the bot task starts
    try:
        for _ in range(300):
            if app[DISCORD_BOT] and app[DISCORD_BOT][0].is_ready():
                break
            await asyncio.sleep(0.05)
        [bot] = app[DISCORD_BOT]
        assert bot.is_ready(), "the bot logged in and connected while the app runs"
        assert world.calls("PUT", f"/applications/{world.standin.application_id}/guilds/")
    finally:
        await runner.cleanup()
    assert bot.is_closed() and app[DISCORD_BOT] == [], "stopping the app closes the bot"
