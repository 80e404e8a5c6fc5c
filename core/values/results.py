"""Value types passed between the analyser, the recommender, the store and the chat adapters.

Frozen dataclasses with `to_dict`/`from_dict`, so a result round-trips through MongoDB unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class EmotionScore:
    """One emotion's numbers across the two phases (probabilities 0..1, robustly scaled)."""

    emotion: str
    baseline_mean: float
    stimulus_mean: float
    change: float  # stimulus - baseline, in probability units
    effect_size: float  # Cohen's d on the robustly scaled values
    p_value: float  # Welch's t-test, two-sided
    baseline_frames: int
    stimulus_frames: int

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmotionScore:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class EmotionResult:
    """The named mood: a primary emotion, up to two secondary ones, and the numbers behind them."""

    primary: str
    secondary: tuple[str, ...]  # 0 to 2 emotions that qualified (see core.emotion.stats)
    strengths: dict[str, float]  # emotion -> 0..1, sets colour intensity
    scores: tuple[EmotionScore, ...] = ()
    method: str = "change"  # change | levels | declared
    face_frames: tuple[int, int] = (0, 0)  # (baseline, stimulus)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmotionResult:
        return cls(
            primary=d["primary"],
            secondary=tuple(str(e) for e in d["secondary"][:2]),
            strengths=dict(d["strengths"]),
            scores=tuple(EmotionScore.from_dict(s) for s in d.get("scores", ())),
            method=d.get("method", "change"),
            face_frames=(int(d.get("face_frames", (0, 0))[0]), int(d.get("face_frames", (0, 0))[1])),
        )


@dataclass(frozen=True)
class MoodColour:
    """One colour of the mood's colour set."""

    emotion: str
    name: str
    rgb: tuple[int, int, int]
    lab: tuple[float, float, float]
    weight: float  # share of the whole set, sums to 1
    name_ko: str = ""  # the colour table's Korean name, for Korean chats and pages

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MoodColour:
        rgb, lab = tuple(d["rgb"]), tuple(d["lab"])
        return cls(d["emotion"], d["name"], rgb, lab, d["weight"], d.get("name_ko", ""))


@dataclass(frozen=True)
class Recommendation:
    """A picked movie with its 0-100 match score and the reason in words."""

    tmdb_id: int
    title: str
    title_ko: str | None
    year: int | None
    genres: tuple[str, ...]
    score: float
    reason: str
    reason_ko: str | None = None
    popularity: float = 0.0
    vote_count: int = 0
    vote_average: float = 0.0
    poster_url: str | None = None  # a TMDB image URL when known
    tmdb_url: str | None = None
    watcha_url: str | None = None
    palette: tuple[str, ...] = ()  # poster colours as hex, most dominant first

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recommendation:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["genres"] = tuple(kw.get("genres", ()))
        kw["palette"] = tuple(kw.get("palette", ()))
        return cls(**kw)


@dataclass(frozen=True)
class MoodResult:
    """What a finished session delivers: emotions, their colours and the movie picks."""

    session_id: str
    emotion: EmotionResult
    colours: tuple[MoodColour, ...]
    recommendations: tuple[Recommendation, ...]
    origin: dict[str, Any] = field(default_factory=dict)  # platform, user_id, channel_id, locale, ...

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MoodResult:
        return cls(
            session_id=d["session_id"],
            emotion=EmotionResult.from_dict(d["emotion"]),
            colours=tuple(MoodColour.from_dict(c) for c in d["colours"]),
            recommendations=tuple(Recommendation.from_dict(r) for r in d["recommendations"]),
            origin=dict(d.get("origin", {})),
        )
