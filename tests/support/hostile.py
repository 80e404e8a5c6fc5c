"""Hostile inputs shared by the hardening tests: JPEG header tricks and malformed protocol messages."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np

COMMAND_TOKEN = "slash-command-token-1234"  # the Mattermost slash-command token the tests use


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


async def raw_http(port: int, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send raw bytes as an HTTP/1.1 request to 127.0.0.1 (no client library to clean them up) and
    return (status, body) of the answer; the request should carry `Connection: close`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def http_request(
    port: int, method: str, path: str, headers: dict[str, bytes] | None = None, body: bytes = b""
) -> bytes:
    """An HTTP/1.1 request for 127.0.0.1:port as bytes; header values are sent exactly as given."""
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{port}".encode(), b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
