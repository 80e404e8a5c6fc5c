"""`moodreel crawl watcha`: add Watcha Pedia details (URL, top reviews, stills, trailers) to movies.

Each movie is searched by its Korean title (then its English one) and year, and only a result whose
normalised title matches and whose year is within ±1 is taken. Anything else is recorded in the
`watcha_mismatches` collection for review; the mapping file corrects it on the next run. Every movie
is committed on its own as soon as it is done, so a crash loses at most the movie in flight. Failed
pages are retried at the end of the run, and again first thing on the next run; a failure never
stops the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from selenium.common.exceptions import WebDriverException
from tqdm import tqdm

from core.catalogue.movies import set_movie_fields
from core.config import Settings
from core.storage.store import Store, utcnow
from crawler.crawl_state import CrawlState
from crawler.watcha_browser import BrowserUnavailable, Detail, PageError, WatchaBrowser
from crawler.watcha_mapping import Correction, load_mapping, mapping_entry
from crawler.watcha_match import Candidate, Decision, decide, normalise_title, wanted_titles, years_match

log = logging.getLogger(__name__)

STATE_NAME = "watcha"
MISMATCHES = "watcha_mismatches"
MAX_REVIEWS = 8
MAX_FAILURES_IN_A_ROW = 8  # this many failed movies in a row means Watcha is down or blocking us: stop
ORIGINAL_TITLE_CHECKS = 2  # detail pages opened to compare original titles when search titles differ


class WatchaError(RuntimeError):
    """The crawl cannot run at all (no browser); the message says what to do."""


@dataclass(frozen=True)
class Outcome:
    detail: Detail | None
    decision: Decision
    queries: tuple[str, ...]
    candidates: tuple[Candidate, ...] = ()
    via_mapping: bool = False


@dataclass(frozen=True)
class WatchaSummary:
    looked_up: int
    matched: int
    mismatched: int
    skipped: int
    failed: int
    recovered: int
    pages: int
    seconds: float
    failures: tuple[str, ...] = field(default=())
    aborted: str | None = None

    def lines(self) -> list[str]:
        out = [
            f"Watcha crawl: {self.looked_up} movies in {self.seconds:.1f}s ({self.pages} pages loaded)",
            f"  {self.matched} matched and stored, {self.mismatched} mismatches recorded for review, "
            f"{self.skipped} skipped by the mapping file, {self.failed} failed "
            f"({self.recovered} recovered on retry)",
        ]
        if self.aborted:
            out.append(f"  stopped early: {self.aborted}")
        if self.mismatched or self.failed:
            out.append("  see them with: moodreel crawl watcha --review")
        return out


class WatchaCrawler:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        limit: int | None = None,
        refresh: bool = False,
        retry_mismatches: bool = False,
        progress: bool = True,
        max_reviews: int = MAX_REVIEWS,
        max_failures_in_a_row: int = MAX_FAILURES_IN_A_ROW,
    ) -> None:
        self.store = store
        self.settings = settings
        self.watcha = settings.watcha
        self.limit = limit
        self.refresh = refresh
        self.retry_mismatches = retry_mismatches
        self.progress = progress
        self.max_reviews = max_reviews
        self.max_failures_in_a_row = max_failures_in_a_row
        self.mapping_path = settings.resolve(self.watcha.mapping_file)
        self.mismatches = store.db[MISMATCHES]
        self.state = CrawlState(store, STATE_NAME)

    async def run(self) -> WatchaSummary:
        started = time.monotonic()
        mapping = load_mapping(self.mapping_path)
        movies, skipped = await self._todo(mapping)
        if not movies:
            return WatchaSummary(0, 0, 0, skipped, 0, 0, 0, time.monotonic() - started)
        browser = WatchaBrowser(self.watcha.base_url, self.watcha.page_timeout, self.watcha.delay_seconds)
        try:
            await asyncio.to_thread(browser.start)
        except BrowserUnavailable as exc:
            raise WatchaError(str(exc)) from None
        counts = {"matched": 0, "mismatched": 0, "failed": 0, "recovered": 0}
        failures: dict[int, str] = {}
        bar = tqdm(
            total=len(movies), desc="watcha", unit="movie", disable=not self.progress, dynamic_ncols=True
        )
        aborted: str | None = None
        processed = 0
        try:
            retry: list[dict[str, Any]] = []
            in_a_row = 0
            for movie in movies:
                processed += 1
                error = await self._movie(browser, movie, mapping.get(movie["tmdb_id"]), counts)
                if error:
                    retry.append(movie)
                    failures[movie["tmdb_id"]] = error
                    in_a_row += 1
                    if in_a_row >= self.max_failures_in_a_row:
                        aborted = (
                            f"{in_a_row} movies failed in a row (last: {error}); is Watcha Pedia reachable?"
                        )
                        break
                else:
                    in_a_row = 0
                bar.update(1)
                bar.set_postfix(matched=counts["matched"], mismatched=counts["mismatched"], retry=len(retry))
            if retry and not aborted:
                log.info("retrying %d movie(s) whose pages failed", len(retry))
                await asyncio.sleep(self.watcha.delay_seconds)
                for movie in retry:
                    error = await self._movie(browser, movie, mapping.get(movie["tmdb_id"]), counts)
                    if error:
                        failures[movie["tmdb_id"]] = error
                    else:
                        counts["recovered"] += 1
                        failures.pop(movie["tmdb_id"], None)
        finally:
            bar.close()
            await asyncio.to_thread(browser.close)
        if failures:
            await self.state.update(
                {f"errors.{k}": v for k, v in failures.items()}, add={"failed": list(failures)}
            )
        counts["failed"] = len(failures)
        await self.state.update({"last_run_at": utcnow()})
        return WatchaSummary(
            looked_up=processed,
            matched=counts["matched"],
            mismatched=counts["mismatched"],
            skipped=skipped,
            failed=counts["failed"],
            recovered=counts["recovered"],
            pages=browser.pages_loaded,
            seconds=time.monotonic() - started,
            failures=tuple(f"{k}: {v}" for k, v in failures.items()),
            aborted=aborted,
        )

    async def _todo(self, mapping: dict[int, Correction]) -> tuple[list[dict[str, Any]], int]:
        """Movies to look up: last run's failures first, then the most popular without Watcha details."""
        state = await self.state.get() or {}
        failed_before = [int(i) for i in state.get("failed") or []]
        mismatched = {d["tmdb_id"] async for d in self.mismatches.find({}, {"tmdb_id": 1})}
        query: dict[str, Any] = {} if self.refresh else {"watcha": None}
        fields = {"_id": 0, "tmdb_id": 1, "title": 1, "title_ko": 1, "original_title": 1, "year": 1}
        found = [
            d async for d in self.store.movies.find(query, fields).sort([("popularity", -1), ("tmdb_id", 1)])
        ]
        first = {i: n for n, i in enumerate(failed_before)}
        found.sort(key=lambda d: first.get(d["tmdb_id"], len(first)))
        todo: list[dict[str, Any]] = []
        skipped = 0
        for movie in found:
            fix = mapping.get(movie["tmdb_id"])
            if fix and fix.skip:
                skipped += 1
                await self.mismatches.delete_one({"_id": movie["tmdb_id"]})  # reviewed: not on Watcha
                continue
            if movie["tmdb_id"] in mismatched and not (self.retry_mismatches or fix):
                continue
            todo.append(movie)
            if self.limit and len(todo) >= self.limit:
                break
        return todo, skipped

    async def _movie(
        self, browser: WatchaBrowser, movie: dict[str, Any], fix: Correction | None, counts: dict[str, int]
    ) -> str | None:
        """Look one movie up and commit what was learnt; the error text if its pages failed."""
        tmdb_id = movie["tmdb_id"]
        try:
            outcome = await asyncio.to_thread(self._lookup, browser, movie, fix)
        except PageError as exc:
            log.warning("movie %d: %s (will retry)", tmdb_id, exc)
            return str(exc)
        except WebDriverException as exc:
            log.warning("movie %d: the browser failed (%s); restarting it", tmdb_id, exc.msg or exc)
            try:
                await asyncio.to_thread(browser.restart)
            except BrowserUnavailable as again:
                raise WatchaError(f"Chromium could not be restarted: {again}") from None
            return f"browser error: {exc.msg or type(exc).__name__}"
        except Exception as exc:  # one movie's surprise must not stop the run
            log.exception("movie %d: unexpected error", tmdb_id)
            return f"{type(exc).__name__}: {exc}"
        if outcome.detail is not None:
            await set_movie_fields(self.store, tmdb_id, {"watcha": outcome.detail.to_watcha()})
            await self.mismatches.delete_one({"_id": tmdb_id})
            counts["matched"] += 1
        else:
            await self._record_mismatch(movie, outcome)
            counts["mismatched"] += 1
        await self.state.update(pull={"failed": [tmdb_id]})
        return None

    def _lookup(self, browser: WatchaBrowser, movie: dict[str, Any], fix: Correction | None) -> Outcome:
        """Blocking: search, pick, and read the detail page (runs in a worker thread)."""
        if fix and fix.url:
            detail = browser.detail(fix.url, self.max_reviews)
            return Outcome(detail, Decision(None, "mapped"), (), via_mapping=True)
        year = fix.year if fix and fix.year else movie.get("year")
        titles = [
            fix.query if fix else None,
            movie.get("title_ko"),
            movie.get("title"),
            movie.get("original_title"),
        ]
        wanted = wanted_titles(titles)
        queries: list[str] = []
        for q in ([fix.query] if fix and fix.query else []) + [movie.get("title_ko"), movie.get("title")]:
            if q and normalise_title(q) not in {normalise_title(x) for x in queries}:
                queries.append(q)
        first: Decision | None = None
        seen: list[Candidate] = []
        checked: set[str] = set()
        for query in queries:
            candidates = browser.search(query)
            seen.extend(c for c in candidates if c not in seen)
            decision = decide(candidates, titles, year)
            if decision.match is not None:
                return self._confirm(browser, decision.match, year, tuple(queries), tuple(seen))
            first = first or decision
            # Search shows Korean titles; an English-titled movie may only match by its original title.
            near = [c for c in candidates if years_match(c.year, year) and c.url not in checked]
            for c in near[:ORIGINAL_TITLE_CHECKS]:
                checked.add(c.url)
                detail = browser.detail(c.url, self.max_reviews)
                if wanted & wanted_titles([detail.original_title, detail.title]):
                    return Outcome(
                        detail, Decision(c, "matched by original title"), tuple(queries), tuple(seen)
                    )
        return Outcome(None, first or Decision(None, "no title to search"), tuple(queries), tuple(seen))

    def _confirm(
        self,
        browser: WatchaBrowser,
        match: Candidate,
        year: int | None,
        queries: tuple[str, ...],
        seen: tuple[Candidate, ...],
    ) -> Outcome:
        detail = browser.detail(match.url, self.max_reviews)
        if detail.year is not None and year is not None and not years_match(detail.year, year):
            return Outcome(None, Decision(None, "detail page year differs", match), queries, seen)
        return Outcome(detail, Decision(match, "matched"), queries, seen)

    async def _record_mismatch(self, movie: dict[str, Any], outcome: Outcome) -> None:
        closest = outcome.decision.closest
        await self.mismatches.replace_one(
            {"_id": movie["tmdb_id"]},
            {
                "_id": movie["tmdb_id"],
                "tmdb_id": movie["tmdb_id"],
                "title": movie.get("title"),
                "title_ko": movie.get("title_ko"),
                "year": movie.get("year"),
                "queries": list(outcome.queries),
                "reason": outcome.decision.reason,
                "closest": closest.to_dict() if closest else None,
                "candidates": [c.to_dict() for c in outcome.candidates[:5]],
                "recorded_at": utcnow(),
            },
            upsert=True,
        )


async def review_report(store: Store) -> str:
    """Recorded mismatches and failures, each with a mapping-file entry to copy if it is right."""
    lines: list[str] = []
    async for m in store.db[MISMATCHES].find({}).sort("tmdb_id", 1):
        name = m.get("title_ko") or m.get("title")
        closest = m.get("closest")
        lines.append(f"- {m['tmdb_id']} {name} ({m.get('year')}): {m['reason']}")
        if closest:
            lines.append(f"    closest: {closest['title']} ({closest.get('year')}) {closest['url']}")
        comment = "if the closest result is right" if closest else "not on Watcha Pedia"
        entry = mapping_entry(m["tmdb_id"], closest["url"] if closest else None, comment)
        lines.extend("    " + line for line in entry.splitlines())
    state = await CrawlState(store, STATE_NAME).get() or {}
    failed = state.get("failed") or []
    errors = state.get("errors") or {}
    if failed:
        lines.append("Failed pages (retried first on the next run):")
        lines.extend(f"- {i}: {errors.get(str(i), 'unknown error')}" for i in failed)
    if not lines:
        return "Nothing to review: no mismatches or failures recorded."
    head = "Mismatches (nothing stored; add an entry to the mapping file and run the crawl again):"
    return "\n".join([head, *lines]) if lines[0].startswith("- ") else "\n".join(lines)
