"""Plumbing shared by the subcommands: settings, the store, asyncio and clear errors."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar, TypeVarTuple

from core.config import ConfigError, Settings, load_settings


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


def run_async(coro_fn: Callable[[*_Ts], Coroutine[Any, Any, _T]], *args: *_Ts) -> _T:
    return asyncio.run(coro_fn(*args))


def report_errors(fn: Callable[[], int | None]) -> int:
    """Turn expected failures into one clear line instead of a traceback."""
    from core.storage.mongo import MongoStartError

    try:
        return fn() or 0
    except (ConfigError, CommandError, MongoStartError) as exc:
        print(f"moodreel: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("moodreel: interrupted", file=sys.stderr)
        return 130
