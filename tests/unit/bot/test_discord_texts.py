"""Discord words: both languages complete, declared feelings described as picked."""

from __future__ import annotations

from bot.discord.render import summary_embed
from bot.discord.texts import TEXTS, lang_of
from core.colour.psychology import emotion_from_names, mood_colours
from core.values.results import MoodResult


def test_every_text_exists_in_both_languages() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["ko"])
    assert lang_of("ko") == "ko" and lang_of("en-US") == "en" and lang_of("ja") == "en"


def test_a_declared_feeling_is_described_as_the_users_pick() -> None:
    emotion = emotion_from_names("happy", ("surprise", "neutral"))
    assert emotion.method == "declared"
    result = MoodResult("s", emotion, mood_colours(emotion), (), {"user_id": "1", "locale": "en"})
    embed = summary_embed(result, "en")
    values = [f.value for f in embed.fields]
    assert values[:3] == ["the feeling you picked", *["a feeling that often comes with it"] * 2]
    assert embed.footer.text and "the feeling you picked" in embed.footer.text
    assert embed.title == "How you feel: Happy"
