"""How results and notes reach Discord: the courier the outbox calls, its targets, idempotent posts.

Targets, tried in order until one accepts (each refusal is recorded by the outbox):
- `private` (the default): `interaction`, then `dm`;
- `dm`: `dm`, then `interaction`;
- `channel`: `channel` (the public version, with a mention), then `interaction`, then `dm`;
- failure and expiry notes: `interaction`, then `dm`; a shared result: `channel` only.

`interaction` edits the /moodreel reply (the ephemeral link message becomes the private result or
the note) while its 15-minute token lasts: an edit is idempotent, so a retry can never post twice.
`dm` and `channel` post with a `nonce` and `enforce_nonce` (Discord returns the first message for a
repeated nonce for a few minutes), and when an attempt at the same target was made before, the
courier first looks through the channel's recent messages for the one it posted (the session id is
in its buttons' custom_ids). Before choosing the channel, the interaction's `app_permissions` are
checked: without Send Messages the channel is skipped; without Embed Links the result is sent as
text (Discord would drop the embeds silently); without Attach Files, without the card.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.discord.carousel import SHARE_OFFER, result_view
from bot.discord.group import NotDeliverable, deliver_group
from bot.discord.limits import clip
from bot.discord.render import MOOD_CARD_FILE, ResultPage, result_page
from core.delivery.outbox import GROUP_KINDS, OutboxItem
from core.delivery.outcomes import Delivered, Outcome, RefusedForGood, RetryLater, TryNext, wait_from_headers
from core.present.locale import locale_of
from core.present.words import say
from core.values.results import MoodResult

if TYPE_CHECKING:
    from bot.discord.client import MoodReelBot

log = logging.getLogger(__name__)

TARGETS = {
    "private": ("interaction", "dm"),
    "dm": ("dm", "interaction"),
    "channel": ("channel", "interaction", "dm"),
}
NOTE_TARGETS = ("interaction", "dm")
SHARE_TARGETS = ("channel",)
LOOKBACK = dt.timedelta(minutes=2)  # how far before the item a look-up searches
CONTENT_MAX = 2000
NOT_CONNECTED_WAIT = 5.0
ORIGINAL: Any = "@original"  # the interaction's own reply, in place of a message id (typed int)


def targets_for(item: OutboxItem, default_mode: str) -> tuple[str, ...]:
    if item.kind == "share" or item.kind in GROUP_KINDS:  # shared and group posts are public
        return SHARE_TARGETS
    if item.kind in ("failure", "expired"):
        return NOTE_TARGETS
    mode = str((item.origin.get("extra") or {}).get("deliver") or default_mode)
    return TARGETS.get(mode, TARGETS["private"])


def nonce_for(item: OutboxItem, target: str) -> int:
    """The same number for every attempt of this item at this target (Discord nonces: < 2^63)."""
    digest = hashlib.sha256(f"{item.id}:{target}".encode()).digest()
    return int.from_bytes(digest[:7], "big")


def permissions_of(value: object) -> discord.Permissions:
    """The bot's permissions where the command was used (the interaction's app_permissions);
    unknown (an older session) means: try, and let Discord say no."""
    try:
        return discord.Permissions(int(str(value)))
    except (TypeError, ValueError):
        return discord.Permissions.all()


def embeds_as_text(embeds: list[discord.Embed]) -> str:
    """The embeds' words as Markdown, for a channel where Discord would drop embeds."""
    lines: list[str] = []
    for embed in embeds:
        if embed.author and embed.author.name:
            lines.append(f"-# {embed.author.name}")
        if embed.title:
            lines.append(f"**{embed.title}**")
        if embed.description:
            lines.append(embed.description)
        lines.extend(f"**{f.name}**: {f.value}" for f in embed.fields)
        if embed.footer and embed.footer.text:
            lines.extend(f"-# {line}" for line in embed.footer.text.splitlines() if line)
        lines.append("")
    return "\n".join(lines).strip()


@dataclass
class Draft:
    """One message, ready to send or to edit in (files are re-opened for every try)."""

    content: str
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    view: discord.ui.View | None = None
    ping: int | None = None  # the user mentioned (and allowed to be pinged)
    result: MoodResult | None = None
    lang: str = "en"

    def _files(self) -> list[discord.File]:
        return [discord.File(io.BytesIO(data), filename=name) for name, data in self.files]

    def _mentions(self) -> discord.AllowedMentions:
        if self.ping is None:
            return discord.AllowedMentions.none()
        return discord.AllowedMentions(users=[discord.Object(self.ping)])

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "content": self.content,
            "embeds": self.embeds,
            "files": self._files(),
            "allowed_mentions": self._mentions(),
        }
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "embeds": self.embeds,
            "attachments": self._files(),
            "view": self.view,
            "allowed_mentions": self._mentions(),
        }


class Refusal(Exception):
    """This target cannot take the item (no token, no permission...): the next one may."""


class DiscordCourier:
    """The Discord adapter's `deliver(item) -> Outcome` for the outbox."""

    def __init__(self, bot: MoodReelBot) -> None:
        self.bot = bot

    async def deliver(self, item: OutboxItem) -> Outcome:
        bot = self.bot
        if bot.is_closed() or not bot.is_ready() or bot.user is None:
            return RetryLater("the Discord bot is not connected", after=NOT_CONNECTED_WAIT)
        targets = targets_for(item, bot.settings.discord.deliver)
        if item.target_index >= len(targets):
            return RefusedForGood("no target left")
        target = targets[item.target_index]
        last = item.target_index == len(targets) - 1
        try:
            return await self._deliver_to(target, item)
        except Refusal as exc:
            reason = f"{target}: {exc}"
        except discord.RateLimited as exc:  # longer than discord.py's own wait: the outbox waits
            return RetryLater(f"{target}: rate limited", after=exc.retry_after)
        except discord.HTTPException as exc:
            if exc.status == 429:
                return RetryLater(f"{target}: rate limited", after=wait_from_headers(exc.response.headers))
            if exc.status >= 500:
                return RetryLater(f"{target}: Discord answered {exc.status}")
            reason = f"{target}: {exc.status} {exc.code} {exc.text}".strip()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return RetryLater(f"{target}: {type(exc).__name__}: {exc}")
        log.info("Discord refused %s at %s: %s", item.id, target, reason)
        return RefusedForGood(reason) if last else TryNext(reason)

    # --- targets ----------------------------------------------------------------------------------

    async def _deliver_to(self, target: str, item: OutboxItem) -> Delivered:
        if item.kind in GROUP_KINDS:
            try:
                return await deliver_group(self.bot, item)
            except NotDeliverable as exc:
                raise Refusal(str(exc)) from None
        if target == "interaction":
            return await self._edit_interaction(item)
        if target == "dm":
            user_id = int(item.origin["user_id"])
            user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
            channel: discord.abc.Messageable = user.dm_channel or await user.create_dm()
            draft = await self._draft(item, target, discord.Permissions.all())
            return await self._post(channel, item, target, draft)
        return await self._post_in_channel(item)

    async def _edit_interaction(self, item: OutboxItem) -> Delivered:
        pending = self.bot.pending.get(item.session_id)
        if pending is not None and not pending.can_follow_up:
            raise Refusal("the 15-minute interaction token has run out")
        kept = None if pending is not None else await self.bot.tokens.recall(item.session_id)
        if pending is None and kept is None:
            raise Refusal("no interaction token kept for this /moodreel (expired, or never stored)")
        perms = permissions_of((item.origin.get("extra") or {}).get("app_permissions"))
        draft = await self._draft(item, "interaction", perms)
        message: discord.Message
        if pending is not None:
            message = await pending.interaction.edit_original_response(**draft.edit_kwargs())
        else:
            assert kept is not None
            # Another process answered the /moodreel: its token, kept in the store, still edits the
            # reply. Discord's API takes "@original" where the message id goes.
            hook = discord.Webhook.partial(kept.application_id, kept.token, client=self.bot)
            message = await hook.edit_message(ORIGINAL, **draft.edit_kwargs())
        self.bot.forget(item.session_id)
        await self.bot.tokens.drop(item.session_id)
        self._after(draft, message, public=False)
        return Delivered(str(message.id), "interaction")

    async def _post_in_channel(self, item: OutboxItem) -> Delivered:
        extra = item.origin.get("extra") or {}
        channel_id = str(item.payload.get("channel_id") or item.origin.get("channel_id") or "")
        if not channel_id:
            raise Refusal("the command came from no channel")
        perms = permissions_of(item.payload.get("app_permissions") or extra.get("app_permissions"))
        may_send = perms.send_messages_in_threads if extra.get("thread") else perms.send_messages
        if not perms.view_channel or not may_send:
            raise Refusal("MoodReel may not send messages there (View Channel, Send Messages)")
        guild_id = extra.get("guild_id")
        found = self.bot.get_channel(int(channel_id))
        channel: discord.abc.Messageable
        if isinstance(found, discord.abc.Messageable):
            channel = found
        else:
            channel = self.bot.get_partial_messageable(
                int(channel_id), guild_id=int(guild_id) if guild_id else None
            )
        draft = await self._draft(item, "channel", perms)
        return await self._post(channel, item, "channel", draft)

    async def _post(
        self, channel: discord.abc.Messageable, item: OutboxItem, target: str, draft: Draft
    ) -> Delivered:
        """Post once: look for an earlier attempt's message first, then send with a fixed nonce."""
        if item.retrying:
            earlier = await self._already_posted(channel, item, draft)
            if earlier is not None:
                log.info("%s was already posted (message %s); not posting again", item.id, earlier.id)
                self._after(draft, earlier, public=True)
                return Delivered(str(earlier.id), target)
        message = await channel.send(nonce=nonce_for(item, target), **draft.send_kwargs())
        self._after(draft, message, public=True)
        return Delivered(str(message.id), target)

    async def _already_posted(
        self, channel: discord.abc.Messageable, item: OutboxItem, draft: Draft
    ) -> discord.Message | None:
        me = self.bot.user
        after = discord.Object(discord.utils.time_snowflake(item.created_at - LOOKBACK))
        marker = f"moodreel:{item.session_id}:"
        async for message in channel.history(limit=50, after=after):
            if me is None or message.author.id != me.id:
                continue
            ids = [
                str(getattr(child, "custom_id", "") or "")
                for row in message.components
                for child in getattr(row, "children", [])
            ]
            if any(i.startswith(marker) for i in ids):
                return message
            if draft.view is None and message.content == draft.content:
                same = [e.to_dict() for e in message.embeds] == [e.to_dict() for e in draft.embeds]
                if same or not draft.embeds:
                    return message
        return None

    def _after(self, draft: Draft, message: discord.Message, public: bool) -> None:
        if draft.result is None or not draft.result.recommendations:
            return
        self.bot.remember(draft.result)
        if public:  # an ephemeral message cannot be edited after its token expires: no timer
            self.bot.disable_later(message, draft.result, draft.lang, 0)

    # --- the message --------------------------------------------------------------------------------

    async def _draft(self, item: OutboxItem, target: str, perms: discord.Permissions) -> Draft:
        lang = locale_of(item.origin.get("locale"))
        if item.kind == "expired":
            return Draft(say(lang, "discord.expired"), lang=lang)
        if item.kind == "failure":
            return Draft(say(lang, "discord.failed", reason=str(item.payload.get("reason", ""))), lang=lang)
        result = item.result
        if result is None:
            raise Refusal("the item holds no result")
        result = dataclasses.replace(result, origin={**item.origin, **result.origin})
        user_id = int(item.origin["user_id"])
        in_guild = bool((item.origin.get("extra") or {}).get("guild_id"))
        share: str | None = None
        ping: int | None = None
        if item.kind == "share":
            content = say(lang, "discord.shared_by", mention=f"<@{user_id}>")
        elif target == "channel":
            content, ping = say(lang, "discord.result_for", mention=f"<@{user_id}>"), user_id
        elif in_guild:
            content, share = say(lang, "discord.private_result"), SHARE_OFFER
        else:
            content = say(lang, "discord.private_result_dm")
        card, page = await self._render(result, lang)
        files: list[tuple[str, bytes]] = []
        if perms.attach_files:
            files.append((MOOD_CARD_FILE, card))
            if page.poster_card is not None:
                files.append(page.poster_card)
        else:
            for embed in page.embeds:
                if embed.image and str(embed.image.url or "").startswith("attachment://"):
                    embed.set_image(url=None)
        embeds = page.embeds
        if not perms.embed_links:
            text = f"{embeds_as_text(embeds)}\n{say(lang, 'discord.text_only')}"
            content = clip(f"{content}\n\n{text}", CONTENT_MAX)
            embeds = []
        view = result_view(result, lang, 0, share=share)
        return Draft(content, embeds, files, view, ping, result, lang)

    @staticmethod
    async def _render(result: MoodResult, lang: str) -> tuple[bytes, ResultPage]:
        from core.present.mood_card import render_mood_card

        def work() -> tuple[bytes, ResultPage]:
            return render_mood_card(result, lang), result_page(result, 0, lang)

        return await asyncio.to_thread(work)  # Pillow work stays off the event loop
