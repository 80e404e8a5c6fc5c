"""Mood -> picks: keeps the palette index of the store's catalogue fresh and turns ranked rows into
Recommendation values (see core.catalogue.index for the scoring)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from core.catalogue.genres import mood_excluded, mood_genres
from core.catalogue.index import PaletteBuilder, PaletteIndex, Ranked
from core.catalogue.movies import catalogue_version
from core.colour.psychology import mood_colours
from core.config import RecommenderSettings
from core.present.reasons import _hex, reason_text
from core.storage.store import Store
from core.values.results import EmotionResult, MoodColour, Recommendation

log = logging.getLogger(__name__)

POSTER_IMAGE_BASE = "https://image.tmdb.org/t/p/w342"
TMDB_MOVIE_URL = "https://www.themoviedb.org/movie/{}"
_INDEX_FIELDS = {
    "_id": 0,
    "tmdb_id": 1,
    "title": 1,
    "original_title": 1,
    "genres": 1,
    "popularity": 1,
    "vote_count": 1,
    "vote_average": 1,
    "palette": 1,
}
_DISPLAY_FIELDS = {"_id": 0, "overview": 0, "watcha.reviews": 0, "watcha.stills": 0, "watcha.trailers": 0}


def poster_url(doc: Mapping[str, Any]) -> str | None:
    path = doc.get("poster_path")
    if isinstance(path, str) and path.startswith("/"):
        return POSTER_IMAGE_BASE + path
    url = doc.get("poster_url")
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def recommendation(doc: Mapping[str, Any], ranked: Ranked, colours: Sequence[MoodColour]) -> Recommendation:
    watcha = doc.get("watcha")
    watcha_url = watcha.get("url") if isinstance(watcha, Mapping) else None
    return Recommendation(
        tmdb_id=ranked.tmdb_id,
        title=str(doc.get("title") or doc.get("original_title") or f"TMDB {ranked.tmdb_id}"),
        title_ko=doc.get("title_ko"),
        year=doc.get("year"),
        genres=tuple(doc.get("genres") or ()),
        score=ranked.score,
        reason=reason_text(ranked, colours),
        reason_ko=reason_text(ranked, colours, locale="ko"),
        popularity=float(doc.get("popularity") or 0.0),
        vote_count=int(doc.get("vote_count") or 0),
        vote_average=float(doc.get("vote_average") or 0.0),
        poster_url=poster_url(doc),
        tmdb_url=TMDB_MOVIE_URL.format(ranked.tmdb_id),
        watcha_url=watcha_url if isinstance(watcha_url, str) and watcha_url else None,
        palette=tuple(_hex(rgb) for rgb in ranked.poster_rgb),
    )


def rank_mood(
    index: PaletteIndex, emotion: EmotionResult, settings: RecommenderSettings, top_n: int
) -> tuple[tuple[MoodColour, ...], list[Ranked]]:
    """The mood's colours and its top_n ranked movies: the primary emotion's genres minus its excluded
    ones, the vote-average floor, and one movie per franchise or poster look. The recommender and the
    quality benchmark both rank through here."""
    colours = mood_colours(emotion, settings.primary_weight)
    ranked = index.rank(
        colours,
        mood_genres(emotion),
        top_n,
        excluded=mood_excluded(emotion),
        min_vote_average=settings.min_vote_average,
    )
    return colours, ranked


class Recommender:
    """Keeps a PaletteIndex of the store's catalogue up to date and turns moods into picks."""

    def __init__(self, store: Store, settings: RecommenderSettings) -> None:
        self.store = store
        self.settings = settings
        self.index: PaletteIndex | None = None
        self.version: int | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> bool:
        """Rebuild the index when the catalogue version changed (or on first use); True if rebuilt."""
        async with self._lock:
            version = await catalogue_version(self.store)
            if self.index is not None and version == self.version:
                return False
            # Read the version before the movies: a change in between only causes one more rebuild.
            builder = PaletteBuilder()
            batch: list[dict[str, Any]] = []
            async for doc in self.store.movies.find({"palette.0": {"$exists": True}}, _INDEX_FIELDS):
                batch.append(doc)
                if len(batch) == PaletteBuilder.BATCH:
                    await asyncio.to_thread(builder.add, batch)
                    batch = []
            await asyncio.to_thread(builder.add, batch)
            self.index = await asyncio.to_thread(builder.finish)
            self.version = version
            log.info("palette index: %d movies (catalogue version %d)", len(self.index), version)
            return True

    async def recommend(
        self, emotion: EmotionResult, top_n: int | None = None
    ) -> tuple[tuple[MoodColour, ...], list[Recommendation]]:
        """The mood's colours and the top_n (default: settings.top_n) movies for them, best first."""
        n = self.settings.top_n if top_n is None else top_n
        if not 1 <= n <= 100:
            raise ValueError(f"top_n must be between 1 and 100 (got {n})")
        await self.refresh()
        index = self.index
        assert index is not None
        colours, ranked = await asyncio.to_thread(rank_mood, index, emotion, self.settings, n)
        if not ranked:
            return colours, []
        ids = [r.tmdb_id for r in ranked]
        cursor = self.store.movies.find({"tmdb_id": {"$in": ids}}, _DISPLAY_FIELDS)
        docs = {d["tmdb_id"]: d async for d in cursor}
        # A movie deleted since the index was built is simply left out.
        return colours, [recommendation(docs[r.tmdb_id], r, colours) for r in ranked if r.tmdb_id in docs]
