"""The group's mood, its anonymous count, and its picks on the committed sample catalogue, in words."""

from __future__ import annotations

import dataclasses
import gzip
import json

import numpy as np
import pytest

from core.catalogue.index import PaletteIndex
from core.config import CatalogueSettings, GroupSettings, RecommenderSettings
from core.emotion.stats import declared_result
from core.group.pick import group_emotion, member_fits, primary_counts, rank_for_group
from core.present.group import counts_text, explanation_text
from core.values.group import PickExplanation
from core.values.results import EmotionResult
from tests.support.paths import ROOT

RECOMMENDER = RecommenderSettings()


@pytest.fixture(scope="module")
def index() -> PaletteIndex:
    with gzip.open(ROOT / CatalogueSettings().sample, "rt", encoding="utf-8") as fh:
        return PaletteIndex.build([json.loads(line) for line in fh])


def members(*feelings: str) -> list[EmotionResult]:
    return [declared_result(f, face_frames=(3, 4)) for f in feelings]


# --- the group's mood and count ------------------------------------------------------------------


def test_group_emotion_is_the_most_common_primary_with_mean_strengths() -> None:
    group = group_emotion(members("happy", "happy", "happy", "sad", "neutral"))
    assert group.primary == "happy"
    # sad and neutral are each one member's primary; neutral is also a secondary of the happy ones.
    assert group.secondary == ("neutral", "sad")
    assert group.method == "group" and group.scores == ()
    assert group.face_frames == (15, 20)
    assert group.strengths["happy"] == pytest.approx((1.0 * 3 + 0.0 + 0.5) / 5)
    assert group.strengths["sad"] == pytest.approx((0.0 * 3 + 1.0 + 0.5) / 5)


def test_group_emotion_ties_go_to_the_secondaries_then_the_strength() -> None:
    zero = dict.fromkeys(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), 0.0)
    sad = EmotionResult("sad", (), zero | {"sad": 0.9})
    happy = EmotionResult("happy", (), zero | {"happy": 0.5})
    assert group_emotion([happy, sad]).primary == "sad"  # one each, no secondaries: the stronger
    surprised = EmotionResult("surprise", ("happy",), zero | {"surprise": 0.2, "happy": 0.1})
    assert group_emotion([happy, sad, surprised]).primary == "happy"  # also someone's secondary
    with pytest.raises(ValueError, match="at least one"):
        group_emotion([])


def test_primary_counts_most_first_ties_in_emotion_order() -> None:
    counts = primary_counts(members("neutral", "sad", "happy", "happy", "happy"))
    assert list(counts.items()) == [("happy", 3), ("sad", 1), ("neutral", 1)]
    assert list(primary_counts(members("neutral", "angry")).items()) == [("angry", 1), ("neutral", 1)]
    assert primary_counts([]) == {}


# --- the picks -------------------------------------------------------------------------------------


def test_average_without_misery_leaves_no_member_below_the_threshold(index: PaletteIndex) -> None:
    emotions = members("happy", "happy", "happy", "sad", "neutral")
    settings = GroupSettings()
    combined, colours, picks = rank_for_group(index, emotions, settings, RECOMMENDER)
    assert combined.primary == "happy" and colours
    assert len(picks) == settings.top_n
    ids = [r.tmdb_id for r, _ in picks]
    assert len(set(ids)) == len(ids)
    fits = member_fits(index, emotions, ids, RECOMMENDER)
    for column, (ranked, why) in enumerate(picks):
        assert not why.relaxed
        assert fits[:, column].min() >= settings.misery_threshold, ranked.tmdb_id
        assert (why.fits, why.of) == (5, 5)
        assert why.fits == int((fits[:, column] >= settings.misery_threshold).sum())
        if why.best_emotion is not None:
            assert why.best_count == primary_counts(emotions)[why.best_emotion]
    # Ordered by the group's mean fit, best first.
    scores = [why.score for _, why in picks]
    assert scores == sorted(scores, reverse=True)
    assert np.allclose(scores, fits.mean(axis=0).round(4), atol=1e-4)
    first = picks[0][1]
    assert explanation_text(first, "en") == "Fits all 5 of you; best for the 3 happy ones."


def test_average_picks_a_movie_that_rules_one_member_out_and_the_default_does_not(
    index: PaletteIndex,
) -> None:
    # Four happy people and one afraid one: on the sample catalogue the average's list includes a
    # movie in a genre the fearful member's mood rules out (their fit 0).
    emotions = members("happy", "happy", "happy", "happy", "fear")
    by_average = rank_for_group(index, emotions, GroupSettings(strategy="average"), RECOMMENDER)[2]
    fits = member_fits(index, emotions, [r.tmdb_id for r, _ in by_average], RECOMMENDER)
    hated = [c for c in range(fits.shape[1]) if fits[:, c].min() < 0.4]
    assert hated, "the average should keep a movie one member fits badly"
    for c in hated:
        why = by_average[c][1]
        assert why.fits == int((fits[:, c] >= 0.4).sum()) < 5 and why.of == 5
        assert explanation_text(why, "en").startswith(f"Fits {why.fits} of 5 of you")
    by_default = rank_for_group(index, emotions, GroupSettings(), RECOMMENDER)[2]
    ids = [r.tmdb_id for r, _ in by_default]
    assert not {by_average[c][0].tmdb_id for c in hated} & set(ids)
    assert member_fits(index, emotions, ids, RECOMMENDER).min() >= 0.4


def test_nothing_fits_everyone_so_the_picks_are_relaxed(index: PaletteIndex) -> None:
    emotions = members("happy", "happy", "happy", "sad", "neutral")
    strict = GroupSettings(misery_threshold=0.95)
    _, _, picks = rank_for_group(index, emotions, strict, RECOMMENDER)
    assert picks and all(why.relaxed for _, why in picks)
    fits = member_fits(index, emotions, [r.tmdb_id for r, _ in picks], RECOMMENDER)
    worst = [why.score for _, why in picks]  # relaxed picks score by their worst-off member
    assert worst == sorted(worst, reverse=True)
    assert np.allclose(worst, fits.min(axis=0).round(4), atol=1e-4)
    assert explanation_text(picks[0][1], "en") == (
        "No movie fits everyone well; this one leaves the worst-off best off."
    )


def test_one_member_group_and_a_group_of_one_mood(index: PaletteIndex) -> None:
    _, _, alone = rank_for_group(index, members("sad"), GroupSettings(), RECOMMENDER)
    assert alone and all((w.of, w.best_emotion) == (1, None) for _, w in alone)
    assert explanation_text(alone[0][1], "en") == "Fits you."
    _, _, same = rank_for_group(index, members("sad", "sad"), GroupSettings(top_n=3), RECOMMENDER)
    assert len(same) == 3 and all(w.best_emotion is None for _, w in same)
    assert explanation_text(same[0][1], "en") == "Fits both of you."


# --- words -----------------------------------------------------------------------------------------


def test_counts_in_words() -> None:
    counts = primary_counts(members("happy", "happy", "happy", "sad", "neutral"))
    assert counts_text(counts, "en") == "3 happy, 1 sad, 1 calm"
    assert counts_text(counts, "ko") == "행복 3명, 슬픔 1명, 평온 1명"


@pytest.mark.parametrize(
    ("why", "en", "ko"),
    [
        (
            PickExplanation(5, 5, "happy", 3),
            "Fits all 5 of you; best for the 3 happy ones.",
            "5명 모두에게 맞아요; 행복 3명에게 가장 좋아요.",
        ),
        (
            PickExplanation(4, 5, "sad", 1),
            "Fits 4 of 5 of you; best for the sad one.",
            "5명 중 4명에게 맞아요; 슬픔 한 분에게 가장 좋아요.",
        ),
        (PickExplanation(2, 2, None, 0), "Fits both of you.", "두 분 모두에게 맞아요."),
        (PickExplanation(1, 1, None, 0), "Fits you.", "나에게 맞아요."),
        (
            PickExplanation(0, 3, "happy", 2, relaxed=True),
            "No movie fits everyone well; this one leaves the worst-off best off.",
            "모두에게 잘 맞는 영화가 없어, 가장 덜 맞는 사람에게 가장 나은 영화예요.",
        ),
    ],
)
def test_explanations_in_words(why: PickExplanation, en: str, ko: str) -> None:
    assert explanation_text(why, "en") == en
    assert explanation_text(why, "ko-KR") == ko
    assert PickExplanation.from_dict({**dataclasses.asdict(why), "unknown": 1}) == why
