"""The webcam app over real services (mongod, the emotion model, the recommender), via aiohttp_client."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from core.config import Settings
from core.present.words import genre_name
from core.services import Services
from core.sessions.origin import SessionOrigin
from core.storage.store import Store
from core.values.emotions import EMOTIONS
from core.values.results import MoodResult
from tests.support.face_frames import face_frames, no_face_frames
from tests.support.services import find_bytes, running_services, short_settings
from tests.support.ws_client import SessionFailed, SessionTrace, run_session
from webcam_page.app import create_app

SIZE = (320, 240)  # small frames keep the tests quick; the detector scales them anyway


@pytest.fixture(scope="module")
def frames() -> dict[str, list[bytes]]:
    return {
        "baseline": face_frames(8, SIZE, labels=["neutral"], seed=1),
        "stimulus": face_frames(8, SIZE, labels=["happy"], seed=2),
        "empty": no_face_frames(4, SIZE, seed=3),
    }


@pytest_asyncio.fixture
async def services(store: Store, settings: Settings) -> AsyncIterator[Services]:
    async with running_services(store, short_settings(settings)) as svc:
        yield svc


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, services: Services) -> TestClient:
    return await aiohttp_client(create_app(services))


def origin_of(client: TestClient) -> str:
    return f"http://{client.host}:{client.port}"


async def new_link(client: TestClient, services: Services, origin: SessionOrigin) -> tuple[str, str]:
    """(session_id, the link's URL on the test server)."""
    link = await services.sessions.create(origin)
    token = link.url.rsplit("/s/", 1)[1]
    return link.session_id, str(client.make_url(f"/s/{token}"))


async def open_socket(client: TestClient, path: str) -> aiohttp.ClientWebSocketResponse:
    """Claim the link like the page does, then connect its WebSocket and read `ready`."""
    resp = await client.post(f"{path}/claim", headers={"Origin": origin_of(client)})
    assert resp.status == 200, await resp.text()
    ws = await client.ws_connect(f"{path}/ws", origin=origin_of(client))
    ready = await ws.receive_json()
    assert ready["type"] == "ready" and ready["v"] == 1
    return ws


async def until(
    ws: aiohttp.ClientWebSocketResponse, kind: str, seen: list[dict[str, Any]] | None = None
) -> dict:
    """Read messages until one of type `kind` (collecting the others in `seen`)."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), 30)
        assert msg.type == aiohttp.WSMsgType.TEXT, f"socket ended ({msg.type}) before {kind!r}"
        doc = json.loads(msg.data)
        if doc["type"] == kind:
            return doc
        if seen is not None:
            seen.append(doc)


async def send(ws: aiohttp.ClientWebSocketResponse, **doc: Any) -> None:
    await ws.send_json({"v": 1, **doc})


def path_of(url: str) -> str:
    return "/s/" + url.rsplit("/s/", 1)[1]


# --- pages and links ------------------------------------------------------------------------------


async def test_try_it_page_makes_a_local_session(client: TestClient, services: Services) -> None:
    home = await client.get("/")
    assert home.status == 200 and "MoodReel" in await home.text()
    assert "default-src 'self'" in home.headers["Content-Security-Policy"]
    resp = await client.post(
        "/try", data={"feeling": "happy"}, headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location.startswith("/s/")
    session_id = services.sessions.verify_token(location[3:])
    doc = await services.sessions.get(session_id)
    assert doc is not None
    assert (doc["origin"]["platform"], doc["origin"]["declared_feeling"]) == ("web", "happy")
    page = await client.get(location)
    assert page.status == 200 and 'id="view-intro"' in await page.text()
    assert page.headers["Cache-Control"] == "no-store"


async def test_try_it_refuses_other_sites(client: TestClient) -> None:
    resp = await client.post("/try", headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert resp.status == 403


async def test_forged_and_malformed_tokens_get_a_clear_page(client: TestClient, services: Services) -> None:
    _, url = await new_link(client, services, SessionOrigin("discord", "u1"))
    sid, exp, sig = path_of(url)[3:].split(".")
    for bad in ["nonsense", f"{sid}.{exp}.{sig[:-2]}xx", f"{sid}.{int(exp, 16) + 60:x}.{sig}"]:
        resp = await client.get(f"/s/{bad}")
        assert resp.status == 403
        assert "This link is not valid" in await resp.text()
        claim = await client.post(f"/s/{bad}/claim", headers={"Origin": origin_of(client)})
        assert claim.status == 403 and (await claim.json())["error"] == "invalid"


async def test_expired_links_are_refused(client: TestClient, services: Services, store: Store) -> None:
    session_id, url = await new_link(client, services, SessionOrigin("discord", "u1"))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    # A token whose own expiry has passed:
    stale = services.sessions.make_token(session_id, past)
    resp = await client.get(f"/s/{stale}")
    assert resp.status == 410 and "expired" in await resp.text()
    # A valid token for a session the store has expired:
    await store.sessions.update_one({"session_id": session_id}, {"$set": {"expires_at": past}})
    resp = await client.get(path_of(url))
    assert resp.status == 410 and "This link has expired" in await resp.text()
    claim = await client.post(f"{path_of(url)}/claim", headers={"Origin": origin_of(client)})
    assert claim.status == 410 and (await claim.json())["error"] == "expired"


async def test_a_link_works_in_one_browser_only(client: TestClient, services: Services) -> None:
    _, url = await new_link(client, services, SessionOrigin("mattermost", "u1"))
    path = path_of(url)
    assert (await client.post(f"{path}/claim", headers={"Origin": origin_of(client)})).status == 200
    # The same browser (it has the claim cookie) may reload the page and resume.
    again = await client.post(f"{path}/claim", headers={"Origin": origin_of(client)})
    assert again.status == 200 and (await again.json())["resumed"] is True
    assert (await client.get(path)).status == 200
    # A second browser gets a clear refusal, in its language.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        async with other.get(url) as page:
            assert page.status == 409
            assert "This link was already used" in await page.text()
        async with other.get(url, headers={"Accept-Language": "ko-KR,ko;q=0.9"}) as page:
            assert "이미 사용된 링크입니다" in await page.text()
        async with other.post(f"{url}/claim", headers={"Origin": origin_of(client)}) as claim:
            assert claim.status == 409 and (await claim.json())["error"] == "used"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await other.ws_connect(f"{url}/ws", origin=origin_of(client))
        assert info.value.status == 409


async def test_a_replaced_link_says_so(client: TestClient, services: Services) -> None:
    _, old = await new_link(client, services, SessionOrigin("discord", "u1"))
    await new_link(client, services, SessionOrigin("discord", "u1"))
    resp = await client.get(path_of(old))
    assert resp.status == 410 and "A newer link replaced this one" in await resp.text()


async def test_origin_is_checked(client: TestClient, services: Services) -> None:
    _, url = await new_link(client, services, SessionOrigin("web", "u1"))
    path = path_of(url)
    evil = await client.post(f"{path}/claim", headers={"Origin": "https://evil.example"})
    assert evil.status == 403 and (await evil.json())["error"] == "origin"
    assert (await client.post(f"{path}/claim")).status == 403  # no Origin at all
    assert (await client.post(f"{path}/claim", headers={"Origin": origin_of(client)})).status == 200
    for origin in ("https://evil.example", f"http://{client.host}:1"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await client.ws_connect(f"{path}/ws", origin=origin)
        assert info.value.status == 403
    ws = await client.ws_connect(f"{path}/ws", origin=origin_of(client))
    assert (await ws.receive_json())["type"] == "ready"
    await ws.close()


async def test_configured_origins_are_allowed(aiohttp_client: Any, store: Store, settings: Settings) -> None:
    custom = short_settings(settings, allowed_origins=("https://moodreel.example",))
    async with running_services(store, custom) as svc:
        client = await aiohttp_client(create_app(svc))
        _, url = await new_link(client, svc, SessionOrigin("web", "u1"))
        resp = await client.post(f"{path_of(url)}/claim", headers={"Origin": "https://moodreel.example"})
        assert resp.status == 200


# --- the WebSocket session --------------------------------------------------------------------------


async def test_a_whole_session_delivers_to_the_chat_hook(
    client: TestClient, services: Services, store: Store, frames: dict[str, list[bytes]]
) -> None:
    delivered: list[MoodResult] = []

    async def hook(result: MoodResult) -> None:
        delivered.append(result)

    services.sessions.on_result("discord", hook)
    origin = SessionOrigin("discord", "u1", "chan-9", "Ann", "ko")
    session_id, url = await new_link(client, services, origin)
    trace = SessionTrace()
    message = await run_session(
        url, frames["baseline"], frames["stimulus"], fps=12, trace=trace, lockstep=True
    )
    assert message["type"] == "result" and message["delivered"] is True and message["platform"] == "discord"
    result = MoodResult.from_dict(message["result"])
    assert delivered == [result]
    assert result.session_id == session_id and result.origin["channel_id"] == "chan-9"
    assert result.emotion.primary in EMOTIONS and len(result.emotion.secondary) <= 2
    changes = {s.emotion: s.change for s in result.emotion.scores}
    assert all(changes[e] > -0.02 for e in result.emotion.secondary), "a fallen emotion is never secondary"
    assert result.emotion.method in ("change", "levels")
    assert result.emotion.face_frames == (8, 8)
    assert len(result.emotion.scores) == 7
    assert result.recommendations and result.colours
    assert trace.acked == 16 and trace.dropped == 0 and not trace.errors
    posters = message["posters"]
    assert all(path == f"/posters/{tid}.jpg" for tid, path in posters.items())
    doc = await store.sessions.find_one({"session_id": session_id}, {"_id": 0})
    assert doc is not None and doc["state"] == "delivered"
    assert doc["stats"]["received"] == 16 and doc["stats"]["analysed"] == trace.acked
    states = [h["state"] for h in doc["history"]]
    assert states[:5] == ["created", "opened", "baseline", "stimulus", "analysed"]
    assert find_bytes(doc) == []  # frames never reach the store


async def test_undelivered_results_survive_a_down_adapter(
    client: TestClient, services: Services, frames: dict[str, list[bytes]]
) -> None:
    # No Mattermost hook registered: the adapter is down.
    session_id, url = await new_link(client, services, SessionOrigin("mattermost", "u7"))
    message = await run_session(url, frames["baseline"], frames["stimulus"], fps=12, lockstep=True)
    assert message["type"] == "result" and message["delivered"] is False
    [waiting] = await services.sessions.undelivered("mattermost")
    assert waiting.session_id == session_id and waiting.to_dict() == message["result"]
    # The adapter comes back, posts it and marks it delivered.
    await services.sessions.mark_delivered(session_id)
    assert await services.sessions.undelivered("mattermost") == []


async def test_bad_messages_get_errors_and_the_session_keeps_working(
    client: TestClient, services: Services, frames: dict[str, list[bytes]]
) -> None:
    _, url = await new_link(client, services, SessionOrigin("web", "u1"))
    ws = await open_socket(client, path_of(url))
    cap = services.settings.sessions.max_frame_bytes

    async def expect_error(code: str) -> dict[str, Any]:
        doc = await until(ws, "error")
        assert doc["code"] == code and doc["fatal"] is False and doc["message"]
        return doc

    await ws.send_str("{not json")
    await expect_error("bad_json")
    await send(ws, type="dance")
    assert "dance" in (await expect_error("unknown_type"))["message"]
    await ws.send_str(json.dumps({"v": 99, "type": "ping"}))
    await expect_error("unsupported_version")
    await ws.send_bytes(frames["baseline"][0])  # no phase started yet
    await expect_error("wrong_phase")
    await send(ws, type="start", phase="stimulus")  # out of order
    await expect_error("wrong_phase")
    await send(ws, type="start", phase="baseline")
    assert (await until(ws, "phase"))["phase"] == "baseline"
    await ws.send_bytes(b"GIF89a" + b"\x00" * 100)
    await expect_error("not_jpeg")
    await ws.send_bytes(b"\xff\xd8\xff" + b"\x00" * (cap + 1))
    assert str(cap) in (await expect_error("too_large"))["message"]
    await ws.send_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 20)  # looks like a JPEG, is not one
    await expect_error("not_jpeg")
    await send(ws, type="ping", t=5)
    assert (await until(ws, "pong"))["t"] == 5
    # The session still works: run both phases and get the result.
    for phase in ("baseline", "stimulus"):
        if phase == "stimulus":
            await send(ws, type="start", phase="stimulus")
            await until(ws, "phase")
        for jpeg in frames[phase]:  # one at a time and under the rate cap, so none is dropped
            await ws.send_bytes(jpeg)
            await until(ws, "ack")
            await asyncio.sleep(0.1)
    await send(ws, type="finish")
    result = await until(ws, "result")
    assert result["result"]["emotion"]["face_frames"] == [8, 8]
    await ws.close()


async def test_frames_over_the_rate_cap_are_refused(
    client: TestClient, services: Services, frames: dict[str, list[bytes]]
) -> None:
    _, url = await new_link(client, services, SessionOrigin("web", "u1"))
    ws = await open_socket(client, path_of(url))
    await send(ws, type="start", phase="baseline")
    await until(ws, "phase")
    burst = 40
    for i in range(burst):
        await ws.send_bytes(frames["baseline"][i % 8])
    outcomes: dict[str, int] = {}
    while sum(outcomes.values()) < burst:
        doc = json.loads((await asyncio.wait_for(ws.receive(), 30)).data)
        key = doc["code"] if doc["type"] == "error" else doc["type"]
        outcomes[key] = outcomes.get(key, 0) + 1
    assert outcomes.get("too_fast", 0) >= burst - 2 * 15  # at most 15 a second get through
    assert set(outcomes) <= {"too_fast", "ack", "dropped"}
    await send(ws, type="ping")
    assert (await until(ws, "pong"))["type"] == "pong"  # still open
    await ws.close()


async def test_too_few_faces_asks_to_retry_then_declaring_still_recommends(
    client: TestClient, services: Services, frames: dict[str, list[bytes]]
) -> None:
    _, url = await new_link(client, services, SessionOrigin("web", "u1"))
    ws = await open_socket(client, path_of(url))
    for phase in ("baseline", "stimulus"):
        await send(ws, type="start", phase=phase)
        await until(ws, "phase")
        for jpeg in frames["empty"]:
            await ws.send_bytes(jpeg)
    await send(ws, type="finish")
    retry = await until(ws, "retry")
    assert retry["baseline_faces"] == 0 and retry["needed"] == services.settings.sessions.min_face_frames
    await send(ws, type="declare", feeling="sad")
    result = (await until(ws, "result"))["result"]
    assert result["emotion"]["method"] == "declared" and result["emotion"]["primary"] == "sad"
    assert result["recommendations"]
    await ws.close()


async def test_a_reload_after_the_end_shows_the_result_again(
    client: TestClient, services: Services, frames: dict[str, list[bytes]]
) -> None:
    _, url = await new_link(client, services, SessionOrigin("web", "u1"))
    path = path_of(url)
    assert (await client.get(f"{path}/result")).status == 404  # nothing yet, not even claimed
    ws = await open_socket(client, path)
    assert (await client.get(f"{path}/result")).status == 404  # running: no result yet
    await send(ws, type="declare", feeling="happy")
    result = (await until(ws, "result"))["result"]
    await ws.close()
    # The browser that ran the session reloads: the page opens and fetches the same result.
    page = await client.get(path)
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    again = await client.get(f"{path}/result")
    assert again.status == 200 and again.headers["Cache-Control"] == "no-store"
    body = await again.json()
    assert body["result"] == result and isinstance(body["posters"], dict)
    genres = {g for rec in result["recommendations"] for g in rec["genres"]}
    assert genres and body["genres_ko"] == {g: genre_name("ko", g) for g in genres}
    # Any other browser still gets "already used", and no result.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        async with other.get(url) as other_page:
            assert other_page.status == 409
        async with other.get(f"{url}/result") as other_result:
            assert other_result.status == 404 and "result" not in await other_result.json()
    forged = await client.get(path[:-3] + "AAA/result")
    assert forged.status == 403


async def test_the_feeling_declared_in_chat_is_the_fallback(
    client: TestClient, services: Services, frames: dict[str, list[bytes]]
) -> None:
    _, url = await new_link(client, services, SessionOrigin("discord", "u3", declared_feeling="fear"))
    message = await run_session(url, frames["empty"], frames["empty"], fps=12, lockstep=True)
    emotion = message["result"]["emotion"]
    assert (emotion["method"], emotion["primary"]) == ("declared", "fear")


async def test_the_time_cap_ends_the_session(aiohttp_client: Any, store: Store, settings: Settings) -> None:
    async with running_services(store, short_settings(settings, max_session_seconds=1.0)) as svc:
        client = await aiohttp_client(create_app(svc))
        session_id, url = await new_link(client, svc, SessionOrigin("discord", "u1"))
        ws = await open_socket(client, path_of(url))
        error = await until(ws, "error")
        assert error["code"] == "time_cap" and error["fatal"] is True
        assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        doc = await svc.sessions.get(session_id)
        assert doc is not None and (doc["state"], doc["reason"]) == ("failed", "time cap reached")
        with pytest.raises(SessionFailed):
            await run_session(url, [], [])


async def test_posters_and_health(client: TestClient, services: Services) -> None:
    posters = services.settings.resolve(services.settings.catalogue.posters_dir)
    some = next(posters.glob("*.jpg"))
    resp = await client.get(f"/posters/{some.name}")
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert (await client.get("/posters/..%2Fconfig.yaml")).status == 404
    assert (await client.get("/posters/999999999.jpg")).status == 404
    health = await (await client.get("/healthz")).json()
    assert health["ok"] is True and "dropped" in health["pool"]


@pytest.mark.parametrize("step", ["declare", "start_stimulus"])
async def test_a_link_replaced_mid_session_gets_session_closed(
    client: TestClient, services: Services, frames: dict[str, list[bytes]], step: str
) -> None:
    """Running /moodreel again while a page is mid-session: that page is told, it does not crash."""
    origin = SessionOrigin("discord", "u-replaced", channel_id="c1")
    _, url = await new_link(client, services, origin)
    ws = await open_socket(client, path_of(url))
    await send(ws, type="start", phase="baseline")
    await until(ws, "phase")
    await services.sessions.create(origin)  # a newer link for the same user
    if step == "declare":  # ends the session the way finish does (both deliver a result)
        await send(ws, type="declare", feeling="happy")
    else:
        await send(ws, type="start", phase="stimulus")
    doc = await until(ws, "error")
    assert doc["code"] == "session_closed" and doc["fatal"] is True, doc
    assert "newer link" in doc["message"] or "ended" in doc["message"]
    closed = await asyncio.wait_for(ws.receive(), 10)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closed
