"""The time-cap race (issue 14): a message arriving while the watchdog fails the session must still
end with the page told `time_cap`, the counters stored and the chat's failure hook called."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from core.config import Settings
from core.sessions.origin import SessionOrigin
from core.storage.store import Store
from tests.support.face_frames import face_frames
from tests.support.services import running_services, short_settings
from webcam_page.app import create_app


@pytest.mark.parametrize("late", ["ping", "frame"])
async def test_a_message_during_the_time_cap_still_ends_it_properly(
    aiohttp_client: Any, store: Store, settings: Settings, late: str
) -> None:
    async with running_services(store, short_settings(settings, max_session_seconds=1.5)) as svc:
        told: list[tuple[str, str]] = []

        async def on_failure(session_id: str, origin: SessionOrigin, reason: str) -> None:
            told.append((session_id, reason))

        svc.sessions.on_failure("discord", on_failure)
        failing = asyncio.Event()
        real_fail = svc.sessions.fail

        async def slow_fail(session_id: str, reason: str) -> None:
            failing.set()
            await asyncio.sleep(0.6)  # the window in which the page's next message arrives
            await real_fail(session_id, reason)

        svc.sessions.fail = slow_fail  # type: ignore[method-assign]
        client = await aiohttp_client(create_app(svc))
        link = await svc.sessions.create(SessionOrigin("discord", "racer", "c1"))
        path = "/s/" + link.url.rsplit("/s/", 1)[1]
        origin = f"http://{client.host}:{client.port}"
        assert (await client.post(f"{path}/claim", headers={"Origin": origin})).status == 200
        ws = await client.ws_connect(f"{path}/ws", origin=origin)
        assert (await ws.receive_json())["type"] == "ready"
        await ws.send_json({"v": 1, "type": "start", "phase": "baseline"})
        await asyncio.wait_for(failing.wait(), 10)  # the watchdog is failing the session now
        if late == "ping":
            await ws.send_json({"v": 1, "type": "ping", "t": 1})
        else:
            await ws.send_bytes(face_frames(1, (320, 240), seed=1)[0])
        seen: list[dict[str, Any]] = []
        while True:
            msg = await asyncio.wait_for(ws.receive(), 10)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            seen.append(json.loads(msg.data))
        errors = [m for m in seen if m["type"] == "error"]
        assert errors and errors[-1]["code"] == "time_cap" and errors[-1]["fatal"], seen
        assert told == [(link.session_id, "time cap reached")]
        for _ in range(50):  # the handler stores the counters as it ends
            doc = await svc.sessions.get(link.session_id)
            if doc and doc["stats"]:
                break
            await asyncio.sleep(0.1)
        assert doc is not None and (doc["state"], doc["reason"]) == ("failed", "time cap reached")
        assert doc["stats"].get("refused_time_cap") == 1
        assert doc["purge_at"] is not None
