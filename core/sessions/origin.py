"""Who asked for a session and where its result goes; the link handed back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.values.emotions import check_emotion

PLATFORMS = ("discord", "mattermost", "web")


@dataclass(frozen=True)
class SessionOrigin:
    """Who asked for the session, and where the result should go."""

    platform: str
    user_id: str
    channel_id: str = ""
    user_name: str = ""
    locale: str = "en"
    declared_feeling: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(f"unknown platform {self.platform!r}; choose one of: {', '.join(PLATFORMS)}")
        if not self.user_id:
            raise ValueError("a session needs a user_id")
        # Only two UI languages: anything Korean ("ko", "ko-KR") is Korean, the rest English.
        object.__setattr__(self, "locale", "ko" if str(self.locale).lower().startswith("ko") else "en")
        if self.declared_feeling is not None:
            object.__setattr__(self, "declared_feeling", check_emotion(self.declared_feeling))
        object.__setattr__(self, "extra", {str(k): str(v) for k, v in dict(self.extra).items()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "user_id": self.user_id,
            "channel_id": self.channel_id,
            "user_name": self.user_name,
            "locale": self.locale,
            "declared_feeling": self.declared_feeling,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SessionOrigin:
        return cls(
            platform=d["platform"],
            user_id=str(d["user_id"]),
            channel_id=str(d.get("channel_id") or ""),
            user_name=str(d.get("user_name") or ""),
            locale=str(d.get("locale") or "en"),
            declared_feeling=d.get("declared_feeling"),
            extra=dict(d.get("extra") or {}),
        )


@dataclass(frozen=True)
class SessionLink:
    session_id: str
    url: str
    expires_at: dt.datetime
    replaced: bool  # an open session of the same user was replaced by this one
