"""A movie night member's result page: the choice to show their mood by name (POST /s/{token}/reveal),
authenticated like a reload of the result, refused with a 4xx for anything hostile; and in Chromium,
the checkbox shows for a member's session and not for a solo one."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from core.config import Settings
from core.emotion.stats import declared_result
from core.present.words import say
from core.services import Services
from core.sessions.origin import SessionOrigin
from core.storage.store import Store, utcnow
from core.values.results import MoodResult
from tests.integration.webcam.test_chromium import make_browser, server, wait_state  # noqa: F401
from tests.support.services import running_services, short_settings
from webcam_page.app import create_app


@pytest_asyncio.fixture
async def services(store: Store, settings: Settings) -> AsyncIterator[Services]:
    async with running_services(store, short_settings(settings)) as svc:
        yield svc


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, services: Services) -> TestClient:
    return await aiohttp_client(create_app(services))


def origin_of(client: TestClient) -> str:
    return f"http://{client.host}:{client.port}"


def path_of(url: str) -> str:
    return "/s/" + url.rsplit("/s/", 1)[1]


async def claimed(client: TestClient, url: str) -> str:
    """Claim the link as the page does (the client keeps the claim cookie); returns its path."""
    path = path_of(url)
    resp = await client.post(f"{path}/claim", headers={"Origin": origin_of(client)})
    assert resp.status == 200, await resp.text()
    return path


async def completed(services: Services, session_id: str, feeling: str = "happy") -> None:
    doc = await services.sessions.get(session_id)
    assert doc is not None
    result = MoodResult(session_id, declared_result(feeling), (), (), doc["origin"])
    await services.sessions.complete(session_id, result)


async def member(client: TestClient, services: Services, user: str = "u1") -> tuple[str, str, str]:
    """(group id, session id, path) of a member whose session finished in this client's browser."""
    group = await services.groups.start("discord", "chan", "host", "Hana")
    _, link, _ = await services.groups.join(group.group_id, user, "Ann")
    path = await claimed(client, link.url)
    await completed(services, link.session_id)
    return group.group_id, link.session_id, path


async def reveal(client: TestClient, path: str, body: Any = None, **kwargs: Any) -> aiohttp.ClientResponse:
    headers = {"Origin": origin_of(client), **kwargs.pop("headers", {})}
    if "data" not in kwargs:
        kwargs["json"] = body
    return await client.post(f"{path}/reveal", headers=headers, **kwargs)


async def test_a_member_chooses_to_show_their_mood_and_changes_their_mind(
    client: TestClient, services: Services
) -> None:
    group_id, session_id, path = await member(client, services)
    page = await client.get(f"{path}/result")
    assert page.status == 200
    assert (await page.json())["group"] == {"open": True, "reveal": False}  # off by default

    resp = await reveal(client, path, {"show": True})
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"ok": True, "show": True, "message": say("en", "page.group.revealed")}
    assert await services.groups.reveal_state(session_id) == (True, True)
    assert (await (await client.get(f"{path}/result")).json())["group"] == {"open": True, "reveal": True}

    resp = await reveal(client, path, {"show": False})
    assert resp.status == 200 and (await resp.json())["message"] == say("en", "page.group.hidden")
    await reveal(client, path, {"show": True})
    picked, _ = await services.groups.pick(group_id, "host")
    assert picked.pick is not None and picked.pick.revealed == (("Ann", "happy"),)

    # After the pick the choice no longer counts: a clear 409, and the page says it is closed.
    resp = await reveal(client, path, {"show": False})
    assert resp.status == 409
    body = await resp.json()
    assert (body["error"], body["message"]) == ("picked", "the pick was already made")
    assert await services.groups.reveal_state(session_id) == (False, True)
    assert (await (await client.get(f"{path}/result")).json())["group"] == {"open": False, "reveal": True}


async def test_the_socket_result_of_a_member_carries_the_choice(
    client: TestClient, services: Services
) -> None:
    group = await services.groups.start("mattermost", "chan", "host", "Hana")
    _, link, _ = await services.groups.join(group.group_id, "u1", "Ann")
    path = await claimed(client, link.url)
    ws = await client.ws_connect(f"{path}/ws", origin=origin_of(client))
    assert (await ws.receive_json())["type"] == "ready"
    await ws.send_json({"v": 1, "type": "declare", "feeling": "sad"})
    while (msg := await asyncio.wait_for(ws.receive_json(), 30))["type"] != "result":
        pass
    assert msg["group"] == {"open": True, "reveal": False}
    await ws.close()
    solo = await services.sessions.create(SessionOrigin("web", "solo"))
    solo_path = await claimed(client, solo.url)
    ws = await client.ws_connect(f"{solo_path}/ws", origin=origin_of(client))
    assert (await ws.receive_json())["type"] == "ready"
    await ws.send_json({"v": 1, "type": "declare", "feeling": "sad"})
    while (msg := await asyncio.wait_for(ws.receive_json(), 30))["type"] != "result":
        pass
    assert msg["group"] is None
    await ws.close()


async def test_hostile_bodies_get_a_400(client: TestClient, services: Services) -> None:
    _, session_id, path = await member(client, services)
    for data in (b"{not json", b"\xff\xfe{}", b"", b"[" * 5000 + b"]" * 5000, b'{"show": tru}'):
        resp = await reveal(client, path, data=data, headers={"Content-Type": "application/json"})
        assert resp.status == 400, data[:20]
        assert (await resp.json())["error"] == "bad_json"
    for body in ({"show": "true"}, {"show": 1}, {"show": None}, {}, [True], "show", True, {"Show": True}):
        resp = await reveal(client, path, body)
        assert resp.status == 400, body
        assert (await resp.json())["error"] == "bad_request"
    resp = await reveal(client, path, data=b'{"show": true, "x": "' + b"a" * 70_000 + b'"}')
    assert resp.status == 413
    assert (await client.get(f"{path}/reveal")).status == 405
    assert await services.groups.reveal_state(session_id) == (True, False)  # nothing changed


async def test_forged_expired_and_unclaimed_requests_are_refused(
    client: TestClient, services: Services
) -> None:
    _, session_id, path = await member(client, services)
    sid, exp, sig = path.removeprefix("/s/").split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    for forged in (f"/s/{sid}.{exp}.{flipped}", "/s/abc", f"/s/{sid}.{int(exp, 16) + 60:x}.{sig}"):
        resp = await reveal(client, forged, {"show": True})
        assert resp.status == 403, forged
        assert (await resp.json())["error"] == "invalid"
    past = services.sessions.make_token(session_id, utcnow().replace(microsecond=0) - dt.timedelta(minutes=1))
    resp = await reveal(client, f"/s/{past}", {"show": True})
    assert resp.status == 410 and (await resp.json())["error"] == "expired"
    # Cross-site, or without an Origin: refused before anything else.
    for origin in ("https://evil.example", ""):
        resp = await client.post(f"{path}/reveal", json={"show": True}, headers={"Origin": origin})
        assert resp.status == 403 and (await resp.json())["error"] == "origin"
    # Another browser: no claim cookie, someone else's, or a malformed one.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        url = client.make_url(f"{path}/reveal")
        for cookie, status in (
            (None, 403),
            ("moodreel_claim=someone-elses", 403),
            ("moodreel_claim=a.b;c", 400),
        ):
            headers = {"Origin": origin_of(client), **({"Cookie": cookie} if cookie else {})}
            async with other.post(url, json={"show": True}, headers=headers) as resp:
                assert resp.status == status, cookie
    assert await services.groups.reveal_state(session_id) == (True, False)


async def test_a_session_not_finished_or_not_of_a_group_is_refused(
    client: TestClient, services: Services
) -> None:
    group = await services.groups.start("discord", "chan", "host", "Hana")
    _, link, _ = await services.groups.join(group.group_id, "u1", "Ann")
    path = await claimed(client, link.url)
    resp = await reveal(client, path, {"show": True})  # still running: no result for this browser yet
    assert resp.status == 403 and (await resp.json())["error"] == "claim"

    solo = await services.sessions.create(SessionOrigin("discord", "u2"))
    solo_path = await claimed(client, solo.url)
    await completed(services, solo.session_id)
    resp = await reveal(client, solo_path, {"show": True})
    assert resp.status == 404
    assert await resp.json() == {
        "ok": False,
        "error": "not_group",
        "message": "this session is not part of a movie night",
    }
    assert (await (await client.get(f"{solo_path}/result")).json())["group"] is None

    # A member who joined again: the earlier (replaced) session no longer speaks for them.
    _, first, first_path = await member(client, services, user="u3")
    night = await services.groups.of_session(first)
    assert night is not None
    await services.groups.join(night.group_id, "u3", "Ann again")
    resp = await reveal(client, first_path, {"show": True})
    assert resp.status == 404


async def test_a_cancelled_night_refuses_the_choice(client: TestClient, services: Services) -> None:
    group_id, _, path = await member(client, services)
    await services.groups.cancel(group_id, "host")
    resp = await reveal(client, path, {"show": True})
    assert resp.status == 409 and (await resp.json())["error"] == "over"


# --- in Chromium ---------------------------------------------------------------------------------------


async def test_the_checkbox_shows_for_a_member_and_not_for_a_solo_session(server: Services) -> None:  # noqa: F811
    group = await server.groups.start("mattermost", "chan", "host", "Hana")
    _, link, _ = await server.groups.join(group.group_id, "u1", "Ann")
    solo = await server.sessions.create(SessionOrigin("mattermost", "u2"))

    def declared(driver: Any, url: str) -> None:
        driver.get(url)
        wait_state(driver, "intro")
        driver.find_element(By.ID, "no-camera").click()
        wait_state(driver, "declare")
        driver.find_element(By.CSS_SELECTOR, '.choice[data-feeling="happy"]').click()
        wait_state(driver, "result")

    def run() -> dict[str, Any]:
        driver = make_browser(None)
        try:
            declared(driver, link.url)
            box = driver.find_element(By.ID, "group-reveal")
            check = driver.find_element(By.ID, "reveal")
            seen: dict[str, Any] = {
                "shown": box.is_displayed(),
                "checked": check.is_selected(),
                "label": driver.find_element(By.CSS_SELECTOR, "label[for=reveal]").text,
                "before": driver.find_element(By.ID, "reveal-status").text,
            }
            check.click()
            revealed = say("en", "page.group.revealed")
            status = (By.ID, "reveal-status")
            WebDriverWait(driver, 30, poll_frequency=0.1).until(
                lambda d: d.find_element(*status).text == revealed
            )
            seen["after"] = driver.find_element(*status).text
            driver.refresh()  # a reload shows the stored choice
            wait_state(driver, "result")
            seen["reloaded"] = driver.find_element(By.ID, "reveal").is_selected()
            driver.delete_all_cookies()
            declared(driver, solo.url)
            seen["solo"] = driver.find_element(By.ID, "group-reveal").is_displayed()
            return seen
        finally:
            driver.quit()

    seen = await asyncio.to_thread(run)
    assert seen["shown"] and not seen["checked"]
    assert seen["label"] == say("en", "page.group.reveal")
    assert seen["before"] == say("en", "page.group.hidden")
    assert seen["after"] == say("en", "page.group.revealed")
    assert seen["reloaded"] is True
    assert seen["solo"] is False
    assert await server.groups.reveal_state(link.session_id) == (True, True)
