"""Signed single-use session links: `{session_id}.{expiry}.{signature}`, HMAC-SHA256 with the secret.

The secret also keys other signatures (Mattermost button contexts), each through a key of its own
derived here, so one signature can never pass as another kind.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import secrets

from core.sessions.errors import ExpiredToken, InvalidToken

log = logging.getLogger(__name__)

MAX_TOKEN = 200  # characters; a real token is about 60

# With no MOODREEL_SECRET, one random key per process: links and buttons stay valid until a restart.
_process_secret: bytes | None = None


def master_key(secret: str) -> bytes:
    """The key material for every signature: the configured secret, or one random key per process."""
    global _process_secret
    if secret:
        return secret.encode("utf-8")
    if _process_secret is None:
        _process_secret = secrets.token_bytes(32)
        log.warning(
            "MOODREEL_SECRET is not set: links and buttons are signed with a random per-process key "
            "and stop working when MoodReel restarts. Set MOODREEL_SECRET to keep them valid."
        )
    return _process_secret


def derived_key(secret: str, purpose: bytes) -> bytes:
    """A key for one purpose (e.g. b"moodreel-mattermost-actions"), derived from the master key."""
    return hmac.new(master_key(secret), purpose, hashlib.sha256).digest()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_claim(claim: str) -> str:
    return hashlib.sha256(claim.encode("utf-8")).hexdigest()


def new_session_id() -> str:
    return b64(secrets.token_bytes(16))


class LinkSigner:
    """Makes and checks session tokens; checking needs no database round trip."""

    def __init__(self, secret: str) -> None:
        self._key = master_key(secret)

    def _sign(self, session_id: str, expires: int) -> str:
        msg = f"moodreel-session-v1|{session_id}|{expires}".encode()
        return b64(hmac.new(self._key, msg, hashlib.sha256).digest()[:20])

    def make_token(self, session_id: str, expires_at: dt.datetime) -> str:
        expires = int(expires_at.timestamp())
        return f"{session_id}.{expires:x}.{self._sign(session_id, expires)}"

    def verify_token(self, token: str, now: dt.datetime) -> str:
        """The session id the token was signed for.

        Raises InvalidToken if it is forged or malformed, ExpiredToken if its time is up.
        """
        parts = token.split(".") if isinstance(token, str) and len(token) <= MAX_TOKEN else []
        if len(parts) != 3 or not all(parts) or not all(p.isascii() for p in parts):
            raise InvalidToken()
        session_id, expires_hex, sig = parts
        try:
            expires = int(expires_hex, 16)
            if len(unb64(session_id)) != 16 or len(unb64(sig)) != 20:
                raise ValueError
        except (ValueError, binascii.Error):
            raise InvalidToken() from None
        if not hmac.compare_digest(sig, self._sign(session_id, expires)):
            raise InvalidToken()
        if now.timestamp() >= expires:
            raise ExpiredToken("expired")
        return session_id
