"""HMAC-signed button contexts.

Mattermost sends a button's `integration.context` back to us verbatim when it is clicked, but anybody
who can reach our URL could send any context. So every context carries a signature over its other
fields, keyed with `settings.secret`; a context whose fields or signature were altered is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.sessions.tokens import derived_key

VERSION = 1
_SIG_FIELD = "sig"


class BadContext(ValueError):
    """A button context that is malformed or whose signature does not match."""


@dataclass(frozen=True)
class PageContext:
    """Which result and which movie of its carousel a button shows."""

    session_id: str
    index: int
    locale: str
    file_ids: tuple[str, ...] = ()  # the post's files, repeated in every update so they stay attached


@dataclass(frozen=True)
class ShareContext:
    """The **Share with the channel** button: whose result, and who alone may press it."""

    session_id: str
    user_id: str
    locale: str


SHARE = "share"
GROUP = "group"
GROUP_ACTIONS = ("join", "pick", "cancel", "vote", "close")


@dataclass(frozen=True)
class GroupContext:
    """A movie night's button: which night, which action (a vote names its option), and the files of
    the post it sits on (repeated in an `update` so they stay attached)."""

    group_id: str
    action: str
    locale: str
    option: int = -1
    file_ids: tuple[str, ...] = ()


class ContextSigner:
    def __init__(self, secret: str) -> None:
        # A key of its own, so a button signature can never pass as a session-link signature.
        self._key = derived_key(secret, b"moodreel-mattermost-actions")

    def _signature(self, fields: Mapping[str, Any]) -> str:
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hmac.new(self._key, canonical.encode("ascii"), hashlib.sha256).hexdigest()

    def sign(self, page: PageContext) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "v": VERSION,
            "session_id": page.session_id,
            "index": page.index,
            "locale": page.locale,
            "file_ids": list(page.file_ids),
        }
        return {**fields, _SIG_FIELD: self._signature(fields)}

    def sign_share(self, share: ShareContext) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "v": VERSION,
            "do": SHARE,
            "session_id": share.session_id,
            "user_id": share.user_id,
            "locale": share.locale,
        }
        return {**fields, _SIG_FIELD: self._signature(fields)}

    def verify_share(self, context: Any) -> ShareContext:
        """The share a context names; BadContext if it is malformed, tampered with or not a share."""
        fields = self._checked(context)
        if fields.get("do") != SHARE:
            raise BadContext("not a share context")
        values = [fields.get(k) for k in ("session_id", "user_id", "locale")]
        if not all(isinstance(v, str) and v for v in values):
            raise BadContext("the share context's fields have the wrong types")
        return ShareContext(*(str(v) for v in values))

    @staticmethod
    def is_share(context: Any) -> bool:
        return isinstance(context, dict) and context.get("do") == SHARE

    def sign_group(self, button: GroupContext) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "v": VERSION,
            "do": GROUP,
            "group_id": button.group_id,
            "action": button.action,
            "locale": button.locale,
            "option": button.option,
            "file_ids": list(button.file_ids),
        }
        return {**fields, _SIG_FIELD: self._signature(fields)}

    def verify_group(self, context: Any) -> GroupContext:
        """The movie-night button a context names; BadContext if malformed, tampered with or another's."""
        fields = self._checked(context)
        group_id, action, locale = (fields.get(k) for k in ("group_id", "action", "locale"))
        option, file_ids = fields.get("option"), fields.get("file_ids")
        if fields.get("do") != GROUP or action not in GROUP_ACTIONS:
            raise BadContext("not a movie-night context")
        if not isinstance(group_id, str) or not group_id or not isinstance(locale, str):
            raise BadContext("the movie-night context's fields have the wrong types")
        if not isinstance(option, int) or isinstance(option, bool):
            raise BadContext("the movie-night context's option is not a number")
        if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
            raise BadContext("the movie-night context's file ids are not a list of strings")
        return GroupContext(group_id, str(action), locale, option, tuple(file_ids))

    @staticmethod
    def is_group(context: Any) -> bool:
        return isinstance(context, dict) and context.get("do") == GROUP

    def _checked(self, context: Any) -> dict[str, Any]:
        if not isinstance(context, dict):
            raise BadContext("the context is missing")
        sig = context.get(_SIG_FIELD)
        fields = {k: v for k, v in context.items() if k != _SIG_FIELD}
        if (
            not isinstance(sig, str)
            or not sig.isascii()
            or not hmac.compare_digest(sig, self._signature(fields))
        ):
            raise BadContext("the context's signature does not match")
        if fields.get("v") != VERSION:
            raise BadContext(f"unknown context version {fields.get('v')!r}")
        return fields

    def verify(self, context: Any) -> PageContext:
        """The page a context names; BadContext if it is malformed or was tampered with."""
        if not isinstance(context, dict):
            raise BadContext("the context is missing")
        sig = context.get(_SIG_FIELD)
        fields = {k: v for k, v in context.items() if k != _SIG_FIELD}
        # compare_digest refuses non-ASCII str (TypeError): such a signature is simply wrong.
        if (
            not isinstance(sig, str)
            or not sig.isascii()
            or not hmac.compare_digest(sig, self._signature(fields))
        ):
            raise BadContext("the context's signature does not match")
        try:
            if fields["v"] != VERSION:
                raise BadContext(f"unknown context version {fields['v']!r}")
            session_id, index, locale, file_ids = (
                fields["session_id"],
                fields["index"],
                fields["locale"],
                fields["file_ids"],
            )
        except KeyError as exc:
            raise BadContext(f"the context lacks {exc.args[0]!r}") from None
        # The signature already vouches for these; the checks guard against our own older formats.
        if not isinstance(session_id, str) or not isinstance(index, int) or isinstance(index, bool):
            raise BadContext("the context's fields have the wrong types")
        if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
            raise BadContext("the context's file ids are not a list of strings")
        return PageContext(session_id, index, str(locale), tuple(file_ids))
