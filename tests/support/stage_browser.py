"""Headless Chromium for the audience stage: a fake camera playing crowd frames, and the browser.

As in tests/integration/webcam/test_chromium.py, the camera is a YUV4MPEG2 file that Chromium's fake
capture device plays in a loop (`--use-file-for-fake-video-capture`). Chromium runs headless with
no sandbox, no GPU, no background networking, component updates or sync, and a fresh profile.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService

from tests.support.face_frames import decode_image


def write_y4m(path: Path, jpegs: Sequence[bytes], size: tuple[int, int] = (640, 480), fps: int = 10) -> None:
    """A 4:2:0 video showing each frame once at `fps`; Chromium loops it."""
    width, height = size
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for jpeg in jpegs:
            bgr = cv2.resize(decode_image(jpeg), (width, height))
            out.write(b"FRAME\n" + cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())


def stage_browser(
    camera: Path | None, window: tuple[int, int] = (1280, 800), lang: str = "en-US"
) -> tuple[webdriver.Chrome, Path]:
    """A headless Chromium (and its fresh profile folder, for the caller to remove after quit())."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("Debian chromium and chromium-driver are needed: run `make system-deps`")
    profile = Path(tempfile.mkdtemp(prefix="moodreel-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        f"--lang={lang}",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(arg)
    if camera is not None:
        options.add_argument(f"--use-file-for-fake-video-capture={camera}")
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    return webdriver.Chrome(service=ChromeService(driver), options=options), profile
