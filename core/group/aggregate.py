"""Group recommendation: combining each member's fit for each movie into the group's order.

The strategies are three of those Masthoff describes (J. Masthoff, "Group Recommender Systems:
Aggregation, Satisfaction and Group Attributes", Recommender Systems Handbook, 2nd ed., 2015):

- `average`: the mean of the members' fits. Good on the whole, but one member may hate the pick.
- `least_misery`: the lowest member's fit. Nobody suffers, but a movie everyone finds merely
  acceptable beats one most members love.
- `average_without_misery` (the default): movies that fit any member less than the misery threshold
  are left out, and the rest are ordered by the mean. No one is left with a movie that fits them
  badly, and among those the group as a whole is happiest. When no movie clears the threshold for
  everyone, the list goes on with the least-misery order, and those picks say so (`relaxed`).

Fits are 0..1 (core.group.pick: a member's palette-and-genre score for the movie, relative to their
own best pick), one row per member and one column per candidate movie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import GROUP_STRATEGIES

__all__ = ["GROUP_STRATEGIES", "Ordered", "order_for_group"]


@dataclass(frozen=True)
class Ordered:
    column: int  # the candidate's column in the fits matrix
    score: float  # the strategy's aggregate, 0..1
    relaxed: bool  # under average_without_misery: it fits some member less than the threshold


def aggregate(fits: np.ndarray, strategy: str) -> np.ndarray:
    """The strategy's group score per column (average_without_misery ranks by the mean)."""
    if strategy == "least_misery":
        return np.asarray(fits.min(axis=0))
    if strategy in ("average", "average_without_misery"):
        return np.asarray(fits.mean(axis=0))
    raise ValueError(f"unknown group strategy {strategy!r}; choose one of {', '.join(GROUP_STRATEGIES)}")


def order_for_group(
    fits: np.ndarray, strategy: str, threshold: float, tiebreak: np.ndarray | None = None
) -> list[Ordered]:
    """Every column, best first for the group. Ties go to the higher `tiebreak` (e.g. popularity),
    then to the lower column, so the order is deterministic."""
    if fits.ndim != 2 or fits.shape[0] == 0:
        raise ValueError("fits must be a (members, movies) matrix with at least one member")
    n = fits.shape[1]
    extra = np.zeros(n) if tiebreak is None else np.asarray(tiebreak, dtype=np.float64)
    score = aggregate(fits, strategy)
    worst = fits.min(axis=0)
    columns = np.arange(n)
    if strategy != "average_without_misery":
        order = np.lexsort((columns, -extra, -np.round(score, 4)))
        return [Ordered(int(c), float(score[c]), False) for c in order]
    ok = worst >= threshold
    kept = np.lexsort((columns, -extra, -np.round(score, 4)))
    kept = kept[ok[kept]]
    rest = np.lexsort((columns, -extra, -np.round(score, 4), -np.round(worst, 4)))
    rest = rest[~ok[rest]]
    return [Ordered(int(c), float(score[c]), False) for c in kept] + [
        Ordered(int(c), float(worst[c]), True) for c in rest
    ]
