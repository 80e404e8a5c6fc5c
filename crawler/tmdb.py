"""`moodreel crawl tmdb`: discover movies on TMDB, add details, providers and poster palettes, page by page.

Each discover page is finished (details, providers, posters, palettes) and committed to MongoDB together
with the crawl state before the next page is fetched, so a killed crawl resumes at the page it was on.
Movies are upserted by tmdb_id: a movie that reappears on a later page (popularity shifts while the
crawl runs) is counted as a duplicate and not fetched again in the same run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from tqdm import tqdm

from core.catalogue.movies import upsert_movies
from core.colour.palette import PalettePool
from core.config import Settings
from core.storage.store import Store
from crawler.crawl_state import CrawlState
from crawler.tmdb_client import TmdbAuthError, TmdbClient, TmdbError, TmdbNotFound
from crawler.tmdb_movies import POSTER_SIZE, discover_filters, english_title, movie_document, poster_url

log = logging.getLogger(__name__)

STATE_NAME = "tmdb"
_T = TypeVar("_T")
MAX_DISCOVER_PAGES = 500  # TMDB answers discover pages 1..500 only


@dataclass(frozen=True)
class TmdbCrawlSummary:
    resumed: bool
    first_page: int
    last_page: int
    pages: int
    movies_seen: int
    duplicates: int
    inserted: int
    updated: int
    unchanged: int
    failed: int
    posters_downloaded: int
    posters_reused: int
    posters_missing: int
    palettes: int
    palette_failures: int
    requests: int
    retries: int
    throttled: int
    server_errors: int
    seconds: float
    finished: bool

    @property
    def movies_committed(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def movies_per_second(self) -> float:
        return self.movies_committed / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        pages = f"pages {self.first_page}-{self.last_page}" if self.pages else "no pages"
        how = "resumed" if self.resumed else "fresh"
        done = "crawl finished" if self.finished else "crawl not finished (run again to resume)"
        return [
            f"TMDB crawl ({how}): {pages} ({self.pages} fetched) in {self.seconds:.1f}s; {done}",
            f"  movies: {self.movies_committed} committed ({self.inserted} new, {self.updated} updated, "
            f"{self.unchanged} unchanged), {self.duplicates} duplicates skipped, {self.failed} failed",
            f"  posters: {self.posters_downloaded} downloaded, {self.posters_reused} reused, "
            f"{self.posters_missing} missing; palettes: {self.palettes} made, {self.palette_failures} failed",
            f"  requests: {self.requests} ({self.retries} retried, {self.throttled} throttled by 429, "
            f"{self.server_errors} server errors); {self.movies_per_second:.2f} movies/s",
        ]


@dataclass
class _Counters:
    pages: int = 0
    seen: int = 0
    duplicates: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    downloaded: int = 0
    reused: int = 0
    missing: int = 0
    palettes: int = 0
    palette_failures: int = 0


class TmdbCrawler:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        pages: int | None = None,
        workers: int | None = None,
        concurrency: int = 8,
        restart: bool = False,
        progress: bool = True,
    ) -> None:
        self.store = store
        self.settings = settings
        self.tmdb = settings.tmdb
        self.pages = pages or self.tmdb.pages
        self.workers = settings.catalogue.workers if workers is None else workers
        self.concurrency = max(1, concurrency)
        self.restart = restart
        self.progress = progress
        self.state = CrawlState(store, STATE_NAME)
        self.filters = discover_filters(
            language=self.tmdb.language,
            watch_region=self.tmdb.watch_region,
            monetization=self.tmdb.monetization,
            vote_average_gte=self.tmdb.vote_average_gte,
            vote_count_gte=self.tmdb.vote_count_gte,
        )
        self.fingerprint = hashlib.sha1(
            json.dumps({"api": self.tmdb.api_base, **self.filters}, sort_keys=True).encode()
        ).hexdigest()[:16]
        self.image_base = self.tmdb.image_base
        self._c = _Counters()

    async def run(self) -> TmdbCrawlSummary:
        started = time.monotonic()
        state, resumed = await self._load_or_start()
        first_page = int(state["next_page"])
        seen: set[int] = set(state.get("ids") or [])
        last_page = min(self.pages, MAX_DISCOVER_PAGES, int(state.get("total_pages") or MAX_DISCOVER_PAGES))
        finished = bool(state.get("finished"))
        page = first_page
        async with TmdbClient(
            self.tmdb.api_base,
            self.tmdb.api_key,
            requests_per_second=self.tmdb.requests_per_second,
            timeout=self.tmdb.timeout,
            max_retries=self.tmdb.max_retries,
        ) as client:
            self.image_base = await self._image_base(client)
            bars = _Bars(self.progress, first_page - 1, last_page)
            try:
                with PalettePool(self.settings.catalogue.palette_colours, self.workers) as pool:
                    while page <= last_page:
                        total_pages, done = await self._crawl_page(client, pool, page, seen, bars)
                        last_page = min(last_page, total_pages)
                        bars.pages_total(last_page)
                        finished = page >= last_page
                        # One write: the page's movies are in, so the state may move past the page.
                        await self.state.update(
                            {"next_page": page + 1, "finished": finished, "total_pages": total_pages},
                            add={"ids": done},
                        )
                        if done:
                            await self.state.update(pull={"failed": done})
                        seen.update(done)
                        self._c.pages += 1
                        page += 1
            finally:
                bars.close()
            stats = client.stats
        if first_page > last_page and not finished:
            finished = True
            await self.state.update({"finished": True})
        c = self._c
        return TmdbCrawlSummary(
            resumed=resumed,
            first_page=first_page,
            last_page=page - 1,
            pages=c.pages,
            movies_seen=c.seen,
            duplicates=c.duplicates,
            inserted=c.inserted,
            updated=c.updated,
            unchanged=c.unchanged,
            failed=c.failed,
            posters_downloaded=c.downloaded,
            posters_reused=c.reused,
            posters_missing=c.missing,
            palettes=c.palettes,
            palette_failures=c.palette_failures,
            requests=stats.requests,
            retries=stats.retries,
            throttled=stats.throttled,
            server_errors=stats.server_errors,
            seconds=time.monotonic() - started,
            finished=finished,
        )

    async def _load_or_start(self) -> tuple[dict[str, Any], bool]:
        state = await self.state.get()
        if state and not self.restart and not state.get("finished"):
            if state.get("fingerprint") == self.fingerprint:
                log.info("resuming the TMDB crawl at page %d", state["next_page"])
                return state, True
            log.warning("the discover filters or API changed since the last crawl; starting again at page 1")
        fresh = await self.state.start(
            {"fingerprint": self.fingerprint, "filters": self.filters, "next_page": 1, "finished": False,
             "total_pages": None, "ids": [], "failed": []}
        )  # fmt: skip
        return fresh, False

    async def _image_base(self, client: TmdbClient) -> str:
        """TMDB's documented way to build image URLs: GET /configuration's secure_base_url."""
        try:
            images = (await client.configuration()).get("images") or {}
        except TmdbNotFound as exc:  # e.g. a proxy that only forwards the endpoints the crawl needs
            log.warning("using the configured image base: /configuration failed (%s)", exc)
            return self.tmdb.image_base
        base = str(images.get("secure_base_url") or images.get("base_url") or "").rstrip("/")
        sizes = images.get("poster_sizes") or []
        if not base or (sizes and POSTER_SIZE not in sizes):
            return self.tmdb.image_base
        return base

    async def _crawl_page(
        self, client: TmdbClient, pool: PalettePool, page: int, seen: set[int], bars: _Bars
    ) -> tuple[int, list[int]]:
        """Fetch, enrich and upsert one discover page; (total_pages, ids committed)."""
        data = await client.discover_movies(page, self.filters)
        total_pages = int(data.get("total_pages") or 0)
        ids: list[int] = []
        for item in data.get("results") or []:
            tmdb_id = int(item["id"])
            self._c.seen += 1
            if tmdb_id in seen or tmdb_id in ids:
                self._c.duplicates += 1
            else:
                ids.append(tmdb_id)
        bars.movies_add(len(ids))
        known = {
            d["tmdb_id"]: d
            async for d in self.store.movies.find({"tmdb_id": {"$in": ids}}, {"_id": 0, "watcha": 0})
        }
        gate = asyncio.Semaphore(self.concurrency)

        async def one(tmdb_id: int) -> dict[str, Any] | None:
            async with gate:
                try:
                    return await self._movie(client, pool, tmdb_id, known.get(tmdb_id), bars)
                except TmdbAuthError:
                    raise
                except TmdbError as exc:
                    self._c.failed += 1
                    bars.poster_done()
                    log.warning("skipping movie %d: %s", tmdb_id, exc)
                    await self.state.update(add={"failed": [tmdb_id]})
                    return None
                finally:
                    bars.movie_done()

        docs = [d for d in await _gather_or_cancel([one(i) for i in ids]) if d is not None]
        for doc in docs:
            stored = known.get(doc["tmdb_id"])
            if stored and all(stored.get(k) == v for k, v in doc.items() if k != "updated_at"):
                del doc["updated_at"]  # nothing changed: leave the document (and catalogue version) alone
        report = await upsert_movies(self.store, docs)
        self._c.inserted += report.inserted
        self._c.updated += report.updated
        self._c.unchanged += report.unchanged
        bars.page_done()
        return total_pages, [d["tmdb_id"] for d in docs]

    async def _movie(
        self,
        client: TmdbClient,
        pool: PalettePool,
        tmdb_id: int,
        known: dict[str, Any] | None,
        bars: _Bars,
    ) -> dict[str, Any]:
        details, providers = await asyncio.gather(
            client.movie(tmdb_id, self.tmdb.language, append="translations"),
            client.watch_providers(tmdb_id),
        )
        title, overview = english_title(details), ""
        if title is None:
            # No en translation with a title: the en-US details fall back the way TMDB's site does.
            english = await client.movie(tmdb_id, "en-US")
            title = str(english.get("title") or details.get("original_title") or "")
            overview = str(english.get("overview") or "")
        doc = movie_document(
            details,
            providers,
            title_en=title,
            overview_en=overview,
            region=self.tmdb.watch_region,
            monetization=self.tmdb.monetization,
            image_base=self.image_base,
            now=dt.datetime.now(dt.UTC),
        )
        path = doc["poster_path"]
        if known and known.get("palette") and known.get("poster_path") == path:
            self._c.reused += 1
            bars.poster_done()
            return doc  # the stored palette still belongs to this poster
        url = poster_url(self.image_base, path)
        if url is None:
            self._c.missing += 1
            bars.poster_done()
            return doc
        try:
            image = await client.image(url)
        except TmdbNotFound:
            self._c.missing += 1
            bars.poster_done()
            log.warning("movie %d: poster %s is not on the image server", tmdb_id, path)
            return doc
        self._c.downloaded += 1
        try:
            doc["palette"] = await pool.palette(image)
            self._c.palettes += 1
        except ValueError as exc:
            self._c.palette_failures += 1
            log.warning("movie %d: no palette from poster %s (%s)", tmdb_id, path, exc)
        bars.poster_done()
        return doc


async def _gather_or_cancel(coros: list[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Like gather, but the first error cancels the rest instead of leaving them running."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for t in tasks:
        if not t.cancelled() and (exc := t.exception()) is not None:
            raise exc
    return [t.result() for t in tasks]


class _Bars:
    """Three stacked tqdm bars: pages, movies, posters."""

    def __init__(self, enabled: bool, pages_done: int, pages_total: int) -> None:
        kw: dict[str, Any] = {"disable": not enabled, "dynamic_ncols": True, "leave": True}
        self.pages = tqdm(
            total=pages_total, initial=pages_done, desc="pages  ", unit="page", position=0, **kw
        )
        self.movies = tqdm(total=0, desc="movies ", unit="movie", position=1, **kw)
        self.posters = tqdm(total=0, desc="posters", unit="poster", position=2, **kw)

    def pages_total(self, total: int) -> None:
        if self.pages.total != total:
            self.pages.total = total
            self.pages.refresh()

    def movies_add(self, n: int) -> None:
        for bar in (self.movies, self.posters):
            bar.total = (bar.total or 0) + n
            bar.refresh()

    def movie_done(self) -> None:
        self.movies.update(1)

    def poster_done(self) -> None:
        self.posters.update(1)

    def page_done(self) -> None:
        self.pages.update(1)

    def close(self) -> None:
        for bar in (self.posters, self.movies, self.pages):
            bar.close()


def settings_with_api_base(settings: Settings, api_base: str | None) -> Settings:
    if not api_base:
        return settings
    return dataclasses.replace(
        settings, tmdb=dataclasses.replace(settings.tmdb, api_base=api_base.rstrip("/"))
    )
