"""A small, polite aiohttp client for the TMDB v3 API and its image CDN.

Every request goes through a shared rate limiter, has a timeout, and is retried with backoff on 429,
5xx, timeouts and dropped connections (Retry-After wins when the server sends it). Other 4xx answers
are not retried: they raise at once with TMDB's own status message. The credential never appears in
logs or error messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from crawler.ratelimit import Backoff, RateLimiter, parse_retry_after

log = logging.getLogger(__name__)

USER_AGENT = "MoodReel-crawler/0.1 (+https://github.com/moodreel)"


class TmdbError(RuntimeError):
    """TMDB refused or kept failing a request; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TmdbAuthError(TmdbError):
    """401: the API key or read-access token is missing or wrong."""


class TmdbNotFound(TmdbError):
    """404: no such movie (or image)."""


@dataclass
class RequestStats:
    """Counters for the end-of-run summary (mutable: updated as requests happen)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    server_errors: int = 0
    network_errors: int = 0
    bytes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def is_read_access_token(credential: str) -> bool:
    """v4 read-access tokens are JWTs (three dot-separated base64 parts); v3 keys are 32 hex chars."""
    return credential.count(".") == 2 and credential.startswith("eyJ")


class TmdbClient:
    """Use as `async with TmdbClient(...) as tmdb:`; all methods are safe to call concurrently."""

    def __init__(
        self,
        api_base: str,
        credential: str,
        *,
        requests_per_second: float = 20.0,
        timeout: float = 20.0,
        max_retries: int = 5,
        backoff: Backoff | None = None,
    ) -> None:
        if not credential:
            raise TmdbAuthError(
                "no TMDB credential: set TMDB_API_KEY to a v3 API key or a v4 read-access token", 401
            )
        self.api_base = api_base.rstrip("/")
        self._credential = credential
        self._bearer = is_read_access_token(credential)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self.api_limiter = RateLimiter(requests_per_second, burst=max(1, int(requests_per_second // 4)))
        # The image CDN is another host with no published limit; it gets its own bucket at the same rate.
        self.image_limiter = RateLimiter(requests_per_second, burst=max(1, int(requests_per_second // 4)))
        self.stats = RequestStats()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> TmdbClient:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._bearer:
            headers["Authorization"] = f"Bearer {self._credential}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout, sock_connect=min(10.0, self.timeout)),
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- endpoints ------------------------------------------------------------------------------

    async def configuration(self) -> dict[str, Any]:
        return await self.get_json("/configuration", kind="configuration")

    async def discover_movies(self, page: int, filters: dict[str, str]) -> dict[str, Any]:
        return await self.get_json("/discover/movie", {**filters, "page": str(page)}, kind="discover")

    async def movie(self, tmdb_id: int, language: str, append: str = "") -> dict[str, Any]:
        params = {"language": language}
        if append:
            params["append_to_response"] = append
        return await self.get_json(f"/movie/{int(tmdb_id)}", params, kind="details")

    async def watch_providers(self, tmdb_id: int) -> dict[str, Any]:
        return await self.get_json(f"/movie/{int(tmdb_id)}/watch/providers", kind="providers")

    async def image(self, url: str) -> bytes:
        body = await self._request(url, {}, self.image_limiter, kind="image", auth=False)
        return body

    # --- plumbing -------------------------------------------------------------------------------

    async def get_json(
        self, path: str, params: dict[str, str] | None = None, kind: str = "api"
    ) -> dict[str, Any]:
        body = await self._request(self.api_base + path, dict(params or {}), self.api_limiter, kind=kind)
        try:
            data = json.loads(body)
        except ValueError:
            raise TmdbError(f"TMDB sent a response that is not JSON for {path}") from None
        if not isinstance(data, dict):
            raise TmdbError(f"TMDB sent an unexpected JSON value for {path}")
        return data

    async def _request(
        self, url: str, params: dict[str, str], limiter: RateLimiter, kind: str, auth: bool = True
    ) -> bytes:
        if self._session is None:
            raise RuntimeError("TmdbClient must be used inside `async with`")
        if auth and not self._bearer:
            params = {**params, "api_key": self._credential}
        shown = _redact(url)
        attempt = 0
        while True:
            await limiter.acquire()
            self.stats.requests += 1
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
            retry_after: float | None = None
            try:
                async with self._session.get(url, params=params) as resp:
                    if resp.status == 200:
                        body = await resp.read()
                        self.stats.bytes += len(body)
                        return body
                    text = (await resp.text(errors="replace"))[:500]
                    message = _tmdb_message(text) or resp.reason or ""
                    if resp.status == 429 or resp.status >= 500:
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                        if resp.status == 429:
                            self.stats.throttled += 1
                        else:
                            self.stats.server_errors += 1
                        problem = f"HTTP {resp.status} {message}".strip()
                        if attempt >= self.max_retries:
                            raise TmdbError(
                                f"TMDB kept failing {shown} after {attempt + 1} tries: {problem}", resp.status
                            )
                    elif resp.status == 401:
                        raise TmdbAuthError(
                            f"TMDB refused the credential (HTTP 401: {message}); check TMDB_API_KEY", 401
                        )
                    elif resp.status == 404:
                        raise TmdbNotFound(f"TMDB has no {shown} (HTTP 404: {message})", 404)
                    else:
                        raise TmdbError(f"TMDB refused {shown}: HTTP {resp.status} {message}", resp.status)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
                self.stats.network_errors += 1
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if attempt >= self.max_retries:
                    raise TmdbError(
                        f"TMDB kept failing {shown} after {attempt + 1} tries: {problem}"
                    ) from None
            delay = self.backoff.delay(attempt, retry_after)
            if retry_after is not None:
                # A 429 means the whole client is too fast, not just this request.
                limiter.pause(delay)
            self.stats.retries += 1
            log.info("retrying %s in %.1fs (%s)", shown, delay, problem)
            await asyncio.sleep(delay)
            attempt += 1


def _redact(url: str) -> str:
    """The URL without its query string: the query may carry the api_key."""
    return url.split("?", 1)[0]


def _tmdb_message(text: str) -> str:
    """TMDB errors are {"status_code": n, "status_message": "..."}; fall back to nothing."""
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("status_message"), str):
        return data["status_message"]
    return ""
