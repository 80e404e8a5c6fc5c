"""A bounded pool of analyser threads, fed from the event loop, that drops frames when it falls behind.

Frames wait in one small queue of `workers * queue_per_worker` frames, at most `per_stream` of them
from any one session (a new frame then replaces that session's oldest waiting one). When the queue is
full, the session with the most waiting frames gives one up, or else the new frame is dropped, so
every session keeps its fair share under overload. Frames that waited longer than `max_wait`
seconds are dropped too. Every drop is counted; nothing queues without bound.
Each worker takes up to `max_batch` waiting frames, at most one per stream (a stream's FaceTracker
carries state from frame to frame, so its frames are analysed in order and never in parallel), and
runs them through one `analyse_batch` call, off the event loop. Frames exist only in memory here.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


class FrameDropped(Exception):
    """The pool was behind, so this frame was not analysed; `reason` is "busy" or "stale"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"frame dropped ({reason})")
        self.reason = reason


class BatchAnalyser(Protocol):
    def analyse(self, jpeg: bytes, tracker: Any = None) -> Any: ...

    def analyse_batch(self, items: Sequence[tuple[bytes, Any]]) -> list[Any]: ...


@dataclass
class PoolStats:
    submitted: int = 0
    analysed: int = 0
    dropped_busy: int = 0
    dropped_stale: int = 0
    failed: int = 0
    batches: int = 0
    max_batch_seen: int = 0

    @property
    def dropped(self) -> int:
        return self.dropped_busy + self.dropped_stale

    def as_dict(self) -> dict[str, int]:
        return {**self.__dict__, "dropped": self.dropped}


@dataclass
class _Job:
    jpeg: bytes
    tracker: Any
    stream: Hashable | None
    future: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.monotonic)


class AnalysisPool:
    """Analyse JPEG frames on `workers` threads; `submit` never blocks the event loop."""

    def __init__(
        self,
        analyser: BatchAnalyser,
        workers: int = 2,
        queue_per_worker: int = 4,
        *,
        # Measured with bench.sessions: small batches and one waiting frame per session keep the
        # frame-to-ack p95 low (a newer frame is worth more than an older one of the same face).
        max_batch: int = 4,
        per_stream: int = 1,
        max_wait: float = 1.0,
    ) -> None:
        if workers < 1 or queue_per_worker < 1 or max_batch < 1 or per_stream < 1:
            raise ValueError("workers, queue_per_worker, max_batch and per_stream must be >= 1")
        self.analyser = analyser
        self.capacity = workers * queue_per_worker
        self.max_batch = max_batch
        self.per_stream = per_stream
        self.max_wait = max_wait
        self.stats = PoolStats()
        self._queue: collections.deque[_Job] = collections.deque()
        self._queued_per_stream: collections.Counter[Hashable] = collections.Counter()
        self._busy: set[Hashable] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"moodreel-analyse-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, jpeg: bytes, tracker: Any = None, stream: Hashable | None = None) -> asyncio.Future[Any]:
        """A future for the frame's analysis; it raises FrameDropped when the pool is behind.

        Call from the event loop. `stream` (e.g. the session id) keeps one stream's frames in order.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        # A session that closed no longer awaits its frames: their outcome (a drop, a bad frame)
        # must not be logged as "Future exception was never retrieved".
        future.add_done_callback(_retrieved)
        with self._cond:
            if self._closed:
                raise RuntimeError("the analysis pool is closed")
            self.stats.submitted += 1
            mine = self._queued_per_stream[stream] if stream is not None else 0
            victim: Hashable | None = None
            if stream is not None and mine >= self.per_stream:
                victim = stream  # its own oldest waiting frame gives way: the newest is worth more
            elif len(self._queue) >= self.capacity:
                # Full: the stream with the most waiting frames gives one up, if that evens out the
                # shares; otherwise this frame is dropped. No session starves while others flood in.
                greedy, most = max(self._queued_per_stream.items(), key=lambda kv: kv[1], default=(None, 0))
                if greedy is None or most <= mine + 1:
                    self.stats.dropped_busy += 1
                    future.set_exception(FrameDropped("busy"))
                    return future
                victim = greedy
            if victim is not None:
                old = next(j for j in self._queue if j.stream == victim)
                self._queue.remove(old)
                self._release(old)
                self.stats.dropped_busy += 1
                _resolve(old.future, exc=FrameDropped("busy"))
            self._queue.append(_Job(jpeg, tracker, stream, future))
            if stream is not None:
                self._queued_per_stream[stream] += 1
            self._cond.notify()
        return future

    def _take(self) -> list[_Job]:
        """Up to max_batch ready jobs, one per stream, oldest first; called with the lock held."""
        batch: list[_Job] = []
        taken: set[Hashable] = set()
        keep: collections.deque[_Job] = collections.deque()
        now = time.monotonic()
        while self._queue:
            job = self._queue.popleft()
            free = job.stream is None or (job.stream not in self._busy and job.stream not in taken)
            if free and now - job.queued_at > self.max_wait:
                self._release(job)
                self.stats.dropped_stale += 1
                _resolve(job.future, exc=FrameDropped("stale"))
            elif free and len(batch) < self.max_batch:
                self._release(job)
                batch.append(job)
                if job.stream is not None:
                    taken.add(job.stream)
            else:
                keep.append(job)
        self._queue = keep
        self._busy |= taken
        return batch

    def _release(self, job: _Job) -> None:
        if job.stream is not None:
            self._queued_per_stream[job.stream] -= 1
            if self._queued_per_stream[job.stream] <= 0:
                del self._queued_per_stream[job.stream]

    def _work(self) -> None:
        while True:
            with self._cond:
                batch: list[_Job] = []
                while not batch:
                    if self._closed and not self._queue:
                        return
                    batch = self._take()
                    if not batch:
                        self._cond.wait(timeout=0.25)
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._busy -= {j.stream for j in batch if j.stream is not None}
                    self._cond.notify_all()

    def _run(self, batch: list[_Job]) -> None:
        try:
            results = self.analyser.analyse_batch([(j.jpeg, j.tracker) for j in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"analyse_batch returned {len(results)} results for {len(batch)} frames")
            outcomes: list[tuple[Any, BaseException | None]] = [(r, None) for r in results]
        except Exception:
            # One undecodable frame must not sink the others: retry them one by one.
            outcomes = []
            for job in batch:
                try:
                    outcomes.append((self.analyser.analyse(job.jpeg, job.tracker), None))
                except Exception as exc:
                    outcomes.append((None, exc))
        with self._cond:
            self.stats.batches += 1
            self.stats.max_batch_seen = max(self.stats.max_batch_seen, len(batch))
            for _, error in outcomes:
                if error is None:
                    self.stats.analysed += 1
                else:
                    self.stats.failed += 1
        for job, (result, error) in zip(batch, outcomes, strict=True):
            _resolve(job.future, result=result, exc=error)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued frames, then stop the threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _resolve(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    """Settle an event-loop future from any thread (a no-op once the loop or the future is done)."""

    def settle() -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    loop = future.get_loop()
    if loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:
        log.debug("event loop closed before a frame's result arrived")
