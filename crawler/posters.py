"""Poster palettes for a running crawl: a process pool that lives as long as the crawl.

`core.colour.palette.extract_many` suits a batch known up front; a crawl finds posters a page at a
time while
its event loop keeps downloading, so it submits each poster to a long-lived pool instead. Workers are
spawned, not forked: the crawler process runs threads (aiohttp, PyMongo) that fork would copy mid-lock.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from types import TracebackType

from core.colour.palette import Palette, default_workers, extract_palette, limit_threads


def _extract_single_threaded(image: bytes, colours: int) -> Palette:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return extract_palette(image, colours)
    # k-means with many BLAS threads is slower on small images and fights the event loop for cores.
    with threadpool_limits(1):
        return extract_palette(image, colours)


class PalettePool:
    """`await pool.palette(jpeg_bytes)`; workers == 1 runs in one thread of this process instead."""

    def __init__(self, colours: int = 6, workers: int = 0) -> None:
        self.colours = colours
        self.workers = default_workers(workers)
        self._executor: Executor | None = None

    def __enter__(self) -> PalettePool:
        if self.workers == 1:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="palette")
        else:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=limit_threads
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=exc_type is None, cancel_futures=True)
            self._executor = None

    async def palette(self, image: bytes) -> Palette:
        """The poster's palette; raises ValueError when the bytes are not a readable image."""
        if self._executor is None:
            raise RuntimeError("PalettePool must be used inside `with`")
        loop = asyncio.get_running_loop()
        if self.workers == 1:
            return await loop.run_in_executor(self._executor, _extract_single_threaded, image, self.colours)
        return await loop.run_in_executor(self._executor, extract_palette, image, self.colours)
