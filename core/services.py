"""Everything a running MoodReel needs, opened once and shared by the web app and the chat bots."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pymongo.errors import PyMongoError

from core.config import ConfigError, Settings
from core.emotion.pool import AnalysisPool
from core.sessions.service import SessionService
from core.storage.store import Store, open_store

if TYPE_CHECKING:
    from core.catalogue.recommender import Recommender
    from core.emotion.frames import FrameAnalyser
    from core.group.service import GroupService

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 30.0


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    sessions: SessionService
    recommender: Recommender
    analyser: FrameAnalyser
    pool: AnalysisPool
    groups: GroupService


async def _housekeeping(services: Services, every: float) -> None:
    """Expire abandoned sessions and pick up catalogue changes, until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            expired = await services.sessions.expire_stale()
            if expired:
                log.info("expired %d stale session(s)", expired)
            if await services.recommender.refresh():
                log.info("the catalogue changed; recommendation index rebuilt")
        except PyMongoError as exc:  # the database is away (being restarted?): no traceback for that
            log.warning("housekeeping: the database is unavailable (%s); trying again in %.0f s", exc, every)
        except Exception:
            log.exception("housekeeping failed; trying again in %.0f s", every)


@contextlib.asynccontextmanager
async def services_for(
    store: Store, settings: Settings, analyser: FrameAnalyser | None = None
) -> AsyncIterator[Services]:
    """Services over an open store (tests pass theirs); the analysis threads stop at the end."""
    from core.catalogue.recommender import Recommender
    from core.emotion.frames import FrameAnalyser
    from core.group.service import GroupService

    if analyser is None:
        a = settings.analysis
        # Loading the weights takes a moment; keep the event loop free meanwhile.
        try:
            analyser = await asyncio.to_thread(
                FrameAnalyser, None, detect_every=a.detect_every, detect_width=a.detect_width, threads=1
            )
        except FileNotFoundError as exc:
            raise ConfigError(f"{exc}: restore models/weights/ from git, or train the model first") from None
    recommender = Recommender(store, settings.recommender)
    await recommender.refresh()
    pool = AnalysisPool(analyser, settings.analysis.workers, settings.analysis.queue_per_worker)
    sessions = SessionService(store, settings)
    groups = GroupService(store, settings, sessions, recommender)
    services = Services(settings, store, sessions, recommender, analyser, pool, groups)
    purged = await services.sessions.schedule_purges()
    if purged:
        log.info("%d finished session(s) from before retention will be deleted on schedule", purged)
    task = asyncio.create_task(_housekeeping(services, HOUSEKEEPING_SECONDS), name="moodreel-housekeeping")
    try:
        yield services
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.aclose()


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Open the store (embedded mongod unless MONGODB_URI is set), fill an empty catalogue, load the model."""
    from core.catalogue.importer import ensure_catalogue

    async with open_store(settings) as store:
        await ensure_catalogue(store, settings)
        async with services_for(store, settings) as services:
            yield services
