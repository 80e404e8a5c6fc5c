"""The `world` fixture: MoodReel's Mattermost routes with real services and the strict stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from core.config import Settings
from core.storage.store import Store
from tests.support.mattermost_world import World, open_world


@pytest_asyncio.fixture
async def world(store: Store, settings: Settings) -> AsyncIterator[World]:
    async with open_world(store, settings) as w:
        yield w
