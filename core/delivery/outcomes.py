"""What a chat adapter says about one delivery attempt, and how long a platform asked us to wait.

An adapter's `deliver(item)` returns exactly one of these. The outbox turns it into the item's next
state: `Delivered` ends it, `RetryLater` keeps it pending (honouring `after`), `TryNext` moves on to
the adapter's next target, `RefusedForGood` ends it as undeliverable with the reason.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Delivered:
    """The platform accepted the post; `post_id` is its id there (for look-ups and the record)."""

    post_id: str
    target: str = ""


@dataclass(frozen=True)
class RetryLater:
    """The platform is down, slow or rate-limiting: try the same target again later.

    `after` is the platform's own wait (Retry-After, X-Ratelimit-Reset, retry_after) in seconds;
    None lets the outbox back off exponentially.
    """

    reason: str
    after: float | None = None


@dataclass(frozen=True)
class TryNext:
    """This target refused (no permission, DMs closed, token expired...): try the adapter's next one."""

    reason: str


@dataclass(frozen=True)
class RefusedForGood:
    """No target is left (or the platform refused in a way no retry can change)."""

    reason: str


Outcome = Delivered | RetryLater | TryNext | RefusedForGood

# Headers are trusted only this far: a broken proxy must not park a result for a year.
MAX_WAIT_SECONDS = 3600.0
_EPOCH_THRESHOLD = 1_000_000_000  # larger X-Ratelimit-Reset values are UNIX times, not seconds


def _seconds(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)  # Retry-After may be an HTTP date
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        number = when.timestamp() - now
    else:
        if not math.isfinite(number):
            return None
        if number > _EPOCH_THRESHOLD:
            number -= now
    return min(max(number, 0.0), MAX_WAIT_SECONDS)


def wait_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait before retrying, from Retry-After or X-Ratelimit-Reset (Mattermost sends the
    seconds until its window resets; a value that looks like a UNIX time is read as one)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    clock = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    for name in ("retry-after", "x-ratelimit-reset-after", "x-ratelimit-reset"):
        seconds = _seconds(lowered.get(name), clock)
        if seconds is not None:
            return seconds
    return None
