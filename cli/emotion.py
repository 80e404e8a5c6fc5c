"""`moodreel emotion`: being built (see the issue that owns it)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sub.add_parser("emotion", help="(not available yet)")
