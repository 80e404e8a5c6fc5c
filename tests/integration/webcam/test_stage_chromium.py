"""The audience stage end to end in headless Chromium: a fake camera shows a room of several faces
(real FER2013 faces: a happy crowd, then a surprised one, then nobody), the control page streams it,
and the stage page cross-fades to a new background when the audience's emotion changes and falls back
to the intended feeling when the room is empty."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from PIL import Image, ImageStat
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from core.config import Settings
from core.services import Services
from core.stage.links import StageSigner
from core.storage.mongo import free_port
from core.storage.store import Store
from tests.support.crowd_frames import crowd_frames, empty_room
from tests.support.services import running_services
from tests.support.stage_browser import stage_browser, write_y4m
from webcam_page.app import create_app

SIZE = (640, 480)
SEGMENT = 50  # frames (5 s at 10 fps) of each scene
WINDOW, FADE = 2.0, 1.0
WAIT = 120  # seconds: generous for a loaded 2-core machine


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stage-camera") / "audience.y4m"
    frames = crowd_frames(["happy"] * 6, SEGMENT, SIZE, seed=1)
    frames += crowd_frames(["surprise"] * 6, SEGMENT, SIZE, seed=2)
    frames += empty_room(SEGMENT, SIZE, seed=1)
    write_y4m(path, frames, SIZE)
    return path


@pytest_asyncio.fixture
async def server(store: Store, settings: Settings) -> AsyncIterator[Services]:
    port = free_port()
    stage = dataclasses.replace(settings.stage, window_seconds=WINDOW, fade_seconds=FADE)
    local = dataclasses.replace(settings, server=dataclasses.replace(settings.server, port=port), stage=stage)
    async with running_services(store, local) as services:
        runner = web.AppRunner(create_app(services), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield services
        finally:
            await runner.cleanup()


def mean_colour(png: bytes) -> tuple[float, float, float]:
    r, g, b = ImageStat.Stat(Image.open(io.BytesIO(png)).convert("RGB")).mean
    return r, g, b


def watch(control_url: str, stage_url: str, camera: Path) -> dict[str, Any]:
    """Drive both pages until the stage has shown a happy crowd, another emotion, and the fallback."""
    control, control_profile = stage_browser(camera, (1280, 900))
    stage, stage_profile = stage_browser(None, (640, 360))
    seen: dict[str, Any] = {"kinds": {}, "mid_fade": [], "notices": [], "history": []}
    try:
        stage.get(stage_url)
        control.get(control_url)
        WebDriverWait(control, WAIT).until(
            lambda d: d.execute_script("return document.body.dataset.state") == "ready"
        )
        control.execute_script("window.confirm = () => true;")
        control.find_element(By.ID, "start").click()
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            s = stage.execute_script(
                "const s = MoodReelStage.state(); const d = document.body.dataset;"
                "return {emotion: d.emotion, fallback: d.fallback, window: d.window, fading: d.fading,"
                " opacity: s.opacity, front: s.front};"
            )
            if s["fading"] == "true" and any(0.05 < o < 0.95 for o in s["opacity"]):
                seen["mid_fade"].append(s["opacity"])
            kind = ("intended" if s["fallback"] == "true" else "audience", s["emotion"])
            if s["window"] and s["fading"] == "false" and kind not in seen["kinds"]:
                seen["kinds"][kind] = mean_colour(stage.get_screenshot_as_png())
                if kind[0] == "intended":
                    notice = control.find_element(By.ID, "fallback")
                    seen["notices"].append(notice.text if notice.is_displayed() else "")
            audience = {e for k, e in seen["kinds"] if k == "audience"}
            if (
                "happy" in audience
                and len(audience) >= 2
                and ("intended", "sad") in seen["kinds"]
                and seen["mid_fade"]
            ):
                break
            time.sleep(0.1)
        seen["history"] = stage.execute_script(
            "return MoodReelStage.history.map(b => [b.emotion, b.fallback, b.seed, b.window])"
        )
        # The end of the show: the summary for the performer.
        control.find_element(By.ID, "end").click()
        WebDriverWait(control, WAIT).until(
            lambda d: d.execute_script(
                "const img = document.getElementById('summary-png');"
                "return !document.getElementById('summary').hidden && img.complete && img.naturalWidth > 0;"
            )
        )
        seen["summary"] = control.find_element(By.ID, "summary-lead").text
        seen["chart"] = control.find_element(By.ID, "chart").get_attribute("aria-label")
    finally:
        control.quit()
        stage.quit()
        shutil.rmtree(control_profile, ignore_errors=True)
        shutil.rmtree(stage_profile, ignore_errors=True)
    return seen


async def test_the_stage_follows_the_audience_and_falls_back_when_the_room_is_empty(
    server: Services, camera: Path
) -> None:
    base = server.settings.server.base_url
    links = StageSigner(server.settings.secret).issue(base, "sad", 30)
    seen = await asyncio.to_thread(watch, links.control_url, links.show_url, camera)
    kinds = seen["kinds"]
    audience = {emotion for source, emotion in kinds if source == "audience"}
    assert "happy" in audience, seen
    assert len(audience) >= 2, seen  # the surprised crowd moved the stage to another emotion
    assert ("intended", "sad") in kinds, seen  # the empty room fell back on the intended feeling
    # It cross-faded: the incoming layer was seen part-way between transparent and opaque.
    assert seen["mid_fade"], seen
    # The backgrounds really differ: happy is warm and bright, the intended sad is dark and grey.
    happy, sad = kinds[("audience", "happy")], kinds[("intended", "sad")]
    assert happy[0] > sad[0] + 40 and happy[1] > sad[1] + 30, (happy, sad)
    other = next(c for (source, e), c in kinds.items() if source == "audience" and e != "happy")
    assert max(abs(a - b) for a, b in zip(other, happy, strict=True)) > 25, (other, happy)
    # Every background had its own seed (never the same picture twice).
    seeds = [h[2] for h in seen["history"]]
    assert len(seeds) == len(set(seeds)) >= 4
    # The control page said why the stage showed the intended feeling.
    assert seen["notices"] and "No faces in this window" in seen["notices"][0] and "Sad" in seen["notices"][0]
    assert "The show has ended" in seen["summary"] and "Happy" in seen["chart"]
