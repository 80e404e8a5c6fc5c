"""Undecodable headers, cookies, bodies and signatures get 400 or 401, never a 500 (issue 14).

Requests go over a raw socket to the real app on 127.0.0.1, so the bytes arrive exactly as an
attacker would send them (client libraries refuse to send most of them).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.mattermost import ACTIONS_PATH, COMMAND_PATH
from core.services import Services
from core.sessions.origin import SessionOrigin
from tests.support.hostile import COMMAND_TOKEN, http_request, raw_http

LATIN1 = b"\xe9t\xe9\xff\xfe"  # not UTF-8


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    yield
    # Request handling only: background loops (the delivery outbox, with Mattermost on a closed port)
    # have their own tests.
    handling = ("aiohttp", "asyncio", "webcam_page", "bot.mattermost.adapter", "core.safe_json")
    crashes = [
        r
        for r in caplog.records
        if r.name.startswith(handling) and (r.exc_info or r.levelno >= logging.ERROR)
    ]
    assert not crashes, [r.getMessage() for r in crashes]


async def claimed_link(client: TestClient, services: Services) -> str:
    """The path of a link this test's browser has claimed (the page now checks its claim cookie)."""
    link = await services.sessions.create(SessionOrigin("web", "visitor"))
    path = "/s/" + link.url.rsplit("/s/", 1)[1]
    resp = await client.post(f"{path}/claim", headers={"Origin": f"http://127.0.0.1:{port(client)}"})
    assert resp.status == 200
    return path


def port(client: TestClient) -> int:
    assert client.port is not None
    return client.port


def _origin(client: TestClient) -> bytes:
    return f"http://127.0.0.1:{port(client)}".encode()


async def test_a_non_utf8_claim_cookie_on_the_page_is_a_400(client: TestClient, services: Services) -> None:
    path = await claimed_link(client, services)
    for cookie in (b"moodreel_claim=" + LATIN1, b"moodreel_claim=\xc3", b"moodreel_claim=caf\xc3\xa9"):
        status, _ = await raw_http(port(client), http_request(port(client), "GET", path, {"Cookie": cookie}))
        assert status == 400, cookie
        status, _ = await raw_http(
            port(client), http_request(port(client), "GET", f"{path}/result", {"Cookie": cookie})
        )
        assert status == 400, cookie


async def test_a_non_utf8_claim_cookie_on_the_socket_is_a_400(client: TestClient, services: Services) -> None:
    path = await claimed_link(client, services)
    upgrade = {
        "Upgrade": b"websocket",
        "Connection": b"Upgrade",
        "Sec-WebSocket-Key": b"dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": b"13",
        "Origin": _origin(client),
        "Cookie": b"moodreel_claim=" + LATIN1,
    }
    status, _ = await raw_http(port(client), http_request(port(client), "GET", f"{path}/ws", upgrade))
    assert status == 400
    upgrade["Cookie"] = b"moodreel_claim=" + LATIN1
    status, _ = await raw_http(
        port(client),
        http_request(port(client), "POST", f"{path}/claim", {"Origin": _origin(client), "Cookie": LATIN1}),
    )
    assert status in (400, 409)


async def test_a_non_utf8_authorization_header_on_the_command_is_a_401(client: TestClient) -> None:
    for auth in (b"Token " + LATIN1, LATIN1, b"Token \xc3\xa9\xc3\xa9"):
        status, body = await raw_http(
            port(client),
            http_request(
                port(client),
                "POST",
                COMMAND_PATH,
                {"Authorization": auth, "Content-Type": b"application/x-www-form-urlencoded"},
                b"user_id=u&channel_id=c",
            ),
        )
        assert status == 401, (auth, body)
        status, _ = await raw_http(
            port(client), http_request(port(client), "GET", COMMAND_PATH, {"Authorization": auth})
        )
        assert status == 401


async def test_a_non_utf8_form_body_on_the_command_is_a_400(client: TestClient) -> None:
    for body in (b"token=" + LATIN1, b"token=" + COMMAND_TOKEN.encode() + b"&text=" + LATIN1, LATIN1):
        status, _ = await raw_http(
            port(client),
            http_request(
                port(client),
                "POST",
                COMMAND_PATH,
                {"Content-Type": b"application/x-www-form-urlencoded"},
                body,
            ),
        )
        assert status == 400, body
    # Percent-encoded bytes that are not UTF-8 are just as undecodable.
    status, _ = await raw_http(
        port(client),
        http_request(
            port(client),
            "POST",
            COMMAND_PATH,
            {"Content-Type": b"application/x-www-form-urlencoded"},
            b"token=" + COMMAND_TOKEN.encode() + b"&text=%E9t%E9&user_id=%FF",
        ),
    )
    assert status in (200, 400)
    status, _ = await raw_http(
        port(client), http_request(port(client), "GET", COMMAND_PATH + "?token=%FF%FE")
    )
    assert status in (400, 401)


async def test_a_non_ascii_sig_on_the_actions_is_refused_not_a_500(client: TestClient) -> None:
    """Refused as a bad button: an ephemeral note on HTTP 200 (the only status Mattermost shows it on)."""
    body = json.dumps({"context": {"v": 1, "session_id": "x", "index": 0, "locale": "en", "sig": "é" * 64}})
    status, answer = await raw_http(
        port(client),
        http_request(
            port(client), "POST", ACTIONS_PATH, {"Content-Type": b"application/json"}, body.encode()
        ),
    )
    assert status in (200, 401, 403) and "not valid" in json.loads(answer)["ephemeral_text"], answer
    for sig in (["list"], 12, None, "\udcff"):
        doc = json.dumps({"context": {"v": 1, "sig": sig}})
        status, answer = await raw_http(
            port(client),
            http_request(
                port(client), "POST", ACTIONS_PATH, {"Content-Type": b"application/json"}, doc.encode()
            ),
        )
        assert status in (200, 400, 401, 403) and "ephemeral_text" in json.loads(answer), sig


async def test_deep_json_and_undecodable_bodies_on_the_actions_are_400(client: TestClient) -> None:
    deep = b"[" * 30_000 + b"]" * 30_000
    for body in (deep, b'{"context": ' * 4_000 + b"1" + b"}" * 4_000, LATIN1, b'{"context": "\xff"}'):
        status, _ = await raw_http(
            port(client),
            http_request(port(client), "POST", ACTIONS_PATH, {"Content-Type": b"application/json"}, body),
        )
        assert status == 400, body[:20]


async def test_undecodable_tokens_in_the_path_are_refused_cleanly(client: TestClient) -> None:
    for path in (
        b"/s/\xff\xfe.\xe9.\xe9",
        b"/s/%C3%A9.%C3%A9.%C3%A9",
        b"/s/%FF.%FE.%FD",
        b"/s/" + b"a." * 300,
    ):
        request = (
            b"GET "
            + path
            + f" HTTP/1.1\r\nHost: 127.0.0.1:{port(client)}\r\nConnection: close\r\n\r\n".encode()
        )
        status, _ = await raw_http(port(client), request)
        assert status in (400, 403, 404), path
        for tail in (b"/result", b"/ws"):
            status, _ = await raw_http(port(client), request.replace(path, path + tail, 1))
            assert status in (400, 403, 404), path + tail


async def test_a_malformed_visitor_cookie_on_try_gets_a_fresh_one(
    client: TestClient, services: Services
) -> None:
    headers = {"Origin": _origin(client), "Cookie": b"moodreel_uid=" + LATIN1}
    status, _ = await raw_http(port(client), http_request(port(client), "POST", "/try", headers))
    assert status == 303
    [doc] = [d async for d in services.store.sessions.find({"origin.platform": "web"})]
    assert doc["origin"]["user_id"].isascii()
