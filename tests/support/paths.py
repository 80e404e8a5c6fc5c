"""Where things are, for tests, stand-ins and benchmarks: the checkout and the shared data beside it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
