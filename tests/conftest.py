"""Shared fixtures: one real mongod for the whole test session, a fresh database per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from core.config import Settings, load_settings
from core.storage.mongo import EmbeddedMongo
from core.storage.store import Store
from tests.support.paths import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the shared data folder {SHARED_DATA} is missing; it must sit beside the checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedMongo(tmp_path_factory.mktemp("mongod")) as mongo:
        yield mongo.uri


@pytest.fixture
def database_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(mongo_uri: str, database_name: str) -> Settings:
    """Real settings from config.yaml, pointed at the test mongod and a throwaway database."""
    return load_settings(
        env={
            "MONGODB_URI": mongo_uri,
            "MOODREEL_SECRET": "test-secret",
            "MOODREEL_MONGODB_DATABASE": database_name,
        }
    )


@pytest_asyncio.fixture
async def store(mongo_uri: str, database_name: str) -> AsyncIterator[Store]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    st = Store(client, database_name)
    await st.ensure_indexes()
    try:
        yield st
    finally:
        await client.drop_database(database_name)
        await client.close()


@pytest_asyncio.fixture(autouse=True)
async def no_delivery_loop_left() -> AsyncIterator[None]:
    """A delivery loop that outlives its test keeps polling a closed database for the rest of the run
    (and would in production too, after its adapter closed): fail the test that left it."""
    yield
    running = [t for t in asyncio.all_tasks() if t.get_name().endswith("-deliveries") and not t.done()]
    stopping = [t for t in running if t.cancelling()]  # their adapter closed them: let them finish
    if stopping:
        await asyncio.wait(stopping, timeout=5)
    left = [t for t in running if not t.done()]
    for task in left:
        task.cancel()
    assert not left, f"delivery loops left running: {[t.get_name() for t in left]}"
