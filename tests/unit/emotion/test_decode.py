"""core.emotion.decode against hostile JPEGs: the header is read as libjpeg reads it, bombs are refused."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.emotion import decode
from core.emotion.decode import MAX_PIXELS, BadFrame, decode_grey, jpeg_size
from tests.support.hostile import hidden_sof_jpeg, small_jpeg
from tests.support.paths import ROOT


def _segments(jpeg: bytes) -> tuple[list[bytes], bytes]:
    """A JPEG's header segments after SOI, and the rest from its first scan on."""
    out, i = [], 2
    while jpeg[i + 1] != 0xDA:
        length = int.from_bytes(jpeg[i + 2 : i + 4], "big")
        out.append(jpeg[i : i + 2 + length])
        i += 2 + length
    return out, jpeg[i:]


def _sof(width: int, height: int) -> bytes:
    return (
        b"\xff\xc0\x00\x0b\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    )


def test_the_360_byte_bomb_is_refused_before_any_allocation() -> None:
    """Issue 14: a 32000x32000 header hidden after FF 00. A fresh process decodes it so that its peak
    memory shows any allocation: the image would be 1 GB, the refusal costs nothing."""
    bomb = hidden_sof_jpeg(32000, 32000)
    assert len(bomb) <= 360
    assert jpeg_size(bomb) == (32000, 32000)
    script = textwrap.dedent(
        """
        import resource, sys, time
        from core.emotion.decode import BadFrame, decode_grey
        from tests.support.hostile import hidden_sof_jpeg
        bomb = hidden_sof_jpeg(32000, 32000)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        try:
            decode_grey(bomb)
        except BadFrame as exc:
            print("refused", exc)
        took = time.perf_counter() - start
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(f"took={took:.4f} grew_kib={grew}")
        sys.exit(0 if took < 0.05 and grew < 50_000 else 1)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "refused JPEG of 32000x32000 pixels is larger than allowed" in proc.stdout


def test_a_hidden_header_is_the_one_libjpeg_decodes() -> None:
    """The same trick at a harmless size: OpenCV's libjpeg decodes the hidden size, and so do we."""
    trick = hidden_sof_jpeg(64, 48)
    grey = cv2.imdecode(np.frombuffer(trick, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert grey is not None and grey.shape == (48, 64)
    assert jpeg_size(trick) == (64, 48)
    assert decode_grey(trick).shape == (48, 64)


def test_fill_bytes_stuffing_and_junk_between_segments_are_read_as_libjpeg_does() -> None:
    segments, scan = _segments(small_jpeg(24, 8))
    gaps = [b"\xff\xff\xff", b"\xff\x00", b"junk", b"\xff\x00\x00\x40", b""]
    data = b"\xff\xd8" + b"".join(seg + gaps[k % len(gaps)] for k, seg in enumerate(segments)) + scan
    assert jpeg_size(data) == (24, 8)
    assert decode_grey(data).shape == (8, 24)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff\xd8\xff\xd9", "ends before any image"),
        (b"\xff\xd8\xff\xda\x00\x08", "scan before the frame header"),
        (b"\xff\xd8\xff\xd8" + _sof(8, 8), "marker FF D8"),
        (b"\xff\xd8\xff\x4a\x00\x04\x00\x00" + _sof(8, 8), "marker FF 4A"),
        (b"\xff\xd8\xff\xe0\x00\x10", "no frame header"),
        (b"\xff\xd8\xff\xc0\x00\x0b\x08\x00", "truncated"),
        (b"\xff\xd8\xff" + _sof(0, 8)[1:], "zero size"),
    ],
    ids=["eoi", "sos-first", "soi-again", "reserved", "no-sof", "short-sof", "zero"],
)
def test_headers_libjpeg_refuses_are_bad_frames(data: bytes, why: str) -> None:
    with pytest.raises(BadFrame, match=why):
        jpeg_size(data)


def test_every_decoder_error_is_a_bad_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(buf: np.ndarray, flags: int) -> np.ndarray:
        raise cv2.error("OpenCV(4.x) loadsave.cpp: error: (-215:Assertion failed) pixels <= CV_IO_MAX")

    monkeypatch.setattr(decode.cv2, "imdecode", explode)
    with pytest.raises(BadFrame, match="Assertion failed"):
        decode_grey(small_jpeg())


def test_too_many_scans_are_refused_before_decoding() -> None:
    segments, scan = _segments(small_jpeg())
    many = b"\xff\xd8" + b"".join(segments) + scan[:-2] + scan[:-2] * decode.MAX_SCANS + b"\xff\xd9"
    with pytest.raises(BadFrame, match="scans"):
        decode_grey(many)


def test_not_bytes_is_a_bad_frame() -> None:
    not_bytes: Any = "a string"  # a caller outside the type checker's reach
    with pytest.raises(BadFrame):
        decode_grey(not_bytes)


# --- a differential check against libjpeg itself ----------------------------------------------------

_GAP = st.one_of(
    st.just(b""),
    st.integers(1, 4).map(lambda k: b"\xff" * k),  # fill
    st.just(b"\xff\x00"),  # stuffing
    st.binary(min_size=1, max_size=6).map(lambda b: b.replace(b"\xff", b"")),  # extraneous bytes
    st.binary(min_size=2, max_size=2).map(lambda b: b"\xff\x00" + b),  # the length trick
)
_SIZES = st.tuples(st.integers(1, 64), st.integers(1, 64))


@st.composite
def _tricky_jpegs(draw: st.DrawFn) -> bytes:
    """Real JPEG segments with gaps, decoy headers inside APP/COM segments and an optional hidden
    header; every size involved is small, so whatever libjpeg decodes stays cheap."""
    segments, scan = _segments(small_jpeg(*draw(_SIZES)))
    out = [b"\xff\xd8"]
    if draw(st.booleans()):  # the bomb's trick at a small size: FF 00, a hidden header, the real one in APP1
        real = segments.pop(next(k for k, s in enumerate(segments) if s[1] == 0xC0))
        hidden = _sof(*draw(_SIZES))
        out += [b"\xff\x00", (len(hidden) + 6).to_bytes(2, "big"), hidden]
        out += [b"\xff\xe1", (2 + len(real)).to_bytes(2, "big"), real]
    for seg in segments:
        out.append(seg)
        if draw(st.booleans()):
            decoy = _sof(*draw(_SIZES))
            marker = draw(st.sampled_from([b"\xff\xe1", b"\xff\xed", b"\xff\xfe"]))
            out.append(marker + (2 + len(decoy)).to_bytes(2, "big") + decoy)
        out.append(draw(_GAP))
    out.append(scan)
    return b"".join(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_tricky_jpegs())
def test_the_size_we_read_is_the_size_libjpeg_decodes(data: bytes) -> None:
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    try:
        width, height = jpeg_size(data)
    except BadFrame:
        assert decoded is None, "we refused a header libjpeg decodes"
        return
    if decoded is not None:
        assert decoded.shape == (height, width)
        assert width * height <= MAX_PIXELS
        assert np.array_equal(decode_grey(data), decoded)
