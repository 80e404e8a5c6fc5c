"""bench.quality's measures on a tiny hand-made catalogue, where every number can be worked out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.quality import Mood, coverage, evaluate, fidelity, repeats
from core.catalogue.index import PaletteIndex
from core.colour.psychology import EMOTION_PALETTES, emotion_from_names
from core.colour.space import srgb_to_lab
from core.config import RecommenderSettings

RED, CRIMSON, BLACK = (e.rgb for e in EMOTION_PALETTES["angry"])  # shares 0.5, 0.3, 0.2
GREY, WHITE = (128, 128, 128), (245, 245, 245)


def _doc(tmdb_id: int, colours: list[tuple[tuple[int, int, int], float]], genres: list[str],
         title: str, **extra: Any) -> dict[str, Any]:  # fmt: skip
    palette = [{"rgb": list(rgb), "share": share} for rgb, share in colours]
    return {"tmdb_id": tmdb_id, "title": title, "genres": genres, "popularity": 1.0, "vote_count": 10,
            "vote_average": 7.0, "palette": palette} | extra  # fmt: skip


def test_coverage_counts_each_poster_colour_once_and_each_mood_colour_up_to_its_share() -> None:
    ref = srgb_to_lab([RED, CRIMSON, BLACK])
    w = np.array([0.5, 0.3, 0.2])
    palettes = [
        [(RED, 1.0)],  # all red: red's 0.5, no more
        [(RED, 0.5), (CRIMSON, 0.3), (BLACK, 0.2)],  # the mood itself: 1
        [(BLACK, 1.0)],  # all black: black's 0.2
        [(GREY, 0.6), (WHITE, 0.4)],  # nothing near
        [((220, 45, 45), 0.3), (BLACK, 0.1), (WHITE, 0.6)],  # a near red (ΔE00 < 10) and a little black
    ]
    k = max(len(p) for p in palettes)
    lab = np.zeros((len(palettes), k, 3))
    shares = np.zeros((len(palettes), k))
    for i, p in enumerate(palettes):
        for j, (rgb, share) in enumerate(p):
            lab[i, j], shares[i, j] = srgb_to_lab(rgb), share
    got = coverage(lab, shares, ref, w)
    np.testing.assert_allclose(got, [0.5, 1.0, 0.2, 0.0, 0.4], atol=1e-9)
    assert coverage(lab, shares, ref, w, radius=0.5)[4] == pytest.approx(0.1)  # only the exact black


def test_fidelity_is_zero_at_chance_and_one_at_the_ceiling() -> None:
    assert fidelity(0.4, 0.4, 0.75) == 0
    assert fidelity(0.75, 0.4, 0.75) == 1
    assert fidelity(0.575, 0.4, 0.75) == pytest.approx(0.5)
    assert fidelity(0.1, 0.4, 0.75) < 0  # worse than picking at random
    assert fidelity(0.3, 0.3, 0.3) == 1  # nothing to gain over chance


def test_evaluate_on_a_tiny_catalogue() -> None:
    mood_colours_ = [(RED, 0.5), (CRIMSON, 0.3), (BLACK, 0.2)]
    docs = [
        _doc(1, [(RED, 1.0)], ["Action"], "All Red"),  # coverage 0.5
        _doc(2, mood_colours_, ["Action"], "The Mood Itself"),  # 1.0
        _doc(3, [(GREY, 1.0)], ["Action"], "Grey"),  # 0
        _doc(4, [(WHITE, 1.0)], ["Crime"], "White"),  # 0
        _doc(5, [(RED, 0.5), (WHITE, 0.5)], ["Thriller"], "Half Red"),  # 0.5
        # Perfect colours, but Horror is excluded for anger: the earlier rankers pick it, the new one not.
        _doc(6, mood_colours_, ["Action", "Horror"], "Red Horror", popularity=50.0),
        _doc(7, mood_colours_, ["Comedy"], "The Mood Itself 2"),  # same franchise as 2
    ]
    index = PaletteIndex.build(docs)
    titles = {d["tmdb_id"]: d["title"] for d in docs}
    emotion = emotion_from_names("angry", ["disgust", "fear"], {"angry": 1.0, "disgust": 0.6, "fear": 0.6})
    result, _ = evaluate(
        index, Mood("angry/strong", "strong", emotion), titles, RecommenderSettings(), top_n=2
    )
    assert result.candidates == 6  # all but the horror movie
    assert result.chance == pytest.approx((0.5 + 1 + 0 + 0 + 0.5 + 1) / 6)
    assert result.ceiling == pytest.approx(1.0)  # the mood itself, twice (2 and 7)
    new = result.rankers["new"]
    assert new.picks[0] in (2, 7) and new.picks[1] in (1, 5)  # one of the franchise, then a red
    assert new.coverage == pytest.approx(0.75)
    assert new.fidelity == pytest.approx((0.75 - result.chance) / (1.0 - result.chance))
    assert new.excluded == 0 and new.franchise_repeats == 0
    today = result.rankers["today"]
    assert 6 in today.picks and today.excluded == 1
    assert today.franchise_repeats + today.near_duplicates >= 1  # two of 2, 6, 7: the same palette


def test_repeats_finds_franchises_and_look_alike_posters() -> None:
    docs = [
        _doc(1, [(RED, 0.6), (BLACK, 0.4)], ["Action"], "Saw"),
        _doc(2, [(GREY, 1.0)], ["Action"], "Saw II"),
        _doc(3, [((RED[0], RED[1] + 1, RED[2]), 0.6), (BLACK, 0.4)], ["Action"], "Other"),
    ]
    index = PaletteIndex.build(docs)
    titles = {d["tmdb_id"]: d["title"] for d in docs}
    assert repeats(index, [0, 1, 2], titles) == (1, 1)
