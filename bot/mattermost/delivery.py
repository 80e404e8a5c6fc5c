"""How results and notes reach Mattermost: the courier the outbox calls, its targets, idempotent posts.

Targets, tried in order until one accepts (each refusal is recorded by the outbox):
- `private` (the default): `dm` (a direct message from the bot, with the card, the carousel and a
  **Share with the channel** button), then `ephemeral` (a post only the user sees, in the channel of
  the command; it needs create_post_ephemeral and is gone on reload, so it comes second);
- `dm`: `dm` only; `channel`: `channel` (the public version), then `dm`, then `ephemeral`;
- failure and expiry notes: `ephemeral`, then `dm`; a shared result: `channel` only.

Each post is made once: it carries a deterministic `pending_post_id` (Mattermost returns the post it
already made for a pending id it saw in the last 30 seconds) and a `moodreel_item` marker in its
props, and when an attempt at the same target was made before, the courier first looks through the
channel's recent posts for the marker. The mood card is uploaded once per channel and result: its
file id is remembered with the outbox item and reused by every retry. A 429 is retried after
`X-Ratelimit-Reset`; a 403 (the bot is not a member, or lacks a permission) moves to the next target.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from typing import TYPE_CHECKING

from bot.mattermost.client import MattermostClient, MattermostUnavailable
from bot.mattermost.group import deliver_group
from bot.mattermost.messages import failure_text, result_post
from bot.mattermost.signing import ShareContext
from core.delivery.outbox import OutboxItem
from core.delivery.outcomes import Delivered, Outcome, RefusedForGood, RetryLater, TryNext
from core.present.locale import locale_of
from core.present.words import say
from core.values.results import MoodResult

if TYPE_CHECKING:
    from bot.mattermost.adapter import MattermostAdapter

log = logging.getLogger(__name__)

TARGETS = {
    "private": ("dm", "ephemeral"),
    "dm": ("dm",),
    "channel": ("channel", "dm", "ephemeral"),
}
NOTE_TARGETS = ("ephemeral", "dm")
SHARE_TARGETS = ("channel",)
GROUP_TARGETS = ("channel",)  # a movie night's posts are the channel's (bot.mattermost.group)
LOOKBACK_MS = 120_000  # how far before the item a look-up searches
COMMAND = "/moodreel"
MESSAGE_MAX = 16383


def targets_for(item: OutboxItem, default_mode: str) -> tuple[str, ...]:
    if item.kind == "share":
        return SHARE_TARGETS
    if item.kind.startswith("group_"):
        return GROUP_TARGETS
    if item.kind in ("failure", "expired"):
        return NOTE_TARGETS
    mode = str((item.origin.get("extra") or {}).get("deliver") or default_mode)
    return TARGETS.get(mode, TARGETS["private"])


def in_direct_channel(origin: dict[str, object]) -> bool:
    """The command came from a direct message (Mattermost names those `{id}__{id}`)."""
    extra = origin.get("extra")
    name = str(extra.get("channel_name") or "") if isinstance(extra, dict) else ""
    return "__" in name


def marker_of(item: OutboxItem, target: str) -> str:
    return f"{item.id}:{target}"


def pending_post_id(bot_user_id: str, marker: str) -> str:
    """`{user id}:{number}` like Mattermost's own clients, the same for every retry of this post."""
    number = int.from_bytes(hashlib.sha256(marker.encode()).digest()[:6], "big")
    return f"{bot_user_id}:{number}"


class MattermostCourier:
    """The Mattermost adapter's `deliver(item) -> Outcome` for the outbox."""

    def __init__(self, adapter: MattermostAdapter) -> None:
        self.adapter = adapter

    @property
    def client(self) -> MattermostClient:
        return self.adapter.client

    async def deliver(self, item: OutboxItem) -> Outcome:
        targets = targets_for(item, self.adapter.mm.deliver)
        if item.target_index >= len(targets):
            return RefusedForGood("no target left")
        target = targets[item.target_index]
        last = item.target_index == len(targets) - 1
        try:
            return Delivered(await self._deliver_to(target, item), target)
        except MattermostUnavailable as exc:
            if exc.status == 429:
                return RetryLater(f"{target}: rate limited", after=exc.retry_after)
            if exc.status is None or exc.status >= 500 or exc.status == 401:
                return RetryLater(f"{target}: {exc}")  # down, slow, or the bot's token is being fixed
            reason = f"{target}: Mattermost answered {exc.status} ({exc})"
        log.info("Mattermost refused %s: %s", item.id, reason)
        return RefusedForGood(reason) if last else TryNext(reason)

    async def _deliver_to(self, target: str, item: OutboxItem) -> str:
        if item.kind.startswith("group_"):
            return await deliver_group(self, item)
        origin = item.origin
        user_id = str(origin["user_id"])
        if target == "ephemeral":
            return await self._ephemeral(item, user_id, str(origin.get("channel_id") or ""))
        if target == "dm":
            channel_id = await self.client.direct_channel(user_id)
        else:
            channel_id = str(item.payload.get("channel_id") or origin.get("channel_id") or "")
            await self.client.login()  # the bot's user id names our pending_post_ids
        return await self._post(item, target, channel_id)

    # --- posts ----------------------------------------------------------------------------------

    def _result(self, item: OutboxItem) -> MoodResult:
        result = item.result
        if result is None:
            raise MattermostUnavailable("the item holds no result", 400)
        return dataclasses.replace(result, origin={**item.origin, **result.origin})

    def _note(self, item: OutboxItem, locale: str) -> str:
        if item.kind == "expired":
            return say(locale, "mattermost.expired", command=COMMAND)
        return failure_text(str(item.payload.get("reason", "")), COMMAND, locale)

    async def _post(self, item: OutboxItem, target: str, channel_id: str) -> str:
        locale = locale_of(item.origin.get("locale"))
        marker = marker_of(item, target)
        if item.retrying:  # the platform may hold the post already (a timeout, or a crash after posting)
            since = int(item.created_at.timestamp() * 1000) - LOOKBACK_MS
            for post in await self.client.posts_since(channel_id, since):
                if (post.get("props") or {}).get("moodreel_item") == marker:
                    log.info("%s was already posted (%s); not posting again", item.id, post.get("id"))
                    return str(post["id"])
        if item.kind in ("failure", "expired"):
            body = {
                "channel_id": channel_id,
                "message": self._note(item, locale),
                "props": {"moodreel_item": marker},
            }
        else:
            result = self._result(item)
            file_id = await self._card(item, channel_id, result, locale)
            private = target != "channel"
            share = None
            if private and item.kind == "result" and not in_direct_channel(dict(item.origin)):
                share = ShareContext(item.session_id, str(item.origin["user_id"]), locale)
            intro = ""
            if item.kind == "share":
                name = str(item.origin.get("user_name") or "")
                intro = say(locale, "mattermost.shared_by", name=name) if name else ""
            elif share is not None:
                intro = say(locale, "mattermost.private_intro")
            body = result_post(
                result,
                channel_id,
                locale,
                (file_id,),
                self.adapter.signer,
                self.adapter.actions_url,
                poster_for=self.adapter.poster_for,
                intro=intro,
                share=share,
                marker=marker,
            )
        body["message"] = str(body["message"])[:MESSAGE_MAX]
        body["pending_post_id"] = pending_post_id(self.client.bot_user_id, marker)
        created = await self.client.create_post(body)
        return str(created["id"])

    async def _card(self, item: OutboxItem, channel_id: str, result: MoodResult, locale: str) -> str:
        """The mood card's file id in this channel: uploaded once, remembered for every retry."""
        key = f"card_{channel_id}"
        known = item.scratch.get(key)
        if isinstance(known, str) and known:
            return known
        from core.present.mood_card import render_mood_card

        png = await asyncio.to_thread(render_mood_card, result, locale)
        file_id = await self.client.upload_png(channel_id, f"moodreel-{locale}.png", png)
        await item.remember(key, file_id)
        return file_id

    async def _ephemeral(self, item: OutboxItem, user_id: str, channel_id: str) -> str:
        """A post only the user sees. Mattermost does not store these, so there is nothing to look up
        or to de-duplicate: the one place where a crash right after posting could show it twice."""
        if not channel_id:
            raise MattermostUnavailable("the command came from no channel", 400)
        locale = locale_of(item.origin.get("locale"))
        if item.kind in ("failure", "expired"):
            post = {"channel_id": channel_id, "message": self._note(item, locale)}
        else:
            result = self._result(item)
            share = None
            if item.kind == "result" and not in_direct_channel(dict(item.origin)):
                share = ShareContext(item.session_id, user_id, locale)
            post = result_post(
                result,
                channel_id,
                locale,
                (),  # an ephemeral post cannot carry files
                self.adapter.signer,
                self.adapter.actions_url,
                poster_for=self.adapter.poster_for,
                intro=say(locale, "mattermost.private_fallback"),
                share=share,
            )
        post["message"] = str(post["message"])[:MESSAGE_MAX]
        created = await self.client.ephemeral_post(user_id, post)
        return str(created.get("id") or "ephemeral")
