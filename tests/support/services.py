"""Helpers shared by the webcam tests: one analyser per process, a small real catalogue, short phases."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core.catalogue.movies import upsert_movies
from core.config import Settings
from core.emotion.frames import FrameAnalyser
from core.services import Services, services_for
from core.storage.store import Store

CATALOGUE_MOVIES = 300  # enough for every mood's genres, small enough to load in a blink


@functools.lru_cache(maxsize=1)
def shared_analyser() -> FrameAnalyser:
    """The real emotion model, loaded once per test process (it is safe to share across threads)."""
    return FrameAnalyser(detect_every=3, detect_width=160, threads=1)


def short_settings(settings: Settings, **sessions: Any) -> Settings:
    """Test settings with 1-second phases (and any other `sessions.*` overrides)."""
    values: dict[str, Any] = {"baseline_seconds": 1.0, "stimulus_seconds": 1.0, **sessions}
    return dataclasses.replace(settings, sessions=dataclasses.replace(settings.sessions, **values))


async def load_some_movies(store: Store, settings: Settings, n: int = CATALOGUE_MOVIES) -> None:
    """The first `n` movies of the committed sample catalogue (real facts and palettes)."""
    docs: list[dict[str, Any]] = []
    with gzip.open(settings.resolve(settings.catalogue.sample), "rt", encoding="utf-8") as fh:
        for line in fh:
            docs.append(json.loads(line))
            if len(docs) == n:
                break
    await upsert_movies(store, docs)


@asynccontextmanager
async def running_services(store: Store, settings: Settings) -> AsyncIterator[Services]:
    await load_some_movies(store, settings)
    async with services_for(store, settings, analyser=shared_analyser()) as services:
        yield services


def find_bytes(value: Any, path: str = "") -> list[str]:
    """Paths inside a stored document that hold raw bytes (frames must never be stored)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in find_bytes(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in find_bytes(v, f"{path}[{i}]")]
    return []
