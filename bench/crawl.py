"""Crawl speed: TMDB crawl end to end against the local stand-in, and poster palettes per second.

`python -m bench.crawl [--json] [--pages 5] [--posters 300] [--workers N]`.
- movies/s end to end: `crawler.tmdb.TmdbCrawler` against the TMDB stand-in (tests/standins, run
  in its own process, serving the real posters from ../shared/data/movies/posters) into an embedded
  mongod: discover, details + translations, providers, poster download, palette, upsert, state.
  Once at the default politeness (tmdb.requests_per_second, 20) and once with the limiter opened
  up (1000 req/s), which shows what the crawler itself costs.
- palettes/s: `core.colour.palette.extract_many` on a fixed sample of poster JPEGs (every k-th file, read
  into memory first), in one process and in the process pool, alternating, best of --repeat rounds;
  the speed-up is their ratio. Pool start-up is included, as a crawl pays it too.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from core.colour.palette import default_workers, extract_many
from core.config import Settings, load_settings
from core.storage.mongo import EmbeddedMongo
from core.storage.store import open_store
from crawler.tmdb import TmdbCrawler, TmdbCrawlSummary, settings_with_api_base

ROOT = Path(__file__).resolve().parent.parent
MOVIES = ROOT.parent / "shared" / "data" / "movies"
STANDIN_KEY = "standin-v3-key"


def poster_sample(n: int) -> list[tuple[str, bytes]]:
    files = sorted((MOVIES / "posters").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no posters in {MOVIES / 'posters'}: the shared data must sit beside the checkout")
    step = max(1, len(files) // n)
    return [(f.stem, f.read_bytes()) for f in files[::step][:n]]


def palettes_per_second(images: list[tuple[str, bytes]], workers: int) -> tuple[float, int]:
    started = time.perf_counter()
    ok = sum(1 for out in extract_many(images, colours=6, workers=workers) if out.palette is not None)
    return len(images) / (time.perf_counter() - started), ok


class Standin:
    """The TMDB stand-in in a child process, so it does not share the crawler's interpreter."""

    def __init__(self, movies: int) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.standins.tmdb_server",
                "--port",
                "0",
                "--limit",
                str(movies),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("http://"):
            self.proc.kill()
            raise SystemExit(f"the TMDB stand-in did not start: {line!r}")
        self.api_base = line.split()[0]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def crawl(settings: Settings, pages: int, workers: int) -> TmdbCrawlSummary:
    async with open_store(settings) as store:
        return await TmdbCrawler(store, settings, pages=pages, workers=workers, progress=False).run()


def crawl_rates(pages: int, workers: int) -> dict[str, TmdbCrawlSummary]:
    standin = Standin(movies=int(pages * 20 * 1.6))
    try:
        with tempfile.TemporaryDirectory() as tmp, EmbeddedMongo(Path(tmp)) as mongo:
            out: dict[str, TmdbCrawlSummary] = {}
            for label, rate in (("default", None), ("unthrottled", 1000.0)):
                env = {
                    "MONGODB_URI": mongo.uri,
                    "TMDB_API_KEY": STANDIN_KEY,
                    "MOODREEL_MONGODB_DATABASE": label,
                }
                settings = settings_with_api_base(load_settings(env=env), standin.api_base)
                if rate:
                    settings = dataclasses.replace(
                        settings, tmdb=dataclasses.replace(settings.tmdb, requests_per_second=rate)
                    )
                out[label] = asyncio.run(crawl(settings, pages, workers))
            return out
    finally:
        standin.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.crawl", description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=5, help="discover pages per crawl (default 5)")
    p.add_argument("--posters", type=int, default=300, help="posters in the palette sample (default 300)")
    p.add_argument("--workers", type=int, default=0, help="pool processes (default: one per CPU core)")
    p.add_argument("--repeat", type=int, default=2, help="palette rounds, best kept (default 2)")
    p.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workers = default_workers(args.workers)
    load = os.getloadavg()[0]
    crawls = crawl_rates(args.pages, workers)
    images = poster_sample(args.posters)
    single = pooled = 0.0
    ok_single = ok_pooled = 0
    for _ in range(args.repeat):  # alternate, keep the best: background load hits both alike
        rate, ok_single = palettes_per_second(images, 1)
        single = max(single, rate)
        rate, ok_pooled = palettes_per_second(images, workers)
        pooled = max(pooled, rate)
    speedup = pooled / single if single else 0.0
    default, fast = crawls["default"], crawls["unthrottled"]
    rps = load_settings(env={}).tmdb.requests_per_second
    print(f"Crawl benchmark: {os.cpu_count()} CPU cores, load average {load:.1f} at the start")
    head = f"{'measure':<44} {'items':>7} {'seconds':>8} {'rate':>14}"
    print(head)
    print("-" * len(head))
    for label, s in (
        (f"TMDB crawl end to end, {rps:g} req/s (default)", default),
        ("TMDB crawl, limiter at 1000 req/s", fast),
    ):
        print(f"{label:<44} {s.movies_committed:>7} {s.seconds:>8.2f} {s.movies_per_second:>9.2f} mov/s")
    print(f"{'palettes, 1 process':<44} {len(images):>7} {len(images) / single:>8.2f} {single:>9.2f} pal/s")
    pool_label = f"palettes, pool of {workers} processes"
    print(f"{pool_label:<44} {len(images):>7} {len(images) / pooled:>8.2f} {pooled:>9.2f} pal/s")
    print(f"{'pool speed-up over one process':<44} {'':>7} {'':>8} {speedup:>13.2f}x")
    print(
        f"(crawls: {args.pages} pages, {default.requests} requests, palettes in a pool of {workers}; "
        f"palettes made: {ok_single}/{len(images)} and {ok_pooled}/{len(images)})"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "movies": default.movies_committed,
                    "movies_per_s": round(default.movies_per_second, 2),
                    "movies_per_s_unthrottled": round(fast.movies_per_second, 2),
                    "requests_per_s_limit": rps,
                    "posters": len(images),
                    "palettes_per_s_single": round(single, 2),
                    "palettes_per_s_pool": round(pooled, 2),
                    "pool_workers": workers,
                    "pool_speedup": round(speedup, 2),
                    "cpu_count": os.cpu_count(),
                    "load_average": round(load, 2),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
