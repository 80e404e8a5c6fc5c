"""The whole way: Discord -> link -> webcam WebSocket -> result in Discord."""

from __future__ import annotations

from core.config import Settings
from core.present.words import emotion_name
from core.storage.store import Store
from core.values.results import MoodResult
from tests.support.discord_world import (
    components,
    link_button,
    movie_title,
    open_page_world,
    original_of,
    run_moodreel,
)

# --- the whole way: Discord -> link -> webcam WebSocket -> result in Discord ----------------------


async def test_full_flow_through_the_webcam_websocket(store: Store, settings: Settings) -> None:
    """/moodreel, the link opened by a real WebSocket client streaming real face frames, the analysed
    result sent privately (the ephemeral link message becomes the result) with the real mood card,
    the recommender's picks and the Share button, then a page turn."""
    from tests.support.face_frames import face_frames
    from tests.support.ws_client import run_session

    async with open_page_world(store, settings) as w:
        await w.start_bot()
        call, session_id = await run_moodreel(w, w.alice)
        url = link_button(call.payload["data"])["url"]
        assert url.startswith(f"http://127.0.0.1:{w.settings.server.port}/s/")
        baseline = face_frames(10, labels=["neutral"], seed=1)
        stimulus = face_frames(10, labels=["happy"], seed=2)
        final = await run_session(url, baseline, stimulus, fps=10)
        assert final["type"] == "result"
        assert final["delivered"] is True and final["delivery"] == "delivered"
        assert final["delivery_note"] is None

        token = call.path.split("/")[3]
        post = await w.standin.wait_for_call(
            "PATCH", f"/webhooks/{w.standin.application_id}/{token}/messages/@original"
        )
        assert not w.standin.channel_messages(), "private by default: nothing in the channel"
        doc = await w.services.sessions.get(session_id)
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
        before = len(w.standin.calls)
        click = await w.standin.click(w.alice, int(message["id"]), components(message)[0][2]["custom_id"])
        update = await w.standin.wait_for_call("POST", f"/interactions/{click.id}/", after=before)
        assert update.payload["type"] == 7
        assert movie_title(update.payload["data"]).startswith(result.recommendations[1].title)
