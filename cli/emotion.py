"""`moodreel emotion`: the expression pipeline's probabilities for every face in each image."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import fail
from core.values.emotions import EMOTIONS

if TYPE_CHECKING:
    import numpy as np

    from core.emotion.frames import FrameAnalyser, FrameScore


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "emotion",
        help="read the emotion of every face in each image",
        description="Find every face in each image (BlazeFace; the Haar cascade if its model cannot be "
        "loaded) and print the expression pipeline's probabilities for the seven emotions for the "
        "largest face, each other face's most likely emotion, or that no face was found. Any image "
        "OpenCV reads works (JPEG, PNG, BMP, WebP, TIFF). Exit status 2 if an image could not be read.",
        epilog="example: moodreel emotion me.jpg friend.png --json",
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files")
    p.add_argument(
        "--whole-image",
        action="store_true",
        help="the images are already face crops (e.g. 48x48 FER2013 faces): classify them whole",
    )
    p.add_argument("--weights", type=Path, default=None, help="model weights (default: the shipped ones)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every image's result")
    p.set_defaults(func=_emotion)


def _read_grey(path: Path) -> np.ndarray:
    import cv2
    import numpy as np

    if not path.is_file():
        raise ValueError("no such file")
    grey = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("not an image OpenCV can read")
    return grey


def _score(analyser: FrameAnalyser, grey: np.ndarray, whole: bool) -> FrameScore:
    import cv2

    from core.emotion.frames import FaceScore, FrameScore
    from models.net import INPUT_SIZE

    if not whole:
        return analyser.analyse_pixels([(grey, None)])[0]
    face = cv2.resize(grey, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    probs = tuple(float(p) for p in analyser.classify_faces(face[None])[0])
    box = (0, 0, grey.shape[1], grey.shape[0])
    return FrameScore(probs, box, False, (FaceScore(box, probs),))


def _entry(path: Path, score: FrameScore | None, error: str | None) -> dict[str, Any]:
    return {
        "path": str(path),
        "error": error,
        "face": bool(score and score.face),
        "box": list(score.box) if score and score.box else None,
        "top": score.top if score else None,
        "probs": dict(zip(EMOTIONS, score.probs, strict=True)) if score and score.probs else None,
        # every face, the largest (the one above) first
        "faces": [
            {"box": list(f.box), "top": f.top, "probs": dict(zip(EMOTIONS, f.probs, strict=True))}
            for f in (score.faces if score else ())
        ],
    }


def _line(entry: dict[str, Any]) -> str:
    if entry["error"]:
        return f"{entry['path']}: could not be read ({entry['error']})"
    if not entry["face"]:
        return f"{entry['path']}: no face found"
    ranked = sorted(entry["probs"].items(), key=lambda kv: -kv[1])
    faces = entry["faces"]
    many = f", the largest of {len(faces)} faces" if len(faces) > 1 else ""
    lines = [f"{entry['path']}: {ranked[0][0]} ({_where(entry['box'])}{many})"]
    lines += [f"  {name:<9} {p:6.1%} {'#' * round(p * 30)}" for name, p in ranked]
    for k, face in enumerate(faces[1:], 2):
        top = face["top"]
        lines.append(f"  face {k} of {len(faces)}: {top} {face['probs'][top]:.0%} ({_where(face['box'])})")
    return "\n".join(lines)


def _where(box: list[int]) -> str:
    x, y, w, h = box
    return f"face {w}x{h} at {x},{y}"


def _emotion(args: argparse.Namespace) -> int:
    from core.emotion.frames import FrameAnalyser

    try:
        analyser = FrameAnalyser(args.weights, threads=1)
    except FileNotFoundError as exc:
        fail(str(exc))
    entries = []
    for path in args.images:
        try:
            grey = _read_grey(path)
        except (OSError, ValueError) as exc:
            entries.append(_entry(path, None, str(exc)))
            continue
        entries.append(_entry(path, _score(analyser, grey, args.whole_image), None))
    if args.json:
        print(json.dumps({"emotions": list(EMOTIONS), "images": entries}))
    else:
        print("\n".join(_line(e) for e in entries))
    failed = [e["path"] for e in entries if e["error"]]
    if failed:
        print(f"moodreel: {len(failed)} of {len(entries)} images could not be read", file=sys.stderr)
        return 2
    return 0
