"""Origin checks and response headers for the webcam page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger(__name__)


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp.server's log for web.AppRunner(logger=...), except that a request too malformed to
    parse (the client's fault: 4xx) is one INFO line without a traceback. aiohttp logs those with
    the full traceback, so any stranger could fill the log with them."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError) and 400 <= (exc_info.code or 0) < 500:
            self.info("%s: %s", str(msg) % args, exc_info.message or exc_info.code)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# Posters may come from TMDB's image host; everything else is our own.
CSP = (
    "default-src 'self'; img-src 'self' data: blob: https://image.tmdb.org; media-src 'self' blob:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def normalise_origin(value: str) -> str | None:
    """'scheme://host[:port]' in lower case with the default port dropped, or None if unusable."""
    try:
        parts = urlsplit(value.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return None
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]" if port in (None, DEFAULT_PORTS[scheme]) else f"[{host}]:{port}"
    return f"{scheme}://{netloc}"


def _host_key(host: str, scheme: str) -> str:
    """Host header -> 'host:port', filling in the scheme's default port."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[: end + 1], host[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return f"{name}:{port or DEFAULT_PORTS.get(scheme, 80)}"


def origin_allowed(request: web.Request, base_url: str, extra: Iterable[str] = ()) -> bool:
    """Is the request's Origin our page? Allowed: the public base URL, configured extras, or the
    very host the browser addressed (same-origin). Requests without an Origin are refused."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    norm = normalise_origin(origin)
    if norm is None:
        return False
    allowed = {normalise_origin(base_url), *(normalise_origin(o) for o in extra)}
    if norm in allowed:
        return True
    host = request.headers.get("Host")
    if not host:
        return False
    scheme, _, netloc = norm.partition("://")
    return _host_key(netloc, scheme) == _host_key(host, scheme)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:  # a WebSocket upgrade is already sent
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Links carry tokens: never send them to other sites. ("no-referrer" would also blank the
        # Origin of our own POSTs, which the origin check needs.)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=()")
        if request.path.startswith("/s/") or request.path == "/try":
            response.headers["Cache-Control"] = "no-store"
    return response


def body_deadline(seconds: float) -> Middleware:
    """A request's body must arrive in full within `seconds`; handlers then read it from memory.

    A client trickling its body (slowloris) gets 408 and its connection is closed. The headers'
    deadline is the server's keep-alive timeout (see webcam_page.app.runner_options).
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists and request.headers.get("Upgrade", "").lower() != "websocket":
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                log.info("closed a connection from %s whose request body came too slowly", request.remote)
                return await _answer_and_close(request, 408, "the request body came too slowly")
        return await handler(request)

    return guard


async def _answer_and_close(request: web.Request, status: int, text: str) -> web.StreamResponse:
    """Send a short answer, then drop the connection at once (aiohttp would otherwise keep reading
    the rest of a slow body for its lingering time)."""
    response = web.Response(status=status, text=text, headers={"Connection": "close"})
    await response.prepare(request)
    await response.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()
    return response
