"""With the database away, every page and endpoint answers at once and clearly (503 or, for
Mattermost, an ephemeral reply), never a 500 (issue 14, section 5). The outage is simulated by
making the store's calls fail as PyMongo fails them; test_serve_faults kills a real mongod."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ServerSelectionTimeoutError

from bot.mattermost import ACTIONS_PATH, COMMAND_PATH, MATTERMOST_ADAPTER
from bot.mattermost.signing import PageContext
from core.services import Services
from core.sessions.origin import SessionOrigin
from tests.support.hostile import COMMAND_TOKEN


def database_down(monkeypatch: pytest.MonkeyPatch, services: Services) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")

    for name in ("get", "create", "claim", "check_claim", "finished_result", "set_state"):
        monkeypatch.setattr(services.sessions, name, fail)
    monkeypatch.setattr(AsyncDatabase, "command", fail)  # the /healthz ping


async def test_pages_and_calls_say_moodreel_is_having_trouble(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    link = await services.sessions.create(SessionOrigin("web", "w1"))
    path = "/s/" + link.url.rsplit("/s/", 1)[1]
    origin = {"Origin": f"http://{client.host}:{client.port}"}
    assert (await client.get("/healthz")).status == 200
    database_down(monkeypatch, services)
    caplog.set_level(logging.INFO)

    health = await client.get("/healthz")
    assert health.status == 503 and (await health.json())["database"]["ok"] is False
    page = await client.get(path)
    assert page.status == 503 and "MoodReel is having trouble" in await page.text()
    korean = await client.get(path, headers={"Accept-Language": "ko"})
    assert korean.status == 503 and "MoodReel에 문제가 생겼습니다" in await korean.text()
    tried = await client.post("/try", headers=origin, allow_redirects=False)
    assert tried.status == 503 and "MoodReel is having trouble" in await tried.text()
    for method, url in (("POST", f"{path}/claim"), ("GET", f"{path}/result"), ("GET", f"{path}/ws")):
        resp = await client.request(method, url, headers=origin)
        assert resp.status == 503, url
        assert (await resp.json())["error"] == "unavailable"

    form = {"token": COMMAND_TOKEN, "user_id": "u1", "channel_id": "c1", "text": ""}
    command = await client.post(COMMAND_PATH, data=form)
    assert command.status == 200
    assert (await command.json())["text"].startswith("MoodReel is having trouble")
    signer = client.app[MATTERMOST_ADAPTER].signer
    context = signer.sign(PageContext(link.session_id, 0, "ko"))
    button = await client.post(ACTIONS_PATH, json={"context": context})
    assert button.status == 200  # Mattermost shows ephemeral_text only on 200
    assert "MoodReel에 문제가 생겼습니다" in (await button.json())["ephemeral_text"]

    handling = ("aiohttp", "asyncio", "webcam_page", "bot.mattermost.adapter")  # not the outbox's own loop
    tracebacks = [r for r in caplog.records if r.exc_info and r.name.startswith(handling)]
    assert not tracebacks, "an outage is a warning, not a traceback"
