"""Frame analysis speed on one CPU core: core.frames against the original project's pipeline.

`python -m bench.frames [--json]`. Both pipelines see the same webcam-like streams (tests.support.face_frames
clips: one FER2013 PublicTest face per stream, the head drifting) at 640x480 and 320x240, frame by
frame, alternating, so background load hits both alike. The baseline is what the original did:
grey full frame, detectMultiScale(scaleFactor=1.3, minNeighbors=5), every face resized to 48x48,
one model call per face. It uses the same weights, so the comparison is about the pipeline.

Those clips hold only faces the Haar cascade finds; a second table runs both pipelines on unfiltered
clips (bench.scenes.scene_clips: small, tilted, dark, side-lit faces and groups of 2-8, whatever
any detector makes of them) and reports recall (painted faces that got a box, see
bench.scenes.match) and FER accuracy over all painted faces (a missed face counts as wrong).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np
import torch
from tqdm import tqdm

from bench.common import one_core
from bench.scenes import match, scene_clips
from core.emotion.detect import FaceTracker
from core.emotion.frames import FrameAnalyser
from models.net import EMOTIONS, INPUT_SIZE, normalise
from models.weights import DEFAULT_WEIGHTS, load_model
from tests.support.face_frames import CASCADE, face_clips

SIZES = ((640, 480), (320, 240))
CLASSIFY_BUDGET_MS = 3.0


class _AnalyserOptions(TypedDict, total=False):
    """FrameAnalyser keywords given on the command line; the rest keep the analyser's defaults."""

    margin: float
    detect_every: int
    moved_threshold: float | None
    track_shifts: bool


class BaselinePipeline:
    """The original project's per-frame pipeline, kept as it was for comparison."""

    def __init__(self, weights: Path) -> None:
        self.model = load_model(weights)
        self.cascade = cv2.CascadeClassifier(str(CASCADE))

    def analyse(self, jpeg: bytes) -> list[np.ndarray]:
        return [probs for _, probs in self.faces(jpeg)]

    def faces(self, jpeg: bytes) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """(box, probabilities) of every face the cascade finds."""
        frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError("not a decodable JPEG image")
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        out = []
        for (x, y, w, h), face in self.crops(grey):
            with torch.no_grad():
                logits = self.model(normalise(torch.from_numpy(face)[None]))
            out.append(((x, y, w, h), torch.softmax(logits, 1)[0].numpy()))
        return out

    def crops(self, grey: np.ndarray) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """(box, 48x48 crop) of every face the cascade finds in a grey frame."""
        size = (INPUT_SIZE, INPUT_SIZE)
        return [
            ((int(x), int(y), int(w), int(h)), cv2.resize(grey[y : y + h, x : x + w], size))
            for x, y, w, h in self.cascade.detectMultiScale(grey, scaleFactor=1.3, minNeighbors=5)
        ]


@dataclass(frozen=True)
class SizeResult:
    size: str
    frames: int
    fps: float
    p50_ms: float
    p95_ms: float
    baseline_fps: float
    baseline_p50_ms: float
    baseline_p95_ms: float
    speedup: float
    agreement: float  # share of frames with the same top emotion (or both without a face)
    # Where both found a face, the same top emotion as: the original; the original's crops read by our
    # model (what is left is framing and detection); ours with the detector on every frame and no box
    # reuse or crop matching (what is left is what the shortcuts change). Untimed.
    agreement_both: float
    agreement_same_model: float
    agreement_every_frame: float
    face_rate: float
    baseline_face_rate: float
    accuracy: float  # top emotion equals the FER2013 label
    baseline_accuracy: float
    batched_fps: float  # ours, one analyse_batch call per round of frames from several streams


# Conditions of bench.scenes for the unfiltered table (the others are in bench.detect).
SCENE_CONDITIONS = (
    "upright-80",
    "upright-120",
    "upright-200",
    "tilt-30",
    "tilt+30",
    "dark",
    "side-lit",
    "multi",
)


@dataclass(frozen=True)
class SceneResult:
    condition: str
    frames: int
    faces: int  # painted faces, over all frames
    recall: float
    baseline_recall: float
    accuracy: float  # painted faces found and read as their FER2013 label, over all painted faces
    baseline_accuracy: float
    fps: float
    baseline_fps: float


def measure_scenes(
    analyser: FrameAnalyser, baseline: BaselinePipeline, condition: str, clips: int, length: int, seed: int
) -> SceneResult:
    """Both pipelines on unfiltered clips of one bench.scenes condition, 640x480, frame by frame."""
    ours_t, base_t = [], []
    faces = ours_found = base_found = ours_right = base_right = 0
    for clip in scene_clips(condition, clips, length, seed):
        tracker = FaceTracker()
        for frame in clip.frames:
            t0 = time.perf_counter()
            score = analyser.analyse(frame.jpeg, tracker)
            t1 = time.perf_counter()
            base = baseline.faces(frame.jpeg)
            t2 = time.perf_counter()
            ours_t.append(t1 - t0)
            base_t.append(t2 - t1)
            faces += len(frame.faces)
            ours_hits, _ = match(frame.faces, [f.box for f in score.faces])
            base_hits, _ = match(frame.faces, [box for box, _ in base])
            for painted, ours_hit, base_hit in zip(frame.faces, ours_hits, base_hits, strict=True):
                if ours_hit is not None:
                    ours_found += 1
                    ours_right += score.faces[ours_hit].top == painted.label
                if base_hit is not None:
                    base_found += 1
                    base_right += EMOTIONS[int(np.argmax(base[base_hit][1]))] == painted.label
    n = max(1, faces)
    return SceneResult(
        condition=condition,
        frames=len(ours_t),
        faces=faces,
        recall=ours_found / n,
        baseline_recall=base_found / n,
        accuracy=ours_right / n,
        baseline_accuracy=base_right / n,
        fps=len(ours_t) / sum(ours_t),
        baseline_fps=len(base_t) / sum(base_t),
    )


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def measure_size(
    analyser: FrameAnalyser,
    baseline: BaselinePipeline,
    size: tuple[int, int],
    clips: int,
    length: int,
    seed: int,
    streams: int,
) -> SizeResult:
    stream_clips = face_clips(clips, length, size, seed=seed)
    # Warm both up on a frame that is not measured (first calls allocate).
    warm = stream_clips[0].frames[0]
    for _ in range(3):
        analyser.analyse(warm)
        baseline.analyse(warm)
    ours_t, base_t = [], []
    same = ours_face = base_face = ours_right = base_right = 0
    both = same_both = same_model = ref_faces = same_ref = 0
    total = clips * length
    bar = tqdm(total=total, desc=f"frames {size[0]}x{size[1]}", unit="frame", leave=False, file=sys.stderr)
    for clip in stream_clips:
        tracker = FaceTracker()
        for jpeg in clip.frames:
            t0 = time.perf_counter()
            score = analyser.analyse(jpeg, tracker)
            t1 = time.perf_counter()
            probs = baseline.analyse(jpeg)
            t2 = time.perf_counter()
            ours_t.append(t1 - t0)
            base_t.append(t2 - t1)
            ours_top = score.top
            base_top = EMOTIONS[int(np.argmax(probs[0]))] if probs else None
            same += ours_top == base_top
            ours_face += ours_top is not None
            base_face += base_top is not None
            ours_right += ours_top == clip.label
            base_right += base_top == clip.label
            if ours_top is not None and base_top is not None:
                both += 1
                same_both += ours_top == base_top
                grey = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
                assert grey is not None  # the original just decoded it
                crop = baseline.crops(grey)[0][1]
                same_model += ours_top == EMOTIONS[int(np.argmax(analyser.classify_faces(crop[None])[0]))]
            ref_top = analyser.analyse(jpeg).top  # no tracker: the whole frame searched
            if ours_top is not None and ref_top is not None:
                ref_faces += 1
                same_ref += ours_top == ref_top
            bar.update()
    bar.close()
    batched_fps = _batched_fps(analyser, stream_clips, streams)
    fps, base_fps = len(ours_t) / sum(ours_t), len(base_t) / sum(base_t)
    return SizeResult(
        size=f"{size[0]}x{size[1]}",
        frames=total,
        fps=fps,
        p50_ms=_pct(ours_t, 50),
        p95_ms=_pct(ours_t, 95),
        baseline_fps=base_fps,
        baseline_p50_ms=_pct(base_t, 50),
        baseline_p95_ms=_pct(base_t, 95),
        speedup=fps / base_fps,
        agreement=same / total,
        agreement_both=same_both / max(1, both),
        agreement_same_model=same_model / max(1, both),
        agreement_every_frame=same_ref / max(1, ref_faces),
        face_rate=ours_face / total,
        baseline_face_rate=base_face / total,
        accuracy=ours_right / total,
        baseline_accuracy=base_right / total,
        batched_fps=batched_fps,
    )


def _batched_fps(analyser: FrameAnalyser, clips: Sequence, streams: int) -> float:
    """Throughput when `streams` sessions each have a frame waiting: one analyse_batch per round."""
    frames = 0
    elapsed = 0.0
    for start in range(0, len(clips) - streams + 1, streams):
        group = clips[start : start + streams]
        trackers = [FaceTracker() for _ in group]
        for k in range(len(group[0].frames)):
            items = [(clip.frames[k], tracker) for clip, tracker in zip(group, trackers, strict=True)]
            t0 = time.perf_counter()
            analyser.analyse_batch(items)
            elapsed += time.perf_counter() - t0
            frames += len(items)
    return frames / elapsed if elapsed else float("nan")


def classify_latency(analyser: FrameAnalyser, baseline: BaselinePipeline, reps: int) -> dict[str, float]:
    """Milliseconds to classify one 48x48 face: ours (frozen, channels-last) and the plain eager model."""
    face = np.random.default_rng(0).integers(0, 256, (1, INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    x = normalise(torch.from_numpy(face))
    for _ in range(20):
        analyser.classify_faces(face)
    ours, eager = [], []
    with torch.no_grad():
        for _ in range(reps):
            t0 = time.perf_counter()
            analyser.classify_faces(face)
            t1 = time.perf_counter()
            torch.softmax(baseline.model(x), 1)
            t2 = time.perf_counter()
            ours.append(t1 - t0)
            eager.append(t2 - t1)
    return {
        "p50_ms": _pct(ours, 50),
        "p95_ms": _pct(ours, 95),
        "eager_p50_ms": _pct(eager, 50),
        "eager_p95_ms": _pct(eager, 95),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.frames",
        description="Frames per second and latency of the frame analyser against the original pipeline, "
        "on one CPU core.",
    )
    p.add_argument("--clips", type=int, default=24, help="streams per frame size (default: %(default)s)")
    p.add_argument("--length", type=int, default=9, help="frames per stream (default: %(default)s)")
    p.add_argument("--streams", type=int, default=4, help="streams per batch in the batched run (default: 4)")
    p.add_argument("--reps", type=int, default=500, help="single-face classify repetitions (default: 500)")
    p.add_argument(
        "--scene-clips", type=int, default=4, help="unfiltered streams per condition (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="model weights (default: shipped)")
    p.add_argument("--margin", type=float, default=None, help="crop margin (default: the analyser's)")
    p.add_argument("--detect-every", type=int, default=None, help="detector period (default: the analyser's)")
    p.add_argument(
        "--moved-threshold",
        type=float,
        default=None,
        help="box reuse limit, <0: none (default: analyser's)",
    )
    p.add_argument(
        "--no-shifts",
        action="store_true",
        help="follow a moved face with the detector only, not by matching its last crop",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    args = p.parse_args(argv)
    if args.clips < 1 or args.length < 1 or args.streams < 1 or args.reps < 1 or args.scene_clips < 0:
        p.error("--clips, --length, --streams and --reps must be at least 1, --scene-clips at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    extra: _AnalyserOptions = {} if args.margin is None else {"margin": args.margin}
    if args.detect_every is not None:
        extra["detect_every"] = args.detect_every
    if args.moved_threshold is not None:
        extra["moved_threshold"] = None if args.moved_threshold < 0 else args.moved_threshold
    if args.no_shifts:
        extra["track_shifts"] = False
    with one_core() as core:
        analyser = FrameAnalyser(args.weights, threads=1, **extra)
        baseline = BaselinePipeline(args.weights)
        results = [
            measure_size(analyser, baseline, size, args.clips, args.length, args.seed, args.streams)
            for size in SIZES
        ]
        classify = classify_latency(analyser, baseline, args.reps)
        unfiltered = [
            measure_scenes(analyser, baseline, condition, args.scene_clips, args.length, args.seed)
            for condition in (SCENE_CONDITIONS if args.scene_clips else ())
        ]
    print(f"Frame analysis on one CPU core (core {core}), {args.clips} streams x {args.length} frames a size")
    head = (
        f"{'size':<8} {'pipeline':<9} {'fps':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'faces':>6} {'FER acc':>7} {'speedup':>7} {'agree':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.size:<8} {'ours':<9} {r.fps:>7.1f} {r.p50_ms:>7.2f} {r.p95_ms:>7.2f} "
            f"{r.face_rate:>6.1%} {r.accuracy:>7.1%} {r.speedup:>6.1f}x {r.agreement:>6.1%}"
        )
        print(
            f"{'':<8} {'original':<9} {r.baseline_fps:>7.1f} {r.baseline_p50_ms:>7.2f} "
            f"{r.baseline_p95_ms:>7.2f} {r.baseline_face_rate:>6.1%} {r.baseline_accuracy:>7.1%}"
        )
        print(f"{'':<8} {'batched':<9} {r.batched_fps:>7.1f}   ({args.streams} streams a analyse_batch call)")
        print(
            f"{'':<8} where both find the face, same top emotion as: the original {r.agreement_both:.1%}; "
            f"its crops read by our model {r.agreement_same_model:.1%}; ours detecting every frame "
            f"{r.agreement_every_frame:.1%}"
        )
    verdict = "within" if classify["p50_ms"] <= CLASSIFY_BUDGET_MS else "OVER"
    print(
        f"one face, classify only: p50 {classify['p50_ms']:.2f} ms, p95 {classify['p95_ms']:.2f} ms "
        f"({verdict} the {CLASSIFY_BUDGET_MS:.0f} ms budget); plain eager model p50 "
        f"{classify['eager_p50_ms']:.2f} ms"
    )
    if unfiltered:
        print(
            f"\nUnfiltered 640x480 scenes (bench.scenes clips, {args.scene_clips} x {args.length} frames a "
            "condition): ours (BlazeFace) against the original (Haar)"
        )
        head = (
            f"{'condition':<12} {'faces':>5} {'recall':>7} {'orig':>7} {'FER acc':>7} {'orig':>7} "
            f"{'fps':>6} {'orig':>6}"
        )
        print(head)
        print("-" * len(head))
        for u in unfiltered:
            print(
                f"{u.condition:<12} {u.faces:>5} {u.recall:>7.1%} {u.baseline_recall:>7.1%} "
                f"{u.accuracy:>7.1%} {u.baseline_accuracy:>7.1%} {u.fps:>6.1f} {u.baseline_fps:>6.1f}"
            )
    if args.json:
        main_size = results[0]
        print(
            json.dumps(
                {
                    "fps": round(main_size.fps, 2),
                    "baseline_fps": round(main_size.baseline_fps, 2),
                    "speedup": round(main_size.speedup, 3),
                    "agreement": round(main_size.agreement, 4),
                    "agreement_both": round(main_size.agreement_both, 4),
                    "agreement_same_model": round(main_size.agreement_same_model, 4),
                    "agreement_every_frame": round(main_size.agreement_every_frame, 4),
                    "p50_ms": round(main_size.p50_ms, 3),
                    "p95_ms": round(main_size.p95_ms, 3),
                    "classify_ms_p50": round(classify["p50_ms"], 3),
                    "classify_ms_p95": round(classify["p95_ms"], 3),
                    "sizes": {r.size: dataclasses.asdict(r) for r in results},
                    "unfiltered": {u.condition: dataclasses.asdict(u) for u in unfiltered},
                    "core": core,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
