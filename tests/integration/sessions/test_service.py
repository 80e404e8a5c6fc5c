"""Session links and delivery against the real test mongod."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import Any

import pytest

from core.config import Settings
from core.sessions import tokens as sessions_mod
from core.sessions.errors import AlreadyUsed, ExpiredToken, InvalidToken, SessionStateError
from core.sessions.origin import SessionOrigin
from core.sessions.service import SessionService
from core.storage.store import Store
from core.values.results import EmotionResult, MoodResult


def _result(session_id: str, origin: SessionOrigin) -> MoodResult:
    emotion = EmotionResult("happy", ("surprise", "neutral"), {"happy": 0.8, "surprise": 0.3, "neutral": 0.2})
    return MoodResult(session_id, emotion, (), (), origin.to_dict())


def _token(url: str) -> str:
    return url.rsplit("/s/", 1)[1]


async def _stored(service: SessionService, session_id: str) -> dict[str, Any]:
    doc = await service.get(session_id)
    assert doc is not None, f"session {session_id} is not stored"
    return doc


@pytest.fixture
def service(store: Store, settings: Settings) -> SessionService:
    return SessionService(store, settings)


def test_origin_round_trips_and_normalises() -> None:
    untyped: dict[str, Any] = {"guild_id": 7}  # as adapters pass it on; the origin keeps strings only
    origin = SessionOrigin("discord", "42", "c1", "Ann", "ko-KR", "Happy", untyped)
    assert origin.locale == "ko" and origin.declared_feeling == "happy" and origin.extra == {"guild_id": "7"}
    assert SessionOrigin.from_dict(origin.to_dict()) == origin
    with pytest.raises(ValueError, match="platform"):
        SessionOrigin("irc", "1")
    with pytest.raises(ValueError, match="unknown emotion"):
        SessionOrigin("web", "1", declared_feeling="hangry")


async def test_link_is_signed_and_verifies(service: SessionService, settings: Settings) -> None:
    link = await service.create(SessionOrigin("discord", "u1", "c1"))
    assert link.url.startswith(f"{settings.server.base_url}/s/")
    assert not link.replaced
    assert service.verify_token(_token(link.url)) == link.session_id
    doc = await service.get(link.session_id)
    assert doc is not None and doc["state"] == "created" and doc["origin"]["channel_id"] == "c1"
    assert doc["expires_at"] == link.expires_at
    assert "claim_hash" not in doc


async def test_forged_and_malformed_tokens_are_refused(service: SessionService, store: Store) -> None:
    link = await service.create(SessionOrigin("web", "u1"))
    token = _token(link.url)
    sid, exp, sig = token.split(".")
    later = f"{int(exp, 16) + 3600:x}"
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    forged = [f"{sid}.{later}.{sig}", f"{sid}.{exp}.{flipped}", f"{sid}.zz.{sig}", token + "."]
    for bad in ["", "abc", "a.b.c", *forged]:
        with pytest.raises(InvalidToken):
            service.verify_token(bad)
    # Another key (another deployment) signs differently.
    other = SessionService(store, dataclasses.replace(service.settings, secret="another"))
    with pytest.raises(InvalidToken):
        other.verify_token(token)


async def test_expired_token_is_refused(service: SessionService) -> None:
    link = await service.create(SessionOrigin("web", "u1"))
    with pytest.raises(ExpiredToken):
        service.verify_token(_token(link.url), now=link.expires_at + dt.timedelta(seconds=1))
    assert service.verify_token(_token(link.url), now=link.expires_at - dt.timedelta(seconds=1))


async def test_link_works_once(service: SessionService) -> None:
    link = await service.create(SessionOrigin("mattermost", "u1"))
    claim = await service.claim(link.session_id)
    with pytest.raises(AlreadyUsed, match="already used"):
        await service.claim(link.session_id)
    doc = await service.check_claim(link.session_id, claim)
    assert doc["state"] == "opened"
    with pytest.raises(AlreadyUsed):
        await service.check_claim(link.session_id, "someone-elses-claim")


async def test_racing_browsers_exactly_one_wins(service: SessionService) -> None:
    link = await service.create(SessionOrigin("web", "u1"))
    claims = [service.claim(link.session_id) for _ in range(5)]
    outcomes = await asyncio.gather(*claims, return_exceptions=True)
    assert sum(isinstance(o, str) for o in outcomes) == 1
    assert sum(isinstance(o, AlreadyUsed) for o in outcomes) == 4


async def test_new_link_replaces_open_one(service: SessionService) -> None:
    first = await service.create(SessionOrigin("discord", "u1"))
    other_user = await service.create(SessionOrigin("discord", "u2"))
    second = await service.create(SessionOrigin("discord", "u1"))
    assert second.replaced and not other_user.replaced
    with pytest.raises(ExpiredToken, match="newer link") as info:
        await service.claim(first.session_id)
    assert info.value.kind == "replaced"
    assert (await _stored(service, other_user.session_id))["state"] == "created"
    assert await service.claim(second.session_id)


async def test_states_and_delivery_through_the_hook(service: SessionService) -> None:
    origin = SessionOrigin("discord", "u1", "chan")
    link = await service.create(origin)
    delivered: list[MoodResult] = []

    async def hook(result: MoodResult) -> None:
        delivered.append(result)

    service.on_result("discord", hook)
    await service.claim(link.session_id)
    await service.set_state(link.session_id, "baseline")
    await service.set_state(link.session_id, "stimulus")
    await service.record_stats(link.session_id, {"received": 10, "dropped": 1})
    result = _result(link.session_id, origin)
    assert await service.complete(link.session_id, result)
    assert delivered == [result]
    doc = await service.get(link.session_id)
    assert doc is not None and doc["state"] == "delivered" and doc["delivered"] is True
    assert [h["state"] for h in doc["history"]] == [
        "created",
        "opened",
        "baseline",
        "stimulus",
        "analysed",
        "delivered",
    ]
    assert doc["stats"] == {"received": 10, "dropped": 1}
    assert MoodResult.from_dict(doc["result"]) == result
    with pytest.raises(SessionStateError):
        await service.complete(link.session_id, result)
    with pytest.raises(SessionStateError, match="already delivered"):
        await service.set_state(link.session_id, "baseline")


async def test_undelivered_results_survive_a_down_adapter(
    service: SessionService, store: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    origin = SessionOrigin("mattermost", "u1")
    link = await service.create(origin)
    await service.claim(link.session_id)

    async def broken(result: MoodResult) -> None:
        raise ConnectionError("mattermost is down")

    service.on_result("mattermost", broken)
    result = _result(link.session_id, origin)
    with caplog.at_level(logging.ERROR):
        assert not await service.complete(link.session_id, result)
    assert "stays undelivered" in caplog.text
    # The adapter comes back (a new process: a new service over the same store) and collects it.
    again = SessionService(store, settings)
    assert await again.undelivered("mattermost") == [result]
    assert await again.undelivered("discord") == []
    await again.mark_delivered(link.session_id)
    assert await again.undelivered("mattermost") == []
    assert (await _stored(again, link.session_id))["state"] == "delivered"


async def test_no_hook_means_undelivered(service: SessionService) -> None:
    origin = SessionOrigin("discord", "u9")
    link = await service.create(origin)
    await service.claim(link.session_id)
    assert not await service.complete(link.session_id, _result(link.session_id, origin))
    assert [r.session_id for r in await service.undelivered("discord")] == [link.session_id]


async def test_fail_calls_the_failure_hook_once(service: SessionService) -> None:
    origin = SessionOrigin("discord", "u1", declared_feeling="sad")
    link = await service.create(origin)
    calls: list[tuple[str, SessionOrigin, str]] = []

    async def hook(session_id: str, who: SessionOrigin, reason: str) -> None:
        calls.append((session_id, who, reason))

    service.on_failure("discord", hook)
    await service.claim(link.session_id)
    await service.fail(link.session_id, "time cap reached")
    await service.fail(link.session_id, "again")  # finished sessions stay as they ended
    assert calls == [(link.session_id, origin, "time cap reached")]
    with pytest.raises(ExpiredToken, match="time cap reached"):
        await service.claim(link.session_id)


async def test_expire_stale(service: SessionService, store: Store) -> None:
    old = await service.create(SessionOrigin("web", "a"))
    running = await service.create(SessionOrigin("web", "b"))
    fresh = await service.create(SessionOrigin("web", "c"))
    await service.claim(running.session_id)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    ids = [old.session_id, running.session_id]
    await store.sessions.update_many({"session_id": {"$in": ids}}, {"$set": {"expires_at": past}})
    assert await service.expire_stale() == 2
    assert await service.expire_stale() == 0
    reasons = {sid: (await _stored(service, sid))["reason"] for sid in ids}
    assert reasons == {old.session_id: "link expired", running.session_id: "timed out"}
    assert (await _stored(service, fresh.session_id))["state"] == "created"
    with pytest.raises(ExpiredToken, match="expired"):
        await service.claim(old.session_id)


async def test_missing_secret_uses_a_random_process_key(
    store: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    sessions_mod._process_secret = None
    unsigned = dataclasses.replace(settings, secret="")
    with caplog.at_level(logging.WARNING, logger="core.sessions.tokens"):
        first = SessionService(store, unsigned)
    assert "MOODREEL_SECRET is not set" in caplog.text
    second = SessionService(store, unsigned)
    link = await first.create(SessionOrigin("web", "u"))
    assert second.verify_token(_token(link.url)) == link.session_id  # same process, same key
    with pytest.raises(InvalidToken):
        SessionService(store, settings).verify_token(_token(link.url))
