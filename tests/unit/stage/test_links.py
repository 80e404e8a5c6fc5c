"""Stage links: signed per role, stateless, expiring."""

from __future__ import annotations

import datetime as dt

import pytest

from core.sessions.errors import ExpiredToken, InvalidToken
from core.stage.links import StageSigner

NOW = dt.datetime(2026, 5, 1, 20, 0, tzinfo=dt.UTC)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_issue_and_verify_both_roles() -> None:
    signer = StageSigner("s3cret")
    links = signer.issue("http://127.0.0.1:8080/", "Happy", 60, now=NOW)
    assert links.control_url.startswith("http://127.0.0.1:8080/stage/control/")
    assert links.show_url.startswith("http://127.0.0.1:8080/stage/show/")
    control = signer.verify("control", token_of(links.control_url), now=NOW)
    show = signer.verify("show", token_of(links.show_url), now=NOW)
    assert control == show
    assert control.stage_id == links.stage_id and control.intended == "happy"
    assert control.expires_at == NOW + dt.timedelta(minutes=60)
    # Another process with the same secret accepts the links (moodreel stage, then moodreel serve).
    assert StageSigner("s3cret").verify("show", token_of(links.show_url), now=NOW).stage_id == links.stage_id


def test_a_stage_link_cannot_open_the_control_page_and_forgeries_fail() -> None:
    signer = StageSigner("s3cret")
    links = signer.issue("http://x", "sad", 60, now=NOW)
    show = token_of(links.show_url)
    with pytest.raises(InvalidToken):
        signer.verify("control", show, now=NOW)
    stage_id, intended, expires, sig = show.split(".")
    for bad in (
        f"{stage_id}.happy.{expires}.{sig}",  # another intended feeling
        f"{stage_id}.{intended}.{int(expires, 16) + 3600:x}.{sig}",  # a longer life
        f"{stage_id}.bored.{expires}.{sig}",
        "x" * 500,
        "a.b.c",
        "",
        "é.sad.1.x",
    ):
        with pytest.raises(InvalidToken):
            signer.verify("show", bad, now=NOW)
    with pytest.raises(InvalidToken):
        StageSigner("other").verify("show", show, now=NOW)


def test_links_expire() -> None:
    signer = StageSigner("s3cret")
    links = signer.issue("http://x", "sad", 1, now=NOW)
    with pytest.raises(ExpiredToken):
        signer.verify("show", token_of(links.show_url), now=NOW + dt.timedelta(minutes=2))


def test_two_stages_never_share_an_id() -> None:
    signer = StageSigner("s3cret")
    assert len({signer.issue("http://x", "sad", 1, now=NOW).stage_id for _ in range(100)}) == 100
