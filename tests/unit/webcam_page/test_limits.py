"""The webcam page's abuse limits: sliding windows per socket, and the per-address /try limiter."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from webcam_page.limits import AddressLimiter, SlidingWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(st.lists(st.floats(min_value=0, max_value=0.5), max_size=200), st.integers(min_value=1, max_value=20))
def test_rate_limiter_never_allows_more_than_the_limit_per_window(gaps: list[float], limit: int) -> None:
    clock = FakeClock()
    limiter = SlidingWindow(limit, 1.0, clock)
    allowed: list[float] = []
    for gap in gaps:
        clock.now += gap
        if limiter.allow():
            allowed.append(clock.now)
    for i, t in enumerate(allowed):
        in_window = [u for u in allowed[: i + 1] if t - u < 1.0]
        assert len(in_window) <= limit


@given(st.integers(min_value=1, max_value=30))
def test_rate_limiter_allows_a_steady_stream_under_the_limit(limit: int) -> None:
    clock = FakeClock()
    limiter = SlidingWindow(limit, 1.0, clock)
    for _ in range(3 * limit):
        assert limiter.allow()
        clock.now += 1.0 / limit + 1e-9


def test_the_address_limiter_limits_each_address() -> None:
    clock = FakeClock()
    limiter = AddressLimiter(3, 60.0, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")
    clock.now += 60.0
    assert limiter.allow("a")


def test_a_flood_of_new_addresses_never_resets_the_others() -> None:
    """Issue 14: the old limiter cleared every address once 10,001 had been seen."""
    clock = FakeClock()
    limiter = AddressLimiter(2, 60.0, max_addresses=100, clock=clock)
    assert limiter.allow("victim-of-limit") and limiter.allow("victim-of-limit")
    for k in range(50_000):
        clock.now += 0.0001
        limiter.allow(f"10.0.{k // 256}.{k % 256}")
        if k % 50 == 0:
            assert not limiter.allow("victim-of-limit"), f"the limit was reset after {k} addresses"
    assert len(limiter) <= 100


def test_idle_addresses_are_forgotten_and_memory_stays_bounded() -> None:
    clock = FakeClock()
    limiter = AddressLimiter(5, 1.0, max_addresses=1000, clock=clock)
    for k in range(5000):
        limiter.allow(f"a{k}")
        clock.now += 0.01
    assert len(limiter) <= 101  # only the last second's addresses are remembered
    clock.now += 2.0
    limiter.allow("new")
    assert len(limiter) == 1


@settings(deadline=None)  # timing-free property; a loaded machine must not fail it
@given(st.lists(st.tuples(st.integers(0, 7), st.floats(0, 5)), max_size=300), st.integers(1, 5))
def test_no_address_ever_passes_more_than_the_limit_per_window(
    events: list[tuple[int, float]], limit: int
) -> None:
    """With room for every address (8), none ever gets more than `limit` in any window."""
    clock = FakeClock()
    limiter = AddressLimiter(limit, 10.0, max_addresses=8, clock=clock)
    allowed: dict[int, list[float]] = {}
    for address, gap in events:
        clock.now += gap
        if limiter.allow(str(address)):
            allowed.setdefault(address, []).append(clock.now)
    for times in allowed.values():
        for i, t in enumerate(times):
            assert len([u for u in times[: i + 1] if t - u < 10.0]) <= limit
