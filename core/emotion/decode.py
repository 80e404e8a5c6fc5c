"""Webcam frames in: JPEG bytes to grey pixels, refusing anything that is not a sane JPEG.

The frame size is read from the JPEG header the way libjpeg (which OpenCV decodes with) reads it, so
a frame cannot show one size to the check and another to the decoder: between segments, bytes other
than 0xFF are skipped, runs of 0xFF are fill, and `FF 00` is stuffing, not a marker with a length
(jdmarker.c, next_marker). The first frame header (SOF) before the first scan is the one libjpeg
uses; a second one, or a marker libjpeg refuses, makes the frame bad here too. Anything over
MAX_PIXELS or MAX_SCANS is refused before the decoder allocates a single pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_PIXELS = 4096 * 4096  # a small JPEG can declare a huge image; refuse it before decoding
# A progressive JPEG is decoded once per scan over the whole image; a normal one has about ten. Each
# scan starts with an SOS marker (FF DA), which cannot appear in entropy-coded data (FF is stuffed),
# so counting them bounds the scans from above.
MAX_SCANS = 64

# Frame headers (SOF0-3, 5-7, 9-11, 13-15) carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF = frozenset((*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)))
# Segments libjpeg reads with a length and skips or parses in full before the first scan:
# DHT, DAC, DQT, DNL, DRI, APP0-15, COM.
_WITH_LENGTH = frozenset((0xC4, 0xCC, 0xDB, 0xDC, 0xDD, *range(0xE0, 0xF0), 0xFE))
_NO_LENGTH = frozenset((0x01, *range(0xD0, 0xD8)))  # TEM and RST0-7 carry nothing


class BadFrame(ValueError):
    """A frame that is not a decodable JPEG; `index` is its position in the batch."""

    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


def _next_marker(data: bytes, i: int) -> tuple[int, int]:
    """(marker code, position after it) from position i, exactly as libjpeg's next_marker finds it."""
    n = len(data)
    while True:
        while i < n and data[i] != 0xFF:  # extraneous bytes: libjpeg warns and skips them
            i += 1
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            raise BadFrame("not a decodable JPEG image (no frame header)")
        code = data[i]
        i += 1
        if code != 0x00:
            return code, i
        # FF 00 is a stuffed zero, not a marker: libjpeg discards it and searches on.


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) that libjpeg will decode, from the header alone; BadFrame if not a JPEG."""
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff":
        raise BadFrame("not a JPEG image (no JPEG start marker)")
    n = len(data)
    i = 2
    while True:
        marker, i = _next_marker(data, i)
        if marker in _SOF:
            if i + 7 > n:
                break
            height = int.from_bytes(data[i + 3 : i + 5], "big")
            width = int.from_bytes(data[i + 5 : i + 7], "big")
            if width == 0 or height == 0:
                raise BadFrame("not a decodable JPEG image (zero size)")
            return width, height
        if marker in _NO_LENGTH:
            continue
        if marker in _WITH_LENGTH:
            if i + 2 > n:
                break
            length = int.from_bytes(data[i : i + 2], "big")
            i += max(2, length)  # a length under 2 skips nothing more (libjpeg's skip_variable)
            continue
        if marker == 0xDA:
            raise BadFrame("not a decodable JPEG image (a scan before the frame header)")
        if marker == 0xD9:
            raise BadFrame("not a decodable JPEG image (it ends before any image)")
        # SOI again, JPG, DHP, EXP, JPGn, reserved codes: libjpeg stops with an error on these.
        raise BadFrame(f"not a decodable JPEG image (marker FF {marker:02X} where a header belongs)")
    raise BadFrame("not a decodable JPEG image (truncated frame header)")


def decode_grey(data: bytes) -> np.ndarray:
    """A JPEG's pixels as grey uint8, or BadFrame (a ValueError) for anything else, oversized included.

    Every decoder error (cv2.error included) comes out as BadFrame.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BadFrame(f"a frame must be JPEG bytes, not {type(data).__name__}")
    data = bytes(data)
    width, height = jpeg_size(data)
    if width * height > MAX_PIXELS:
        raise BadFrame(f"JPEG of {width}x{height} pixels is larger than allowed")
    if data.count(b"\xff\xda") > MAX_SCANS:
        raise BadFrame(f"JPEG with more than {MAX_SCANS} scans is refused")
    try:
        grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error as exc:
        raise BadFrame(f"not a decodable JPEG image ({str(exc).strip().splitlines()[-1][:120]})") from None
    if grey is None or grey.ndim != 2 or not grey.size:
        raise BadFrame("not a decodable JPEG image")
    # Cannot happen while the header is read as libjpeg reads it (EXIF orientation may turn it).
    if grey.shape not in ((height, width), (width, height)):
        raise BadFrame(f"JPEG decoded to {grey.shape[1]}x{grey.shape[0]}, not the {width}x{height} declared")
    return grey
