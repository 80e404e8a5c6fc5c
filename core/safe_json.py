"""JSON from strangers: decoded only when it is UTF-8 and nests no deeper than a limit.

json.loads recurses once per level, so 30,000 nested brackets raise RecursionError (or worse, in code
that walks the result). The depth is measured first, without recursing, and anything undecodable
comes out as ValueError, the one error callers need to catch.
"""

from __future__ import annotations

import json
from typing import Any


def nesting(text: str) -> int:
    """How deeply JSON arrays and objects nest in `text` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads(data: str | bytes, max_depth: int) -> Any:
    """The JSON value in `data`; ValueError if it is not UTF-8, not JSON, or nests over `max_depth`."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
    if nesting(data) > max_depth:
        raise ValueError(f"JSON nested more than {max_depth} levels deep")
    try:
        return json.loads(data)
    except RecursionError:  # cannot happen under a sane max_depth; never let it escape
        raise ValueError("JSON nested too deeply") from None
