"""The aiohttp app: the try-it page, session links, their WebSocket, posters and static files.

Routes
- GET  /                 the standalone "try it" page
- POST /try              makes a local web session and redirects to its link
- GET  /s/{token}        the webcam page for a session link (refusal pages for bad, expired, used links)
- POST /s/{token}/claim  the page claims the session for this browser (single use; sets a cookie)
- GET  /s/{token}/result the finished session's result, for the browser that ran it (a reload)
- POST /s/{token}/reveal a movie night member's choice to show their mood by name ({"show": bool})
- GET  /s/{token}/ws     the session's WebSocket (protocol in webcam_page.protocol)
- GET  /posters/{id}.jpg local poster images, when the catalogue has them
- GET  /healthz          liveness, the database's state (503 while it is down) and the pool's counters
- /stage/...             the audience stage: control and stage pages, their sockets (webcam_page.stage)
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.typedefs import Handler
from pymongo.errors import PyMongoError

from core import safe_json
from core.config import Settings
from core.present.words import say
from core.services import Services
from core.sessions.errors import AlreadyUsed, SessionError
from core.sessions.origin import SessionOrigin
from core.storage.store import utcnow
from webcam_page.limits import AddressLimiter
from webcam_page.pages import locale_of, refusal, words_js
from webcam_page.security import ServerLog, body_deadline, origin_allowed, security_headers
from webcam_page.session_socket import SessionSocket, group_choice, result_payload
from webcam_page.stage import setup_stage

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CLAIM_COOKIE = "moodreel_claim"
USER_COOKIE = "moodreel_uid"
TRY_PER_MINUTE = 20  # new try-it sessions per client address
TRY_ADDRESSES = 10_000  # addresses remembered for that (least recently seen forgotten first)
REVEAL_MAX_DEPTH = 4  # {"show": true} nests once
WS_HARD_LIMIT = 4  # messages over this many times the frame cap close the socket (aiohttp's own cap)

SERVICES = web.AppKey("services", Services)
SOCKETS = web.AppKey("sockets", dict[str, web.WebSocketResponse])
TRY_LIMITS = web.AppKey("try_limits", AddressLimiter)
SESSION_PAGE = web.AppKey("session_page", str)
POSTERS_DIR = web.AppKey[Path | None]("posters_dir")


# A session error's kind -> the refusal page to show and its HTTP status.
_REFUSALS: dict[str, tuple[str, int]] = {
    "invalid": ("invalid", 403),
    "missing": ("missing", 404),
    "used": ("used", 409),
    "open_first": ("used", 409),
    "expired": ("expired", 410),
    "replaced": ("replaced", 410),
    "failed": ("failed", 410),
}


def _refusal_kind(exc: SessionError) -> tuple[str, int]:
    return _REFUSALS.get(exc.kind, ("invalid", 400))


_COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what secrets.token_urlsafe gives


def _cookie(request: web.Request, name: str) -> str | None:
    """A cookie we set ("" when absent), or None when it holds something we never set: bytes that
    are not UTF-8, other characters. Such a request gets 400, never a 500."""
    value = request.cookies.get(name, "")
    return value if not value or _COOKIE_SHAPE.fullmatch(value) else None


def _bad_cookie() -> web.Response:
    return web.json_response(
        {"ok": False, "error": "bad_cookie", "message": "the claim cookie is malformed"}, status=400
    )


def _json_refusal(exc: SessionError) -> web.Response:
    kind, status = _refusal_kind(exc)
    return web.json_response({"ok": False, "error": kind, "message": str(exc)}, status=status)


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def try_it(request: web.Request) -> web.StreamResponse:
    """A session for this browser, with no chat behind it: the whole flow for a newcomer."""
    services = request.app[SERVICES]
    if not origin_allowed(
        request, services.settings.server.base_url, services.settings.sessions.allowed_origins
    ):
        return web.Response(status=403, text="cross-site request refused")
    if not request.app[TRY_LIMITS].allow(request.remote or "?"):
        return refusal(request, "busy", 429)
    form = await request.post()
    feeling = str(form.get("feeling") or "").strip().lower() or None
    user_id = _cookie(request, USER_COOKIE) or secrets.token_urlsafe(12)
    try:
        origin = SessionOrigin("web", user_id, locale=locale_of(request), declared_feeling=feeling)
    except ValueError:
        origin = SessionOrigin("web", user_id, locale=locale_of(request))
    link = await services.sessions.create(origin)
    path = "/s/" + link.url.rsplit("/s/", 1)[1]  # relative: works whatever host the browser used
    response = web.Response(status=303, headers={"Location": path})
    response.set_cookie(USER_COOKIE, user_id, max_age=365 * 86400, httponly=True, samesite="Lax")
    return response


async def session_page(request: web.Request) -> web.StreamResponse:
    """The webcam page. Opening it does not use up the link: the page's script claims it, so chat
    link previews (which fetch the URL but run no script) do not spend the user's link."""
    services = request.app[SERVICES]
    try:
        session_id = services.sessions.verify_token(request.match_info["token"])
    except SessionError as exc:
        return refusal(request, *_refusal_kind(exc))
    doc = await services.sessions.get(session_id)
    if doc is None:
        return refusal(request, "missing", 404)
    if doc["state"] != "created":
        claim = _cookie(request, CLAIM_COOKIE)
        if claim is None:
            return refusal(request, "invalid", 400)
        finished = doc["state"] in ("analysed", "delivered")
        if finished and claim and await services.sessions.finished_result(session_id, claim) is not None:
            # The browser that ran the session reloaded it: the page shows the result again.
            return web.Response(text=request.app[SESSION_PAGE], content_type="text/html", charset="utf-8")
        try:
            if not claim:
                raise services.sessions.refusal_for(doc)
            await services.sessions.check_claim(session_id, claim)  # the same browser reloading
        except SessionError as exc:
            return refusal(request, *_refusal_kind(exc))
    elif doc["expires_at"] <= utcnow():
        return refusal(request, "expired", 410)
    return web.Response(text=request.app[SESSION_PAGE], content_type="text/html", charset="utf-8")


async def claim(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    settings = services.settings
    if not origin_allowed(request, settings.server.base_url, settings.sessions.allowed_origins):
        return web.json_response(
            {"ok": False, "error": "origin", "message": "cross-site request refused"}, status=403
        )
    token = request.match_info["token"]
    cookie = _cookie(request, CLAIM_COOKIE)
    if cookie is None:
        return _bad_cookie()
    try:
        session_id = services.sessions.verify_token(token)
        try:
            secret = await services.sessions.claim(session_id)
        except AlreadyUsed:
            await services.sessions.check_claim(session_id, cookie)
            return web.json_response({"ok": True, "resumed": True})
    except SessionError as exc:
        return _json_refusal(exc)
    response = web.json_response({"ok": True, "resumed": False})
    response.set_cookie(
        CLAIM_COOKIE,
        secret,
        path=f"/s/{token}",
        # As long as the link lives, so a reload after the end can still show the result.
        max_age=int(settings.sessions.link_ttl_minutes * 60 + settings.sessions.max_session_seconds) + 60,
        httponly=True,
        samesite="Strict",
        secure=settings.server.base_url.startswith("https://"),
    )
    return response


def _claimed(request: web.Request) -> tuple[str, str] | web.Response:
    """(session id, claim cookie) of a request about a finished session, or the refusal: a malformed
    cookie, or a forged or expired link."""
    cookie = _cookie(request, CLAIM_COOKIE)
    if cookie is None:
        return _bad_cookie()
    try:
        return request.app[SERVICES].sessions.verify_token(request.match_info["token"]), cookie
    except SessionError as exc:
        return _json_refusal(exc)


async def session_result(request: web.Request) -> web.StreamResponse:
    """A finished session's result, for the browser holding its claim cookie, so a reload shows it."""
    services = request.app[SERVICES]
    claimed = _claimed(request)
    if isinstance(claimed, web.Response):
        return claimed
    session_id, cookie = claimed
    result = await services.sessions.finished_result(session_id, cookie)
    if result is None:
        return web.json_response(
            {"ok": False, "error": "pending", "message": "no result for this browser yet"}, status=404
        )
    payload = result_payload(request.app[POSTERS_DIR], result)
    # Where the chat delivery stands now, so a reload tells the user when it could not be posted.
    delivery = await services.sessions.delivery(session_id)
    platform = str(result.origin.get("platform") or "")
    note = None
    if delivery.state == "undeliverable":
        note = say(str(result.origin.get("locale") or "en"), "page.undeliverable")
    chat = {
        "platform": platform,
        "delivered": bool(delivery),
        "delivery": delivery.state,
        "delivery_note": note,
    }
    group = await group_choice(services, session_id, result.origin)
    return web.json_response(
        {"ok": True, **payload, **chat, "group": group}, headers={"Cache-Control": "no-store"}
    )


def _reveal_refusal(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": error, "message": message}, status=status)


async def group_reveal(request: web.Request) -> web.StreamResponse:
    """A movie night member's choice, on their result page, to show their mood by name in the group's
    result. Only the browser that ran the session (its claim cookie, as for a reload of the result)
    may choose, and only until the pick is made."""
    services = request.app[SERVICES]
    settings = services.settings
    if not origin_allowed(request, settings.server.base_url, settings.sessions.allowed_origins):
        return _reveal_refusal(403, "origin", "cross-site request refused")
    claimed = _claimed(request)
    if isinstance(claimed, web.Response):
        return claimed
    session_id, cookie = claimed
    try:
        body = safe_json.loads(await request.read(), REVEAL_MAX_DEPTH)
    except ValueError:
        return _reveal_refusal(400, "bad_json", 'the body must be JSON: {"show": true} or {"show": false}')
    show = body.get("show") if isinstance(body, dict) else None
    if not isinstance(show, bool):
        return _reveal_refusal(400, "bad_request", '"show" must be true or false')
    result = await services.sessions.finished_result(session_id, cookie) if cookie else None
    if result is None:
        return _reveal_refusal(
            403, "claim", "only the browser that ran this session can choose this, once its result is shown"
        )
    group = await services.groups.of_session(session_id)
    if group is None or not (result.origin.get("extra") or {}).get("group"):
        return _reveal_refusal(404, "not_group", "this session is not part of a movie night")
    if group.state == "cancelled":
        return _reveal_refusal(409, "over", "the movie night was cancelled")
    if group.state != "open" or not await services.groups.reveal(session_id, show):
        return _reveal_refusal(409, "picked", "the pick was already made")
    locale = str(result.origin.get("locale") or "en")
    return web.json_response(
        {
            "ok": True,
            "show": show,
            "message": say(locale, "page.group.revealed" if show else "page.group.hidden"),
        }
    )


async def session_socket(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    settings = services.settings
    if not origin_allowed(request, settings.server.base_url, settings.sessions.allowed_origins):
        log.info("refused a WebSocket from origin %r", request.headers.get("Origin"))
        return web.json_response(
            {"ok": False, "error": "origin", "message": "origin not allowed"}, status=403
        )
    cookie = _cookie(request, CLAIM_COOKIE)
    if cookie is None:
        return _bad_cookie()
    try:
        session_id = services.sessions.verify_token(request.match_info["token"])
        doc = await services.sessions.check_claim(session_id, cookie)
    except SessionError as exc:
        return _json_refusal(exc)
    ws = web.WebSocketResponse(
        heartbeat=20.0, compress=False, max_msg_size=settings.sessions.max_frame_bytes * WS_HARD_LIMIT
    )
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    previous = sockets.get(session_id)
    if previous is not None and not previous.closed:
        # The same browser reconnected (a reload): the newest connection wins.
        await previous.close(code=WSCloseCode.POLICY_VIOLATION, message=b"opened again elsewhere")
    sockets[session_id] = ws
    origin = SessionOrigin.from_dict(doc["origin"])
    try:
        await SessionSocket(
            services, ws, session_id, origin, doc["opened_at"], request.app[POSTERS_DIR]
        ).run()
    finally:
        if sockets.get(session_id) is ws:
            del sockets[session_id]
    return ws


_POSTER_NAME = re.compile(r"^\d{1,10}\.jpg$")


async def poster(request: web.Request) -> web.StreamResponse:
    folder = request.app[POSTERS_DIR]
    name = request.match_info["name"]
    if folder is None or not _POSTER_NAME.match(name) or not (folder / name).is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(folder / name, headers={"Cache-Control": "public, max-age=86400"})


async def favicon(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/static/favicon.svg")


async def healthz(request: web.Request) -> web.StreamResponse:
    """Liveness and the database's state: 503 while the database does not answer within a second."""
    services = request.app[SERVICES]
    database = await services.store.health(timeout=1.0)
    body = {
        "ok": database["ok"],
        "database": database,
        "sockets": len(request.app[SOCKETS]),
        "pool": services.pool.stats.as_dict(),
    }
    return web.json_response(body, status=200 if database["ok"] else 503)


@web.middleware
async def database_trouble(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With the database away (mongod restarting, MONGODB_URI unreachable), a page or a call answers
    503 within mongodb.request_timeout with a clear "try again in a minute", never a 500."""
    try:
        return await handler(request)
    except PyMongoError as exc:
        log.warning("the database is unavailable for %s %s (%s)", request.method, request.path, exc)
        if request.method == "GET" and request.match_info.route.name == "session_page":
            return refusal(request, "unavailable", 503)
        if request.path == "/try":
            return refusal(request, "unavailable", 503)
        message = "MoodReel is having trouble with its database; try again in a minute"
        return web.json_response({"ok": False, "error": "unavailable", "message": message}, status=503)


async def _sockets_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    # Shutting down: tell open pages, so they show a clear message rather than hang.
    for ws in list(app[SOCKETS].values()):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


def runner_options(settings: Settings) -> dict[str, Any]:
    """How to run the app (web.AppRunner's options), here so the server and the tests agree.

    No access log: links carry tokens. The keep-alive timeout is also the deadline for a request's
    headers (aiohttp closes a connection that has not sent a whole request by then): slow clients
    are closed after server.request_timeout seconds. Malformed requests are logged without a
    traceback (ServerLog).
    """
    return {"access_log": None, "keepalive_timeout": settings.server.request_timeout, "logger": ServerLog()}


def create_app(services: Services) -> web.Application:
    """The web app over open services (the caller owns them: see core.services.open_services)."""
    middlewares = [
        security_headers,
        body_deadline(services.settings.server.request_timeout),
        database_trouble,
    ]
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024)
    app[SERVICES] = services
    app[TRY_LIMITS] = AddressLimiter(TRY_PER_MINUTE, 60.0, TRY_ADDRESSES)
    app[SOCKETS] = {}
    app[SESSION_PAGE] = (STATIC / "session.html").read_text(encoding="utf-8")
    app[POSTERS_DIR] = services.settings.posters_path()
    app.cleanup_ctx.append(_sockets_ctx)
    app.router.add_get("/", index)
    app.router.add_post("/try", try_it)
    app.router.add_get("/s/{token}", session_page, name="session_page")
    app.router.add_post("/s/{token}/claim", claim)
    app.router.add_get("/s/{token}/ws", session_socket)
    app.router.add_get("/s/{token}/result", session_result)
    app.router.add_post("/s/{token}/reveal", group_reveal)
    app.router.add_get("/posters/{name}", poster)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/words.js", words_js)
    app.router.add_get("/favicon.ico", favicon)
    setup_stage(app, services)
    app.router.add_static("/static/", STATIC, append_version=False)
    return app
