"""`python -m bench [--json] [NAME ...]`: run every benchmark module in bench/ (those with a main(argv)).

Each runs in its own process, so one benchmark's settings (CPU pinning, thread counts) cannot
leak into the next; its table goes straight to the terminal.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def benchmarks() -> list[str]:
    """Names of bench/*.py modules that define a top-level main(argv), found without importing them."""
    names = []
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            names.append(path.stem)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    found = benchmarks()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run MoodReel's benchmarks one after another, each printing its table. "
        f"Available: {', '.join(found) or 'none'}.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="run only these benchmarks")
    p.add_argument("--json", action="store_true", help="pass --json to each (its last line is a JSON object)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.names) - set(found))
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(found)}")
    chosen = [n for n in found if not args.names or n in args.names]
    failed = []
    for name in chosen:
        print(f"\n== bench.{name} ==", flush=True)
        start = time.perf_counter()
        command = [sys.executable, "-m", f"bench.{name}", *(["--json"] if args.json else [])]
        code = subprocess.call(command, cwd=BENCH_DIR.parent)
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"-- bench.{name}: {status} in {time.perf_counter() - start:.0f}s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\n{len(failed)} of {len(chosen)} benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
