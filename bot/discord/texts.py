"""Everything the Discord adapter says, in English and Korean.

Discord tells us each user's client language with every interaction; anything Korean gets Korean,
everything else English (the two UI languages MoodReel has).
"""

from __future__ import annotations

from core.catalogue.genres import GENRE_NAMES_KO
from core.values.emotions import EMOTION_LABELS

LOCALES = ("en", "ko")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "command_description": "Read your mood on camera and get movies whose posters match it",
        "option_feeling": "feeling",
        "option_feeling_description": "How you feel, used if the camera can't read you",
        "link_ready": "Your MoodReel link is ready. It works once and expires {expires}.",
        "link_replaced": "Your earlier link no longer works: this one replaces it.",
        "feeling_fallback": "If the camera can't read your face, we'll go with **{feeling}**.",
        "privacy": "🔒 Camera frames stay in memory and are deleted right after analysis; only the "
        "result is kept.",
        "open_button": "Open the mood check",
        "link_error": "Sorry, I couldn't start a mood check right now. Please try /moodreel again "
        "in a minute.",
        "expired": "⌛ Your MoodReel link expired before the mood check finished. "
        "Run /moodreel for a new one.",
        "failed": "😕 The mood check didn't work out: {reason}. Run /moodreel to try again.",
        "result_for": "{mention}, here is your MoodReel result.",
        "summary_title": "How you feel: {emotion}",
        "summary_title_of": "{name}'s mood: {emotion}",
        "primary": "Main feeling · {emotion}",
        "secondary": "Also · {emotion}",
        "colours": "Your colours",
        "up": "up {points} points from your baseline",
        "down": "down {points} points from your baseline",
        "same": "about the same as your baseline",
        "level": "about {level}% during the clip",
        "sure_very": "we're very sure",
        "sure_fairly": "we're fairly sure",
        "sure_hint": "a hint, not certain",
        "sure_unclear": "hard to tell",
        "declared_primary": "the feeling you picked",
        "declared_secondary": "a feeling that often comes with it",
        "no_score": "no separate reading for this one",
        "method_change": "Read from how your face changed between the calm baseline and the clip "
        "({baseline} + {stimulus} face frames, Welch's t-test).",
        "method_levels": "Nothing changed clearly between the phases, so this is read from your levels "
        "during the clip ({baseline} + {stimulus} face frames).",
        "method_declared": "Based on the feeling you picked (the camera didn't get enough of your face).",
        "picks_none": "No movies matched your colours yet: the catalogue may be empty.",
        "pick_of": "Pick {page} of {total}",
        "genres": "Genres",
        "match": "Match",
        "rating": "Rating",
        "links": "Links",
        "votes": "{count} votes",
        "unknown": "unknown",
        "browse_hint": "◀ ▶ to browse · only {name} can turn the pages",
        "jump": "Jump to a movie…",
        "prev": "Previous movie",
        "next": "Next movie",
        "not_yours": "Only the person who ran /moodreel can turn these pages. "
        "Run /moodreel for your own picks!",
        "carousel_over": "These buttons have timed out. Run /moodreel for fresh picks.",
        "poster_card": "No poster available: colours from our catalogue",
    },
    "ko": {
        "command_description": "카메라로 지금 기분을 읽고, 포스터 색이 어울리는 영화를 추천받아요",
        "option_feeling": "기분",
        "option_feeling_description": "카메라가 얼굴을 못 읽을 때 쓸 지금 기분",
        "link_ready": "MoodReel 링크가 준비됐어요. 한 번만 쓸 수 있고 {expires} 만료돼요.",
        "link_replaced": "이전 링크는 이제 쓸 수 없어요. 이 링크로 바뀌었어요.",
        "feeling_fallback": "카메라가 얼굴을 읽지 못하면 **{feeling}**(으)로 추천할게요.",
        "privacy": "🔒 카메라 화면은 메모리에서만 분석하고 끝나면 바로 지워요. 결과만 저장돼요.",
        "open_button": "기분 측정 열기",
        "link_error": "죄송해요, 지금은 기분 측정을 시작할 수 없어요. 잠시 후 /moodreel 을 다시 써 주세요.",
        "expired": "⌛ 기분 측정이 끝나기 전에 링크가 만료됐어요. /moodreel 로 새 링크를 받으세요.",
        "failed": "😕 기분 측정이 잘 되지 않았어요: {reason}. /moodreel 로 다시 해 보세요.",
        "result_for": "{mention} 님, MoodReel 결과예요.",
        "summary_title": "지금 기분: {emotion}",
        "summary_title_of": "{name} 님의 기분: {emotion}",
        "primary": "주된 기분 · {emotion}",
        "secondary": "함께 · {emotion}",
        "colours": "나의 색",
        "up": "기준보다 {points}%p 올랐어요",
        "down": "기준보다 {points}%p 내려갔어요",
        "same": "기준과 거의 같아요",
        "level": "영상을 보는 동안 약 {level}%",
        "sure_very": "거의 확실해요",
        "sure_fairly": "꽤 확실해요",
        "sure_hint": "그런 기미가 있어요",
        "sure_unclear": "확실하지 않아요",
        "declared_primary": "직접 고른 기분",
        "declared_secondary": "흔히 함께 오는 기분",
        "no_score": "따로 측정한 값이 없어요",
        "method_change": "차분한 기준 구간과 영상 구간 사이에 얼굴이 어떻게 달라졌는지로 읽었어요 "
        "(얼굴 프레임 {baseline} + {stimulus}개, Welch t-검정).",
        "method_levels": "두 구간 사이에 뚜렷한 변화가 없어서 영상 구간의 수준으로 읽었어요 "
        "(얼굴 프레임 {baseline} + {stimulus}개).",
        "method_declared": "카메라가 얼굴을 충분히 보지 못해서 직접 고른 기분으로 추천했어요.",
        "picks_none": "아직 색이 맞는 영화가 없어요. 영화 목록이 비어 있을 수 있어요.",
        "pick_of": "추천 {page} / {total}",
        "genres": "장르",
        "match": "어울림",
        "rating": "평점",
        "links": "링크",
        "votes": "{count}명 평가",
        "unknown": "알 수 없음",
        "browse_hint": "◀ ▶ 로 넘겨 보세요 · {name} 님만 넘길 수 있어요",
        "jump": "영화로 바로 가기…",
        "prev": "이전 영화",
        "next": "다음 영화",
        "not_yours": "/moodreel 을 실행한 사람만 넘길 수 있어요. /moodreel 로 나만의 추천을 받아 보세요!",
        "carousel_over": "버튼 시간이 끝났어요. /moodreel 로 새 추천을 받아 보세요.",
        "poster_card": "포스터가 없어 영화 색으로 만든 카드예요",
    },
}


def lang_of(locale: object) -> str:
    """'ko' for any Korean locale (Discord sends 'ko'), 'en' for everything else."""
    return "ko" if str(getattr(locale, "value", locale) or "").lower().startswith("ko") else "en"


def text(lang: str, key: str, **values: object) -> str:
    words = TEXTS["ko" if lang == "ko" else "en"]
    return words[key].format(**values) if values else words[key]


def emotion_name(lang: str, emotion: str) -> str:
    return EMOTION_LABELS["ko" if lang == "ko" else "en"].get(emotion, emotion)


def genre_names(lang: str, genres: tuple[str, ...] | list[str]) -> str:
    if lang == "ko":
        return ", ".join(GENRE_NAMES_KO.get(g, g) for g in genres)
    return ", ".join(genres)
