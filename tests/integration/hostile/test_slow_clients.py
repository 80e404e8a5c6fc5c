"""Slow clients (slowloris) are closed: silent connections, headers or bodies sent a byte at a time.

The server runs exactly as `moodreel serve` runs it (web.AppRunner with webcam_page.app's
runner_options) on 127.0.0.1, with server.request_timeout at 1 s; a bounded number of sockets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from aiohttp import web

from core.config import Settings
from core.services import Services
from core.storage.store import Store
from tests.support.services import running_services
from webcam_page.app import create_app, runner_options

TIMEOUT = 1.0
PER_KIND = 15  # sockets of each kind: 45 in all


@pytest_asyncio.fixture
async def server(store: Store, settings: Settings) -> AsyncIterator[tuple[int, Services]]:
    settings = dataclasses.replace(
        settings, server=dataclasses.replace(settings.server, request_timeout=TIMEOUT)
    )
    async with running_services(store, settings) as services:
        runner = web.AppRunner(create_app(services), **runner_options(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield port, services
        finally:
            await runner.cleanup()


async def _hold(port: int, opening: bytes, drip: bytes, limit: float) -> float:
    """Connect, send `opening`, then one byte of `drip` every 0.2 s until the server closes the
    connection; returns how long it stayed open (capped at `limit`)."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(opening)
        await writer.drain()
        i = 0
        while time.monotonic() - start < limit:
            try:
                data = await asyncio.wait_for(reader.read(4096), 0.2)
            except TimeoutError:
                data = None
            if data == b"":
                break  # closed by the server
            if data is None and drip:
                try:
                    writer.write(drip[i % len(drip) : i % len(drip) + 1])
                    await writer.drain()
                except ConnectionError:
                    break
                i += 1
        return time.monotonic() - start
    finally:
        writer.close()


async def test_slowloris_connections_are_closed(server: tuple[int, Services]) -> None:
    port, _ = server
    limit = TIMEOUT + 6.0
    headers = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    body_start = (
        f"POST /try HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\nfeeling="
    ).encode()
    started = time.monotonic()
    held = asyncio.gather(
        *[_hold(port, b"", b"", limit) for _ in range(PER_KIND)],  # silent
        *[_hold(port, headers, b"a" * 100, limit) for _ in range(PER_KIND)],  # headers dripping
        *[_hold(port, body_start, b"h" * 5000, limit) for _ in range(PER_KIND)],  # body dripping
    )
    # Meanwhile the server answers everyone else at once.
    async with aiohttp.ClientSession() as http:
        await asyncio.sleep(0.3)
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
    times = await held
    assert max(times) < TIMEOUT + 2.5, sorted(times)[-5:]
    assert time.monotonic() - started < limit
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
        assert resp.status == 200


async def test_a_slow_body_gets_408(server: tuple[int, Services]) -> None:
    port, _ = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /try HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n"
        "Content-Length: 100\r\n\r\nfeel".encode()
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), TIMEOUT + 12)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]


async def test_a_keep_alive_connection_idle_after_a_request_is_closed(server: tuple[int, Services]) -> None:
    port, _ = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    start = time.monotonic()
    first = await asyncio.wait_for(reader.read(4096), 5)
    assert first.startswith(b"HTTP/1.1 200")
    rest = await asyncio.wait_for(reader.read(), TIMEOUT + 3)  # EOF: the server closed it
    writer.close()
    assert rest == b"" and time.monotonic() - start < TIMEOUT + 2.5
