"""The bot account's side of Mattermost, through mattermostdriver.

mattermostdriver is synchronous (requests), so every call runs in a worker thread and the event loop
never waits on Mattermost. Login (GET /users/me) happens on first use, so MoodReel starts even while
Mattermost is down; failures surface as MattermostUnavailable and the caller retries later.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from mattermostdriver import Driver, exceptions

from core.config import MattermostSettings
from core.delivery.outcomes import wait_from_headers

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0  # seconds per HTTP request to Mattermost


# mattermostdriver raises these without the response attached, so the status comes from the class.
_STATUS_OF: dict[type[Exception], int] = {
    exceptions.InvalidOrMissingParameters: 400,
    exceptions.NoAccessTokenProvided: 401,
    exceptions.NotEnoughPermissions: 403,
    exceptions.ResourceNotFound: 404,
    exceptions.MethodNotAllowed: 405,
    exceptions.ContentTooLarge: 413,
    exceptions.FeatureDisabled: 501,
}


class MattermostUnavailable(RuntimeError):
    """Mattermost could not be reached, or refused a request; the message says what happened.

    `status` is Mattermost's HTTP status when it answered, None when it could not be reached (or did
    not answer in time); `retry_after` the seconds a 429 asked us to wait (X-Ratelimit-Reset).
    """

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _status(exc: requests.RequestException) -> int | None:
    for cls, status in _STATUS_OF.items():
        if isinstance(exc, cls):
            return status
    response = getattr(exc, "response", None)
    return response.status_code if response is not None else None


def driver_options(settings: MattermostSettings, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
    """mattermostdriver's options from MATTERMOST_URL: a host name, or a full URL (with a subpath)."""
    url = settings.url.strip()
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"MATTERMOST_URL {url!r} must be http(s)://host[:port][/path]")
        scheme = parts.scheme
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        basepath = parts.path.rstrip("/") + "/api/v4"
    else:
        scheme, host, port, basepath = settings.scheme, url.rstrip("/"), settings.port, "/api/v4"
    return {
        "url": host,
        "scheme": scheme,
        "port": port,
        "basepath": basepath,
        "token": settings.token,
        "request_timeout": timeout,
        "verify": True,
    }


class MattermostClient:
    """Uploads, posts and user look-ups as the bot account, off the event loop."""

    def __init__(self, settings: MattermostSettings, timeout: float = REQUEST_TIMEOUT) -> None:
        self._driver = Driver(driver_options(settings, timeout))
        self._login_lock = threading.Lock()
        self.bot_user_id = ""
        self.bot_username = ""

    def _login(self) -> None:
        with self._login_lock:
            if not self.bot_user_id:
                me = self._driver.login()
                if not isinstance(me, dict) or "id" not in me:
                    raise MattermostUnavailable(f"Mattermost did not return the bot account: {me!r}")
                self.bot_user_id = me["id"]
                self.bot_username = str(me.get("username") or "")
                log.info("Mattermost: signed in as @%s", me.get("username", "?"))

    async def _call(self, what: str, fn: Any, *args: Any) -> Any:
        def run() -> Any:
            self._login()
            return fn(*args)

        try:
            return await asyncio.to_thread(run)
        except requests.RequestException as exc:  # mattermostdriver's errors subclass HTTPError
            status = _status(exc)
            response = getattr(exc, "response", None)
            wait = (
                wait_from_headers(dict(response.headers)) if status == 429 and response is not None else None
            )
            raise MattermostUnavailable(f"{what} failed: {type(exc).__name__}: {exc}", status, wait) from exc

    async def login(self) -> str:
        await self._call("signing in", lambda: None)
        return self.bot_user_id

    async def upload_png(self, channel_id: str, name: str, data: bytes) -> str:
        """Upload one PNG to a channel; returns its file id."""
        res = await self._call(
            "uploading the mood card",
            self._driver.files.upload_file,
            channel_id,
            {"files": (name, data, "image/png")},
        )
        try:
            return str(res["file_infos"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise MattermostUnavailable(f"Mattermost's upload answer has no file id: {res!r}") from None

    async def create_post(self, post: dict[str, Any]) -> dict[str, Any]:
        return await self._call("creating the post", self._driver.posts.create_post, post)

    async def patch_post(self, post_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Change fields of one of the bot's own posts (PUT /posts/{id}/patch; files stay attached)."""
        return await self._call("editing the post", self._driver.posts.patch_post, post_id, patch)

    async def ephemeral(self, user_id: str, channel_id: str, message: str) -> dict[str, Any]:
        body = {"user_id": user_id, "post": {"channel_id": channel_id, "message": message}}
        return await self._call("sending a private message", self._driver.posts.create_ephemeral_post, body)

    async def ephemeral_post(self, user_id: str, post: dict[str, Any]) -> dict[str, Any]:
        """A post only `user_id` sees (needs create_post_ephemeral; not stored by Mattermost)."""
        body = {"user_id": user_id, "post": post}
        return await self._call("sending a private post", self._driver.posts.create_ephemeral_post, body)

    async def direct_channel(self, user_id: str) -> str:
        """The id of the bot's direct channel with the user (created on first use)."""

        def open_channel() -> Any:
            return self._driver.channels.create_direct_message_channel([self.bot_user_id, user_id])

        channel = await self._call("opening a direct channel", open_channel)
        return str(channel["id"])

    async def posts_since(self, channel_id: str, since_ms: int) -> list[dict[str, Any]]:
        """Posts of a channel created or changed since `since_ms` (for a look-up before a retry)."""
        res = await self._call(
            "looking up recent posts",
            self._driver.posts.get_posts_for_channel,
            channel_id,
            {"since": since_ms},
        )
        posts = res.get("posts") if isinstance(res, dict) else None
        return [p for p in (posts or {}).values() if isinstance(p, dict)]

    async def direct_message(self, user_id: str, message: str) -> dict[str, Any]:
        """Post in the bot's direct channel with the user (created on first use)."""

        def send() -> Any:
            channel = self._driver.channels.create_direct_message_channel([self.bot_user_id, user_id])
            return self._driver.posts.create_post({"channel_id": channel["id"], "message": message})

        return await self._call("sending a direct message", send)

    async def user_locale(self, user_id: str) -> str:
        """The user's Mattermost language setting ("" when unset)."""
        user = await self._call("looking up the user", self._driver.users.get_user, user_id)
        return str(user.get("locale") or "") if isinstance(user, dict) else ""
