"""From per-frame scores of the two phases to a delivered MoodResult: statistics, colours, movies.

The webcam WebSocket and `moodreel analyse` both go through here, so they agree on every number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from core.config import Settings
from core.emotion.stats import StatsConfig, TooFewFaces, analyse_phases
from core.values.results import EmotionResult, MoodColour, MoodResult, Recommendation

if TYPE_CHECKING:
    from core.sessions.origin import SessionOrigin

__all__ = ["TooFewFaces", "emotion_from_frames", "mood_result", "stats_config"]


class _Scored(Protocol):
    @property
    def probs(self) -> tuple[float, ...] | None: ...


class _Recommends(Protocol):
    async def recommend(
        self, emotion: EmotionResult, top_n: int | None = None
    ) -> tuple[tuple[MoodColour, ...], list[Recommendation]]: ...


def stats_config(settings: Settings) -> StatsConfig:
    return StatsConfig(min_face_frames=settings.sessions.min_face_frames)


def emotion_from_frames(
    baseline: Sequence[_Scored],
    stimulus: Sequence[_Scored],
    declared: str | None = None,
    cfg: StatsConfig | None = None,
) -> EmotionResult:
    """The EmotionResult of two phases of FrameScores; raises TooFewFaces unless a feeling was declared."""
    probs = ([f.probs for f in baseline], [f.probs for f in stimulus])
    return analyse_phases(*probs, declared, cfg or StatsConfig())


def _origin_dict(origin: SessionOrigin | Mapping[str, Any] | None) -> dict[str, Any]:
    if origin is None:
        return {}
    if isinstance(origin, Mapping):
        return dict(origin)
    return origin.to_dict()


async def mood_result(
    session_id: str,
    emotion: EmotionResult,
    recommender: _Recommends,
    origin: SessionOrigin | Mapping[str, Any] | None = None,
    top_n: int | None = None,
) -> MoodResult:
    """Colours and movie picks for `emotion`, packed as the result a session delivers."""
    colours, picks = await recommender.recommend(emotion, top_n)
    return MoodResult(session_id, emotion, tuple(colours), tuple(picks), _origin_dict(origin))
