"""The two-phase statistics give the known answer on constructed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from core.emotion.stats import (
    DECLARED_NEIGHBOURS,
    StatsConfig,
    TooFewFaces,
    analyse_phases,
    compare_emotion,
    declared_result,
    face_rows,
    holm,
    iqr_inliers,
    robust_scale,
    secondary_qualifies,
    welch_p,
)
from core.values.emotions import EMOTION_INDEX, EMOTIONS
from core.values.results import EmotionResult, EmotionScore


def phase(levels: dict[str, float], n: int, seed: int, noise: float = 0.03) -> list[list[float]]:
    """n frames whose emotions sit at `levels` (others at 0.02) plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    base = np.array([levels.get(e, 0.02) for e in EMOTIONS])
    rows = np.clip(base + rng.normal(0, noise, (n, len(EMOTIONS))), 0, 1)
    return rows.tolist()


CALM = {"neutral": 0.7, "happy": 0.1, "sad": 0.08}


def test_iqr_rule_drops_the_outlier_only() -> None:
    mask = iqr_inliers(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert mask.tolist() == [True, True, True, True, False]
    assert iqr_inliers(np.array([])).size == 0
    assert iqr_inliers(np.array([5.0, 5.0, 5.0])).all()


def test_robust_scale_uses_the_reference_median_and_iqr() -> None:
    scaled, median, scale = robust_scale(np.array([3.0, 5.0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert (median, scale) == (3.0, 2.0)
    assert scaled.tolist() == [0.0, 1.0]
    _, _, floored = robust_scale(np.array([0.1]), np.array([0.1, 0.1, 0.1]))
    assert floored == pytest.approx(0.02)  # a flat baseline does not divide by zero


def test_welch_matches_scipy_and_handles_degenerate_samples() -> None:
    a, b = np.array([0.1, 0.2, 0.15, 0.12]), np.array([0.3, 0.5, 0.45, 0.2, 0.33])
    assert welch_p(a, b) == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert welch_p(np.array([0.2, 0.2]), np.array([0.2, 0.2])) == 1.0
    assert welch_p(np.array([0.2, 0.2]), np.array([0.4, 0.4])) == 0.0
    assert welch_p(np.array([0.2]), b) == 1.0


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_compare_emotion_numbers() -> None:
    score = compare_emotion("happy", np.array([0.1, 0.12, 0.08, 0.1, 0.9]), np.array([0.5, 0.52, 0.48, 0.5]))
    assert score.baseline_frames == 4  # the 0.9 blip is an outlier
    assert score.baseline_mean == pytest.approx(0.1)
    assert score.stimulus_mean == pytest.approx(0.5)
    assert score.change == pytest.approx(0.4)
    assert score.effect_size > 10 and score.p_value < 1e-4


def test_a_clear_rise_names_the_primary_and_secondary() -> None:
    baseline = phase(CALM, 60, seed=1)
    stimulus = phase({"neutral": 0.35, "happy": 0.45, "surprise": 0.15, "sad": 0.08}, 60, seed=2)
    result = analyse_phases(baseline, stimulus)
    assert result.method == "change"
    assert result.primary == "happy"
    # surprise rose too (0.02 -> 0.15); neutral fell (0.7 -> 0.35), so it is no "touch of" anything.
    assert result.secondary == ("surprise",)
    happy = result.scores[EMOTION_INDEX["happy"]]
    assert happy.change == pytest.approx(0.35, abs=0.03)
    assert happy.p_value < 1e-10 and happy.effect_size > 5
    assert result.face_frames == (60, 60)
    assert [s.emotion for s in result.scores] == list(EMOTIONS)
    assert result.strengths["happy"] == 1.0
    assert 0 < result.strengths["neutral"] < 1
    assert EmotionResult.from_dict(result.to_dict()) == result


def test_outliers_do_not_change_the_answer() -> None:
    baseline = phase(CALM, 60, seed=3)
    stimulus = phase({"neutral": 0.4, "sad": 0.45}, 60, seed=4)
    clean = analyse_phases(baseline, stimulus)
    spiked = [row[:] for row in baseline]
    for row in spiked[:4]:  # a few frames where the detector glitched to a grin
        row[EMOTION_INDEX["happy"]] = 1.0
    noisy = analyse_phases(spiked, stimulus)
    assert (noisy.primary, noisy.secondary, noisy.method) == (clean.primary, clean.secondary, "change")
    assert noisy.primary == "sad"
    happy = noisy.scores[EMOTION_INDEX["happy"]]
    assert happy.baseline_frames == 56
    assert happy.baseline_mean == pytest.approx(clean.scores[EMOTION_INDEX["happy"]].baseline_mean, abs=0.01)


def test_a_drop_is_not_a_rise() -> None:
    baseline = phase({"neutral": 0.4, "happy": 0.5}, 50, seed=5)
    stimulus = phase({"neutral": 0.6, "happy": 0.2}, 50, seed=6)
    result = analyse_phases(baseline, stimulus)
    assert result.primary == "neutral" and result.method == "change"
    assert result.scores[EMOTION_INDEX["happy"]].change < -0.2


def test_a_fallen_emotion_is_never_named_a_secondary() -> None:
    # The case: calm falls 65 points while happy rises; calm is still the second-highest level.
    baseline = phase({"neutral": 0.85, "happy": 0.05}, 60, seed=11)
    stimulus = phase({"neutral": 0.2, "happy": 0.7}, 60, seed=12)
    result = analyse_phases(baseline, stimulus)
    assert result.primary == "happy"
    assert "neutral" not in result.secondary and result.secondary == ()
    # Without any qualifying secondary, the colours are the primary's alone.
    from core.colour.psychology import mood_colours

    assert {c.emotion for c in mood_colours(result)} == {"happy"}


def test_secondary_rule_on_its_own() -> None:
    def score(change: float, level: float, d: float = 1.0, p: float = 0.01) -> EmotionScore:
        return EmotionScore("sad", level - change, level, change, d, p, 30, 30)

    assert secondary_qualifies(score(0.05, 0.06), 0.5)  # rose
    assert not secondary_qualifies(score(0.05, 0.06, p=0.3), 0.9)  # a rise that may be noise
    assert secondary_qualifies(score(0.0, 0.3, d=0.0), 0.9)  # clearly present, unchanged
    assert not secondary_qualifies(score(-0.03, 0.3), 0.5)  # fell by 3 points, though still present
    assert not secondary_qualifies(score(-0.005, 0.3), 0.01)  # a small but significant fall
    assert not secondary_qualifies(score(0.004, 0.05), 0.5)  # a flicker, neither risen nor there


def test_nothing_significant_falls_back_to_phase_two_levels() -> None:
    baseline = phase({"neutral": 0.5, "sad": 0.3, "fear": 0.1}, 40, seed=7)
    stimulus = phase({"neutral": 0.5, "sad": 0.3, "fear": 0.1}, 40, seed=8)
    result = analyse_phases(baseline, stimulus)
    assert result.method == "levels"
    # sad is clearly there (0.3); fear (0.1) neither rose nor is clearly present.
    assert (result.primary, result.secondary) == ("neutral", ("sad",))
    assert result.strengths["neutral"] == 1.0
    assert all(s.p_value > 0.001 for s in result.scores)


def test_no_face_frames_are_dropped_before_counting() -> None:
    baseline: list[list[float] | None] = [*phase(CALM, 10, seed=9), None, None]
    stimulus: list[list[float] | None] = [None, *phase({"happy": 0.6, "neutral": 0.3}, 10, seed=10)]
    result = analyse_phases(baseline, stimulus)
    assert result.face_frames == (10, 10) and result.primary == "happy"


def test_too_few_faces_asks_for_a_retry() -> None:
    baseline = [*phase(CALM, 3, seed=11), None, None, None]
    stimulus = phase(CALM, 20, seed=12)
    with pytest.raises(TooFewFaces, match="try again") as info:
        analyse_phases(baseline, stimulus)
    assert (info.value.baseline, info.value.stimulus, info.value.needed) == (3, 20, 5)
    assert analyse_phases(baseline, stimulus, cfg=StatsConfig(min_face_frames=3)).face_frames == (3, 20)


def test_too_few_faces_falls_back_to_the_declared_feeling() -> None:
    result = analyse_phases([None] * 30, phase(CALM, 2, seed=13), declared="Sad")
    assert result.method == "declared"
    assert (result.primary, result.secondary) == ("sad", DECLARED_NEIGHBOURS["sad"])
    assert result.face_frames == (0, 2)
    assert result.strengths["sad"] == 1.0


def test_declared_result_for_every_emotion() -> None:
    for emotion in EMOTIONS:
        result = declared_result(emotion)
        assert result.primary == emotion and emotion not in result.secondary
        assert set(result.secondary) <= set(EMOTIONS)
    with pytest.raises(ValueError, match="unknown emotion"):
        declared_result("bored")


def test_malformed_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="7 finite"):
        face_rows([[0.1, 0.2]])
    with pytest.raises(ValueError, match="7 finite"):
        face_rows([[float("nan")] * 7])
    assert face_rows([]).shape == (0, 7)
