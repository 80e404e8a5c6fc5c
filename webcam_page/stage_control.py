"""The stage's control socket: camera frames into the stage pool, windows closed on time, the
performer's messages (webcam_page.stage lists the protocol)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from core.emotion.pool import AnalysisPool, FrameDropped
from core.stage.analyse import readings
from webcam_page import protocol as proto
from webcam_page.socket_limits import SocketLimits
from webcam_page.stage_hub import Stage, StageHub, send_json

if TYPE_CHECKING:
    from core.emotion.frames import FrameScore

SETTLE = 1.0  # seconds after a window's end that late-analysed frames still count
TICK = 0.25  # how often the clock checks for a window to close


class StageControl:
    """The control page's socket: frames into the stage pool, windows closed on time."""

    def __init__(self, hub: StageHub, stage: Stage, ws: web.WebSocketResponse, pool: AnalysisPool) -> None:
        self.hub, self.stage, self.ws, self.pool = hub, stage, ws, pool
        sessions = hub.settings.sessions
        self.limits = SocketLimits(sessions.max_fps, sessions.max_frame_bytes)
        self.deadline = stage.started + hub.settings.stage.max_minutes * 60
        self.frame_no = 0
        self.pending: set[asyncio.Task[None]] = set()

    async def send(self, doc: dict[str, Any]) -> None:
        await send_json(self.ws, doc)

    async def refuse(self, err: proto.ProtocolError, **extra: Any) -> None:
        await self.send(err.to_json(**extra))
        final = err if err.fatal else self.limits.after_refusal()
        if final is not None:
            if final is not err:
                await self.send(final.to_json())
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=final.code.encode())

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
                "max_frame_bytes": self.limits.max_frame_bytes,
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
        parsed = self.limits.frame(data)
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
        msg = self.limits.control(data)
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
