"""`moodreel catalogue`: import a movie dataset with poster palettes, show stats, export the sample."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import fail, run_async, settings_from
from core.catalogue.importer import (
    default_sample,
    ensure_catalogue,
    export_catalogue,
    import_dataset,
)
from core.catalogue.movies import count_movies, genre_counts
from core.storage.store import open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("catalogue", help="import movies with poster palettes, show counts, export the sample")
    cat = p.add_subparsers(dest="catalogue_command", metavar="ACTION", required=True)

    imp = cat.add_parser(
        "import",
        help="load a dataset (movies.jsonl + posters/) and extract each poster's palette",
        description="Load a dataset laid out like ../shared/data/movies (movies.jsonl plus posters/"
        "<tmdb_id>.jpg). Palettes come from Pylette in a process pool; re-running changes nothing.",
    )
    imp.add_argument("path", type=Path, help="dataset folder, e.g. ../shared/data/movies")
    imp.add_argument("--workers", type=int, default=None, help="palette processes (0 = one per core)")
    imp.add_argument("--limit", type=int, default=0, help="import only the first N records (try-outs)")
    imp.set_defaults(func=_import)

    stats = cat.add_parser("stats", help="count movies per genre")
    stats.set_defaults(func=_stats)

    exp = cat.add_parser("export", help="write facts and palettes (no posters) to a gzipped JSON-lines file")
    exp.add_argument("path", type=Path, nargs="?", help="output file (default: the configured sample)")
    exp.set_defaults(func=_export)


def _import(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not (args.path / "movies.jsonl").exists():
        fail(f"{args.path} has no movies.jsonl; expected a folder like ../shared/data/movies")
    workers = settings.catalogue.workers if args.workers is None else args.workers
    root = args.path
    if args.limit:
        root = _limited_copy(args.path, args.limit)

    async def go() -> None:
        async with open_store(settings) as store:
            report = await import_dataset(store, root, settings.catalogue.palette_colours, workers)
            print("\n".join(report.lines()))
            print(f"catalogue now holds {await count_movies(store)} movies")

    run_async(go)
    return 0


def _limited_copy(root: Path, limit: int) -> Path:
    """A view of the first N records: a temp folder with a shortened movies.jsonl and a posters link."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="moodreel-import-"))
    with (root / "movies.jsonl").open(encoding="utf-8") as src:
        lines = [line for _, line in zip(range(limit), src, strict=False)]
    (tmp / "movies.jsonl").write_text("".join(lines), encoding="utf-8")
    (tmp / "posters").symlink_to((root / "posters").resolve())
    return tmp


def _stats(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def go() -> None:
        async with open_store(settings) as store:
            await ensure_catalogue(store, settings)
            total = await count_movies(store)
            with_palette = await store.movies.count_documents({"palette.0": {"$exists": True}})
            print(f"{total} movies, {with_palette} with a poster palette\n")
            rows = await genre_counts(store)
            width = max((len(g) for g, _ in rows), default=5)
            print(f"{'genre':<{width}}  movies")
            for genre, n in rows:
                print(f"{genre:<{width}}  {n:>6}")

    run_async(go)
    return 0


def _export(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    path = args.path or default_sample(settings)

    async def go() -> None:
        async with open_store(settings) as store:
            n = await export_catalogue(store, path)
            print(f"wrote {n} movies to {path} ({path.stat().st_size / 1e6:.1f} MB)")

    run_async(go)
    return 0
