"""The catalogue store on MongoDB through PyMongo's async API.

Collections (the README documents their fields):
- movies: one document per movie, unique by tmdb_id, with its poster palette.
- sessions: webcam sessions and their state; frames never reach it.
- crawl_state: where each crawler stopped, so a killed crawl resumes.
- meta: a catalogue version, bumped on every change, so in-memory indexes know when to rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from core.config import Settings
from core.storage.mongo import EmbeddedMongo


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class UpsertReport:
    inserted: int
    updated: int
    unchanged: int


class Store:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[dict[str, Any]] = client[database]
        self.movies = self.db["movies"]
        self.sessions = self.db["sessions"]
        self.crawl_state = self.db["crawl_state"]
        self.meta = self.db["meta"]
        self.embedded: EmbeddedMongo | None = None  # set by open_store when it runs its own mongod

    async def ensure_indexes(self) -> None:
        """Idempotent: creating an index that exists with the same spec is a no-op."""
        await self.movies.create_index("tmdb_id", unique=True, name="tmdb_id_unique")
        await self.movies.create_index("genres", name="genres")
        await self.movies.create_index([("popularity", DESCENDING)], name="popularity")
        await self.sessions.create_index("session_id", unique=True, name="session_id_unique")
        await self.sessions.create_index(
            [("state", ASCENDING), ("expires_at", ASCENDING)], name="state_expiry"
        )
        await self.sessions.create_index(
            [("origin.platform", ASCENDING), ("delivered", ASCENDING), ("state", ASCENDING)], name="delivery"
        )
        # Finished sessions carry purge_at (sessions.retention_days after they finished); MongoDB's
        # TTL monitor deletes them once it has passed. Unfinished ones have none and stay.
        await self.sessions.create_index("purge_at", expireAfterSeconds=0, name="purge_at_ttl")

    async def health(self, timeout: float = 1.0) -> dict[str, Any]:
        """The database's state for /healthz: {"ok": a ping answered within `timeout` seconds, and
        with the embedded mongod its supervisor's "mongod" state and "restarts"}."""
        try:
            with pymongo.timeout(timeout):
                await self.client.admin.command("ping")
            state: dict[str, Any] = {"ok": True}
        except PyMongoError as exc:
            state = {"ok": False, "error": type(exc).__name__}
        if self.embedded is not None:
            state.update(mongod=self.embedded.state, restarts=self.embedded.restarts)
        return state

    # --- movies -------------------------------------------------------------------------------

    async def upsert_movies(self, docs: Iterable[dict[str, Any]]) -> UpsertReport:
        """Insert or update by tmdb_id; a document identical to the stored one changes nothing."""
        ops = [UpdateOne({"tmdb_id": d["tmdb_id"]}, {"$set": d}, upsert=True) for d in docs]
        if not ops:
            return UpsertReport(0, 0, 0)
        res = await self.movies.bulk_write(ops, ordered=False)
        inserted, updated = res.upserted_count, res.modified_count
        if inserted or updated:
            await self.bump_catalogue_version()
        return UpsertReport(inserted, updated, len(ops) - inserted - updated)

    async def set_movie_fields(self, tmdb_id: int, fields: dict[str, Any]) -> bool:
        res = await self.movies.update_one({"tmdb_id": tmdb_id}, {"$set": fields})
        if res.modified_count:
            await self.bump_catalogue_version()
        return res.matched_count == 1

    async def get_movie(self, tmdb_id: int) -> dict[str, Any] | None:
        return await self.movies.find_one({"tmdb_id": tmdb_id}, {"_id": 0})

    async def count_movies(self) -> int:
        return await self.movies.count_documents({})

    async def genre_counts(self) -> list[tuple[str, int]]:
        pipeline: list[dict[str, Any]] = [
            {"$unwind": "$genres"},
            {"$group": {"_id": "$genres", "n": {"$sum": 1}}},
            {"$sort": {"n": -1, "_id": 1}},
        ]
        return [(d["_id"], d["n"]) async for d in await self.movies.aggregate(pipeline)]

    async def movies_with_palettes(self) -> list[dict[str, Any]]:
        """Every movie that has a palette, with the fields ranking and display need."""
        cursor = self.movies.find(
            {"palette.0": {"$exists": True}}, {"_id": 0, "overview": 0, "watcha.reviews": 0}
        )
        return [d async for d in cursor]

    # --- catalogue version ----------------------------------------------------------------------

    async def bump_catalogue_version(self) -> int:
        doc = await self.meta.find_one_and_update(
            {"_id": "catalogue"}, {"$inc": {"version": 1}}, upsert=True, return_document=True
        )
        assert doc is not None  # an upsert returning the updated document always has one
        return int(doc["version"])

    async def catalogue_version(self) -> int:
        doc = await self.meta.find_one({"_id": "catalogue"})
        return int(doc["version"]) if doc else 0


@contextlib.asynccontextmanager
async def open_store(settings: Settings, data_dir: Path | None = None) -> AsyncIterator[Store]:
    """Connect to MONGODB_URI, or start the embedded mongod for the duration of the block."""
    embedded: EmbeddedMongo | None = None
    uri = settings.mongodb_uri
    if not uri:
        path = data_dir or (
            settings.resolve(settings.mongodb.data_dir) if settings.mongodb.data_dir else None
        )
        embedded = EmbeddedMongo(path, settings.mongodb.startup_timeout)
        await asyncio.to_thread(embedded.start)
        embedded.start_supervision(settings.mongodb.restart_tries)
        uri = embedded.uri
    # A short server-selection timeout: with the database away, a page or a chat command learns it
    # within mongodb.request_timeout and says so, well inside the platforms' answer deadlines.
    # Writes wait for mongod's journal, so one killed right after a write has not lost it.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=int(settings.mongodb.request_timeout * 1000),
        journal=True,
    )
    try:
        store = Store(client, settings.mongodb.database)
        store.embedded = embedded
        await store.ensure_indexes()
        yield store
    finally:
        await client.close()
        if embedded is not None:
            await embedded.astop()
