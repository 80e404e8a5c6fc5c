"""The recommender against a real mongod: ranking, genre filter, ties, index rebuilds, the CLI."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.catalogue.genres import EMOTION_GENRES, TMDB_GENRES, excluded_for, genres_for, mood_genres
from core.catalogue.index import SHORTLIST_MIN, PaletteIndex, Ranked
from core.catalogue.movies import set_movie_fields, upsert_movies
from core.catalogue.recommender import Recommender
from core.colour.psychology import colour_name, emotion_from_names, mood_colours
from core.colour.space import srgb_to_lab
from core.config import Settings
from core.present.reasons import reason_text
from core.present.words import say
from core.storage.store import Store
from core.values.emotions import EMOTIONS
from core.values.results import MoodColour
from tests.support.paths import ROOT

HAPPY = emotion_from_names("happy", ["surprise", "neutral"])


def _sample(settings: Settings, n: int | None = None) -> list[dict[str, Any]]:
    docs = []
    with gzip.open(settings.resolve(settings.catalogue.sample), "rt", encoding="utf-8") as fh:
        for line in fh:
            docs.append(json.loads(line))
            if n is not None and len(docs) == n:
                break
    return docs


def _movie(
    tmdb_id: int, colours: list[tuple[tuple[int, int, int], float]], genres: list[str], **extra: Any
) -> dict[str, Any]:
    palette = [
        {"rgb": list(rgb), "lab": [round(float(v), 3) for v in srgb_to_lab(rgb)], "share": share}
        for rgb, share in colours
    ]
    doc = {
        "tmdb_id": tmdb_id,
        "title": f"Movie {tmdb_id}",
        "title_ko": None,
        "year": 2000,
        "genres": genres,
        "popularity": 1.0,
        "vote_count": 100,
        "vote_average": 7.0,
        "palette": palette,
        "source": "dataset",
    }
    return doc | extra


def _palette_of(colours: tuple[MoodColour, ...]) -> list[tuple[tuple[int, int, int], float]]:
    return [(c.rgb, c.weight) for c in colours]


def test_genre_table_uses_tmdb_names_and_explains_each_choice(shared_data: Path) -> None:
    assert set(EMOTION_GENRES) == set(EMOTIONS)
    for rows in EMOTION_GENRES.values():
        assert len(rows) >= 3
        for genre, why in rows:
            assert genre in TMDB_GENRES and len(why) > 20
    with (shared_data / "movies" / "movies.jsonl").open(encoding="utf-8") as fh:
        seen = {g for line in fh for g in json.loads(line)["genres"]}
    assert seen <= TMDB_GENRES  # the catalogue speaks the same genre names
    assert mood_genres(HAPPY) == genres_for("happy")


def test_a_poster_without_matches_says_so_in_the_chat_language() -> None:
    colours = mood_colours(emotion_from_names("happy", ("sad", "neutral")))
    lonely = Ranked(tmdb_id=1, score=0.0, matches=(), poster_rgb=((10, 200, 30),))
    assert reason_text(lonely, colours) == say("en", "reason.no_match")
    assert (
        reason_text(lonely, colours, locale="ko")
        == say("ko", "reason.no_match")
        != say("en", "reason.no_match")
    )


async def test_poster_made_of_the_mood_colours_ranks_first(store: Store, settings: Settings) -> None:
    await upsert_movies(store, _sample(settings, 150))
    colours = mood_colours(HAPPY, settings.recommender.primary_weight)
    perfect = _movie(
        9_000_001, _palette_of(colours), ["Comedy"], popularity=0.01, vote_count=1, title="Perfect"
    )
    await upsert_movies(store, [perfect])
    recommender = Recommender(store, settings.recommender)
    got_colours, picks = await recommender.recommend(HAPPY, top_n=5)
    assert got_colours == colours
    assert len(picks) == 5
    first = picks[0]
    assert first.tmdb_id == 9_000_001 and first.title == "Perfect"
    assert first.score == pytest.approx(100.0, abs=0.05)
    assert all(0 <= p.score < first.score for p in picks[1:])
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)
    # The reason names the mood colour met and the poster colour that met it.
    assert (
        "sunny yellow for Happy" in first.reason and "#ffd23f" in first.reason and "ΔE00 0.0" in first.reason
    )
    # ... in Korean too, with the colour table's Korean names.
    assert first.reason_ko is not None and first.reason_ko.startswith("포스터의")
    assert f"행복의 {colour_name(colours[0], 'ko')}: 거의 같은 색" in first.reason_ko
    assert "#ffd23f" in first.reason_ko and "ΔE00 0.0" in first.reason_ko
    assert first.palette == tuple(c.hex for c in sorted(colours, key=lambda c: -c.weight))
    assert first.tmdb_url == "https://www.themoviedb.org/movie/9000001"


async def test_only_movies_in_the_moods_genres(store: Store, settings: Settings) -> None:
    colours = mood_colours(HAPPY, settings.recommender.primary_weight)
    exact = _palette_of(colours)
    await upsert_movies(
        store,
        [
            _movie(1, exact, ["Horror"], popularity=99.0),  # perfect colours, wrong genre
            _movie(2, exact, ["War", "Drama"], popularity=98.0),
            _movie(3, [((90, 90, 90), 1.0)], ["Comedy"]),
            _movie(4, [((20, 20, 200), 0.7), ((250, 250, 250), 0.3)], ["Music"]),
            _movie(5, exact, ["Comedy", "Horror"], popularity=97.0),  # in a genre happy excludes
        ],
    )
    _, picks = await Recommender(store, settings.recommender).recommend(HAPPY, top_n=10)
    assert {p.tmdb_id for p in picks} == {3, 4}
    allowed = set(genres_for("happy"))
    assert all(allowed & set(p.genres) for p in picks)
    assert not any(set(excluded_for("happy")) & set(p.genres) for p in picks)


async def test_equal_scores_break_ties_by_popularity_then_votes(store: Store, settings: Settings) -> None:
    palette = [((200, 60, 50), 0.6), ((30, 30, 30), 0.4)]
    movies = [
        _movie(10, palette, ["Action"], popularity=5.0, vote_count=10),
        _movie(11, palette, ["Action"], popularity=5.0, vote_count=50),
        _movie(12, palette, ["Action"], popularity=9.0, vote_count=1),
        _movie(13, palette, ["Action"], popularity=5.0, vote_count=50),  # same as 11: lower id first
    ]
    await upsert_movies(store, list(reversed(movies)))
    recommender = Recommender(store, settings.recommender)
    angry = emotion_from_names("angry")
    _, first = await recommender.recommend(angry, top_n=4)
    assert len({p.score for p in first}) == 1
    assert [p.tmdb_id for p in first] == [12, 11, 13, 10]
    _, again = await recommender.recommend(angry, top_n=4)
    assert [p.tmdb_id for p in again] == [12, 11, 13, 10]


async def test_index_is_rebuilt_when_the_catalogue_changes(store: Store, settings: Settings) -> None:
    await upsert_movies(store, _sample(settings, 40))
    recommender = Recommender(store, settings.recommender)
    assert await recommender.refresh() is True
    assert await recommender.refresh() is False  # nothing changed
    assert recommender.index is not None and len(recommender.index) == 40
    sad = emotion_from_names("sad")
    colours = mood_colours(sad, settings.recommender.primary_weight)
    _, before = await recommender.recommend(sad, top_n=3)
    assert 777 not in [p.tmdb_id for p in before]

    await upsert_movies(store, [_movie(777, _palette_of(colours), ["Drama"], title="New arrival")])
    _, after = await recommender.recommend(sad, top_n=3)  # recommend() refreshes by itself
    assert after[0].tmdb_id == 777 and len(recommender.index) == 41
    assert await recommender.refresh() is False

    # A changed palette is seen too: the newcomer's poster turns yellow and drops out of the top.
    await set_movie_fields(store, 777, {"palette": _movie(777, [((255, 230, 0), 1.0)], [])["palette"]})
    assert await recommender.refresh() is True
    _, changed = await recommender.recommend(sad, top_n=3)
    assert 777 not in [p.tmdb_id for p in changed]


async def test_recommendation_links_and_fields(store: Store, settings: Settings) -> None:
    colours = mood_colours(HAPPY, settings.recommender.primary_weight)
    await upsert_movies(
        store,
        [
            _movie(
                42,
                _palette_of(colours),
                ["Comedy"],
                title="Linked",
                title_ko="링크",
                poster_path="/abc.jpg",
                watcha={
                    "url": "https://pedia.watcha.com/ko-KR/contents/m5abc",
                    "title": "링크",
                    "reviews": [],
                },
            ),
            _movie(43, [((255, 210, 63), 1.0)], ["Comedy"], poster_url=None),
        ],
    )
    _, picks = await Recommender(store, settings.recommender).recommend(HAPPY, top_n=2)
    linked, plain = picks
    assert linked.poster_url == "https://image.tmdb.org/t/p/w342/abc.jpg"
    assert linked.watcha_url == "https://pedia.watcha.com/ko-KR/contents/m5abc"
    assert linked.title_ko == "링크" and linked.genres == ("Comedy",) and linked.year == 2000
    assert plain.poster_url is None and plain.watcha_url is None and plain.palette == ("#ffd23f",)


async def test_empty_catalogue_and_bad_input(store: Store, settings: Settings) -> None:
    recommender = Recommender(store, settings.recommender)
    colours, picks = await recommender.recommend(HAPPY)
    assert picks == [] and len(colours) == 5
    with pytest.raises(ValueError, match="top_n"):
        await recommender.recommend(HAPPY, top_n=0)
    bad: list[dict[str, Any]] = [
        {"tmdb_id": 1, "palette": [{"rgb": [300, 0, 0], "share": 1}]},
        {"tmdb_id": 2, "palette": [{"rgb": [1, 2, 3], "share": 0}]},
        {"tmdb_id": "3", "palette": [{"rgb": [1, 2, 3], "share": 1}]},
        _movie(4, [((10, 20, 30), 2.0), ((200, 200, 200), 2.0)], ["Drama"]),
    ]
    index = PaletteIndex.build(bad)
    assert len(index) == 1 and index.skipped == 3
    assert float(index.shares[:, 0].sum()) == pytest.approx(1.0)  # shares normalised


def test_shortlist_gives_the_same_top_ten_as_scoring_everything(settings: Settings) -> None:
    index = PaletteIndex.build(_sample(settings))
    for name in EMOTIONS:
        emotion = emotion_from_names(name)
        colours = mood_colours(emotion)
        genres = mood_genres(emotion)
        assert len(index.candidates(genres)) > SHORTLIST_MIN  # the coarse pass really runs
        fast = index.rank(colours, genres, 10)
        full = index.rank(colours, genres, 10, exhaustive=True)
        assert [(r.tmdb_id, r.score) for r in fast] == [(r.tmdb_id, r.score) for r in full], name


def test_cli_prints_json_and_a_table(
    store: Store, settings: Settings, mongo_uri: str, tmp_path: Path
) -> None:
    env = os.environ | {
        "MONGODB_URI": mongo_uri,
        "MOODREEL_MONGODB_DATABASE": settings.mongodb.database,
        "MOODREEL_SECRET": "test-secret",
    }
    cmd = [sys.executable, "-m", "cli.main", "recommend", "--primary", "happy"]
    args = ["--secondary", "surprise", "--secondary", "neutral", "--top", "4"]
    out = subprocess.run(
        [*cmd, *args, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    picks = json.loads(out.stdout.strip().splitlines()[-1])  # the empty store got the sample catalogue
    assert len(picks) == 4
    for pick in picks:
        assert {"tmdb_id", "title", "year", "genres", "score"} <= set(pick)
        assert set(pick["genres"]) & set(genres_for("happy"))
    assert [p["score"] for p in picks] == sorted((p["score"] for p in picks), reverse=True)

    sheet = tmp_path / "sheet.png"
    table = subprocess.run(
        [*cmd, *args, "--sheet", str(sheet)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert table.returncode == 0, table.stderr
    assert picks[0]["title"][:20] in table.stdout and "sunny yellow" in table.stdout
    with Image.open(sheet) as image:  # the contact sheet: swatches on the left, four posters beside them
        assert image.format == "PNG" and image.width > 800 and image.height > 300

    bad = subprocess.run([*cmd, "--secondary", "happy"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "must all differ" in bad.stderr
