"""The Mattermost adapter: the slash-command and button endpoints, result delivery and its retries.

Routes on MoodReel's aiohttp app:
- POST /mattermost/command: Mattermost's custom slash command (form fields token, team_id, ...,
  text). Answers at once with an ephemeral JSON reply holding the private session link.
- POST /mattermost/actions: the ◀ ▶ buttons' integration URL (Mattermost's JSON action request).
  Answers {"update": post} with the neighbouring movie; a context with a bad signature gets 403.

Results reach `deliver` through SessionService's hook for "mattermost": the mood card PNG is uploaded
and a channel post made with the summary and the carousel. While Mattermost is unreachable the hook
raises, the session stays undelivered, and a background task retries every deliver_retry_seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from aiohttp import web
from pymongo.errors import PyMongoError

from bot.mattermost.client import MattermostClient, MattermostUnavailable
from bot.mattermost.command_text import CommandTextError, parse_command_text
from bot.mattermost.messages import (
    ACTIONS_PATH,
    failure_text,
    help_text,
    link_text,
    result_post,
    unknown_word_text,
)
from bot.mattermost.signing import BadContext, ContextSigner
from core import safe_json
from core.config import Settings
from core.present.locale import locale_of
from core.present.words import say
from core.sessions.errors import SessionError
from core.sessions.origin import SessionOrigin
from core.sessions.service import SessionService
from core.values.results import MoodResult, Recommendation

log = logging.getLogger(__name__)

PLATFORM = "mattermost"
EXTRA_FIELDS = ("team_id", "team_domain", "channel_name")  # kept with the session for the record
COMMAND_PATH = "/mattermost/command"
DEFAULT_COMMAND = "/moodreel"
LOCALE_LOOKUP_SECONDS = 1.0  # the slash reply must reach Mattermost within 3 s
LOCALE_CACHE_SECONDS = 3600.0
# Mattermost answers these when the request itself is wrong (channel gone, bot not a member...):
# retrying cannot help, so such a result is set aside until MoodReel restarts.
PERMANENT_STATUS = frozenset({400, 403, 404, 413})
MAX_ACTION_DEPTH = 16  # an action request nests 3 levels deep; deeper JSON is refused unparsed


class _Services(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def sessions(self) -> SessionService: ...


def json_response(data: Mapping[str, Any], status: int = 200) -> web.Response:
    # Exactly "application/json": Mattermost only parses a reply as JSON with that content type.
    return web.Response(
        body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        status=status,
        headers={"Content-Type": "application/json"},
    )


def _ephemeral(text: str, status: int = 200) -> web.Response:
    return json_response({"response_type": "ephemeral", "text": text}, status)


class MattermostAdapter:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionService,
        client: MattermostClient | None = None,
        lookup_client: MattermostClient | None = None,
    ) -> None:
        self.settings = settings
        self.mm = settings.mattermost
        self.sessions = sessions
        self.client = client or MattermostClient(self.mm)
        # A second driver with a short timeout, so a slow Mattermost cannot hold up slash replies.
        self.lookup_client = lookup_client or MattermostClient(self.mm, timeout=LOCALE_LOOKUP_SECONDS + 1)
        self.signer = ContextSigner(settings.secret)
        self.actions_url = f"{settings.server.base_url}{ACTIONS_PATH}"
        posters = settings.resolve(settings.catalogue.posters_dir) if settings.catalogue.posters_dir else None
        self._posters = posters if posters is not None and posters.is_dir() else None
        self._locales: dict[str, tuple[str, float]] = {}
        self._in_flight: set[str] = set()
        # Posted by this process but maybe not yet marked delivered (SessionService marks it after the
        # hook returns): the retry pass must not post those again.
        self._posted: set[str] = set()
        self._set_aside: set[str] = set()
        self._down_logged = False

    # --- slash command --------------------------------------------------------------------------

    def _token_ok(self, request: web.Request, fields: Mapping[str, str]) -> bool:
        given = fields.get("token", "")
        if not given:  # Mattermost also sends it as "Authorization: Token <token>"
            auth = request.headers.get("Authorization", "")
            given = auth[6:].strip() if auth[:6].lower() == "token " else ""
        expected = self.mm.command_token
        # surrogatepass: a header that was not UTF-8 compares unequal (401) instead of raising.
        given_bytes = given.encode("utf-8", "surrogatepass")
        return bool(expected) and hmac.compare_digest(given_bytes, expected.encode("utf-8"))

    async def handle_command(self, request: web.Request) -> web.Response:
        fields: Mapping[str, str]
        if request.method == "POST":
            try:
                form = await request.post()
            except ValueError:  # a body that is not UTF-8 (UnicodeDecodeError) or not a form
                return _ephemeral("The request body is not a UTF-8 form.", 400)
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            fields = request.query
        if not all(_utf8(k) and _utf8(v) for k, v in fields.items()):
            return _ephemeral("The request holds text that is not UTF-8.", 400)
        if not self._token_ok(request, fields):
            log.warning("Mattermost command with a wrong token from %s refused", request.remote)
            return _ephemeral(say("en", "mattermost.bad_token"), status=401)
        command = fields.get("command") or DEFAULT_COMMAND
        user_id, channel_id = fields.get("user_id", ""), fields.get("channel_id", "")
        try:
            parsed = parse_command_text(fields.get("text", ""))
        except CommandTextError as exc:
            locale = "ko" if any("\uac00" <= ch <= "\ud7a3" for ch in exc.word) else self.mm.locale
            return _ephemeral(unknown_word_text(exc.word, command, locale))
        locale = parsed.locale or ("ko" if parsed.korean_words else await self._user_locale(user_id))
        if parsed.help:
            return _ephemeral(help_text(command, locale))
        if not user_id or not channel_id:
            return _ephemeral("The request lacks user_id or channel_id; it cannot come from Mattermost.", 400)
        origin = SessionOrigin(
            platform=PLATFORM,
            user_id=user_id,
            channel_id=channel_id,
            user_name=fields.get("user_name", ""),
            locale=locale,
            declared_feeling=parsed.feeling,
            extra={k: fields[k] for k in EXTRA_FIELDS if fields.get(k)},
        )
        try:
            link = await self.sessions.create(origin)
        except PyMongoError as exc:  # the database is away: answered within mongodb.request_timeout
            log.warning("no session for Mattermost user %s: the database is unavailable (%s)", user_id, exc)
            return _ephemeral(say(locale, "mattermost.unavailable"))
        except Exception:
            log.exception("could not create a session for Mattermost user %s", user_id)
            return _ephemeral(say(locale, "mattermost.unavailable"))
        text = link_text(
            link.url,
            self.settings.sessions.link_ttl_minutes,
            fields.get("channel_name", ""),
            link.replaced,
            parsed.feeling,
            locale,
        )
        return _ephemeral(text)

    async def _user_locale(self, user_id: str) -> str:
        """The user's Mattermost language when it answers quickly, else the configured default."""
        now = time.monotonic()
        cached = self._locales.get(user_id)
        if cached and now - cached[1] < LOCALE_CACHE_SECONDS:
            return cached[0]
        if not user_id:
            return self.mm.locale
        try:
            found = await asyncio.wait_for(self.lookup_client.user_locale(user_id), LOCALE_LOOKUP_SECONDS)
        except (MattermostUnavailable, TimeoutError) as exc:
            log.debug("no locale for Mattermost user %s: %s", user_id, exc)
            return self.mm.locale
        locale = locale_of(found) if found else self.mm.locale
        self._locales[user_id] = (locale, now)
        return locale

    def poster_for(self, rec: Recommendation) -> str | None:
        """The poster's URL; without a TMDB one, MoodReel's own /posters/ copy when it has the file."""
        if rec.poster_url:
            return rec.poster_url
        if self._posters is not None and (self._posters / f"{rec.tmdb_id}.jpg").is_file():
            return f"{self.settings.server.base_url}/posters/{rec.tmdb_id}.jpg"
        return None

    # --- buttons --------------------------------------------------------------------------------

    async def handle_action(self, request: web.Request) -> web.Response:
        try:
            body = safe_json.loads(await request.read(), MAX_ACTION_DEPTH)
        except ValueError:  # not UTF-8, not JSON, or nested deeper than any action request
            return json_response({"ephemeral_text": "The request body is not JSON."}, 400)
        if not isinstance(body, dict):
            return json_response({"ephemeral_text": "The request body is not a JSON object."}, 400)
        try:
            page = self.signer.verify(body.get("context"))
        except BadContext as exc:
            log.warning("Mattermost button with a bad context refused (%s) from %s", exc, request.remote)
            return json_response({"ephemeral_text": say("en", "mattermost.bad_button")}, 403)
        try:
            doc = await self.sessions.get(page.session_id)
        except PyMongoError as exc:
            log.warning("Mattermost button: the database is unavailable (%s)", exc)
            return json_response({"ephemeral_text": say(page.locale, "mattermost.unavailable")})
        if not doc or not doc.get("result"):
            return json_response({"ephemeral_text": say(page.locale, "mattermost.stale_button")})
        result = _with_origin(MoodResult.from_dict(doc["result"]), doc.get("origin") or {})
        if not result.recommendations:
            return json_response({"ephemeral_text": say(page.locale, "mattermost.stale_button")})
        update = result_post(  # no channel_id: an update body
            result, "", page.locale, page.file_ids, self.signer, self.actions_url, page.index, self.poster_for
        )
        return json_response({"update": update})

    # --- delivery -------------------------------------------------------------------------------

    async def deliver(self, result: MoodResult) -> None:
        """Post one result: upload the mood card, then the summary and carousel. Raises if it could not."""
        if result.session_id in self._in_flight:
            raise MattermostUnavailable(f"session {result.session_id} is being delivered already")
        self._in_flight.add(result.session_id)
        try:
            origin = await self.sessions.origin(result.session_id)
            result = _with_origin(result, origin.to_dict())
            png = await asyncio.to_thread(_render_card, result, origin.locale)
            file_id = await self.client.upload_png(origin.channel_id, f"moodreel-{origin.locale}.png", png)
            post = result_post(
                result,
                origin.channel_id,
                origin.locale,
                (file_id,),
                self.signer,
                self.actions_url,
                poster_for=self.poster_for,
            )
            created = await self.client.create_post(post)
            self._posted.add(result.session_id)
            log.info("Mattermost: posted session %s as post %s", result.session_id, created.get("id", "?"))
            self._down_logged = False
        finally:
            self._in_flight.discard(result.session_id)

    async def notify_failure(self, session_id: str, origin: SessionOrigin, reason: str) -> None:
        """Tell the user privately (ephemeral, else a direct message) that their session ended."""
        if reason == "replaced" or not origin.channel_id:
            return
        text = failure_text(reason, DEFAULT_COMMAND, origin.locale)
        try:
            await self.client.ephemeral(origin.user_id, origin.channel_id, text)
            return
        except MattermostUnavailable as exc:
            # Ephemeral posts need create_post_ephemeral, which Mattermost gives only to system
            # admins by default; a direct message needs nothing special.
            if exc.status != 403:
                log.warning(
                    "could not tell Mattermost user %s that session %s failed: %s",
                    origin.user_id,
                    session_id,
                    exc,
                )
                return
        try:
            await self.client.direct_message(origin.user_id, text)
        except MattermostUnavailable as exc:
            log.warning(
                "could not tell Mattermost user %s that session %s failed: %s",
                origin.user_id,
                session_id,
                exc,
            )

    async def retry_undelivered(self) -> int:
        """Deliver results that missed their hook; stops at the first sign Mattermost is still down."""
        delivered = 0
        waiting = await self.sessions.undelivered(PLATFORM)
        self._posted &= {r.session_id for r in waiting}  # the rest are marked delivered: forget them
        for result in waiting:
            sid = result.session_id
            if sid in self._in_flight or sid in self._set_aside:
                continue
            if sid in self._posted:
                await self.sessions.mark_delivered(sid)
                continue
            try:
                await self.deliver(result)
            except MattermostUnavailable as exc:
                if exc.status in PERMANENT_STATUS:
                    self._set_aside.add(sid)
                    log.error("Mattermost refused session %s (%s); not retrying it until restart", sid, exc)
                    continue
                if not self._down_logged:
                    log.warning("Mattermost is still unreachable (%s); retrying later", exc)
                    self._down_logged = True
                break
            except SessionError as exc:
                self._set_aside.add(sid)
                log.error("session %s cannot be delivered: %s", sid, exc)
                continue
            except Exception:  # a bug with this one result must not hold up the others
                self._set_aside.add(sid)
                log.exception("delivering session %s failed; not retrying it until restart", sid)
                continue
            await self.sessions.mark_delivered(sid)
            delivered += 1
        if delivered:
            log.info("Mattermost: delivered %d result(s) that had waited", delivered)
        return delivered

    async def _retry_loop(self) -> None:
        interval = self.mm.deliver_retry_seconds
        while True:
            try:
                await self.retry_undelivered()
            except Exception:  # the store may be briefly away too; the loop must live on
                log.exception("retrying undelivered Mattermost results failed")
            await asyncio.sleep(interval)

    async def background(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: the retry task runs while the app does (its first pass collects older results)."""
        task = asyncio.create_task(self._retry_loop(), name="mattermost-retry")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _utf8(text: str) -> bool:
    """Text that came from bytes which were UTF-8 (aiohttp keeps other bytes as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _with_origin(result: MoodResult, origin: Mapping[str, Any]) -> MoodResult:
    return dataclasses.replace(result, origin={**result.origin, **origin}) if origin else result


def _render_card(result: MoodResult, locale: str) -> bytes:
    from core.present.mood_card import render_mood_card

    return render_mood_card(result, locale=locale)


MATTERMOST_ADAPTER = web.AppKey("mattermost_adapter", MattermostAdapter)


def setup_mattermost(app: web.Application, services: _Services) -> None:
    """Add the Mattermost routes, result hooks and retry task to MoodReel's app (before it starts)."""
    mm = services.settings.mattermost
    if not mm.enabled:
        raise ValueError(
            "Mattermost is not configured: set MATTERMOST_URL, MATTERMOST_TOKEN and MATTERMOST_COMMAND_TOKEN"
        )
    adapter = MattermostAdapter(services.settings, services.sessions)
    app[MATTERMOST_ADAPTER] = adapter
    app.router.add_route("POST", COMMAND_PATH, adapter.handle_command)
    app.router.add_route("GET", COMMAND_PATH, adapter.handle_command)
    app.router.add_route("POST", ACTIONS_PATH, adapter.handle_action)
    services.sessions.on_result(PLATFORM, adapter.deliver)
    services.sessions.on_failure(PLATFORM, adapter.notify_failure)
    app.cleanup_ctx.append(adapter.background)
    log.info("Mattermost: slash command at %s%s", services.settings.server.base_url, COMMAND_PATH)
