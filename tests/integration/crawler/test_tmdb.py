"""The TMDB crawler against a local TMDB stand-in (real HTTP on 127.0.0.1, real posters, real MongoDB)."""

from __future__ import annotations

import dataclasses
import email.utils
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from core.catalogue.genres import TMDB_GENRE_IDS
from core.catalogue.movies import catalogue_version
from core.config import Settings, load_settings
from core.storage.store import Store
from crawler.ratelimit import Backoff, RateLimiter, parse_retry_after
from crawler.tmdb import TmdbCrawler, TmdbCrawlSummary, settings_with_api_base
from crawler.tmdb_client import TmdbAuthError, TmdbClient, TmdbNotFound
from crawler.tmdb_movies import english_title, genre_names, provider_names
from tests.support.paths import ROOT
from tests.support.standins.threaded_server import ThreadedServer
from tests.support.standins.tmdb_server import (
    API_KEY,
    GENRES,
    READ_TOKEN,
    Faults,
    StandinMovie,
    TmdbStandin,
    load_movies,
)

PAGES = 3  # the stand-in lists 4 pages; the crawl is capped at 3


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin(shared_data: Path) -> Iterator[tuple[TmdbStandin, ThreadedServer]]:
    movies = load_movies(shared_data / "movies", limit=70)
    stand = TmdbStandin(
        movies, faults=Faults(throttle_details_request=5, retry_after=1, error_discover_page=2)
    )
    listed = stand.discoverable()
    # A movie gone from TMDB on page 1, and a poster missing from the CDN on page 2.
    stand.faults.gone_movies = frozenset({listed[2].tmdb_id})
    stand.faults.missing_posters = frozenset({listed[21].tmdb_id})
    with ThreadedServer(stand.app) as server:
        yield stand, server


def crawl_settings(mongo_uri: str, database: str, api_base: str) -> Settings:
    settings = load_settings(
        env={
            "MONGODB_URI": mongo_uri,
            "MOODREEL_MONGODB_DATABASE": database,
            "TMDB_API_KEY": API_KEY,
            "MOODREEL_TMDB_REQUESTS_PER_SECOND": "200",
            "MOODREEL_TMDB_TIMEOUT": "10",
        }
    )
    return settings_with_api_base(settings, api_base)


@pytest_asyncio.fixture(scope="module")
async def reference(
    mongo_uri: str, standin: tuple[TmdbStandin, ThreadedServer]
) -> AsyncIterator[tuple[Store, TmdbCrawlSummary, Settings]]:
    """One uninterrupted crawl, in-process with a 2-process palette pool; several tests read it."""
    _stand, server = standin
    name = "test_tmdb_reference"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    await client.drop_database(name)
    store = Store(client, name)
    await store.ensure_indexes()
    settings = crawl_settings(mongo_uri, name, server.url + "/3")
    summary = await TmdbCrawler(store, settings, pages=PAGES, workers=2, progress=False).run()
    try:
        yield store, summary, settings
    finally:
        await client.drop_database(name)
        await client.close()


def expected_movies(stand: TmdbStandin) -> list[StandinMovie]:
    listed = stand.discoverable()
    out: dict[int, StandinMovie] = {}
    for page in range(1, PAGES + 1):
        for m in stand.page_of(page, listed):
            out.setdefault(m.tmdb_id, m)
    return [m for m in out.values() if m.tmdb_id not in stand.faults.gone_movies]


async def catalogue(store: Store) -> dict[int, dict[str, Any]]:
    return {d["tmdb_id"]: d async for d in store.movies.find({}, {"_id": 0, "updated_at": 0})}


# --- politeness helpers -----------------------------------------------------------------------------


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (parse_retry_after(date, now=now) or 0) <= 31
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_is_capped_and_defers_to_retry_after() -> None:
    backoff = Backoff(base=0.5, cap=4.0, max_retry_after=60.0)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (8, 4.0)]:
        delay = backoff.delay(attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.delay(5, retry_after=7.0) == 7.0
    assert backoff.delay(0, retry_after=3600.0) == 60.0


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(5, burst=0)


def test_genre_table_is_tmdbs_and_unknown_ids_keep_their_name() -> None:
    assert {gid: en for gid, en, _ in GENRES} == TMDB_GENRE_IDS
    assert genre_names(
        [{"id": 878, "name": "SF"}, {"id": 18, "name": "드라마"}, {"id": 4242, "name": "New"}]
    ) == [
        "Science Fiction",
        "Drama",
        "New",
    ]


def test_english_title_falls_back_to_the_original_title_of_english_films() -> None:
    details = {
        "original_language": "en",
        "original_title": "Heat",
        "translations": {"translations": [{"iso_639_1": "en", "iso_3166_1": "US", "data": {"title": ""}}]},
    }
    assert english_title(details) == "Heat"
    assert english_title({**details, "original_language": "fr"}) is None


def test_providers_follow_display_priority_and_monetisation() -> None:
    data = {
        "results": {
            "KR": {
                "flatrate": [
                    {"provider_name": "Watcha", "display_priority": 7},
                    {"provider_name": "Netflix", "display_priority": 4},
                ],
                "rent": [{"provider_name": "Google Play Movies", "display_priority": 1}],
            }
        }
    }
    assert provider_names(data, "KR", "flatrate") == ["Netflix", "Watcha"]
    assert provider_names(data, "KR", "flatrate|rent") == ["Google Play Movies", "Netflix", "Watcha"]
    assert provider_names(data, "US", "flatrate") == []


# --- the client -------------------------------------------------------------------------------------


async def test_client_accepts_a_v4_token_and_honours_retry_after(
    standin: tuple[TmdbStandin, ThreadedServer],
) -> None:
    stand, _server = standin
    listed = stand.discoverable()
    tmdb_id = listed[5].tmdb_id
    throttled = Faults(throttle_details_request=1, retry_after=1, error_discover_page=None)
    local = TmdbStandin(list(stand.movies.values()), faults=throttled)
    with ThreadedServer(local.app) as srv:
        async with TmdbClient(srv.url + "/3", READ_TOKEN, requests_per_second=50, max_retries=2) as client:
            details = await client.movie(tmdb_id, "ko-KR", append="translations")
            assert client.stats.throttled == 1 and client.stats.retries == 1
    assert details["id"] == tmdb_id
    assert {t["iso_639_1"] for t in details["translations"]["translations"]} >= {"en"}
    hits = [h for h in local.hits if h.kind == "details"]
    assert [h.status for h in hits] == [429, 200]
    # The retry came no sooner than the server asked (a lower bound: a slow machine only adds to it).
    assert hits[1].at - hits[0].at >= 0.95


async def test_client_errors_are_clear_and_never_show_the_key(
    standin: tuple[TmdbStandin, ThreadedServer],
) -> None:
    _, server = standin
    async with TmdbClient(server.url + "/3", "wrong-key-123", max_retries=0) as client:
        with pytest.raises(TmdbAuthError) as err:
            await client.configuration()
    assert "Invalid API key" in str(err.value) and "wrong-key-123" not in str(err.value)
    async with TmdbClient(server.url + "/3", API_KEY, max_retries=0) as client:
        with pytest.raises(TmdbNotFound) as missing:
            await client.movie(999999999, "ko-KR")
    assert "could not be found" in str(missing.value) and API_KEY not in str(missing.value)
    with pytest.raises(TmdbAuthError, match="TMDB_API_KEY"):
        TmdbClient(server.url + "/3", "")


# --- the crawl --------------------------------------------------------------------------------------


async def test_crawl_fills_the_catalogue_in_the_contract_shape(
    standin: tuple[TmdbStandin, ThreadedServer], reference: tuple[Store, TmdbCrawlSummary, Settings]
) -> None:
    stand, server = standin
    store, summary, _ = reference
    expected = expected_movies(stand)
    docs = await catalogue(store)
    assert set(docs) == {m.tmdb_id for m in expected}
    assert await store.movies.count_documents({}) == len(expected)  # one document per movie
    assert summary.finished and summary.pages == PAGES
    assert summary.duplicates == stand.overlap * (PAGES - 1)
    assert summary.failed == 1
    gone = next(iter(stand.faults.gone_movies))
    state = await store.crawl_state.find_one({"_id": "tmdb"})
    assert (
        state is not None
        and state["failed"] == [gone]
        and state["finished"]
        and state["next_page"] == PAGES + 1
    )

    missing = next(iter(stand.faults.missing_posters))
    for m in expected:
        d = docs[m.tmdb_id]
        assert d["title"] == m.title
        assert d["title_ko"] == m.title_ko
        assert d["genres"] == list(m.genres)  # English names, though the crawl asked in ko-KR
        assert d["year"] == m.year and d["imdb_id"] == m.imdb_id
        assert d["overview"] == m.overview
        assert d["runtime"] == m.runtime and d["vote_count"] == m.vote_count
        assert d["providers"] == [name for _, name, _ in sorted(m.kr_flatrate, key=lambda p: p[2])]
        assert d["source"] == "tmdb"
        assert d["poster_url"] == f"{server.url}/t/p/w342{m.poster_path}"
        if m.tmdb_id == missing:
            assert "palette" not in d
            continue
        assert len(d["palette"]) == 6
        assert abs(sum(c["share"] for c in d["palette"]) - 1) < 1e-3
        shares = [c["share"] for c in d["palette"]]
        assert shares == sorted(shares, reverse=True)
    assert summary.posters_missing == 1 and summary.palettes == len(expected) - 1


async def test_crawl_uses_the_discover_filters_and_survives_429_and_500(
    standin: tuple[TmdbStandin, ThreadedServer], reference: tuple[Store, TmdbCrawlSummary, Settings]
) -> None:
    stand, _ = standin
    _, summary, _ = reference
    discover = [h for h in stand.hits if h.kind == "discover" and h.status == 200]
    assert discover, "discover was never called"
    params = discover[0].params
    assert params["watch_region"] == "KR" and params["with_watch_monetization_types"] == "flatrate"
    assert params["vote_average.gte"] == "6" and params["vote_count.gte"] == "200"
    assert params["sort_by"] == "popularity.desc" and params["language"] == "ko-KR"
    assert stand.count("details", status=429) >= 1 and stand.count("discover", "2", 500) == 1
    assert summary.throttled >= 1 and summary.server_errors >= 1 and summary.finished
    assert stand.count("discover", "4") == 0  # capped at --pages


async def test_a_second_crawl_reuses_palettes_and_changes_nothing(
    standin: tuple[TmdbStandin, ThreadedServer], reference: tuple[Store, TmdbCrawlSummary, Settings]
) -> None:
    stand, _ = standin
    store, first, settings = reference
    before = await catalogue(store)
    version = await catalogue_version(store)
    images = stand.count("image")
    again = await TmdbCrawler(store, settings, pages=PAGES, workers=1, progress=False).run()
    assert not again.resumed and again.finished
    assert again.inserted == 0 and again.updated == 0 and again.unchanged == first.movies_committed
    # Only the poster that was missing is asked for again; the others keep their palettes.
    assert again.posters_downloaded == 0 and again.posters_missing == 1 and stand.count("image") == images + 1
    assert await catalogue(store) == before
    assert await catalogue_version(store) == version


def run_cli(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


async def test_a_killed_crawl_resumes_to_the_same_catalogue(
    mongo_uri: str,
    standin: tuple[TmdbStandin, ThreadedServer],
    reference: tuple[Store, TmdbCrawlSummary, Settings],
) -> None:
    stand, server = standin
    ref_store, _, _ = reference
    name = "test_tmdb_killed"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    await client.drop_database(name)
    store = Store(client, name)
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "MOODREEL_MONGODB_DATABASE": name,
        "TMDB_API_KEY": API_KEY,
        "MOODREEL_TMDB_REQUESTS_PER_SECOND": "200",
    }
    args = ["crawl", "tmdb", "--api-base", server.url + "/3", "--pages", str(PAGES), "--workers", "1"]
    page1_before = stand.count("discover", "1")
    stand.hold_page = 2  # details of page-2 movies hang until released: the crawl is mid-page 2
    try:
        proc = run_cli(args, env)
        try:
            assert stand.wait_for_page(2, 90), "the crawler never reached page 2"
            deadline = time.monotonic() + 30
            while stand.held == 0:  # a page-2 movie is being fetched: page 1 is committed, page 2 is not
                assert time.monotonic() < deadline and proc.poll() is None, "the crawler stopped early"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
            if proc.stdout:
                proc.stdout.close()
        listed = stand.discoverable()
        page1 = {m.tmdb_id for m in stand.page_of(1, listed)} - stand.faults.gone_movies
        state = await store.crawl_state.find_one({"_id": "tmdb"})
        assert state is not None and state["next_page"] == 2 and not state["finished"]
        assert {d["tmdb_id"] async for d in store.movies.find({}, {"tmdb_id": 1})} == page1
    finally:
        stand.hold_page = None
        stand.release()

    resumed = run_cli(args, env)
    out, _ = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, out
    assert "TMDB crawl (resumed): pages 2-3" in out
    assert stand.count("discover", "1") == page1_before + 1  # page 1 was not fetched again
    assert await catalogue(store) == await catalogue(ref_store)
    assert await store.movies.count_documents({}) == len(await store.movies.distinct("tmdb_id"))
    await client.drop_database(name)
    await client.close()


def test_cli_explains_a_missing_key_and_documents_itself(mongo_uri: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TMDB_API_KEY"}
    env.update({"MONGODB_URI": mongo_uri, "MOODREEL_MONGODB_DATABASE": "test_tmdb_cli"})
    proc = run_cli(["crawl", "tmdb", "--pages", "1"], env)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "TMDB_API_KEY is not set" in out
    proc = run_cli(["crawl", "tmdb", "--help"], env)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    for words in ("--pages", "--api-base", "Retry-After", "Resumable", "TMDB_API_KEY", "read-access token"):
        assert words in out


def test_summary_reads_well() -> None:
    s = TmdbCrawlSummary(
        resumed=True, first_page=3, last_page=5, pages=3, movies_seen=60, duplicates=8, inserted=40,
        updated=2, unchanged=10, failed=1, posters_downloaded=42, posters_reused=10, posters_missing=0,
        palettes=42, palette_failures=0, requests=180, retries=2, throttled=1, server_errors=1,
        seconds=10.0, finished=True,
    )  # fmt: skip
    text = "\n".join(s.lines())
    assert "resumed" in text and "pages 3-5" in text and "52 committed" in text and "5.20 movies/s" in text
    assert dataclasses.replace(s, seconds=0).movies_per_second == 0.0
