"""The Watcha mapping file: manual corrections, keyed by TMDB id, that the next crawl uses.

27205:                     # use this detail page, whatever the search says
  url: https://pedia.watcha.com/ko-KR/contents/m5ZlmwA
603:                       # search with another title (and/or year)
  query: 매트릭스
  year: 1999
12345: skip                # not on Watcha Pedia: stop looking
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml


class MappingError(ValueError):
    """The mapping file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Correction:
    url: str | None = None
    query: str | None = None
    year: int | None = None
    skip: bool = False


def load_mapping(path: Path) -> dict[int, Correction]:
    """The corrections in `path`; a missing or empty file means none."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping file {path} is not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingError(f"mapping file {path} must map TMDB ids to corrections")
    out: dict[int, Correction] = {}
    for key, value in raw.items():
        where = f"mapping file {path}, entry {key!r}"
        try:
            tmdb_id = int(key)
        except (TypeError, ValueError):
            raise MappingError(f"{where}: the key must be a TMDB id (a number)") from None
        out[tmdb_id] = _correction(value, where)
    return out


def _correction(value: object, where: str) -> Correction:
    if value == "skip":
        return Correction(skip=True)
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected `skip` or a mapping with url, or query and/or year")
    unknown = set(value) - {"url", "query", "year", "skip"}
    if unknown:
        raise MappingError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    if value.get("skip"):
        return Correction(skip=True)
    url = value.get("url")
    if url is not None:
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or "/contents/" not in parts.path:
            raise MappingError(
                f"{where}: url must be a Watcha Pedia detail page (…/contents/<code>), got {url!r}"
            )
    query = value.get("query")
    year = value.get("year")
    if year is not None and (not isinstance(year, int) or not 1870 <= year <= 2100):
        raise MappingError(f"{where}: year must be a year like 1999, got {year!r}")
    if url is None and query is None and year is None:
        raise MappingError(f"{where}: give a url, or a query and/or a year")
    return Correction(url=str(url) if url else None, query=str(query) if query else None, year=year)


def mapping_entry(tmdb_id: int, url: str | None, comment: str = "") -> str:
    """A YAML snippet for the mapping file, for `moodreel crawl watcha --review`."""
    note = f"  # {comment}" if comment else ""
    if url:
        return f"{tmdb_id}:{note}\n  url: {url}"
    return f"{tmdb_id}: skip{note}"
