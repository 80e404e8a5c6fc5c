"""Hostile inputs shared by the hardening tests: JPEG header tricks and malformed protocol messages."""

from __future__ import annotations

import cv2
import numpy as np


def small_jpeg(width: int = 16, height: int = 16) -> bytes:
    """A real, tiny grey baseline JPEG (JFIF, DQT, SOF0, DHT, SOS) from OpenCV's encoder."""
    return bytes(cv2.imencode(".jpg", np.full((height, width), 90, np.uint8))[1].tobytes())


def hidden_sof_jpeg(width: int, height: int) -> bytes:
    """A JPEG whose real frame header hides behind `FF 00`, the trick of issue 14's 360-byte bomb.

    A parser that reads `FF 00` as a marker with a length skips the hidden header and lands on a
    16x16 decoy; libjpeg treats `FF 00` as stuffing, finds the hidden `width` x `height` header, and
    skips the decoy inside an APP1 segment. Everything after it is the small JPEG's own tables and scan.
    """
    body = small_jpeg()[2:]
    at = body.find(b"\xff\xc0")
    sof = body[at : at + 2 + int.from_bytes(body[at + 2 : at + 4], "big")]
    rest = body[:at] + body[at + len(sof) :]
    hidden = sof[:5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + sof[9:]
    app1 = b"\xff\xe1" + (2 + len(sof)).to_bytes(2, "big")  # its payload is the decoy header
    skip = len(hidden) + len(app1)
    return b"\xff\xd8" + b"\xff\x00" + (skip + 2).to_bytes(2, "big") + hidden + app1 + sof + rest
