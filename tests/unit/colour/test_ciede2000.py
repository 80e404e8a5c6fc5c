"""CIEDE2000: Sharma et al.'s 34 published pairs, symmetry, and vectorised == textbook scalar."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from core.colour.ciede2000 import ciede2000, ciede2000_scalar


def _sharma(shared_data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with (shared_data / "ciede2000" / "sharma2005.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = np.array([[float(r[k]) for k in ("L1", "a1", "b1")] for r in rows])
    second = np.array([[float(r[k]) for k in ("L2", "a2", "b2")] for r in rows])
    return first, second, np.array([float(r["dE00"]) for r in rows])


def _pairs(n: int = 3000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Random CIELAB pairs plus the awkward ones: greys, identical colours, hues exactly opposite."""
    rng = np.random.default_rng(seed)
    a = rng.uniform([0, -110, -110], [100, 110, 110], (n, 3))
    b = rng.uniform([0, -110, -110], [100, 110, 110], (n, 3))
    a[:50, 1:] = 0  # achromatic against chromatic
    b[25:50, 1:] = 0  # achromatic against achromatic
    b[50:100] = a[50:100]  # identical
    b[100:150, 1:] = -a[100:150, 1:]  # hues exactly 180° apart
    a[150:200, 1] = 0  # on the b axis
    b[150:200, 2] = 0  # on the a axis
    return a, b


def test_all_34_sharma_pairs_within_1e4(shared_data: Path) -> None:
    first, second, expected = _sharma(shared_data)
    assert len(expected) == 34
    np.testing.assert_allclose(ciede2000(first, second), expected, rtol=0, atol=1e-4)
    scalar = [ciede2000_scalar(tuple(x), tuple(y)) for x, y in zip(first, second, strict=True)]
    np.testing.assert_allclose(scalar, expected, rtol=0, atol=1e-4)


def test_sharma_pairs_in_float32_stay_close(shared_data: Path) -> None:
    first, second, expected = _sharma(shared_data)
    got = ciede2000(first.astype(np.float32), second.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-3)


def test_symmetric(shared_data: Path) -> None:
    first, second, _ = _sharma(shared_data)
    a, b = _pairs()
    for x, y in ((first, second), (a, b)):
        np.testing.assert_allclose(ciede2000(x, y), ciede2000(y, x), rtol=0, atol=1e-9)
    for x, y in zip(a[:300], b[:300], strict=True):
        there, back = ciede2000_scalar(tuple(x), tuple(y)), ciede2000_scalar(tuple(y), tuple(x))
        assert there == pytest.approx(back, abs=1e-9)


def test_vectorised_equals_scalar() -> None:
    a, b = _pairs()
    scalar = np.array([ciede2000_scalar(tuple(x), tuple(y)) for x, y in zip(a, b, strict=True)])
    np.testing.assert_allclose(ciede2000(a, b), scalar, rtol=0, atol=1e-8)
    assert np.all(ciede2000(a[50:100], b[50:100]) == 0)


def test_broadcasting_and_shapes() -> None:
    a, b = _pairs(40)
    grid = ciede2000(a[:8, None, :], b[None, :5, :])
    assert grid.shape == (8, 5)
    for i in range(8):
        for j in range(5):
            assert grid[i, j] == pytest.approx(ciede2000_scalar(tuple(a[i]), tuple(b[j])), abs=1e-9)
    single = ciede2000([50.0, 10.0, -10.0], (60, 0, 0))
    assert single.shape == ()
    assert float(single) == pytest.approx(ciede2000_scalar((50, 10, -10), (60, 0, 0)), abs=1e-9)


def test_rejects_arrays_that_are_not_lab() -> None:
    with pytest.raises(ValueError, match="last axis of 3"):
        ciede2000(np.zeros((4, 2)), np.zeros((4, 3)))
