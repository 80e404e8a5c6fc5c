"""Turn TMDB responses into MoodReel movie documents (see the movie contract in the README).

The crawl asks TMDB in ko-KR, so names arrive in Korean. Genres are mapped back to TMDB's English names
through TMDB's fixed genre-id table, because the recommender's genre table uses English names; the
English title and overview come from the `translations` appended to the details response.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from core.catalogue.genres import TMDB_GENRE_IDS

POSTER_SIZE = "w342"


def discover_filters(
    *,
    language: str,
    watch_region: str,
    monetization: str,
    vote_average_gte: float,
    vote_count_gte: int,
) -> dict[str, str]:
    """Query parameters of GET /discover/movie, as strings so they fingerprint the crawl stably."""
    return {
        "language": language,
        "sort_by": "popularity.desc",
        "include_adult": "false",
        "include_video": "false",
        "watch_region": watch_region,
        "with_watch_monetization_types": monetization,
        "vote_average.gte": f"{vote_average_gte:g}",
        "vote_count.gte": str(int(vote_count_gte)),
    }


def genre_names(genres: Iterable[dict[str, Any]]) -> list[str]:
    """English names for TMDB genre objects; an id TMDB adds later keeps the name it came with."""
    out: list[str] = []
    for g in genres:
        name = TMDB_GENRE_IDS.get(int(g.get("id", -1)), str(g.get("name") or "").strip())
        if name and name not in out:
            out.append(name)
    return out


def _translation(details: dict[str, Any], language: str, country: str) -> dict[str, Any] | None:
    """The translation for `language`, preferring `country`; TMDB lists one per language-country pair."""
    items = (details.get("translations") or {}).get("translations") or []
    matches = [t for t in items if t.get("iso_639_1") == language]
    matches.sort(key=lambda t: t.get("iso_3166_1") != country)
    for t in matches:
        if isinstance(t.get("data"), dict):
            return t["data"]
    return None


def english_title(details: dict[str, Any]) -> str | None:
    """The en-US title; TMDB leaves a translation's title empty when it equals the original title."""
    data = _translation(details, "en", "US") or {}
    title = str(data.get("title") or "").strip()
    if title:
        return title
    if details.get("original_language") == "en":
        return str(details.get("original_title") or "").strip() or None
    return None


def korean_title(details: dict[str, Any]) -> str | None:
    data = _translation(details, "ko", "KR") or {}
    title = str(data.get("title") or "").strip()
    if title:
        return title
    if details.get("original_language") == "ko":
        return str(details.get("original_title") or "").strip() or None
    return None


def english_overview(details: dict[str, Any]) -> str:
    data = _translation(details, "en", "US") or {}
    return str(data.get("overview") or "").strip()


def release_year(release_date: Any) -> int | None:
    text = str(release_date or "")
    try:
        return dt.date.fromisoformat(text[:10]).year
    except ValueError:
        return None


def provider_names(providers: dict[str, Any], region: str, monetization: str) -> list[str]:
    """Provider names in TMDB's display order for the region's monetisation types (e.g. "flatrate")."""
    region_data = (providers.get("results") or {}).get(region) or {}
    kinds = [k for k in monetization.replace(",", "|").split("|") if k]
    offers: list[dict[str, Any]] = []
    for kind in kinds:
        offers.extend(region_data.get(kind) or [])
    offers.sort(key=lambda p: (p.get("display_priority", 999), str(p.get("provider_name", ""))))
    names: list[str] = []
    for p in offers:
        name = str(p.get("provider_name") or "").strip()
        if name and name not in names:
            names.append(name)
    return names


def poster_url(image_base: str, poster_path: str | None, size: str = POSTER_SIZE) -> str | None:
    if not poster_path:
        return None
    return f"{image_base.rstrip('/')}/{size}{poster_path}"


def movie_document(
    details: dict[str, Any],
    providers: dict[str, Any],
    *,
    title_en: str,
    overview_en: str = "",
    region: str,
    monetization: str,
    image_base: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A movie document without `palette` (added once the poster is read) and without `watcha`."""
    overview_ko = str(details.get("overview") or "").strip()
    runtime = details.get("runtime")
    return {
        "tmdb_id": int(details["id"]),
        "imdb_id": details.get("imdb_id") or None,
        "title": title_en,
        "title_ko": korean_title(details),
        "original_title": str(details.get("original_title") or title_en),
        "original_language": details.get("original_language") or None,
        "year": release_year(details.get("release_date")),
        "genres": genre_names(details.get("genres") or []),
        "overview": overview_en or english_overview(details) or overview_ko,
        "overview_ko": overview_ko or None,
        "popularity": float(details.get("popularity") or 0.0),
        "vote_average": float(details.get("vote_average") or 0.0),
        "vote_count": int(details.get("vote_count") or 0),
        "runtime": int(runtime) if runtime else None,
        "poster_path": details.get("poster_path") or None,
        "poster_url": poster_url(image_base, details.get("poster_path")),
        "providers": provider_names(providers, region, monetization),
        "source": "tmdb",
        "updated_at": now or dt.datetime.now(dt.UTC),
    }
