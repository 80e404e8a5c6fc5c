"""Recommender ranking latency on one CPU core, against the original project's per-pair Python loop.

`python -m bench.recommend [--json]`. Synthetic catalogues of 1k, 10k and 100k movies are drawn like
the real one: each movie copies a random movie of the committed sample catalogue (real Pylette
palettes of real posters), jitters its six colours (sRGB, σ = 10 levels) and their shares (Dirichlet
around the original shares), and keeps its genres, popularity and votes up to a log-normal factor.

One request = core.catalogue.recommender.rank_mood (mood colours, the mood's genres minus its
excluded ones, ranking, one movie per franchise) for the top 10, for each of the seven declared
moods in turn, one at a time, pinned to one core. On the same catalogue, moods and candidates, the
baseline is the original approach: a Python loop over the candidate movies and over every (mood colour,
poster colour) pair, a scalar CIEDE2000 per pair, a score from the mean distance and a dominance
average weighted by 1/distance, then a sort. It runs at a size only while its predicted time fits the
budget; the speed-up is reported at the largest size it finished, in wall time and in CPU time of
the measuring thread (the second holds still when other work shares the core). "exact top-10" is the share of
requests whose top 10 equals ranking every candidate with exact CIEDE2000 (no coarse shortlist).
Index memory is what tracemalloc saw: the arrays the index keeps, and the peak while building it
from documents already in memory, and while serving one request.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.common import one_core
from core.catalogue.genres import mood_excluded, mood_genres
from core.catalogue.index import PaletteIndex
from core.catalogue.recommender import rank_mood
from core.colour.ciede2000 import ciede2000_scalar
from core.colour.psychology import emotion_from_names, mood_colours
from core.colour.space import srgb_to_lab
from core.config import ROOT, CatalogueSettings, RecommenderSettings
from core.values.emotions import EMOTIONS
from core.values.results import EmotionResult, MoodColour

SIZES = (1_000, 10_000, 100_000)
TOP_N = 10
TARGET_MS_100K = 50.0
TARGET_SPEEDUP = 300.0
MOODS: tuple[EmotionResult, ...] = tuple(emotion_from_names(e) for e in EMOTIONS)
SETTINGS = RecommenderSettings()


# --- data ----------------------------------------------------------------------------------------


def real_templates(path: Path | None = None) -> list[dict[str, Any]]:
    """Movies of the committed sample catalogue that have a palette."""
    path = path or ROOT / CatalogueSettings().sample
    if not path.exists():
        raise SystemExit(f"the sample catalogue {path} is missing; the benchmark draws palettes from it")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    return [d for d in docs if d.get("palette")]


def synthetic_catalogue(n: int, templates: Sequence[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """n movie documents whose palettes, genres and popularity are drawn like the real ones."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(templates), n)
    out = []
    for i, t in enumerate(picks, 1):
        template = templates[int(t)]
        palette = template["palette"]
        rgb = np.array([c["rgb"] for c in palette], dtype=np.float64)
        rgb = np.clip(np.round(rgb + rng.normal(0, 10, rgb.shape)), 0, 255).astype(int)
        shares = rng.dirichlet(np.array([c["share"] for c in palette]) * 40 + 0.5)
        order = np.argsort(-shares)
        labs = srgb_to_lab(rgb)
        out.append(
            {
                "tmdb_id": i,
                "title": f"Synthetic #{i}",  # each its own franchise (a trailing number would not be)
                "genres": list(template.get("genres") or []),
                "popularity": round(float(template.get("popularity", 1.0)) * float(rng.lognormal(0, 0.5)), 3),
                "vote_count": int(int(template.get("vote_count", 100)) * float(rng.lognormal(0, 0.5))),
                "palette": [
                    {
                        "rgb": [int(v) for v in rgb[j]],
                        "lab": [round(float(v), 3) for v in labs[j]],
                        "share": round(float(shares[j]), 5),
                    }
                    for j in order
                ],
            }
        )
    return out


# --- the two rankers -----------------------------------------------------------------------------


def ours(index: PaletteIndex, emotion: EmotionResult, exhaustive: bool = False) -> list[int]:
    if exhaustive:
        colours = mood_colours(emotion)
        every = index.rank(colours, mood_genres(emotion), TOP_N, True, excluded=mood_excluded(emotion))
        return [r.tmdb_id for r in every]
    return [r.tmdb_id for r in rank_mood(index, emotion, SETTINGS, TOP_N)[1]]


def original(movies: Sequence[dict[str, Any]], colours: Sequence[MoodColour], genres: set[str],
             excluded: frozenset[str] = frozenset()) -> list[int]:  # fmt: skip
    """The original project's ranking, kept as it was: a Python loop and one scalar ΔE00 per pair
    (on the same candidates as ours: the mood's genres without its excluded ones)."""
    scored = []
    for movie in movies:
        if not any(g in genres for g in movie["genres"]) or any(g in excluded for g in movie["genres"]):
            continue
        distances = []
        weighted = 0.0
        inverse_total = 0.0
        for mood in colours:
            for colour in movie["palette"]:
                d = ciede2000_scalar(mood.lab, colour["lab"])
                distances.append(d)
                inverse = 1.0 / (d + 1e-6)
                weighted += colour["share"] * inverse
                inverse_total += inverse
        mean_distance = sum(distances) / len(distances)
        dominance = weighted / inverse_total
        scored.append((mean_distance, -dominance, movie["tmdb_id"]))
    scored.sort()
    return [tmdb_id for *_, tmdb_id in scored[:TOP_N]]


def original_request(movies: Sequence[dict[str, Any]], emotion: EmotionResult) -> list[int]:
    return original(
        movies, mood_colours(emotion), set(mood_genres(emotion)), frozenset(mood_excluded(emotion))
    )


# --- measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeResult:
    movies: int
    candidates: float  # mean movies in the moods' genres
    p50_ms: float
    p95_ms: float
    cpu_p50_ms: float  # CPU time of this thread: what the request costs, whatever else the machine runs
    requests: int
    baseline_p50_ms: float | None
    baseline_requests: int
    speedup: float | None  # median over the moods the baseline ran of baseline ÷ ours
    cpu_speedup: float | None  # the same in CPU time
    exact_top10: float
    index_mb: float
    build_peak_mb: float
    request_peak_mb: float
    build_s: float


def measure(n: int, templates: Sequence[dict[str, Any]], rounds: int, budget_s: float, seed: int,
            per_movie_s: float | None) -> tuple[SizeResult, float | None]:  # fmt: skip
    docs = synthetic_catalogue(n, templates, seed)
    start = time.perf_counter()
    index = PaletteIndex.build(docs)
    build_s = time.perf_counter() - start
    del index
    tracemalloc.start()
    index = PaletteIndex.build(docs)
    build_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    ours(index, MOODS[0])
    request_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()

    for mood in MOODS:  # warm-up
        ours(index, mood)
    times: dict[str, list[float]] = {m.primary: [] for m in MOODS}
    cpu_times: dict[str, list[float]] = {m.primary: [] for m in MOODS}
    for _ in range(rounds):
        for mood in MOODS:
            start, start_cpu = time.perf_counter(), time.thread_time()
            ours(index, mood)
            times[mood.primary].append(time.perf_counter() - start)
            cpu_times[mood.primary].append(time.thread_time() - start_cpu)
    cpu = [t for ts in cpu_times.values() for t in ts]
    every = [t for ts in times.values() for t in ts]
    exact = sum(ours(index, m) == ours(index, m, exhaustive=True) for m in MOODS) / len(MOODS)

    # The baseline: as many moods as its predicted time allows (none if even one would not fit).
    baseline: dict[str, float] = {}
    baseline_cpu: dict[str, float] = {}
    runs = len(MOODS) if per_movie_s is None else int(budget_s // max(per_movie_s * n, 1e-9))
    for mood in tqdm(
        MOODS[: min(runs, len(MOODS))], desc=f"original, {n:,} movies", unit="request", leave=False
    ):
        start, start_cpu = time.perf_counter(), time.thread_time()
        original_request(docs, mood)
        baseline[mood.primary] = time.perf_counter() - start
        baseline_cpu[mood.primary] = time.thread_time() - start_cpu
    if baseline:
        per_movie_s = statistics.median(baseline.values()) / n
    speedup = (
        statistics.median(t / statistics.median(times[m]) for m, t in baseline.items()) if baseline else None
    )
    # The same ratio in CPU time of this thread: what each costs, however busy the machine is.
    cpu_speedup = (
        statistics.median(t / statistics.median(cpu_times[m]) for m, t in baseline_cpu.items())
        if baseline_cpu
        else None
    )
    candidates = statistics.mean(len(index.candidates(mood_genres(m), mood_excluded(m))) for m in MOODS)
    result = SizeResult(
        movies=n,
        candidates=round(candidates, 1),
        p50_ms=float(np.percentile(every, 50) * 1000),
        p95_ms=float(np.percentile(every, 95) * 1000),
        cpu_p50_ms=float(np.percentile(cpu, 50) * 1000),
        requests=len(every),
        baseline_p50_ms=statistics.median(baseline.values()) * 1000 if baseline else None,
        baseline_requests=len(baseline),
        speedup=speedup,
        cpu_speedup=cpu_speedup,
        exact_top10=exact,
        index_mb=index.nbytes / 2**20,
        build_peak_mb=build_peak / 2**20,
        request_peak_mb=request_peak / 2**20,
        build_s=build_s,
    )
    return result, per_movie_s


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.recommend",
        description="Ranking latency of the recommender for 1k/10k/100k-movie catalogues on one CPU core, "
        "against the original per-pair Python loop.",
    )
    p.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="catalogue sizes (default: %(default)s)"
    )
    p.add_argument(
        "--rounds", type=int, default=5, help="rounds of the 7 moods a size (default: %(default)s)"
    )
    p.add_argument(
        "--baseline-budget",
        type=float,
        default=60.0,
        help="seconds the original approach may take a size; sizes it cannot fit are skipped (default: 60)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    args = p.parse_args(argv)
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        p.error(f"--sizes must be comma-separated integers (got {args.sizes!r})")
    if not args.sizes or min(args.sizes) < 10 or args.rounds < 1 or args.baseline_budget < 0:
        p.error("--sizes must be 10 or more, --rounds at least 1, --baseline-budget not negative")
    return args


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    templates = real_templates()
    results: list[SizeResult] = []
    per_movie: float | None = None
    with one_core() as core:
        for n in tqdm(args.sizes, desc="catalogue sizes", unit="size", leave=False):
            result, per_movie = measure(n, templates, args.rounds, args.baseline_budget, args.seed, per_movie)
            results.append(result)
    print(
        f"Recommender ranking on one CPU core (core {core}): top {TOP_N}, {len(MOODS)} moods x {args.rounds} "
        f"rounds a size; palettes drawn from {len(templates):,} real posters"
    )
    head = (
        f"{'movies':>8} {'in genres':>9} {'p50 ms':>8} {'p95 ms':>8} {'cpu ms':>7} {'original ms':>12} "
        f"{'speedup':>8} {'cpu x':>6} {'exact top10':>11} {'index MB':>8} {'build peak MB':>13} "
        f"{'request MB':>10} {'build s':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        speed = "-" if r.speedup is None else f"{r.speedup:,.0f}x"
        cpu_speed = "-" if r.cpu_speedup is None else f"{r.cpu_speedup:,.0f}x"
        print(
            f"{r.movies:>8,} {r.candidates:>9,.0f} {r.p50_ms:>8.2f} {r.p95_ms:>8.2f} {r.cpu_p50_ms:>7.2f} "
            f"{_ms(r.baseline_p50_ms):>12} {speed:>8} {cpu_speed:>6} {r.exact_top10:>11.0%} "
            f"{r.index_mb:>8.1f} {r.build_peak_mb:>13.1f} {r.request_peak_mb:>10.1f} {r.build_s:>7.2f}"
        )
    by_size = {r.movies: r for r in results}
    finished = [r for r in results if r.speedup is not None]
    widest = finished[-1] if finished else None
    biggest = results[-1]
    if 100_000 in by_size:
        ok = by_size[100_000].p50_ms < TARGET_MS_100K
        verdict = "within" if ok else "OVER"
        print(
            f"100k movies: p50 {by_size[100_000].p50_ms:.1f} ms "
            f"({verdict} the {TARGET_MS_100K:.0f} ms target)"
        )
    if widest is not None:
        ok = widest.speedup is not None and widest.speedup >= TARGET_SPEEDUP
        cpu_ok = widest.cpu_speedup is not None and widest.cpu_speedup >= TARGET_SPEEDUP
        print(
            f"speed-up over the original at {widest.movies:,} movies (largest size it finished): "
            f"{widest.speedup:,.0f}x in wall time ({'meets' if ok else 'BELOW'} the {TARGET_SPEEDUP:.0f}x "
            f"target), {widest.cpu_speedup or 0:,.0f}x in CPU time ({'meets' if cpu_ok else 'BELOW'})"
        )
    if args.json:
        print(
            json.dumps(
                {
                    "ms_100k": round(by_size[100_000].p50_ms, 3) if 100_000 in by_size else None,
                    "p95_ms_100k": round(by_size[100_000].p95_ms, 3) if 100_000 in by_size else None,
                    "speedup": round(widest.speedup, 1) if widest and widest.speedup else None,
                    "cpu_speedup": round(widest.cpu_speedup, 1) if widest and widest.cpu_speedup else None,
                    "speedup_movies": widest.movies if widest else None,
                    "index_mb": round(biggest.index_mb, 2),
                    "build_peak_mb": round(biggest.build_peak_mb, 2),
                    "request_peak_mb": round(biggest.request_peak_mb, 2),
                    "exact_top10": min(r.exact_top10 for r in results),
                    "sizes": {str(r.movies): asdict(r) for r in results},
                    "core": core,
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
