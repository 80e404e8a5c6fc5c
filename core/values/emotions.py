"""The seven FER2013 emotions, in the model's output order (their names are core.present.words')."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EMOTION_INDEX: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}


def check_emotion(name: str) -> str:
    """Normalise an emotion name, or raise ValueError naming the valid ones."""
    key = name.strip().lower()
    if key not in EMOTION_INDEX:
        raise ValueError(f"unknown emotion {name!r}; choose one of: {', '.join(EMOTIONS)}")
    return key
