"""Webcam frames in: JPEG bytes to grey pixels, refusing anything that is not a sane JPEG."""

from __future__ import annotations

import cv2
import numpy as np

MAX_PIXELS = 4096 * 4096  # a small JPEG can declare a huge image; refuse it before decoding


class BadFrame(ValueError):
    """A frame that is not a decodable JPEG; `index` is its position in the batch."""

    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header, without decoding; ValueError if it is not a JPEG."""
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff":
        raise ValueError("not a JPEG image (no JPEG start marker)")
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ValueError("not a decodable JPEG image (corrupt marker structure)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        # SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                break
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            if width == 0 or height == 0:
                raise ValueError("not a decodable JPEG image (zero size)")
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        i += 2 + length
    raise ValueError("not a decodable JPEG image (no frame header)")


def decode_grey(data: bytes) -> np.ndarray:
    """A JPEG's pixels as grey uint8, or ValueError for anything else (including oversized images)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"a frame must be JPEG bytes, not {type(data).__name__}")
    data = bytes(data)
    width, height = jpeg_size(data)
    if width * height > MAX_PIXELS:
        raise ValueError(f"JPEG of {width}x{height} pixels is larger than allowed")
    grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("not a decodable JPEG image")
    return grey
