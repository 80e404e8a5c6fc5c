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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from core.emotion.detect import FaceTracker
from core.emotion.pool import AnalysisPool, FrameDropped
from core.present.locale import LOCALES, locale_from_accept_language
from core.present.words import EN, emotion_name, say
from core.sessions.errors import ExpiredToken, SessionError
from core.stage.analyse import readings, stage_analyser
from core.stage.background import Background, background, opening_background, window_background
from core.stage.links import StageSigner, StageTicket
from core.stage.summary import CHART_COLOURS, timeline_png, windows_csv
from core.stage.windows import StageWindow, Windower
from core.values.emotions import EMOTIONS
from webcam_page import protocol as proto
from webcam_page.limits import AddressLimiter, SlidingWindow
from webcam_page.pages import refusal_page
from webcam_page.security import origin_allowed

if TYPE_CHECKING:
    from core.config import Settings
    from core.emotion.frames import FrameScore
    from core.services import Services

log = logging.getLogger(__name__)

SETTLE = 1.0  # seconds after a window's end that late-analysed frames still count
TICK = 0.25  # how often the clock checks for a window to close
MAX_STAGES = 20  # stages held in memory at once
MAX_VIEWERS = 8  # stage pages per stage
NEW_PER_MINUTE = 10  # new stages from the try-it page per client address
CONTROL_PER_SECOND = 10
ERROR_BUDGET, ERROR_WINDOW = 60, 10.0
STATIC = Path(__file__).resolve().parent / "static"


@dataclass
class Stage:
    """One show: its windows and who is watching. Lives on the event loop only."""

    ticket: StageTicket
    windower: Windower
    fade_seconds: float
    background: Background
    control: web.WebSocketResponse | None = None
    viewers: set[web.WebSocketResponse] = field(default_factory=set)
    tracker: FaceTracker = field(default_factory=FaceTracker)
    backgrounds: list[Background] = field(default_factory=list)  # one per closed window
    started: float = field(default_factory=time.monotonic)
    t0: float | None = None  # monotonic time of the first frame: the show's clock starts there
    ended: bool = False

    @property
    def stage_id(self) -> str:
        return self.ticket.stage_id

    @property
    def intended(self) -> str:
        return self.windower.intended

    @property
    def windows(self) -> list[StageWindow]:
        return self.windower.closed

    def clock(self) -> float | None:
        """Seconds since the first frame, or None before it."""
        return None if self.t0 is None else time.monotonic() - self.t0

    def frame_time(self) -> float:
        if self.t0 is None:
            self.t0 = time.monotonic()
        return time.monotonic() - self.t0


def _window_doc(window: StageWindow, shown: Background) -> dict[str, Any]:
    return {"type": "window", "window": window.to_dict(), "background": shown.to_dict()}


class StageHub:
    """Every live stage, the stage analysis pool (started with the first stage), and the signer."""

    def __init__(self, services: Services, analyser: Any | None = None) -> None:
        self.services = services
        self.settings: Settings = services.settings
        self.signer = StageSigner(services.settings.secret)
        self.stages: dict[str, Stage] = {}
        self.new_stages = AddressLimiter(NEW_PER_MINUTE, 60.0)
        self._analyser = analyser
        self._pool: AnalysisPool | None = None
        self._pool_lock = asyncio.Lock()

    async def pool(self) -> AnalysisPool:
        """One worker thread for all stages (a stage is one camera); its analyser finds many faces."""
        async with self._pool_lock:
            if self._pool is None:
                analyser: Any = self._analyser
                if analyser is None:
                    analyser = await asyncio.to_thread(stage_analyser, self.settings)
                self._pool = AnalysisPool(analyser, workers=1, queue_per_worker=2, max_batch=1)
            return self._pool

    async def close(self) -> None:
        for stage in list(self.stages.values()):
            for ws in [stage.control, *stage.viewers]:
                if ws is not None and not ws.closed:
                    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        if self._pool is not None:
            await self._pool.aclose()

    def stage_for(self, ticket: StageTicket) -> Stage | None:
        """The stage of a verified ticket, started now if it is new; None when too many are live."""
        now = time.time()
        for stage_id, live in list(self.stages.items()):
            if live.ticket.expires_at.timestamp() <= now:
                del self.stages[stage_id]
        stage = self.stages.get(ticket.stage_id)
        if stage is None:
            if len(self.stages) >= MAX_STAGES:
                idle = [s for s in self.stages.values() if s.control is None and not s.viewers]
                if not idle:
                    return None
                del self.stages[min(idle, key=lambda s: s.started).stage_id]  # the oldest idle one
            s = self.settings.stage
            stage = Stage(
                ticket,
                Windower(s.window_seconds, ticket.intended),
                s.fade_seconds,
                opening_background(ticket.intended, s.fade_seconds),
            )
            self.stages[ticket.stage_id] = stage
        return stage

    def show_path(self, stage: Stage) -> str:
        t = stage.ticket
        return f"/stage/show/{self.signer.token('show', t.stage_id, t.intended, t.expires_at)}"

    # --- telling everyone -------------------------------------------------------------------------

    async def broadcast(self, stage: Stage, doc: dict[str, Any], *, control: bool = True) -> None:
        targets = list(stage.viewers) + ([stage.control] if control and stage.control is not None else [])
        await asyncio.gather(*(_send(ws, doc) for ws in targets))

    async def publish(self, stage: Stage, closed: list[StageWindow]) -> None:
        """New windows: each one's background goes to the stage pages, the numbers to the control page."""
        for window in closed:
            shown = window_background(window, stage.fade_seconds)
            stage.backgrounds.append(shown)
            stage.background = shown
            if stage.control is not None:
                await _send(stage.control, _window_doc(window, shown))
        if closed:
            last = closed[-1]
            doc = {"type": "background", "background": stage.background.to_dict(), "window": last.to_dict()}
            await asyncio.gather(*(_send(ws, doc) for ws in list(stage.viewers)))

    async def set_intended(self, stage: Stage, feeling: str) -> None:
        """The performer changed the intended feeling: later fallback windows use it, and if the stage
        is showing the intended feeling now (before the first window, or a window without faces),
        it cross-fades to the new one at once."""
        stage.windower.intended = feeling
        if stage.background.fallback:
            stage.background = background(
                feeling, None, fallback=True, fade_seconds=stage.fade_seconds, window=stage.background.window
            )
            doc = {"type": "background", "background": stage.background.to_dict(), "window": None}
            await asyncio.gather(*(_send(ws, doc) for ws in list(stage.viewers)))
        if stage.control is not None:
            await _send(
                stage.control,
                {"type": "intended", "feeling": feeling, "background": stage.background.to_dict()},
            )

    def summary_paths(self, stage: Stage) -> dict[str, str]:
        """Where the performer downloads the summary (the windows so far)."""
        t = stage.ticket
        base = f"/stage/control/{self.signer.token('control', t.stage_id, t.intended, t.expires_at)}"
        return {"png": f"{base}/timeline.png", "csv": f"{base}/windows.csv"}

    async def end(self, stage: Stage) -> None:
        if stage.ended:
            return
        await self.publish(stage, stage.windower.flush(stage.clock() or 0.0))
        stage.ended = True
        windows = [w.to_dict() for w in stage.windows]
        doc = {"type": "ended", "windows": windows, "summary": self.summary_paths(stage)}
        await self.broadcast(stage, doc)


async def _send(ws: web.WebSocketResponse, doc: dict[str, Any]) -> None:
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_json({"v": proto.VERSION, **doc})


HUB = web.AppKey("stage_hub", StageHub)


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
        await _send(
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


class StageControl:
    """The control page's socket: frames into the stage pool, windows closed on time."""

    def __init__(self, hub: StageHub, stage: Stage, ws: web.WebSocketResponse, pool: AnalysisPool) -> None:
        self.hub, self.stage, self.ws, self.pool = hub, stage, ws, pool
        sessions = hub.settings.sessions
        self.max_frame_bytes = sessions.max_frame_bytes
        self.frame_limiter = SlidingWindow(sessions.max_fps)
        self.control_limiter = SlidingWindow(CONTROL_PER_SECOND)
        self.error_limiter = SlidingWindow(ERROR_BUDGET, ERROR_WINDOW)
        self.deadline = stage.started + hub.settings.stage.max_minutes * 60
        self.frame_no = 0
        self.pending: set[asyncio.Task[None]] = set()

    async def send(self, doc: dict[str, Any]) -> None:
        await _send(self.ws, doc)

    async def refuse(self, err: proto.ProtocolError, **extra: Any) -> None:
        await self.send(err.to_json(**extra))
        if err.fatal:
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=err.code.encode())
        elif not self.error_limiter.allow():
            await self.send(
                proto.error("too_many_errors", "too many refused messages; closing", True).to_json()
            )
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too_many_errors")

    async def run(self) -> None:
        stage, settings = self.stage, self.hub.settings
        await self.send(
            {
                "type": "ready",
                "stage_id": stage.stage_id,
                "intended": stage.intended,
                "window_seconds": settings.stage.window_seconds,
                "fade_ms": round(stage.fade_seconds * 1000),
                "max_fps": settings.sessions.max_fps,
                "max_frame_bytes": self.max_frame_bytes,
                "stage_path": self.hub.show_path(stage),
                "windows": [w.to_dict() for w in stage.windows],
                "background": stage.background.to_dict(),
                "ended": stage.ended,
                "summary": self.hub.summary_paths(stage),
            }
        )
        ticker = asyncio.create_task(self._tick())
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self.on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self.on_binary(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            ticker.cancel()
            for task in list(self.pending):
                task.cancel()

    async def _tick(self) -> None:
        """Close windows on time even when no frame comes; end the show at the time cap."""
        while True:
            await asyncio.sleep(TICK)
            if time.monotonic() >= self.deadline and not self.stage.ended:
                await self.hub.end(self.stage)
                await self.refuse(proto.error("time_cap", "the show ran past its time limit", True))
                return
            now = self.stage.clock()
            if now is not None and not self.stage.ended:
                await self.hub.publish(self.stage, self.stage.windower.advance(now - SETTLE))

    async def on_binary(self, data: bytes) -> None:
        n = self.frame_no
        self.frame_no += 1
        if not self.frame_limiter.allow():
            cap = self.hub.settings.sessions.max_fps
            await self.refuse(proto.error("too_fast", f"frames over {cap:g} per second are refused"), n=n)
            return
        parsed = proto.parse_binary(data, self.max_frame_bytes)
        if isinstance(parsed, proto.ProtocolError):
            await self.refuse(parsed, n=n)
            return
        if self.stage.ended:
            await self.refuse(proto.error("wrong_phase", "the show has ended"), n=n)
            return
        t = self.stage.frame_time()
        future = self.pool.submit(parsed.jpeg, self.stage.tracker, stream=self.stage.stage_id)
        task = asyncio.create_task(self._ack(n, t, future))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _ack(self, n: int, t: float, future: asyncio.Future[Any]) -> None:
        try:
            score: FrameScore = await future
        except FrameDropped as exc:
            await self.send({"type": "dropped", "n": n, "reason": exc.reason})
            return
        except ValueError as exc:
            await self.refuse(proto.error("not_jpeg", f"frame {n} is not a decodable JPEG ({exc})"), n=n)
            return
        stage = self.stage
        if stage.ended:
            return
        await self.hub.publish(stage, stage.windower.add(t, readings(score)))
        now = stage.clock() or t
        until = stage.windower.open_until
        await self.send(
            {
                "type": "ack",
                "n": n,
                "faces": len(score.faces),
                "boxes": [list(f.box) for f in score.faces],
                "emotions": [f.top for f in score.faces],
                "window": {
                    "index": len(stage.windows),
                    "seconds_left": None if until is None else round(max(0.0, until - now), 1),
                },
            }
        )

    async def on_text(self, data: str) -> None:
        if not self.control_limiter.allow():
            await self.refuse(
                proto.error("too_fast", f"more than {CONTROL_PER_SECOND} control messages a second")
            )
            return
        msg = proto.parse_text(data)
        if isinstance(msg, proto.ProtocolError):
            await self.refuse(msg)
        elif isinstance(msg, proto.Ping):
            await self.send({"type": "pong", "t": msg.t})
        elif isinstance(msg, proto.Declare):
            await self.hub.set_intended(self.stage, msg.feeling)
        elif isinstance(msg, proto.Finish):
            if self.pending:  # the last frames still count
                await asyncio.wait(list(self.pending), timeout=SETTLE * 2)
            await self.hub.end(self.stage)
        elif isinstance(msg, proto.Start):
            await self.refuse(proto.error("wrong_phase", "a stage has no phases: just send frames"))


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
