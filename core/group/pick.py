"""The group's pick: each member's fit for each candidate movie, combined by the configured strategy
(core.group.aggregate), with the group's mood, its colours and an explanation per movie.

A member's fit for a movie (0..1) is half genre, half colour: the genre part is 1 in their mood's
genres and GENRE_MISS outside them; the colour part is how well the poster carries *their* mood's
colours (the same CIEDE2000 score as their own picks) relative to their own best pick. A movie in a
genre their mood rules out (core.catalogue.genres) fits them 0, a misery whatever its poster.
Relative to their own best, a member with a hard-to-match mood (surprise's magentas are rare on
posters) counts as much as one whose colours are everywhere.

Candidates are the union of every member's own top CANDIDATES_PER_MEMBER and the group mood's, so a
movie that suits everybody a little is found as well as each member's favourites.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.catalogue.genres import mood_excluded, mood_genres
from core.catalogue.index import PaletteIndex, Ranked
from core.catalogue.recommender import Recommender, rank_mood, recommendation
from core.colour.psychology import mood_colours
from core.config import GroupSettings, RecommenderSettings
from core.group.aggregate import order_for_group
from core.present.group import explanation_text
from core.present.reasons import reason_text
from core.values.emotions import EMOTIONS
from core.values.group import Group, GroupPick, PickExplanation
from core.values.results import EmotionResult, MoodColour, MoodResult

CANDIDATES_PER_MEMBER = 40
GENRE_SHARE = 0.5  # a member's fit: half "is it a genre for my mood", half "does the poster carry my colours"
GENRE_MISS = 0.4  # a movie outside a member's mood genres still counts, for less
BEST_MARGIN = 0.05  # "best for the two happy ones" only when they are this much ahead of the rest


def group_emotion(emotions: Sequence[EmotionResult]) -> EmotionResult:
    """The group's mood: the most common primary (ties: the larger summed strength), then up to two
    other primaries (then secondaries) by how many members have them; strengths are the members' mean."""
    if not emotions:
        raise ValueError("a group mood needs at least one member's result")
    strength = {e: float(np.mean([m.strengths.get(e, 0.0) for m in emotions])) for e in EMOTIONS}
    primaries = collections.Counter(m.primary for m in emotions)
    seconds = collections.Counter(s for m in emotions for s in m.secondary)
    order = sorted(EMOTIONS, key=lambda e: (-primaries[e], -seconds[e], -strength[e], EMOTIONS.index(e)))
    primary = order[0]
    secondary = tuple(e for e in order[1:] if primaries[e] or seconds[e])[:2]
    frames = (sum(m.face_frames[0] for m in emotions), sum(m.face_frames[1] for m in emotions))
    return EmotionResult(primary, secondary, strength, (), "group", frames)


def primary_counts(emotions: Sequence[EmotionResult]) -> dict[str, int]:
    """Members per primary emotion, most first (ties in EMOTIONS order): the anonymous count."""
    counts = collections.Counter(m.primary for m in emotions)
    return {e: counts[e] for e in sorted(counts, key=lambda e: (-counts[e], EMOTIONS.index(e)))}


@dataclasses.dataclass(frozen=True)
class _Member:
    emotion: EmotionResult
    colours: tuple[MoodColour, ...]
    genres: tuple[str, ...]
    excluded: tuple[str, ...]


def _fits(index: PaletteIndex, members: Sequence[_Member], rows: np.ndarray, best: np.ndarray) -> np.ndarray:
    fits = np.zeros((len(members), rows.shape[0]))
    for i, m in enumerate(members):
        colour = np.clip(index.exact_scores(m.colours, rows)[0] / 100.0 / max(best[i], 1e-6), 0.0, 1.0)
        genre = np.where(index.in_genres(rows, m.genres), 1.0, GENRE_MISS)
        fit = GENRE_SHARE * genre + (1 - GENRE_SHARE) * colour
        fits[i] = np.where(index.in_genres(rows, m.excluded), 0.0, fit)  # never a genre their mood rules out
    return fits


def member_fits(
    index: PaletteIndex,
    emotions: Sequence[EmotionResult],
    ids: Sequence[int],
    recommender: RecommenderSettings,
) -> np.ndarray:
    """(members, movies) fits of the given movies, in the given order, computed as the pick does
    (bench.group uses it to compare the strategies' picks)."""
    members = [_member(e, recommender) for e in emotions]
    best = np.array([_own_best(index, m, recommender, 1)[0] for m in members])
    position = {int(t): i for i, t in enumerate(index.ids.tolist())}
    rows = np.array([position[int(t)] for t in ids], dtype=np.int64)
    return _fits(index, members, rows, best)


def _member(emotion: EmotionResult, recommender: RecommenderSettings) -> _Member:
    return _Member(
        emotion,
        mood_colours(emotion, recommender.primary_weight),
        mood_genres(emotion),
        mood_excluded(emotion),
    )


def _own_best(
    index: PaletteIndex, m: _Member, recommender: RecommenderSettings, n: int
) -> tuple[float, list[int]]:
    """The member's own best score (0..1) and their own top n movies."""
    own = index.rank(
        m.colours, m.genres, n, excluded=m.excluded, min_vote_average=recommender.min_vote_average
    )
    return (own[0].score / 100.0 if own else 1.0), [r.tmdb_id for r in own]


def _explain(
    fits: np.ndarray, column: int, primaries: Sequence[str], threshold: float, relaxed: bool, score: float
) -> PickExplanation:
    col = fits[:, column]
    groups = sorted(set(primaries), key=EMOTIONS.index)
    best_emotion: str | None = None
    best_count = 0
    if len(groups) > 1:
        means = {
            e: float(np.mean([f for f, p in zip(col, primaries, strict=True) if p == e])) for e in groups
        }
        top = max(groups, key=lambda e: (means[e], -EMOTIONS.index(e)))
        others = [v for e, v in means.items() if e != top]
        if means[top] - max(others) >= BEST_MARGIN:
            best_emotion, best_count = top, sum(1 for p in primaries if p == top)
    fits_n = int((col >= max(threshold, 1e-9)).sum())
    return PickExplanation(fits_n, len(primaries), best_emotion, best_count, relaxed, round(score, 4))


def rank_for_group(
    index: PaletteIndex,
    emotions: Sequence[EmotionResult],
    group: GroupSettings,
    recommender: RecommenderSettings,
) -> tuple[EmotionResult, tuple[MoodColour, ...], list[tuple[Ranked, PickExplanation]]]:
    """The group's mood, its colours and its top picks (Ranked by the group's colours, for display),
    each with its explanation. Pure and synchronous: the service runs it in a thread."""
    combined = group_emotion(emotions)
    colours, group_ranked = rank_mood(index, combined, recommender, CANDIDATES_PER_MEMBER)
    members = [_member(e, recommender) for e in emotions]
    ids: set[int] = {r.tmdb_id for r in group_ranked}
    best = np.zeros(len(members))
    for i, m in enumerate(members):
        best[i], own = _own_best(index, m, recommender, CANDIDATES_PER_MEMBER)
        ids.update(own)
    rows = index.rows_of(ids)
    if rows.size == 0:
        return combined, colours, []
    fits = _fits(index, members, rows, best)
    ordered = order_for_group(fits, group.strategy, group.misery_threshold, index.popularity[rows])
    chosen: list[tuple[int, PickExplanation]] = []
    franchises: set[int] = set()
    primaries = [e.primary for e in emotions]
    for o in ordered:
        franchise = int(index.franchise[rows[o.column]])
        if franchise in franchises:
            continue  # one movie per franchise, as in a single person's picks
        franchises.add(franchise)
        chosen.append(
            (
                int(rows[o.column]),
                _explain(fits, o.column, primaries, group.misery_threshold, o.relaxed, o.score),
            )
        )
        if len(chosen) == group.top_n:
            break
    described = index.describe(colours, [r for r, _ in chosen])
    return combined, colours, list(zip(described, [e for _, e in chosen], strict=True))


async def make_pick(recommender: Recommender, group: Group, settings: GroupSettings) -> GroupPick:
    """The group's pick over its finished members (the service has checked there is at least one)."""
    finished = group.finished
    emotions = [m.emotion for m in finished if m.emotion is not None]
    await recommender.refresh()
    index = recommender.index
    assert index is not None
    combined, colours, picks = await asyncio.to_thread(
        rank_for_group, index, emotions, settings, recommender.settings
    )
    ids = [r.tmdb_id for r, _ in picks]
    cursor = recommender.store.movies.find(
        {"tmdb_id": {"$in": ids}}, {"_id": 0, "overview": 0, "watcha.reviews": 0}
    )
    docs: Mapping[int, Mapping[str, Any]] = {d["tmdb_id"]: d async for d in cursor}
    recs = []
    explanations = []
    for ranked, why in picks:
        if ranked.tmdb_id not in docs:
            continue  # deleted since the index was built
        rec = recommendation(docs[ranked.tmdb_id], ranked, colours)
        recs.append(
            dataclasses.replace(
                rec,
                reason=f"{explanation_text(why, 'en')} {reason_text(ranked, colours)}",
                reason_ko=f"{explanation_text(why, 'ko')} {reason_text(ranked, colours, locale='ko')}",
            )
        )
        explanations.append(why)
    result = MoodResult(group.group_id, combined, colours, tuple(recs), group.origin())
    return GroupPick(
        group_id=group.group_id,
        strategy=settings.strategy,
        counts=primary_counts(emotions),
        took_part=len(emotions),
        joined=len(group.members),
        revealed=tuple((m.name, m.emotion.primary) for m in finished if m.reveal and m.emotion),
        result=result,
        explanations=tuple(explanations),
    )
