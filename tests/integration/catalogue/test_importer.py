from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.catalogue.importer import ensure_catalogue, export_catalogue, import_dataset, load_sample
from core.catalogue.movies import catalogue_version, count_movies, genre_counts, get_movie
from core.colour.space import srgb_to_lab
from core.config import Settings
from core.storage.store import Store

IDS = (27205, 155, 157336)  # Inception, The Dark Knight, Interstellar


@pytest.fixture
def tiny_dataset(tmp_path: Path, shared_data: Path) -> Path:
    """Three real movies plus the kinds of damage an import must survive."""
    src = shared_data / "movies"
    records = {}
    with (src / "movies.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["tmdb_id"] in IDS:
                records[rec["tmdb_id"]] = rec
    assert set(records) == set(IDS)
    (tmp_path / "posters").mkdir()
    for tmdb_id in IDS:
        shutil.copy(src / "posters" / f"{tmdb_id}.jpg", tmp_path / "posters" / f"{tmdb_id}.jpg")
    (tmp_path / "posters" / "9.jpg").write_bytes(b"not a jpeg at all")
    lines = [json.dumps(records[i]) for i in IDS]
    lines += [
        "{broken json",
        json.dumps({"tmdb_id": "x", "title": "bad id"}),
        json.dumps({"tmdb_id": 8, "title": "No Poster", "genres": [], "poster": "posters/8.jpg"}),
        json.dumps({"tmdb_id": 9, "title": "Corrupt Poster", "genres": ["Drama"], "poster": "posters/9.jpg"}),
        json.dumps(records[IDS[0]]),  # duplicate
    ]
    (tmp_path / "movies.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


async def test_import_extracts_palettes_and_reports_skips(store: Store, tiny_dataset: Path) -> None:
    report = await import_dataset(store, tiny_dataset, workers=2, progress=False)
    assert (report.read, report.inserted, report.palettes_extracted) == (8, 3, 3)
    reasons = " | ".join(why for _, why in report.skipped)
    assert len(report.skipped) == 5
    for expected in ("bad record", "tmdb_id must be a positive integer", "poster 8.jpg not found",
                     "poster unreadable", "duplicate tmdb_id 27205"):  # fmt: skip
        assert expected in reasons
    movie = await get_movie(store, 27205)
    assert movie is not None and movie["title"] == "Inception" and movie["title_ko"] == "인셉션"
    palette = movie["palette"]
    assert len(palette) == 6
    assert sum(c["share"] for c in palette) == pytest.approx(1.0, abs=1e-3)
    assert [c["share"] for c in palette] == sorted((c["share"] for c in palette), reverse=True)
    np.testing.assert_allclose(
        [c["lab"] for c in palette], srgb_to_lab([c["rgb"] for c in palette]), atol=1e-2
    )


async def test_reimport_changes_nothing(store: Store, tiny_dataset: Path) -> None:
    await import_dataset(store, tiny_dataset, workers=1, progress=False)
    version = await catalogue_version(store)
    again = await import_dataset(store, tiny_dataset, workers=1, progress=False)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert (again.palettes_extracted, again.palettes_reused) == (0, 3)
    assert await catalogue_version(store) == version
    assert await count_movies(store) == 3


async def test_export_then_load_round_trips(store: Store, tiny_dataset: Path, tmp_path: Path) -> None:
    await import_dataset(store, tiny_dataset, workers=1, progress=False)
    out = tmp_path / "sample.jsonl.gz"
    assert await export_catalogue(store, out) == 3
    first = out.read_bytes()
    assert await export_catalogue(store, out) == 3
    assert out.read_bytes() == first  # stable bytes: the committed sample only changes with the data
    before = {d["tmdb_id"]: d["palette"] async for d in store.movies.find({}, {"_id": 0})}
    await store.movies.delete_many({})
    assert await load_sample(store, out) == 3
    after = {d["tmdb_id"]: d["palette"] async for d in store.movies.find({}, {"_id": 0})}
    assert after == before


async def test_ensure_catalogue_loads_the_committed_sample_once(store: Store, settings: Settings) -> None:
    loaded = await ensure_catalogue(store, settings)
    assert loaded > 4000
    assert await count_movies(store) == loaded
    genres = dict(await genre_counts(store))
    assert genres["Drama"] > 1000
    assert await ensure_catalogue(store, settings) == 0  # not empty any more: nothing loaded twice


async def test_ensure_catalogue_without_sample_leaves_store_empty(store: Store, settings: Settings) -> None:
    missing = replace(settings, catalogue=replace(settings.catalogue, sample="does/not/exist.jsonl.gz"))
    assert await ensure_catalogue(store, missing) == 0
    assert await count_movies(store) == 0
