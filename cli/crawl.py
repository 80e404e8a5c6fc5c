"""`moodreel crawl`: fill the catalogue from TMDB, and add Watcha Pedia details to it."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from cli.common import fail, run_async, settings_from
from core.config import Settings

TMDB_HELP = """\
Discover movies on TMDB (v3 API) and add them to the catalogue with their poster palettes.

Filters come from the `tmdb` section of config.yaml: movies streaming (flatrate) in the watch region
(KR), vote_average >= 6, vote_count >= 200, most popular first, in ko-KR. For each movie it fetches the
details (genres, runtime, overview, original title, poster, release date, English and Korean titles)
and the region's watch providers, downloads the w342 poster and extracts its palette in a process pool.

Credentials: set TMDB_API_KEY to a v3 API key or a v4 read-access token (never put it in config.yaml).

Politeness: at most tmdb.requests_per_second requests per second (default 20, well under TMDB's
limit), a timeout per request, and retries with exponential backoff on 429 and 5xx answers, honouring
Retry-After.

Resumable: each page is committed to MongoDB with the crawl state before the next page is fetched.
Run the same command again after a crash or Ctrl-C and it carries on from the page it was on; movies
are upserted by tmdb_id, so nothing is duplicated. A finished crawl starts again at page 1.
"""

WATCHA_HELP = """\
Add Watcha Pedia details to catalogue movies: the detail-page URL, top reviews (text and rating),
still images and trailer links. Uses Selenium with headless Chromium (`make system-deps` installs
Debian's chromium and chromium-driver).

Each movie is searched by its Korean title (or its English one) and year; a result counts when its
normalised title matches and its year is within one year. When the title or year disagrees, nothing
is stored and the mismatch is recorded for review: `--review` lists them with a ready-to-paste entry
for the mapping file (watcha.mapping_file, default crawler/watcha_mapping.yaml), which the next run
uses. Each movie is committed on its own; failed pages are retried at the end of the run and on the
next run, and one movie's failure never stops the run.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    crawl = sub.add_parser(
        "crawl",
        help="fill the catalogue from TMDB, or add Watcha Pedia details",
        description="Crawlers that fill the movie catalogue. Run `moodreel crawl tmdb --help` or "
        "`moodreel crawl watcha --help` for details.",
    )
    which = crawl.add_subparsers(dest="crawler", metavar="CRAWLER", title="crawlers")

    def show_help(args: argparse.Namespace) -> int:
        crawl.print_help()
        return 0

    crawl.set_defaults(func=show_help)

    tmdb = which.add_parser(
        "tmdb",
        help="discover movies on TMDB and store them with their poster palettes (resumable)",
        description=TMDB_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tmdb.add_argument(
        "--pages", type=int, help="discover pages to crawl, 20 movies each (default: tmdb.pages, 100)"
    )
    tmdb.add_argument(
        "--api-base",
        metavar="URL",
        help="TMDB API base URL (default: tmdb.api_base, https://api.themoviedb.org/3); "
        "image URLs come from its /configuration",
    )
    tmdb.add_argument(
        "--workers", type=int, help="palette processes (default: catalogue.workers; 0 = one per CPU core)"
    )
    tmdb.add_argument(
        "--concurrency", type=int, default=8, help="movies fetched at once within a page (default: 8)"
    )
    tmdb.add_argument("--restart", action="store_true", help="ignore the saved state and start at page 1")
    tmdb.add_argument("--no-progress", action="store_true", help="no progress bars (e.g. in logs)")
    tmdb.set_defaults(func=_tmdb)

    watcha = which.add_parser(
        "watcha",
        help="add Watcha Pedia reviews, stills and trailers to catalogue movies (Selenium)",
        description=WATCHA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    watcha.add_argument(
        "--limit", type=int, help="movies to look up this run, most popular first (default: all)"
    )
    watcha.add_argument("--base-url", metavar="URL", help="Watcha Pedia address (default: watcha.base_url)")
    watcha.add_argument("--mapping", metavar="PATH", help="mapping file (default: watcha.mapping_file)")
    watcha.add_argument(
        "--refresh", action="store_true", help="look up movies that already have Watcha details too"
    )
    watcha.add_argument(
        "--retry-mismatches", action="store_true", help="search again for movies recorded as mismatches"
    )
    watcha.add_argument(
        "--review",
        action="store_true",
        help="list recorded mismatches and failures, with mapping entries, and exit",
    )
    watcha.add_argument("--no-progress", action="store_true", help="no progress bar")
    watcha.set_defaults(func=_watcha)


def _tmdb(args: argparse.Namespace) -> int:
    from crawler.tmdb import settings_with_api_base

    settings = settings_with_api_base(settings_from(args), args.api_base)
    if args.pages is not None and args.pages < 1:
        fail("--pages must be 1 or more")
    if args.workers is not None and args.workers < 0:
        fail("--workers must be 0 (one per core) or more")
    if args.concurrency < 1:
        fail("--concurrency must be 1 or more")
    if not settings.tmdb.api_key:
        fail("TMDB_API_KEY is not set: export a TMDB v3 API key or v4 read-access token")
    try:
        return int(run_async(_run_tmdb, settings, args))
    except KeyboardInterrupt:
        print("moodreel: crawl interrupted; the pages done so far are saved: run the same command to resume",
              file=sys.stderr)  # fmt: skip
        return 130


async def _run_tmdb(settings: Settings, args: argparse.Namespace) -> int:
    from core.storage.store import open_store
    from crawler.tmdb import TmdbCrawler
    from crawler.tmdb_client import TmdbAuthError, TmdbError

    async with open_store(settings) as store:
        crawler = TmdbCrawler(
            store,
            settings,
            pages=args.pages,
            workers=args.workers,
            concurrency=args.concurrency,
            restart=args.restart,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
        try:
            summary = await crawler.run()
        except TmdbAuthError as exc:
            fail(str(exc))
        except TmdbError as exc:
            fail(f"{exc}. The pages done so far are saved; run the same command again to resume.")
    print("\n".join(summary.lines()))
    return 0


def _watcha(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.base_url:
        settings = dataclasses.replace(
            settings, watcha=dataclasses.replace(settings.watcha, base_url=args.base_url.rstrip("/"))
        )
    if args.mapping:
        settings = dataclasses.replace(
            settings, watcha=dataclasses.replace(settings.watcha, mapping_file=args.mapping)
        )
    if args.limit is not None and args.limit < 1:
        fail("--limit must be 1 or more")
    return int(run_async(_run_watcha, settings, args))


async def _run_watcha(settings: Settings, args: argparse.Namespace) -> int:
    from core.storage.store import open_store
    from crawler.watcha import WatchaCrawler, WatchaError, review_report
    from crawler.watcha_mapping import MappingError

    async with open_store(settings) as store:
        if args.review:
            print(await review_report(store))
            return 0
        try:
            crawler = WatchaCrawler(
                store,
                settings,
                limit=args.limit,
                refresh=args.refresh,
                retry_mismatches=args.retry_mismatches,
                progress=not args.no_progress and sys.stderr.isatty(),
            )
            summary = await crawler.run()
        except (WatchaError, MappingError) as exc:
            fail(str(exc))
    print("\n".join(summary.lines()))
    return 1 if summary.aborted else 0
