"""Finished session documents are deleted after sessions.retention_days (a MongoDB TTL index)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo import AsyncMongoClient

from core.config import DEFAULT_CONFIG, SessionSettings, Settings
from core.sessions.origin import SessionOrigin
from core.sessions.service import SessionService
from core.storage.mongo import EmbeddedMongo
from core.storage.store import Store, utcnow
from core.values.results import EmotionResult, MoodResult

DAY = dt.timedelta(days=1)


def _result(session_id: str, origin: SessionOrigin) -> MoodResult:
    emotion = EmotionResult("happy", ("surprise", "neutral"), {"happy": 0.8, "surprise": 0.3, "neutral": 0.2})
    return MoodResult(session_id, emotion, (), (), origin.to_dict())


@pytest.fixture
def service(store: Store, settings: Settings) -> SessionService:
    settings = dataclasses.replace(
        settings, sessions=dataclasses.replace(settings.sessions, retention_days=7)
    )
    return SessionService(store, settings)


async def _doc(store: Store, session_id: str) -> dict[str, Any]:
    doc = await store.sessions.find_one({"session_id": session_id})
    assert doc is not None
    return doc


def _about(when: dt.datetime, expected: dt.datetime) -> bool:
    return abs((when - expected).total_seconds()) < 60


def test_retention_days_in_config_yaml_and_the_settings_agree() -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    assert raw["sessions"]["retention_days"] == SessionSettings().retention_days == 30


async def test_the_ttl_index_is_on_purge_at(store: Store) -> None:
    info = await store.sessions.index_information()
    assert info["purge_at_ttl"]["key"] == [("purge_at", 1)]
    assert info["purge_at_ttl"]["expireAfterSeconds"] == 0
    await store.ensure_indexes()  # idempotent


async def test_purge_at_is_set_when_a_session_finishes_and_only_then(
    service: SessionService, store: Store
) -> None:
    now = utcnow()
    web = SessionOrigin("web", "w1")
    done = await service.create(web)
    assert "purge_at" not in await _doc(store, done.session_id)  # open sessions stay
    await service.claim(done.session_id)
    await service.set_state(done.session_id, "baseline")
    assert "purge_at" not in await _doc(store, done.session_id)
    await service.complete(done.session_id, _result(done.session_id, web))
    assert _about((await _doc(store, done.session_id))["purge_at"], now + 7 * DAY)
    await service.mark_delivered(done.session_id)
    assert _about((await _doc(store, done.session_id))["purge_at"], now + 7 * DAY)

    failed = await service.create(SessionOrigin("web", "w2"))
    await service.fail(failed.session_id, "time cap reached")
    assert _about((await _doc(store, failed.session_id))["purge_at"], now + 7 * DAY)

    first = await service.create(SessionOrigin("web", "w3"))
    await service.create(SessionOrigin("web", "w3"))  # replaces the first
    assert _about((await _doc(store, first.session_id))["purge_at"], now + 7 * DAY)

    stale = await service.create(SessionOrigin("web", "w4"))
    await store.sessions.update_one({"session_id": stale.session_id}, {"$set": {"expires_at": now - DAY}})
    assert await service.expire_stale() == 1
    assert _about((await _doc(store, stale.session_id))["purge_at"], now + 7 * DAY)


async def test_older_finished_sessions_are_given_a_purge_date(service: SessionService, store: Store) -> None:
    old = utcnow() - 3 * DAY
    await store.sessions.insert_many(
        [
            {"session_id": "legacy-done", "state": "delivered", "updated_at": old},
            {"session_id": "legacy-open", "state": "opened", "updated_at": old},
        ]
    )
    assert await service.schedule_purges() == 1
    assert _about((await _doc(store, "legacy-done"))["purge_at"], old + 7 * DAY)
    assert "purge_at" not in await _doc(store, "legacy-open")
    assert await service.schedule_purges() == 0


async def test_mongodb_deletes_a_session_once_its_purge_date_passed(tmp_path: Path) -> None:
    """The real TTL monitor, on a mongod of its own that runs it every second (the default is 60 s)."""
    async with _mongod(tmp_path, ttlMonitorSleepSecs=1) as store:
        await store.ensure_indexes()
        past = utcnow() - dt.timedelta(seconds=1)
        await store.sessions.insert_many(
            [
                {"session_id": "purge-me", "state": "delivered", "purge_at": past},
                {"session_id": "keep-me", "state": "delivered", "purge_at": utcnow() + DAY},
                {"session_id": "running", "state": "stimulus"},
            ]
        )
        deadline = time.monotonic() + 20
        while await store.sessions.find_one({"session_id": "purge-me"}) and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        assert {d["session_id"] async for d in store.sessions.find({})} == {"keep-me", "running"}


@contextlib.asynccontextmanager
async def _mongod(path: Path, **parameters: int) -> AsyncIterator[Store]:
    mongo = await asyncio.to_thread(EmbeddedMongo(path, parameters=parameters).start)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    try:
        yield Store(client, "retention")
    finally:
        await client.close()
        await asyncio.to_thread(mongo.stop)
