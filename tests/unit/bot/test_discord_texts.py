"""The Discord summary embed: declared feelings described as the user's pick."""

from __future__ import annotations

from bot.discord.render import summary_embed
from core.colour.psychology import emotion_from_names, mood_colours
from core.values.results import MoodResult


def test_a_declared_feeling_is_described_as_the_users_pick() -> None:
    emotion = emotion_from_names("happy", ("surprise", "neutral"))
    assert emotion.method == "declared"
    result = MoodResult("s", emotion, mood_colours(emotion), (), {"user_id": "1", "locale": "en"})
    embed = summary_embed(result, "en")
    values = [f.value for f in embed.fields]
    assert values[:3] == ["the feeling you picked", *["a feeling that often comes with it"] * 2]
    assert embed.footer.text and "the feeling you picked" in embed.footer.text
    assert embed.title == "How you feel: Happy"
