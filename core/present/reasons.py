"""Why a movie was picked, in words: which mood colour met which poster colour, and how closely."""

from __future__ import annotations

import math
from collections.abc import Sequence

from core.catalogue.index import Ranked
from core.colour.psychology import basic_colour_name, colour_name, emotion_label
from core.colour.space import srgb_to_lab
from core.values.results import MoodColour


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


NO_MATCH = "No poster colour is near your mood colours."
NO_MATCH_KO = "포스터에 기분 색과 가까운 색이 없어요."
# ΔE00 limits and the words for them; Korean uses noun phrases so no particle depends on the name.
_CLOSENESS = (
    (5.0, "matches", "거의 같은 색"),
    (12.0, "is close to", "가까운 색"),
    (25.0, "echoes", "닮은 색"),
    (math.inf, "is the nearest it has to", "그나마 가장 가까운 색"),
)


def _closeness(delta_e: float, locale: str = "en") -> str:
    for limit, en, ko in _CLOSENESS:
        if delta_e < limit:
            return ko if locale == "ko" else en
    return _CLOSENESS[-1][2 if locale == "ko" else 1]  # NaN lands here


def reason_text(ranked: Ranked, colours: Sequence[MoodColour], clauses: int = 2, locale: str = "en") -> str:
    """Which mood colour met which poster colour, in words, e.g.
    "Its yellow (#f2c230, 34% of the poster) matches your sunny yellow for Happy (ΔE00 3.1)."
    In Korean: "포스터의 노랑(#f2c230, 34%) ↔ 행복의 노랑: 거의 같은 색 (ΔE00 3.1)."

    The primary emotion's best match comes first (it is what the mood is about), then the next best.
    """
    primary = colours[0].emotion if colours else None
    lead = [m for m in ranked.matches if colours[m.mood_index].emotion == primary][:1]
    chosen = lead + [m for m in ranked.matches if m not in lead][: clauses - len(lead)]
    parts = []
    for match in chosen:
        colour = colours[match.mood_index]
        rgb = ranked.poster_rgb[match.poster_index]
        name = basic_colour_name(srgb_to_lab(rgb), locale)
        if locale == "ko":
            parts.append(
                f"포스터의 {name}({_hex(rgb)}, {match.share:.0%}) ↔ {emotion_label(colour.emotion, 'ko')}의 "
                f"{colour_name(colour, 'ko')}: {_closeness(match.delta_e, 'ko')} (ΔE00 {match.delta_e:.1f})"
            )
            continue
        parts.append(
            f"its {name} ({_hex(rgb)}, {match.share:.0%} of the poster) {_closeness(match.delta_e)} "
            f"your {colour.name} for {emotion_label(colour.emotion)} (ΔE00 {match.delta_e:.1f})"
        )
    if not parts:
        return NO_MATCH_KO if locale == "ko" else NO_MATCH
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]
