"""Poster palettes with Pylette (k-means), one poster per task in a process pool.

A palette is a list of {"rgb": [r, g, b], "lab": [L, a, b], "share": f}, most dominant first, shares
summing to 1. That is the form stored on each movie and read by the recommender.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict

from core.colour.space import srgb_to_lab


class PaletteColour(TypedDict):
    rgb: list[int]
    lab: list[float]
    share: float


Palette = list[PaletteColour]


@dataclass(frozen=True)
class PaletteOutcome:
    key: Any
    palette: Palette | None
    error: str | None = None


def limit_threads() -> None:
    """One BLAS/OpenMP thread per worker: the pool itself supplies the parallelism."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def extract_palette(image: bytes | str | Path, colours: int = 6) -> Palette:
    """The poster's dominant colours with their shares. Raises ValueError for unreadable images."""
    import warnings

    from pylette import PyletteError, extract_colors

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = extract_colors(image, palette_size=colours, resize=128, sort_mode="frequency")
    except (PyletteError, OSError, ValueError) as exc:
        raise ValueError(f"cannot read image: {exc}") from exc
    rgbs = [tuple(int(v) for v in c.rgb) for c in found.colors]
    shares = [float(c.frequency) for c in found.colors]
    total = sum(shares) or 1.0
    labs = srgb_to_lab(rgbs)
    out: Palette = [
        {"rgb": list(rgb), "lab": [round(float(v), 3) for v in lab], "share": round(share / total, 5)}
        for rgb, lab, share in zip(rgbs, labs, shares, strict=True)
    ]
    out.sort(key=lambda c: -c["share"])
    return out


def default_workers(configured: int = 0) -> int:
    return configured or os.cpu_count() or 1


class PalettePool:
    """Workers that extract poster palettes, for a batch (`extract_many`) or a running crawl (`palette`).

    More than one worker: spawned processes with one BLAS thread each (spawn, not fork: a forked child
    inherits OpenMP/BLAS thread state and the parent's threads' locks, and can hang). One worker: a
    thread of this process, limited to one BLAS thread.
    """

    def __init__(self, colours: int = 6, workers: int = 0) -> None:
        self.colours = colours
        self.workers = default_workers(workers)
        self._executor: Executor | None = None

    def __enter__(self) -> PalettePool:
        if self.workers == 1:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="palette", initializer=limit_threads)
        else:
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=limit_threads)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=exc_type is None, cancel_futures=True)
            self._executor = None

    def submit(self, image: bytes | str | Path) -> Future[Palette]:
        if self._executor is None:
            raise RuntimeError("PalettePool must be used inside `with`")
        return self._executor.submit(extract_palette, image, self.colours)

    async def palette(self, image: bytes) -> Palette:
        """The poster's palette; raises ValueError when the bytes are not a readable image."""
        return await asyncio.wrap_future(self.submit(image))


def _outcome(key: Any, future: Future[Palette]) -> PaletteOutcome:
    try:
        return PaletteOutcome(key, future.result())
    except ValueError as exc:
        return PaletteOutcome(key, None, str(exc))


def extract_many(
    items: Iterable[tuple[Any, bytes | str | Path]],
    colours: int = 6,
    workers: int = 0,
    on_done: Callable[[PaletteOutcome], None] | None = None,
) -> Iterator[PaletteOutcome]:
    """Palettes for (key, image) pairs, yielded as they finish; at most 4 tasks per worker in flight."""
    with PalettePool(colours, workers) as pool:
        pending: dict[Future[Palette], Any] = {}

        def finished(futures: Iterable[Future[Palette]]) -> Iterator[PaletteOutcome]:
            for future in futures:
                outcome = _outcome(pending.pop(future), future)
                if on_done:
                    on_done(outcome)
                yield outcome

        for key, source in items:
            pending[pool.submit(source)] = key
            if len(pending) >= pool.workers * 4:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                yield from finished(done)
        yield from finished(list(pending))
