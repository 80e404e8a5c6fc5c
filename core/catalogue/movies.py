"""The movies collection and the catalogue version, reached only through here.

Every change to a movie bumps the catalogue version (in `meta`), so in-memory indexes (the
recommender's palette index) know when to rebuild; going through these functions keeps that true.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne

from core.storage.store import Store


@dataclass(frozen=True)
class UpsertReport:
    inserted: int
    updated: int
    unchanged: int


async def upsert_movies(store: Store, docs: Iterable[dict[str, Any]]) -> UpsertReport:
    """Insert or update by tmdb_id; a document identical to the stored one changes nothing."""
    ops = [UpdateOne({"tmdb_id": d["tmdb_id"]}, {"$set": d}, upsert=True) for d in docs]
    if not ops:
        return UpsertReport(0, 0, 0)
    res = await store.movies.bulk_write(ops, ordered=False)
    inserted, updated = res.upserted_count, res.modified_count
    if inserted or updated:
        await bump_catalogue_version(store)
    return UpsertReport(inserted, updated, len(ops) - inserted - updated)


async def set_movie_fields(store: Store, tmdb_id: int, fields: dict[str, Any]) -> bool:
    res = await store.movies.update_one({"tmdb_id": tmdb_id}, {"$set": fields})
    if res.modified_count:
        await bump_catalogue_version(store)
    return res.matched_count == 1


async def get_movie(store: Store, tmdb_id: int) -> dict[str, Any] | None:
    return await store.movies.find_one({"tmdb_id": tmdb_id}, {"_id": 0})


async def count_movies(store: Store) -> int:
    return await store.movies.count_documents({})


async def genre_counts(store: Store) -> list[tuple[str, int]]:
    pipeline: list[dict[str, Any]] = [
        {"$unwind": "$genres"},
        {"$group": {"_id": "$genres", "n": {"$sum": 1}}},
        {"$sort": {"n": -1, "_id": 1}},
    ]
    return [(d["_id"], d["n"]) async for d in await store.movies.aggregate(pipeline)]


async def bump_catalogue_version(store: Store) -> int:
    doc = await store.meta.find_one_and_update(
        {"_id": "catalogue"}, {"$inc": {"version": 1}}, upsert=True, return_document=True
    )
    assert doc is not None  # an upsert returning the updated document always has one
    return int(doc["version"])


async def catalogue_version(store: Store) -> int:
    doc = await store.meta.find_one({"_id": "catalogue"})
    return int(doc["version"]) if doc else 0
