"""The seven FER2013 emotions, in the model's output order, with their names in both UI languages."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EMOTION_INDEX: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}
EMOTION_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "angry": "Angry",
        "disgust": "Disgusted",
        "fear": "Afraid",
        "happy": "Happy",
        "sad": "Sad",
        "surprise": "Surprised",
        "neutral": "Calm",
    },
    "ko": {
        "angry": "화남",
        "disgust": "혐오",
        "fear": "두려움",
        "happy": "행복",
        "sad": "슬픔",
        "surprise": "놀람",
        "neutral": "평온",
    },
}


def check_emotion(name: str) -> str:
    """Normalise an emotion name, or raise ValueError naming the valid ones."""
    key = name.strip().lower()
    if key not in EMOTION_INDEX:
        raise ValueError(f"unknown emotion {name!r}; choose one of: {', '.join(EMOTIONS)}")
    return key
