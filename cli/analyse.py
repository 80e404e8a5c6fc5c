"""`moodreel analyse`: the webcam session's analysis on two folders of images, minus the network."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import fail, run_async, settings_from
from core.present.summary import summarise
from core.values.emotions import EMOTIONS

if TYPE_CHECKING:
    from core.config import Settings
    from core.emotion.frames import FrameScore
    from core.values.results import MoodResult

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
BATCH = 16


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "analyse",
        help="read emotions from two folders of face images (baseline, stimulus) and recommend movies",
        description="Run the webcam session's analysis on images: every image in --baseline and "
        "--stimulus (JPEG, PNG, BMP, WebP or TIFF, in name order) goes through the face detector and "
        "the emotion model; the two phases are compared (IQR outliers removed, Welch's t-test per "
        "emotion) to name a primary and two secondary emotions, which become colours and movie picks.",
        epilog="example: moodreel analyse --baseline shots/calm --stimulus shots/clip --json",
    )
    p.add_argument("--baseline", required=True, type=Path, metavar="DIR", help="images of the calm baseline")
    p.add_argument(
        "--stimulus", required=True, type=Path, metavar="DIR", help="images taken during the stimulus"
    )
    p.add_argument(
        "--feeling",
        choices=EMOTIONS,
        help="a declared feeling, used when too few images show a face (as on the page)",
    )
    p.add_argument("--top", type=int, default=None, help="how many movies, 1-100 (default: config)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (primary, secondary, method, scores, colours, recommendations)",
    )
    p.set_defaults(func=_analyse)


def read_images(folder: Path) -> tuple[list[bytes], list[str]]:
    """JPEG bytes of every image in `folder` (others re-encoded as JPEG), and the files skipped."""
    import cv2
    import numpy as np

    if not folder.is_dir():
        fail(f"{folder} is not a folder")
    frames: list[bytes] = []
    skipped: list[str] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(f"{path.name} (not an image file)")
            continue
        data = path.read_bytes()
        if path.suffix.lower() in (".jpg", ".jpeg") and data[:3] == b"\xff\xd8\xff":
            frames.append(data)
            continue
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            skipped.append(f"{path.name} (cannot be decoded)")
            continue
        frames.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    if not frames:
        fail(f"no images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return frames, skipped


def analyse_images(analyser: Any, frames: Sequence[bytes], label: str) -> list[FrameScore]:
    """Scores for every image, in batches, with a progress bar. Each image is searched for a face
    (no tracker: images in a folder need not be consecutive video frames)."""
    from tqdm import tqdm

    from core.emotion.frames import FrameScore

    scores: list[FrameScore] = []
    with tqdm(total=len(frames), desc=label, unit="img", disable=None) as bar:
        for i in range(0, len(frames), BATCH):
            chunk = frames[i : i + BATCH]
            try:
                scores.extend(analyser.analyse_batch([(f, None) for f in chunk]))
            except ValueError:
                for frame in chunk:  # find the bad one(s); keep the rest
                    try:
                        scores.append(analyser.analyse(frame, None))
                    except ValueError as exc:
                        log.warning("%s: an image could not be read: %s", label, exc)
                        scores.append(FrameScore(None, None))
            bar.update(len(chunk))
    return scores


def _analyse(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.top is not None and not 1 <= args.top <= 100:
        fail(f"--top must be between 1 and 100 (got {args.top})")
    baseline, skipped_b = read_images(args.baseline)
    stimulus, skipped_s = read_images(args.stimulus)
    for name in skipped_b + skipped_s:
        print(f"skipped {name}")
    result = run_async(_run, settings, baseline, stimulus, args.feeling, args.top)
    if args.json:
        print(json.dumps(as_json(result, len(baseline), len(stimulus)), ensure_ascii=False))
    else:
        _print_table(result)
    return 0


async def _run(
    settings: Settings, baseline: list[bytes], stimulus: list[bytes], feeling: str | None, top: int | None
) -> MoodResult:
    import asyncio

    from core.catalogue.importer import ensure_catalogue
    from core.catalogue.recommender import Recommender
    from core.emotion.frames import FrameAnalyser
    from core.mood import TooFewFaces, emotion_from_frames, mood_result, stats_config
    from core.storage.store import open_store

    a = settings.analysis
    analyser = await asyncio.to_thread(FrameAnalyser, None, a.detect_every, a.detect_width, max(1, a.workers))
    base_scores = await asyncio.to_thread(analyse_images, analyser, baseline, "baseline")
    stim_scores = await asyncio.to_thread(analyse_images, analyser, stimulus, "stimulus")
    try:
        emotion = emotion_from_frames(base_scores, stim_scores, feeling, stats_config(settings))
    except TooFewFaces as exc:
        fail(f"{exc}; or pass --feeling to fall back on a declared feeling")
    async with open_store(settings) as store:
        await ensure_catalogue(store, settings)
        recommender = Recommender(store, settings.recommender)
        return await mood_result("cli", emotion, recommender, {"platform": "cli"}, top)


def as_json(result: MoodResult, baseline_images: int, stimulus_images: int) -> dict[str, Any]:
    emotion = result.emotion
    return {
        "primary": emotion.primary,
        "secondary": list(emotion.secondary),
        "method": emotion.method,
        "strengths": emotion.strengths,
        "face_frames": {"baseline": emotion.face_frames[0], "stimulus": emotion.face_frames[1]},
        "images": {"baseline": baseline_images, "stimulus": stimulus_images},
        "scores": [dict(s.__dict__) for s in emotion.scores],
        "colours": [{**c.__dict__, "hex": c.hex} for c in result.colours],
        "recommendations": [r.to_dict() for r in result.recommendations],
    }


def _print_table(result: MoodResult) -> None:
    emotion = result.emotion
    how = {
        "change": "what rose significantly from the baseline to the stimulus",
        "levels": "nothing changed significantly, so the stimulus-phase levels",
        "declared": "too few face images, so the declared feeling",
    }[emotion.method]
    print(f"face images: baseline {emotion.face_frames[0]}, stimulus {emotion.face_frames[1]}")
    if emotion.scores:
        print(f"\n{'emotion':<9} {'baseline':>8} {'stimulus':>8} {'change':>7} {'d':>6} {'p':>8}  frames")
        for s in emotion.scores:
            print(
                f"{s.emotion:<9} {s.baseline_mean:>8.3f} {s.stimulus_mean:>8.3f} {s.change:>+7.3f} "
                f"{s.effect_size:>6.2f} {s.p_value:>8.2g}  {s.baseline_frames}/{s.stimulus_frames}"
            )
    print(f"\n{summarise(emotion).headline} ({how})")
    print("colours: " + ", ".join(f"{c.name} {c.hex} {c.weight:.0%}" for c in result.colours))
    if not result.recommendations:
        print("no movies match this mood; add some with `moodreel catalogue import PATH`")
        return
    print(f"\n{'#':>2}  {'score':>5}  {'title':<40}  {'year':>4}  genres")
    for i, r in enumerate(result.recommendations, 1):
        title = r.title if len(r.title) <= 40 else r.title[:39] + "…"
        print(f"{i:>2}  {r.score:>5.1f}  {title:<40}  {r.year or '-':>4}  {', '.join(r.genres)}")
        print(f"{'':>11}{r.reason}")
