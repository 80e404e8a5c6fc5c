"""A stand-in Mattermost server on 127.0.0.1 for tests: the slice of REST API v4 MoodReel uses.

It speaks Mattermost's wire format closely enough for the real mattermostdriver client:
- bearer-token auth on every route (401 with Mattermost's error body otherwise);
- GET /api/v4/users/me and /api/v4/users/{id} (with `locale`);
- POST /api/v4/files (multipart `files` + `channel_id`) -> {"file_infos": [...], "client_ids": []};
  GET /api/v4/files/{id} (the bytes) and /api/v4/files/{id}/info;
- POST /api/v4/channels/direct (the bot's direct channel with a user);
- POST /api/v4/posts, POST /api/v4/posts/ephemeral (403 unless `ephemeral_allowed`, as for a bot
  without the system-admin-only create_post_ephemeral permission), GET/PUT /api/v4/posts/{id},
  PUT .../patch;
- GET /api/v4/channels/{id}/posts?since=ms ({"order", "posts"}), for look-ups before a retry;
- POST /api/v4/posts/{id}/actions/{action_id}: like the real server, it sends the button's
  integration request (JSON, with the stored context) to the button's URL and applies the
  `update` it answers as an unsafe update (message, file_ids and props replaced). As in Mattermost,
  the integration's `ephemeral_text` is shown only when it answered HTTP 200; any other status
  shows the generic "Action failed" (recorded in `action_failures`), as does an `update` that fails
  the post's validation (its buttons, sizes or files).
Interactive buttons must carry an alphanumeric `id`, a `name` and an `integration.url` (400 otherwise),
and only a post's author may edit it (PUT /posts/{id} and /patch answer 403 to anyone else).
What the real server refuses is refused: posts and uploads in a channel the bot is not a member of
(403; `add_channel(..., member=False)` and `direct_channel(a, b)` make such channels), messages over
16,383 characters and props over 800,000 characters (400), and `rate_limit_next` answers one request
with 429 and `X-Ratelimit-Limit/Remaining/Reset` (seconds until the window resets). A post with a
`pending_post_id` seen in the last 30 seconds returns the post already made (Mattermost's de-dup);
`post_delay` stores a post and then answers only after that many seconds (a client timeout).
JSON replies carry exactly `Content-Type: application/json`: mattermostdriver's GET only decodes
JSON when the header is exactly that. State survives stop()/start(), so a test can take the server
down and bring it back on the same port.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


def new_id() -> str:
    """A 26-character id like Mattermost's."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").lower().rstrip("=")[:26]


def _now() -> int:
    return int(time.time() * 1000)


MESSAGE_MAX_RUNES = 16383  # model.PostMessageMaxRunesV2
PROPS_MAX_RUNES = 800000  # model.PostPropsMaxRunes
PENDING_POST_ID_TTL_S = 30.0  # the server's seen-pending-post-ids cache


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode("utf-8"), status=status, headers={"Content-Type": "application/json"}
    )


def app_error(status: int, error_id: str, message: str) -> web.Response:
    return json_response(
        {
            "id": error_id,
            "message": message,
            "detailed_error": "",
            "request_id": new_id(),
            "status_code": status,
        },
        status,
    )


@dataclass
class User:
    id: str
    username: str
    token: str
    locale: str = "en"
    is_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "locale": self.locale,
            "is_bot": self.is_bot,
            "create_at": 0,
            "update_at": 0,
            "delete_at": 0,
            "roles": "system_user",
        }


USER = web.RequestKey("user", User)


@dataclass
class ActionCall:
    """One button click the stand-in passed on to an integration, and what came back."""

    post_id: str
    action_id: str
    request: dict[str, Any]
    status: int
    response: dict[str, Any] | None


@dataclass
class Channel:
    id: str
    name: str
    team_id: str
    team_domain: str
    type: str = "O"  # O open, D direct

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "team_id": self.team_id,
            "type": self.type,
            "display_name": "",
        }


@dataclass
class MattermostStandIn:
    bot: User
    users: dict[str, User] = field(default_factory=dict)  # by id, the bot included
    channels: dict[str, Channel] = field(default_factory=dict)  # channels the bot is a member of
    other_channels: dict[str, Channel] = field(default_factory=dict)  # channels it is not in
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> info (+ "data": bytes)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)  # posts only one user sees
    # Mattermost gives create_post_ephemeral only to system admins by default, so bots get 403.
    ephemeral_allowed: bool = False
    actions: list[ActionCall] = field(default_factory=list)
    action_failures: list[dict[str, Any]] = field(default_factory=list)  # "Action failed" shown to users
    log: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request
    post_delay: float = 0.0  # seconds to wait, after storing a post, before answering
    no_direct: set[str] = field(default_factory=set)  # users the bot may not DM (RestrictDirectMessage)
    pending_post_ids: dict[str, tuple[float, str]] = field(default_factory=dict)  # id -> (when, post id)
    _faults: list[tuple[Callable[[str, str], bool], int, str, dict[str, str]]] = field(default_factory=list)
    _refusals: list[tuple[Callable[[str, str], bool], int, str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _http: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self.bot.is_bot = True
        self.users.setdefault(self.bot.id, self.bot)

    # --- life cycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    def add_user(self, username: str, locale: str = "en") -> User:
        user = User(new_id(), username, new_id(), locale)
        self.users[user.id] = user
        return user

    def add_channel(self, name: str, team_domain: str = "moodteam", member: bool = True) -> Channel:
        """A channel; `member=False`: one the bot was never added to (posts there get 403)."""
        channel = Channel(new_id(), name, new_id(), team_domain)
        (self.channels if member else self.other_channels)[channel.id] = channel
        return channel

    def direct_channel(self, a: User, b: User) -> Channel:
        """The direct-message channel of two people (the bot is not a member)."""
        channel = Channel(new_id(), "__".join(sorted((a.id, b.id))), "", "", "D")
        self.other_channels[channel.id] = channel
        return channel

    def refuse(self, predicate: Callable[[str, str], bool], status: int = 503) -> Callable[[], None]:
        """Answer every request for which predicate(method, path) holds with `status` (Mattermost down,
        for one route), until the returned function is called."""
        fault: tuple[Callable[[str, str], bool], int, str, dict[str, str]] = (
            predicate,
            status,
            "unavailable\n",
            {},
        )
        self._refusals.append(fault)
        return lambda: self._refusals.remove(fault)

    def rate_limit_next(self, predicate: Callable[[str, str], bool], reset_seconds: int) -> None:
        """Answer the next request for which predicate(method, path) holds with Mattermost's 429."""
        headers = {
            "X-Ratelimit-Limit": "10",
            "X-Ratelimit-Remaining": "0",
            "X-Ratelimit-Reset": str(reset_seconds),
        }
        self._faults.append((predicate, 429, "limit exceeded\n", headers))

    async def start(self, port: int | None = None) -> None:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_get("/api/v4/users/{user_id}", self._get_user)
        r.add_post("/api/v4/channels/direct", self._direct_channel)
        r.add_get("/api/v4/channels/{channel_id}/posts", self._channel_posts)
        r.add_post("/api/v4/files", self._upload)
        r.add_get("/api/v4/files/{file_id}", self._get_file)
        r.add_get("/api/v4/files/{file_id}/info", self._get_file_info)
        r.add_post("/api/v4/posts", self._create_post)
        r.add_post("/api/v4/posts/ephemeral", self._create_ephemeral)
        r.add_get("/api/v4/posts/{post_id}", self._get_post)
        r.add_put("/api/v4/posts/{post_id}", self._update_post)
        r.add_put("/api/v4/posts/{post_id}/patch", self._patch_post)
        r.add_post("/api/v4/posts/{post_id}/actions/{action_id}", self._do_action)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port if port is None else port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- helpers --------------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.log.append((request.method, request.path))
        for i, (predicate, status, text, headers) in enumerate(self._faults):
            if predicate(request.method, request.path):
                del self._faults[i]
                return web.Response(text=text, status=status, headers=headers)
        for predicate, status, text, headers in self._refusals:
            if predicate(request.method, request.path):
                return web.Response(text=text, status=status, headers=headers)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        user = next(
            (u for u in self.users.values() if token and secrets.compare_digest(u.token, token)), None
        )
        if user is None:
            return app_error(
                401,
                "api.context.session_expired.app_error",
                "Invalid or expired session, please login again.",
            )
        request[USER] = user
        return await handler(request)

    def _file_infos(self, ids: list[str]) -> list[dict[str, Any]]:
        return [{k: v for k, v in self.files[i].items() if k != "data"} for i in ids if i in self.files]

    def _post_json(self, post: dict[str, Any]) -> dict[str, Any]:
        return {**post, "metadata": {"files": self._file_infos(post.get("file_ids", []))}}

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    # --- users ----------------------------------------------------------------------------------

    async def _get_user(self, request: web.Request) -> web.Response:
        uid = request.match_info["user_id"]
        user = request[USER] if uid == "me" else self.users.get(uid)
        if user is None:
            return app_error(404, "app.user.missing_account.const", "Unable to find the user.")
        return json_response(user.to_json())

    async def _direct_channel(self, request: web.Request) -> web.Response:
        try:
            ids = await request.json()
        except ValueError:
            ids = None
        if not isinstance(ids, list) or len(ids) != 2 or not all(i in self.users for i in ids):
            return app_error(400, "api.context.invalid_body_param.app_error", "Invalid or missing user_ids.")
        if request[USER].id not in ids or self.no_direct & set(ids):
            return app_error(
                403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
            )
        name = "__".join(sorted(ids))
        channel = next((c for c in self.channels.values() if c.name == name), None)
        if channel is None:
            channel = Channel(new_id(), name, "", "", "D")
            self.channels[channel.id] = channel
            return json_response(channel.to_json(), 201)
        return json_response(channel.to_json())

    def direct_posts(self, user: User) -> list[dict[str, Any]]:
        """Posts in the bot's direct channel with `user`."""
        name = "__".join(sorted((self.bot.id, user.id)))
        return [p for p in self.posts.values() if self.channels[p["channel_id"]].name == name]

    # --- files ----------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        channel_id = request.query.get("channel_id", "")
        uploads: list[tuple[str, str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            if part.name == "channel_id":
                channel_id = (await part.read()).decode()
            elif part.name == "files":
                uploads.append(
                    (part.filename or "file", part.headers.get("Content-Type", ""), await part.read())
                )
        if not channel_id or len(channel_id) != 26:
            return app_error(
                400, "api.context.invalid_body_param.app_error", "Invalid or missing channel_id."
            )
        if channel_id not in self.channels:
            return app_error(
                403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
            )
        if not uploads:
            return app_error(400, "api.file.upload_file.incorrect_number_of_files.app_error", "No files.")
        infos = []
        for name, mime, data in uploads:
            file_id = new_id()
            info = {
                "id": file_id,
                "user_id": request[USER].id,
                "channel_id": channel_id,
                "post_id": "",
                "create_at": _now(),
                "update_at": _now(),
                "delete_at": 0,
                "name": name,
                "extension": name.rsplit(".", 1)[-1] if "." in name else "",
                "size": len(data),
                "mime_type": mime,
                "has_preview_image": mime.startswith("image/"),
            }
            self.files[file_id] = {**info, "data": data}
            infos.append(info)
        return json_response({"file_infos": infos, "client_ids": []}, 201)

    async def _get_file(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["file_id"])
        if f is None:
            return app_error(404, "app.file_info.get.app_error", "Unable to get the file info.")
        return web.Response(
            body=f["data"], headers={"Content-Type": f["mime_type"] or "application/octet-stream"}
        )

    async def _get_file_info(self, request: web.Request) -> web.Response:
        infos = self._file_infos([request.match_info["file_id"]])
        if not infos:
            return app_error(404, "app.file_info.get.app_error", "Unable to get the file info.")
        return json_response(infos[0])

    # --- posts ----------------------------------------------------------------------------------

    def _check_files(self, file_ids: Any, channel_id: str, post_id: str) -> str | None:
        if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
            return "file_ids must be a list of strings"
        for fid in file_ids:
            f = self.files.get(fid)
            if f is None or f["channel_id"] != channel_id:
                return f"unknown file id {fid} for this channel"
            if f["post_id"] not in ("", post_id):
                return f"file {fid} is attached to another post"
        return None

    async def _create_post(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if body is None:
            return app_error(
                400, "api.context.invalid_body_param.app_error", "Invalid or missing post in request body."
            )
        channel_id = body.get("channel_id", "")
        if channel_id not in self.channels:
            return app_error(
                403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
            )
        pending = str(body.get("pending_post_id") or "")
        seen = self.pending_post_ids.get(pending) if pending else None
        if seen is not None and time.monotonic() - seen[0] < PENDING_POST_ID_TTL_S and seen[1] in self.posts:
            return json_response(self._post_json(self.posts[seen[1]]), 201)  # the post already made
        post_id = new_id()
        problem = self._check_files(body.get("file_ids", []), channel_id, post_id)
        if problem:
            return app_error(400, "api.post.create_post.file_ids.app_error", problem)
        props = body.get("props") or {}
        if not isinstance(props, dict) or not isinstance(props.get("attachments", []), list):
            return app_error(400, "model.post.is_valid.props.app_error", "Invalid props.")
        too_long = _too_long(body) or _bad_actions(props)
        if too_long is not None:
            return too_long
        now = _now()
        post = {
            "id": post_id,
            "create_at": now,
            "update_at": now,
            "edit_at": 0,
            "delete_at": 0,
            "is_pinned": False,
            "user_id": request[USER].id,
            "channel_id": channel_id,
            "root_id": body.get("root_id", ""),
            "original_id": "",
            "message": str(body.get("message", "")),
            "type": "",
            "props": props,
            "hashtags": "",
            "pending_post_id": pending,
            "reply_count": 0,
            "file_ids": list(body.get("file_ids", [])),
        }
        for fid in post["file_ids"]:
            self.files[fid]["post_id"] = post_id
        self.posts[post_id] = post
        if pending:
            self.pending_post_ids[pending] = (time.monotonic(), post_id)
        if self.post_delay:
            await asyncio.sleep(self.post_delay)  # stored; the answer comes too late for the client
        return json_response(self._post_json(post), 201)

    async def _channel_posts(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel_id"]
        if channel_id not in self.channels:
            return app_error(
                403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
            )
        since = int(request.query.get("since", "0") or 0)
        found = [p for p in self.posts.values() if p["channel_id"] == channel_id and p["update_at"] >= since]
        found.sort(key=lambda p: p["create_at"], reverse=True)
        return json_response(
            {"order": [p["id"] for p in found], "posts": {p["id"]: self._post_json(p) for p in found}}
        )

    async def _create_ephemeral(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        inner = body.get("post") if body else None
        if not body or not body.get("user_id") or not isinstance(inner, dict) or not inner.get("channel_id"):
            return app_error(400, "api.context.invalid_body_param.app_error", "Invalid ephemeral post.")
        if not self.ephemeral_allowed:
            return app_error(
                403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
            )
        too_long = _too_long(inner)
        if too_long is not None:
            return too_long
        post = {"id": new_id(), "create_at": _now(), "user_id": request[USER].id, **inner}
        self.ephemeral.append({"user_id": body["user_id"], "post": post})
        return json_response(post, 201)

    async def _get_post(self, request: web.Request) -> web.Response:
        post = self.posts.get(request.match_info["post_id"])
        if post is None:
            return app_error(404, "app.post.get.app_error", "Unable to get the post.")
        return json_response(self._post_json(post))

    def _apply_update(self, post: dict[str, Any], update: dict[str, Any], safe: bool) -> str | None:
        """Mattermost's UpdatePost: an unsafe update also replaces file_ids and props."""
        if safe:
            post["message"] = str(update.get("message", post["message"]))
            if "props" in update:
                post["props"] = update["props"]
        else:
            file_ids = update.get("file_ids") or []
            problem = self._check_files(file_ids, post["channel_id"], post["id"])
            if problem:
                return problem
            for fid in post["file_ids"]:
                if fid not in file_ids:
                    self.files[fid]["post_id"] = ""  # detached, as the real server leaves it orphaned
            for fid in file_ids:
                self.files[fid]["post_id"] = post["id"]
            post["message"] = str(update.get("message", ""))
            post["file_ids"] = list(file_ids)
            post["props"] = update.get("props") if update.get("props") is not None else post["props"]
        post["edit_at"] = post["update_at"] = _now()
        return None

    async def _update_post(self, request: web.Request) -> web.Response:
        post = self.posts.get(request.match_info["post_id"])
        body = await self._body(request)
        if post is None:
            return app_error(404, "app.post.get.app_error", "Unable to get the post.")
        if body is None or body.get("id") != post["id"]:
            return app_error(400, "api.context.invalid_body_param.app_error", "Invalid or missing post id.")
        refused = _not_author(request, post) or _bad_actions(body.get("props") or {})
        if refused is not None:
            return refused
        self._apply_update(post, body, safe=True)
        return json_response(self._post_json(post))

    async def _patch_post(self, request: web.Request) -> web.Response:
        post = self.posts.get(request.match_info["post_id"])
        body = await self._body(request)
        if post is None:
            return app_error(404, "app.post.get.app_error", "Unable to get the post.")
        if body is None:
            return app_error(400, "api.context.invalid_body_param.app_error", "Invalid patch.")
        refused = _not_author(request, post) or _bad_actions(body.get("props") or {})
        if refused is not None:
            return refused
        self._apply_update(post, body, safe=True)
        return json_response(self._post_json(post))

    async def _do_action(self, request: web.Request) -> web.Response:
        post = self.posts.get(request.match_info["post_id"])
        action_id = request.match_info["action_id"]
        if post is None:
            return app_error(404, "app.post.get.app_error", "Unable to get the post.")
        action = next(
            (
                a
                for att in post["props"].get("attachments", [])
                for a in att.get("actions", [])
                if a.get("id") == action_id
            ),
            None,
        )
        if action is None or not action.get("integration", {}).get("url"):
            return app_error(404, "api.post.do_action.action_id.app_error", "Invalid action id.")
        user: User = request[USER]
        channel = self.channels[post["channel_id"]]
        upstream = {
            "user_id": user.id,
            "user_name": user.username,
            "channel_id": channel.id,
            "channel_name": channel.name,
            "team_id": channel.team_id,
            "team_domain": channel.team_domain,
            "post_id": post["id"],
            "trigger_id": new_id(),
            "type": action.get("type", "button"),
            "data_source": "",
            "context": action["integration"].get("context") or {},
        }
        assert self._http is not None
        async with self._http.post(action["integration"]["url"], json=upstream) as resp:
            status = resp.status
            text = await resp.text()
        response = None
        if text:
            try:
                response = json.loads(text)
            except ValueError:
                response = None
        self.actions.append(ActionCall(post["id"], action_id, upstream, status, response))
        if status != 200 or not isinstance(response, dict):
            # Mattermost ignores the body of a non-200 answer: the user sees only "Action failed".
            self.action_failures.append({"user_id": user.id, "post_id": post["id"], "status": status})
            return app_error(400, "api.post.do_action.action_integration.app_error", f"status={status}")
        update = response.get("update")
        if isinstance(update, dict):
            # The update is an UpdatePost: validated (buttons, sizes) like any post, or the click fails.
            bad = _bad_actions(update.get("props") or {}) or _too_long(update)
            problem = "invalid update" if bad is not None else self._apply_update(post, update, safe=False)
            if problem:
                self.action_failures.append({"user_id": user.id, "post_id": post["id"], "status": 400})
                return app_error(400, "api.post.do_action.action_integration.app_error", problem)
        if response.get("ephemeral_text"):
            self.ephemeral.append(
                {
                    "user_id": user.id,
                    "post": {"channel_id": channel.id, "message": response["ephemeral_text"]},
                }
            )
        return json_response({"status": "OK", "trigger_id": upstream["trigger_id"]})


def _too_long(post: dict[str, Any]) -> web.Response | None:
    """Mattermost's post validation: message and props sizes."""
    if len(str(post.get("message", ""))) > MESSAGE_MAX_RUNES:
        return app_error(400, "model.post.is_valid.msg.app_error", "Invalid message: too long.")
    if len(json.dumps(post.get("props") or {}, ensure_ascii=False)) > PROPS_MAX_RUNES:
        return app_error(400, "model.post.is_valid.props.app_error", "Invalid props: too long.")
    return None


def _not_author(request: web.Request, post: dict[str, Any]) -> web.Response | None:
    """Only a post's author may edit it (the bot has no edit_others_posts)."""
    if request[USER].id != post["user_id"]:
        return app_error(
            403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
        )
    return None


def _bad_actions(props: Any) -> web.Response | None:
    """Message attachments' buttons: an alphanumeric id, a name and an integration URL each."""
    attachments = props.get("attachments", []) if isinstance(props, dict) else None
    if not isinstance(attachments, list):
        return app_error(400, "model.post.is_valid.props.app_error", "Invalid props.")
    for att in attachments:
        for action in (att.get("actions") or []) if isinstance(att, dict) else ():
            integration = action.get("integration") if isinstance(action, dict) else None
            if (
                not isinstance(action, dict)
                or not str(action.get("id") or "").isalnum()
                or not action.get("name")
                or not isinstance(integration, dict)
                or not str(integration.get("url") or "").startswith(("http://", "https://"))
            ):
                return app_error(400, "model.post.is_valid.props.app_error", f"Invalid action {action!r}.")
    return None
