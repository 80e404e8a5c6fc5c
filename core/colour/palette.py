"""Poster palettes with Pylette (k-means), one poster per task in a process pool.

A palette is a list of {"rgb": [r, g, b], "lab": [L, a, b], "share": f}, most dominant first, shares
summing to 1. That is the form stored on each movie and read by the recommender.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
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


def _task(key: Any, source: bytes | str | Path, colours: int) -> PaletteOutcome:
    try:
        return PaletteOutcome(key, extract_palette(source, colours))
    except ValueError as exc:
        return PaletteOutcome(key, None, str(exc))


def default_workers(configured: int = 0) -> int:
    return configured or os.cpu_count() or 1


def extract_many(
    items: Iterable[tuple[Any, bytes | str | Path]],
    colours: int = 6,
    workers: int = 0,
    on_done: Callable[[PaletteOutcome], None] | None = None,
) -> Iterator[PaletteOutcome]:
    """Palettes for (key, image) pairs, yielded as they finish; at most 4 tasks per worker in flight."""
    workers = default_workers(workers)
    if workers == 1:
        limit_threads()
        for key, source in items:
            outcome = _task(key, source, colours)
            if on_done:
                on_done(outcome)
            yield outcome
        return
    # spawn, not fork: a forked child inherits OpenMP/BLAS thread state (torch, scikit-learn) and can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=limit_threads) as pool:
        pending: set[Future[PaletteOutcome]] = set()
        for key, source in items:
            pending.add(pool.submit(_task, key, source, colours))
            if len(pending) >= workers * 4:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    if on_done:
                        on_done(fut.result())
                    yield fut.result()
        for fut in pending:
            if on_done:
                on_done(fut.result())
            yield fut.result()
