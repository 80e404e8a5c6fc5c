"""The audience stage on the web: a control page with the camera, a stage page for the projector.

Routes (added by `setup_stage`)
- POST /stage                             the try-it page's "stage" option: new links, 303 to the control page
- GET  /stage/control/{token}             the control page (camera preview, intended feeling, live chart)
- GET  /stage/control/{token}/ws          its WebSocket: camera frames in, acks and windows out
- GET  /stage/control/{token}/timeline.png, /windows.csv   the performer's summary (so far)
- GET  /stage/show/{token}                the stage page: the full-screen background
- GET  /stage/show/{token}/ws             its WebSocket: backgrounds out
- GET  /stage/words.js                    the pages' words, from core.present.words

Links are signed per role (core.stage.links); a stage starts in memory the first time one of its links
is opened, and lives until its links expire or the server stops. Nothing of it is stored: frames go
from the socket to the stage's analysis pool and are dropped; only each window's numbers are kept.

WebSocket protocol v1 (webcam_page.protocol parses every message), as the stage uses it:
- control, client -> server: binary JPEG frames (one camera, many faces); `declare` {"feeling"}
  changes the intended feeling; `finish` ends the show; `ping`. `start` is refused (`wrong_phase`):
  a stage needs no phases, its first frame starts the first window.
- control, server -> client: `ready` {stage_id, intended, window_seconds, fade_ms, max_fps,
  max_frame_bytes, stage_path, windows, background, ended, summary}; `ack` {n, faces, boxes,
  emotions, size, window}; `dropped` {n, reason}; `window` {window, background}; `intended`
  {feeling, background}; `ended` {windows, summary}; `pong`; `error` {code, message, fatal}.
- stage, server -> client: `ready` {intended, window_seconds, fade_ms, background, ended};
  `background` {background, window}; `ended`. Anything the stage page sends is ignored.
A window closes when a frame arrives after its end, or SETTLE seconds after its end when none does;
while no control page is connected the clock stops (the open window is closed early).

This module holds the routes; the live stages are in webcam_page.stage_hub and the control socket's
work in webcam_page.stage_control.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from core.present.locale import LOCALES, locale_from_accept_language
from core.present.words import EN, emotion_name, say
from core.sessions.errors import ExpiredToken, SessionError
from core.stage.links import StageTicket
from core.stage.summary import CHART_COLOURS, timeline_png, windows_csv
from core.values.emotions import EMOTIONS
from webcam_page.pages import refusal_page
from webcam_page.security import origin_allowed
from webcam_page.stage_control import StageControl
from webcam_page.stage_hub import HUB, StageHub, send_json

if TYPE_CHECKING:
    from core.services import Services

MAX_VIEWERS = 8  # stage pages per stage
STATIC = Path(__file__).resolve().parent / "static"


# --- pages ---------------------------------------------------------------------------------------


def _locale(request: web.Request) -> str:
    return locale_from_accept_language(request.headers.get("Accept-Language", ""))


def stage_refusal(request: web.Request, kind: str, status: int) -> web.Response:
    return refusal_page(request, f"stage.refusal.{kind}", f"stage-{kind}", status, _private())


def _private() -> dict[str, str]:
    return {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def _ticket(request: web.Request, role: str) -> StageTicket | web.Response:
    try:
        return request.app[HUB].signer.verify(role, request.match_info["token"])
    except ExpiredToken:
        return stage_refusal(request, "expired", 410)
    except SessionError:
        return stage_refusal(request, "invalid", 403)


async def new_stage(request: web.Request) -> web.StreamResponse:
    """The try-it page's stage option: links for a new stage, then on to its control page."""
    hub = request.app[HUB]
    settings = hub.settings
    if not origin_allowed(request, settings.server.base_url, settings.sessions.allowed_origins):
        return web.Response(status=403, text="cross-site request refused")
    if not hub.new_stages.allow(request.remote or "?"):
        return stage_refusal(request, "busy", 429)
    form = await request.post()
    feeling = str(form.get("intended") or "").strip().lower()
    links = hub.signer.issue(
        "", feeling if feeling in EMOTIONS else "neutral", settings.stage.link_ttl_minutes
    )
    return web.Response(status=303, headers={"Location": links.control_url, **_private()})


async def control_page(request: web.Request) -> web.StreamResponse:
    ticket = _ticket(request, "control")
    if isinstance(ticket, web.Response):
        return ticket
    return web.FileResponse(_static("control.html"), headers=_private())


async def show_page(request: web.Request) -> web.StreamResponse:
    ticket = _ticket(request, "show")
    if isinstance(ticket, web.Response):
        return ticket
    return web.FileResponse(_static("stage.html"), headers=_private())


def _static(name: str) -> Path:
    return STATIC / name


async def timeline(request: web.Request) -> web.StreamResponse:
    ticket = _ticket(request, "control")
    if isinstance(ticket, web.Response):
        return ticket
    hub = request.app[HUB]
    stage = hub.stages.get(ticket.stage_id)
    windows = list(stage.windows) if stage else []
    intended = stage.intended if stage else ticket.intended
    locale = request.query.get("lang") or _locale(request)
    png = await asyncio.to_thread(timeline_png, windows, intended, hub.settings.stage.window_seconds, locale)
    return web.Response(body=png, content_type="image/png", headers=_private())


async def windows_table(request: web.Request) -> web.StreamResponse:
    ticket = _ticket(request, "control")
    if isinstance(ticket, web.Response):
        return ticket
    stage = request.app[HUB].stages.get(ticket.stage_id)
    text = windows_csv(list(stage.windows) if stage else [])
    headers = {**_private(), "Content-Disposition": 'attachment; filename="moodreel-stage-windows.csv"'}
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers=headers)


def words_script() -> str:
    """The stage pages' words and emotion names (core.present.words), and the chart colours."""
    words = {lang: {k: say(lang, k) for k in EN if k.startswith("stage.")} for lang in LOCALES}
    names = {lang: {e: emotion_name(lang, e) for e in EMOTIONS} for lang in LOCALES}
    return (
        f"const STAGE_WORDS = {json.dumps(words, ensure_ascii=False)};\n"
        f"const STAGE_EMOTIONS = {json.dumps(names, ensure_ascii=False)};\n"
        f"const STAGE_CHART_COLOURS = {json.dumps(CHART_COLOURS)};\n"
    )


async def words_js(request: web.Request) -> web.StreamResponse:
    return web.Response(
        text=words_script(),
        content_type="text/javascript",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


# --- sockets -------------------------------------------------------------------------------------


def _socket_ticket(request: web.Request, role: str) -> StageTicket | web.Response:
    settings = request.app[HUB].settings
    if not origin_allowed(request, settings.server.base_url, settings.sessions.allowed_origins):
        return web.json_response(
            {"ok": False, "error": "origin", "message": "origin not allowed"}, status=403
        )
    try:
        return request.app[HUB].signer.verify(role, request.match_info["token"])
    except SessionError as exc:
        return web.json_response({"ok": False, "error": exc.kind, "message": str(exc)}, status=403)


async def show_socket(request: web.Request) -> web.StreamResponse:
    ticket = _socket_ticket(request, "show")
    if isinstance(ticket, web.Response):
        return ticket
    hub = request.app[HUB]
    stage = hub.stage_for(ticket)
    if stage is None or len(stage.viewers) >= MAX_VIEWERS:
        return web.json_response({"ok": False, "error": "busy", "message": "too many stages"}, status=503)
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
    await ws.prepare(request)
    stage.viewers.add(ws)
    try:
        await send_json(
            ws,
            {
                "type": "ready",
                "intended": stage.intended,
                "window_seconds": hub.settings.stage.window_seconds,
                "fade_ms": round(stage.fade_seconds * 1000),
                "background": stage.background.to_dict(),
                "window": stage.windows[-1].to_dict() if stage.windows else None,
                "ended": stage.ended,
            },
        )
        async for _ in ws:  # the stage page only listens
            pass
    finally:
        stage.viewers.discard(ws)
    return ws


async def control_socket(request: web.Request) -> web.StreamResponse:
    ticket = _socket_ticket(request, "control")
    if isinstance(ticket, web.Response):
        return ticket
    hub = request.app[HUB]
    stage = hub.stage_for(ticket)
    if stage is None:
        return web.json_response({"ok": False, "error": "busy", "message": "too many stages"}, status=503)
    pool = await hub.pool()
    sessions = hub.settings.sessions
    ws = web.WebSocketResponse(heartbeat=20.0, compress=False, max_msg_size=sessions.max_frame_bytes * 4)
    await ws.prepare(request)
    previous = stage.control
    if previous is not None and not previous.closed:
        # The performer reopened the control page: the newest one wins.
        await previous.close(code=WSCloseCode.POLICY_VIOLATION, message=b"opened again elsewhere")
    stage.control = ws
    try:
        await StageControl(hub, stage, ws, pool).run()
    finally:
        if stage.control is ws:
            stage.control = None
            if not stage.ended:  # the camera is gone: the clock stops, the open window closes early
                await hub.publish(stage, stage.windower.flush(stage.clock() or 0.0))
    return ws


# --- wiring --------------------------------------------------------------------------------------


def setup_stage(app: web.Application, services: Services, analyser: Any | None = None) -> None:
    """Add the stage's routes to the app. `analyser` replaces the stage analyser (tests share one)."""
    hub = StageHub(services, analyser)
    app[HUB] = hub

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        yield
        await hub.close()

    app.cleanup_ctx.append(lifetime)
    app.router.add_post("/stage", new_stage)
    app.router.add_get("/stage/words.js", words_js)
    app.router.add_get("/stage/control/{token}", control_page)
    app.router.add_get("/stage/control/{token}/ws", control_socket)
    app.router.add_get("/stage/control/{token}/timeline.png", timeline)
    app.router.add_get("/stage/control/{token}/windows.csv", windows_table)
    app.router.add_get("/stage/show/{token}", show_page)
    app.router.add_get("/stage/show/{token}/ws", show_socket)
