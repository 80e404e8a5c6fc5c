"""What the repository may hold: derived artefacts under 10 MB each, and none of the raw data beside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 10 * 1024 * 1024
# The raw datasets live in ../shared/data and must never be copied in: FER2013's npz, the movie
# metadata and the poster images.
RAW_NAMES = ("fer2013.npz", "fer2013.csv", "movies.jsonl", "poster_sources.csv")
POSTER_SUFFIXES = (".jpg", ".jpeg", ".webp")


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return [ROOT / name for name in out.split("\0") if name]


def test_every_tracked_file_is_under_ten_megabytes() -> None:
    files = tracked_files()
    assert len(files) > 100  # the listing really is the repository's
    big = [
        f"{p.relative_to(ROOT)} ({p.stat().st_size} bytes)"
        for p in files
        if p.exists() and p.stat().st_size >= LIMIT
    ]
    assert big == []


def test_no_raw_dataset_or_poster_is_tracked() -> None:
    names = [p.relative_to(ROOT) for p in tracked_files()]
    raw = [n for n in names if n.name in RAW_NAMES or n.suffix.lower() in POSTER_SUFFIXES]
    assert raw == []
