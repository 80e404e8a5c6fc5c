"""The audience stage's analysis on one CPU core: crowds of 1-30 faces at 640x480 and 1280x720.

`python -m bench.stage [--frames N] [--faces 1,5,...] [--json]`. Each case is a clip of N consecutive
frames of one room (tests.support.crowd_frames: unfiltered FER2013 PublicTest faces, the seven
emotions in turn, heads drifting as at a show), analysed in camera order with one face tracker by
the stage's analyser (core.stage.analyse: BlazeFace at stage.detect_size, threshold
stage.detect_threshold, up to stage.max_faces faces), JPEG decoding included, as the live stage and
`moodreel audience` do. Reported per case:
- found: painted faces found (a box whose centre is within 0.35 face sides of a painted face), and
  false boxes per frame (an `empty` row: rooms with nobody in them);
- CPU ms per frame on the one core (process CPU time, p50 and p95) and the frames a second that core
  could keep up with;
- faces/s: faces scored per second of CPU;
- window ms: closing a 20 s window of that crowd at 10 fps (200 frames of readings: the dominant
  emotion over every reading, and the background payload), and the window latency: from a window's
  end until its result is out when frames keep coming = the analysis of the frame that closes it
  (p95) plus that arithmetic. With no frame coming, the stage's clock closes it SETTLE + TICK
  seconds after its end at the latest (webcam_page.stage).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

from bench.common import one_core
from core.config import load_settings
from core.emotion.detect import FaceTracker
from core.stage.analyse import readings, stage_analyser
from core.stage.background import window_background
from core.stage.windows import Windower
from core.values.emotions import EMOTIONS
from tests.support.crowd_frames import crowd_clip, empty_room

SIZES = ((640, 480), (1280, 720))
FACES = (1, 5, 10, 20, 30)
MATCH = 0.35
WINDOW_SECONDS, WINDOW_FPS = 20.0, 10


@dataclass
class Case:
    faces: int
    size: tuple[int, int]
    frames: int = 0
    painted: int = 0
    found: int = 0
    false: int = 0
    scored: int = 0
    cpu: list[float] = field(default_factory=list)
    window_ms: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.size[0]}x{self.size[1]}"

    @property
    def recall(self) -> float:
        return self.found / self.painted if self.painted else float("nan")

    @property
    def p50_ms(self) -> float:
        return float(np.median(self.cpu) * 1000)

    @property
    def p95_ms(self) -> float:
        return float(np.percentile(self.cpu, 95) * 1000)

    @property
    def fps(self) -> float:
        return 1000 / self.p50_ms if self.p50_ms else float("inf")

    @property
    def faces_per_second(self) -> float:
        return self.scored / sum(self.cpu) if self.cpu else 0.0

    @property
    def latency_ms(self) -> float:
        return self.p95_ms + self.window_ms

    def as_dict(self) -> dict[str, Any]:
        return {
            "faces": self.faces,
            "size": list(self.size),
            "frames": self.frames,
            "recall": self.recall,
            "false_per_frame": self.false / self.frames if self.frames else 0.0,
            "cpu_ms_p50": self.p50_ms,
            "cpu_ms_p95": self.p95_ms,
            "fps": self.fps,
            "faces_per_second": self.faces_per_second,
            "window_ms": self.window_ms,
            "window_latency_ms": self.latency_ms,
        }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.stage", description=__doc__.split("\n")[0] if __doc__ else None
    )
    p.add_argument("--frames", type=int, default=30, help="frames per case (default 30)")
    p.add_argument(
        "--faces", default=",".join(map(str, FACES)), help=f"faces per frame, comma-separated ({FACES})"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = p.parse_args(argv)
    try:
        args.faces = [int(x) for x in args.faces.split(",") if x.strip()]
    except ValueError:
        p.error("--faces takes whole numbers, e.g. 1,5,30")
    if args.frames < 2 or not args.faces or min(args.faces) < 1:
        p.error("--frames must be at least 2 and --faces at least 1")
    return args


def _matched(boxes: Sequence[Sequence[int]], seats: Sequence[Any]) -> int:
    """Painted faces found: each seat and each box match at most once, nearest first."""
    pairs = []
    for i, s in enumerate(seats):
        for j, (x, y, w, h) in enumerate(boxes):
            d = math.hypot(x + w / 2 - s.cx, y + h / 2 - s.cy) / s.side
            if d <= MATCH:
                pairs.append((d, i, j))
    used_seats: set[int] = set()
    used_boxes: set[int] = set()
    for _, i, j in sorted(pairs):
        if i not in used_seats and j not in used_boxes:
            used_seats.add(i)
            used_boxes.add(j)
    return len(used_seats)


def mixed(n: int) -> list[str]:
    """A crowd of n with the seven emotions in turn."""
    return [EMOTIONS[i % len(EMOTIONS)] for i in range(n)]


def run_case(analyser: Any, case: Case, frames: Sequence[bytes], seats: Sequence[Any]) -> None:
    tracker = FaceTracker()
    clip_readings: list[list[tuple[float, ...]]] = []
    for jpeg in frames:
        start = time.process_time()
        score = analyser.analyse(jpeg, tracker)
        case.cpu.append(time.process_time() - start)
        boxes = [f.box for f in score.faces]
        hit = _matched(boxes, seats)
        case.frames += 1
        case.painted += len(seats)
        case.found += hit
        case.false += len(boxes) - hit
        case.scored += len(boxes)
        clip_readings.append(readings(score))
    # Closing one 20 s window of this crowd at 10 fps: the arithmetic and the background payload.
    n = int(WINDOW_SECONDS * WINDOW_FPS)
    windower = Windower(WINDOW_SECONDS, "neutral")
    for k in range(n):
        windower.add(k / WINDOW_FPS, clip_readings[k % len(clip_readings)])
    start = time.perf_counter()
    [window] = windower.add(WINDOW_SECONDS, [])
    window_background(window, 4.0)
    case.window_ms = (time.perf_counter() - start) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    clips = {
        (n, size): crowd_clip(mixed(n), args.frames, size, seed=args.seed + n, clear=False)
        for size in SIZES
        for n in args.faces
    }
    empties = {size: empty_room(args.frames, size, seed=args.seed) for size in SIZES}
    with one_core() as core:
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        analyser = stage_analyser(settings)
        for size in SIZES:  # trace the detector for each input shape before timing
            for _ in range(2):
                analyser.analyse(empties[size][0], None)
        cases = []
        for (n, size), clip in clips.items():
            case = Case(n, size)
            run_case(analyser, case, clip.frames, clip.seats)
            cases.append(case)
        empty_cases = []
        for size in SIZES:
            case = Case(0, size)
            run_case(analyser, case, empties[size], [])
            empty_cases.append(case)

    s = settings.stage
    print(
        f"Audience stage analysis on one CPU core (core {core}): {args.frames} frames a case, unfiltered "
        f"FER2013 PublicTest faces; BlazeFace at {s.detect_size} px, threshold {s.detect_threshold}, "
        f"up to {s.max_faces} faces; JPEG decode, detection (tracked), classification"
    )
    head = (
        f"{'frame':<9} {'faces':>5} {'found':>6} {'false/fr':>8} {'cpu ms p50':>10} {'p95':>6} {'fps':>5} "
        f"{'faces/s':>7} {'window ms':>9} {'latency ms':>10}"
    )
    print(head)
    print("-" * len(head))
    for case in cases + empty_cases:
        found = "-" if not case.painted else f"{case.recall:.0%}"
        false = case.false / case.frames
        print(
            f"{case.name:<9} {case.faces:>5} {found:>6} {false:>8.2f} {case.p50_ms:>10.1f} "
            f"{case.p95_ms:>6.1f} {case.fps:>5.1f} {case.faces_per_second:>7.0f} {case.window_ms:>9.2f} "
            f"{case.latency_ms:>10.1f}"
        )
    print("-" * len(head))
    slow = [c for c in cases if c.p95_ms > 1000 / WINDOW_FPS]
    verdict = (
        "every case keeps up with a 10 fps camera on one core"
        if not slow
        else "behind a 10 fps camera (frames are dropped, windows get fewer): "
        + ", ".join(f"{c.faces} faces at {c.name}" for c in slow)
    )
    print(f"p95 CPU per frame <= 100 ms: {verdict}")
    print(
        "window latency = the p95 analysis of the frame that closes the window + closing it; with no "
        "frame coming the stage closes a window at most 1.25 s after its end"
    )
    if args.json:
        out = {
            "core": core,
            "frames": args.frames,
            "detect_size": s.detect_size,
            "detect_threshold": s.detect_threshold,
            "max_faces": s.max_faces,
            "cases": [c.as_dict() for c in cases],
            "empty": [c.as_dict() for c in empty_cases],
            "keeps_up_at_10_fps": not slow,
        }
        print(json.dumps(_finite(out)))
    return 0


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
