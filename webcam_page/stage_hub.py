"""The live stages of one server: each show's state, the shared analysis pool, and telling the pages.

A stage lives in memory only, on the event loop; nothing of it is stored (see webcam_page.stage).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from core.emotion.detect import FaceTracker
from core.emotion.pool import AnalysisPool
from core.stage.analyse import stage_analyser
from core.stage.background import Background, background, opening_background, window_background
from core.stage.links import StageSigner, StageTicket
from core.stage.windows import StageWindow, Windower
from webcam_page import protocol as proto
from webcam_page.limits import AddressLimiter

if TYPE_CHECKING:
    from core.config import Settings
    from core.services import Services

MAX_STAGES = 20  # stages held in memory at once
NEW_PER_MINUTE = 10  # new stages from the try-it page per client address


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
        await asyncio.gather(*(send_json(ws, doc) for ws in targets))

    async def publish(self, stage: Stage, closed: list[StageWindow]) -> None:
        """New windows: each one's background goes to the stage pages, the numbers to the control page."""
        for window in closed:
            shown = window_background(window, stage.fade_seconds)
            stage.backgrounds.append(shown)
            stage.background = shown
            if stage.control is not None:
                await send_json(stage.control, _window_doc(window, shown))
        if closed:
            last = closed[-1]
            doc = {"type": "background", "background": stage.background.to_dict(), "window": last.to_dict()}
            await asyncio.gather(*(send_json(ws, doc) for ws in list(stage.viewers)))

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
            await asyncio.gather(*(send_json(ws, doc) for ws in list(stage.viewers)))
        if stage.control is not None:
            await send_json(
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


async def send_json(ws: web.WebSocketResponse, doc: dict[str, Any]) -> None:
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_json({"v": proto.VERSION, **doc})


HUB = web.AppKey("stage_hub", StageHub)
