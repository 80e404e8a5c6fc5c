"""A webcam session that skips the camera: open the link, claim it, declare a feeling, read the result."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from webcam_page.protocol import VERSION


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def declare_session(url: str, feeling: str = "happy", timeout: float = 30.0) -> dict[str, Any]:
    """Run the page's "tell us how you feel" path over the real WebSocket; returns the `result` message
    (or the first `error`), and the reloaded `/result` answer under the key "reloaded"."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(url) as page:
            assert page.status == 200, f"the session page answered {page.status}"
        async with http.post(f"{url}/claim", headers={"Origin": _origin(url)}) as resp:
            assert resp.status == 200, await resp.text()
        ws_url = url.replace("http://", "ws://", 1) + "/ws"
        final: dict[str, Any] = {}
        async with http.ws_connect(ws_url, origin=_origin(url)) as ws:

            async def read() -> dict[str, Any]:
                while True:
                    msg = await ws.receive_json()
                    if msg.get("type") in ("result", "error"):  # a refused declaration must not wait it out
                        return dict(msg)

            ready = await asyncio.wait_for(ws.receive_json(), timeout)
            assert ready["type"] == "ready", ready
            await ws.send_json({"v": VERSION, "type": "declare", "feeling": feeling})
            final = await asyncio.wait_for(read(), timeout)
        async with http.get(f"{url}/result") as again:
            final["reloaded"] = await again.json()
        return final
