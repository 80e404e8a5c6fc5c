"""The audience stage over the real app and a real WebSocket: links, pages, windows from a crowd camera,
the fallback, the backgrounds the stage page gets, the intended feeling, the end and its summary."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pandas as pd
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from PIL import Image

from core.colour.psychology import EMOTION_PALETTES
from core.config import Settings
from core.services import Services
from core.stage.links import StageSigner
from core.storage.store import Store
from tests.support.crowd_frames import crowd_frames, empty_room
from tests.support.services import running_services
from webcam_page.app import create_app

WINDOW = 1.5  # seconds: short windows keep the test quick
FPS = 10


@pytest.fixture(scope="module")
def camera() -> dict[str, list[bytes]]:
    return {
        "happy": crowd_frames(["happy"] * 6, 20, seed=11),
        "empty": empty_room(20, seed=1),
    }


@pytest_asyncio.fixture
async def services(store: Store, settings: Settings) -> AsyncIterator[Services]:
    stage = dataclasses.replace(settings.stage, window_seconds=WINDOW, fade_seconds=0.5)
    async with running_services(store, dataclasses.replace(settings, stage=stage)) as svc:
        yield svc


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, services: Services) -> TestClient:
    return await aiohttp_client(create_app(services))


def origin_of(client: TestClient) -> str:
    return f"http://{client.host}:{client.port}"


def links(services: Services, intended: str = "sad") -> tuple[str, str]:
    """(control path, stage path) of a new stage."""
    made = StageSigner(services.settings.secret).issue("", intended, 60)
    return made.control_url, made.show_url


async def read_until(ws: aiohttp.ClientWebSocketResponse, kind: str, seen: list[dict[str, Any]]) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 30)
        assert msg.type == aiohttp.WSMsgType.TEXT, f"socket ended ({msg.type}) before {kind!r}"
        doc = json.loads(msg.data)
        seen.append(doc)
        if doc["type"] == kind:
            return doc


async def stream(ws: aiohttp.ClientWebSocketResponse, frames: list[bytes], seconds: float) -> None:
    """Send frames at FPS (looping) for `seconds`, as the control page does."""
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        await ws.send_bytes(frames[i % len(frames)])
        i += 1
        await asyncio.sleep(1 / FPS)


async def test_the_try_it_page_offers_a_stage(client: TestClient) -> None:
    page = await (await client.get("/")).text()
    assert 'action="/stage"' in page and 'name="intended"' in page
    resp = await client.post(
        "/stage", data={"intended": "happy"}, headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location.startswith("/stage/control/") and ".happy." in location
    control = await client.get(location)
    assert control.status == 200 and "stage.control.title" in await control.text()
    assert control.headers["Cache-Control"] == "no-store"
    # A cross-site form cannot make stages.
    refused = await client.post("/stage", data={"intended": "happy"}, allow_redirects=False)
    assert refused.status == 403


async def test_links_are_checked(client: TestClient, services: Services) -> None:
    _, show = links(services)
    assert (await client.get(show)).status == 200
    stage_token = show.rsplit("/", 1)[1]
    wrong_role = await client.get(f"/stage/control/{stage_token}")  # a stage link opens no control page
    assert wrong_role.status == 403 and "stage-invalid" in await wrong_role.text()
    assert (await client.get("/stage/show/nonsense")).status == 403
    expired = StageSigner(services.settings.secret).issue(
        "", "sad", 1, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    page = await client.get(expired.show_url, headers={"Accept-Language": "ko-KR"})
    assert page.status == 410 and "만료된 무대 링크" in await page.text()
    ws = await client.get(f"{show}/ws", headers={"Origin": "https://evil.example"})
    assert ws.status == 403


async def test_words_come_from_the_one_table(client: TestClient) -> None:
    text = await (await client.get("/stage/words.js")).text()
    assert text.startswith("const STAGE_WORDS = ")
    words = json.loads(text.split("\n")[0].removeprefix("const STAGE_WORDS = ").removesuffix(";"))
    assert (
        words["en"]["stage.control.end"] == "End the show"
        and words["ko"]["stage.control.end"] == "공연 끝내기"
    )
    assert set(words["en"]) == set(words["ko"])
    assert "STAGE_CHART_COLOURS" in text and "STAGE_EMOTIONS" in text


async def test_a_show_windows_fallback_intended_end_and_summary(
    client: TestClient, services: Services, camera: dict[str, list[bytes]]
) -> None:
    control_path, show_path = links(services, "sad")
    origin = origin_of(client)
    viewer = await client.ws_connect(f"{show_path}/ws", origin=origin)
    viewer_seen: list[dict[str, Any]] = []
    first = await read_until(viewer, "ready", viewer_seen)
    # Before any window the stage shows the intended feeling.
    assert first["background"]["emotion"] == "sad" and first["background"]["fallback"] is True
    assert first["background"]["window"] is None and first["fade_ms"] == 500

    ws = await client.ws_connect(f"{control_path}/ws", origin=origin)
    seen: list[dict[str, Any]] = []
    ready = await read_until(ws, "ready", seen)
    assert ready["intended"] == "sad" and ready["window_seconds"] == WINDOW and ready["windows"] == []
    assert ready["stage_path"] == show_path and ready["ended"] is False
    await ws.send_str(json.dumps({"v": 1, "type": "start", "phase": "baseline"}))
    assert (await read_until(ws, "error", seen))["code"] == "wrong_phase"

    # A happy crowd, then an empty room.
    await stream(ws, camera["happy"], WINDOW + 0.6)
    happy = await read_until(ws, "window", seen)
    acks = [d for d in seen if d["type"] == "ack"]
    assert acks and max(a["faces"] for a in acks) >= 5
    assert all(len(a["boxes"]) == a["faces"] == len(a["emotions"]) for a in acks)
    assert happy["window"]["emotion"] == "happy" and not happy["window"]["fallback"]
    assert happy["window"]["faces"] >= 5 and happy["window"]["confidence"] > 0.4
    bg = happy["background"]
    assert bg["emotion"] == "happy" and bg["fade_ms"] == 500 and bg["window"] == 0
    assert [c["name"] for c in bg["colours"]] == [e.name for e in EMOTION_PALETTES["happy"]]
    await stream(ws, camera["empty"], 2 * WINDOW + 0.3)  # the window after next sees only the empty room
    closed = [happy, await read_until(ws, "window", seen)]
    while not closed[-1]["window"]["fallback"] and len(closed) < 4:
        closed.append(await read_until(ws, "window", seen))
    empty = closed[-1]
    assert empty["window"]["fallback"] and empty["window"]["emotion"] == "sad" and empty["window"]["frames"]
    assert empty["window"]["faces"] == 0 and empty["background"]["fallback"]

    # The stage page got the same backgrounds, each with its own seed.
    shown: list[dict[str, Any]] = []
    while len(shown) < len(closed):
        shown.append((await read_until(viewer, "background", viewer_seen))["background"])
    assert [b["seed"] for b in shown] == [c["background"]["seed"] for c in closed]
    assert len({first["background"]["seed"], *(b["seed"] for b in shown)}) == len(closed) + 1

    # The intended feeling changes while the stage shows it: the stage cross-fades to the new one.
    await ws.send_str(json.dumps({"v": 1, "type": "declare", "feeling": "surprise"}))
    changed = await read_until(ws, "intended", seen)
    assert changed["feeling"] == "surprise" and changed["background"]["emotion"] == "surprise"
    now = (await read_until(viewer, "background", viewer_seen))["background"]
    assert now["emotion"] == "surprise" and now["fallback"]

    # The end: the summary for the performer.
    await ws.send_str(json.dumps({"v": 1, "type": "finish"}))
    ended = await read_until(ws, "ended", seen)
    assert (await read_until(viewer, "ended", viewer_seen))["type"] == "ended"
    windows = ended["windows"]
    assert windows[0]["emotion"] == "happy" and windows[len(closed) - 1]["emotion"] == "sad"
    png = await client.get(ended["summary"]["png"] + "?lang=ko")
    assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(await png.read())).size == (1000, 560)
    csv = await client.get(ended["summary"]["csv"])
    table = pd.read_csv(io.StringIO(await csv.text()))
    assert len(table) == len(windows) and list(table["emotion"]) == [w["emotion"] for w in windows]
    await ws.send_bytes(camera["happy"][0])
    assert (await read_until(ws, "error", seen))["code"] == "wrong_phase"  # the show is over
    # Reopening the control page after the end shows the summary again.
    again = await client.ws_connect(f"{control_path}/ws", origin=origin)
    reopened = await read_until(again, "ready", [])
    assert reopened["ended"] and len(reopened["windows"]) == len(windows)
    await again.close()
    await ws.close()
    await viewer.close()


async def test_refused_messages_keep_the_stage_going(client: TestClient, services: Services) -> None:
    control_path, _ = links(services)
    ws = await client.ws_connect(f"{control_path}/ws", origin=origin_of(client))
    seen: list[dict[str, Any]] = []
    await read_until(ws, "ready", seen)
    await ws.send_bytes(b"not a jpeg")
    assert (await read_until(ws, "error", seen))["code"] == "not_jpeg"
    await ws.send_str("{nope")
    assert (await read_until(ws, "error", seen))["code"] == "bad_json"
    await ws.send_str(json.dumps({"v": 1, "type": "ping", "t": 5}))
    assert (await read_until(ws, "pong", seen))["t"] == 5
    await ws.close()


async def test_a_client_that_keeps_sending_garbage_is_cut_off(client: TestClient, services: Services) -> None:
    """Refusals are counted (webcam_page.socket_limits): a flood of bad messages gets too_fast past
    10 a second, and past 60 refusals in 10 s the socket says too_many_errors and closes (1008)."""
    control_path, _ = links(services)
    ws = await client.ws_connect(f"{control_path}/ws", origin=origin_of(client))
    seen: list[dict[str, Any]] = []
    await read_until(ws, "ready", seen)
    for _ in range(70):
        await ws.send_str("{nope")
    codes = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), 30)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        codes.append(json.loads(msg.data)["code"])
    # 60 refusals are within the budget; the 61st is answered, then too_many_errors closes the socket.
    assert codes[-1] == "too_many_errors" and len(codes) == 62
    assert 1 <= codes.count("bad_json") <= 10 and "too_fast" in codes
    assert ws.closed and ws.close_code == 1008
