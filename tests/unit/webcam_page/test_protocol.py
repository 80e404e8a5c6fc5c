"""Property tests of the WebSocket message parser: total, bounded, never raising."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.safe_json import nesting
from core.values.emotions import EMOTIONS
from webcam_page import protocol as proto

KNOWN_TYPES = ("start", "finish", "declare", "ping")
MAX_FRAME = 262144

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)


OUTCOMES = (proto.Frame, proto.Start, proto.Finish, proto.Declare, proto.Ping, proto.ProtocolError)


def _is_outcome(value: Any) -> bool:
    return isinstance(value, OUTCOMES)


@settings(max_examples=300)
@given(st.text(max_size=600))
def test_any_text_gets_a_message_or_a_clear_error(text: str) -> None:
    out = proto.parse_text(text)
    assert _is_outcome(out) and not isinstance(out, proto.Frame)
    if isinstance(out, proto.ProtocolError):
        assert out.code and out.message
        assert out.to_json()["type"] == "error" and out.to_json()["v"] == proto.VERSION


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_any_bytes_as_text_never_raise(data: bytes) -> None:
    assert _is_outcome(proto.parse_text(data))


@settings(max_examples=300)
@given(json_values)
def test_any_json_value_is_checked(value: Any) -> None:
    text = json.dumps(value)
    out = proto.parse_text(text)
    if nesting(text) > proto.MAX_DEPTH:
        assert isinstance(out, proto.ProtocolError) and out.code in ("bad_json", "too_large")
    elif not isinstance(value, dict):
        assert isinstance(out, proto.ProtocolError) and out.code in ("bad_message", "too_large")
    elif value.get("v") != 1 or isinstance(value.get("v"), bool):
        assert isinstance(out, proto.ProtocolError) and out.code in ("unsupported_version", "too_large")


@given(st.sampled_from(proto.PHASES))
def test_start_round_trips(phase: str) -> None:
    assert proto.parse_text(json.dumps({"v": 1, "type": "start", "phase": phase})) == proto.Start(phase)


@given(st.sampled_from(EMOTIONS), st.booleans())
def test_declare_accepts_every_emotion_in_any_case(feeling: str, upper: bool) -> None:
    text = json.dumps({"v": 1, "type": "declare", "feeling": feeling.upper() if upper else feeling})
    assert proto.parse_text(text) == proto.Declare(feeling)


@given(st.text(max_size=30).filter(lambda s: s.strip().lower() not in EMOTIONS))
def test_declare_refuses_other_feelings(feeling: str) -> None:
    out = proto.parse_text(json.dumps({"v": 1, "type": "declare", "feeling": feeling}))
    assert isinstance(out, proto.ProtocolError) and out.code == "bad_field"


@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**12), 10**12)))
def test_ping_echoes_its_number(t: float) -> None:
    assert proto.parse_text(json.dumps({"v": 1, "type": "ping", "t": t})) == proto.Ping(float(t))


@given(st.text(min_size=1, max_size=30).filter(lambda s: s not in KNOWN_TYPES))
def test_unknown_types_are_named_in_the_error(kind: str) -> None:
    out = proto.parse_text(json.dumps({"v": 1, "type": kind}))
    assert isinstance(out, proto.ProtocolError) and out.code == "unknown_type" and not out.fatal


@given(st.one_of(st.integers().filter(lambda v: v != 1), st.text(max_size=5), st.none(), st.just(True)))
def test_other_versions_are_refused(version: Any) -> None:
    out = proto.parse_text(json.dumps({"v": version, "type": "ping"}))
    assert isinstance(out, proto.ProtocolError) and out.code == "unsupported_version"


def _refused(text: object) -> proto.ProtocolError:
    out = proto.parse_text(text)
    assert isinstance(out, proto.ProtocolError), out
    return out


def test_oversized_and_bad_json_text() -> None:
    big = json.dumps({"v": 1, "type": "ping", "pad": "x" * proto.MAX_TEXT_BYTES})
    too_large = _refused(big)
    assert too_large == proto.error("too_large", too_large.message)
    assert _refused("{not json").code == "bad_json"
    assert _refused(b"\xff\xfe").code == "bad_json"
    assert _refused('{"v": 1, "type": "start", "phase": "dessert"}').code == "bad_field"


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_any_binary_is_a_frame_or_a_clear_error(data: bytes) -> None:
    out = proto.parse_binary(data, 1024)
    if len(data) > 1024:
        assert isinstance(out, proto.ProtocolError) and out.code == "too_large"
    elif data.startswith(proto.JPEG_SOI) and len(data) >= 4:
        assert out == proto.Frame(data)
    else:
        assert isinstance(out, proto.ProtocolError) and out.code == "not_jpeg"


@given(st.integers(min_value=0, max_value=64))
def test_frames_at_the_cap_pass_and_over_it_fail(extra: int) -> None:
    at_cap = proto.JPEG_SOI + b"\x00" * (MAX_FRAME - 3)
    assert isinstance(proto.parse_binary(at_cap, MAX_FRAME), proto.Frame)
    over = at_cap + b"\x00" * (extra + 1)
    out = proto.parse_binary(over, MAX_FRAME)
    assert isinstance(out, proto.ProtocolError) and out.code == "too_large" and "262144" in out.message


# --- hostile input (issue 14): numbers and depth are bounded, nothing raises -------------------------


def test_a_ping_with_a_400_digit_t_is_answered_not_raised() -> None:
    assert proto.parse_text('{"v": 1, "type": "ping", "t": ' + "9" * 400 + "}") == proto.Ping(None)
    assert proto.parse_text('{"v": 1, "type": "ping", "t": -' + "9" * 400 + "}") == proto.Ping(None)
    assert proto.parse_text('{"v": 1, "type": "ping", "t": 1e400}') == proto.Ping(None)
    assert proto.parse_text('{"v": 1, "type": "ping", "t": 1.5}') == proto.Ping(1.5)


@settings(deadline=None)
@given(st.integers())
def test_a_ping_with_any_integer_never_raises(t: int) -> None:
    text = json.dumps({"v": 1, "type": "ping", "t": t})
    out = proto.parse_text(text)
    if len(text.encode()) > proto.MAX_TEXT_BYTES:
        assert isinstance(out, proto.ProtocolError)
    else:
        assert out == proto.Ping(float(t) if abs(t) <= proto.MAX_PING_T else None)


@settings(deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_refused_without_recursing(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    out = proto.parse_text(opener * depth + "1" + closer * depth)
    assert isinstance(out, proto.ProtocolError)
    if depth > proto.MAX_DEPTH:
        assert out.code in ("bad_json", "too_large")


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    msg = json.dumps({"v": 1, "type": "declare", "feeling": "[[[[[[[[[[[[" + '\\"{{{{{{{{{{'})
    assert nesting(msg) == 1
    assert _refused(msg).code == "bad_field"  # not bad_json


def test_a_bug_in_the_parser_costs_one_message_not_the_connection(monkeypatch: Any) -> None:
    def broken(text: object) -> proto.Message | proto.ProtocolError:
        raise OverflowError("a bug")

    monkeypatch.setattr(proto, "_parse_text", broken)
    assert proto.parse_text("{}") == proto.error("bad_message", "this control message could not be read")


_NUMBERS = st.one_of(
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.none()
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["v", "type", "phase", "feeling", "t", "x"]),
        st.one_of(_NUMBERS, st.sampled_from([1, "ping", "start", "finish", "declare", "baseline", "sad"])),
        max_size=6,
    )
)
def test_any_mix_of_known_fields_never_raises(doc: dict[str, Any]) -> None:
    out = proto.parse_text(json.dumps(doc))
    assert _is_outcome(out)
    if isinstance(out, proto.Ping):
        assert out.t is None or math.isfinite(out.t)
