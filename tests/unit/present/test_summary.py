"""The honest mood summary: only qualifying secondaries, signed changes, a legend, declared = no bars."""

from __future__ import annotations

import dataclasses

from bot.discord.render import summary_embed
from bot.mattermost.messages import summary_message
from core.colour.psychology import emotion_from_names, mood_colours
from core.present.summary import p_text, signed_points, summarise
from core.values.emotions import EMOTIONS
from core.values.results import EmotionResult, EmotionScore, MoodResult

# The case: calm fell 65 points, happy rose; surprise stayed at 0 and is not named.
SCORES = {
    "happy": EmotionScore("happy", 0.05, 0.70, 0.65, 4.0, 1e-9, 40, 40),
    "neutral": EmotionScore("neutral", 0.85, 0.20, -0.65, -4.0, 1e-9, 40, 40),
    "surprise": EmotionScore("surprise", 0.0, 0.0, -0.004, -0.1, 0.6, 40, 40),
}


def _emotion(secondary: tuple[str, ...] = ()) -> EmotionResult:
    scores = tuple(SCORES.get(e, EmotionScore(e, 0.02, 0.02, 0.0, 0.0, 1.0, 40, 40)) for e in EMOTIONS)
    return EmotionResult("happy", secondary, {"happy": 1.0}, scores, "change", (40, 40))


def test_changes_are_signed_honestly_and_p_values_have_a_floor() -> None:
    assert signed_points(0.123) == "+12.3"
    assert signed_points(-0.004) == "\u22120.4"  # never "+0"
    assert signed_points(0.0004) == "0.0"
    assert p_text(1e-9) == "p < 0.001" and p_text(0.0321) == "p = 0.032" and p_text(float("nan")) is None


def test_the_headline_names_only_the_secondaries_the_result_has() -> None:
    assert summarise(_emotion(), "en").headline == "Mostly Happy."
    assert summarise(_emotion(("surprise",)), "en").headline == "Mostly Happy, with a touch of Surprised."
    two = summarise(_emotion(("surprise", "sad")), "ko").headline
    assert two == "주로 행복, 그리고 약간의 놀람, 슬픔."


def test_lines_show_falls_as_falls_with_a_mark_the_legend_explains() -> None:
    summary = summarise(_emotion(), "en")
    calm, happy, surprise = (summary.line(e) for e in ("neutral", "happy", "surprise"))
    assert calm.change_text == "\u221265.0 pts" and calm.significant and calm.role == "other"
    assert happy.change_text == "+65.0 pts" and happy.p == "p < 0.001"
    assert surprise.change_text == "\u22120.4 pts" and not surprise.significant
    assert [x.significant for x in summary.lines].count(True) == 2, "not every bar gets a mark"
    assert "*" in summary.legend and "pts" in summary.legend and "Welch" in summary.legend


def test_a_declared_feeling_says_so_and_shows_no_bars() -> None:
    summary = summarise(emotion_from_names("sad"), "en")
    assert summary.headline == "You told us you feel Sad."
    assert all(x.level is None and x.change is None for x in summary.lines)
    assert "picked" in summary.method_text and "nothing was measured" in summary.legend
    assert summary.numbers("sad", "en") == "the feeling you picked"


def test_both_chats_show_the_same_summary() -> None:
    emotion = dataclasses.replace(_emotion(), secondary=())
    result = MoodResult("s", emotion, mood_colours(emotion), (), {"user_id": "1", "user_name": "alice"})
    summary = summarise(emotion, "en")
    embed = summary_embed(result, "en")
    message = summary_message(result, "en")
    assert embed.description == summary.headline and summary.headline in message
    assert summary.legend in (embed.footer.text or "") and summary.legend in message
    assert "Calm" not in message and not any("Calm" in (f.name or "") for f in embed.fields)
    assert summary.numbers("happy", "en") in message
    assert embed.fields[0].value == summary.numbers("happy", "en")
