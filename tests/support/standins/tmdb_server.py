"""A stand-in for TMDB v3 and its image CDN on 127.0.0.1, built from the offline movie data.

It answers in TMDB's documented response shapes:
- GET /3/configuration: `images.secure_base_url` points at this server's /t/p/;
- GET /3/discover/movie: honours language, sort_by=popularity.desc, watch_region +
  with_watch_monetization_types, vote_average.gte and vote_count.gte; 20 results a page;
- GET /3/movie/{id}?language=..&append_to_response=translations: details with localised genre names
  (Korean for ko-KR, as TMDB sends them), runtime, imdb_id, release_date, poster_path, translations;
- GET /3/movie/{id}/watch/providers: per-region flatrate/rent/buy offers;
- GET /t/p/{size}/{file}.jpg: the real poster JPEG from /work/shared/data/movies/posters;
- errors as {"success": false, "status_code": n, "status_message": "..."} (401, 404, 429, 500).
Auth: `api_key` query parameter (v3) or `Authorization: Bearer` (v4 read-access token).

Popularity "drifts" while a crawl runs on the real service, so pages overlap; here each page starts
`overlap` results before the previous page ended, which makes the same movie show up on two pages.
Faults are injected on purpose: a 429 with Retry-After, a 500, posters missing from the CDN and
movies that are gone (404). `hold_page` makes details of the movies first listed on a page wait until
`release()`, so a test can kill a crawler while it is in the middle of that page.

Run by hand: `python -m tests.support.standins.tmdb_server [--port 8765] [--limit 400]`, then
`TMDB_API_KEY=standin-v3-key moodreel crawl tmdb --api-base http://127.0.0.1:8765/3`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.paths import SHARED_DATA

DEFAULT_MOVIES = SHARED_DATA / "movies"
API_KEY = "standin-v3-key"
READ_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJzdGFuZGluIn0.c3RhbmRpbi1zaWduYXR1cmU"
PAGE_SIZE = 20

# TMDB's movie genres: id, English name, Korean name (what ko-KR responses carry).
GENRES: list[tuple[int, str, str]] = [
    (28, "Action", "액션"),
    (12, "Adventure", "모험"),
    (16, "Animation", "애니메이션"),
    (35, "Comedy", "코미디"),
    (80, "Crime", "범죄"),
    (99, "Documentary", "다큐멘터리"),
    (18, "Drama", "드라마"),
    (10751, "Family", "가족"),
    (14, "Fantasy", "판타지"),
    (36, "History", "역사"),
    (27, "Horror", "공포"),
    (10402, "Music", "음악"),
    (9648, "Mystery", "미스터리"),
    (10749, "Romance", "로맨스"),
    (878, "Science Fiction", "SF"),
    (10770, "TV Movie", "TV 영화"),
    (53, "Thriller", "스릴러"),
    (10752, "War", "전쟁"),
    (37, "Western", "서부"),
]
GENRE_ID = {en: gid for gid, en, _ in GENRES}
GENRE_KO = {gid: ko for gid, _, ko in GENRES}

# (provider_id, name, display_priority) of streaming services offered in Korea.
KR_PROVIDERS = [(8, "Netflix", 4), (97, "Watcha", 7), (337, "Disney Plus", 9), (356, "wavve", 12)]
RENT_PROVIDERS = [(3, "Google Play Movies", 15), (2, "Apple TV", 16)]


@dataclass(frozen=True)
class StandinMovie:
    tmdb_id: int
    imdb_id: str | None
    title: str
    title_ko: str | None
    original_title: str
    original_language: str
    year: int | None
    genres: tuple[str, ...]
    overview: str
    popularity: float
    vote_average: float
    vote_count: int
    poster_file: Path | None

    def _h(self, salt: str) -> int:
        return int(hashlib.sha256(f"{salt}:{self.tmdb_id}".encode()).hexdigest(), 16)

    @property
    def poster_path(self) -> str | None:
        if self.poster_file is None:
            return None
        return "/" + hashlib.sha1(f"poster:{self.tmdb_id}".encode()).hexdigest()[:27] + ".jpg"

    @property
    def runtime(self) -> int:
        return 85 + self._h("runtime") % 70

    @property
    def kr_flatrate(self) -> list[tuple[int, str, int]]:
        """One in five movies streams nowhere in Korea (rent/buy only), so discover must drop it."""
        if self._h("kr") % 5 == 0:
            return []
        n = 1 + self._h("n") % 2
        start = self._h("which") % len(KR_PROVIDERS)
        return [KR_PROVIDERS[(start + i) % len(KR_PROVIDERS)] for i in range(n)]

    @property
    def has_english_translation(self) -> bool:
        """Some foreign films lack an en translation: the crawler then asks for en-US details."""
        return self.original_language == "en" or self._h("en") % 4 != 0


def load_movies(movies_dir: Path = DEFAULT_MOVIES, limit: int | None = None) -> list[StandinMovie]:
    out: list[StandinMovie] = []
    with (movies_dir / "movies.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            poster = movies_dir / d["poster"] if d.get("poster") else None
            out.append(
                StandinMovie(
                    tmdb_id=int(d["tmdb_id"]),
                    imdb_id=d.get("imdb_id"),
                    title=d["title"],
                    title_ko=d.get("title_ko"),
                    original_title=d.get("original_title") or d["title"],
                    original_language=d.get("original_language") or "en",
                    year=d.get("year"),
                    genres=tuple(d.get("genres") or ()),
                    overview=d.get("overview") or "",
                    popularity=float(d.get("popularity") or 0),
                    vote_average=float(d.get("vote_average") or 0),
                    vote_count=int(d.get("vote_count") or 0),
                    poster_file=poster if poster and poster.exists() else None,
                )
            )
            if limit and len(out) >= limit:
                break
    return out


@dataclass
class Faults:
    throttle_details_request: int | None = 5  # this details request (1-based count) gets a 429, once
    retry_after: int = 1
    error_discover_page: int | None = 2  # the first request for this page gets a 500
    missing_posters: frozenset[int] = frozenset()  # tmdb ids whose poster the CDN 404s
    gone_movies: frozenset[int] = frozenset()  # tmdb ids whose details 404


@dataclass(frozen=True)
class Hit:
    kind: str
    key: str
    status: int
    at: float
    params: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"success": False, "status_code": code, "status_message": message}
    return web.json_response(body, status=status, headers=headers)


class TmdbStandin:
    def __init__(
        self,
        movies: list[StandinMovie],
        *,
        overlap: int = 4,
        faults: Faults | None = None,
        api_key: str = API_KEY,
        read_token: str = READ_TOKEN,
    ) -> None:
        self.movies = {m.tmdb_id: m for m in movies}
        self.by_poster = {m.poster_path: m for m in movies if m.poster_path}
        self.overlap = overlap
        self.faults = faults or Faults()
        self.api_key = api_key
        self.read_token = read_token
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._details_count = 0
        self._throttled = False
        self._errored_pages: set[int] = set()
        self.page_served: dict[int, threading.Event] = {}
        self.hold_page: int | None = None
        self.held = 0  # details requests that arrived while their page was held
        self._released = threading.Event()

    # --- what a test asks -----------------------------------------------------------------------

    def discoverable(self, params: dict[str, str] | None = None) -> list[StandinMovie]:
        """Movies discover lists with the crawler's default filters, most popular first."""
        p = params or {
            "watch_region": "KR",
            "with_watch_monetization_types": "flatrate",
            "vote_average.gte": "6",
            "vote_count.gte": "200",
        }
        return self._filter(p)

    def page_of(self, page: int, listed: list[StandinMovie]) -> list[StandinMovie]:
        step = PAGE_SIZE - self.overlap
        start = (page - 1) * step
        return listed[start : start + PAGE_SIZE]

    def total_pages(self, n: int) -> int:
        step = PAGE_SIZE - self.overlap
        return max(1, math.ceil(max(0, n - self.overlap) / step))

    def first_page(self, tmdb_id: int) -> int | None:
        listed = self.discoverable()
        for page in range(1, self.total_pages(len(listed)) + 1):
            if any(m.tmdb_id == tmdb_id for m in self.page_of(page, listed)):
                return page
        return None

    def wait_for_page(self, page: int, timeout: float) -> bool:
        with self._lock:
            event = self.page_served.setdefault(page, threading.Event())
        return event.wait(timeout)

    def release(self) -> None:
        self._released.set()

    def count(self, kind: str, key: str | None = None, status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for h in self.hits
                if h.kind == kind and (key is None or h.key == key) and (status is None or h.status == status)
            )

    # --- the application ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/3/configuration", self._configuration)
        app.router.add_get("/3/discover/movie", self._discover)
        app.router.add_get("/3/movie/{id}", self._details)
        app.router.add_get("/3/movie/{id}/watch/providers", self._providers)
        app.router.add_get("/t/p/{size}/{file}", self._image)
        return app

    def _log(self, kind: str, key: str, status: int, request: web.Request) -> None:
        params = {k: v for k, v in request.query.items() if k != "api_key"}
        with self._lock:
            self.hits.append(Hit(kind, key, status, time.monotonic(), params))

    def _authorised(self, request: web.Request) -> bool:
        if request.query.get("api_key") == self.api_key:
            return True
        return request.headers.get("Authorization", "") == f"Bearer {self.read_token}"

    def _unauthorised(self, kind: str, request: web.Request) -> web.Response:
        self._log(kind, "", 401, request)
        return _error(401, 7, "Invalid API key: You must be granted a valid key.")

    async def _configuration(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised("configuration", request)
        self._log("configuration", "", 200, request)
        base = f"http://{request.host}/t/p/"
        return web.json_response(
            {
                "images": {
                    "base_url": base,
                    "secure_base_url": base,
                    "backdrop_sizes": ["w300", "w780", "w1280", "original"],
                    "logo_sizes": ["w45", "w92", "w154", "w185", "w300", "w500", "original"],
                    "poster_sizes": ["w92", "w154", "w185", "w342", "w500", "w780", "original"],
                    "profile_sizes": ["w45", "w185", "h632", "original"],
                    "still_sizes": ["w92", "w185", "w300", "original"],
                },
                "change_keys": [
                    "adult",
                    "genres",
                    "images",
                    "overview",
                    "poster_path",
                    "title",
                    "translations",
                ],
            }
        )

    def _filter(self, q: dict[str, str]) -> list[StandinMovie]:
        region = q.get("watch_region", "")
        kinds = [k for k in q.get("with_watch_monetization_types", "").replace(",", "|").split("|") if k]
        min_avg = float(q.get("vote_average.gte", "0") or 0)
        min_count = int(float(q.get("vote_count.gte", "0") or 0))
        listed = [m for m in self.movies.values() if m.vote_average >= min_avg and m.vote_count >= min_count]
        if region and kinds:
            listed = [m for m in listed if region == "KR" and "flatrate" in kinds and m.kr_flatrate]
        if q.get("sort_by", "popularity.desc") == "popularity.desc":
            listed.sort(key=lambda m: (-m.popularity, m.tmdb_id))
        return listed

    async def _discover(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised("discover", request)
        q = dict(request.query)
        try:
            page = int(q.get("page", "1"))
        except ValueError:
            page = 0
        if not 1 <= page <= 500:
            self._log("discover", str(page), 400, request)
            return _error(
                400, 22, "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer."
            )
        with self._lock:
            first_try = page not in self._errored_pages
            if self.faults.error_discover_page == page and first_try:
                self._errored_pages.add(page)
                failing = True
            else:
                failing = False
            event = self.page_served.setdefault(page, threading.Event())
        if failing:
            self._log("discover", str(page), 500, request)
            return _error(500, 11, "Internal error: Something went wrong, contact TMDB.")
        listed = self._filter(q)
        ko = q.get("language", "en-US").startswith("ko")
        results = [self._summary(m, ko) for m in self.page_of(page, listed)]
        self._log("discover", str(page), 200, request)
        event.set()
        return web.json_response(
            {
                "page": page,
                "results": results,
                "total_pages": self.total_pages(len(listed)),
                "total_results": len(listed),
            }
        )

    def _summary(self, m: StandinMovie, ko: bool) -> dict[str, Any]:
        return {
            "adult": False,
            "backdrop_path": None,
            "genre_ids": [GENRE_ID[g] for g in m.genres if g in GENRE_ID],
            "id": m.tmdb_id,
            "original_language": m.original_language,
            "original_title": m.original_title,
            "overview": self._overview(m, ko),
            "popularity": m.popularity,
            "poster_path": m.poster_path,
            "release_date": f"{m.year}-06-15" if m.year else "",
            "title": (m.title_ko or m.title) if ko else m.title,
            "video": False,
            "vote_average": m.vote_average,
            "vote_count": m.vote_count,
        }

    @staticmethod
    def _overview(m: StandinMovie, ko: bool) -> str:
        return f"{m.title_ko or m.title}: 한국어 줄거리입니다." if ko else m.overview

    async def _details(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised("details", request)
        key = request.match_info["id"]
        with self._lock:
            self._details_count += 1
            throttle = (
                not self._throttled
                and self.faults.throttle_details_request is not None
                and self._details_count >= self.faults.throttle_details_request
            )
            if throttle:
                self._throttled = True
        if throttle:
            self._log("details", key, 429, request)
            return _error(
                429,
                25,
                "Your request count (41) is over the allowed limit of (40).",
                {"Retry-After": str(self.faults.retry_after)},
            )
        movie = self.movies.get(int(key)) if key.isdigit() else None
        if movie is None or movie.tmdb_id in self.faults.gone_movies:
            self._log("details", key, 404, request)
            return _error(404, 34, "The resource you requested could not be found.")
        if self.hold_page is not None and self.first_page(movie.tmdb_id) == self.hold_page:
            with self._lock:
                self.held += 1
            while not self._released.is_set():
                await asyncio.sleep(0.02)
        lang = request.query.get("language", "en-US")
        ko = lang.startswith("ko")
        body: dict[str, Any] = {
            **self._summary(movie, ko),
            "belongs_to_collection": None,
            "budget": 0,
            "genres": [
                {"id": GENRE_ID[g], "name": GENRE_KO[GENRE_ID[g]] if ko else g}
                for g in movie.genres
                if g in GENRE_ID
            ],
            "homepage": "",
            "imdb_id": movie.imdb_id,
            "origin_country": [],
            "production_companies": [],
            "production_countries": [],
            "revenue": 0,
            "runtime": movie.runtime,
            "spoken_languages": [],
            "status": "Released",
            "tagline": "",
        }
        body.pop("genre_ids")
        append = request.query.get("append_to_response", "").split(",")
        if "translations" in append:
            body["translations"] = {"translations": self._translations(movie)}
        self._log("details", key, 200, request)
        return web.json_response(body)

    def _translations(self, m: StandinMovie) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if m.has_english_translation:
            # TMDB leaves the title of the original-language translation empty.
            title = "" if m.original_language == "en" else m.title
            out.append(
                {
                    "iso_3166_1": "US",
                    "iso_639_1": "en",
                    "name": "English",
                    "english_name": "English",
                    "data": {
                        "homepage": "",
                        "overview": m.overview,
                        "runtime": m.runtime,
                        "tagline": "",
                        "title": title,
                    },
                }
            )
        if m.title_ko:
            out.append(
                {
                    "iso_3166_1": "KR",
                    "iso_639_1": "ko",
                    "name": "한국어/조선말",
                    "english_name": "Korean",
                    "data": {
                        "homepage": "",
                        "overview": self._overview(m, True),
                        "runtime": m.runtime,
                        "tagline": "",
                        "title": m.title_ko,
                    },
                }
            )
        return out

    async def _providers(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised("providers", request)
        key = request.match_info["id"]
        movie = self.movies.get(int(key)) if key.isdigit() else None
        if movie is None:
            self._log("providers", key, 404, request)
            return _error(404, 34, "The resource you requested could not be found.")

        def offers(items: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
            return [
                {
                    "logo_path": f"/logo{pid}.jpg",
                    "provider_id": pid,
                    "provider_name": name,
                    "display_priority": prio,
                }
                for pid, name, prio in items
            ]

        link = f"https://www.themoviedb.org/movie/{movie.tmdb_id}/watch?locale=KR"
        kr: dict[str, Any] = {"link": link, "rent": offers(RENT_PROVIDERS), "buy": offers(RENT_PROVIDERS[:1])}
        if movie.kr_flatrate:
            kr["flatrate"] = offers(movie.kr_flatrate)
        us = {"link": link.replace("KR", "US"), "flatrate": offers([(15, "Hulu", 3)])}
        self._log("providers", key, 200, request)
        return web.json_response({"id": movie.tmdb_id, "results": {"KR": kr, "US": us}})

    async def _image(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["file"]
        movie = self.by_poster.get(path)
        if movie is None or movie.tmdb_id in self.faults.missing_posters or movie.poster_file is None:
            self._log("image", path, 404, request)
            return web.Response(status=404, text="Not Found")
        self._log("image", path, 200, request)
        return web.Response(body=movie.poster_file.read_bytes(), content_type="image/jpeg")


def main() -> None:
    from tests.support.standins.threaded_server import ThreadedServer

    parser = argparse.ArgumentParser(description="Serve the TMDB stand-in on 127.0.0.1 until interrupted.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--limit", type=int, default=400, help="movies to load from movies.jsonl")
    parser.add_argument("--movies", type=Path, default=DEFAULT_MOVIES, help="folder with movies.jsonl")
    parser.add_argument("--faults", action="store_true", help="inject the 429 and the 500")
    args = parser.parse_args()
    faults = Faults() if args.faults else Faults(throttle_details_request=None, error_discover_page=None)
    standin = TmdbStandin(load_movies(args.movies, args.limit), faults=faults)
    with ThreadedServer(standin.app, args.port) as server:
        print(f"{server.url}/3  (TMDB_API_KEY={API_KEY})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
