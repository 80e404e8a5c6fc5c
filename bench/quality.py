"""Pick quality: do the picks' posters carry the mood's colours, and are they fit for the mood?

`python -m bench.quality [--json] [--sheets DIR]`. The committed sample catalogue (4,834 real movies
with their real poster palettes), whole, as shipped. Each of the seven primary emotions with its two
usual neighbours as secondaries (what a declared feeling gives), at a strong strength (primary 1.0,
secondaries 0.6) and a weak one (primary 0.3, secondaries 0.3): fourteen moods, top 10 each.

Three rankers side by side, each with its own mood colours and candidates:
- original: the original project's scoring (see bench.recommend): ascending mean ΔE00 over every
  (mood colour, poster colour) pair, ties by a dominance average weighted by 1/ΔE00; today's genres
  and the earlier strength rule (weak = up to 60% paler and 65% less chroma);
- today: the soft histogram intersection with similarity exp(−ΔE00/12), same genres and colours;
- new: core.catalogue.recommender.rank_mood, exactly what the recommender serves.

Measures, per mood (the same reference for all three, so they are comparable):
- coverage of a poster: the share of its area (palette shares) whose colour lies within
  COVER_DELTA_E ΔE00 of one of the primary emotion's colours as the new rule shows them, each poster
  colour counted for its nearest such colour and each mood colour counting up to its share of the
  primary (so an all-black poster covers anger's black, 20%, not its red and crimson);
- chance: mean coverage over the mood's candidates (its genres minus its excluded ones); ceiling: the
  mean of the ten best-covered candidates; fidelity = (picks − chance) / (ceiling − chance), 1 when
  the picks are the best ten achievable, 0 when they are no better than random candidates;
- chroma agreement: the share of picks whose poster chroma (share-weighted mean C*ab) is nearer the
  mood's (the primary colours' weighted mean) than the candidates' median is: vivid moods should get
  vivid posters, muted ones muted posters;
- excluded: picks in a genre the mood excludes (core.catalogue.genres.EXCLUDED_GENRES);
- repeats: picks that repeat a franchise or nearly duplicate another pick's poster colours
  (core.catalogue.diversity).
Targets for the new ranker, every mood: fidelity ≥ 0.8, no excluded genre, no repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.recommend import real_templates
from core.catalogue.diversity import NEAR_DUPLICATE_DELTA_E, franchise_key, palette_distance
from core.catalogue.genres import mood_excluded, mood_genres
from core.catalogue.index import FULL_MATCH_DELTA_E, NO_MATCH_DELTA_E, PaletteIndex
from core.catalogue.recommender import rank_mood
from core.colour.ciede2000 import ciede2000
from core.colour.psychology import emotion_from_names, mood_colours
from core.colour.space import lab_to_srgb, srgb_to_lab
from core.config import RecommenderSettings
from core.emotion.stats import DECLARED_NEIGHBOURS
from core.values.emotions import EMOTIONS
from core.values.results import EmotionResult, MoodColour

TOP_N = 10
COVER_DELTA_E = 10.0  # a poster colour this close to a mood colour counts as that colour
TARGET_FIDELITY = 0.8
STRENGTHS = {"strong": (1.0, 0.6), "weak": (0.3, 0.3)}  # (primary, each secondary)
RANKERS = ("original", "today", "new")
TODAY_SCALE = 12.0  # today's similarity exp(-ΔE00 / 12)


@dataclass(frozen=True)
class Mood:
    label: str  # "surprise/strong"
    strength: str
    emotion: EmotionResult


def moods() -> list[Mood]:
    out = []
    for name in EMOTIONS:
        secondary = DECLARED_NEIGHBOURS[name]
        for strength, (first, second) in STRENGTHS.items():
            strengths = {name: first} | {s: second for s in secondary}
            emotion = emotion_from_names(name, secondary, strengths)
            out.append(Mood(f"{name}/{strength}", strength, emotion))
    return out


# --- the earlier strength rule and the two earlier scorings, kept as they were ---------------------


def pale_intensify(
    rgb: tuple[int, int, int], strength: float
) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """The earlier strength rule: at strength 0 chroma falls to 35% and L* moves 60% towards 78."""
    lab = srgb_to_lab(rgb)
    lightness = lab[0] + (1 - strength) * 0.6 * (78.0 - lab[0])
    chroma_scale = 0.35 + 0.65 * strength
    out = lab_to_srgb([lightness, lab[1] * chroma_scale, lab[2] * chroma_scale])
    rgb_out = (int(out[0]), int(out[1]), int(out[2]))
    lab_out = srgb_to_lab(rgb_out)
    return rgb_out, (float(lab_out[0]), float(lab_out[1]), float(lab_out[2]))


def _delta_e(index: PaletteIndex, rows: np.ndarray, colours: Sequence[MoodColour]) -> np.ndarray:
    """ΔE00 (n, K, M) from the rows' poster colours to the mood colours."""
    mood = np.array([c.lab for c in colours], dtype=np.float64)
    return ciede2000(index.lab[rows].astype(np.float64)[:, :, None, :], mood[None, None, :, :])


def original_picks(index: PaletteIndex, rows: np.ndarray, colours: Sequence[MoodColour], top_n: int = TOP_N,
                   ) -> np.ndarray:  # fmt: skip
    """bench.recommend.original, vectorised: ascending mean ΔE00 over the real (mood, poster colour)
    pairs, then descending dominance Σ share/ΔE ÷ Σ 1/ΔE, then tmdb_id."""
    d = _delta_e(index, rows, colours)
    real = (index.shares[:, rows].T > 0)[:, :, None] & np.ones(d.shape, dtype=bool)
    mean = np.where(real, d, 0).sum(axis=(1, 2)) / real.sum(axis=(1, 2))
    inverse = np.where(real, 1.0 / (d + 1e-6), 0)
    dominance = (inverse * index.shares[:, rows].T[:, :, None]).sum(axis=(1, 2)) / inverse.sum(axis=(1, 2))
    order = np.lexsort((index.ids[rows], -dominance, mean))
    return rows[order[:top_n]]


def today_picks(index: PaletteIndex, rows: np.ndarray, colours: Sequence[MoodColour], top_n: int = TOP_N,
                ) -> np.ndarray:  # fmt: skip
    """The scoring before this benchmark: Σ over mood colours of min(w, Σ exp(−ΔE/12) min(w, s)),
    every candidate scored exactly, ties as the index breaks them."""
    w = np.array([c.weight for c in colours])
    w = w / w.sum()
    d = _delta_e(index, rows, colours)
    pair = np.exp(-d / TODAY_SCALE) * np.minimum(index.shares[:, rows].T[:, :, None], w)
    shown = np.round(100 * np.minimum(pair.sum(axis=1), w).sum(axis=1), 1)
    order = np.lexsort((index.ids[rows], -index.votes[rows], -index.popularity[rows], -shown))
    return rows[order[:top_n]]


# --- the candidate scorings the benchmark chose among (--candidates) ------------------------------


@dataclass(frozen=True)
class Scoring:
    """One candidate scoring, scored exhaustively on the new colours and candidates (no variety rule).

    kernel: similarity of a (poster colour, mood colour) pair from its ΔE00; nearest: each poster
    colour counts only for its nearest mood colour (else for all, each pair capped at min(w, s));
    gate: secondary colours count by (primary coverage / primary weight) ** gate (0 = always fully);
    chroma: pairs lose credit by (C_poster + 5) / (C_mood + 5) ** chroma when the poster colour is
    the greyer one; emd: the Earth Mover's Distance with ground distance min(ΔE00, emd) / emd instead
    (Rubner, Tomasi & Guibas 2000; entropic Sinkhorn approximation), score 1 − EMD.
    """

    name: str
    kernel: str = "ramp"  # exp12 | gauss8 | ramp (FULL..NO from core.catalogue.index)
    nearest: bool = False
    gate: float = 0.0
    chroma: float = 0.0
    emd: float = 0.0


CANDIDATES = (
    Scoring("today: exp(-ΔE/12), all pairs", kernel="exp12"),
    Scoring("steeper: exp(-(ΔE/8)^2), all pairs", kernel="gauss8"),
    Scoring("thresholded ramp 6..12, all pairs"),
    Scoring("ramp + chroma term", chroma=1.0),
    Scoring("ramp + nearest colour only", nearest=True),
    Scoring("ramp + primary gate^2", gate=2.0),
    Scoring("ramp + nearest + gate^1", nearest=True, gate=1.0),
    Scoring("ramp + nearest + gate^2 (new)", nearest=True, gate=2.0),
    Scoring("ramp + nearest + gate^2 + chroma", nearest=True, gate=2.0, chroma=1.0),
    Scoring("EMD, ground distance capped at 20", emd=20.0),
    Scoring("EMD, ground distance capped at 12", emd=12.0),
)


def _kernel(name: str, d: np.ndarray) -> np.ndarray:
    if name == "exp12":
        return np.exp(-d / TODAY_SCALE)
    if name == "gauss8":
        return np.exp(-((d / 8.0) ** 2))
    return np.clip((NO_MATCH_DELTA_E - d) / (NO_MATCH_DELTA_E - FULL_MATCH_DELTA_E), 0, 1)


def _emd_scores(
    shares: np.ndarray, w: np.ndarray, d: np.ndarray, cap: float, eps: float = 0.02
) -> np.ndarray:
    """1 − EMD between each poster (shares (n, K)) and the mood (w (M,)) with ground distance
    min(ΔE00, cap) / cap, by log-domain Sinkhorn iterations (entropy eps), all posters at once."""
    from scipy.special import logsumexp

    cost = np.minimum(d, cap) / cap  # (n, K, M)
    log_a = np.log(np.maximum(shares, 1e-12))
    log_b = np.log(w)[None, :]
    f = np.zeros(shares.shape)
    g = np.zeros((shares.shape[0], w.size))
    for _ in range(200):
        f = eps * (log_a - logsumexp((g[:, None, :] - cost) / eps, axis=2))
        g = eps * (log_b - logsumexp((f[:, :, None] - cost) / eps, axis=1))
    plan = np.exp((f[:, :, None] + g[:, None, :] - cost) / eps)
    return 1 - (plan * cost).sum(axis=(1, 2))


def scoring_scores(index: PaletteIndex, rows: np.ndarray, colours: Sequence[MoodColour], scoring: Scoring,
                   ) -> np.ndarray:  # fmt: skip
    """0-1 scores of the rows under a candidate scoring."""
    w = np.array([c.weight for c in colours], dtype=np.float64)
    w = w / w.sum()
    d = _delta_e(index, rows, colours)
    shares = index.shares[:, rows].T.astype(np.float64)
    if scoring.emd:
        return _emd_scores(shares, w, d, scoring.emd)
    sim = _kernel(scoring.kernel, d)
    if scoring.chroma:
        lab = index.lab[rows].astype(np.float64)
        poster_c = np.hypot(lab[..., 1], lab[..., 2])[:, :, None]
        mood_c = np.array([np.hypot(c.lab[1], c.lab[2]) for c in colours])[None, None, :]
        sim = sim * np.clip((poster_c + 5) / (mood_c + 5), 0, 1) ** scoring.chroma
    if scoring.nearest:
        pair = (np.arange(w.size) == d.argmin(axis=2)[:, :, None]) * sim * shares[:, :, None]
    else:
        pair = sim * np.minimum(shares[:, :, None], w)
    capped = np.minimum(pair.sum(axis=1), w)
    primary = np.array([c.emotion == colours[0].emotion for c in colours])
    met = capped[:, primary].sum(axis=1)
    gate = (met / w[primary].sum()) ** scoring.gate if scoring.gate else 1.0
    return met + capped[:, ~primary].sum(axis=1) * gate


def compare_scorings(index: PaletteIndex, settings: RecommenderSettings, radius: float = COVER_DELTA_E,
                     ) -> list[tuple[str, list[float]]]:  # fmt: skip
    """Fidelity of every candidate scoring on every mood (top 10 by score alone, ties by tmdb_id)."""
    out = []
    for scoring in CANDIDATES:
        fids = []
        for mood in moods():
            emotion = mood.emotion
            colours = mood_colours(emotion, settings.primary_weight)
            rows = index.candidates(mood_genres(emotion), mood_excluded(emotion), settings.min_vote_average)
            primary = [c for c in colours if c.emotion == emotion.primary]
            cover = coverage(
                index.lab[rows],
                index.shares[:, rows].T,
                np.array([c.lab for c in primary]),
                np.array([c.weight for c in primary]),
                radius,
            )
            scores = scoring_scores(index, rows, colours, scoring)
            top = np.lexsort((index.ids[rows], -np.round(scores, 3)))[:TOP_N]
            ceiling = float(np.sort(cover)[::-1][:TOP_N].mean())
            fids.append(fidelity(float(cover[top].mean()), float(cover.mean()), ceiling))
        out.append((scoring.name, fids))
    return out


# --- measures ------------------------------------------------------------------------------------


def coverage(lab: np.ndarray, shares: np.ndarray, ref_lab: np.ndarray, ref_weights: np.ndarray,
             radius: float = COVER_DELTA_E) -> np.ndarray:  # fmt: skip
    """Per poster (lab (n, K, 3), shares (n, K)): Σ over reference colours of min(its weight share,
    the area of the poster colours within `radius` ΔE00 of it, each assigned to its nearest)."""
    w = np.asarray(ref_weights, dtype=np.float64)
    w = w / w.sum()
    d = ciede2000(np.asarray(lab, np.float64)[:, :, None, :], np.asarray(ref_lab, np.float64)[None, None])
    nearest = d.argmin(axis=2)  # (n, K)
    near = d.min(axis=2) <= radius
    area = np.zeros((lab.shape[0], w.size))
    for m in range(w.size):
        area[:, m] = (shares * (near & (nearest == m))).sum(axis=1)
    return np.minimum(area, w).sum(axis=1)


def fidelity(picks: float, chance: float, ceiling: float) -> float:
    """(picks − chance) / (ceiling − chance); 1.0 when the ceiling is no better than chance."""
    return 1.0 if ceiling - chance <= 1e-12 else (picks - chance) / (ceiling - chance)


def chroma(lab: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean C*ab over the last colour axis: lab (..., K, 3), weights (..., K)."""
    c = np.hypot(lab[..., 1], lab[..., 2])
    return (c * weights).sum(axis=-1) / weights.sum(axis=-1)


def repeats(index: PaletteIndex, rows: Sequence[int], titles: dict[int, str]) -> tuple[int, int]:
    """(franchise repeats, near-duplicate poster pairs) among the picks."""
    keys = [franchise_key(titles.get(int(index.ids[r]), f"#{index.ids[r]}")) for r in rows]
    pairs = 0
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            d = palette_distance(index.lab[a], index.shares[:, a], index.lab[b], index.shares[:, b])
            pairs += d < NEAR_DUPLICATE_DELTA_E
    return len(keys) - len(set(keys)), pairs


@dataclass
class RankerResult:
    picks: list[int]  # tmdb ids, best first
    coverage: float
    fidelity: float
    chroma: float
    chroma_agreement: float
    excluded: int
    franchise_repeats: int
    near_duplicates: int


@dataclass
class MoodResult:
    mood: str
    colours: list[str]  # the new rule's mood colours, "name #hex weight"
    candidates: int
    chance: float
    ceiling: float
    mood_chroma: float
    rankers: dict[str, RankerResult] = field(default_factory=dict)


def evaluate(index: PaletteIndex, mood: Mood, titles: dict[int, str], settings: RecommenderSettings,
             radius: float = COVER_DELTA_E, top_n: int = TOP_N) -> tuple[MoodResult, list[int]]:  # fmt: skip
    """Every measure for every ranker on one mood; also the new ranker's rows, for the sheets."""
    emotion = mood.emotion
    new_colours, ranked = rank_mood(index, emotion, settings, top_n)
    row_of = {int(t): i for i, t in enumerate(index.ids.tolist())}
    excluded = mood_excluded(emotion)
    reference = index.candidates(mood_genres(emotion), excluded, settings.min_vote_average)
    primary = [c for c in new_colours if c.emotion == emotion.primary]
    ref_lab = np.array([c.lab for c in primary])
    ref_w = np.array([c.weight for c in primary])
    cover = coverage(index.lab, index.shares.T, ref_lab, ref_w, radius)
    chance = float(cover[reference].mean())
    ceiling = float(np.sort(cover[reference])[::-1][:top_n].mean())
    poster_chroma = chroma(index.lab.astype(np.float64), index.shares.T.astype(np.float64))
    mood_chroma = float(chroma(ref_lab[None], ref_w[None])[0])
    median_gap = abs(float(np.median(poster_chroma[reference])) - mood_chroma)
    excluded_rows = set(index.candidates(excluded).tolist()) if excluded else set()

    earlier = mood_colours(emotion, settings.primary_weight, intensity=pale_intensify)
    old_rows = index.candidates(mood_genres(emotion))
    picks = {
        "original": original_picks(index, old_rows, earlier, top_n).tolist(),
        "today": today_picks(index, old_rows, earlier, top_n).tolist(),
        "new": [row_of[r.tmdb_id] for r in ranked],
    }
    result = MoodResult(
        mood=mood.label,
        colours=[f"{c.emotion}: {c.name} {c.hex} {c.weight:.0%}" for c in new_colours],
        candidates=int(reference.size),
        chance=chance,
        ceiling=ceiling,
        mood_chroma=mood_chroma,
    )
    for name in RANKERS:
        rows = picks[name]
        got = float(cover[rows].mean())
        franchise, duplicates = repeats(index, rows, titles)
        result.rankers[name] = RankerResult(
            picks=[int(index.ids[r]) for r in rows],
            coverage=got,
            fidelity=fidelity(got, chance, ceiling),
            chroma=float(poster_chroma[rows].mean()),
            chroma_agreement=float(np.mean([abs(poster_chroma[r] - mood_chroma) < median_gap for r in rows])),
            excluded=sum(r in excluded_rows for r in rows),
            franchise_repeats=franchise,
            near_duplicates=duplicates,
        )
    return result, picks["new"]


# --- output --------------------------------------------------------------------------------------


def _three(result: MoodResult, key: str, fmt: str) -> str:
    return " ".join(format(getattr(result.rankers[n], key), fmt) for n in RANKERS)


def print_table(results: Sequence[MoodResult], radius: float = COVER_DELTA_E) -> None:
    print(
        f"Pick quality on the sample catalogue, top {TOP_N}; coverage within ΔE00 {radius:g} of the "
        f"primary's colours. Each cell: original / today / new."
    )
    head = (
        f"{'mood':<17} {'cands':>5} {'chance':>6} {'ceil':>5}  {'coverage o/t/n':>16}  "
        f"{'fidelity o/t/n':>17}  {'chroma agree':>14}  {'excluded':>8}  {'repeats':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        rep = " ".join(str(r.rankers[n].franchise_repeats + r.rankers[n].near_duplicates) for n in RANKERS)
        print(
            f"{r.mood:<17} {r.candidates:>5} {r.chance:>6.3f} {r.ceiling:>5.3f}  "
            f"{_three(r, 'coverage', '5.3f'):>16}  {_three(r, 'fidelity', '5.2f'):>17}  "
            f"{_three(r, 'chroma_agreement', '4.0%'):>14}  {_three(r, 'excluded', 'd'):>8}  {rep:>8}"
        )
    for name in RANKERS:
        fid = [r.rankers[name].fidelity for r in results]
        again = sum(r.rankers[name].franchise_repeats + r.rankers[name].near_duplicates for r in results)
        print(
            f"{name:>8}: mean fidelity {statistics.mean(fid):.2f} (min {min(fid):.2f}), "
            f"chroma agreement {statistics.mean(r.rankers[name].chroma_agreement for r in results):.0%}, "
            f"excluded picks {sum(r.rankers[name].excluded for r in results)}, "
            f"repeats {again}"
        )
    new = [r.rankers["new"] for r in results]
    ok = (
        all(n.fidelity >= TARGET_FIDELITY for n in new)
        and not any(n.excluded for n in new)
        and not any(n.franchise_repeats or n.near_duplicates for n in new)
    )
    print(
        f"new ranker: {'meets' if ok else 'MISSES'} the targets (every mood fidelity >= {TARGET_FIDELITY}, "
        "no excluded genre, no repeats)"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.quality",
        description="Pick quality of the original, today's and the new ranking on the sample catalogue.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    p.add_argument("--sheets", type=Path, metavar="DIR", help="write a contact sheet PNG per mood into DIR")
    p.add_argument("--posters", type=Path, metavar="DIR", help="local posters <tmdb_id>.jpg for the sheets "
                   "(default: the catalogue.posters_dir setting)")  # fmt: skip
    p.add_argument("--cards", action="store_true", help="draw palette cards on the sheets, never posters")
    p.add_argument(
        "--cover-delta-e",
        type=float,
        default=COVER_DELTA_E,
        metavar="DE",
        help="ΔE00 within which a poster colour counts as a mood colour (default: %(default)s)",
    )
    p.add_argument(
        "--candidates",
        action="store_true",
        help="also compare the candidate scorings (today's, steeper kernels, thresholds, EMD, ...)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    docs = real_templates()
    start = time.perf_counter()
    index = PaletteIndex.build(docs)
    titles = {int(d["tmdb_id"]): str(d.get("title") or "") for d in docs}
    settings = RecommenderSettings()
    results: list[MoodResult] = []
    new_rows: dict[str, list[int]] = {}
    for mood in moods():
        result, rows = evaluate(index, mood, titles, settings, args.cover_delta_e)
        results.append(result)
        new_rows[mood.label] = rows
    print_table(results, args.cover_delta_e)
    print(f"({len(index):,} movies, {len(results)} moods, {time.perf_counter() - start:.1f} s)")
    compared = compare_scorings(index, settings, args.cover_delta_e) if args.candidates else []
    if compared:
        print("\nCandidate scorings (exhaustive, scoring alone, new colours and candidates): fidelity")
        print(f"{'scoring':<38} {'mean':>5} {'min':>5}  per mood ({', '.join(m.label for m in moods())})")
        for name, fids in compared:
            cells = " ".join(f"{f:.2f}" for f in fids)
            print(f"{name:<38} {statistics.mean(fids):>5.2f} {min(fids):>5.2f}  {cells}")
    if args.sheets is not None:
        write_sheets(args, docs, index, settings)
    if args.json:
        print(
            json.dumps(
                {
                    "movies": len(index),
                    "cover_delta_e": args.cover_delta_e,
                    "target_fidelity": TARGET_FIDELITY,
                    "moods": [asdict(r) for r in results],
                    "candidates": {name: [round(f, 3) for f in fids] for name, fids in compared},
                    "summary": {
                        name: {
                            "mean_fidelity": round(
                                statistics.mean(r.rankers[name].fidelity for r in results), 3
                            ),
                            "min_fidelity": round(min(r.rankers[name].fidelity for r in results), 3),
                            "excluded": sum(r.rankers[name].excluded for r in results),
                            "repeats": sum(
                                r.rankers[name].franchise_repeats + r.rankers[name].near_duplicates
                                for r in results
                            ),
                        }
                        for name in RANKERS
                    },
                }
            )
        )
    return 0


def write_sheets(args: argparse.Namespace, docs: Sequence[dict[str, Any]], index: PaletteIndex,
                 settings: RecommenderSettings) -> None:  # fmt: skip
    from cli.contact_sheet import SheetPick, default_posters_dir, render_sheet

    posters = None if args.cards else (args.posters or default_posters_dir())
    by_id = {int(d["tmdb_id"]): d for d in docs}
    args.sheets.mkdir(parents=True, exist_ok=True)
    for mood in moods():
        colours, ranked = rank_mood(index, mood.emotion, settings, TOP_N)
        picks = [SheetPick.from_doc(by_id[r.tmdb_id], r.score) for r in ranked]
        image = render_sheet(mood.emotion, colours, picks, posters, subtitle=f"{mood.strength} feeling")
        name = mood.emotion.primary + ("" if mood.strength == "strong" else f"-{mood.strength}")
        path = args.sheets / f"{name}.png"
        image.save(path, optimize=True)
        print(f"sheet: {path}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
