"""Why a session link or step cannot be used.

Each error carries a `kind` (and the values its words need); the words are core.present.words'
`session.<kind>` entries, in the user's language. `str(error)` is the English, for logs and tests.
"""

from __future__ import annotations

from core.present.words import say


class SessionError(Exception):
    """A session link or state that cannot be used."""

    default_kind = "invalid"

    def __init__(self, kind: str | None = None, **values: str) -> None:
        self.kind = kind or self.default_kind
        self.values = values
        super().__init__(say("en", f"session.{self.kind}", **values))

    def words(self, locale: object) -> str:
        """What to tell the user, in their language."""
        return say(locale, f"session.{self.kind}", **self.values)


class InvalidToken(SessionError):
    """The token is malformed or its signature does not match (forged or altered)."""


class ExpiredToken(SessionError):
    """The link's time is up, or the session was replaced or failed; `kind` says which."""

    default_kind = "expired"


class AlreadyUsed(SessionError):
    """Another browser opened this link first (`used`), or none has opened it yet (`open_first`)."""

    default_kind = "used"


class SessionNotFound(SessionError):
    """No session with this id (a valid signature for a session that was deleted)."""

    default_kind = "missing"


class SessionStateError(SessionError):
    """The session is not in a state that allows this step (e.g. completing it twice)."""

    default_kind = "state"
