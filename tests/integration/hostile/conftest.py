"""The app as `moodreel serve` builds it, Mattermost endpoints included, for the hostile-input tests."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient

from bot.mattermost import setup_mattermost
from core.config import Settings
from core.services import Services
from core.storage.store import Store
from tests.support.hostile import COMMAND_TOKEN
from tests.support.services import running_services, short_settings
from webcam_page.app import create_app


@pytest_asyncio.fixture
async def services(store: Store, settings: Settings) -> AsyncIterator[Services]:
    # Mattermost on a closed port: these requests never get as far as talking to it.
    settings = dataclasses.replace(
        short_settings(settings),
        mattermost=dataclasses.replace(
            settings.mattermost, url="http://127.0.0.1:9", token="bot-token", command_token=COMMAND_TOKEN
        ),
    )
    async with running_services(store, settings) as svc:
        yield svc


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, services: Services) -> TestClient:
    app = create_app(services)
    setup_mattermost(app, services)
    return await aiohttp_client(app)
