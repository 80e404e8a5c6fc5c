"""Masthoff's strategies on small hand-made fit matrices where they disagree."""

from __future__ import annotations

import numpy as np
import pytest

from core.group.aggregate import Ordered, aggregate, order_for_group

# Three members (rows), three movies (columns):
#   0: the crowd-pleaser the third member hates (mean 0.70, worst 0.10)
#   1: the bland one everyone finds acceptable (mean 0.50, worst 0.50)
#   2: good for most, acceptable for all       (mean 0.65, worst 0.45)
FITS = np.array(
    [
        [1.00, 0.50, 0.80],
        [1.00, 0.50, 0.70],
        [0.10, 0.50, 0.45],
    ]
)


def columns(ordered: list[Ordered]) -> list[int]:
    return [o.column for o in ordered]


def test_average_picks_the_crowd_pleaser_one_member_hates() -> None:
    ordered = order_for_group(FITS, "average", 0.4)
    assert columns(ordered) == [0, 2, 1]
    assert [round(o.score, 4) for o in ordered] == [0.7, 0.65, 0.5]
    assert not any(o.relaxed for o in ordered)


def test_least_misery_picks_the_bland_one() -> None:
    ordered = order_for_group(FITS, "least_misery", 0.4)
    assert columns(ordered) == [1, 2, 0]
    assert [round(o.score, 4) for o in ordered] == [0.5, 0.45, 0.1]
    assert not any(o.relaxed for o in ordered)


def test_average_without_misery_drops_the_hated_one_and_picks_the_best_remaining() -> None:
    ordered = order_for_group(FITS, "average_without_misery", 0.4)
    assert columns(ordered) == [2, 1, 0]
    assert [o.relaxed for o in ordered] == [False, False, True]
    # Kept movies score by the mean; the relaxed tail says how its worst-off member fares.
    assert [round(o.score, 4) for o in ordered] == [0.65, 0.5, 0.1]


def test_the_threshold_decides_what_counts_as_misery() -> None:
    # At 0.46 movie 2 (worst 0.45) is a misery too; at 0.45 exactly it is not.
    assert columns(order_for_group(FITS, "average_without_misery", 0.46)) == [1, 2, 0]
    assert [o.relaxed for o in order_for_group(FITS, "average_without_misery", 0.46)] == [False, True, True]
    assert [o.relaxed for o in order_for_group(FITS, "average_without_misery", 0.45)] == [False, False, True]


def test_when_nothing_clears_the_threshold_the_order_is_least_misery_and_says_relaxed() -> None:
    ordered = order_for_group(FITS, "average_without_misery", 0.9)
    assert columns(ordered) == [1, 2, 0]  # best worst-off member first
    assert all(o.relaxed for o in ordered)
    assert [round(o.score, 4) for o in ordered] == [0.5, 0.45, 0.1]


def test_relaxed_ties_on_the_worst_fit_go_to_the_higher_mean() -> None:
    fits = np.array([[0.2, 0.9, 0.3], [0.2, 0.2, 0.2]])  # all worst 0.2; means 0.2, 0.55, 0.25
    ordered = order_for_group(fits, "average_without_misery", 0.5)
    assert columns(ordered) == [1, 2, 0] and all(o.relaxed for o in ordered)


@pytest.mark.parametrize("strategy", ["average", "least_misery", "average_without_misery"])
def test_ties_are_deterministic(strategy: str) -> None:
    same = np.array([[0.6, 0.6, 0.6], [0.7, 0.7, 0.7]])
    # No tiebreak: the lower column first, every time.
    assert columns(order_for_group(same, strategy, 0.4)) == [0, 1, 2]
    # A tiebreak (popularity): the higher first, then the lower column.
    assert columns(order_for_group(same, strategy, 0.4, np.array([1.0, 5.0, 5.0]))) == [1, 2, 0]
    # Scores equal to 4 decimals are a tie (float noise does not decide).
    noisy = same + np.array([[0.0, 1e-7, 2e-7]])
    assert columns(order_for_group(noisy, strategy, 0.4, np.array([0.0, 0.0, 3.0]))) == [2, 0, 1]


def test_a_single_member_group_is_their_own_order() -> None:
    one = np.array([[0.3, 0.9, 0.6]])
    for strategy in ("average", "least_misery", "average_without_misery"):
        assert columns(order_for_group(one, strategy, 0.4)) == [1, 2, 0]


def test_aggregate_values_and_bad_input() -> None:
    assert np.allclose(aggregate(FITS, "average"), [0.7, 0.5, 0.65])
    assert np.allclose(aggregate(FITS, "least_misery"), [0.1, 0.5, 0.45])
    assert np.allclose(aggregate(FITS, "average_without_misery"), [0.7, 0.5, 0.65])
    with pytest.raises(ValueError, match="unknown group strategy"):
        order_for_group(FITS, "most_pleasure", 0.4)
    with pytest.raises(ValueError, match="at least one member"):
        order_for_group(np.zeros((0, 3)), "average", 0.4)
    with pytest.raises(ValueError, match="matrix"):
        order_for_group(np.array([0.5, 0.6]), "average", 0.4)
    assert order_for_group(np.zeros((2, 0)), "average_without_misery", 0.4) == []
