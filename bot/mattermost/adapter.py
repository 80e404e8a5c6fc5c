"""The Mattermost adapter: the slash-command and button endpoints, result delivery and its retries.

Routes on MoodReel's aiohttp app:
- POST /mattermost/command: Mattermost's custom slash command (form fields token, team_id, ...,
  text). Answers at once with an ephemeral JSON reply holding the private session link.
- POST /mattermost/actions: the buttons' integration URL (Mattermost's JSON action request). ◀ ▶
  answer {"update": post} with the neighbouring movie; **Share with the channel** posts the public
  version (through the outbox) and says how it went. Every answer to a real action request is HTTP
  200, errors included: Mattermost shows `ephemeral_text` only then ("Action failed" otherwise).

Results, failure and expiry notes reach Mattermost only through the delivery outbox: its worker runs
while the app does, and bot.mattermost.delivery holds the courier (targets, idempotent posts).
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
from bot.mattermost.delivery import MattermostCourier, in_direct_channel
from bot.mattermost.group import with_votes
from bot.mattermost.messages import (
    ACTIONS_PATH,
    help_text,
    link_text,
    result_post,
    unknown_word_text,
)
from bot.mattermost.signing import BadContext, ContextSigner, GroupContext, ShareContext
from core import safe_json
from core.config import Settings
from core.delivery.outbox import DeliveryStatus
from core.group.service import GroupError, GroupService
from core.present.locale import locale_of, titles
from core.present.words import emotion_name, say
from core.sessions.origin import SessionOrigin
from core.sessions.service import SessionService
from core.stage.links import StageSigner
from core.values.results import MoodResult, Recommendation

log = logging.getLogger(__name__)

PLATFORM = "mattermost"
EXTRA_FIELDS = ("team_id", "team_domain", "channel_name")  # kept with the session for the record
COMMAND_PATH = "/mattermost/command"
DEFAULT_COMMAND = "/moodreel"
LOCALE_LOOKUP_SECONDS = 1.0  # the slash reply must reach Mattermost within 3 s
LOCALE_CACHE_SECONDS = 3600.0
SHARE_WAIT_SECONDS = 8.0  # a Share click waits this long for the post (Mattermost waits up to 30 s)
MAX_ACTION_DEPTH = 16  # an action request nests 3 levels deep; deeper JSON is refused unparsed
GROUP_POST_WAIT_SECONDS = 1.5  # `/moodreel group` waits this long for its post (the reply is due in 3 s)
GROUP_ACTION_WAIT_SECONDS = 2.5  # Pick / Close answer by then; the rest goes on after the answer


class _Services(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def sessions(self) -> SessionService: ...
    @property
    def groups(self) -> GroupService: ...


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
        groups: GroupService | None = None,
    ) -> None:
        self.settings = settings
        self.mm = settings.mattermost
        self.sessions = sessions
        self.groups = groups  # movie nights (None: `/moodreel group` is not offered)
        self._tasks: set[asyncio.Task[Any]] = set()  # Pick / Close work that outlives its answer
        self.client = client or MattermostClient(self.mm)
        # A second driver with a short timeout, so a slow Mattermost cannot hold up slash replies.
        self.lookup_client = lookup_client or MattermostClient(self.mm, timeout=LOCALE_LOOKUP_SECONDS + 1)
        self.signer = ContextSigner(settings.secret)
        self.actions_url = f"{settings.server.base_url}{ACTIONS_PATH}"
        self._posters = settings.posters_path()
        self._locales: dict[str, tuple[str, float]] = {}
        self.courier = MattermostCourier(self)

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
        if parsed.mode == "stage":
            return _ephemeral(self._stage_text(parsed.feeling or "neutral", locale))
        if parsed.mode == "group":
            return await self._start_group(fields, command, locale)
        origin = SessionOrigin(
            platform=PLATFORM,
            user_id=user_id,
            channel_id=channel_id,
            user_name=fields.get("user_name", ""),
            locale=locale,
            declared_feeling=parsed.feeling,
            extra={"deliver": self.mm.deliver, **{k: fields[k] for k in EXTRA_FIELDS if fields.get(k)}},
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
            self.mm.deliver,
            link.replaced,
            parsed.feeling,
            locale,
        )
        return _ephemeral(text)

    def _stage_text(self, feeling: str, locale: str) -> str:
        """`/moodreel stage [feeling]`: a control link for the performer and a stage link (stateless)."""
        ttl = self.settings.stage.link_ttl_minutes
        links = StageSigner(self.settings.secret).issue(self.settings.server.base_url, feeling, ttl)
        return say(
            locale,
            "mattermost.stage.links",
            feeling=emotion_name(locale, feeling),
            hours=f"{ttl / 60:g}",
            control=links.control_url,
            show=links.show_url,
        )

    async def _start_group(self, fields: Mapping[str, str], command: str, locale: str) -> web.Response:
        """`/moodreel group`: a movie night, its post in the channel (through the outbox), a private word."""
        if self.groups is None:
            return _ephemeral(say(locale, "mattermost.unavailable"))
        if "__" in fields.get("channel_name", ""):
            return _ephemeral(say(locale, "mattermost.group.dm", command=command))
        outbox = self.sessions.outbox
        try:
            group = await self.groups.start(
                PLATFORM,
                fields["channel_id"],
                fields["user_id"],
                fields.get("user_name", ""),
                locale,
                {k: fields[k] for k in EXTRA_FIELDS if fields.get(k)},
            )
            item_id = await outbox.refresh(
                group.group_id,
                PLATFORM,
                "group_progress",
                group.origin(),
                {"group": group.public().to_dict()},
            )
            status = await outbox.deliver_now(item_id, GROUP_POST_WAIT_SECONDS)
        except PyMongoError as exc:
            log.warning("no movie night in %s: the database is unavailable (%s)", fields["channel_id"], exc)
            return _ephemeral(say(locale, "mattermost.unavailable"))
        if status.state == "undeliverable":
            bot = self.client.bot_username or "moodreel"
            return _ephemeral(say(locale, "mattermost.group.not_member", bot=bot, command=command))
        return _ephemeral(say(locale, "mattermost.group.started"))

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
        # From here on every answer is 200: Mattermost shows ephemeral_text only on 200.
        context = body.get("context")
        try:
            if self.signer.is_group(context):
                return await self._group_click(body, self.signer.verify_group(context))
            if self.signer.is_share(context):
                return await self._share_click(body, self.signer.verify_share(context))
            page = self.signer.verify(context)
        except BadContext as exc:
            log.warning("Mattermost button with a bad context refused (%s) from %s", exc, request.remote)
            return json_response({"ephemeral_text": say("en", "mattermost.bad_button")})
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
        intro, share = await self._private_parts(
            page.session_id, str(body.get("post_id") or ""), result, page.locale
        )
        update = result_post(  # no channel_id: an update body
            result,
            "",
            page.locale,
            page.file_ids,
            self.signer,
            self.actions_url,
            page.index,
            self.poster_for,
            intro=intro,
            share=share,
        )
        return json_response({"update": update})

    async def _private_parts(
        self, session_id: str, post_id: str, result: MoodResult, locale: str
    ) -> tuple[str, ShareContext | None]:
        """A page turn on the private post keeps its intro line and (until shared) its Share button."""
        delivery = await self.sessions.delivery(session_id)
        if not post_id or delivery.post_id != post_id or delivery.target != "dm":
            return "", None
        if await self.sessions.delivery(session_id, "share") or in_direct_channel(result.origin):
            return say(locale, "mattermost.private_intro"), None
        share = ShareContext(session_id, str(result.origin.get("user_id") or ""), locale)
        return say(locale, "mattermost.private_intro"), share

    async def _share_click(self, body: Mapping[str, Any], share: ShareContext) -> web.Response:
        """Share with the channel: only its owner, only from the post the result was delivered in."""
        locale = share.locale

        def answer(key: str, **values: str) -> web.Response:
            return json_response({"ephemeral_text": say(locale, key, **values)})

        if str(body.get("user_id") or "") != share.user_id:
            return answer("mattermost.not_yours")
        try:
            delivery = await self.sessions.delivery(share.session_id)
            if not delivery or delivery.post_id != str(body.get("post_id") or ""):
                return answer("mattermost.bad_button")  # a context copied onto another post
            if await self.sessions.delivery(share.session_id, "share"):
                return answer("mattermost.already_shared")
            status = await self.sessions.share(share.session_id, {"by": share.user_id}, SHARE_WAIT_SECONDS)
        except PyMongoError as exc:
            log.warning("Mattermost share: the database is unavailable (%s)", exc)
            return answer("mattermost.unavailable")
        if status:
            return answer("mattermost.shared")
        if status.state == "undeliverable":
            if "403" in status.reason:
                return answer("mattermost.share_not_member", bot=self.client.bot_username or "moodreel")
            return answer("mattermost.share_refused", reason=status.reason[:200])
        if status.state == "none":
            return answer("mattermost.share_gone")
        return answer("mattermost.share_later")

    # --- movie nights ---------------------------------------------------------------------------

    async def _group_click(self, body: Mapping[str, Any], button: GroupContext) -> web.Response:
        """Join (anyone), Pick / Cancel / Close the vote (the host), a vote (anyone, again to change it)."""
        locale = button.locale

        def answer(key: str, lang: str = locale, **values: Any) -> web.Response:
            return json_response({"ephemeral_text": say(lang, key, **values)})

        groups = self.groups
        if groups is None:
            return answer("mattermost.stale_button")
        user_id, post_id = str(body.get("user_id") or ""), str(body.get("post_id") or "")
        try:
            group = await groups.get(button.group_id)
            if group is None:
                return answer("group.over")
            if button.action in ("join", "pick", "cancel"):
                if not post_id or post_id != group.message_id:
                    return answer("mattermost.bad_button")  # a context copied onto another post
            else:
                outbox = self.sessions.outbox
                picked = await outbox.status(outbox.item_id(group.group_id, "group_pick"))
                if not post_id or post_id != picked.post_id:
                    return answer("mattermost.bad_button")
            if button.action == "join":
                return await self._join(body, group.group_id, user_id)
            if button.action == "cancel":
                await groups.cancel(group.group_id, user_id)
                return json_response({})
            if button.action == "vote":
                voted = await groups.vote(group.group_id, user_id, button.option)
                assert voted.pick is not None
                update = with_votes(voted, button.file_ids, self.courier)
                tmdb_id = voted.poll.options[button.option]
                rec = next(r for r in voted.pick.result.recommendations if r.tmdb_id == tmdb_id)
                title = titles(rec, locale)[0]
                return json_response(
                    {"update": update, "ephemeral_text": say(locale, "group.voted", title=title)}
                )
            if button.action == "pick":
                done = await self._soon(groups.pick(group.group_id, user_id))
            else:
                done = await self._soon(groups.close_poll(group.group_id, user_id))
            if done is None or not done[1]:
                return answer("group.picking" if button.action == "pick" else "mattermost.share_later")
            return json_response({})
        except GroupError as exc:
            return answer(f"group.{exc.kind}", **exc.values)
        except ValueError:  # a user id that cannot be a vote's key
            return answer("mattermost.bad_button")
        except PyMongoError as exc:
            log.warning("Mattermost movie night: the database is unavailable (%s)", exc)
            return answer("mattermost.unavailable")

    async def _join(self, body: Mapping[str, Any], group_id: str, user_id: str) -> web.Response:
        assert self.groups is not None
        lang = await self._user_locale(user_id)
        extra = {k: str(body[k]) for k in EXTRA_FIELDS if body.get(k)}
        group, link, rejoined = await self.groups.join(
            group_id, user_id, str(body.get("user_name") or ""), lang, extra
        )
        host = group.host_name or group.host_id
        lines = [
            say(lang, "group.join_link", host=host, expires=link.expires_at.strftime("%H:%M UTC")),
            link.url,
        ]
        if rejoined:
            lines.append(say(lang, "group.rejoined"))
        return json_response({"ephemeral_text": "\n".join(lines)})

    async def _soon(self, work: Any) -> tuple[Any, DeliveryStatus] | None:
        """Run a Pick / Close; its outcome if it is over within the integration's patience, else None
        (it carries on after the answer; a GroupError raised at once is passed on)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        done, _ = await asyncio.wait({task}, timeout=GROUP_ACTION_WAIT_SECONDS)
        if task in done:
            return task.result()
        task.add_done_callback(_log_failure)
        return None

    # --- delivery -------------------------------------------------------------------------------

    async def background(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: while the app runs, this process delivers Mattermost's outbox items (its first
        pass collects what waited, e.g. while Mattermost was down) and notes expired links."""
        outbox = self.sessions.outbox
        outbox.register(PLATFORM, self.courier, retry_base=self.mm.deliver_retry_seconds)
        task = asyncio.create_task(self.sessions.deliveries(PLATFORM), name="mattermost-deliveries")
        try:
            yield
        finally:
            outbox.unregister(PLATFORM, self.courier)
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


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a movie night's action failed after its answer: %r", task.exception())


def _with_origin(result: MoodResult, origin: Mapping[str, Any]) -> MoodResult:
    return dataclasses.replace(result, origin={**result.origin, **origin}) if origin else result


MATTERMOST_ADAPTER = web.AppKey("mattermost_adapter", MattermostAdapter)


def setup_mattermost(app: web.Application, services: _Services) -> None:
    """Add the Mattermost routes, result hooks and retry task to MoodReel's app (before it starts)."""
    mm = services.settings.mattermost
    if not mm.enabled:
        raise ValueError(
            "Mattermost is not configured: set MATTERMOST_URL, MATTERMOST_TOKEN and MATTERMOST_COMMAND_TOKEN"
        )
    adapter = MattermostAdapter(services.settings, services.sessions, groups=services.groups)
    app[MATTERMOST_ADAPTER] = adapter
    app.router.add_route("POST", COMMAND_PATH, adapter.handle_command)
    app.router.add_route("GET", COMMAND_PATH, adapter.handle_command)
    app.router.add_route("POST", ACTIONS_PATH, adapter.handle_action)
    app.cleanup_ctx.append(adapter.background)
    log.info("Mattermost: slash command at %s%s", services.settings.server.base_url, COMMAND_PATH)
