"""Concurrent webcam sessions against a running MoodReel server.

`python -m bench.sessions [--json]`. Starts a throwaway mongod and `moodreel serve` in its own process
(or uses `--url` of a running server that shares MONGODB_URI and MOODREEL_SECRET with this shell),
then for N = 1, 5, 10 and 20 runs N simulated clients at once: real aiohttp WebSocket clients
(tests.support.ws_client.run_session) that open a session link, stream webcam-like 640x480 JPEGs holding
real FER2013 faces (tests.support.face_frames clips, the head drifting) at 10 fps through the baseline and
the stimulus, and wait for the result. Reported per N: sessions completed, frames analysed per second,
frames dropped by the server, p50/p95 frame-to-acknowledgement latency, the server's peak memory,
and recall: the share of analysed frames in which the server found a face (every frame holds one).
Each N runs twice by default (`--frames both`): with the Haar-checked clips above, and with
unfiltered ones (bench.scenes.scene_clips: small, tilted, dark, washed-out and side-lit faces that
no detector was asked about).
Target on a 2-core machine: 10 sessions at 10 fps, p95 under 200 ms, every session completed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from tqdm import tqdm

from bench.scenes import scene_clips
from core.config import Settings, load_settings
from core.sessions.origin import SessionOrigin
from core.sessions.service import SessionService
from core.storage.mongo import EmbeddedMongo, free_port
from core.storage.store import open_store
from tests.support.face_frames import face_clips
from tests.support.ws_client import SessionFailed, SessionTrace, run_session

ROOT = Path(__file__).resolve().parent.parent
COUNTS = (1, 5, 10, 20)
TARGET_N, TARGET_P95_MS = 10, 200.0
CLIPS, CLIP_LENGTH = 8, 20
# One unfiltered clip of each of these bench.scenes conditions (one face a frame).
SCENE_CONDITIONS = (
    "upright-80",
    "upright-120",
    "upright-200",
    "tilt-30",
    "tilt+30",
    "dark",
    "washed",
    "side-lit",
)
FRAME_SETS = ("checked", "unfiltered")


@dataclass(frozen=True)
class Run:
    frames: str  # "checked" (Haar finds every face) or "unfiltered" (bench.scenes)
    n: int
    completed: int
    frames_sent: int
    acked: int
    dropped: int
    refused: int
    analysed_per_s: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    peak_rss_mb: float
    server_cpu_ms_per_frame: float  # the server's CPU time per analysed frame: load-independent cost
    loop_cpu_ms_per_frame: float  # of which the event loop's thread (sockets, parsing, acks)
    wall_s: float
    failures: tuple[str, ...]
    recall: float  # analysed frames with a face found / analysed frames


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process (all its threads), or of one thread, from /proc."""
    path = Path(f"/proc/{pid}/stat") if thread is None else Path(f"/proc/{pid}/task/{thread}/stat")
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = path.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def phase_frames(clip: Sequence[bytes], count: int, offset: int) -> list[bytes]:
    """`count` frames that walk the clip back and forth, so the head keeps drifting smoothly."""
    cycle = list(clip) + list(clip[-2:0:-1])
    return [cycle[(offset + i) % len(cycle)] for i in range(count)]


@contextlib.asynccontextmanager
async def local_server(settings: Settings, workdir: Path) -> AsyncIterator[tuple[str, Settings, int]]:
    """A throwaway mongod and `moodreel serve` (a separate process, like production)."""
    with EmbeddedMongo(workdir / "mongod") as mongo:
        port = free_port()
        env = {
            **os.environ,
            "MONGODB_URI": mongo.uri,
            "MOODREEL_MONGODB_DATABASE": "bench_sessions",
            "MOODREEL_SECRET": "bench-sessions-secret",
            "MOODREEL_SERVER_PORT": str(port),
            "MOODREEL_SERVER_HOST": "127.0.0.1",
            "MOODREEL_SERVER_PUBLIC_URL": "",
            "MOODREEL_SESSIONS_MAX_SESSION_SECONDS": "600",
        }
        for name in ("DISCORD_TOKEN", "MATTERMOST_URL", "MATTERMOST_TOKEN", "MATTERMOST_COMMAND_TOKEN"):
            env.pop(name, None)  # the benchmark measures the web path only
        log = (workdir / "server.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url, proc, workdir / "server.log")
            local = load_settings(env=env)
            yield url, local, proc.pid
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the server did not come up within {timeout:.0f} s")


async def pool_stats(url: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as resp:
        return dict((await resp.json())["pool"])


def face_frames(outcome: dict[str, Any] | str) -> int | None:
    """Frames of a session in which the server found a face, from its result or its retry message."""
    if isinstance(outcome, str):
        return None
    if outcome.get("type") == "result":
        counts = outcome.get("result", {}).get("emotion", {}).get("face_frames")
        return None if counts is None else int(sum(counts))
    if "baseline_faces" in outcome:
        return int(outcome["baseline_faces"]) + int(outcome.get("stimulus_faces", 0))
    return None


async def measure(
    url: str,
    sessions: SessionService,
    n: int,
    clips: list[Sequence[bytes]],
    per_phase: int,
    fps: float,
    pid: int,
    frames: str = "checked",
) -> Run:
    links = [await sessions.create(SessionOrigin("web", f"bench-{n}-{i}")) for i in range(n)]
    # Links carry the server's own base URL; point them at the address we reach it by.
    urls = [url + "/s/" + link.url.rsplit("/s/", 1)[1] for link in links]
    traces = [SessionTrace() for _ in range(n)]
    peak = rss_mb(pid)
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.2)

    async def one(i: int) -> dict[str, Any] | str:
        await asyncio.sleep(i * (1.0 / fps) / max(1, n))  # clients do not start in lockstep
        clip = clips[i % len(clips)]
        baseline = phase_frames(clip, per_phase, i)
        stimulus = phase_frames(clip, per_phase, i + per_phase)
        try:
            return await run_session(urls[i], baseline, stimulus, fps, trace=traces[i], timeout=120)
        except (TimeoutError, SessionFailed, aiohttp.ClientError) as exc:
            return f"{type(exc).__name__}: {exc}"

    before = await pool_stats(url)
    cpu_before, loop_before = cpu_seconds(pid), cpu_seconds(pid, pid)
    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - started
    stop.set()
    await sampler
    after = await pool_stats(url)
    cpu, loop_cpu = cpu_seconds(pid) - cpu_before, cpu_seconds(pid, pid) - loop_before
    latencies = [ms for t in traces for ms in t.latencies_ms]
    completed = sum(1 for o in outcomes if isinstance(o, dict) and o.get("type") == "result")
    failures = tuple(
        o
        if isinstance(o, str)
        else f"ended with {o.get('type')!r}: {o.get('baseline_faces')}/{o.get('stimulus_faces')} face frames"
        for o in outcomes
        if isinstance(o, str) or o.get("type") != "result"
    )
    analysed = after["analysed"] - before["analysed"]
    found = [(face_frames(o), t.acked) for o, t in zip(outcomes, traces, strict=True)]
    counted = [(f, a) for f, a in found if f is not None and a > 0]
    recall = sum(f for f, _ in counted) / sum(a for _, a in counted) if counted else float("nan")
    return Run(
        frames=frames,
        n=n,
        completed=completed,
        frames_sent=sum(t.sent for t in traces),
        acked=sum(t.acked for t in traces),
        dropped=after["dropped"] - before["dropped"],
        refused=sum(len([e for e in t.errors if "n" in e]) for t in traces),
        analysed_per_s=round(analysed / (2 * per_phase / fps), 1),
        p50_ms=round(percentile(latencies, 0.5), 1),
        p95_ms=round(percentile(latencies, 0.95), 1),
        max_ms=round(max(latencies, default=float("nan")), 1),
        peak_rss_mb=round(peak, 1),
        server_cpu_ms_per_frame=round(1000 * cpu / max(1, analysed), 2),
        loop_cpu_ms_per_frame=round(1000 * loop_cpu / max(1, analysed), 2),
        wall_s=round(wall, 1),
        failures=failures,
        recall=round(recall, 4),
    )


def frame_sets(which: str) -> dict[str, list[Sequence[bytes]]]:
    """The clips each run streams: Haar-checked (tests.support.face_frames), unfiltered (bench.scenes)."""
    sets: dict[str, list[Sequence[bytes]]] = {}
    if which in ("checked", "both"):
        checked = tqdm(face_clips(CLIPS, CLIP_LENGTH, (640, 480), seed=7), desc="face clips")
        sets["checked"] = [c.frames for c in checked]
    if which in ("unfiltered", "both"):
        sets["unfiltered"] = [
            [s.jpeg for s in scene_clips(condition, 1, CLIP_LENGTH, seed=7)[0].frames]
            for condition in tqdm(SCENE_CONDITIONS, desc="scene clips")
        ]
    return sets


async def bench(args: argparse.Namespace) -> list[Run]:
    sets = frame_sets(args.frames)
    per_phase = max(1, round(args.seconds * args.fps))
    with tempfile.TemporaryDirectory(prefix="moodreel-bench-") as tmp:
        if args.url:
            settings = load_settings()
            pid = args.pid or 0
            server: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext(
                (args.url, settings, pid)
            )
        else:
            server = local_server(load_settings(), Path(tmp))
        async with server as (url, settings, pid), open_store(settings) as store:
            sessions = SessionService(store, settings)
            runs = []
            for name, clips in sets.items():
                for n in tqdm(args.n, desc=f"concurrency ({name})", unit="run"):
                    runs.append(await measure(url, sessions, n, clips, per_phase, args.fps, pid, name))
            return runs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.sessions",
        description="N concurrent WebSocket clients streaming face JPEGs at 10 fps through both phases "
        "against a running server: sessions completed, frames analysed per second, drops, "
        "frame-to-ack latency, server memory.",
    )
    p.add_argument(
        "--n", default=",".join(map(str, COUNTS)), help="concurrent sessions per run (default: %(default)s)"
    )
    p.add_argument(
        "--fps", type=float, default=10.0, help="frames per second per client (default: %(default)s)"
    )
    p.add_argument(
        "--seconds", type=float, default=8.0, help="length of each phase in seconds (default: %(default)s)"
    )
    p.add_argument(
        "--url",
        help="a running server instead of a fresh one (this shell needs its MONGODB_URI and MOODREEL_SECRET)",
    )
    p.add_argument("--pid", type=int, help="the running server's process id, for its memory (with --url)")
    p.add_argument(
        "--frames",
        choices=(*FRAME_SETS, "both"),
        default="both",
        help="Haar-checked clips, unfiltered bench.scenes clips, or both (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    args = p.parse_args(argv)
    try:
        args.n = [int(v) for v in args.n.split(",") if v.strip()]
    except ValueError:
        p.error(f"--n must be comma-separated integers (got {args.n!r})")
    if not args.n or min(args.n) < 1 or args.fps <= 0 or args.seconds <= 0:
        p.error("--n values must be >= 1, --fps and --seconds positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runs = asyncio.run(bench(args))
    cores = len(os.sched_getaffinity(0))
    print(
        f"Webcam sessions: {args.fps:g} fps per client, {args.seconds:g} s per phase, 640x480 face JPEGs, "
        f"{cores} CPU core(s) visible, load average {os.getloadavg()[0]:.1f}"
    )
    head = (
        f"{'frames':<10} {'n':>3} {'completed':>9} {'analysed/s':>10} {'dropped':>7} {'refused':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'peak MB':>8} {'CPU ms/frame':>12} {'wall s':>6} "
        f"{'recall':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in runs:
        print(
            f"{r.frames:<10} {r.n:>3} {r.completed:>6}/{r.n:<2} {r.analysed_per_s:>10.1f} "
            f"{r.dropped:>7} {r.refused:>7} "
            f"{r.p50_ms:>7.1f} {r.p95_ms:>7.1f} {r.max_ms:>7.1f} {r.peak_rss_mb:>8.1f} "
            f"{r.server_cpu_ms_per_frame:>12.2f} {r.wall_s:>6.1f} {r.recall:>7.1%}"
        )
        for failure in r.failures:
            print(f"    failed: {failure}")
    costs = [r.server_cpu_ms_per_frame for r in runs if not math.isnan(r.server_cpu_ms_per_frame)]
    if costs:
        cost = statistics.median(costs)
        loop = statistics.median(r.loop_cpu_ms_per_frame for r in runs)
        print(
            f"server CPU per analysed frame: {cost:.1f} ms, {loop:.1f} ms of it in the event loop "
            f"(so about {2000 / cost:.0f} frames/s would fit on 2 idle cores)"
        )
    target = next((r for r in runs if r.n == TARGET_N and r.frames == "checked"), None)
    target = target or next((r for r in runs if r.n == TARGET_N), None)
    if target is not None:
        ok = target.completed == target.n and target.p95_ms < TARGET_P95_MS
        print(
            f"target ({TARGET_N} sessions, p95 < {TARGET_P95_MS:.0f} ms, all completed): "
            f"{'met' if ok else 'NOT met'} "
            f"(p95 {target.p95_ms:.1f} ms, {target.completed}/{target.n} completed)"
        )
    if args.json:
        print(json.dumps({"runs": [asdict(r) for r in runs], "fps": args.fps, "phase_seconds": args.seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
