"""The MoodReel Discord bot: `/moodreel` hands out a private session link, and the result comes back
to the channel (or a DM) with the emotion summary, the mood card and a movie carousel.

A thin adapter: sessions, analysis and recommendations live in core; this module only speaks Discord.
discord.py reconnects by itself and keeps to Discord's rate limits; on every (re)connect the bot
also posts results that were finished while it was away (`SessionService.undelivered`).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import io
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.discord.carousel import JumpSelect, PageButton, carousel_view
from bot.discord.commands import MoodReelTranslator, build_command, link_reply
from bot.discord.render import MOOD_CARD_FILE, ResultPage, result_page
from core.config import Settings
from core.present.locale import locale_of
from core.present.words import say
from core.sessions.origin import SessionOrigin
from core.sessions.service import ACTIVE_STATES, SessionService
from core.storage.store import utcnow
from core.values.results import MoodResult

log = logging.getLogger(__name__)

PLATFORM = "discord"
# Discord wants an answer within 3 s; past this budget the bot defers and answers when it can.
REPLY_BUDGET_S = 2.0
# Interaction tokens (follow-ups, ephemeral notices) work for 15 minutes; keep a margin.
INTERACTION_TOKEN_TTL_S = 14 * 60
# Results kept in memory for page turns; older ones are read back from the store.
RESULT_CACHE = 256
# What the bot needs where results are posted (the README lists the same).
REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, send_messages_in_threads=True, embed_links=True, attach_files=True
)


class DiscordServices(Protocol):
    """The part of core.services.Services the adapter uses."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> SessionService: ...


class DiscordUnavailable(RuntimeError):
    """The bot is not running: the result stays undelivered until it is back."""


@dataclass
class PendingLink:
    """A link handed out and not finished yet, with the interaction that can still send follow-ups."""

    session_id: str
    user_id: int
    lang: str
    interaction: discord.Interaction[Any]
    issued: float  # time.monotonic()
    expires_at: dt.datetime
    watcher: asyncio.Task[None] | None = None

    @property
    def can_follow_up(self) -> bool:
        return time.monotonic() - self.issued < INTERACTION_TOKEN_TTL_S


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class MoodReelBot(discord.Client):
    def __init__(
        self, services: DiscordServices, *, reply_budget: float = REPLY_BUDGET_S, **options: Any
    ) -> None:
        # No privileged intents: slash commands and buttons arrive as interactions anyway; the
        # guilds intent keeps channels cached so results can go to threads and channels alike.
        intents = discord.Intents.none()
        intents.guilds = True
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        super().__init__(intents=intents, **options)
        self.services = services
        self.reply_budget = reply_budget
        self.settings = services.settings
        self.sessions = services.sessions
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(build_command(self.start_session))
        self.pending: dict[str, PendingLink] = {}
        self._results: collections.OrderedDict[str, MoodResult] = collections.OrderedDict()  # recent
        self._carousel_timers: dict[int, asyncio.Task[None]] = {}  # by message id
        self._delivered: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._delivery_locks: dict[str, asyncio.Lock] = {}
        self._backlog_task: asyncio.Task[int] | None = None
        self.synced: list[app_commands.AppCommand] = []

    # --- start-up -----------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.add_dynamic_items(PageButton, JumpSelect)  # carousel clicks, before or after a restart
        await self.tree.set_translator(MoodReelTranslator())
        await self.sync_commands()
        self.sessions.on_result(PLATFORM, self.deliver_result)
        self.sessions.on_failure(PLATFORM, self.report_failure)

    async def sync_commands(self) -> None:
        """Guilds in settings.discord.guild_ids get /moodreel at once; otherwise it is synced globally
        (Discord may take a while to show a new global command everywhere)."""
        guild_ids = self.settings.discord.guild_ids
        if not guild_ids:
            self.synced = await self.tree.sync()
            log.info("synced /moodreel globally")
            return
        for guild_id in guild_ids:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            try:
                self.synced = await self.tree.sync(guild=guild)
            except discord.Forbidden:
                log.error(
                    "cannot add /moodreel to guild %s: invite the bot there with the "
                    "applications.commands scope",
                    guild_id,
                )
            else:
                log.info("synced /moodreel to guild %s", guild_id)

    async def close(self) -> None:
        """Stop the background watchers too; what they watched stays in the store."""
        tasks: list[asyncio.Task[Any]] = [p.watcher for p in self.pending.values() if p.watcher is not None]
        tasks += self._carousel_timers.values()
        if self._backlog_task is not None:
            tasks.append(self._backlog_task)
        for task in tasks:
            task.cancel()
        self.pending.clear()
        await super().close()

    async def on_ready(self) -> None:
        assert self.user is not None
        if self.application_id:
            invite = discord.utils.oauth_url(
                self.application_id, permissions=REQUIRED_PERMISSIONS, scopes=("bot", "applications.commands")
            )
            log.info("Discord bot %s is connected; invite it with %s", self.user, invite)
        self._schedule_backlog()

    async def on_resumed(self) -> None:
        self._schedule_backlog()

    def _schedule_backlog(self) -> None:
        if self._backlog_task is None or self._backlog_task.done():
            self._backlog_task = asyncio.create_task(self.deliver_backlog())

    async def deliver_backlog(self) -> int:
        """Post results that were finished while the bot was away; returns how many went out."""
        sent = 0
        for result in await self.sessions.undelivered(PLATFORM):
            try:
                await self.deliver_result(result)
            except Exception:
                log.exception("could not deliver the waiting result of session %s", result.session_id)
                continue
            await self.sessions.mark_delivered(result.session_id)
            sent += 1
        if sent:
            log.info("delivered %d result(s) that arrived while the bot was away", sent)
        return sent

    # --- /moodreel ----------------------------------------------------------------------------

    async def start_session(self, interaction: discord.Interaction[Any], feeling: str | None) -> None:
        """Create (or replace) the user's session and answer privately with its link."""
        lang = locale_of(interaction.locale)
        extra = {"deliver": self.settings.discord.deliver, "application_id": str(interaction.application_id)}
        if interaction.guild_id:
            extra["guild_id"] = str(interaction.guild_id)
        origin = SessionOrigin(
            platform=PLATFORM,
            user_id=str(interaction.user.id),
            channel_id=str(interaction.channel_id or ""),
            user_name=interaction.user.display_name,
            locale=lang,
            declared_feeling=feeling,
            extra=extra,
        )
        creating = asyncio.ensure_future(self.sessions.create(origin))
        done, _ = await asyncio.wait({creating}, timeout=self.reply_budget)
        if not done:  # a slow database must not cost us Discord's 3-second window
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            link = await creating
        except Exception:
            log.exception("could not create a session for Discord user %s", interaction.user.id)
            await self._reply(interaction, say(lang, "discord.link_error"), None)
            return
        content, view = link_reply(link, lang, feeling)
        await self._reply(interaction, content, view)
        for old in [p for p in self.pending.values() if p.user_id == interaction.user.id]:
            self._forget(old.session_id)  # replaced: the new reply already says so
        pending = PendingLink(
            link.session_id, interaction.user.id, lang, interaction, time.monotonic(), link.expires_at
        )
        pending.watcher = asyncio.create_task(self._watch_expiry(pending))
        self.pending[link.session_id] = pending

    async def _reply(
        self, interaction: discord.Interaction[Any], content: str, view: discord.ui.View | None
    ) -> None:
        if interaction.response.is_done():
            await interaction.edit_original_response(content=content, view=view)
        elif view is None:
            await interaction.response.send_message(content, ephemeral=True)
        else:
            await interaction.response.send_message(content, view=view, ephemeral=True)

    def _forget(self, session_id: str) -> PendingLink | None:
        pending = self.pending.pop(session_id, None)
        if (
            pending is not None
            and pending.watcher is not None
            and pending.watcher is not asyncio.current_task()
        ):
            pending.watcher.cancel()
        return pending

    async def _watch_expiry(self, pending: PendingLink) -> None:
        """Tell the user privately when their link runs out unused (or a running check times out)."""
        expires = pending.expires_at
        while True:
            await asyncio.sleep(max((_aware(expires) - utcnow()).total_seconds(), 0) + 1.0)
            doc = await self.sessions.get(pending.session_id)
            if doc is None or self.pending.get(pending.session_id) is not pending:
                return
            state, reason = doc["state"], doc.get("reason")
            if state in ("created", *ACTIVE_STATES) and _aware(doc["expires_at"]) > utcnow():
                expires = doc["expires_at"]  # opened: the session's own time cap applies now
                continue
            if state in ("created", *ACTIVE_STATES) or (state == "expired" and reason != "replaced"):
                self._forget(pending.session_id)
                await self._notify(pending, say(pending.lang, "discord.expired"))
            return

    async def report_failure(self, session_id: str, origin: SessionOrigin, reason: str) -> None:
        """SessionService's failure hook: a clear private follow-up, or a DM once the token is stale."""
        pending = self._forget(session_id)
        if reason == "replaced":
            return
        message = say(origin.locale, "discord.failed", reason=reason)
        if pending is not None and pending.can_follow_up:
            await self._notify(pending, message)
            return
        try:
            user = self.get_user(int(origin.user_id)) or await self.fetch_user(int(origin.user_id))
            await user.send(message)
        except (discord.HTTPException, ValueError) as exc:
            log.warning(
                "could not tell Discord user %s that session %s failed: %s", origin.user_id, session_id, exc
            )

    async def _notify(self, pending: PendingLink, message: str) -> None:
        if not pending.can_follow_up:
            log.info("session %s ended (%s) after its interaction token expired", pending.session_id, message)
            return
        try:
            await pending.interaction.followup.send(message, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("could not send a follow-up for session %s: %s", pending.session_id, exc)

    # --- results ------------------------------------------------------------------------------

    async def deliver_result(self, result: MoodResult) -> None:
        """SessionService's result hook. Raises while the bot is down (the result then waits in the
        store); gives up, with a log line, only when Discord refuses every place to post it."""
        if self.is_closed() or self.user is None:
            raise DiscordUnavailable("the Discord bot is not connected; the result waits for it")
        sid = result.session_id
        async with self._delivery_locks.setdefault(sid, asyncio.Lock()):
            if sid in self._delivered:
                return  # the hook and the backlog raced; one post is enough
            if not result.origin.get("user_id"):
                origin = await self.sessions.origin(sid)
                result = dataclasses.replace(result, origin={**origin.to_dict(), **result.origin})
            await self._post_result(result, self._forget(sid))
            self._delivered[sid] = None
            while len(self._delivered) > 1000:
                self._delivered.popitem(last=False)
        self._delivery_locks.pop(sid, None)  # kept after a failure, so retries queue behind each other

    async def _render(self, result: MoodResult, lang: str) -> tuple[bytes, ResultPage]:
        from core.present.mood_card import render_mood_card

        def work() -> tuple[bytes, ResultPage]:
            return render_mood_card(result, lang), result_page(result, 0, lang)

        return await asyncio.to_thread(work)  # Pillow work stays off the event loop

    async def _post_result(self, result: MoodResult, pending: PendingLink | None) -> None:
        origin = result.origin
        lang = locale_of(origin.get("locale"))
        user_id = int(origin["user_id"])
        card, page = await self._render(result, lang)
        extra = origin.get("extra") or {}
        deliver = extra.get("deliver") or self.settings.discord.deliver
        targets = ["dm", "followup"] if deliver == "dm" else ["channel", "followup", "dm"]
        refusals: list[str] = []
        for target in targets:
            files = [discord.File(io.BytesIO(card), filename=MOOD_CARD_FILE)]
            if page.poster_card is not None:
                files.append(discord.File(io.BytesIO(page.poster_card[1]), filename=page.poster_card[0]))
            view = carousel_view(result, lang, 0) if result.recommendations else None
            kwargs: dict[str, Any] = {
                "content": say(lang, "discord.result_for", mention=f"<@{user_id}>"),
                "embeds": page.embeds,
                "files": files,
                "allowed_mentions": discord.AllowedMentions(users=[discord.Object(user_id)]),
            }
            if view is not None:
                kwargs["view"] = view
            try:
                message = await self._send(target, origin, pending, deliver, kwargs)
            except discord.HTTPException as exc:
                if exc.status >= 500:
                    raise  # Discord trouble: keep the result for the next (re)connect
                refusals.append(f"{target}: {exc.status} {exc.text}")
                continue
            if message is None:
                continue
            if view is not None:
                self._remember(result)
                self._disable_later(message, result, lang, 0)
            log.info("delivered session %s to Discord (%s)", result.session_id, target)
            return
        log.error("Discord refused every way to post session %s; giving up: %s", result.session_id, refusals)

    async def _send(
        self,
        target: str,
        origin: dict[str, Any],
        pending: PendingLink | None,
        deliver: str,
        kwargs: dict[str, Any],
    ) -> discord.Message | None:
        if target == "channel":
            if not origin.get("channel_id"):
                return None
            guild_id = (origin.get("extra") or {}).get("guild_id")
            channel = self.get_channel(int(origin["channel_id"])) or self.get_partial_messageable(
                int(origin["channel_id"]), guild_id=int(guild_id) if guild_id else None
            )
            return await channel.send(**kwargs)  # type: ignore[union-attr]
        if target == "followup":
            if pending is None or not pending.can_follow_up:
                return None
            return await pending.interaction.followup.send(wait=True, ephemeral=deliver == "dm", **kwargs)
        user = self.get_user(int(origin["user_id"])) or await self.fetch_user(int(origin["user_id"]))
        return await user.send(**kwargs)

    # --- the carousel: page turns from any message, before or after a restart ---------------

    def _remember(self, result: MoodResult) -> None:
        """Keep recent results in memory, so a page turn needs no database round trip."""
        self._results[result.session_id] = result
        self._results.move_to_end(result.session_id)
        while len(self._results) > RESULT_CACHE:
            self._results.popitem(last=False)

    async def _result_of(self, session_id: str) -> MoodResult | None:
        if session_id in self._results:
            return self._results[session_id]
        doc = await self.sessions.get(session_id)
        if not doc or not doc.get("result"):
            return None
        result = MoodResult.from_dict(doc["result"])
        if not result.origin.get("user_id"):
            result = dataclasses.replace(result, origin={**doc["origin"], **result.origin})
        self._remember(result)
        return result

    def _disable_later(self, message: discord.Message, result: MoodResult, lang: str, page: int) -> None:
        """Disable the carousel's buttons after carousel_timeout seconds without a page turn."""
        old = self._carousel_timers.pop(message.id, None)
        if old is not None:
            old.cancel()

        async def disable() -> None:
            await asyncio.sleep(self.settings.discord.carousel_timeout)
            self._carousel_timers.pop(message.id, None)
            try:
                await message.edit(view=carousel_view(result, lang, page, disabled=True))
            except discord.HTTPException as exc:
                log.warning("could not disable the carousel buttons of message %s: %s", message.id, exc)

        self._carousel_timers[message.id] = asyncio.create_task(disable())

    async def turn_page(self, interaction: discord.Interaction[Any], session_id: str, page: int) -> None:
        """A click on a carousel: show `page`. The owner check has been done by the item."""
        message = interaction.message
        if message is None:
            return
        if session_id not in self._results:
            # The store may be slow: acknowledge within Discord's 3 seconds, then edit.
            await interaction.response.defer()
        result = await self._result_of(session_id)
        lang = locale_of(interaction.locale)
        if result is None or not result.recommendations:
            await interaction.followup.send(say(lang, "discord.carousel_over"), ephemeral=True)
            return
        lang = locale_of(result.origin.get("locale"))
        last_change = message.edited_at or message.created_at
        timeout = self.settings.discord.carousel_timeout
        if message.id not in self._carousel_timers and (
            (discord.utils.utcnow() - last_change).total_seconds() > timeout
        ):  # a carousel from before a restart that has timed out meanwhile
            await self._edit(interaction, view=carousel_view(result, lang, page, disabled=True))
            await interaction.followup.send(
                say(locale_of(interaction.locale), "discord.carousel_over"), ephemeral=True
            )
            return
        page = max(0, min(page, len(result.recommendations) - 1))
        rendered = result_page(result, page, lang)
        keep: list[discord.Attachment | discord.File] = [
            a for a in message.attachments if a.filename == MOOD_CARD_FILE
        ]
        if rendered.poster_card is not None:
            name, png = rendered.poster_card
            keep.append(discord.File(io.BytesIO(png), filename=name))
        view = carousel_view(result, lang, page)
        await self._edit(interaction, embeds=rendered.embeds, attachments=keep, view=view)
        self._disable_later(message, result, lang, page)

    @staticmethod
    async def _edit(interaction: discord.Interaction[Any], **changes: Any) -> None:
        if interaction.response.is_done():
            await interaction.edit_original_response(**changes)
        else:
            await interaction.response.edit_message(**changes)
