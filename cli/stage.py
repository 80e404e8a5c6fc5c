"""`moodreel stage`: a new audience stage's control link and stage link."""

from __future__ import annotations

import argparse
import json

from cli.common import fail, settings_from
from core.values.emotions import EMOTIONS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stage",
        help="make an audience stage: a private control link and a stage link for the projector",
        description="Make a new audience stage. Open the control link on the device whose camera faces "
        "the audience (it shows the camera, the intended feeling and a live chart of the audience's "
        "mood); open the stage link full-screen on the projector. Every stage.window_seconds the "
        "audience's dominant emotion sets the stage background; with no faces, the intended feeling "
        "does. The links are signed with MOODREEL_SECRET, so set the same MOODREEL_SECRET for this "
        "command and for `moodreel serve`, which serves the pages.",
        epilog="example: MOODREEL_SECRET=... moodreel stage happy",
    )
    p.add_argument(
        "feeling",
        nargs="?",
        default="neutral",
        choices=EMOTIONS,
        metavar="FEELING",
        help=f"the intended feeling: {', '.join(EMOTIONS)} (default: neutral)",
    )
    p.add_argument("--json", action="store_true", help="print the links as one JSON object")
    p.set_defaults(func=_stage)


def _stage(args: argparse.Namespace) -> int:
    from core.stage.links import StageSigner

    settings = settings_from(args)
    if not settings.secret:
        fail(
            "moodreel stage signs its links with MOODREEL_SECRET, which is not set; set the same "
            "MOODREEL_SECRET here and for `moodreel serve`, or create a stage on the try-it page "
            f"({settings.server.base_url}/)"
        )
    links = StageSigner(settings.secret).issue(
        settings.server.base_url, args.feeling, settings.stage.link_ttl_minutes
    )
    if args.json:
        doc = {
            "stage_id": links.stage_id,
            "intended": links.intended,
            "control_url": links.control_url,
            "stage_url": links.show_url,
            "expires_at": links.expires_at.isoformat(),
        }
        print(json.dumps(doc))
        return 0
    print(f"Audience stage, intended feeling: {links.intended}")
    print(f"  control (keep it private; open it on the camera device): {links.control_url}")
    print(f"  stage (open it full-screen on the projector):            {links.show_url}")
    print(f"Both work until {links.expires_at:%Y-%m-%d %H:%M} UTC, while `moodreel serve` runs.")
    return 0
