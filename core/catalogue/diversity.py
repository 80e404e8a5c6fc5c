"""Keeping a list of picks varied: one movie per franchise, no two posters with the same colours.

A top ten of the same series, or of posters that look alike, shows less than it could. Two rules,
shared by the recommender and the quality benchmark:
- franchise: movies whose titles reduce to the same key ("Toy Story 2" and "Toy Story",
  "Madagascar: Escape 2 Africa" and "Madagascar", remakes with the same title) count as one
  franchise, and only the best-ranked of them is kept;
- near-duplicate posters: two palettes whose share-weighted nearest-colour distance (both ways,
  averaged) is under NEAR_DUPLICATE_DELTA_E ΔE00. Fewer than 0.1% of random pairs of the sample's
  posters come that close; the ones that do are the same artwork or look alike (two black-and-white
  posters with the same tones).
"""

from __future__ import annotations

import re

import numpy as np

from core.colour.ciede2000 import ciede2000

NEAR_DUPLICATE_DELTA_E = 2.0

_SPLIT = re.compile(r"\s*[:\u2013\u2014]\s+|\s+-\s+")
_AND_THE = re.compile(r"\s+and the\s+")
_NUMBERED = re.compile(r"(\s+(part|chapter|episode|vol\.?|volume))?\s+(\d+|[ivx]+)$")
_ARTICLE = re.compile(r"^(the|a|an)\s+")


def franchise_key(title: str) -> str:
    """A title reduced to its series: before a subtitle, without a sequel number or a leading article.

    "Harry Potter and the Chamber of Secrets" -> "harry potter" (only when at least two words remain,
    so "Beauty and the Beast" stays whole).
    """
    key = _SPLIT.split(title.strip().lower(), maxsplit=1)[0]
    head = _AND_THE.split(key, maxsplit=1)[0]
    if head != key and len(head.split()) >= 2:
        key = head
    key = _NUMBERED.sub("", key).strip()
    key = _ARTICLE.sub("", key).strip()
    return key or title.strip().lower()


def palette_distance(lab1: np.ndarray, shares1: np.ndarray, lab2: np.ndarray, shares2: np.ndarray) -> float:
    """How far apart two palettes are in ΔE00: each colour's distance to the nearest colour of the
    other palette, weighted by its share, averaged over both directions. Shares of 0 are padding."""
    keep1, keep2 = shares1 > 0, shares2 > 0
    a, b = lab1[keep1].astype(np.float64), lab2[keep2].astype(np.float64)
    s1, s2 = shares1[keep1] / shares1[keep1].sum(), shares2[keep2] / shares2[keep2].sum()
    gaps = ciede2000(a[:, None, :], b[None, :, :])
    return 0.5 * float((s1 * gaps.min(axis=1)).sum() + (s2 * gaps.min(axis=0)).sum())
