"""A real `moodreel serve` in a subprocess, for fault tests: start it, SIGKILL it, start it again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.paths import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """`python -m cli.main serve` on 127.0.0.1 with its own embedded mongod in `data_dir`."""

    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "MONGODB_URI" and not k.startswith("MATTERMOST_")},
            "PYTHONPATH": str(ROOT),
            "MOODREEL_MONGODB_DATA_DIR": str(data_dir),
            "MOODREEL_SECRET": "fault-test-secret",
            "MOODREEL_SESSIONS_BASELINE_SECONDS": "1",
            "MOODREEL_SESSIONS_STIMULUS_SECONDS": "1",
            "MOODREEL_ANALYSIS_WORKERS": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ServeProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moodreel serve exited with {self.process.returncode}:\n{self.log()}")
            if self.health()[0] == 200:
                return self
            time.sleep(0.3)
        raise RuntimeError(f"moodreel serve did not come up in {timeout:.0f} s:\n{self.log()}")

    def health(self) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def mongod_pid(self) -> int:
        return int((self.data_dir / "mongod.lock").read_text().strip())

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
