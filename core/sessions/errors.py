"""Why a session link or step cannot be used; the message is fit to show to the user."""

from __future__ import annotations


class SessionError(Exception):
    """A session link or state that cannot be used; the message is fit to show to the user."""


class InvalidToken(SessionError):
    """The token is malformed or its signature does not match (forged or altered)."""


class ExpiredToken(SessionError):
    """The link's time is up, or the session was replaced, failed or closed; `reason` says which."""

    def __init__(self, message: str, reason: str = "expired") -> None:
        super().__init__(message)
        self.reason = reason


class AlreadyUsed(SessionError):
    """Another browser opened this link first."""


class SessionNotFound(SessionError):
    """No session with this id (a valid signature for a session that was deleted)."""


class SessionStateError(SessionError):
    """The session is not in a state that allows this step (e.g. completing it twice)."""
