"""A network fuzz of the real server (issue 14): at least 10,000 mixed WebSocket messages over many
connections, plus a few hundred hostile HTTP requests, against the app exactly as `moodreel serve`
runs it on 127.0.0.1. Bounded in time. Afterwards the server is up, a normal session completes,
its memory grew by a bounded amount, and nothing was logged with a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from core.config import Settings
from core.services import Services
from core.sessions.origin import SessionOrigin
from core.storage.store import Store
from core.values.emotions import EMOTIONS
from tests.support.face_frames import face_frames
from tests.support.hostile import hidden_sof_jpeg, http_request, raw_http, small_jpeg
from tests.support.services import running_services, short_settings
from tests.support.ws_client import run_session
from webcam_page.app import create_app, runner_options

MESSAGES = 10_000  # WebSocket messages, at least
WORKERS = 16  # connections open at once
TIME_BUDGET = 60.0  # seconds for the whole fuzz
HTTP_REQUESTS = 300
MAX_FRAME = 16 * 1024  # a small frame cap keeps the oversized messages cheap


@dataclasses.dataclass
class Tally:
    sent: int = 0
    connections: int = 0
    replies: Counter[str] = dataclasses.field(default_factory=Counter)
    closes: Counter[int] = dataclasses.field(default_factory=Counter)
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)


@pytest_asyncio.fixture
async def server(store: Store, settings: Settings) -> AsyncIterator[tuple[int, Services]]:
    settings = short_settings(settings, max_frame_bytes=MAX_FRAME, max_session_seconds=60.0)
    async with running_services(store, settings) as services:
        runner = web.AppRunner(create_app(services), **runner_options(settings))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield runner.addresses[0][1], services
        finally:
            await runner.cleanup()


def _messages(rng: random.Random) -> list[tuple[str, str | bytes]]:
    """The menu: valid messages, malformed and hostile ones, text and binary."""
    jpeg = small_jpeg(64, 48)
    texts = [
        json.dumps({"v": 1, "type": "ping", "t": 12.5}),
        json.dumps({"v": 1, "type": "start", "phase": "baseline"}),
        json.dumps({"v": 1, "type": "start", "phase": "stimulus"}),
        json.dumps({"v": 1, "type": "finish"}),
        '{"v": 1, "type": "ping", "t": ' + "9" * 400 + "}",
        '{"v": 1, "type": "ping", "t": 1e999}',
        "[" * 2000 + "]" * 2000,
        '{"a":' * 1000 + "1" + "}" * 1000,
        "[" * 5000,
        '{"v": true, "type": "ping"}',
        '{"v": 1, "type": ["ping"]}',
        '{"v": 1, "type": "' + "x" * 3000 + '"}',
        "x" * 5000,
        "null",
        "{not json",
        "\u0000\u202e\ufeff",
        json.dumps({"v": 1, "type": "start", "phase": {"$gt": ""}}),
        json.dumps({"v": 2, "type": "ping"}),
    ]
    binaries = [
        hidden_sof_jpeg(32000, 32000),  # the 360-byte bomb
        hidden_sof_jpeg(4097, 4097),
        jpeg,
        jpeg[: len(jpeg) // 2],
        b"\xff\xd8\xff" + bytes(rng.randrange(256) for _ in range(300)),
        b"\xff\xd8\xff\x00" * 100,
        b"",
        b"GIF89a",
        b"\xff\xd8\xff" + b"\x00" * (MAX_FRAME + 1),  # over the cap
    ]
    out: list[tuple[str, str | bytes]] = [("text", t) for t in texts] + [("bytes", b) for b in binaries]
    return out


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


async def _connection(
    http: aiohttp.ClientSession, port: int, services: Services, rng: random.Random, tally: Tally
) -> None:
    link = await services.sessions.create(SessionOrigin("web", f"fuzz-{rng.random()}"))
    path = "/s/" + link.url.rsplit("/s/", 1)[1]
    base = f"http://127.0.0.1:{port}"
    async with http.post(f"{base}{path}/claim", headers={"Origin": base}) as resp:
        assert resp.status == 200
    menu = _messages(rng)
    frame = face_frames(1, (160, 120), seed=rng.randrange(100))[0]
    async with http.ws_connect(f"ws://127.0.0.1:{port}{path}/ws", origin=base, max_msg_size=0) as ws:
        tally.connections += 1

        async def read() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    doc = json.loads(msg.data)
                    assert doc["v"] == 1
                    tally.replies[doc["type"] if doc["type"] != "error" else f"error:{doc['code']}"] += 1

        reader = asyncio.create_task(read())
        try:
            for _ in range(rng.randint(100, 400)):
                if ws.closed:
                    break
                pick = rng.random()
                if pick < 0.03:
                    await ws.send_bytes(frame)  # a real face now and then: the analysis pool works too
                elif pick < 0.033:
                    await ws.send_bytes(b"\xff\xd8\xff" + b"\x00" * (4 * MAX_FRAME + 1))  # aiohttp's 1009
                elif pick < 0.25:
                    await ws.send_bytes(_mutate(rng, small_jpeg(32, 32)))
                elif pick < 0.3:  # a real feeling ends the session with a result, now and then
                    feeling = rng.choice(
                        ["", "SAD ", "x" * 50, "😀", *EMOTIONS[:1]] if pick < 0.299 else EMOTIONS
                    )
                    await ws.send_str(json.dumps({"v": 1, "type": "declare", "feeling": feeling}))
                else:
                    kind, data = rng.choice(menu)
                    if kind == "text":
                        assert isinstance(data, str)
                        await ws.send_str(data)
                    else:
                        assert isinstance(data, bytes)
                        await ws.send_bytes(data)
                tally.sent += 1
                if rng.random() < 0.02:
                    await asyncio.sleep(0.05)
        except (ConnectionError, RuntimeError):
            pass  # the server closed it (too many errors, too big): that is the point
        finally:
            if not ws.closed:
                await ws.close()
            await asyncio.wait_for(reader, 30)
            tally.closes[ws.close_code or 0] += 1


async def _http_fuzz(port: int, services: Services, rng: random.Random, tally: Tally) -> None:
    link = await services.sessions.create(SessionOrigin("web", "fuzz-http"))
    token = link.url.rsplit("/s/", 1)[1]
    paths = ["/", "/try", "/healthz", "/posters/1.jpg", "/posters/..%2F..%2Fetc", "/nope", "/s/a.b.c"]
    paths += [f"/s/{token}", f"/s/{token}/claim", f"/s/{token}/result", f"/s/{token}/ws", "/s/%FF%FE"]
    junk = [b"\xff\xfe", b"\xc3", "é".encode(), b"=" * 200, b"a" * 3000, b"%00", b"\x7f"]
    for _ in range(HTTP_REQUESTS):
        headers = {rng.choice(["Cookie", "Origin", "Authorization", "Accept-Language", "Content-Type"]):
                   rng.choice(junk) for _ in range(rng.randint(0, 3))}  # fmt: skip
        if rng.random() < 0.5:
            headers["Cookie"] = b"moodreel_claim=" + rng.choice(junk)
        body = rng.choice([b"", b"feeling=" + rng.choice(junk), b"[" * 3000, rng.choice(junk)])
        method = rng.choice(["GET", "POST", "PUT", "DELETE"])
        try:
            status, _ = await raw_http(port, http_request(port, method, rng.choice(paths), headers, body))
        except (ConnectionError, IndexError, ValueError):
            status = 0  # the server refused to parse it at all and hung up
        tally.statuses[status] += 1


def answered(tally: Tally) -> int:
    return sum(tally.replies.values())


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def test_network_fuzz_leaves_the_server_healthy(
    server: tuple[int, Services], caplog: pytest.LogCaptureFixture
) -> None:
    port, services = server
    caplog.set_level(logging.WARNING)
    rng = random.Random(14)
    tally = Tally()
    rss_before = _rss_kib()
    started = time.monotonic()

    async def worker(seed: int) -> None:
        local = random.Random(seed)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            while answered(tally) < MESSAGES and time.monotonic() - started < TIME_BUDGET - 15:
                await _connection(http, port, services, local, tally)

    await asyncio.wait_for(
        asyncio.gather(
            *(worker(rng.randrange(10**9)) for _ in range(WORKERS)), _http_fuzz(port, services, rng, tally)
        ),
        TIME_BUDGET,
    )
    took = time.monotonic() - started
    print(
        f"fuzz: {tally.sent} sent, {answered(tally)} answered, {tally.connections} connections, {took:.0f} s"
    )
    print(f"replies {dict(tally.replies.most_common(14))}; closes {dict(tally.closes)}")
    print(f"http statuses {dict(tally.statuses)}")
    assert tally.sent >= MESSAGES and answered(tally) >= MESSAGES  # sent, and answered by the server
    assert tally.connections >= 20
    assert not any(status >= 500 for status in tally.statuses), tally.statuses
    assert tally.replies["error:not_jpeg"] and tally.replies["pong"] and tally.replies["ack"]

    # The server is up and a normal session completes.
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
        assert resp.status == 200
    link = await services.sessions.create(SessionOrigin("web", "after-the-fuzz"))
    url = f"http://127.0.0.1:{port}/s/" + link.url.rsplit("/s/", 1)[1]
    baseline = face_frames(8, (320, 240), labels=["neutral"], seed=1)
    stimulus = face_frames(8, (320, 240), labels=["happy"], seed=2)
    result = await run_session(url, baseline, stimulus, fps=10, lockstep=True)
    assert result["type"] == "result"

    # Memory stayed bounded: one decoded bomb alone would be 1 GB.
    grew_mib = (_rss_kib() - rss_before) / 1024
    assert grew_mib < 300, f"the server's memory grew by {grew_mib:.0f} MiB"

    # Not one traceback, not one error.
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad[:5]]
