"""Why a movie was picked, in words: which mood colour met which poster colour, and how closely."""

from __future__ import annotations

import math
from collections.abc import Sequence

from core.catalogue.index import Ranked
from core.colour.psychology import basic_colour_name, colour_name
from core.colour.space import srgb_to_lab
from core.present.words import emotion_name, say
from core.values.results import MoodColour


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


# ΔE00 limits and the words for them (core.present.words `reason.closeness.*`).
_CLOSENESS = ((5.0, "matches"), (12.0, "close"), (25.0, "echoes"), (math.inf, "nearest"))


def _closeness(delta_e: float, locale: str = "en") -> str:
    key = next((key for limit, key in _CLOSENESS if delta_e < limit), "nearest")  # NaN: the last
    return say(locale, f"reason.closeness.{key}")


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
        share = f"{match.share:.0%}"
        parts.append(
            say(
                locale,
                "reason.clause",
                colour=basic_colour_name(srgb_to_lab(rgb).tolist(), locale),
                hex=_hex(rgb),
                share=share,
                closeness=_closeness(match.delta_e, locale),
                mood_colour=colour_name(colour, locale),
                emotion=emotion_name(locale, colour.emotion),
                delta_e=f"{match.delta_e:.1f}",
            )
        )
    if not parts:
        return say(locale, "reason.no_match")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]
