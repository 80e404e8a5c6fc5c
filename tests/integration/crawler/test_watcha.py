"""The Watcha crawler: real Selenium and headless Chromium against local Watcha Pedia-like pages."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from cli.main import main
from core.catalogue.movies import get_movie, upsert_movies
from core.config import Settings
from core.storage.store import Store
from crawler.watcha import MISMATCHES, WatchaCrawler, review_report
from crawler.watcha_browser import trailer_url
from crawler.watcha_mapping import MappingError, load_mapping
from crawler.watcha_match import Candidate, decide, normalise_title, years_match
from tests.support.paths import ROOT
from tests.support.standins.threaded_server import ThreadedServer
from tests.support.standins.watcha_site import Entry, WatchaSite

INCEPTION_REVIEWS = (
    ("꿈과 현실의 경계를 무너뜨린 걸작.", 5.0),
    ("팽이는 아직도 돌고 있다.", 4.5),
    ("음악이 다 했다.", None),
    ("두 번 봐야 이해된다.", 4.0),
    ("설정이 치밀하다.", 3.5),
    ("킥이 온다.", 4.5),
    ("놀란 최고작.", 5.0),
)

SITE = [
    Entry(
        "tInc0001", "인셉션", "Inception", 2010, genres="TV", reviews=(("다른 작품", 1.0),)
    ),  # TV, not a movie
    Entry(
        "m5ZlmwA",
        "인셉션",
        "Inception",
        2010,
        genres="액션/SF/스릴러",
        reviews=INCEPTION_REVIEWS,
        stills=4,
        videos=("https://www.youtube.com/watch?v=YoHD9XEInc0", "https://www.youtube.com/watch?v=8hP9D6kZseM"),
    ),
    Entry(
        "mSpid17", "스파이더맨: 홈커밍", "Spider-Man: Homecoming", 2017, reviews=(("즐겁다", 3.5),), stills=1
    ),
    Entry("mOldb04", "올드보이", "올드보이", 2004, country="한국", reviews=(("압도적", 5.0),)),
    Entry("mKing33", "킹콩", "King Kong", 1933, reviews=(("고전", 4.0),)),
    Entry("mKing76", "킹콩", "King Kong", 1976),
    Entry(
        "mKing05",
        "킹콩: 확장판",
        "King Kong: Extended Edition",
        2005,
        reviews=(("피터 잭슨", 4.0),),
        stills=2,
    ),
    Entry("mHeat95", "히트", "Heat", 1995, reviews=(("총격전", 4.5),)),
    Entry("mMeme00", "메멘토", "Memento", 2000, reviews=(("거꾸로", 4.5),)),
    Entry("mPres06", "프레스티지", "The Prestige", 2006),
]

MOVIES = [
    # tmdb_id, English title, Korean title, year, popularity
    (27205, "Inception", "인셉션", 2010, 100.0),
    (315635, "Spider-Man: Homecoming", "스파이더맨: 홈 커밍", 2017, 95.0),
    (670, "Oldboy", "올드보이", 2003, 90.0),
    (254, "King Kong", "킹콩", 2005, 85.0),
    (949, "Heat", None, 1995, 80.0),
    (77, "Memento", "메멘토", 2000, 75.0),
    (1124, "The Prestige", "프레스티지", 2006, 70.0),
    (99999, "A Film Nobody Made", "아무도 만들지 않은 영화", 2001, 65.0),
]


@pytest.fixture
def site() -> Iterator[tuple[WatchaSite, ThreadedServer]]:
    s = WatchaSite(list(SITE), flaky={"mMeme00"}, broken={"mPres06"})
    with ThreadedServer(s.app) as server:
        yield s, server


def watcha_settings(settings: Settings, base_url: str, mapping: Path) -> Settings:
    w = dataclasses.replace(
        settings.watcha, base_url=base_url, delay_seconds=0.0, page_timeout=15.0, mapping_file=str(mapping)
    )
    return dataclasses.replace(settings, watcha=w)


async def seed(store: Store) -> None:
    await upsert_movies(
        store,
        [
            {"tmdb_id": i, "title": en, "original_title": en, "title_ko": ko, "year": y, "popularity": p}
            for i, en, ko, y, p in MOVIES
        ]
        + [
            {"tmdb_id": 5, "title": "Already Done", "year": 1999, "popularity": 500.0, "watcha": {"url": "x"}}
        ],
    )


# --- matching, mapping and links, without a browser --------------------------------------------


def test_titles_normalise_and_years_allow_one_off() -> None:
    assert normalise_title("스파이더맨: 홈 커밍") == normalise_title("스파이더맨 홈커밍")
    assert normalise_title("ＨＥＡＴ") == normalise_title("heat")
    assert normalise_title("Fast & Furious") == normalise_title("Fast and Furious")
    assert normalise_title("킹콩") != normalise_title("킹콩: 확장판")
    assert years_match(2003, 2004) and years_match(2004, 2003) and not years_match(2003, 2005)
    assert not years_match(None, 2003)


def test_decide_prefers_the_closest_year_and_explains_misses() -> None:
    a = Candidate("u/1933", "킹콩", 1933)
    b = Candidate("u/2006", "킹콩", 2006)
    c = Candidate("u/2005", "킹콩: 확장판", 2005)
    assert decide([a, b, c], ["킹콩"], 2005).match == b
    miss = decide([a, c], ["킹콩", "King Kong"], 2005)
    assert miss.match is None and miss.reason == "year differs" and miss.closest == a
    assert decide([c], ["킹콩"], 2005).reason == "title differs"
    assert decide([a], ["Heat"], 1995).reason == "title and year differ"
    assert decide([], ["Heat"], 1995).reason == "no results"


def test_mapping_file_is_validated_with_clear_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("254:\n  url: https://pedia.watcha.com/ko-KR/contents/mKing05\n603:\n  query: 매트릭스\n"
                    "  year: 1999\n12: skip\n", encoding="utf-8")  # fmt: skip
    mapping = load_mapping(good)
    assert (
        mapping[254].url
        and mapping[603].query == "매트릭스"
        and mapping[603].year == 1999
        and mapping[12].skip
    )
    assert load_mapping(tmp_path / "missing.yaml") == {}
    for text, message in [
        ("abc:\n  url: https://x/contents/m1\n", "must be a TMDB id"),
        ("1:\n  url: not-a-url\n", "detail page"),
        ("1:\n  year: nineteen\n", "year must be"),
        ("1:\n  colour: red\n", "unknown field"),
        ("1: maybe\n", "expected `skip`"),
        ("- 1\n", "must map TMDB ids"),
        ("1: [\n", "not valid YAML"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(MappingError, match=message):
            load_mapping(bad)


def test_committed_mapping_file_loads() -> None:
    assert load_mapping(ROOT / "crawler" / "watcha_mapping.yaml") == {}


def test_trailer_links_are_kept_or_decoded() -> None:
    yt = "https://www.youtube.com/watch?v=YoHD9XEInc0"
    assert trailer_url(yt) == yt
    token = base64.urlsafe_b64encode(yt.encode()).decode().rstrip("=")
    assert trailer_url(f"https://pedia.watcha.com/ko-KR/watch/{token}") == yt
    assert trailer_url("https://pedia.watcha.com/ko-KR/contents/m5ZlmwA") is None
    assert trailer_url("") is None


# --- the crawl, with Chromium ------------------------------------------------------------------


async def test_watcha_crawl_matches_records_mismatches_and_uses_the_mapping(
    store: Store,
    settings: Settings,
    mongo_uri: str,
    database_name: str,
    site: tuple[WatchaSite, ThreadedServer],
    tmp_path: Path,
) -> None:
    web, server = site
    await seed(store)
    mapping = tmp_path / "watcha_mapping.yaml"
    cfg = watcha_settings(settings, server.url, mapping)

    # Count stored movies as each search arrives: every movie must be committed before the next starts.
    committed_at_search: list[tuple[str, int]] = []
    sync: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    movies = sync[database_name]["movies"]

    def on_request(kind: str, key: str) -> None:
        if kind == "search":
            committed_at_search.append((key, movies.count_documents({"watcha.reviews": {"$exists": True}})))

    web.on_request = on_request
    try:
        # Run 1: the three most popular movies still without Watcha details.
        first = await WatchaCrawler(store, cfg, limit=3, progress=False).run()
        assert (first.looked_up, first.matched, first.mismatched, first.failed) == (3, 3, 0, 0)
        assert committed_at_search == [("인셉션", 0), ("스파이더맨: 홈 커밍", 1), ("올드보이", 2)]

        inception = await get_movie(store, 27205)
        assert inception is not None
        w = inception["watcha"]
        assert w["url"] == f"{server.url}/ko-KR/contents/m5ZlmwA"  # the movie, not the TV show listed first
        assert (w["title"], w["year"]) == ("인셉션", 2010)
        assert w["reviews"][:3] == [
            {"text": "꿈과 현실의 경계를 무너뜨린 걸작.", "rating": 5.0},
            {"text": "팽이는 아직도 돌고 있다.", "rating": 4.5},
            {"text": "음악이 다 했다.", "rating": None},
        ]
        assert len(w["reviews"]) == 7
        assert w["stills"] == [f"{server.url}/image/v2/still-m5ZlmwA-{i}.jpg" for i in range(1, 5)]
        assert w["trailers"] == [
            "https://www.youtube.com/watch?v=YoHD9XEInc0",
            "https://www.youtube.com/watch?v=8hP9D6kZseM",  # served base64url-wrapped
        ]
        spider = await get_movie(store, 315635)
        oldboy = await get_movie(store, 670)
        assert spider and spider["watcha"]["url"].endswith("/mSpid17")  # "홈 커밍" == "홈커밍"
        assert oldboy and oldboy["watcha"]["year"] == 2004  # one year off is the same movie

        # Run 2: the rest. King Kong's year disagrees, the made-up film is not there, Heat only matches
        # by its original title, Memento's page fails once, The Prestige's always.
        second = await WatchaCrawler(store, cfg, progress=False).run()
        assert (second.looked_up, second.matched, second.mismatched, second.failed, second.recovered) == (
            5, 2, 2, 1, 1,
        )  # fmt: skip
        assert (await get_movie(store, 949) or {})["watcha"]["url"].endswith("/mHeat95")
        assert (await get_movie(store, 77) or {})["watcha"]["reviews"] == [{"text": "거꾸로", "rating": 4.5}]
        assert "watcha" not in (await get_movie(store, 254) or {})
        assert "watcha" not in (await get_movie(store, 1124) or {})
        assert (await get_movie(store, 5) or {})["watcha"] == {"url": "x"}  # done before: not looked up

        kong = await store.db[MISMATCHES].find_one({"_id": 254})
        assert kong is not None and kong["reason"] == "year differs"
        assert kong["closest"]["url"].endswith("/mKing33")
        assert {c["url"].rsplit("/", 1)[-1] for c in kong["candidates"]} == {"mKing33", "mKing76", "mKing05"}
        nobody = await store.db[MISMATCHES].find_one({"_id": 99999})
        assert nobody is not None and nobody["reason"] == "no results"
        assert nobody["queries"] == ["아무도 만들지 않은 영화", "A Film Nobody Made"]
        state = await store.crawl_state.find_one({"_id": "watcha"})
        assert state is not None and state["failed"] == [1124] and "1124" in state["errors"]

        report = await review_report(store)
        assert "254 킹콩 (2005): year differs" in report
        assert f"url: {server.url}/ko-KR/contents/mKing33" in report
        assert "99999: skip" in report and "1124:" in report

        # The reviewer corrects King Kong and marks the made-up film as absent; run 3 uses that.
        mapping.write_text(
            f"254:\n  url: {server.url}/ko-KR/contents/mKing05\n99999: skip\n", encoding="utf-8"
        )
        searches_before = len(web.searches())
        third = await WatchaCrawler(store, cfg, progress=False).run()
        assert (third.looked_up, third.matched, third.skipped, third.failed) == (2, 1, 1, 1)
        assert web.searches()[searches_before] == "프레스티지"  # last run's failure is retried first
        kong_doc = await get_movie(store, 254)
        assert kong_doc and kong_doc["watcha"]["url"].endswith("/mKing05")
        assert kong_doc["watcha"]["reviews"] == [{"text": "피터 잭슨", "rating": 4.0}]
        assert await store.db[MISMATCHES].count_documents({}) == 0
        assert await review_report(store) != "Nothing to review: no mismatches or failures recorded."

    finally:
        sync.close()


async def test_an_unreachable_site_stops_the_run_and_keeps_the_failures(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    await seed(store)
    with ThreadedServer(WatchaSite([]).app) as gone:
        url = gone.url
    # Nothing listens there any more: Chromium shows its own error page, which has no Watcha app.
    cfg = watcha_settings(settings, url, tmp_path / "none.yaml")
    summary = await WatchaCrawler(store, cfg, progress=False, max_failures_in_a_row=3).run()
    assert (summary.looked_up, summary.failed, summary.matched) == (3, 3, 0)
    assert summary.aborted and "3 movies failed in a row" in summary.aborted
    assert "stopped early" in "\n".join(summary.lines())
    state = await store.crawl_state.find_one({"_id": "watcha"})
    assert state is not None and state["failed"] == [27205, 315635, 670]
    assert await store.movies.count_documents({"watcha.reviews": {"$exists": True}}) == 0


def test_watcha_cli_help_and_bad_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["crawl", "watcha", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for words in ("--limit", "--review", "mapping file", "headless Chromium", "within one year"):
        assert words in out
    assert main(["crawl", "watcha", "--limit", "0"]) == 2
    assert "--limit must be 1 or more" in capsys.readouterr().err
