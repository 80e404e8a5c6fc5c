"""The one table of words: both languages complete, every template fillable, locales normalised."""

from __future__ import annotations

import string

import discord
import pytest

from core.catalogue.genres import TMDB_GENRES
from core.present.locale import locale_from_accept_language, locale_of, titles
from core.present.words import EN, KO, emotion_name, genre_names, say
from core.sessions.errors import AlreadyUsed, ExpiredToken, InvalidToken, SessionError
from core.values.emotions import EMOTIONS
from core.values.results import Recommendation


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_english_and_korean_have_the_same_keys_and_placeholders() -> None:
    assert set(EN) == set(KO)
    for key in EN:
        assert _fields(EN[key]) == _fields(KO[key]), key
        assert EN[key].strip() and KO[key].strip(), key


def test_every_emotion_and_genre_has_a_name_in_both_languages() -> None:
    for emotion in EMOTIONS:
        assert emotion_name("en", emotion) != emotion_name("ko", emotion)
    assert {k.removeprefix("genre.") for k in EN if k.startswith("genre.")} == set(TMDB_GENRES)
    assert genre_names("ko", ["Comedy", "Science Fiction"]) == "코미디, SF"
    assert genre_names("en", ["Comedy"]) == "Comedy"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ko", "ko"), ("ko-KR", "ko"), ("KO", "ko"), ("en-US", "en"), ("ja", "en"), (None, "en"), ("", "en")],
)
def test_any_locale_maps_to_one_of_the_two(value: object, expected: str) -> None:
    assert locale_of(value) == expected


def test_discord_locales_and_browser_preferences() -> None:
    assert locale_of(discord.Locale.korean) == "ko" and locale_of(discord.Locale.american_english) == "en"
    assert locale_from_accept_language("ko-KR,ko;q=0.9,en;q=0.8") == "ko"
    assert locale_from_accept_language("en-GB,ko;q=0.5") == "en"
    assert locale_from_accept_language("fr-FR") == "en"


def test_korean_title_first_for_korean_users() -> None:
    rec = Recommendation(
        tmdb_id=1, title="Parasite", title_ko="기생충", year=2019, genres=(), score=1.0, reason=""
    )
    assert titles(rec, "ko") == ("기생충", "Parasite")
    assert titles(rec, "en") == ("Parasite", "기생충")
    plain = Recommendation(tmdb_id=2, title="Heat", title_ko=None, year=1995, genres=(), score=1.0, reason="")
    assert titles(plain, "ko") == ("Heat", None)


def test_session_errors_carry_a_kind_and_their_words_live_in_one_place() -> None:
    errors: list[SessionError] = [
        InvalidToken(),
        ExpiredToken("replaced"),
        AlreadyUsed(),
        ExpiredToken("failed", reason="time cap"),
    ]
    assert [e.kind for e in errors] == ["invalid", "replaced", "used", "failed"]
    assert str(errors[1]) == say("en", "session.replaced") and "newer link" in str(errors[1])
    assert errors[1].words("ko") == say("ko", "session.replaced") != str(errors[1])
    assert "time cap" in str(errors[3]) and "time cap" in errors[3].words("ko")
