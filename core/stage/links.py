"""Stage links: a private control link for the performer and a stage link for the projector.

Both are signed, stateless tokens `{stage_id}.{intended}.{expiry}.{signature}` (HMAC-SHA256 with a
key derived from MOODREEL_SECRET for this purpose only, over the role too), so `moodreel stage` can
make them without the server, and the server starts the stage when a link is first opened. A stage
link cannot open the control page: the two roles are signed differently.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from core.sessions.errors import ExpiredToken, InvalidToken
from core.sessions.tokens import b64, derived_key, unb64
from core.values.emotions import EMOTIONS, check_emotion

ROLES = ("control", "show")
MAX_TOKEN = 120  # characters; a real one is about 60
_PURPOSE = b"moodreel-stage-links-v1"


@dataclass(frozen=True)
class StageTicket:
    """What a verified stage token says."""

    stage_id: str
    intended: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class StageLinks:
    stage_id: str
    intended: str
    control_url: str
    show_url: str
    expires_at: dt.datetime


class StageSigner:
    def __init__(self, secret: str) -> None:
        self._key = derived_key(secret, _PURPOSE)

    def _sign(self, role: str, stage_id: str, intended: str, expires: int) -> str:
        msg = f"{role}|{stage_id}|{intended}|{expires}".encode()
        return b64(hmac.new(self._key, msg, hashlib.sha256).digest()[:20])

    def token(self, role: str, stage_id: str, intended: str, expires_at: dt.datetime) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown stage role {role!r}")
        expires = int(expires_at.timestamp())
        intended = check_emotion(intended)
        return f"{stage_id}.{intended}.{expires:x}.{self._sign(role, stage_id, intended, expires)}"

    def issue(
        self, base_url: str, intended: str, ttl_minutes: float, now: dt.datetime | None = None
    ) -> StageLinks:
        """A new stage: its control and stage URLs under `base_url`."""
        now = now or dt.datetime.now(dt.UTC)
        expires_at = (now + dt.timedelta(minutes=ttl_minutes)).replace(microsecond=0)
        stage_id = b64(secrets.token_bytes(12))
        intended = check_emotion(intended)
        base = base_url.rstrip("/")
        return StageLinks(
            stage_id,
            intended,
            f"{base}/stage/control/{self.token('control', stage_id, intended, expires_at)}",
            f"{base}/stage/show/{self.token('show', stage_id, intended, expires_at)}",
            expires_at,
        )

    def verify(self, role: str, token: str, now: dt.datetime | None = None) -> StageTicket:
        """Raises InvalidToken (forged, malformed, the other role's) or ExpiredToken."""
        parts = token.split(".") if isinstance(token, str) and len(token) <= MAX_TOKEN else []
        if role not in ROLES or len(parts) != 4 or not all(p.isascii() and p for p in parts):
            raise InvalidToken()
        stage_id, intended, expires_hex, sig = parts
        try:
            expires = int(expires_hex, 16)
            if len(unb64(stage_id)) != 12 or len(unb64(sig)) != 20 or intended not in EMOTIONS:
                raise ValueError
        except (ValueError, binascii.Error):
            raise InvalidToken() from None
        if not hmac.compare_digest(sig, self._sign(role, stage_id, intended, expires)):
            raise InvalidToken()
        now = now or dt.datetime.now(dt.UTC)
        if now.timestamp() >= expires:
            raise ExpiredToken("expired")
        return StageTicket(stage_id, intended, dt.datetime.fromtimestamp(expires, dt.UTC))
