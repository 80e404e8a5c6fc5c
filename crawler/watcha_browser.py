"""Headless Chromium through Selenium, reading Watcha Pedia search and detail pages.

Blocking code: the crawler calls it from a worker thread. Selectors come from `watcha_selectors` only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import quote, unquote, urljoin, urlsplit

from selenium import webdriver
from selenium.common.exceptions import (
    InvalidSessionIdException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from crawler import watcha_selectors as sel
from crawler.watcha_match import Candidate

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


class BrowserUnavailable(RuntimeError):
    """Chromium or chromedriver is missing or will not start."""


class PageError(RuntimeError):
    """A page did not load or did not look like a Watcha Pedia page; worth retrying later."""


@dataclass(frozen=True)
class Review:
    text: str
    rating: float | None

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "rating": self.rating}


@dataclass(frozen=True)
class Detail:
    url: str
    title: str
    original_title: str | None
    year: int | None
    reviews: tuple[Review, ...] = ()
    stills: tuple[str, ...] = ()
    trailers: tuple[str, ...] = field(default=())

    def to_watcha(self) -> dict[str, object]:
        """The movie document's `watcha` field."""
        return {
            "url": self.url,
            "title": self.title,
            "year": self.year,
            "reviews": [r.to_dict() for r in self.reviews],
            "stills": list(self.stills),
            "trailers": list(self.trailers),
        }


def chrome_options(user_data_dir: str) -> Options:
    opts = Options()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,1800",
        "--lang=ko-KR",
        f"--user-data-dir={user_data_dir}",
    ):
        opts.add_argument(arg)
    binary = next((p for p in CHROMIUM_CANDIDATES if shutil.which(p)), None) or shutil.which("chromium")
    if binary:
        opts.binary_location = binary
    return opts


class WatchaBrowser:
    """One Chromium for a crawl; `restart()` replaces it after it crashed."""

    def __init__(self, base_url: str, page_timeout: float = 20.0, delay_seconds: float = 1.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_timeout = page_timeout
        self.delay_seconds = delay_seconds
        self.pages_loaded = 0
        self._driver: webdriver.Chrome | None = None
        self._profile: str | None = None
        self._last_load = 0.0

    def __enter__(self) -> WatchaBrowser:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        if not shutil.which(CHROMEDRIVER) or not (
            any(shutil.which(p) for p in CHROMIUM_CANDIDATES) or shutil.which("chromium")
        ):
            raise BrowserUnavailable(
                "Chromium or chromedriver is not installed: run `make system-deps` "
                "(Debian packages chromium and chromium-driver)"
            )
        self._profile = tempfile.mkdtemp(prefix="moodreel-chromium-")
        try:
            self._driver = webdriver.Chrome(
                service=Service(CHROMEDRIVER), options=chrome_options(self._profile)
            )
        except WebDriverException as exc:
            self._remove_profile()
            raise BrowserUnavailable(f"Chromium did not start: {exc.msg or exc}") from None
        self._driver.set_page_load_timeout(self.page_timeout)

    def close(self) -> None:
        if self._driver is not None:
            with contextlib.suppress(WebDriverException):
                self._driver.quit()
            self._driver = None
        self._remove_profile()

    def restart(self) -> None:
        self.close()
        self.start()

    def _remove_profile(self) -> None:
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    @property
    def driver(self) -> webdriver.Chrome:
        if self._driver is None:
            raise RuntimeError("the browser is not started")
        return self._driver

    # --- pages ----------------------------------------------------------------------------------

    def _load(self, url: str, ready: str) -> None:
        """Open `url` politely (at most one page per delay_seconds) and wait for `ready` to appear."""
        wait = self._last_load + self.delay_seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_load = time.monotonic()
        self.pages_loaded += 1
        shown = unquote(url)
        try:
            self.driver.get(url)
            if not self.driver.find_elements(By.CSS_SELECTOR, sel.APP_ROOT):
                raise PageError(f"{shown} is not a Watcha Pedia page (title: {self.driver.title!r})")
            WebDriverWait(self.driver, self.page_timeout).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ready)
            )
        except TimeoutException:
            raise PageError(f"{shown} did not show {ready!r} within {self.page_timeout:.0f}s") from None
        except InvalidSessionIdException:
            raise
        except WebDriverException as exc:
            raise PageError(f"{shown} failed to load: {exc.msg or type(exc).__name__}") from None

    def search(self, query: str) -> list[Candidate]:
        """Movie results for `query`, in Watcha's order (TV shows, books and webtoons are left out)."""
        self._load(sel.SEARCH_URL.format(base=self.base_url, query=quote(query)), sel.SEARCH_READY)
        out: list[Candidate] = []
        for link in self.driver.find_elements(By.CSS_SELECTOR, sel.SEARCH_RESULT_LINK):
            try:
                href = link.get_attribute("href") or ""
                title = (link.get_attribute(sel.SEARCH_RESULT_TITLE_ATTR) or "").strip()
                lines = [s.strip() for s in (link.text or "").splitlines() if s.strip()]
            except StaleElementReferenceException:
                continue
            m = sel.CONTENT_PATH.search(urlsplit(href).path)
            if not m or not sel.MOVIE_CODE.match(m.group("code")):
                continue
            title = title or (lines[0] if lines else "")
            url = urljoin(self.base_url + "/", href)
            if title and all(c.url != url for c in out):
                out.append(Candidate(url=url, title=title, year=_year_from_meta(lines[1:])))
        return out

    def detail(self, url: str, max_reviews: int = 8) -> Detail:
        self._load(url, sel.DETAIL_READY)
        d = self.driver
        title = _text(d, sel.DETAIL_TITLE)
        if not title:
            raise PageError(f"{url} has no title")
        original = _text(d, sel.DETAIL_ORIGINAL_TITLE) or None
        year: int | None = None
        m = sel.DOCUMENT_TITLE.match((d.title or "").strip())
        if m:
            year = int(m.group("year"))
        reviews: list[Review] = []
        stills: list[str] = []
        trailers: list[str] = []
        for section in d.find_elements(By.CSS_SELECTOR, sel.SECTION):
            heading = _text(section, sel.SECTION_HEADING)
            if heading in sel.COMMENTS_HEADINGS:
                reviews.extend(_reviews(section, max_reviews - len(reviews)))
            elif heading in sel.GALLERY_HEADINGS:
                for img in section.find_elements(By.CSS_SELECTOR, sel.STILL_IMAGE):
                    src = img.get_attribute("src") or ""
                    if src.startswith(("http://", "https://")) and src not in stills:
                        stills.append(src)
            elif heading in sel.VIDEO_HEADINGS:
                for link in section.find_elements(By.CSS_SELECTOR, sel.VIDEO_LINK):
                    video = trailer_url(link.get_attribute("href") or "")
                    if video and video not in trailers:
                        trailers.append(video)
        canonical = d.current_url.split("?", 1)[0].split("#", 1)[0]
        return Detail(canonical, title, original, year, tuple(reviews), tuple(stills), tuple(trailers))


def _text(root: webdriver.Chrome | WebElement, css: str) -> str:
    try:
        return (root.find_element(By.CSS_SELECTOR, css).text or "").strip()
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _year_from_meta(lines: list[str]) -> int | None:
    """The year from "2010 ・ 미국" (the line with a separator first, then any line)."""
    ordered = [s for s in lines if any(x in s for x in sel.META_SEPARATORS)] + lines
    for line in ordered:
        m = sel.YEAR.search(line)
        if m:
            return int(m.group(1))
    return None


def _reviews(section: WebElement, limit: int) -> list[Review]:
    out: list[Review] = []
    for item in section.find_elements(By.CSS_SELECTOR, sel.COMMENT_ITEM):
        if len(out) >= limit:
            break
        text = _text(item, sel.COMMENT_TEXT)
        if not text:
            continue  # spoiler-hidden or empty comments
        m = sel.RATING.match(_text(item, sel.COMMENT_RATING))
        out.append(Review(text=text, rating=float(m.group(1)) if m else None))
    return out


def trailer_url(href: str) -> str | None:
    """A playable video URL: YouTube links as they are, Watcha's base64url-wrapped links decoded."""
    if not href:
        return None
    parts = urlsplit(href)
    if parts.hostname in sel.YOUTUBE_HOSTS:
        return href
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    padded = segment + "=" * (-len(segment) % 4)
    try:
        decoded = base64.urlsafe_b64decode(padded).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    inner = urlsplit(decoded)
    if inner.scheme in ("http", "https") and inner.hostname:
        return decoded
    return None
