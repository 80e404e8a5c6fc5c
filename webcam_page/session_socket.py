"""One webcam session over a WebSocket: phases, frames into the analysis pool, acks, the result.

Every message is checked (see webcam_page.protocol). A refused message gets an `error` reply and the
session carries on; only an unsupported protocol version, the time cap, a flood of errors, or the
session ending elsewhere close the socket. Frames live in memory until analysed, then only their
seven probabilities are kept, and those go when the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web
from pymongo.errors import PyMongoError

from core.emotion.detect import FaceTracker
from core.emotion.frames import FrameScore
from core.emotion.pool import FrameDropped
from core.emotion.stats import TooFewFaces, declared_result
from core.mood import emotion_from_frames, mood_result, stats_config
from core.present.summary import summaries
from core.present.words import genre_name, say
from core.sessions.errors import SessionError
from core.sessions.origin import SessionOrigin
from core.storage.store import utcnow
from core.values.results import EmotionResult, MoodResult
from webcam_page import protocol as proto
from webcam_page.socket_limits import SocketLimits

if TYPE_CHECKING:
    from core.services import Services

log = logging.getLogger(__name__)

ACK_WAIT = 5.0  # seconds `finish` waits for frames still in the pool
_ENDING: set[asyncio.Task[None]] = set()  # sessions' wrap-ups under way (a strong reference each)


class SessionSocket:
    def __init__(
        self,
        services: Services,
        ws: web.WebSocketResponse,
        session_id: str,
        origin: SessionOrigin,
        opened_at: dt.datetime,
        posters_dir: Path | None,
    ) -> None:
        self.services = services
        self.settings = services.settings.sessions
        self.ws = ws
        self.session_id = session_id
        self.origin = origin
        self.posters_dir = posters_dir
        elapsed = (utcnow() - opened_at).total_seconds()
        self.deadline = time.monotonic() + max(0.0, self.settings.max_session_seconds - elapsed)
        self.phase = "ready"  # ready | baseline | stimulus | analysing | done
        self.epoch = 0  # bumped when the phases restart, so late acks of an old try are ignored
        self.scores: dict[str, list[FrameScore]] = {"baseline": [], "stimulus": []}
        self.tracker = FaceTracker()
        self.frame_no = 0
        self.counts: Counter[str] = Counter()
        self.limits = SocketLimits(self.settings.max_fps, self.settings.max_frame_bytes)
        self.pending: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()
        self._time_up_task: asyncio.Task[None] | None = None

    # --- sending --------------------------------------------------------------------------------

    async def send(self, doc: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_json({"v": proto.VERSION, **doc})

    async def refuse(self, err: proto.ProtocolError, **extra: Any) -> None:
        self.counts["refused"] += 1
        self.counts[f"refused_{err.code}"] += 1
        await self.send(err.to_json(**extra))
        final = err if err.fatal else self.limits.after_refusal()
        if final is not None:
            if final is not err:
                await self.send(final.to_json())
            await self.close(WSCloseCode.POLICY_VIOLATION, final.code)

    async def close(self, code: int = WSCloseCode.OK, message: str = "") -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=code, message=message.encode())

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.send(
            {
                "type": "ready",
                "session_id": self.session_id,
                "platform": self.origin.platform,
                "locale": self.origin.locale,
                "declared_feeling": self.origin.declared_feeling,
                "baseline_seconds": self.settings.baseline_seconds,
                "stimulus_seconds": self.settings.stimulus_seconds,
                "max_fps": self.settings.max_fps,
                "max_frame_bytes": self.settings.max_frame_bytes,
                "seconds_left": round(self.deadline - time.monotonic(), 1),
            }
        )
        watchdog = asyncio.create_task(self._time_cap())
        try:
            async for msg in self.ws:
                if time.monotonic() >= self.deadline:
                    break  # the time cap ends the session (below), whatever this message was
                if msg.type == WSMsgType.TEXT:
                    await self.on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self.on_binary(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    log.info("session %s: socket error %s", self.session_id, self.ws.exception())
                    break
                if self.phase == "done":
                    break
        except PyMongoError as exc:
            await self._database_down(exc)
        finally:
            watchdog.cancel()  # only its sleep: the ending it may have begun is shielded
            for task in list(self.pending):
                task.cancel()
            self.scores = {"baseline": [], "stimulus": []}  # nothing outlives the socket
            # aiohttp cancels this handler once the connection is gone, which the time cap's own
            # close brings about: the wrap-up runs in a task of its own so it always finishes.
            wrap_up = asyncio.create_task(self._wrap_up(), name=f"session-{self.session_id}-end")
            _ENDING.add(wrap_up)
            wrap_up.add_done_callback(_ENDING.discard)
            await asyncio.shield(wrap_up)

    async def _wrap_up(self) -> None:
        """After the loop: finish a time cap that is due or under way, then store the counters."""
        if self._time_up_task is not None or time.monotonic() >= self.deadline:
            await self._end_at_time_cap()
        try:
            await self.services.sessions.record_stats(self.session_id, dict(self.counts))
        except PyMongoError as exc:
            log.warning("session %s: its counters could not be stored (%s)", self.session_id, exc)

    async def _time_cap(self) -> None:
        await asyncio.sleep(max(0.0, self.deadline - time.monotonic()))
        await self._end_at_time_cap()

    async def _end_at_time_cap(self) -> None:
        """End the session at its time cap, once, however that is noticed (the watchdog, or a message
        arriving late) and whatever else is cancelled meanwhile: the session is failed (which tells
        the chat), then the page gets `time_cap`; the counters are stored when the loop ends."""
        if self._time_up_task is None:
            self._time_up_task = asyncio.create_task(self._time_up())
        await asyncio.shield(self._time_up_task)

    async def _time_up(self) -> None:
        if self.phase in ("analysing", "done"):
            return  # the result is on its way, or the session has already ended
        self.phase = "done"
        minutes = self.settings.max_session_seconds / 60
        try:
            await self.services.sessions.fail(self.session_id, "time cap reached")
        except PyMongoError as exc:
            log.warning("session %s: could not record its time cap (%s)", self.session_id, exc)
        await self.refuse(
            proto.error(
                "time_cap", f"this session ran past its {minutes:g}-minute limit; ask for a new link", True
            )
        )

    async def _database_down(self, exc: PyMongoError) -> None:
        """The database went away mid-session: say so (a fatal `unavailable`), not a bare close. The
        session stays open in the store, so a reload once the database is back picks it up again."""
        log.warning("session %s: the database is unavailable (%s); the page is told", self.session_id, exc)
        self.phase = "done"
        await self.send(
            proto.error(
                "unavailable", "MoodReel is having trouble with its database; try again in a minute", True
            ).to_json()
        )
        await self.close(WSCloseCode.TRY_AGAIN_LATER, "unavailable")

    # --- messages -------------------------------------------------------------------------------

    async def on_binary(self, data: bytes) -> None:
        n = self.frame_no
        self.frame_no += 1
        self.counts["received"] += 1
        parsed = self.limits.frame(data)
        if isinstance(parsed, proto.ProtocolError):
            await self.refuse(parsed, n=n)
            return
        if self.phase not in proto.PHASES:
            await self.refuse(proto.error("wrong_phase", "start a phase before sending frames"), n=n)
            return
        future = self.services.pool.submit(parsed.jpeg, self.tracker, stream=self.session_id)
        task = asyncio.create_task(self._ack(n, self.phase, self.epoch, future))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _ack(self, n: int, phase: str, epoch: int, future: asyncio.Future[Any]) -> None:
        try:
            score: FrameScore = await future
        except FrameDropped as exc:
            self.counts["dropped"] += 1
            await self.send({"type": "dropped", "n": n, "reason": exc.reason})
            return
        except ValueError as exc:  # BadFrame: every decoder error
            await self.refuse(proto.error("not_jpeg", f"frame {n} is not a decodable JPEG ({exc})"), n=n)
            return
        except Exception:  # a bug in the analysis: this frame is answered, the session goes on
            log.exception("session %s: analysing frame %d failed", self.session_id, n)
            await self.refuse(proto.error("analysis_failed", f"frame {n} could not be analysed"), n=n)
            return
        self.counts["analysed"] += 1
        if epoch != self.epoch:
            return  # the user restarted; this frame belongs to an abandoned try
        bucket = self.scores[phase]
        bucket.append(score)
        faces = sum(1 for s in bucket if s.face)
        await self.send(
            {
                "type": "ack",
                "n": n,
                "phase": phase,
                "face": score.face,
                "box": list(score.box) if score.box else None,
                "frames": len(bucket),
                "faces": faces,
            }
        )

    async def on_text(self, data: str) -> None:
        msg = self.limits.control(data)
        if isinstance(msg, proto.ProtocolError):
            await self.refuse(msg)
        elif isinstance(msg, proto.Ping):
            await self.send({"type": "pong", "t": msg.t})
        elif isinstance(msg, proto.Start):
            await self.start(msg.phase)
        elif isinstance(msg, proto.Finish):
            await self.finish()
        elif isinstance(msg, proto.Declare):
            await self.declare(msg.feeling)

    async def start(self, phase: str) -> None:
        if self.phase in ("analysing", "done"):
            await self.refuse(proto.error("wrong_phase", "the session is already being analysed"))
            return
        if phase == "stimulus" and self.phase != "baseline":
            await self.refuse(proto.error("wrong_phase", "the stimulus phase comes after the baseline"))
            return
        if phase == "baseline":
            self.epoch += 1
            self.scores = {"baseline": [], "stimulus": []}
        try:
            await self.services.sessions.set_state(self.session_id, phase)
        except SessionError as exc:
            await self._ended_elsewhere(exc)
            return
        self.phase = phase
        seconds = self.settings.baseline_seconds if phase == "baseline" else self.settings.stimulus_seconds
        await self.send({"type": "phase", "phase": phase, "seconds": seconds})

    async def _settle(self) -> None:
        """Wait (briefly) for frames still in the pool, so the last second of the stimulus counts."""
        if self.pending:
            await asyncio.wait(list(self.pending), timeout=ACK_WAIT)

    def _face_counts(self) -> tuple[int, int]:
        baseline, stimulus = (sum(1 for s in self.scores[p] if s.face) for p in ("baseline", "stimulus"))
        return baseline, stimulus

    async def finish(self) -> None:
        if self.phase != "stimulus":
            await self.refuse(proto.error("wrong_phase", "finish comes after the stimulus phase"))
            return
        self.phase = "analysing"
        await self.send({"type": "analysing"})
        await self._settle()
        try:
            emotion = emotion_from_frames(
                self.scores["baseline"],
                self.scores["stimulus"],
                self.origin.declared_feeling,
                stats_config(self.services.settings),
            )
        except TooFewFaces as exc:
            self.phase = "ready"
            self.counts["retries"] += 1
            await self.send(
                {
                    "type": "retry",
                    "reason": "too_few_faces",
                    "message": str(exc),
                    "baseline_faces": exc.baseline,
                    "stimulus_faces": exc.stimulus,
                    "needed": exc.needed,
                }
            )
            return
        await self._deliver(emotion)

    async def declare(self, feeling: str) -> None:
        if self.phase in ("analysing", "done"):
            await self.refuse(proto.error("wrong_phase", "the session is already being analysed"))
            return
        self.phase = "analysing"
        await self.send({"type": "analysing"})
        await self._settle()
        await self._deliver(declared_result(feeling, self._face_counts()))

    async def _deliver(self, emotion: EmotionResult) -> None:
        sessions = self.services.sessions
        try:
            result = await mood_result(self.session_id, emotion, self.services.recommender, self.origin)
        except Exception:
            log.exception("session %s: recommending failed", self.session_id)
            self.phase = "done"
            await sessions.fail(self.session_id, "recommendation failed")
            await self.refuse(
                proto.error("internal", "something went wrong on our side; please try again", True)
            )
            return
        try:
            delivery = await sessions.complete(self.session_id, result)
        except SessionError as exc:
            await self._ended_elsewhere(exc)
            return
        self.phase = "done"
        self.counts.update(
            {"faces_baseline": emotion.face_frames[0], "faces_stimulus": emotion.face_frames[1]}
        )
        await self.send(
            {
                "type": "result",
                "platform": self.origin.platform,
                "delivered": bool(delivery),
                # delivered | pending (the outbox keeps trying) | undeliverable (every way refused)
                "delivery": delivery.state,
                "delivery_note": (
                    say(self.origin.locale, "page.undeliverable")
                    if delivery.state == "undeliverable"
                    else None
                ),
                **result_payload(self.posters_dir, result),
                "group": await group_choice(self.services, self.session_id, result.origin),
            }
        )
        if self.origin.platform == "web":
            await sessions.mark_delivered(self.session_id)  # the page itself was the recipient
        await self.close(WSCloseCode.OK, "done")

    async def _ended_elsewhere(self, exc: SessionError) -> None:
        self.phase = "done"
        await self.refuse(proto.error("session_closed", f"this session has ended: {exc}", True))


def result_payload(posters_dir: Path | None, result: MoodResult) -> dict[str, Any]:
    """The result as the page shows it: with local poster URLs and Korean names of its genres."""
    genres = {g for r in result.recommendations for g in r.genres}
    return {
        "result": result.to_dict(),
        "summary": summaries(result.emotion),
        "posters": local_posters(posters_dir, result),
        "genres_ko": {g: genre_name("ko", g) for g in sorted(genres)},
    }


async def group_choice(
    services: Services, session_id: str, origin: Mapping[str, Any]
) -> dict[str, bool] | None:
    """For a group member's result page: whether their choice to show their mood by name still counts
    (`open`: the pick is not made yet) and what they chose; None for a session of no movie night."""
    if not (origin.get("extra") or {}).get("group"):
        return None
    try:
        state = await services.groups.reveal_state(session_id)
    except PyMongoError as exc:  # the result matters more: the page shows it without the choice
        log.warning("session %s: the movie night's state is unavailable (%s)", session_id, exc)
        return None
    if state is None:
        return None
    return {"open": state[0], "reveal": state[1]}


def local_posters(posters_dir: Path | None, result: MoodResult) -> dict[str, str]:
    """Poster URLs this server can serve itself, by TMDB id (the page prefers them to TMDB's)."""
    if posters_dir is None:
        return {}
    return {
        str(r.tmdb_id): f"/posters/{r.tmdb_id}.jpg"
        for r in result.recommendations
        if (posters_dir / f"{r.tmdb_id}.jpg").is_file()
    }
