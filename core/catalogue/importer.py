"""Filling the movie catalogue: dataset import (facts + poster palettes) and the committed sample.

A dataset is laid out like ../shared/data/movies: `movies.jsonl` (one TMDB record per line) plus
`posters/<tmdb_id>.jpg`. Palettes are extracted in a process pool; a re-run reuses the stored palette
of any poster whose bytes have not changed, so it costs seconds and changes nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.catalogue.movies import count_movies, upsert_movies
from core.colour.palette import extract_many
from core.config import Settings
from core.storage.store import Store

log = logging.getLogger(__name__)

FACT_FIELDS = (
    "tmdb_id", "imdb_id", "title", "title_ko", "original_title", "year", "genres", "overview",
    "popularity", "vote_average", "vote_count", "original_language", "runtime", "poster_path",
)  # fmt: skip
BATCH = 200


@dataclass
class ImportReport:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    palettes_extracted: int = 0
    palettes_reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    def lines(self) -> list[str]:
        out = [
            f"read {self.read} records: {self.inserted} new, {self.updated} updated, "
            f"{self.unchanged} unchanged",
            f"palettes: {self.palettes_extracted} extracted, "
            f"{self.palettes_reused} reused (poster unchanged)",
        ]
        if self.skipped:
            out.append(f"skipped {len(self.skipped)}:")
            out += [f"  {where}: {why}" for where, why in self.skipped]
        return out


def movie_facts(record: dict[str, Any]) -> dict[str, Any]:
    """The stored fields of a dataset record; raises ValueError when it cannot be a movie."""
    tmdb_id = record.get("tmdb_id")
    if isinstance(tmdb_id, bool) or not isinstance(tmdb_id, int) or tmdb_id <= 0:
        raise ValueError(f"tmdb_id must be a positive integer (got {tmdb_id!r})")
    if not isinstance(record.get("title"), str) or not record["title"].strip():
        raise ValueError("title is missing")
    genres = record.get("genres") or []
    if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
        raise ValueError("genres must be a list of names")
    doc = {k: record[k] for k in FACT_FIELDS if k in record}
    doc.setdefault("title_ko", None)
    doc.setdefault("genres", [])
    for key, kind in (("popularity", float), ("vote_average", float), ("vote_count", int)):
        doc[key] = kind(doc.get(key) or 0)
    return doc


def read_dataset(root: Path, report: ImportReport) -> Iterator[tuple[dict[str, Any], Path]]:
    """Valid (facts, poster path) pairs; everything else is recorded in the report with a reason."""
    jsonl = root / "movies.jsonl"
    if not jsonl.exists():
        raise FileNotFoundError(f"{jsonl} not found: a dataset needs movies.jsonl and posters/")
    seen: set[int] = set()
    with jsonl.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            report.read += 1
            where = f"movies.jsonl line {lineno}"
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                doc = movie_facts(record)
            except (json.JSONDecodeError, ValueError, TypeError) as exc:
                report.skipped.append((where, f"bad record: {exc}"))
                continue
            if doc["tmdb_id"] in seen:
                report.skipped.append((where, f"duplicate tmdb_id {doc['tmdb_id']}"))
                continue
            seen.add(doc["tmdb_id"])
            poster = root / str(record.get("poster") or f"posters/{doc['tmdb_id']}.jpg")
            if not poster.is_file():
                report.skipped.append((where, f"poster {poster.name} not found"))
                continue
            yield doc, poster


async def import_dataset(
    store: Store, root: Path, colours: int = 6, workers: int = 0, progress: bool = True
) -> ImportReport:
    report = ImportReport()
    pairs = list(read_dataset(root, report))
    known = {
        d["tmdb_id"]: d
        async for d in store.movies.find(
            {"tmdb_id": {"$in": [doc["tmdb_id"] for doc, _ in pairs]}},
            {"_id": 0, "tmdb_id": 1, "poster_sha1": 1, "palette": 1},
        )
    }
    ready: list[dict[str, Any]] = []
    todo: list[tuple[int, bytes]] = []
    docs: dict[int, dict[str, Any]] = {}
    for doc, poster in pairs:
        data = poster.read_bytes()
        doc["poster_sha1"] = hashlib.sha1(data).hexdigest()
        doc["source"] = "dataset"
        old = known.get(doc["tmdb_id"])
        if old and old.get("poster_sha1") == doc["poster_sha1"] and old.get("palette"):
            doc["palette"] = old["palette"]
            report.palettes_reused += 1
            ready.append(doc)
        else:
            docs[doc["tmdb_id"]] = doc
            todo.append((doc["tmdb_id"], data))

    async def flush(batch: list[dict[str, Any]]) -> None:
        res = await upsert_movies(store, batch)
        report.inserted += res.inserted
        report.updated += res.updated
        report.unchanged += res.unchanged

    for i in range(0, len(ready), BATCH):
        await flush(ready[i : i + BATCH])
    bar = tqdm(total=len(todo), desc="poster palettes", unit="poster", disable=not progress or not todo)
    batch: list[dict[str, Any]] = []
    for outcome in extract_many(todo, colours=colours, workers=workers):
        bar.update()
        if outcome.palette is None:
            report.skipped.append((f"tmdb_id {outcome.key}", f"poster unreadable: {outcome.error}"))
            continue
        doc = docs[outcome.key]
        doc["palette"] = outcome.palette
        report.palettes_extracted += 1
        batch.append(doc)
        if len(batch) >= BATCH:
            await flush(batch)
            batch = []
    bar.close()
    await flush(batch)
    return report


def default_sample(settings: Settings) -> Path:
    return settings.resolve(settings.catalogue.sample)


async def export_catalogue(store: Store, path: Path) -> int:
    """Write facts and palettes (no posters) as gzipped JSON lines, sorted for a stable diff."""
    fields = {"_id": 0, **{k: 1 for k in FACT_FIELDS}, "palette": 1, "poster_sha1": 1, "poster_url": 1}
    docs = [d async for d in store.movies.find({"palette.0": {"$exists": True}}, fields).sort("tmdb_id", 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes identical for identical content.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for d in docs:
            gz.write((json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n").encode())
    return len(docs)


async def load_sample(store: Store, path: Path) -> int:
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            doc["source"] = "sample"
            docs.append(doc)
    for i in range(0, len(docs), 1000):
        await upsert_movies(store, docs[i : i + 1000])
    return len(docs)


async def ensure_catalogue(store: Store, settings: Settings) -> int:
    """Load the committed sample into an empty store, so a fresh machine has movies to recommend."""
    if await count_movies(store):
        return 0
    path = default_sample(settings)
    if not path.exists():
        log.warning(
            "the catalogue is empty and the sample %s is missing; run `moodreel catalogue import`", path
        )
        return 0
    count = await load_sample(store, path)
    log.info("loaded %d movies from the sample catalogue %s", count, path)
    return count
