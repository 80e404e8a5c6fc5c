"""The audience stage's windows: the crowd's mood every `window_seconds`, from every face in every frame.

Pure arithmetic, no clocks and no I/O: the live stage (webcam_page.stage) feeds it frames timed by
when they reached the server, `moodreel audience` frames timed at i / fps, both the same way.

- A window starts at the first frame after the show starts (or after a pause) and covers
  [start, start + W); the next one starts where it ends. A frame at or after a window's end closes
  it, and any empty windows in between (no frames: the camera sent nothing then).
- A window's **readings** are the seven emotion probabilities of every face in every frame in it:
  a person seen in 30 frames counts 30 times, a frame of 12 faces gives 12 readings.
- Its **emotion** is the one with the highest mean probability over those readings (a tie goes to
  the first in EMOTIONS order); its **confidence** is that mean probability (so at least 1/7).
- **faces** is the most faces in any one frame of the window (how many people were seen at once);
  `readings` and `frames` give the totals.
- With no readings at all (no frames, or no face in any) the window **falls back** on the performer's
  intended emotion, with no confidence (nothing was measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.values.emotions import EMOTIONS, check_emotion

N_EMOTIONS = len(EMOTIONS)


@dataclass(frozen=True)
class StageWindow:
    """One window's audience mood (see the module docstring for every field's meaning)."""

    index: int
    start: float  # seconds from the show's start
    end: float
    emotion: str
    confidence: float | None  # mean probability of `emotion` over the readings; None on fallback
    faces: int  # most faces in one frame
    readings: int  # faces x frames
    frames: int  # frames analysed in the window
    fallback: bool
    intended: str
    means: tuple[float, ...] = ()  # mean probability of each emotion, EMOTIONS order (empty on fallback)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.index,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "emotion": self.emotion,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "faces": self.faces,
            "readings": self.readings,
            "frames": self.frames,
            "fallback": self.fallback,
            "intended": self.intended,
            "means": {e: round(m, 4) for e, m in zip(EMOTIONS, self.means, strict=False)},
        }


def _probs(face: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(face, dtype=np.float64)
    if p.shape != (N_EMOTIONS,) or not np.all(np.isfinite(p)):
        raise ValueError(f"a face reading must be {N_EMOTIONS} finite probabilities, got {p!r}")
    return p


def summarise(
    index: int,
    start: float,
    end: float,
    frames: Sequence[Sequence[Sequence[float]]],
    intended: str,
) -> StageWindow:
    """A window from its frames, each a list of face readings (7 probabilities in EMOTIONS order)."""
    acc = _Accumulator(start)
    for faces in frames:
        acc.add(faces)
    return acc.window(index, end, check_emotion(intended))


@dataclass
class _Accumulator:
    start: float
    total: np.ndarray = field(default_factory=lambda: np.zeros(N_EMOTIONS))
    readings: int = 0
    frames: int = 0
    faces: int = 0

    def add(self, faces: Sequence[Sequence[float]]) -> None:
        self.frames += 1
        self.faces = max(self.faces, len(faces))
        for face in faces:
            self.total += _probs(face)
            self.readings += 1

    def window(self, index: int, end: float, intended: str) -> StageWindow:
        if self.readings == 0:
            return StageWindow(index, self.start, end, intended, None, 0, 0, self.frames, True, intended)
        means = self.total / self.readings
        best = int(np.argmax(means))  # the first of equal means: EMOTIONS order breaks ties
        return StageWindow(
            index,
            self.start,
            end,
            EMOTIONS[best],
            float(means[best]),
            self.faces,
            self.readings,
            self.frames,
            False,
            intended,
            tuple(float(m) for m in means),
        )


class Windower:
    """Frames in, closed windows out. Not thread-safe: feed it from one place (the event loop).

    `intended` may change during the show; a window uses the intended emotion current when it closes.
    """

    def __init__(self, window_seconds: float, intended: str) -> None:
        if not window_seconds > 0:
            raise ValueError("window_seconds must be positive")
        self.window_seconds = float(window_seconds)
        self.intended = check_emotion(intended)
        self.closed: list[StageWindow] = []
        self.late = 0  # frames that arrived for a window already closed (dropped)
        self._open: _Accumulator | None = None

    @property
    def open_since(self) -> float | None:
        """Start of the window being filled, or None before the first frame (or after a pause)."""
        return None if self._open is None else self._open.start

    @property
    def open_until(self) -> float | None:
        return None if self._open is None else self._open.start + self.window_seconds

    def add(self, t: float, faces: Sequence[Sequence[float]]) -> list[StageWindow]:
        """Record one frame taken at `t` seconds with its face readings; returns the windows it closed."""
        done = self.advance(t)
        if self._open is None:
            self._open = _Accumulator(float(t))
        elif t < self._open.start:
            self.late += 1
            return done
        self._open.add(faces)
        return done

    def advance(self, t: float) -> list[StageWindow]:
        """Close every window that ends at or before `t` (empty ones too), oldest first."""
        done: list[StageWindow] = []
        while self._open is not None and t >= self._open.start + self.window_seconds:
            end = self._open.start + self.window_seconds
            done.append(self._close(end))
            self._open = _Accumulator(end)
        return done

    def flush(self, t: float) -> list[StageWindow]:
        """End the open window early at `t` (a pause or the end of the show), after any that ended
        before; the next frame starts a new window. A partial window without frames is dropped."""
        done = self.advance(t)
        acc, self._open = self._open, None
        if acc is not None and acc.frames:
            window = acc.window(len(self.closed), max(float(t), acc.start), self.intended)
            self.closed.append(window)
            done.append(window)
        return done

    def _close(self, end: float) -> StageWindow:
        assert self._open is not None
        window = self._open.window(len(self.closed), end, self.intended)
        self.closed.append(window)
        return window


def windows_of(
    frames: Sequence[tuple[float, Sequence[Sequence[float]]]], window_seconds: float, intended: str
) -> list[StageWindow]:
    """Every window of a recorded run: (time, face readings) per frame, in time order; the last
    window ends at the last frame's time plus one frame interval (or at its window's end, if sooner)."""
    windower = Windower(window_seconds, intended)
    for t, faces in frames:
        windower.add(t, faces)
    if frames:
        step = frames[1][0] - frames[0][0] if len(frames) > 1 else 0.0
        windower.flush(frames[-1][0] + max(0.0, step))
    return list(windower.closed)
