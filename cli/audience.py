"""`moodreel audience`: the audience stage's analysis over a folder of images, taken as a camera."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.analyse import read_images
from cli.common import fail, settings_from
from core.values.emotions import EMOTIONS

if TYPE_CHECKING:
    from core.emotion.frames import FrameAnalyser, FrameScore
    from core.stage.windows import StageWindow

BATCH = 8


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audience",
        help="the audience stage's mood windows for a folder of crowd images (taken as a camera)",
        description="Run the audience stage's analysis offline. The images in --frames (JPEG, PNG, BMP, "
        "WebP or TIFF) are read in name order as frames of one camera at --fps frames a second. Every "
        "face in every frame is scored; every --window seconds the window's dominant emotion is the "
        "one with the highest mean probability over all its faces, its confidence that mean, and "
        "'faces' the most faces seen in one frame. A window with no face falls back on the intended "
        "emotion. Each window gets the stage background's colours: the emotion's three colours, at "
        "an intensity set by the confidence.",
        epilog="example: moodreel audience --frames show/ --fps 10 --window 20 --intended neutral --json",
    )
    p.add_argument(
        "--frames", required=True, type=Path, metavar="DIR", help="folder of frames, in name order"
    )
    p.add_argument("--fps", type=float, default=10.0, metavar="F", help="frames a second (default: 10)")
    p.add_argument(
        "--window",
        type=float,
        default=None,
        metavar="S",
        help="window length in seconds (default: config stage.window_seconds)",
    )
    p.add_argument(
        "--intended",
        choices=EMOTIONS,
        default="neutral",
        metavar="EMOTION",
        help=f"the performer's intended emotion, shown when a window has no faces: {', '.join(EMOTIONS)} "
        "(default: neutral)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per window, one a line")
    p.add_argument(
        "--summary",
        type=Path,
        metavar="DIR",
        help="also write the performer's summary there: timeline.png and windows.csv",
    )
    p.set_defaults(func=_audience)


def analyse_folder(
    analyser: FrameAnalyser, frames: Sequence[bytes], fps: float, window: float, intended: str
) -> list[StageWindow]:
    """Windows of frames taken at i / fps, with one face tracker (consecutive camera frames)."""
    from core.emotion.detect import FaceTracker
    from core.stage.analyse import readings
    from core.stage.windows import windows_of

    tracker = FaceTracker()
    timed: list[tuple[float, list[tuple[float, ...]]]] = []
    for start in range(0, len(frames), BATCH):
        chunk = frames[start : start + BATCH]
        scores: list[FrameScore | None]
        try:
            scores = list(analyser.analyse_batch([(f, tracker) for f in chunk]))
        except ValueError:
            scores = []
            for frame in chunk:  # one unreadable image must not sink its batch
                try:
                    scores.append(analyser.analyse(frame, tracker))
                except ValueError:
                    scores.append(None)
        for i, score in enumerate(scores, start):
            timed.append((i / fps, readings(score) if score is not None else []))
    return windows_of(timed, window, intended)


def window_json(window: StageWindow, fade_seconds: float) -> dict[str, Any]:
    """What `--json` prints for a window: its numbers and its background's colours."""
    from core.stage.background import window_background

    bg = window_background(window, fade_seconds, seed=0)
    return {
        "window": window.index,
        "start": round(window.start, 3),
        "end": round(window.end, 3),
        "emotion": window.emotion,
        "confidence": None if window.confidence is None else round(window.confidence, 4),
        "faces": window.faces,
        "readings": window.readings,
        "frames": window.frames,
        "fallback": window.fallback,
        "brightness": round(bg.brightness, 4),
        "colours": [{"hex": c.hex, "name": c.name, "share": c.share} for c in bg.colours],
    }


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds, 1), 60)
    return f"{int(m)}:{s:04.1f}"


def _audience(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not 0 < args.fps <= 120:
        fail(f"--fps must be above 0 and at most 120 (got {args.fps:g})")
    window = settings.stage.window_seconds if args.window is None else args.window
    if not 0 < window <= 3600:
        fail(f"--window must be above 0 and at most 3600 seconds (got {window:g})")
    frames, skipped = read_images(args.frames)
    for name in skipped:
        print(f"skipped {name}", file=sys.stderr)
    from core.stage.analyse import stage_analyser

    analyser = stage_analyser(settings)
    windows = analyse_folder(analyser, frames, args.fps, window, args.intended)
    if args.summary is not None:
        from core.stage.summary import write_summary

        png, csv = write_summary(args.summary, windows, args.intended, window)
        print(f"summary: {png} and {csv}", file=sys.stderr)
    if args.json:
        for w in windows:
            print(json.dumps(window_json(w, settings.stage.fade_seconds), ensure_ascii=False))
        return 0
    print(f"{len(frames)} frames at {args.fps:g} fps, windows of {window:g} s, intended: {args.intended}")
    print(f"\n{'#':>3}  {'time':<15} {'emotion':<10} {'confidence':>10} {'faces':>5} {'frames':>6}  colours")
    for w in windows:
        rows = [window_json(w, settings.stage.fade_seconds)]
        colours = " ".join(c["hex"] for c in rows[0]["colours"])
        emotion = w.emotion + ("*" if w.fallback else "")
        confidence = "-" if w.confidence is None else f"{w.confidence:.2f}"
        span = f"{_clock(w.start)}-{_clock(w.end)}"
        print(
            f"{w.index:>3}  {span:<15} {emotion:<10} {confidence:>10} {w.faces:>5} {w.frames:>6}  {colours}"
        )
    if any(w.fallback for w in windows):
        print("\n* no faces in the window: the intended emotion is shown")
    return 0
