"""The embedded mongod's faults with real mongod processes: an orphan left by a killed MoodReel is
recognised and stopped, a live one is left alone, a mongod that dies is restarted (boundedly), and
one that hangs (SIGSTOP) fails operations on time and is killed and restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from core.config import MongoSettings
from core.storage.mongo import OWNER_FILE, EmbeddedMongo, MongoStartError, _pid_alive, is_our_mongod
from core.storage.store import mongo_client
from tests.support.paths import ROOT


def _orphan_maker(data_dir: Path) -> tuple[subprocess.Popen[str], int, int]:
    """A separate 'MoodReel' process that starts the embedded mongod and then waits to be killed:
    (that process, mongod's pid, mongod's port)."""
    script = textwrap.dedent(
        f"""
        import time
        from core.storage.mongo import EmbeddedMongo
        mongo = EmbeddedMongo({str(data_dir)!r}).start()
        print(mongo.pid, mongo.port, flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    pid, port = (int(v) for v in proc.stdout.readline().split())
    return proc, pid, port


def _client(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, serverSelectionTimeoutMS=10000, journal=True)


def _uri(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def _ping(port: int) -> None:
    with _client(_uri(port)) as c:
        c.admin.command("ping")


def test_an_orphan_of_a_killed_moodreel_is_stopped_and_the_data_kept(tmp_path: Path) -> None:
    owner, orphan_pid, port = _orphan_maker(tmp_path)
    try:
        with _client(_uri(port)) as c:
            c.moodreel.movies.insert_one({"tmdb_id": 1, "title": "kept"})
        owner.send_signal(signal.SIGKILL)  # MoodReel killed: its mongod lives on, holding the directory
        owner.wait()
        assert _pid_alive(orphan_pid) and is_our_mongod(orphan_pid, tmp_path)
        assert not is_our_mongod(orphan_pid, tmp_path / "elsewhere")
        assert not is_our_mongod(os.getpid(), tmp_path)  # not a mongod at all
        started = time.monotonic()
        with EmbeddedMongo(tmp_path) as fresh:
            assert time.monotonic() - started < 20
            assert not _pid_alive(orphan_pid)
            assert fresh.pid != orphan_pid
            with _client(fresh.uri) as c:
                assert c.moodreel.movies.find_one({"tmdb_id": 1}, {"_id": 0}) == {
                    "tmdb_id": 1,
                    "title": "kept",
                }
        assert not (tmp_path / OWNER_FILE).exists()
    finally:
        if _pid_alive(orphan_pid):
            os.kill(orphan_pid, signal.SIGKILL)


def test_a_mongod_whose_moodreel_is_alive_is_left_alone(tmp_path: Path) -> None:
    owner, pid, port = _orphan_maker(tmp_path)
    try:
        with pytest.raises(MongoStartError, match="another mongod"):
            EmbeddedMongo(tmp_path).start()
        _ping(port)  # untouched
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        os.kill(pid, signal.SIGTERM)
        while _pid_alive(pid):
            time.sleep(0.1)


async def test_a_mongod_that_dies_is_restarted_then_given_up_on(tmp_path: Path) -> None:
    mongo = await asyncio.to_thread(EmbeddedMongo(tmp_path).start)
    supervisor = mongo.start_supervision(tries=1)
    try:
        with _client(mongo.uri) as c:
            c.moodreel.movies.insert_one({"tmdb_id": 2})
            first = mongo.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await _until(lambda: mongo.state == "up" and mongo.restarts == 1, 30)
            assert mongo.pid != first
            assert c.moodreel.movies.count_documents({"tmdb_id": 2}) == 1  # same port, same data
            second = mongo.pid
            assert second is not None
            os.kill(second, signal.SIGKILL)  # a second death in a row: tries=1 is used up
            await _until(lambda: mongo.state == "down", 10)
            await asyncio.wait_for(supervisor, 5)
            assert mongo.restarts == 1
    finally:
        await mongo.astop()
    assert mongo.state == "stopped"


async def test_a_hung_mongod_fails_operations_on_time_then_is_restarted(tmp_path: Path) -> None:
    """SIGSTOP leaves mongod running but silent: the store's client gives up on an operation after
    mongodb.operation_timeout, and supervision kills and restarts it with the data kept."""
    mongo = EmbeddedMongo(tmp_path, health_seconds=0.5, ping_timeout=0.5, hang_checks=3)
    await asyncio.to_thread(mongo.start)
    supervisor = mongo.start_supervision(tries=2)
    # The store's own client, with the operation timeout cut to 1 s.
    client = mongo_client(mongo.uri, MongoSettings(request_timeout=1.0, operation_timeout=1.0))
    try:
        await client.moodreel.movies.insert_one({"tmdb_id": 3})
        hung = mongo.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(PyMongoError):
            await client.moodreel.movies.find_one({"tmdb_id": 3})
        assert time.monotonic() - started < 5, "an operation on a silent server is bounded"
        await _until(lambda: mongo.state == "up" and mongo.restarts == 1, 60)
        assert mongo.hangs == 1 and mongo.pid != hung and not _pid_alive(hung)
        doc = await client.moodreel.movies.find_one({"tmdb_id": 3})
        assert doc is not None, "the journaled write survived the kill"
        assert not supervisor.done()
    finally:
        await client.close()
        await mongo.astop()
    assert mongo.state == "stopped"


async def _until(condition: object, timeout: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
