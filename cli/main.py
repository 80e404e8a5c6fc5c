"""`moodreel`: the command line. Each subcommand lives in its own module with a `register` function."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from cli.common import report_errors

# Module per subcommand group; each defines register(subparsers) and sets `func` on its parsers.
COMMAND_MODULES = (
    "cli.serve",
    "cli.catalogue",
    "cli.recommend",
    "cli.emotion",
    "cli.analyse",
    "cli.crawl",
    "cli.stage",
    "cli.audience",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moodreel",
        description="MoodReel: read a mood from the webcam, turn it into colours, and pick movies whose "
        "posters match. Run `moodreel COMMAND --help` for a command's options.",
    )
    parser.add_argument("--config", help="config file (default: config.yaml, or $MOODREEL_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Long-running serve logs what it does; one-shot commands stay quiet unless asked.
    quiet = logging.INFO if args.command == "serve" else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return report_errors(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
