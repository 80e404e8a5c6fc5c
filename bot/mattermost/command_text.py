"""How the Mattermost adapter reads `/moodreel TEXT`: help, a feeling and a reply language."""

from __future__ import annotations

from dataclasses import dataclass

from core.present.locale import LOCALES
from core.present.words import emotion_name
from core.values.emotions import EMOTIONS

# Words a user may type after the command, mapped to an emotion (the declared feeling) ...
FEELING_WORDS: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    **{emotion_name(lang, e).lower(): e for lang in LOCALES for e in EMOTIONS},
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
# ... or to a mode: a group movie night, or an audience stage (its links, to the performer).
MODE_WORDS: dict[str, str] = {"group": "group", "그룹": "group", "stage": "stage", "무대": "stage"}


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
    mode: str | None = None  # "group" (start a movie night) | "stage" (stage links) | None (a session)


def parse_command_text(text: str) -> CommandRequest:
    """Read `help`, a feeling (`happy`, `행복`) and/or a language (`ko`, `english`), in any order,
    and a mode word (`group`, `stage`) first. A movie night takes no feeling (each member has their own).

    Raises CommandTextError naming the first word it does not know, so nothing starts on a typo.
    """
    feeling: str | None = None
    locale: str | None = None
    korean = False
    mode: str | None = None
    for position, raw in enumerate(text.split()):
        word = raw.strip().lower()
        korean = korean or any("\uac00" <= ch <= "\ud7a3" for ch in word)
        if word in HELP_WORDS:
            return CommandRequest(help=True, locale=locale, korean_words=korean)
        if position == 0 and word in MODE_WORDS:
            mode = MODE_WORDS[word]
        elif word in LOCALE_WORDS:
            locale = LOCALE_WORDS[word]
        elif word in FEELING_WORDS and feeling is None and mode != "group":
            feeling = FEELING_WORDS[word]
        else:
            raise CommandTextError(raw.strip())
    return CommandRequest(feeling=feeling, locale=locale, korean_words=korean, mode=mode)
