"""Interaction tokens kept in the store for their 15 minutes, so that a private result can still
replace the /moodreel reply after the bot restarts (otherwise it could only go by DM).

A token lets whoever holds it edit that one interaction's replies until it expires, so it is kept no
longer than that: `expires_at` carries a TTL index, a token past it is never read back, and one used
for its result is deleted at once. It is stored sealed, never in the clear (PyMongo's debug log
prints the documents it writes; backups copy them): XORed with a keystream of HMAC-SHA256 blocks
under a key derived from MOODREEL_SECRET and the session id (unique, so never reused), with an HMAC
tag. Without MOODREEL_SECRET the key is per process, so a restarted bot cannot open old tokens and
the result goes by DM, as links stop working then too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from core.sessions.tokens import b64, derived_key, unb64
from core.storage.store import Store, utcnow

log = logging.getLogger(__name__)

COLLECTION = "discord_interactions"
PURPOSE = b"moodreel-discord-interaction-tokens"
TAG_BYTES = 16


def _keystream(key: bytes, session_id: str, length: int) -> bytes:
    blocks = (
        hmac.new(key, f"stream:{session_id}:{i}".encode(), hashlib.sha256).digest()
        for i in range(-(-length // 32))
    )
    return b"".join(blocks)[:length]


def _tag(key: bytes, session_id: str, sealed: bytes) -> bytes:
    return hmac.new(key, f"tag:{session_id}:".encode() + sealed, hashlib.sha256).digest()[:TAG_BYTES]


def seal(key: bytes, session_id: str, token: str) -> str:
    raw = token.encode("utf-8")
    sealed = bytes(a ^ b for a, b in zip(raw, _keystream(key, session_id, len(raw)), strict=True))
    return b64(_tag(key, session_id, sealed) + sealed)


def unseal(key: bytes, session_id: str, text: str) -> str | None:
    """The token, or None when it was sealed under another key (or altered)."""
    try:
        data = unb64(text)
    except ValueError:
        return None
    tag, sealed = data[:TAG_BYTES], data[TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(key, session_id, sealed)):
        return None
    raw = bytes(a ^ b for a, b in zip(sealed, _keystream(key, session_id, len(sealed)), strict=True))
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class KeptToken:
    session_id: str
    application_id: int
    token: str
    user_id: int
    lang: str
    expires_at: dt.datetime


class InteractionTokens:
    def __init__(self, store: Store, secret: str) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = store.db[COLLECTION]
        self._key = derived_key(secret, PURPOSE)

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expires_at_ttl")

    async def keep(self, kept: KeptToken) -> None:
        """Best effort: without the store the in-memory token still serves this process."""
        doc = {
            "application_id": kept.application_id,
            "sealed": seal(self._key, kept.session_id, kept.token),
            "user_id": kept.user_id,
            "lang": kept.lang,
            "expires_at": kept.expires_at,
        }
        try:
            await self.collection.replace_one({"_id": kept.session_id}, doc, upsert=True)
        except PyMongoError as exc:
            log.warning("could not keep the interaction token of session %s: %s", kept.session_id, exc)

    async def recall(self, session_id: str) -> KeptToken | None:
        """The token of this session's /moodreel, if it is kept and has not expired."""
        doc = await self.collection.find_one({"_id": session_id, "expires_at": {"$gt": utcnow()}})
        token = None if doc is None else unseal(self._key, session_id, str(doc.get("sealed", "")))
        if doc is None or token is None:
            return None
        return KeptToken(
            session_id,
            int(doc["application_id"]),
            token,
            int(doc["user_id"]),
            str(doc["lang"]),
            doc["expires_at"],
        )

    async def drop(self, *session_ids: str) -> None:
        if not session_ids:
            return
        try:
            await self.collection.delete_many({"_id": {"$in": list(session_ids)}})
        except PyMongoError as exc:
            log.warning("could not drop kept interaction tokens: %s", exc)
