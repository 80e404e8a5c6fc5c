"""Robust two-phase emotion statistics: which emotions did the stimulus change, and how sure are we.

Pure functions over per-frame emotion probabilities (rows in `EMOTIONS` order; `None` = no face).

Per phase and emotion: frames with no face are dropped, outliers are removed with the IQR rule
(outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR]), and values are scaled robustly against the *baseline*
(subtract the baseline median, divide by the baseline IQR, floored at 0.02), so both phases share one
scale and a change reads as "baseline IQRs above the calm level". On the inliers we compute the mean
of each phase, the change (stimulus - baseline, probability units), Cohen's d on the scaled values
(pooled SD floored at 0.01 probability units so a near-constant emotion does not explode) and Welch's
two-sided t-test (scipy).

The rule that names the mood (documented in the README):
1. An emotion *rose* when its change is positive, its Holm-adjusted p-value (over the seven tests) is
   below `alpha` (0.05) and its effect size is at least `min_effect` (0.3).
2. If anything rose (method "change"): the primary emotion is the riser with the largest effect size;
   the candidates for secondary are the next risers by effect size, then the remaining emotions by
   their phase-2 level.
3. If nothing rose (method "levels"): the primary is the highest phase-2 mean, the candidates the
   others by phase-2 mean.
   Up to two candidates become secondary emotions, and only if they qualify: an emotion that *fell*
   (by 2 points or more, or significantly) never does; one that rose (by a point or more, with an
   effect size of at least `min_effect` and p < `alpha` before correction) or is clearly present in
   phase 2 (mean at least PRESENT_LEVEL) does. So a mood may have two, one or no secondary
   emotions, and the colours follow.
4. With fewer than `min_face_frames` face frames in either phase the comparison is not trusted: the
   declared feeling is used when there is one (method "declared"), otherwise `TooFewFaces` asks the
   caller to have the user retry.
Strengths (0..1, they set colour intensity): phase-2 level relative to the highest one; in "change"
mode a riser's strength is max(level, 0.25 + d / 2), capped at 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.values.emotions import EMOTIONS, check_emotion
from core.values.results import EmotionResult, EmotionScore

PRESENT_LEVEL = 0.15  # a phase-2 mean at which an emotion is clearly there
FELL_BY = 0.02  # a drop of this much (2 points) counts as a fall, significant or not
ROSE_BY = 0.01  # a rise must be at least a point to count
IQR_FLOOR = 0.02  # probability units: scale for an emotion that hardly moves in the baseline
SD_FLOOR = 0.01  # probability units: noise floor under Cohen's d

# Secondary emotions for a declared feeling: its neighbours on Russell's valence/arousal circle.
DECLARED_NEIGHBOURS: dict[str, tuple[str, str]] = {
    "happy": ("surprise", "neutral"),
    "surprise": ("happy", "fear"),
    "fear": ("surprise", "sad"),
    "angry": ("disgust", "fear"),
    "disgust": ("angry", "sad"),
    "sad": ("fear", "neutral"),
    "neutral": ("happy", "sad"),
}


@dataclass(frozen=True)
class StatsConfig:
    min_face_frames: int = 5
    alpha: float = 0.05
    min_effect: float = 0.3
    iqr_k: float = 1.5

    def __post_init__(self) -> None:
        if self.min_face_frames < 2:
            raise ValueError("min_face_frames must be at least 2 (a t-test needs two values)")
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be in (0, 1)")


class TooFewFaces(ValueError):
    """Not enough frames with a face to compare the phases; the user should retry (or declare a feeling)."""

    def __init__(self, baseline: int, stimulus: int, needed: int) -> None:
        super().__init__(
            f"only {baseline} baseline and {stimulus} stimulus frames showed a face (need {needed} each); "
            "please try again with your face in view and good light"
        )
        self.baseline = baseline
        self.stimulus = stimulus
        self.needed = needed


def face_rows(frames: Iterable[Sequence[float] | None]) -> np.ndarray:
    """The (n, 7) probabilities of the frames that showed a face."""
    rows = [tuple(float(v) for v in f) for f in frames if f is not None]
    for row in rows:
        if len(row) != len(EMOTIONS) or not all(math.isfinite(v) for v in row):
            raise ValueError(f"each frame needs {len(EMOTIONS)} finite probabilities (got {row!r})")
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(EMOTIONS))


def iqr_inliers(values: np.ndarray, k: float = 1.5) -> np.ndarray:
    """Boolean mask of the values inside [Q1 - k IQR, Q3 + k IQR] (Tukey's fences)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=bool)
    q1, q3 = np.percentile(values, [25, 75])
    spread = q3 - q1
    return (values >= q1 - k * spread) & (values <= q3 + k * spread)


def robust_scale(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(values - median(reference)) / IQR(reference), with the IQR floored; also returns (median, scale)."""
    reference = np.asarray(reference, dtype=np.float64)
    median = float(np.median(reference))
    q1, q3 = np.percentile(reference, [25, 75])
    scale = max(float(q3 - q1), IQR_FLOOR)
    return (np.asarray(values, dtype=np.float64) - median) / scale, median, scale


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Welch's t-test p-value; degenerate samples (no variance) give 1 if equal, 0 if not."""
    if len(a) < 2 or len(b) < 2:
        return 1.0
    if np.var(a) == 0 and np.var(b) == 0:
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    return float(stats.ttest_ind(b, a, equal_var=False).pvalue)


def compare_emotion(emotion: str, baseline: np.ndarray, stimulus: np.ndarray, k: float = 1.5) -> EmotionScore:
    """The numbers for one emotion: inlier means, change, Cohen's d on scaled values, Welch p."""
    base = np.asarray(baseline, dtype=np.float64)
    stim = np.asarray(stimulus, dtype=np.float64)
    base, stim = base[iqr_inliers(base, k)], stim[iqr_inliers(stim, k)]
    if len(base) == 0 or len(stim) == 0:
        return EmotionScore(emotion, 0.0, 0.0, 0.0, 0.0, 1.0, len(base), len(stim))
    base_scaled, _, scale = robust_scale(base, base)
    stim_scaled, _, _ = robust_scale(stim, base)
    var_b = float(np.var(base_scaled, ddof=1)) if len(base) > 1 else 0.0
    var_s = float(np.var(stim_scaled, ddof=1)) if len(stim) > 1 else 0.0
    pooled = max(math.sqrt((var_b + var_s) / 2), SD_FLOOR / scale)
    d = float((stim_scaled.mean() - base_scaled.mean()) / pooled)
    return EmotionScore(
        emotion=emotion,
        baseline_mean=float(base.mean()),
        stimulus_mean=float(stim.mean()),
        change=float(stim.mean() - base.mean()),
        effect_size=d,
        p_value=welch_p(base, stim),
        baseline_frames=len(base),
        stimulus_frames=len(stim),
    )


def compare_phases(baseline: np.ndarray, stimulus: np.ndarray, k: float = 1.5) -> tuple[EmotionScore, ...]:
    """One EmotionScore per emotion, in EMOTIONS order, from two (n, 7) arrays of face frames."""
    return tuple(compare_emotion(e, baseline[:, i], stimulus[:, i], k) for i, e in enumerate(EMOTIONS))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def risers(scores: Sequence[EmotionScore], cfg: StatsConfig = StatsConfig()) -> list[EmotionScore]:
    """Emotions that rose significantly in phase 2, strongest effect first."""
    adjusted = holm([s.p_value for s in scores])
    up = [
        s
        for s, p in zip(scores, adjusted, strict=True)
        if s.change > 0 and p < cfg.alpha and s.effect_size >= cfg.min_effect
    ]
    return sorted(up, key=lambda s: (-s.effect_size, -s.change, EMOTIONS.index(s.emotion)))


def secondary_qualifies(score: EmotionScore, adjusted_p: float, cfg: StatsConfig = StatsConfig()) -> bool:
    """May this emotion be named a secondary one? Never if it fell; yes if it rose or is clearly there."""
    fell = score.change <= -FELL_BY or (score.change < 0 and adjusted_p < cfg.alpha)
    rose = score.change >= ROSE_BY and score.effect_size >= cfg.min_effect and score.p_value < cfg.alpha
    return not fell and (rose or score.stimulus_mean >= PRESENT_LEVEL)


def pick_emotions(
    scores: Sequence[EmotionScore], face_frames: tuple[int, int], cfg: StatsConfig = StatsConfig()
) -> EmotionResult:
    """Name the mood from the per-emotion scores (the rule in the module docstring)."""
    by_level = sorted(scores, key=lambda s: (-s.stimulus_mean, EMOTIONS.index(s.emotion)))
    top_level = max(by_level[0].stimulus_mean, 1e-9)
    strengths = {s.emotion: round(max(0.0, s.stimulus_mean) / top_level, 4) for s in scores}
    rose = risers(scores, cfg)
    if rose:
        names = [s.emotion for s in rose]
        names += [s.emotion for s in by_level if s.emotion not in names]
        for s in rose:
            strengths[s.emotion] = round(min(1.0, max(strengths[s.emotion], 0.25 + s.effect_size / 2)), 4)
        method = "change"
    else:
        names = [s.emotion for s in by_level]
        method = "levels"
    adjusted = dict(zip((s.emotion for s in scores), holm([s.p_value for s in scores]), strict=True))
    score_of = {s.emotion: s for s in scores}
    secondary = [e for e in names[1:] if secondary_qualifies(score_of[e], adjusted[e], cfg)][:2]
    return EmotionResult(
        primary=names[0],
        secondary=tuple(secondary),
        strengths=strengths,
        scores=tuple(scores),
        method=method,
        face_frames=face_frames,
    )


def declared_result(
    feeling: str, face_frames: tuple[int, int] = (0, 0), scores: Sequence[EmotionScore] = ()
) -> EmotionResult:
    """The mood the user told us, with its two neighbouring emotions as secondaries."""
    primary = check_emotion(feeling)
    secondary = DECLARED_NEIGHBOURS[primary]
    strengths = {e: 0.0 for e in EMOTIONS} | {primary: 1.0, secondary[0]: 0.5, secondary[1]: 0.5}
    return EmotionResult(primary, secondary, strengths, tuple(scores), "declared", face_frames)


def analyse_phases(
    baseline: Iterable[Sequence[float] | None],
    stimulus: Iterable[Sequence[float] | None],
    declared: str | None = None,
    cfg: StatsConfig = StatsConfig(),
) -> EmotionResult:
    """The whole analysis: per-frame probabilities (None = no face) of both phases -> EmotionResult.

    Raises TooFewFaces when either phase has too few face frames and nothing was declared.
    """
    base, stim = face_rows(baseline), face_rows(stimulus)
    counts = (len(base), len(stim))
    if min(counts) < cfg.min_face_frames:
        if declared:
            return declared_result(declared, counts)
        raise TooFewFaces(counts[0], counts[1], cfg.min_face_frames)
    return pick_emotions(compare_phases(base, stim, cfg.iqr_k), counts, cfg)
