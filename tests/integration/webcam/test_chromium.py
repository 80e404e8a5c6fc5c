"""End to end in a real headless Chromium: a fake camera fed from a .y4m of face images, both phases,
the result on the page and in the chat hook; the camera-less path in Korean; a second browser refused."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
import pytest_asyncio
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from core.colour.psychology import colour_name, emotion_from_names
from core.config import Settings
from core.present.summary import summarise
from core.present.words import genre_name, say
from core.services import Services
from core.sessions.origin import SessionOrigin
from core.storage.mongo import free_port
from core.storage.store import Store
from core.values.results import MoodResult
from tests.support.face_frames import decode_image, face_frames
from tests.support.services import running_services, short_settings
from webcam_page.app import create_app

WIDTH, HEIGHT, FPS = 640, 480, 10
WAIT = 90  # seconds: generous for a loaded 2-core machine; nothing here is a timing assertion


def write_y4m(path: Path, jpegs: list[bytes], repeat: int = 3) -> None:
    """A YUV4MPEG2 (4:2:0) video that shows each face for `repeat` frames; Chromium loops it."""
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for jpeg in jpegs:
            bgr = cv2.resize(decode_image(jpeg), (WIDTH, HEIGHT))
            planes = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes()  # Y, then U, then V
            for _ in range(repeat):
                out.write(b"FRAME\n" + planes)


def binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("Debian chromium and chromium-driver are needed: run `make system-deps`")
    return chromium, driver


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "faces.y4m"
    faces = face_frames(6, (WIDTH, HEIGHT), labels=["neutral"], seed=11)
    faces += face_frames(6, (WIDTH, HEIGHT), labels=["happy"], seed=12)
    write_y4m(path, faces)
    return path


def make_browser(camera: Path | None, lang: str = "en-US") -> webdriver.Chrome:
    chromium, driver = binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=420,900",  # phone-sized
        f"--lang={lang}",
        "--use-fake-ui-for-media-stream",  # grant the camera without a prompt
        "--use-fake-device-for-media-stream",
    ):
        options.add_argument(arg)
    if camera is not None:
        options.add_argument(f"--use-file-for-fake-video-capture={camera}")
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    return webdriver.Chrome(service=ChromeService(driver), options=options)


@pytest.fixture(scope="module")
def browser(camera_file: Path) -> Iterator[webdriver.Chrome]:
    driver = make_browser(camera_file)
    try:
        yield driver
    finally:
        driver.quit()


@pytest_asyncio.fixture
async def server(store: Store, settings: Settings) -> AsyncIterator[Services]:
    """The real app on a real port, with short phases; links point at it."""
    port = free_port()
    on_port = dataclasses.replace(settings.server, port=port)
    # 2-second phases: about 20 frames each, plenty even if a busy machine drops a few.
    phases = short_settings(settings, baseline_seconds=2.0, stimulus_seconds=2.0)
    local = dataclasses.replace(phases, server=on_port)
    async with running_services(store, local) as services:
        runner = web.AppRunner(create_app(services), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield services
        finally:
            await runner.cleanup()


async def in_browser(fn: Any, *args: Any) -> Any:
    """Selenium blocks; run it off the event loop so the server keeps serving."""
    return await asyncio.to_thread(fn, *args)


def wait_state(driver: webdriver.Chrome, state: str) -> None:
    def reached(d: webdriver.Chrome) -> bool:
        current = d.execute_script("return document.body.dataset.state")
        if current == "problem" and state != "problem":
            text = d.find_element(By.ID, "problem-text").text
            raise AssertionError(f"the page shows a problem: {text}")
        return current == state

    WebDriverWait(driver, WAIT, poll_frequency=0.2).until(reached)


def visible_text(driver: webdriver.Chrome, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


async def test_a_real_browser_runs_both_phases_and_gets_a_result(
    browser: webdriver.Chrome, server: Services
) -> None:
    delivered: list[MoodResult] = []

    async def hook(result: MoodResult) -> None:
        delivered.append(result)

    server.sessions.on_result("discord", hook)
    link = await server.sessions.create(SessionOrigin("discord", "u1", "chan", "Ann"))

    def run() -> dict[str, Any]:
        browser.get(link.url)
        wait_state(browser, "intro")
        assert "deleted after analysis" in visible_text(browser, "view-intro")
        browser.find_element(By.ID, "start").click()
        seen: set[str] = set()

        def reached_stimulus(driver: Any) -> bool:  # every phase the page passes through, until stimulus
            seen.add(driver.execute_script("return document.body.dataset.phase") or "")
            return "stimulus" in seen

        WebDriverWait(browser, WAIT, poll_frequency=0.1).until(reached_stimulus)
        wait_state(browser, "result")
        return {
            "headline": visible_text(browser, "headline"),
            "bars": len(browser.find_elements(By.CSS_SELECTOR, "#bars li")),
            "notes": {
                e.get_attribute("data-emotion"): e.find_element(By.CLASS_NAME, "bar-note").text
                for e in browser.find_elements(By.CSS_SELECTOR, "#bars li")
            },
            "legend": visible_text(browser, "legend"),
            "swatches": len(browser.find_elements(By.CSS_SELECTOR, "#swatches li")),
            "picks": len(browser.find_elements(By.CSS_SELECTOR, "#picks li.pick")),
            "posters": len(browser.find_elements(By.CSS_SELECTOR, "#picks img")),
            "sent": visible_text(browser, "sent"),
            "faces": visible_text(browser, "face-count"),
            "primary": browser.execute_script("return document.body.dataset.primary"),
            "phase": browser.execute_script("return document.body.dataset.phase"),
        }

    page = await in_browser(run)
    assert page["phase"] == "stimulus"  # both phases ran
    assert page["bars"] == 7 and page["swatches"] >= 3 and page["picks"] >= 1
    assert page["sent"] == "Also sent to your Discord chat."
    [result] = delivered
    # The page shows the summary the chats show: the same headline, the same signed changes.
    summary = summarise(result.emotion, "en")
    assert page["headline"] == summary.headline and page["headline"].startswith("Mostly ")
    assert page["legend"] == summary.legend and "Welch" in page["legend"]
    for line in summary.lines:
        mark = summary.mark if line.significant else ""
        assert page["notes"][line.emotion].endswith(f"{line.change_text}{mark}"), line
        assert "+0.0" not in page["notes"][line.emotion] and "+-" not in page["notes"][line.emotion]
    assert result.session_id == link.session_id and result.emotion.primary == page["primary"]
    assert min(result.emotion.face_frames) >= server.settings.sessions.min_face_frames
    doc = await server.sessions.get(link.session_id)
    assert doc is not None and doc["state"] == "delivered" and doc["stats"]["received"] > 0

    # The same link in another browser (no claim cookie): a clear refusal.
    def second_browser() -> str:
        browser.delete_all_cookies()
        browser.get(link.url)
        return browser.find_element(By.TAG_NAME, "main").text

    assert "This link was already used" in await in_browser(second_browser)


async def test_without_a_camera_the_page_offers_feelings_in_korean(server: Services) -> None:
    link = await server.sessions.create(SessionOrigin("mattermost", "u2"))

    def run() -> dict[str, Any]:
        driver = make_browser(None, lang="ko-KR")
        try:
            driver.get(link.url)
            wait_state(driver, "intro")
            intro = driver.find_element(By.ID, "intro-title").text
            driver.find_element(By.ID, "no-camera").click()
            wait_state(driver, "declare")
            choice = driver.find_element(By.CSS_SELECTOR, '.choice[data-feeling="sad"]')
            label = choice.text
            choice.send_keys("\n")  # the keyboard works too
            wait_state(driver, "result")
            seen = {
                "intro": intro,
                "label": label,
                "headline": visible_text(driver, "headline"),
                "method": visible_text(driver, "method"),
                "bars": [e for e in driver.find_elements(By.CSS_SELECTOR, "#bars li") if e.is_displayed()],
                "sent": visible_text(driver, "sent"),
                "lang": driver.execute_script("return document.documentElement.lang"),
                "swatch": driver.find_element(By.CSS_SELECTOR, "#swatches .swatch-name").text,
                "reasons": [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#picks .reason")],
                "genres": [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#picks .pick-info .small")],
            }
            driver.refresh()  # a reload after the end shows the same result again
            wait_state(driver, "result")
            seen["reloaded"] = visible_text(driver, "headline")
            return seen
        finally:
            driver.quit()

    page = await in_browser(run)
    assert page["lang"] == "ko"
    assert page["intro"] == "준비되면 시작하세요"
    assert page["label"] == "슬픔"
    assert page["headline"] == summarise(emotion_from_names("sad"), "ko").headline
    assert "알려 주셨어요" in page["headline"], "a declared feeling says it was declared"
    assert page["method"] == say("ko", "summary.method.declared")
    assert page["bars"] == [], "no invented bars for a feeling that was not measured"
    assert "Mattermost" in page["sent"]  # no hook: it waits for the adapter
    [waiting] = await server.sessions.undelivered("mattermost")
    assert waiting.emotion.method == "declared" and waiting.emotion.primary == "sad"
    # Colour names and match reasons are Korean on a Korean page, and a reload keeps the result.
    assert page["swatch"].startswith(colour_name(waiting.colours[0], "ko"))
    assert page["reasons"] and all(r.startswith("포스터의") for r in page["reasons"])
    shown = [g for r in waiting.recommendations for g in r.genres]
    korean = [" · ".join(genre_name("ko", g) for g in r.genres) for r in waiting.recommendations]
    assert page["genres"] == korean
    assert shown and not any(g in " ".join(page["genres"]) for g in shown)  # no English genre left
    assert page["reloaded"] == page["headline"]


async def test_one_language_choice_holds_across_the_page_and_its_stage_words(server: Services) -> None:
    """The try-it page mixes the page's words (i18n.js) with the stage's (stage-words.js); both follow
    the browser's language, then the toggle, and the choice outlives a reload (locale.js keeps it)."""
    url = f"http://127.0.0.1:{server.settings.server.port}/"

    def read(driver: webdriver.Chrome) -> tuple[str, str, str]:
        return (
            driver.find_element(By.CSS_SELECTOR, "#try h1").text,
            driver.find_element(By.ID, "stage-title").text,
            driver.execute_script("return document.documentElement.lang"),
        )

    def run() -> dict[str, Any]:
        driver = make_browser(None, lang="ko-KR")
        try:
            driver.get(url)
            WebDriverWait(driver, WAIT).until(lambda d: read(d)[2] == "ko")
            seen: dict[str, Any] = {"first": read(driver)}
            driver.find_element(By.ID, "lang-toggle").click()
            seen["toggled"] = read(driver)
            seen["stored"] = driver.execute_script("return localStorage.getItem('moodreel.locale')")
            driver.refresh()
            WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "stage-title").text)
            seen["reloaded"] = read(driver)
            return seen
        finally:
            driver.quit()

    page = await in_browser(run)
    korean = (say("ko", "page.try.title"), say("ko", "stage.try.title"), "ko")
    english = (say("en", "page.try.title"), say("en", "stage.try.title"), "en")
    assert page["first"] == korean
    assert page["toggled"] == english, "the toggle switches the stage words with the page's"
    assert page["stored"] == "en"
    assert page["reloaded"] == english, "the stored choice beats the browser's Korean"
