from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError

from core.catalogue.movies import catalogue_version, count_movies, genre_counts, upsert_movies
from core.config import Settings
from core.storage.mongo import EmbeddedMongo, MongoStartError, clear_stale_lock
from core.storage.store import Store, open_store


async def test_upsert_is_idempotent_and_bumps_version_only_on_change(store: Store) -> None:
    doc = {"tmdb_id": 7, "title": "Seven", "genres": ["Crime", "Thriller"]}
    first = await upsert_movies(store, [doc])
    assert (first.inserted, first.updated, first.unchanged) == (1, 0, 0)
    version = await catalogue_version(store)
    again = await upsert_movies(store, [doc])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    assert await catalogue_version(store) == version
    changed = await upsert_movies(store, [{**doc, "title": "Se7en"}])
    assert changed.updated == 1
    assert await catalogue_version(store) == version + 1
    assert await count_movies(store) == 1


async def test_movies_are_unique_by_tmdb_id(store: Store) -> None:
    await store.movies.insert_one({"tmdb_id": 1, "title": "a"})
    with pytest.raises(DuplicateKeyError):
        await store.movies.insert_one({"tmdb_id": 1, "title": "b"})


async def test_ensure_indexes_twice_is_harmless(store: Store) -> None:
    await store.ensure_indexes()
    names = {ix["name"] async for ix in await store.movies.list_indexes()}
    assert {"tmdb_id_unique", "genres"} <= names


async def test_genre_counts(store: Store) -> None:
    await upsert_movies(
        store,
        [
            {"tmdb_id": 1, "genres": ["Drama", "Comedy"]},
            {"tmdb_id": 2, "genres": ["Drama"]},
        ],
    )
    assert await genre_counts(store) == [("Drama", 2), ("Comedy", 1)]


def test_embedded_mongod_recovers_from_a_killed_run(tmp_path: Path) -> None:
    """SIGKILL leaves mongod.lock behind with a dead pid; the next start must clear it and come up."""
    first = EmbeddedMongo(tmp_path).start()
    assert first.process is not None
    pid = first.process.pid
    os.kill(pid, signal.SIGKILL)
    first.process.wait()
    lock = tmp_path / "mongod.lock"
    assert lock.read_text().strip() == str(pid)
    with EmbeddedMongo(tmp_path) as second:
        assert second.process is not None and second.process.poll() is None
    assert lock.read_text().strip() == ""  # clean shutdown empties the lock


def test_a_running_mongod_keeps_its_data_dir(tmp_path: Path) -> None:
    """A second MoodReel pointed at a live mongod's data dir gets a clear error, not a stolen lock."""
    with EmbeddedMongo(tmp_path) as first:
        with pytest.raises(MongoStartError, match="another mongod"):
            EmbeddedMongo(tmp_path).start()
        assert first.process is not None and first.process.poll() is None
    assert clear_stale_lock(tmp_path) is False  # a clean shutdown leaves an empty lock


async def test_open_store_starts_and_stops_embedded_mongod(tmp_path: Path, settings: Settings) -> None:
    from dataclasses import replace

    embedded_settings = replace(settings, mongodb_uri="")
    async with open_store(embedded_settings, data_dir=tmp_path) as st:
        await upsert_movies(st, [{"tmdb_id": 3, "title": "c"}])
        assert await count_movies(st) == 1
    assert (tmp_path / "mongod.lock").read_text().strip() == ""
