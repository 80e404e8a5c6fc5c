"""The palette index without a database: what scores, what is left out, and variety among the picks."""

from __future__ import annotations

import gzip
import json
from typing import Any

import numpy as np
import pytest

from core.catalogue.diversity import NEAR_DUPLICATE_DELTA_E, franchise_key, palette_distance
from core.catalogue.genres import (
    EMOTION_GENRES,
    EXCLUDED_GENRES,
    TMDB_GENRES,
    excluded_for,
    genres_for,
    mood_excluded,
    mood_genres,
)
from core.catalogue.index import NO_MATCH_DELTA_E, PaletteIndex
from core.catalogue.recommender import rank_mood
from core.colour.ciede2000 import ciede2000
from core.colour.psychology import emotion_from_names, mood_colours
from core.colour.space import srgb_to_lab
from core.config import CatalogueSettings, RecommenderSettings
from core.values.emotions import EMOTIONS
from tests.support.paths import ROOT

MAGENTA_POSTER = [((222, 36, 138), 0.55), ((20, 20, 24), 0.25), ((240, 240, 240), 0.2)]
GREY_POSTER = [((136, 148, 149), 0.55), ((110, 115, 120), 0.25), ((170, 175, 178), 0.2)]  # #889495 & co


def _doc(tmdb_id: int, colours: list[tuple[tuple[int, int, int], float]], genres: list[str],
         **extra: Any) -> dict[str, Any]:  # fmt: skip
    palette = [{"rgb": list(rgb), "share": share} for rgb, share in colours]
    doc = {"tmdb_id": tmdb_id, "title": f"Movie {tmdb_id}", "genres": genres, "popularity": 1.0,
           "vote_count": 10, "vote_average": 7.0, "palette": palette}  # fmt: skip
    return doc | extra


def _sample() -> list[dict[str, Any]]:
    with gzip.open(ROOT / CatalogueSettings().sample, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.mark.parametrize("strength", [1.0, 0.3, 0.0])
def test_a_vivid_magenta_poster_outranks_a_grey_one_for_surprise(strength: float) -> None:
    surprise = emotion_from_names("surprise", strengths={"surprise": strength})
    grey_popular = _doc(2, GREY_POSTER, ["Science Fiction"], popularity=500.0, vote_count=10_000)
    index = PaletteIndex.build([_doc(1, MAGENTA_POSTER, ["Science Fiction"]), grey_popular])
    colours, ranked = rank_mood(index, surprise, RecommenderSettings(), 2)
    assert [r.tmdb_id for r in ranked] == [1, 2]
    magenta, grey = ranked
    assert magenta.score > 20
    # The greys are far from every vivid surprise colour and from the secondaries' colours: no credit.
    gaps = ciede2000(srgb_to_lab([c for c, _ in GREY_POSTER])[:, None], np.array([c.lab for c in colours]))
    assert gaps.min() > NO_MATCH_DELTA_E
    assert grey.score == 0.0 and grey.matches == ()
    assert magenta.matches[0].mood_index == 0  # the magenta met the vivid magenta first


def test_a_poster_made_of_the_mood_colours_scores_100_and_points_add_up() -> None:
    happy = emotion_from_names("happy")
    colours = mood_colours(happy)
    perfect = _doc(1, [(c.rgb, c.weight) for c in colours], ["Comedy"])
    half = _doc(2, [(colours[0].rgb, 0.5), ((30, 30, 200), 0.5)], ["Comedy"])
    index = PaletteIndex.build([perfect, half])
    scores, points, _ = index.exact_scores(colours, np.arange(2))
    assert scores[0] == pytest.approx(100.0)
    np.testing.assert_allclose(points.sum(axis=(1, 2)), scores)
    # Half a poster of the strongest colour: that colour's full weight and nothing for the others,
    # and the secondaries count for nothing while the primary is only partly met.
    assert scores[1] == pytest.approx(100 * colours[0].weight)


def test_secondary_colours_count_only_as_far_as_the_primary_is_met() -> None:
    surprise = emotion_from_names("surprise", ["happy", "fear"])
    colours = mood_colours(surprise)
    black = next(c for c in colours if c.emotion == "fear")
    all_secondary = _doc(1, [(black.rgb, 1.0)], ["Mystery"])  # only the fear colour, none of surprise's
    index = PaletteIndex.build([all_secondary])
    scores, _, _ = index.exact_scores(colours, np.arange(1))
    assert scores[0] == pytest.approx(0.0)


def test_exclusion_table_is_sourced_and_disjoint_from_the_included_genres() -> None:
    assert set(EXCLUDED_GENRES) == set(EMOTIONS)
    for emotion, rows in EXCLUDED_GENRES.items():
        assert "Horror" in excluded_for(emotion)
        included = {g for g, _ in EMOTION_GENRES[emotion]}
        for genre, why in rows:
            assert genre in TMDB_GENRES and genre not in included and len(why) > 20
    grim = {"Horror", "Thriller", "Crime", "War"}
    assert grim <= set(excluded_for("fear")) and grim <= set(excluded_for("sad"))


def test_a_movie_in_an_included_and_an_excluded_genre_is_left_out() -> None:
    happy = emotion_from_names("happy")
    colours = mood_colours(happy)
    perfect = [(c.rgb, c.weight) for c in colours]
    docs = [
        _doc(1, perfect, ["Comedy", "Horror"], popularity=99.0),
        _doc(2, perfect, ["Family", "War"], popularity=98.0),
        _doc(3, [((90, 90, 90), 1.0)], ["Comedy"]),
        _doc(4, perfect, ["Animation"], vote_average=5.5),
    ]
    index = PaletteIndex.build(docs)
    got = index.candidates(mood_genres(happy), mood_excluded(happy))
    assert sorted(int(index.ids[r]) for r in got) == [3, 4]
    _, ranked = rank_mood(index, happy, RecommenderSettings(), 10)
    assert [r.tmdb_id for r in ranked] == [4, 3]
    _, floored = rank_mood(index, happy, RecommenderSettings(min_vote_average=6.0), 10)
    assert [r.tmdb_id for r in floored] == [3]


def test_no_excluded_genre_ever_appears_on_the_sample_catalogue() -> None:
    docs = _sample()
    genres = {d["tmdb_id"]: set(d["genres"]) for d in docs}
    index = PaletteIndex.build(docs)
    for name in EMOTIONS:
        for strength in (1.0, 0.2):
            emotion = emotion_from_names(name, strengths={name: strength})
            _, ranked = rank_mood(index, emotion, RecommenderSettings(), 100)
            assert len(ranked) == 100
            excluded = set(excluded_for(name))
            for r in ranked:
                assert not genres[r.tmdb_id] & excluded, (name, r.tmdb_id, genres[r.tmdb_id])
                assert genres[r.tmdb_id] & set(genres_for(name))


def test_one_movie_per_franchise_and_no_near_duplicate_palettes() -> None:
    happy = emotion_from_names("happy")
    colours = mood_colours(happy)
    perfect = [(c.rgb, c.weight) for c in colours]
    nearly = [((min(255, r + 1), g, b), w) for (r, g, b), w in perfect]
    other = [(colours[0].rgb, 0.6), ((240, 240, 240), 0.4)]
    docs = [
        _doc(1, perfect, ["Comedy"], title="Toy Story", popularity=9.0),
        _doc(2, perfect, ["Comedy"], title="Toy Story 2", popularity=8.0),  # same franchise
        _doc(3, nearly, ["Comedy"], title="A Different Film", popularity=7.0),  # same colours
        _doc(4, other, ["Comedy"], title="Something Else"),
    ]
    index = PaletteIndex.build(docs)
    _, ranked = rank_mood(index, happy, RecommenderSettings(), 2)
    assert [r.tmdb_id for r in ranked] == [1, 4]
    # With too few different movies, the passed-over ones fill the list, best first.
    _, all_four = rank_mood(index, happy, RecommenderSettings(), 4)
    assert [r.tmdb_id for r in all_four] == [1, 4, 2, 3]
    plain = index.rank(colours, mood_genres(happy), 4, diverse=False)
    assert [r.tmdb_id for r in plain] == [1, 2, 3, 4]


def test_near_duplicate_check_agrees_with_palette_distance() -> None:
    rng = np.random.default_rng(3)
    docs: list[dict[str, Any]] = []
    for i in range(30):
        base = rng.integers(0, 256, (4, 3))
        if i % 3 == 2:  # a near copy of the one before
            base = np.clip(
                np.array([c["rgb"] for c in docs[-1]["palette"]]) + rng.integers(-2, 3, (4, 3)), 0, 255
            )
        shares = rng.dirichlet(np.ones(4))
        colours = [((int(c[0]), int(c[1]), int(c[2])), float(s)) for c, s in zip(base, shares, strict=True)]
        docs.append(_doc(i + 1, colours, ["Drama"]))
    index = PaletteIndex.build(docs)
    rows = np.arange(len(docs))
    near = index._near_duplicates(rows)
    for a in rows:
        for b in rows:
            d = palette_distance(index.lab[a], index.shares[:, a], index.lab[b], index.shares[:, b])
            if abs(d - NEAR_DUPLICATE_DELTA_E) > 0.05:  # float32 against float64 right at the edge
                assert near[a, b] == (d < NEAR_DUPLICATE_DELTA_E), (a, b, d)
    assert near[np.arange(2, 30, 3), np.arange(1, 30, 3)].all()


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Toy Story 3", "toy story"),
        ("Star Wars: Episode I - The Phantom Menace", "star wars"),
        ("Harry Potter and the Chamber of Secrets", "harry potter"),
        ("Beauty and the Beast", "beauty and the beast"),
        ("Friday the 13th Part 2", "friday the 13th"),
        ("The Karate Kid Part II", "karate kid"),
        ("Madagascar 3: Europe's Most Wanted", "madagascar"),
        ("2001: A Space Odyssey", "2001"),
    ],
)
def test_franchise_keys(title: str, key: str) -> None:
    assert franchise_key(title) == key
