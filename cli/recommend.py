"""`moodreel recommend`: movies for a mood given by name, without a camera."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from cli.common import fail, run_async, settings_from
from core.config import Settings
from core.values.emotions import EMOTIONS
from core.values.results import EmotionResult, MoodColour, Recommendation


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "recommend",
        help="pick movies for a mood given by name (no camera needed)",
        description="Turn a mood (a primary emotion and up to two secondary ones) into its colours and "
        "print the movies whose poster palettes match them best. Missing secondary emotions are filled "
        "in with the primary's usual neighbours.",
        epilog="example: moodreel recommend --primary happy --secondary surprise --secondary neutral --top 5",
    )
    p.add_argument("--primary", required=True, choices=EMOTIONS, help="the main emotion")
    p.add_argument(
        "--secondary",
        action="append",
        default=[],
        choices=EMOTIONS,
        metavar="EMOTION",
        help="a secondary emotion; give it up to twice",
    )
    p.add_argument("--top", type=int, default=None, help="how many movies, 1-100 (default: config)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument(
        "--sheet",
        type=Path,
        metavar="FILE.png",
        help="also draw a contact sheet: the named mood colours beside the picks' posters (local posters "
        "from catalogue.posters_dir, a drawn palette card where there is none)",
    )
    p.add_argument("--cards", action="store_true", help="on the sheet, draw palette cards instead of posters")
    p.set_defaults(func=_recommend)


def _recommend(args: argparse.Namespace) -> int:
    from core.catalogue.importer import ensure_catalogue
    from core.catalogue.movies import get_movie
    from core.catalogue.recommender import Recommender
    from core.colour.psychology import emotion_from_names
    from core.storage.store import open_store

    settings = settings_from(args)
    if args.top is not None and not 1 <= args.top <= 100:
        fail(f"--top must be between 1 and 100 (got {args.top})")
    try:
        emotion = emotion_from_names(args.primary, args.secondary)
    except ValueError as exc:
        fail(str(exc))

    async def go() -> tuple[tuple[MoodColour, ...], list[Recommendation], list[dict[str, Any]]]:
        async with open_store(settings) as store:
            await ensure_catalogue(store, settings)
            recommender = Recommender(store, settings.recommender)
            try:
                colours, picks = await recommender.recommend(emotion, args.top)
            except ValueError as exc:
                fail(str(exc))
            docs = [d for r in picks if (d := await get_movie(store, r.tmdb_id))] if args.sheet else []
            return colours, picks, docs

    colours, picks, docs = run_async(go)
    if args.sheet is not None:
        _write_sheet(args, settings, emotion, colours, picks, docs)
    if args.json:
        print(json.dumps([_as_json(r) for r in picks], ensure_ascii=False))
        return 0
    _print_table(emotion.primary, emotion.secondary, colours, picks)
    return 0


def _write_sheet(args: argparse.Namespace, settings: Settings, emotion: EmotionResult,
                 colours: tuple[MoodColour, ...], picks: list[Recommendation],
                 docs: list[dict[str, Any]]) -> None:  # fmt: skip
    from cli.contact_sheet import SheetPick, render_sheet

    by_id = {d["tmdb_id"]: d for d in docs}
    sheet_picks = [SheetPick.from_doc(by_id[r.tmdb_id], r.score) for r in picks if r.tmdb_id in by_id]
    posters = None if args.cards else settings.posters_path()
    try:
        render_sheet(emotion, colours, sheet_picks, posters).save(args.sheet, optimize=True)
    except (OSError, ValueError) as exc:
        fail(f"cannot write the sheet {args.sheet}: {exc}")
    print(f"sheet: {args.sheet}", file=sys.stderr)


def _as_json(rec: Recommendation) -> dict[str, object]:
    return rec.to_dict()


def _print_table(
    primary: str, secondary: tuple[str, ...], colours: tuple[MoodColour, ...], picks: list[Recommendation]
) -> None:
    print(f"mood: {primary}" + (f" (with {' and '.join(secondary)})" if secondary else ""))
    print("colours: " + ", ".join(f"{c.name} {c.hex} {c.weight:.0%}" for c in colours))
    if not picks:
        print("no movies match this mood's genres; add some with `moodreel catalogue import PATH`")
        return
    width = shutil.get_terminal_size((120, 20)).columns
    title_w = max(20, min(40, width - 60))
    print(f"\n{'#':>2}  {'score':>5}  {'title':<{title_w}}  {'year':>4}  genres")
    for i, r in enumerate(picks, 1):
        title = r.title if len(r.title) <= title_w else r.title[: title_w - 1] + "…"
        year = str(r.year) if r.year else "-"
        print(f"{i:>2}  {r.score:>5.1f}  {title:<{title_w}}  {year:>4}  {', '.join(r.genres)}")
        print(f"{'':>11}{r.reason}")
