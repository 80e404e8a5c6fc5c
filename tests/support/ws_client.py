"""A real WebSocket client for a session link: what the page does, minus the camera.

Used by the bots' tests and by bench/sessions.py. It opens the link like a browser (GET the page,
POST the claim, so the claim cookie is set), connects the socket with an Origin header, streams the
baseline and the stimulus frames at `fps`, finishes, and returns the server's final message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from webcam_page.protocol import VERSION

FINAL_TYPES = ("result", "retry")


class SessionFailed(RuntimeError):
    """The server refused the link or ended the session; `detail` holds its message."""

    def __init__(self, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}


@dataclass
class SessionTrace:
    """What happened on the wire, for benchmarks: per-frame latency and counters."""

    sent: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    acked: int = 0
    dropped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _reader(
    ws: aiohttp.ClientWebSocketResponse, trace: SessionTrace, inbox: asyncio.Queue[dict[str, Any]]
) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            continue
        doc = msg.json()
        now = time.perf_counter()
        kind = doc.get("type")
        if kind in ("ack", "dropped") or (kind == "error" and "n" in doc):
            sent = trace.sent_at.pop(doc.get("n", -1), None)
            if sent is not None:
                if kind == "ack":
                    trace.acked += 1
                    trace.latencies_ms.append((now - sent) * 1000)
                elif kind == "dropped":
                    trace.dropped += 1
        if kind == "error":
            trace.errors.append(doc)
        if kind not in ("ack", "dropped"):
            trace.messages.append(doc)
        await inbox.put(doc)
    await inbox.put({"type": "closed", "code": ws.close_code})


async def _expect(
    inbox: asyncio.Queue[dict[str, Any]], kinds: Sequence[str], timeout: float
) -> dict[str, Any]:
    """The next message of one of `kinds`; a fatal error or a close raises SessionFailed."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SessionFailed(f"no {'/'.join(kinds)} message within {timeout:.0f} s")
        doc = await asyncio.wait_for(inbox.get(), left)
        if doc.get("type") in kinds:
            return doc
        if doc.get("type") == "error" and doc.get("fatal"):
            raise SessionFailed(f"session ended: {doc.get('message')}", doc)
        if doc.get("type") == "closed":
            raise SessionFailed(f"the server closed the socket (code {doc.get('code')})", doc)


async def _stream(
    ws: aiohttp.ClientWebSocketResponse,
    frames: Sequence[bytes],
    fps: float,
    trace: SessionTrace,
    n0: int,
    lockstep: bool = False,
    timeout: float = 60.0,
) -> int:
    """Send frames on a steady clock (no catch-up bursts); returns the next frame number.

    With `lockstep`, each frame also waits for the answer to the one before, so a slow server
    analyses every frame instead of dropping some (tests use it for exact counts)."""
    interval = 1.0 / fps
    start = time.perf_counter()
    n = n0
    for i, frame in enumerate(frames):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        trace.sent_at[n] = time.perf_counter()
        await ws.send_bytes(frame)
        trace.sent += 1
        if lockstep:
            deadline = time.monotonic() + timeout
            while n in trace.sent_at and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
        n += 1
    return n


async def run_session(
    url: str,
    baseline: Sequence[bytes],
    stimulus: Sequence[bytes],
    fps: float = 10,
    origin_header: str | None = None,
    *,
    trace: SessionTrace | None = None,
    timeout: float = 60.0,
    lockstep: bool = False,
) -> dict[str, Any]:
    """Open the session link, stream both phases and return the final `result` (or `retry`) message.

    `origin_header` defaults to the link's own origin, as a browser on that page would send.
    Raises SessionFailed when the link is refused or the session ends with a fatal error.
    """
    trace = trace if trace is not None else SessionTrace()
    origin = origin_header or _origin_of(url)
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1 too
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(url) as page:
            if page.status != 200:
                raise SessionFailed(f"the session page answered {page.status}", {"status": page.status})
        async with http.post(f"{url}/claim", headers={"Origin": origin}) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise SessionFailed(f"claiming the session failed: {body.get('message')}", body)
        ws_url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"
        async with http.ws_connect(ws_url, origin=origin, autoping=True, max_msg_size=0) as ws:
            inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            reader = asyncio.create_task(_reader(ws, trace, inbox))
            try:
                await _expect(inbox, ["ready"], timeout)
                n = 0
                for phase, frames in (("baseline", baseline), ("stimulus", stimulus)):
                    await ws.send_json({"v": VERSION, "type": "start", "phase": phase})
                    await _expect(inbox, ["phase"], timeout)
                    n = await _stream(ws, frames, fps, trace, n, lockstep, timeout)
                await ws.send_json({"v": VERSION, "type": "finish"})
                return await _expect(inbox, FINAL_TYPES, timeout)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
