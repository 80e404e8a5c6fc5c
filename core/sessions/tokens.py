"""Signed single-use session links: `{session_id}.{expiry}.{signature}`, HMAC-SHA256 with the secret."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets

from core.config import Settings

log = logging.getLogger(__name__)

# With no MOODREEL_SECRET, one random key per process: links stay valid until a restart.
_process_secret: bytes | None = None


def _secret_for(settings: Settings) -> bytes:
    global _process_secret
    if settings.secret:
        return settings.secret.encode("utf-8")
    if _process_secret is None:
        _process_secret = secrets.token_bytes(32)
        log.warning(
            "MOODREEL_SECRET is not set: session links are signed with a random per-process key "
            "and stop working when MoodReel restarts. Set MOODREEL_SECRET to keep them valid."
        )
    return _process_secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hash_claim(claim: str) -> str:
    return hashlib.sha256(claim.encode("utf-8")).hexdigest()
