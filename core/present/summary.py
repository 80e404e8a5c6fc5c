"""The mood summary in words and numbers, the same on the page, in both chats and on the mood card.

One function turns an EmotionResult into a Summary: a headline naming the primary emotion and only
the secondary ones that qualified (core.emotion.stats: never one that fell), one line per emotion
with its level during the clip and its change from the calm baseline signed honestly ("−0.4 pts",
never "+0"), a significance mark that means what the legend says, and p-values as "p < 0.001".
A declared feeling says it was declared and shows no bars: there was no reading to show.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from core.emotion.stats import StatsConfig, holm
from core.present.locale import LOCALES, locale_of
from core.present.words import emotion_name, say
from core.values.emotions import EMOTIONS
from core.values.results import EmotionResult

MINUS = "\u2212"  # a real minus sign, so a fall never reads as a hyphen
ALPHA = StatsConfig().alpha


def signed_points(change: float) -> str:
    """A change in probability as signed percentage points to one decimal: "+12.3", "−0.4", "0.0"."""
    points = round(change * 100, 1)
    if points == 0:
        return "0.0"
    return f"+{points:.1f}" if points > 0 else f"{MINUS}{-points:.1f}"


def p_text(p: float | None) -> str | None:
    """ "p < 0.001", "p = 0.032", or None when there is no test."""
    if p is None or math.isnan(p):
        return None
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


@dataclass(frozen=True)
class EmotionLine:
    emotion: str
    name: str
    role: str  # primary | secondary | other
    level: float | None  # 0..1 during the clip; None when declared (no reading)
    change: str | None  # signed points, e.g. "−0.4"; None when declared
    change_text: str | None  # with the unit, e.g. "−0.4 pts"
    significant: bool  # the change passes the test the legend names
    p: str | None


@dataclass(frozen=True)
class Summary:
    headline: str
    method: str  # change | levels | declared
    method_text: str
    legend: str
    mark: str  # the significance mark the legend explains
    lines: tuple[EmotionLine, ...]  # EMOTIONS order

    def line(self, emotion: str) -> EmotionLine:
        return next(x for x in self.lines if x.emotion == emotion)

    def numbers(self, emotion: str, locale: object) -> str:
        """An emotion's numbers in words, e.g. "about 45% during the clip · +35.2 pts* (p < 0.001)"."""
        line = self.line(emotion)
        if self.method == "declared":
            return say(locale, f"summary.declared_{'primary' if line.role == 'primary' else 'secondary'}")
        if line.level is None or line.change_text is None:
            return say(locale, "summary.no_score")
        mark = self.mark if line.significant else ""
        p = f" ({line.p})" if line.p else ""
        return f"{say(locale, 'summary.level', level=round(line.level * 100))} · {line.change_text}{mark}{p}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(emotion: EmotionResult, locale: object = "en") -> Summary:
    lang = locale_of(locale)
    names = [emotion_name(lang, e) for e in (emotion.primary, *emotion.secondary)]
    declared = emotion.method == "declared"
    method = emotion.method if emotion.method in ("change", "levels", "declared") else "change"
    if declared:
        headline = say(lang, "summary.headline.declared", primary=names[0])
    else:
        keys = {1: "summary.headline.0", 2: "summary.headline.1", 3: "summary.headline.2"}
        headline = say(lang, keys[len(names)], **dict(zip(("primary", "s1", "s2"), names, strict=False)))
    scores = {s.emotion: s for s in emotion.scores}
    adjusted = dict(zip(scores, holm([s.p_value for s in scores.values()]), strict=True)) if scores else {}
    lines = []
    for name in EMOTIONS:
        role = "primary" if name == emotion.primary else "secondary" if name in emotion.secondary else "other"
        score = None if declared else scores.get(name)
        if score is None:
            lines.append(EmotionLine(name, emotion_name(lang, name), role, None, None, None, False, None))
            continue
        change = signed_points(score.change)
        lines.append(
            EmotionLine(
                emotion=name,
                name=emotion_name(lang, name),
                role=role,
                level=round(max(0.0, min(1.0, score.stimulus_mean)), 4),
                change=change,
                change_text=say(lang, "summary.change", change=change),
                significant=adjusted[name] < ALPHA and change != "0.0",
                p=p_text(score.p_value),
            )
        )
    baseline, stimulus = emotion.face_frames
    return Summary(
        headline=headline,
        method=method,
        method_text=say(lang, f"summary.method.{method}", baseline=baseline, stimulus=stimulus),
        legend=say(lang, "summary.legend.declared" if declared else "summary.legend"),
        mark="*",
        lines=tuple(lines),
    )


def summaries(emotion: EmotionResult) -> dict[str, dict[str, Any]]:
    """The summary in every UI language, for the page (it can switch language without asking)."""
    return {lang: summarise(emotion, lang).to_dict() for lang in LOCALES}
