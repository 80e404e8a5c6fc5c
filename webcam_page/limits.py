"""Abuse limits of the webcam page: sliding windows per socket, and per client address for /try.

Not to be confused with crawler.ratelimit, which paces MoodReel's own requests to TMDB.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` events in any `window` seconds."""

    def __init__(
        self, limit: float, window: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = max(1, int(limit))
        self.window = window
        self.clock = clock
        self._times: deque[float] = deque()

    def allow(self) -> bool:
        now = self.clock()
        self._forget(now)
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    def _forget(self, now: float) -> None:
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()

    def idle(self, now: float) -> bool:
        """No event in the last window: forgetting this window changes nothing."""
        return not self._times or now - self._times[-1] >= self.window


class AddressLimiter:
    """At most `limit` events per client address in any `window` seconds, in bounded memory.

    Addresses are kept least-recently-used first. An address idle for a whole window is forgotten
    (it would be allowed anyway); past `max_addresses`, only the least recently seen address is
    dropped, so a flood of new addresses never gives the others a fresh allowance.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_addresses < 1:
            raise ValueError("max_addresses must be at least 1")
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self.clock = clock
        self._windows: OrderedDict[str, SlidingWindow] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def allow(self, address: str) -> bool:
        now = self.clock()
        while self._windows:  # the idle ones sit at the front
            oldest = next(iter(self._windows.values()))
            if not oldest.idle(now):
                break
            self._windows.popitem(last=False)
        window = self._windows.get(address)
        if window is None:
            if len(self._windows) >= self.max_addresses:
                self._windows.popitem(last=False)
            window = self._windows[address] = SlidingWindow(self.limit, self.window, self.clock)
        else:
            self._windows.move_to_end(address)
        return window.allow()
