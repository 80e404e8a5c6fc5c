"""Deciding which Watcha Pedia search result is our movie: normalised titles and a year within ±1."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

YEAR_TOLERANCE = 1

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_title(title: str) -> str:
    """Case, width, spacing and punctuation do not matter: "스파이더맨: 홈 커밍" == "스파이더맨 홈커밍"."""
    text = unicodedata.normalize("NFKC", title or "").casefold()
    text = text.replace("&", " and ")
    return _NOT_WORD.sub("", text)


def years_match(a: int | None, b: int | None, tolerance: int = YEAR_TOLERANCE) -> bool:
    """Release years differ between countries and databases by a year at most."""
    return a is not None and b is not None and abs(a - b) <= tolerance


@dataclass(frozen=True)
class Candidate:
    url: str
    title: str
    year: int | None

    def to_dict(self) -> dict[str, object]:
        return {"url": self.url, "title": self.title, "year": self.year}


@dataclass(frozen=True)
class Decision:
    """`match` is set when a candidate fits; otherwise `reason` says what disagreed and `closest` may help."""

    match: Candidate | None
    reason: str
    closest: Candidate | None = None


def wanted_titles(titles: Iterable[str | None]) -> set[str]:
    return {n for n in (normalise_title(t) for t in titles if t) if n}


def decide(candidates: Sequence[Candidate], titles: Iterable[str | None], year: int | None) -> Decision:
    """The result whose title matches one of ours and whose year is within ±1 (closest year first)."""
    wanted = wanted_titles(titles)
    if not candidates:
        return Decision(None, "no results")
    same_title = [c for c in candidates if normalise_title(c.title) in wanted]
    fitting = [c for c in same_title if years_match(c.year, year)]
    if fitting:
        best = min(fitting, key=lambda c: abs((c.year or 0) - (year or 0)))
        return Decision(best, "matched")
    if same_title:
        return Decision(None, "year differs", same_title[0])
    near_year = [c for c in candidates if years_match(c.year, year)]
    if near_year:
        return Decision(None, "title differs", near_year[0])
    return Decision(None, "title and year differ", candidates[0])
