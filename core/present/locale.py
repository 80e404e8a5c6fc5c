"""The two UI languages and how any locale a platform or browser sends maps to one of them."""

from __future__ import annotations

from typing import Literal, Protocol

Locale = Literal["en", "ko"]
LOCALES: tuple[Locale, ...] = ("en", "ko")


def locale_of(value: object) -> Locale:
    """'ko' for anything Korean ('ko', 'ko-KR', discord.Locale.korean), 'en' for everything else."""
    text = str(getattr(value, "value", value) or "")
    return "ko" if text.strip().lower().startswith("ko") else "en"


def locale_from_accept_language(header: str) -> Locale:
    """The first of Korean or English in a browser's Accept-Language order; English if neither."""
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("ko"):
            return "ko"
        if tag.startswith("en"):
            return "en"
    return "en"


class _Titled(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def title_ko(self) -> str | None: ...


def titles(movie: _Titled, locale: object) -> tuple[str, str | None]:
    """(the title to show first, the other title or None): Korean first for Korean users when known."""
    if locale_of(locale) == "ko" and movie.title_ko:
        return movie.title_ko, (movie.title if movie.title != movie.title_ko else None)
    other = movie.title_ko if movie.title_ko and movie.title_ko != movie.title else None
    return movie.title, other
