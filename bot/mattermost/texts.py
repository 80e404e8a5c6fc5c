"""Everything the Mattermost adapter says, in English and Korean, and how it reads `/moodreel TEXT`."""

from __future__ import annotations

from dataclasses import dataclass

from core.values.emotions import EMOTION_LABELS, EMOTIONS

LOCALES = ("en", "ko")

# Words a user may type after the command, mapped to an emotion (the declared feeling) ...
FEELING_WORDS: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    **{label.lower(): e for lang in LOCALES for e, label in EMOTION_LABELS[lang].items()},
    "joy": "happy",
    "glad": "happy",
    "mad": "angry",
    "scared": "fear",
    "afraid": "fear",
    "surprised": "surprise",
    "calm": "neutral",
    "ok": "neutral",
    "disgusted": "disgust",
    "기쁨": "happy",
    "슬퍼": "sad",
    "화나": "angry",
    "무서워": "fear",
    "놀라": "surprise",
}
# ... or to a reply language.
LOCALE_WORDS: dict[str, str] = {
    "en": "en",
    "english": "en",
    "영어": "en",
    "ko": "ko",
    "kr": "ko",
    "korean": "ko",
    "한국어": "ko",
}
HELP_WORDS = frozenset({"help", "-h", "--help", "?", "도움말", "도움"})


class CommandTextError(ValueError):
    """The text after the command could not be read; `word` is the part that was not understood."""

    def __init__(self, word: str) -> None:
        super().__init__(word)
        self.word = word


@dataclass(frozen=True)
class CommandRequest:
    """What `/moodreel TEXT` asks for."""

    help: bool = False
    feeling: str | None = None
    locale: str | None = None  # an explicit language word; None = the user's or the configured one
    korean_words: bool = False  # the user typed Korean, a hint for the reply language


def parse_command_text(text: str) -> CommandRequest:
    """Read `help`, a feeling (`happy`, `행복`) and/or a language (`ko`, `english`), in any order.

    Raises CommandTextError naming the first word it does not know, so nothing starts on a typo.
    """
    feeling: str | None = None
    locale: str | None = None
    korean = False
    for raw in text.split():
        word = raw.strip().lower()
        korean = korean or any("\uac00" <= ch <= "\ud7a3" for ch in word)
        if word in HELP_WORDS:
            return CommandRequest(help=True, locale=locale, korean_words=korean)
        if word in LOCALE_WORDS:
            locale = LOCALE_WORDS[word]
        elif word in FEELING_WORDS and feeling is None:
            feeling = FEELING_WORDS[word]
        else:
            raise CommandTextError(raw.strip())
    return CommandRequest(feeling=feeling, locale=locale, korean_words=korean)


def _feelings_list(locale: str) -> str:
    if locale == "ko":
        return ", ".join(f"`{EMOTION_LABELS['ko'][e]}`" for e in EMOTIONS)
    return ", ".join(f"`{e}`" for e in EMOTIONS)


def help_text(command: str, locale: str) -> str:
    if locale == "ko":
        return (
            "#### MoodReel\n"
            f"`{command}` — 웹캠으로 지금 기분을 읽고, 그 기분의 색과 어울리는 포스터의 영화를 추천합니다.\n"
            "나만 볼 수 있는 일회용 링크를 보내 드립니다. 카메라가 있는 기기에서 열어 주세요. "
            "영상은 메모리에서만 분석되고 저장되지 않습니다. 결과는 이 채널에 올라옵니다.\n\n"
            f"- `{command}` — 새 링크 받기\n"
            f"- `{command} 행복` — 카메라를 쓸 수 없을 때 대신 쓸 기분을 함께 알려 주기 "
            f"({_feelings_list('ko')})\n"
            f"- `{command} en` / `{command} ko` — 답장 언어 고르기\n"
            f"- `{command} 도움말` — 이 안내"
        )
    return (
        "#### MoodReel\n"
        f"`{command}` reads your mood from your webcam and picks movies whose posters match its colours.\n"
        "You get a private link that works once; open it on a device with a camera. Frames are analysed "
        "in memory and never stored. The result is posted in this channel.\n\n"
        f"- `{command}`: get a new link\n"
        f"- `{command} happy`: also say how you feel, used if the camera cannot read you "
        f"({_feelings_list('en')})\n"
        f"- `{command} ko` / `{command} en`: reply in Korean or English\n"
        f"- `{command} help`: this help"
    )


def link_text(
    url: str, minutes: float, channel_name: str, replaced: bool, feeling: str | None, locale: str
) -> str:
    mins = f"{minutes:g}"
    where = f"~{channel_name}" if channel_name else ("이 채널" if locale == "ko" else "this channel")
    if locale == "ko":
        lines = [
            f"나만 볼 수 있는 MoodReel 링크입니다 ({mins}분 동안, 한 번만 쓸 수 있어요):",
            url,
            f"카메라가 있는 기기에서 열어 주세요. 결과는 {where}에 올라옵니다.",
        ]
        if feeling:
            label = EMOTION_LABELS["ko"][feeling]
            lines.append(f"카메라로 읽지 못하면 알려 주신 기분(**{label}**)을 씁니다.")
        if replaced:
            lines.append("이전에 받은 링크는 이제 쓸 수 없습니다.")
        return "\n".join(lines)
    lines = [
        f"Here is your private MoodReel link (valid for {mins} minutes, works once):",
        url,
        f"Open it on a device with a camera. The result will be posted in {where}.",
    ]
    if feeling:
        label = EMOTION_LABELS["en"][feeling]
        lines.append(f"If the camera cannot read you, your feeling (**{label}**) is used.")
    if replaced:
        lines.append("Your previous link no longer works.")
    return "\n".join(lines)


def unknown_word_text(word: str, command: str, locale: str) -> str:
    if locale == "ko":
        return (
            f"`{word}`은(는) 알 수 없는 말입니다. 기분은 {_feelings_list('ko')} 중에서 고르거나, "
            f"`{command} 도움말`을 입력해 보세요. 링크는 만들지 않았습니다."
        )
    return (
        f"I don't know `{word}`. Pick a feeling from {_feelings_list('en')}, or try `{command} help`. "
        "No link was created."
    )


def unavailable_text(locale: str) -> str:
    if locale == "ko":
        return "지금은 MoodReel 세션을 시작할 수 없습니다. 잠시 후 다시 시도해 주세요."
    return "MoodReel cannot start a session right now. Please try again in a minute."


def bad_token_text() -> str:
    return "This request did not carry MoodReel's slash-command token."


def failure_text(reason: str, command: str, locale: str) -> str:
    if locale == "ko":
        return f"MoodReel 세션이 끝났습니다: {reason}. `{command}`로 새 링크를 받을 수 있어요."
    return f"Your MoodReel session ended: {reason}. Run `{command}` for a new link."


def stale_button_text(locale: str) -> str:
    if locale == "ko":
        return "이 결과는 더 이상 없습니다. 새 세션을 시작해 주세요."
    return "This result is no longer available. Start a new session."


def bad_button_text() -> str:
    return "This button's context is not valid."


LABELS: dict[str, dict[str, str]] = {
    "en": {
        "mood_of": "{who}'s mood",
        "mood_mine": "Your mood",
        "with": "with",
        "colours": "Mood colours",
        "picks": "Picks whose posters match these colours:",
        "no_picks": "No movie in the catalogue matches these colours yet.",
        "method_change": "from how your expression changed while the clip played",
        "method_levels": "from your expression while the clip played (no clear change)",
        "method_declared": "from the feeling you told us (the camera could not read enough)",
        "year": "Year",
        "genres": "Genres",
        "match": "Match",
        "prev": "◀",
        "next": "▶",
        "unknown": "unknown",
    },
    "ko": {
        "mood_of": "{who} 님의 기분",
        "mood_mine": "지금 기분",
        "with": "",
        "colours": "기분의 색",
        "picks": "이 색과 어울리는 포스터의 영화:",
        "no_picks": "아직 이 색과 어울리는 영화가 목록에 없습니다.",
        "method_change": "영상을 보는 동안 표정이 어떻게 달라졌는지로 판단했어요",
        "method_levels": "영상을 보는 동안의 표정으로 판단했어요 (뚜렷한 변화는 없었어요)",
        "method_declared": "알려 주신 기분으로 정했어요 (카메라로 충분히 읽지 못했어요)",
        "year": "개봉",
        "genres": "장르",
        "match": "어울림",
        "prev": "◀",
        "next": "▶",
        "unknown": "알 수 없음",
    },
}
