"""Where a crawl stopped, kept in the `crawl_state` collection (one document per crawler).

Writes are single-document updates, so a crash leaves either the old or the new state, never half of
one. The movies of a page are upserted before its state moves on; a crash between the two only makes
the next run redo that page, and upserts by tmdb_id make that harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.storage.store import Store, utcnow


class CrawlState:
    def __init__(self, store: Store, name: str) -> None:
        self.collection = store.crawl_state
        self.name = name

    async def get(self) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": self.name})

    async def start(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Replace any earlier state with a fresh one."""
        doc = {"_id": self.name, **fields, "started_at": utcnow(), "updated_at": utcnow()}
        await self.collection.replace_one({"_id": self.name}, doc, upsert=True)
        return doc

    async def update(
        self,
        fields: dict[str, Any] | None = None,
        add: dict[str, Iterable[Any]] | None = None,
        pull: dict[str, Iterable[Any]] | None = None,
        inc: dict[str, int] | None = None,
    ) -> None:
        """Set fields, add to set-like arrays, remove from them and bump counters, in one write."""
        update: dict[str, Any] = {"$set": {**(fields or {}), "updated_at": utcnow()}}
        if add:
            update["$addToSet"] = {k: {"$each": list(v)} for k, v in add.items()}
        if pull:
            update["$pull"] = {k: {"$in": list(v)} for k, v in pull.items()}
        if inc:
            update["$inc"] = dict(inc)
        await self.collection.update_one({"_id": self.name}, update, upsert=True)
