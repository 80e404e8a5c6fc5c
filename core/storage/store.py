"""MongoDB through PyMongo's async API: the connection, the collections and their indexes.

`Store` is a plain bag of collections. Each collection is read and written by the one family that
owns it: movies and meta by core.catalogue.movies, sessions by core.sessions.service, crawl_state
by crawler.crawl_state. Collections (the README documents their fields):
- movies: one document per movie, unique by tmdb_id, with its poster palette.
- sessions: webcam sessions and their state; frames never reach it.
- crawl_state: where each crawler stopped, so a killed crawl resumes.
- meta: a catalogue version, bumped on every change, so in-memory indexes know when to rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from core.config import MongoSettings, Settings
from core.storage.mongo import EmbeddedMongo


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


def mongo_client(uri: str, mongodb: MongoSettings) -> AsyncMongoClient[dict[str, Any]]:
    """The client MoodReel talks to MongoDB with.

    A short server-selection timeout: with the database away, a page or a chat command learns it
    within mongodb.request_timeout and says so, well inside the platforms' answer deadlines. Writes
    wait for mongod's journal, so one killed right after a write has not lost it. A server that
    accepted the connection and then went silent (stopped, hung) fails each operation after
    mongodb.operation_timeout instead of holding it for ever.
    """
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=int(mongodb.request_timeout * 1000),
        socketTimeoutMS=int(mongodb.operation_timeout * 1000),
        journal=True,
    )


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
    client = mongo_client(uri, settings.mongodb)
    try:
        store = Store(client, settings.mongodb.database)
        store.embedded = embedded
        await store.ensure_indexes()
        yield store
    finally:
        await client.close()
        if embedded is not None:
            await embedded.astop()
