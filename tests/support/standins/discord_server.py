"""A stand-in Discord on 127.0.0.1 for tests: the REST routes and the gateway discord.py really uses.

REST (under /api/v10, bot routes need `Authorization: Bot <token>`; JSON replies carry exactly
`Content-Type: application/json`, as discord.py only decodes JSON when the header is exactly that):
- GET users/@me, users/{id}; POST users/@me/channels (open a DM);
- GET oauth2/applications/@me; GET gateway, gateway/bot;
- PUT/GET applications/{app}/commands and applications/{app}/guilds/{guild}/commands (bulk overwrite);
- POST interactions/{id}/{token}/callback (?with_response): types 4 (message), 5 (deferred),
  6 (deferred update) and 7 (update the component's message), JSON or multipart; a second answer
  gets Discord's 40060 "already acknowledged";
- POST webhooks/{app}/{token} (follow-ups), GET/PATCH/DELETE webhooks/{app}/{token}/messages/{id|@original};
- POST channels/{id}/messages (JSON or multipart `payload_json` + `files[n]`),
  GET/PATCH channels/{id}/messages/{id}.
Messages are validated against Discord's limits (embed sizes, 25 fields, 10 embeds, 6000 characters,
5 action rows of 5 buttons, 25 select options, unique custom_ids, link-button URLs of at most 512
characters, ...) and refused with 400 / 50035 like Discord does; `attachment://name` in embeds is
resolved to the uploaded attachment's URL. Discord's other documented refusals are enforced too:
- an interaction must be answered within 3 seconds (10062 Unknown interaction after that), and its
  token (follow-ups, edits of the original) works for 15 minutes (401 / 50027 after that);
- channel permissions (`channel_permissions`, also sent as the interaction's `app_permissions`):
  without View Channel / Send Messages, or with files but no Attach Files, 403 / 50013; without Embed
  Links the message is posted and its embeds are silently dropped, as Discord does;
- DMs closed (`dms_closed`): 403 / 50007; a channel message with `nonce` + `enforce_nonce` that
  repeats one from the last minutes returns the first message instead of posting again;
- command registration: lower-case names of 1-32 word characters, descriptions of 1-100, valid
  localisation locales (`ko`, never `ko-KR`), unique option names, at most 25 choices;
- `rate_limit_next` answers one request with 429 and `retry_after` (plus Retry-After headers).

Gateway (ws://.../gateway, json encoding, zlib-stream compression when asked): HELLO, IDENTIFY ->
READY (+ GUILD_CREATE with the guilds intent), heartbeats -> HEARTBEAT_ACK, RESUME -> RESUMED
(replaying missed dispatches), and INTERACTION_CREATE pushed by the test for slash commands and
component clicks. Every request and gateway frame is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import itertools
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

DISCORD_EPOCH_MS = 1420070400000
_counter = itertools.count(1)

GUILDS_INTENT = 1 << 0
# Permission bits (https://discord.com/developers/docs/topics/permissions)
VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES = 1 << 10, 1 << 11, 1 << 14, 1 << 15
SEND_POLLS = 1 << 49
# Polls (https://discord.com/developers/docs/resources/poll): limits and their error codes.
POLL_QUESTION_MAX, POLL_ANSWER_MAX, POLL_ANSWERS_MAX, POLL_HOURS_MAX = 300, 55, 10, 768
CANNOT_EDIT_POLL, NOT_A_POLL = 520003, 520006
ALL_PERMISSIONS = 2248473465835073  # what the stand-in's guild grants the bot unless a test narrows it
DM_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | (1 << 16) | (1 << 18)
RESPONSE_WINDOW_S = 3.0  # an interaction not answered by then is gone (10062)
TOKEN_TTL_S = 15 * 60.0  # an interaction token works this long (50027 after)
NONCE_WINDOW_S = 300.0  # enforce_nonce deduplicates within a few minutes
URL_MAX = 512
# The locales Discord accepts as localisation keys
# (https://discord.com/developers/docs/reference#locales).
DISCORD_LOCALES = frozenset(
    {
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    }
)
COMMAND_NAME = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
PRIVILEGED_INTENTS = {"GUILD_MEMBERS": 1 << 1, "GUILD_PRESENCES": 1 << 8, "MESSAGE_CONTENT": 1 << 15}

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
EMBED_LIMITS = {"title": 256, "description": 4096, "fields": 25, "field_name": 256, "field_value": 1024}
FOOTER_LIMIT, AUTHOR_LIMIT, EMBED_TOTAL, EMBEDS_MAX, CONTENT_MAX = 2048, 256, 6000, 10, 2000


def _check_poll(poll: dict[str, Any]) -> None:
    """A poll request object as Discord validates it (50035 Invalid Form Body otherwise)."""
    question = (poll.get("question") or {}).get("text") or ""
    if not 1 <= len(question) <= POLL_QUESTION_MAX:
        raise FormError(f"a poll question needs 1-{POLL_QUESTION_MAX} characters")
    answers = poll.get("answers") or []
    if not 1 <= len(answers) <= POLL_ANSWERS_MAX:
        raise FormError(f"a poll has 1-{POLL_ANSWERS_MAX} answers")
    for a in answers:
        text = (a.get("poll_media") or {}).get("text") or ""
        if not 1 <= len(text) <= POLL_ANSWER_MAX:
            raise FormError(f"a poll answer needs 1-{POLL_ANSWER_MAX} characters")
    duration = int(poll.get("duration", 24))
    if not 1 <= duration <= POLL_HOURS_MAX:
        raise FormError(f"a poll lasts 1-{POLL_HOURS_MAX} hours")
    if int(poll.get("layout_type", 1)) != 1:
        raise FormError("layout_type must be 1 (DEFAULT)")


def _stored_poll(poll: dict[str, Any]) -> dict[str, Any]:
    """The poll object a message carries: answers numbered from 1, an expiry, empty results."""
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=int(poll.get("duration", 24)))
    return {
        "question": {"text": poll["question"]["text"]},
        "answers": [
            {"answer_id": i, "poll_media": {"text": a["poll_media"]["text"]}}
            for i, a in enumerate(poll["answers"], 1)
        ],
        "expiry": expiry.isoformat(),
        "allow_multiselect": bool(poll.get("allow_multiselect", False)),
        "layout_type": 1,
        "results": {"is_finalized": False, "answer_counts": []},
    }


def snowflake() -> int:
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0x3FFFFF)


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode("utf-8"),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def api_error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return json_response(body, status)


class FormError(Exception):
    """A message Discord would refuse with 400 Invalid Form Body."""


@dataclass
class Upload:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One REST request as discord.py sent it."""

    method: str
    path: str  # below /api/v10, e.g. /channels/1/messages
    query: dict[str, str]
    headers: dict[str, str]
    payload: Any  # the JSON body, or payload_json of a multipart body
    files: list[Upload]
    status: int = 0
    response: Any = None


@dataclass
class Interaction:
    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    guild_id: int | None
    message_id: int | None = None  # the message a component interaction came from
    responded: bool = False
    original_id: int | None = None  # the message the response created
    created: float = field(default_factory=time.monotonic)  # when Discord sent it to the bot
    late: list[str] = field(default_factory=list)  # refusals for answering too late (10062, 50027)


@dataclass
class GatewaySession:
    ws: web.WebSocketResponse
    compress: Any | None
    session_id: str = ""
    seq: int = 0
    identify: dict[str, Any] | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)  # dispatches, for RESUME replays
    heartbeats: int = 0


@dataclass
class StandInUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


class DiscordStandIn:
    """Start with `await start()`; `api_base` and `gateway_url` are what discord.py is pointed at."""

    def __init__(self, token: str = "stand-in-bot-token", heartbeat_interval_ms: int = 41250) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.application_id = snowflake()
        self.bot = StandInUser(self.application_id, "MoodReel", bot=True)
        self.owner = StandInUser(snowflake(), "owner")
        self.guild_id = snowflake()
        self.channel_id = snowflake()
        self.users: dict[int, StandInUser] = {self.bot.id: self.bot, self.owner.id: self.owner}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> commands
        self.messages: dict[int, dict[str, Any]] = {}
        self.poll_votes: dict[int, dict[int, int]] = {}  # poll message -> user -> answer
        self.attachments: dict[str, bytes] = {}
        self.interactions: dict[int, Interaction] = {}
        self.channel_permissions: dict[int, int] = {}  # channel id -> the bot's permissions there
        self.dms_closed: set[int] = set()  # users who accept no DMs from the bot
        self._nonces: dict[tuple[str, str], tuple[float, int]] = {}  # (channel, nonce) -> (when, message)
        self.calls: list[Call] = []
        self.gateways: list[GatewaySession] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self._faults: list[tuple[Callable[[Call], bool], int, dict[str, Any], dict[str, str]]] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> DiscordStandIn:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{channel}/{attachment}/{filename}", self._attachment)
        app.router.add_route("*", "/api/v{version:\\d+}/{path:.*}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]  # (host, port) of the one listening socket
        return self

    async def stop(self) -> None:
        for session in self.gateways:
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        """Wait until `predicate()` is truthy (a deadline, so a broken bot fails instead of hanging)."""

        async def poll() -> Any:
            async with self._changed:
                while not (value := predicate()):
                    await self._changed.wait()
                return value

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"the stand-in Discord never saw {what}") from None

    async def wait_for_call(
        self, method: str, path_part: str, what: str = "", after: int = 0, **kw: Any
    ) -> Call:
        def find() -> Call | None:
            for call in self.calls[after:]:
                if call.method == method and path_part in call.path and call.status:
                    return call
            return None

        return await self.wait_for(find, what or f"{method} {path_part}", **kw)

    def fail_next(
        self,
        predicate: Callable[[Call], bool],
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next request matching `predicate` with this error (e.g. a 429 rate limit)."""
        self._faults.append((predicate, status, body, headers or {}))

    def rate_limit_next(self, predicate: Callable[[Call], bool], retry_after: float) -> None:
        """Answer the next matching request with Discord's 429: `retry_after` in the body and headers."""
        self.fail_next(
            predicate,
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            {
                "Retry-After": str(max(1, round(retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry_after),
                "X-RateLimit-Scope": "user",
                "Via": "1.1 google",
            },
        )

    def age_interaction(self, interaction: Interaction, seconds: float) -> None:
        """Pretend `interaction` reached the bot `seconds` earlier (its token runs out after 15 min)."""
        interaction.created -= seconds

    def permissions_in(self, channel_id: int) -> int:
        if channel_id in self.dm_channels.values():
            return DM_PERMISSIONS
        return self.channel_permissions.get(channel_id, ALL_PERMISSIONS)

    # --- users ----------------------------------------------------------------------------------

    def add_user(self, username: str, global_name: str | None = None) -> StandInUser:
        user = StandInUser(snowflake(), username, global_name)
        self.users[user.id] = user
        return user

    # --- gateway --------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        compress = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        session = GatewaySession(ws, compress)
        self.gateways.append(session)
        await self._send(session, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        async for msg in ws:
            if msg.type.name != "TEXT":
                continue
            frame = json.loads(msg.data)
            op, data = frame.get("op"), frame.get("d")
            if op == 1:
                session.heartbeats += 1
                await self._send(session, {"op": 11})
            elif op == 2:
                await self._identify(session, data)
            elif op == 6:
                await self._resume(session, data)
            await self._notify()
        await self._notify()
        return ws

    async def _send(self, session: GatewaySession, frame: dict[str, Any]) -> None:
        text = json.dumps(frame)
        if session.compress is not None:
            data = session.compress.compress(text.encode()) + session.compress.flush(zlib.Z_SYNC_FLUSH)
            await session.ws.send_bytes(data)
        else:
            await session.ws.send_str(text)

    async def _identify(self, session: GatewaySession, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if data.get("token") != self.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        session.identify = data
        session.session_id = secrets.token_hex(16)
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": self.bot.payload(),
                "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                "session_id": session.session_id,
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "user_settings": {},
            },
            session,
        )
        if int(data.get("intents", 0)) & GUILDS_INTENT:
            await self.dispatch("GUILD_CREATE", self.guild_payload(), session)

    async def _resume(self, session: GatewaySession, data: dict[str, Any]) -> None:
        self.resumes.append(data)
        old = next(
            (s for s in self.gateways if s.session_id == data.get("session_id") and s is not session), None
        )
        if old is None or data.get("token") != self.token:
            await self._send(session, {"op": 9, "d": False})
            return
        session.session_id, session.seq, session.identify = old.session_id, old.seq, old.identify
        missed = [f for f in old.sent if f["s"] > int(data.get("seq") or 0)]
        old.session_id = ""  # the session moved to the new connection
        for frame in missed:
            session.sent.append(frame)
            await self._send(session, frame)
        await self.dispatch("RESUMED", {}, session)

    def live_session(self) -> GatewaySession | None:
        for session in reversed(self.gateways):
            if session.session_id and not session.ws.closed:
                return session
        return None

    async def dispatch(self, event: str, data: dict[str, Any], session: GatewaySession | None = None) -> None:
        session = session or self.live_session()
        if session is None:
            raise AssertionError(f"no bot is connected to the gateway to receive {event}")
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.sent.append(frame)
        await self._send(session, frame)

    async def wait_until_connected(self, count: int = 1, timeout: float = 30.0) -> GatewaySession:
        """The bot's gateway session once it has identified (or resumed) `count` times in all."""
        await self.wait_for(
            lambda: len(self.identifies) + len(self.resumes) >= count and self.live_session(),
            "a gateway login",
            timeout,
        )
        session = self.live_session()
        assert session is not None
        return session

    async def drop_gateway(self, code: int = 4000) -> None:
        """Close the bot's gateway connection like a network blip (discord.py reconnects and resumes)."""
        session = self.live_session()
        if session is not None:
            await session.ws.close(code=code, message=b"stand-in dropped the connection")

    def guild_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "MoodReel test guild",
            "icon": None,
            "owner_id": str(self.owner.id),
            "unavailable": False,
            "large": False,
            "member_count": 3,
            "features": [],
            "preferred_locale": "en-US",
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "permissions": "1071698660929",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "channels": [self.channel_payload()],
            "threads": [],
            "members": [],
            "voice_states": [],
            "presences": [],
            "emojis": [],
            "stickers": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": iso_now(),
        }

    def channel_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    # --- interactions pushed by the test ---------------------------------------------------------

    def _interaction_base(
        self, kind: int, user: StandInUser, locale: str, in_dm: bool
    ) -> tuple[Interaction, dict]:
        channel_id = self._dm_channel(user.id) if in_dm else self.channel_id
        inter = Interaction(
            snowflake(),
            secrets.token_urlsafe(48),
            kind,
            user.id,
            channel_id,
            None if in_dm else self.guild_id,
        )
        self.interactions[inter.id] = inter
        payload: dict[str, Any] = {
            "id": str(inter.id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": inter.token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(self.permissions_in(channel_id)),
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if in_dm:
            payload.update(
                channel_id=str(channel_id),
                channel={"id": str(channel_id), "type": 1, "recipients": [user.payload()], "flags": 0},
                user=user.payload(),
                context=1,
                authorizing_integration_owners={"0": "0"},
            )
        else:
            payload.update(
                guild_id=str(self.guild_id),
                guild={"id": str(self.guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                channel_id=str(self.channel_id),
                channel=self.channel_payload(),
                member={
                    "user": user.payload(),
                    "roles": [],
                    "joined_at": iso_now(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "pending": False,
                    "permissions": "1071698660929",
                    "nick": None,
                    "avatar": None,
                },
                context=0,
                authorizing_integration_owners={"0": str(self.guild_id)},
            )
        return inter, payload

    async def slash_command(
        self,
        user: StandInUser,
        *,
        name: str = "moodreel",
        options: dict[str, Any] | None = None,
        locale: str = "en-US",
        in_dm: bool = False,
    ) -> Interaction:
        """A user runs a synced slash command (it must have been synced, as on Discord)."""
        scope = "global" if in_dm else str(self.guild_id)
        synced = self.commands.get(scope) or ([] if in_dm else self.commands.get("global", []))
        command = next((c for c in synced if c["name"] == name), None)
        if command is None:
            raise AssertionError(f"/{name} was never synced to {scope}; Discord would not offer it")
        inter, payload = self._interaction_base(2, user, locale, in_dm)
        data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1}
        if options:
            data["options"] = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
        if scope != "global":
            data["guild_id"] = scope
        payload["data"] = data
        await self.dispatch("INTERACTION_CREATE", payload)
        return inter

    async def click(
        self,
        user: StandInUser,
        message_id: int,
        custom_id: str,
        *,
        values: list[str] | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """A user clicks a button (or picks from a select) on a message; it must really be there."""
        message = self.messages[message_id]
        component = next(
            (
                c
                for row in message.get("components", [])
                for c in row.get("components", [])
                if c.get("custom_id") == custom_id
            ),
            None,
        )
        if component is None:
            raise AssertionError(f"message {message_id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise AssertionError(f"component {custom_id!r} is disabled; Discord would not send the click")
        in_dm = int(message["channel_id"]) != self.channel_id
        inter, payload = self._interaction_base(3, user, locale, in_dm)
        inter.message_id = message_id
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None:
            data["values"] = values
        payload["data"] = data
        payload["message"] = message
        await self.dispatch("INTERACTION_CREATE", payload)
        return inter

    # --- REST -----------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        payload, files = await self._read_body(request)
        call = Call(request.method, path, dict(request.query), dict(request.headers), payload, files)
        self.calls.append(call)
        try:
            response = await self._route(request, call)
        except FormError as exc:
            response = api_error(400, 50035, "Invalid Form Body", {"_errors": [{"message": str(exc)}]})
        call.status = response.status
        body = response.body if isinstance(response, web.Response) else None
        assert body is None or isinstance(body, bytes | bytearray), "the API answers with JSON bytes"
        call.response = json.loads(body) if body else None
        await self._notify()
        return response

    async def _read_body(self, request: web.Request) -> tuple[Any, list[Upload]]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[Upload] = []
            reader = await request.multipart()
            async for part in reader:
                assert isinstance(part, BodyPartReader), "discord.py sends a flat multipart body"
                data = await part.read()
                if part.name == "payload_json":
                    payload = json.loads(data)
                else:
                    files.append(
                        Upload(
                            part.name or "",
                            part.filename or "",
                            part.headers.get("Content-Type", ""),
                            bytes(data),
                        )
                    )
            return payload, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), []

    def _authorised(self, call: Call) -> bool:
        return call.headers.get("Authorization") == f"Bot {self.token}"

    async def _route(self, request: web.Request, call: Call) -> web.Response:
        for i, (predicate, status, body, headers) in enumerate(self._faults):
            if predicate(call):
                del self._faults[i]
                return json_response(body, status, headers)
        parts = call.path.strip("/").split("/")
        method = call.method
        if parts[0] == "interactions" and len(parts) == 4 and parts[3] == "callback" and method == "POST":
            return self._callback(int(parts[1]), parts[2], call)
        if parts[0] == "webhooks" and len(parts) >= 3:
            return self._webhook(int(parts[1]), parts[2], parts[3:], call)
        if not self._authorised(call):
            return api_error(401, 0, "401: Unauthorized")
        if parts == ["users", "@me"] and method == "GET":
            return json_response(self.bot.payload())
        if parts == ["users", "@me", "channels"] and method == "POST":
            recipient = int(call.payload["recipient_id"])
            if recipient not in self.users:
                return api_error(404, 10013, "Unknown User")
            channel_id = self._dm_channel(recipient)
            return json_response(
                {
                    "id": str(channel_id),
                    "type": 1,
                    "recipients": [self.users[recipient].payload()],
                    "flags": 0,
                }
            )
        if len(parts) == 2 and parts[0] == "users" and method == "GET":
            user = self.users.get(int(parts[1]))
            return json_response(user.payload()) if user else api_error(404, 10013, "Unknown User")
        if parts == ["oauth2", "applications", "@me"] and method == "GET":
            return json_response(self.application_payload())
        if parts in (["gateway"], ["gateway", "bot"]) and method == "GET":
            return json_response(
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if parts[0] == "applications" and parts[-1] == "commands":
            return self._commands(parts, call)
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages":
            return self._channel_messages(int(parts[1]), parts[3:], call)
        if parts[0] == "channels" and len(parts) == 5 and parts[2] == "polls" and parts[4] == "expire":
            if method != "POST":
                return api_error(405, 0, "405: Method Not Allowed")
            return self._expire_poll(int(parts[1]), int(parts[3]))
        return api_error(404, 0, f"404: Not Found ({method} {call.path})")

    def application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": "MoodReel",
            "icon": None,
            "description": "Mood-to-movie companion",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.owner.payload(),
            "verify_key": secrets.token_hex(32),
            "flags": 0,
            "team": None,
            "summary": "",
            "rpc_origins": [],
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "approximate_guild_count": 1,
            "bot": self.bot.payload(),
        }

    def _commands(self, parts: list[str], call: Call) -> web.Response:
        if int(parts[1]) != self.application_id:
            return api_error(403, 50001, "Missing Access")
        scope = parts[3] if len(parts) == 5 and parts[2] == "guilds" else "global"
        if scope != "global" and int(scope) != self.guild_id:
            return api_error(403, 50001, "Missing Access")
        if call.method == "GET":
            return json_response(self.commands.get(scope, []))
        if call.method != "PUT" or not isinstance(call.payload, list):
            return api_error(405, 0, "405: Method Not Allowed")
        stored = []
        names = [c.get("name") for c in call.payload]
        if len(set(names)) != len(names):
            raise FormError("application command names must be unique")
        for command in call.payload:
            _check_command(command)
            entry = {
                **command,
                "id": str(snowflake()),
                "application_id": str(self.application_id),
                "version": str(snowflake()),
                "default_member_permissions": command.get("default_member_permissions"),
                "type": command.get("type", 1),
            }
            if scope != "global":
                entry["guild_id"] = scope
            stored.append(entry)
        self.commands[scope] = stored
        return json_response(stored)

    # --- messages -------------------------------------------------------------------------------

    def _dm_channel(self, user_id: int) -> int:
        if user_id not in self.dm_channels:
            self.dm_channels[user_id] = snowflake()
        return self.dm_channels[user_id]

    def channel_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot posted in a channel (the guild channel by default), oldest first."""
        channel = str(channel_id or self.channel_id)
        return [m for m in self.messages.values() if m["channel_id"] == channel and not m["flags"] & 64]

    def _message(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: list[Upload],
        *,
        webhook_id: int | None = None,
        interaction: Interaction | None = None,
    ) -> dict[str, Any]:
        message_id = snowflake()
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": self.bot.payload(),
            "content": "",
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0 if interaction is None or interaction.type == 3 else 20,
            "flags": 0,
        }
        if channel_id == self.channel_id:
            message["guild_id"] = str(self.guild_id)
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
        if interaction is not None:
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.users[interaction.user_id].payload(),
                "authorizing_integration_owners": {},
            }
        self._apply(message, payload, files, new=True)
        if payload.get("poll") is not None:
            message["poll"] = _stored_poll(payload["poll"])
            self.poll_votes[message_id] = {}
        self.messages[message_id] = message
        return message

    def vote(self, message_id: int, user: StandInUser, answer_id: int) -> None:
        """A user votes in a poll (one answer each: a second vote replaces the first)."""
        message = self.messages[message_id]
        poll = message.get("poll")
        assert poll is not None, f"message {message_id} has no poll"
        assert not poll["results"]["is_finalized"], "the poll has ended; Discord refuses votes (520001)"
        assert any(a["answer_id"] == answer_id for a in poll["answers"]), f"no answer {answer_id}"
        self.poll_votes[message_id][user.id] = answer_id
        self._count_votes(message)

    def _count_votes(self, message: dict[str, Any]) -> None:
        votes = self.poll_votes.get(int(message["id"]), {})
        counts = [
            {
                "id": a["answer_id"],
                "count": sum(1 for v in votes.values() if v == a["answer_id"]),
                "me_voted": False,
            }
            for a in message["poll"]["answers"]
        ]
        message["poll"]["results"]["answer_counts"] = [c for c in counts if c["count"]]

    def _expire_poll(self, channel_id: int, message_id: int) -> web.Response:
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != str(channel_id):
            return api_error(404, 10008, "Unknown Message")
        if message.get("poll") is None:
            return api_error(400, NOT_A_POLL, "Cannot expire a non-poll message")
        if message["author"]["id"] != str(self.bot.id):
            return api_error(403, 50005, "Cannot edit a message authored by another user")
        message["poll"]["results"]["is_finalized"] = True
        message["poll"]["expiry"] = iso_now()
        self._count_votes(message)
        return json_response(message)

    def _apply(
        self, message: dict[str, Any], payload: dict[str, Any] | None, files: list[Upload], new: bool
    ) -> None:
        """Validate `payload` like Discord and apply it (a create, or a PATCH of the given fields)."""
        payload = copy.deepcopy(payload or {})  # the recorded call keeps what discord.py sent
        self._validate(payload)
        for key in ("content", "embeds", "components", "tts"):
            if key in payload and payload[key] is not None:
                message[key] = payload[key]
            elif key in payload and not new:
                message[key] = [] if key != "content" else ""
        if "flags" in payload and payload["flags"] is not None:
            message["flags"] = int(payload["flags"])
        if "allowed_mentions" in payload:
            users = (payload.get("allowed_mentions") or {}).get("users") or []
            message["mentions"] = [self.users[int(u)].payload() for u in users if int(u) in self.users]
        old = {a["id"]: a for a in message.get("attachments", [])}
        if "attachments" in payload or files:
            kept: list[dict[str, Any]] = []
            uploads = {f.field: f for f in files}
            for entry in payload.get("attachments") or []:
                ident = str(entry.get("id"))
                if ident in old:
                    kept.append(old[ident])
                elif f"files[{ident}]" in uploads:
                    kept.append(self._attachment_for(message, uploads.pop(f"files[{ident}]"), entry))
                else:
                    raise FormError(f"attachment {ident} is neither kept nor uploaded")
            for upload in uploads.values():  # files without metadata are still attached
                kept.append(self._attachment_for(message, upload, {}))
            if len(kept) > 10:
                raise FormError("at most 10 attachments per message")
            message["attachments"] = kept
        by_name = {a["filename"]: a for a in message.get("attachments", [])}
        for embed in message.get("embeds", []):
            for key in ("image", "thumbnail"):
                url = (embed.get(key) or {}).get("url", "")
                if url.startswith("attachment://"):
                    attachment = by_name.get(url[len("attachment://") :])
                    if attachment is None:
                        raise FormError(f"embed {key} refers to {url}, which the message does not attach")
                    embed[key] = {
                        **embed[key],
                        "url": attachment["url"],
                        "proxy_url": attachment["proxy_url"],
                    }
        if not new:
            message["edited_timestamp"] = iso_now()

    def _attachment_for(
        self, message: dict[str, Any], upload: Upload, entry: dict[str, Any]
    ) -> dict[str, Any]:
        attachment_id = snowflake()
        filename = entry.get("filename") or upload.filename
        url = f"{self.base_url}/attachments/{message['channel_id']}/{attachment_id}/{filename}"
        self.attachments[f"{attachment_id}/{filename}"] = upload.data
        return {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(upload.data),
            "url": url,
            "proxy_url": url,
            "content_type": upload.content_type or "application/octet-stream",
            "description": entry.get("description"),
        }

    @staticmethod
    def _validate(payload: dict[str, Any]) -> None:
        if len(payload.get("content") or "") > CONTENT_MAX:
            raise FormError("content is longer than 2000 characters")
        embeds = payload.get("embeds") or []
        if len(embeds) > EMBEDS_MAX:
            raise FormError("more than 10 embeds")
        total = 0
        for embed in embeds:
            title, description = embed.get("title") or "", embed.get("description") or ""
            fields = embed.get("fields") or []
            footer = (embed.get("footer") or {}).get("text") or ""
            author = (embed.get("author") or {}).get("name") or ""
            if len(title) > EMBED_LIMITS["title"] or len(description) > EMBED_LIMITS["description"]:
                raise FormError("embed title or description too long")
            if len(fields) > EMBED_LIMITS["fields"]:
                raise FormError("more than 25 embed fields")
            for f in fields:
                if not f.get("name") or not f.get("value"):
                    raise FormError("embed fields need a name and a value")
                if (
                    len(f["name"]) > EMBED_LIMITS["field_name"]
                    or len(f["value"]) > EMBED_LIMITS["field_value"]
                ):
                    raise FormError("embed field name or value too long")
            if len(footer) > FOOTER_LIMIT or len(author) > AUTHOR_LIMIT:
                raise FormError("embed footer or author too long")
            total += len(title) + len(description) + len(footer) + len(author)
            total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        if total > EMBED_TOTAL:
            raise FormError(f"embeds hold {total} characters; Discord allows 6000 per message")
        rows = payload.get("components") or []
        if len(rows) > 5:
            raise FormError("more than 5 action rows")
        ids = [c.get("custom_id") for row in rows for c in row.get("components") or [] if c.get("custom_id")]
        if len(set(ids)) != len(ids):
            raise FormError(
                "custom_id values must be unique within a message (COMPONENT_CUSTOM_ID_DUPLICATED)"
            )
        for row in rows:
            children = row.get("components") or []
            if row.get("type") != 1 or not 1 <= len(children) <= 5:
                raise FormError("an action row holds 1 to 5 components")
            if any(c.get("type") == 3 for c in children) and len(children) != 1:
                raise FormError("a select menu needs a row of its own")
            for c in children:
                if c.get("type") == 2:
                    if c.get("style") == 5:
                        if not str(c.get("url", "")).startswith(("http://", "https://")) or "custom_id" in c:
                            raise FormError("a link button needs an http(s) url and no custom_id")
                        if len(str(c["url"])) > URL_MAX:
                            raise FormError(f"a link button's url is longer than {URL_MAX} characters")
                    elif not 1 <= len(c.get("custom_id") or "") <= 100:
                        raise FormError("a button needs a custom_id of 1-100 characters")
                    if len(c.get("label") or "") > 80:
                        raise FormError("button label longer than 80")
                    if not c.get("label") and not c.get("emoji"):
                        raise FormError("a button needs a label or an emoji")
                elif c.get("type") == 3:
                    options = c.get("options") or []
                    if not 1 <= len(options) <= 25 or not 1 <= len(c.get("custom_id") or "") <= 100:
                        raise FormError("a select needs 1-25 options and a custom_id")
                    for o in options:
                        if len(o.get("label", "")) > 100 or len(o.get("value", "")) > 100:
                            raise FormError("select option label/value longer than 100")
                        if len(o.get("description") or "") > 100:
                            raise FormError("select option description longer than 100")

    def _refusal(self, channel_id: int, call: Call) -> web.Response | None:
        """What Discord answers a bot message that this channel's permissions (or the user) refuse."""
        for user_id, dm in self.dm_channels.items():
            if dm == channel_id and user_id in self.dms_closed:
                return api_error(403, 50007, "Cannot send messages to this user")
        perms = self.permissions_in(channel_id)
        if not perms & VIEW_CHANNEL:
            return api_error(403, 50001, "Missing Access")
        if not perms & SEND_MESSAGES:
            return api_error(403, 50013, "Missing Permissions")
        if call.files and not perms & ATTACH_FILES:
            return api_error(403, 50013, "Missing Permissions")
        return None

    def _without_embeds_if_unallowed(self, channel_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("embeds") and not self.permissions_in(channel_id) & EMBED_LINKS:
            return {**payload, "embeds": []}  # Discord drops them without a word
        return payload

    def _history(self, channel_id: int, call: Call) -> web.Response:
        limit = min(int(call.query.get("limit", "50")), 100)
        after = int(call.query.get("after", "0"))
        before = int(call.query.get("before", str(1 << 63)))
        found = [
            m
            for m in self.messages.values()
            if m["channel_id"] == str(channel_id) and not m["flags"] & 64 and after < int(m["id"]) < before
        ]
        found.sort(key=lambda m: int(m["id"]), reverse=True)  # newest first, like Discord
        return json_response([{k: v for k, v in m.items() if k != "nonce"} for m in found[:limit]])

    def _channel_messages(self, channel_id: int, rest: list[str], call: Call) -> web.Response:
        known = channel_id == self.channel_id or channel_id in self.dm_channels.values()
        if not known:
            return api_error(404, 10003, "Unknown Channel")
        if not rest and call.method == "GET":
            return self._history(channel_id, call)
        if not rest and call.method == "POST":
            refused = self._refusal(channel_id, call)
            if refused is not None:
                return refused
            payload = call.payload or {}
            if payload.get("poll") is not None:
                if channel_id == self.channel_id and not self.permissions_in(channel_id) & SEND_POLLS:
                    return api_error(403, 50013, "Missing Permissions")
                _check_poll(payload["poll"])
            nonce = payload.get("nonce")
            key = (str(channel_id), str(nonce))
            if nonce is not None and payload.get("enforce_nonce"):
                seen = self._nonces.get(key)
                if (
                    seen is not None
                    and time.monotonic() - seen[0] < NONCE_WINDOW_S
                    and seen[1] in self.messages
                ):
                    return json_response(self.messages[seen[1]])  # the same message, not a second one
            created = self._message(
                channel_id, self._without_embeds_if_unallowed(channel_id, payload), call.files
            )
            if nonce is not None:
                created["nonce"] = nonce
                if payload.get("enforce_nonce"):
                    self._nonces[key] = (time.monotonic(), int(created["id"]))
            return json_response(created)
        if len(rest) == 1:
            message = self.messages.get(int(rest[0]))
            if message is None or message["channel_id"] != str(channel_id):
                return api_error(404, 10008, "Unknown Message")
            if message["flags"] & 64:
                return api_error(404, 10008, "Unknown Message")  # ephemeral messages are not in the channel
            if call.method == "GET":
                return json_response(message)
            if call.method == "PATCH":
                if (call.payload or {}).get("poll") is not None:
                    return api_error(400, CANNOT_EDIT_POLL, "Cannot edit a poll message")
                if call.files and not self.permissions_in(channel_id) & ATTACH_FILES:
                    return api_error(403, 50013, "Missing Permissions")
                payload = self._without_embeds_if_unallowed(channel_id, call.payload or {})
                self._apply(message, payload, call.files, new=False)
                return json_response(message)
        return api_error(405, 0, "405: Method Not Allowed")

    def _callback(self, interaction_id: int, token: str, call: Call) -> web.Response:
        inter = self.interactions.get(interaction_id)
        if inter is None or inter.token != token:
            return api_error(404, 10062, "Unknown interaction")
        if not inter.responded and time.monotonic() - inter.created > RESPONSE_WINDOW_S:
            inter.late.append("10062")  # the user saw "This interaction failed"
            return api_error(404, 10062, "Unknown interaction")
        if inter.responded:
            return api_error(400, 40060, "Interaction has already been acknowledged.")
        payload = call.payload or {}
        kind, data = payload.get("type"), payload.get("data") or {}
        resource: dict[str, Any] | None = None
        if kind == 4:
            message = self._message(inter.channel_id, data, call.files, interaction=inter)
            inter.original_id = int(message["id"])
            resource = {"type": 4, "message": message}
        elif kind == 5:
            message = self._message(
                inter.channel_id, {"flags": data.get("flags", 0) | 128}, [], interaction=inter
            )
            inter.original_id = int(message["id"])
        elif kind == 6:
            inter.original_id = inter.message_id
        elif kind == 7:
            if inter.message_id is None:
                raise FormError("UPDATE_MESSAGE answers component interactions only")
            self._apply(self.messages[inter.message_id], data, call.files, new=False)
            inter.original_id = inter.message_id
            resource = {"type": 7, "message": self.messages[inter.message_id]}
        else:
            raise FormError(f"interaction response type {kind} is not supported by the stand-in")
        inter.responded = True
        body: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_id": str(inter.original_id) if inter.original_id else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(data.get("flags", 0) & 64),
            }
        }
        if resource is not None and call.query.get("with_response") in ("1", "true", "True"):
            body["resource"] = resource
            return json_response(body)
        if call.query.get("with_response") in ("1", "true", "True"):
            return json_response(body)
        return web.Response(status=204)

    def _webhook(self, application_id: int, token: str, rest: list[str], call: Call) -> web.Response:
        inter = next((i for i in self.interactions.values() if i.token == token), None)
        if application_id != self.application_id or inter is None:
            return api_error(404, 10015, "Unknown Webhook")
        if time.monotonic() - inter.created > TOKEN_TTL_S:
            inter.late.append("50027")
            return api_error(401, 50027, "Invalid Webhook Token")
        if not inter.responded:
            return api_error(404, 10015, "Unknown Webhook")  # follow-ups only after the first answer
        if not rest and call.method == "POST":
            created = self._message(
                inter.channel_id, call.payload or {}, call.files, webhook_id=application_id, interaction=inter
            )
            if call.query.get("wait") in ("1", "true", "True"):
                return json_response(created)
            return web.Response(status=204)
        if len(rest) == 2 and rest[0] == "messages":
            message_id = (inter.original_id or 0) if rest[1] == "@original" else int(rest[1])
            message = self.messages.get(message_id)
            if message is None:
                return api_error(404, 10008, "Unknown Message")
            if call.method == "GET":
                return json_response(message)
            if call.method == "PATCH":
                if message["flags"] & 128:
                    message["flags"] &= ~128  # the deferred "thinking" answer becomes the real one
                self._apply(message, call.payload, call.files, new=False)
                return json_response(message)
            if call.method == "DELETE":
                del self.messages[message_id]
                return web.Response(status=204)
        return api_error(405, 0, "405: Method Not Allowed")

    async def _attachment(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['attachment']}/{request.match_info['filename']}"
        if key not in self.attachments:
            raise web.HTTPNotFound()
        return web.Response(body=self.attachments[key], content_type="image/png")


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not COMMAND_NAME.match(name):
        raise FormError(f"{what} {name!r} must be 1-32 word characters (APPLICATION_COMMAND_INVALID_NAME)")
    if name != name.lower():
        raise FormError(f"{what} {name!r} must be lower case")


def _check_localizations(value: object, what: str, name_rules: bool) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise FormError(f"{what} must be an object")
    for locale, text in value.items():
        if locale not in DISCORD_LOCALES:
            raise FormError(f"{what} has the locale {locale!r}, which Discord does not know (use e.g. 'ko')")
        if name_rules:
            _check_name(text, f"{what}[{locale}]")
        elif not isinstance(text, str) or not 1 <= len(text) <= 100:
            raise FormError(f"{what}[{locale}] must be 1-100 characters")


def _check_command(command: dict[str, Any]) -> None:
    """Discord's rules for a CHAT_INPUT command, its options, choices and their localisations."""
    _check_name(command.get("name"), "command name")
    if not 1 <= len(command.get("description") or "") <= 100:
        raise FormError("a command description must be 1-100 characters")
    _check_localizations(command.get("name_localizations"), "name_localizations", True)
    _check_localizations(command.get("description_localizations"), "description_localizations", False)
    options = command.get("options") or []
    if len(options) > 25:
        raise FormError("at most 25 options")
    option_names = [o.get("name") for o in options]
    if len(set(option_names)) != len(option_names):
        raise FormError("option names must be unique")
    for option in options:
        _check_name(option.get("name"), "option name")
        if not 1 <= len(option.get("description") or "") <= 100:
            raise FormError("an option description must be 1-100 characters")
        _check_localizations(option.get("name_localizations"), "option name_localizations", True)
        _check_localizations(
            option.get("description_localizations"), "option description_localizations", False
        )
        choices = option.get("choices") or []
        if len(choices) > 25:
            raise FormError("at most 25 choices per option")
        for choice in choices:
            if not 1 <= len(choice.get("name") or "") <= 100 or len(str(choice.get("value", ""))) > 100:
                raise FormError("a choice needs a name of 1-100 characters and a value of at most 100")
            _check_localizations(choice.get("name_localizations"), "choice name_localizations", False)
