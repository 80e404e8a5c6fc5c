"""The whole way: Discord -> link -> webcam WebSocket -> result in Discord."""

from __future__ import annotations

import dataclasses

from core.config import Settings
from core.present.words import emotion_name
from core.storage.store import Store
from core.values.results import MoodResult
from tests.support.discord_world import (
    TOKEN,
    World,
    components,
    free_port,
    link_button,
    movie_title,
    original_of,
    run_moodreel,
    with_discord,
)
from tests.support.standins.discord_server import DiscordStandIn

# --- the whole way: Discord -> link -> webcam WebSocket -> result in Discord ----------------------


async def test_full_flow_through_the_webcam_websocket(store: Store, settings: Settings) -> None:
    """/moodreel, the link opened by a real WebSocket client streaming real face frames, the analysed
    result sent privately (the ephemeral link message becomes the result) with the real mood card,
    the recommender's picks and the Share button, then a page turn."""
    from aiohttp import web

    from tests.support.face_frames import face_frames
    from tests.support.services import running_services, short_settings
    from tests.support.ws_client import run_session
    from webcam_page.app import create_app

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
                assert final["delivered"] is True and final["delivery"] == "delivered"
                assert final["delivery_note"] is None

                token = call.path.split("/")[3]
                post = await standin.wait_for_call(
                    "PATCH", f"/webhooks/{standin.application_id}/{token}/messages/@original"
                )
                assert not standin.channel_messages(), "private by default: nothing in the channel"
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
                primary = emotion_name("en", result.emotion.primary)
                assert summary["title"] == f"Alice's mood: {primary}"
                assert summary["fields"][0]["name"] == f"Main feeling · {primary}"
                assert all(c.hex in summary["fields"][-1]["value"] for c in result.colours), "the swatches"
                first = result.recommendations[0]
                assert (
                    movie["title"].startswith(first.title)
                    and movie["fields"][1]["value"] == f"{round(first.score)} / 100"
                )
                assert components(post.payload)[0][1]["label"] == f"1 / {len(result.recommendations)}"
                assert components(post.payload)[-1][0]["label"] == "Share with the channel"

                message = original_of(w, call)
                assert message["flags"] & 64
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
