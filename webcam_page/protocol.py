"""The webcam WebSocket protocol, version 1: message types and a parser that never raises.

Client -> server
- Binary message: one JPEG frame (raw bytes, at most `sessions.max_frame_bytes`). The server numbers
  frames per connection from 0 in arrival order (`n`); WebSocket keeps order, so the client knows
  which acknowledgement belongs to which frame.
- Text message: a JSON object `{"v": 1, "type": ..., ...}` of at most 4 KiB:
  `start` {"phase": "baseline" | "stimulus"}, `finish` {}, `declare` {"feeling": <emotion>},
  `ping` {"t": <any number>}.

Server -> client (JSON text, each with "v": 1 and "type")
`ready`, `phase`, `ack`, `dropped`, `analysing`, `retry`, `result`, `pong`, `error` — see the README.
Errors carry a stable `code`, an English `message` and `fatal` (the socket closes after a fatal one).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from core.safe_json import nesting
from core.values.emotions import EMOTIONS

log = logging.getLogger(__name__)

VERSION = 1
MAX_TEXT_BYTES = 4096
MAX_DEPTH = 8  # nesting of JSON arrays and objects in a control message
MAX_PING_T = 2**53  # a ping's integer `t` beyond this, or a `t` that is not finite, is answered as null
PHASES = ("baseline", "stimulus")
JPEG_SOI = b"\xff\xd8\xff"


@dataclass(frozen=True)
class Frame:
    jpeg: bytes


@dataclass(frozen=True)
class Start:
    phase: str


@dataclass(frozen=True)
class Finish:
    pass


@dataclass(frozen=True)
class Declare:
    feeling: str


@dataclass(frozen=True)
class Ping:
    t: float | None = None


Message = Frame | Start | Finish | Declare | Ping


@dataclass(frozen=True)
class ProtocolError:
    """A refused message: `code` is stable for clients, `message` says what to do."""

    code: str
    message: str
    fatal: bool = False

    def to_json(self, **extra: Any) -> dict[str, Any]:
        return {
            "v": VERSION,
            "type": "error",
            "code": self.code,
            "message": self.message,
            "fatal": self.fatal,
            **extra,
        }


def error(code: str, message: str, fatal: bool = False) -> ProtocolError:
    return ProtocolError(code, message, fatal)


def parse_binary(data: object, max_frame_bytes: int) -> Frame | ProtocolError:
    """A binary message: a JPEG frame under the size cap."""
    if not isinstance(data, bytes | bytearray | memoryview):
        return error("bad_message", "a binary message must hold JPEG bytes")
    data = bytes(data)
    if len(data) > max_frame_bytes:
        return error(
            "too_large",
            f"frame of {len(data)} bytes is over the {max_frame_bytes}-byte cap; send smaller JPEGs",
        )
    if len(data) < 4 or not data.startswith(JPEG_SOI):
        return error("not_jpeg", "a binary message must be one JPEG image")
    return Frame(data)


def _ping_time(t: Any) -> float | None:
    """A ping's `t` echoed back: a finite float, or an integer within ±MAX_PING_T; else None.

    Never raises: float() of a 400-digit integer would (OverflowError), so integers are bounded first.
    """
    if isinstance(t, bool) or not isinstance(t, int | float):
        return None
    if isinstance(t, int):
        return float(t) if -MAX_PING_T <= t <= MAX_PING_T else None
    return t if math.isfinite(t) else None


def parse_text(text: object) -> Message | ProtocolError:
    """A JSON control message, checked field by field. Total: whatever arrives, it returns."""
    try:
        return _parse_text(text)
    except Exception:  # a bug here must cost one refused message, never the connection
        log.exception("the control-message parser failed; the message is refused")
        return error("bad_message", "this control message could not be read")


def _parse_text(text: object) -> Message | ProtocolError:
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return error("bad_json", "control messages must be UTF-8 JSON")
    if not isinstance(text, str):
        return error("bad_message", "control messages must be text")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        return error("too_large", f"control messages must be at most {MAX_TEXT_BYTES} bytes")
    if nesting(text) > MAX_DEPTH:
        return error("bad_json", f"control messages nest at most {MAX_DEPTH} levels deep")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return error("bad_json", "control messages must be valid JSON")
    if not isinstance(doc, dict):
        return error("bad_message", 'a control message must be a JSON object like {"v": 1, "type": "ping"}')
    version = doc.get("v")
    if version != VERSION or isinstance(version, bool):
        return error("unsupported_version", f"this server speaks protocol version {VERSION}; reload the page")
    kind = doc.get("type")
    if kind == "start":
        phase = doc.get("phase")
        if phase not in PHASES:
            return error("bad_field", f"start needs phase {PHASES[0]!r} or {PHASES[1]!r}")
        return Start(phase)
    if kind == "finish":
        return Finish()
    if kind == "declare":
        feeling = doc.get("feeling")
        if not isinstance(feeling, str) or feeling.strip().lower() not in EMOTIONS:
            return error("bad_field", f"declare needs feeling, one of: {', '.join(EMOTIONS)}")
        return Declare(feeling.strip().lower())
    if kind == "ping":
        return Ping(_ping_time(doc.get("t")))
    if not isinstance(kind, str):
        return error("bad_message", "a control message needs a string type")
    return error("unknown_type", f"unknown message type {kind[:40]!r}")
