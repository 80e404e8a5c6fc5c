"""Interaction tokens are stored sealed: only the same key and session open them."""

from __future__ import annotations

from bot.discord.tokens import seal, unseal

KEY, OTHER = b"k" * 32, b"o" * 32
TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpzZWNyZXQtdG9rZW4tdmFsdWU"


def test_a_sealed_token_opens_with_its_key_and_session_only() -> None:
    sealed = seal(KEY, "s1", TOKEN)
    assert TOKEN not in sealed and TOKEN[:12] not in sealed
    assert unseal(KEY, "s1", sealed) == TOKEN
    assert unseal(OTHER, "s1", sealed) is None, "another key (a new per-process secret) cannot open it"
    assert unseal(KEY, "s2", sealed) is None, "nor can the same key for another session"
    assert seal(KEY, "s2", TOKEN) != sealed


def test_an_altered_or_garbled_seal_is_refused() -> None:
    sealed = seal(KEY, "s1", TOKEN)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert unseal(KEY, "s1", flipped) is None
    assert unseal(KEY, "s1", "not base64 at all!") is None
    assert unseal(KEY, "s1", "") is None
