"""The group pick: latency on one CPU core, and what each aggregation strategy does to the members.

`python -m bench.group [--json] [--rounds N] [--sizes 1000 10000] [--members 2 5 10 25]`.

Groups are drawn at random, not chosen to look good: each member's primary emotion is uniform over
the seven, with one random secondary half the time and strengths uniform in 0.3..0.9. Catalogues are
the committed sample and synthetic ones drawn like it (bench.recommend.synthetic_catalogue: real
poster palettes, jittered).

For each catalogue size and group size, one request = core.group.pick.rank_for_group (every
member's own shortlist, the fits matrix, the strategy, one movie per franchise) for the top 10.
The quality columns compare the three strategies on the same groups, over each group's top 3 picks:
the mean member fit (how happy the group is on average) and the worst member's fit (is anyone left
with a movie that fits them badly), 0..1 where 1 = as good for that member as their own best pick,
plus the share of groups where some top-3 pick fits a member under the misery threshold.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.common import one_core
from bench.recommend import real_templates, synthetic_catalogue
from core.catalogue.index import PaletteIndex
from core.config import GROUP_STRATEGIES, GroupSettings, RecommenderSettings
from core.group.pick import member_fits, rank_for_group
from core.values.emotions import EMOTIONS
from core.values.results import EmotionResult

RECOMMENDER = RecommenderSettings()
TOP = 3


def random_group(rng: np.random.Generator, n: int) -> list[EmotionResult]:
    out = []
    for _ in range(n):
        primary = str(rng.choice(EMOTIONS))
        others = [e for e in EMOTIONS if e != primary]
        secondary = (str(rng.choice(others)),) if rng.random() < 0.5 else ()
        strengths = {e: float(rng.uniform(0.3, 0.9)) for e in (primary, *secondary)}
        out.append(EmotionResult(primary, secondary, strengths, (), "declared"))
    return out


@dataclass
class Row:
    movies: int
    members: int
    p50_ms: float
    p95_ms: float
    cpu_p50_ms: float
    quality: dict[str, dict[str, float]]  # strategy -> mean fit, worst fit, misery share


def measure(index: PaletteIndex, n_movies: int, n_members: int, rounds: int, seed: int) -> Row:
    rng = np.random.default_rng(seed + n_members)
    groups = [random_group(rng, n_members) for _ in range(rounds)]
    settings = {s: GroupSettings(strategy=s) for s in GROUP_STRATEGIES}
    wall: list[float] = []
    cpu: list[float] = []
    quality: dict[str, dict[str, list[float]]] = {
        s: {"mean": [], "worst": [], "misery": []} for s in settings
    }
    for emotions in groups:
        for name, cfg in settings.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            _, _, picks = rank_for_group(index, emotions, cfg, RECOMMENDER)
            if name == "average_without_misery":  # the default: its latency is the one reported
                wall.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
            fits = member_fits(index, emotions, [r.tmdb_id for r, _ in picks[:TOP]], RECOMMENDER)
            quality[name]["mean"].append(float(fits.mean()))
            quality[name]["worst"].append(float(fits.min()))
            quality[name]["misery"].append(float((fits < cfg.misery_threshold).any()))
    wall.sort()
    return Row(
        n_movies,
        n_members,
        statistics.median(wall),
        wall[min(len(wall) - 1, int(0.95 * len(wall)))],
        statistics.median(cpu),
        {s: {k: float(np.mean(v)) for k, v in q.items()} for s, q in quality.items()},
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.group",
        description="Group-pick latency on one core, and each aggregation strategy's mean and worst member "
        "fit over random groups.",
    )
    p.add_argument(
        "--sizes", type=int, nargs="+", default=[0, 10_000], help="catalogue sizes; 0 = the sample"
    )
    p.add_argument("--members", type=int, nargs="+", default=[2, 5, 10, 25], help="group sizes")
    p.add_argument("--rounds", type=int, default=20, help="random groups per case (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    templates = real_templates()
    rows: list[Row] = []
    cases = [(size, members) for size in args.sizes for members in args.members]
    with one_core() as core:
        indexes: dict[int, PaletteIndex] = {}
        for size, members in tqdm(cases, desc="group picks", unit="case", leave=False):
            if size not in indexes:
                docs = templates if size == 0 else synthetic_catalogue(size, templates, args.seed)
                indexes[size] = PaletteIndex.build(docs)
            rows.append(measure(indexes[size], len(indexes[size]), members, args.rounds, args.seed))
    print(
        f"Group pick on one CPU core (core {core}): top 10, {args.rounds} random groups a case; "
        f"fits over each group's top {TOP} (1 = as good as the member's own best pick)"
    )
    short = {"average_without_misery": "AwM", "average": "avg", "least_misery": "LM"}
    head = f"{'movies':>7} {'members':>7} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7}" + "".join(
        f" {short[s] + ' mean':>9} {short[s] + ' worst':>9} {short[s] + ' misery':>10}"
        for s in GROUP_STRATEGIES
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        line = f"{r.movies:>7,} {r.members:>7} {r.p50_ms:>7.1f} {r.p95_ms:>7.1f} {r.cpu_p50_ms:>7.1f}"
        for s in GROUP_STRATEGIES:
            q = r.quality[s]
            line += f" {q['mean']:>9.2f} {q['worst']:>9.2f} {q['misery']:>10.0%}"
        print(line)
    print(
        "AwM = average without misery (the default), avg = average, LM = least misery; "
        "misery = groups where a top-3 pick fits some member under group.misery_threshold."
    )
    if args.json:
        out: dict[str, Any] = {"rows": [asdict(r) for r in rows], "rounds": args.rounds}
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
