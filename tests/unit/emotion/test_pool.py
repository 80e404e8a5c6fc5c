"""The bounded analysis pool: results come back, a stream stays in order, overload drops and counts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from core.emotion.pool import AnalysisPool, FrameDropped


class LengthAnalyser:
    """A stand-in workload with the analyser's interface: the 'score' of a frame is its length.

    `gate` holds every batch until the test opens it, so the test controls when the pool is behind.
    """

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.lock = threading.Lock()
        self.active: set[Any] = set()
        self.overlaps = 0
        self.order: dict[Any, list[int]] = {}
        self.batches: list[int] = []

    def analyse(self, jpeg: bytes, tracker: Any = None) -> int:
        if not jpeg.startswith(b"\xff\xd8"):
            raise ValueError("not a JPEG")
        return len(jpeg)

    def analyse_batch(self, items: Sequence[tuple[bytes, Any]]) -> list[int]:
        with self.lock:
            streams = [t for _, t in items if t is not None]
            self.overlaps += len(self.active & set(streams)) + len(streams) - len(set(streams))
            self.active |= set(streams)
            self.batches.append(len(items))
        if self.gate is not None:
            self.gate.wait(10)
        try:
            out = [self.analyse(j, t) for j, t in items]
            with self.lock:
                for jpeg, t in items:
                    self.order.setdefault(t, []).append(len(jpeg))
            return out
        finally:
            with self.lock:
                self.active -= set(streams)


def frame(n: int) -> bytes:
    return b"\xff\xd8" + b"x" * n


async def test_results_come_back_and_streams_stay_in_order() -> None:
    analyser = LengthAnalyser()
    pool = AnalysisPool(analyser, workers=2, queue_per_worker=8, per_stream=4)
    try:
        futures = []
        for i in range(20):
            stream = f"s{i % 3}"
            futures.append(pool.submit(frame(i), tracker=stream, stream=stream))
            await asyncio.sleep(0.002)
        results = await asyncio.gather(*futures, return_exceptions=True)
        analysed = [r for r in results if isinstance(r, int)]
        assert analysed and all(r == i + 2 for i, r in enumerate(results) if isinstance(r, int))
        assert analyser.overlaps == 0  # never two frames of one stream at once
        for lengths in analyser.order.values():
            assert lengths == sorted(lengths)
        assert pool.stats.analysed == len(analysed)
        assert pool.stats.analysed + pool.stats.dropped == 20
    finally:
        await pool.aclose()


async def test_a_full_queue_drops_and_counts() -> None:
    gate = threading.Event()
    analyser = LengthAnalyser(gate)
    pool = AnalysisPool(analyser, workers=1, queue_per_worker=3, max_batch=1, per_stream=10, max_wait=30)
    try:
        first = pool.submit(frame(0), stream="a")
        while analyser.batches == []:  # the worker now holds frame 0 at the gate
            await asyncio.sleep(0.005)
        queued = [pool.submit(frame(i), stream="b") for i in range(1, 4)]
        extra = [pool.submit(frame(i), stream="b") for i in range(4, 9)]
        assert pool.queued == 3
        for fut in extra:
            with pytest.raises(FrameDropped) as info:
                await fut
            assert info.value.reason == "busy"
        assert pool.stats.dropped_busy == 5
        gate.set()
        assert await first == 2
        assert await asyncio.gather(*queued) == [3, 4, 5]
        assert pool.stats.as_dict()["dropped"] == 5 and pool.stats.analysed == 4
    finally:
        gate.set()
        await pool.aclose()


async def test_one_stream_cannot_hog_the_queue() -> None:
    gate = threading.Event()
    pool = AnalysisPool(LengthAnalyser(gate), workers=1, queue_per_worker=8, per_stream=2)
    try:
        futures = [pool.submit(frame(i), stream="greedy") for i in range(6)]
        other = pool.submit(frame(99), stream="polite")
        await asyncio.sleep(0.05)
        gate.set()
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        # one in the worker, two waiting; the rest were refused while the stream had two queued
        assert sum(isinstance(o, FrameDropped) for o in outcomes) >= 3
        assert await other == 101
    finally:
        gate.set()
        await pool.aclose()


async def test_a_full_queue_makes_the_greediest_stream_give_way() -> None:
    gate = threading.Event()
    analyser = LengthAnalyser(gate)
    pool = AnalysisPool(analyser, workers=1, queue_per_worker=4, max_batch=1, per_stream=4, max_wait=30)
    try:
        blocker = pool.submit(frame(0), stream="x")
        while not analyser.batches:
            await asyncio.sleep(0.005)
        flood = [pool.submit(frame(i), stream="flood") for i in range(1, 5)]  # fills the queue
        late = [pool.submit(frame(50), stream="late")]  # a session whose frame would otherwise be lost
        with pytest.raises(FrameDropped):
            await flood[0]  # the flood's oldest waiting frame gave way
        late.append(pool.submit(frame(60), stream="late"))  # flood 3 vs late 1: flood gives way again
        with pytest.raises(FrameDropped):
            await flood[1]
        extra = pool.submit(frame(70), stream="late")  # 2 and 2: fair shares, so the new frame is dropped
        with pytest.raises(FrameDropped):
            await extra
        gate.set()
        assert await blocker == 2 and await asyncio.gather(*late) == [52, 62]
        assert await asyncio.gather(*flood[2:]) == [5, 6]
        assert pool.stats.dropped_busy == 3
    finally:
        gate.set()
        await pool.aclose()


async def test_a_stream_over_its_share_keeps_its_newest_frames() -> None:
    gate = threading.Event()
    analyser = LengthAnalyser(gate)
    pool = AnalysisPool(analyser, workers=1, queue_per_worker=8, max_batch=1, per_stream=2, max_wait=30)
    try:
        blocker = pool.submit(frame(0), stream="other")
        while not analyser.batches:
            await asyncio.sleep(0.005)
        futures = [pool.submit(frame(i), stream="s") for i in range(1, 6)]
        gate.set()
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        assert [isinstance(o, FrameDropped) for o in outcomes] == [True, True, True, False, False]
        assert outcomes[3:] == [6, 7] and await blocker == 2
    finally:
        gate.set()
        await pool.aclose()


async def test_frames_that_waited_too_long_are_dropped_as_stale() -> None:
    gate = threading.Event()
    analyser = LengthAnalyser(gate)
    pool = AnalysisPool(analyser, workers=1, queue_per_worker=4, max_batch=1, max_wait=0.05)
    try:
        first = pool.submit(frame(0))
        while not analyser.batches:
            await asyncio.sleep(0.005)
        late = pool.submit(frame(1))
        await asyncio.sleep(0.2)  # longer than max_wait while the worker is busy
        gate.set()
        assert await first == 2
        with pytest.raises(FrameDropped, match="stale"):
            await late
        assert pool.stats.dropped_stale == 1
    finally:
        gate.set()
        await pool.aclose()


async def test_a_bad_frame_fails_alone() -> None:
    gate = threading.Event()
    analyser = LengthAnalyser(gate)
    pool = AnalysisPool(analyser, workers=1, queue_per_worker=8, max_batch=8)
    try:
        blocker = pool.submit(frame(0))
        while not analyser.batches:
            await asyncio.sleep(0.005)
        good1, bad, good2 = pool.submit(frame(1)), pool.submit(b"GIF89a"), pool.submit(frame(2))
        gate.set()
        await blocker
        assert await good1 == 3 and await good2 == 4
        with pytest.raises(ValueError, match="not a JPEG"):
            await bad
        assert pool.stats.failed == 1 and analyser.batches[-1] == 3
    finally:
        gate.set()
        await pool.aclose()


async def test_close_finishes_queued_work_then_refuses() -> None:
    pool = AnalysisPool(LengthAnalyser(), workers=2, queue_per_worker=4)
    futures = [pool.submit(frame(i)) for i in range(6)]
    await pool.aclose()
    assert [await f for f in futures] == [2, 3, 4, 5, 6, 7]
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(frame(1))
    assert all(not t.is_alive() for t in pool._threads)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        AnalysisPool(LengthAnalyser(), workers=0)
