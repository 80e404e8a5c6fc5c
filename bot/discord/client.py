"""The MoodReel Discord bot: `/moodreel` hands out a private session link, and the result comes back
privately (the link message becomes the result, or a DM) with the emotion summary, the mood card, a
movie carousel and a **Share with the channel** button.

A thin adapter: sessions, analysis, recommendations and the delivery outbox live in core; this
module only speaks Discord. Results, failure and expiry notes reach Discord only through the outbox,
whose worker runs while the bot is connected (bot.discord.delivery has the courier). discord.py
reconnects by itself and keeps to Discord's rate limits (longer waits go back to the outbox).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import io
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.discord.carousel import SHARE_DONE, SHARE_OFFER, JumpSelect, PageButton, ShareButton, result_view
from bot.discord.commands import COMMAND_NAME, MoodReelTranslator, build_command, link_reply
from bot.discord.delivery import DiscordCourier, embeds_as_text
from bot.discord.group import GroupButton, progress_message
from bot.discord.limits import clip
from bot.discord.render import MOOD_CARD_FILE, result_page
from bot.discord.tokens import InteractionTokens, KeptToken
from core.config import Settings
from core.group.service import GroupError, GroupService
from core.present.locale import locale_of
from core.present.words import say
from core.sessions.origin import SessionOrigin
from core.sessions.service import SessionService
from core.stage.links import StageSigner
from core.values.results import MoodResult

log = logging.getLogger(__name__)

PLATFORM = "discord"
# Discord wants an answer within 3 s; past this budget the bot defers and answers when it can.
REPLY_BUDGET_S = 2.0
# Interaction tokens (follow-ups, ephemeral notices) work for 15 minutes; keep a margin.
INTERACTION_TOKEN_TTL_S = 14 * 60
# Results kept in memory for page turns; older ones are read back from the store.
RESULT_CACHE = 256
# discord.py waits out shorter 429s itself; a longer Retry-After goes back to the outbox (30 s is the
# smallest value discord.py allows).
MAX_RATELIMIT_WAIT_S = 30.0
SHARE_WAIT_S = 10.0  # a Share click waits this long for Discord to accept the public post
# What the bot needs where results are posted (the README lists the same).
REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    send_polls=True,  # the movie night's vote
)


class DiscordServices(Protocol):
    """The part of core.services.Services the adapter uses."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> SessionService: ...

    @property
    def groups(self) -> GroupService | None: ...  # None: movie nights are off in this process


class DiscordUnavailable(RuntimeError):
    """The bot is not running: the result stays undelivered until it is back."""


@dataclass
class PendingLink:
    """A link handed out and not finished yet, with the interaction whose reply can still be edited
    (into the private result, or a note) while its token lasts."""

    session_id: str
    user_id: int
    lang: str
    interaction: discord.Interaction[Any]
    issued: float  # time.monotonic()

    @property
    def can_follow_up(self) -> bool:
        return time.monotonic() - self.issued < INTERACTION_TOKEN_TTL_S


def _share_state(message: discord.Message) -> str | None:
    """Whether a result message carries the share button, and whether it was pressed."""
    for row in message.components:
        for child in getattr(row, "children", []):
            if str(getattr(child, "custom_id", "") or "").endswith(":share"):
                return SHARE_DONE if getattr(child, "disabled", False) else SHARE_OFFER
    return None


def _share_words(lang: str, state: str, reason: str, channel_id: str) -> str:
    if state == "delivered":
        return say(lang, "discord.shared", channel=channel_id)
    if state == "undeliverable":
        lowered = reason.lower()
        why = (
            say(lang, "discord.no_send")
            if ("50013" in reason or "50001" in reason or "may not" in lowered)
            else clip(reason, 200)
        )
        return say(lang, "discord.share_refused", reason=why)
    if state == "none":
        return say(lang, "discord.share_gone")
    return say(lang, "discord.share_later")


class MoodReelBot(discord.Client):
    def __init__(
        self, services: DiscordServices, *, reply_budget: float = REPLY_BUDGET_S, **options: Any
    ) -> None:
        # No privileged intents: slash commands and buttons arrive as interactions anyway; the
        # guilds intent keeps channels cached so results can go to threads and channels alike.
        intents = discord.Intents.none()
        intents.guilds = True
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        options.setdefault("max_ratelimit_timeout", MAX_RATELIMIT_WAIT_S)
        super().__init__(intents=intents, **options)
        self.services = services
        self.reply_budget = reply_budget
        self.settings = services.settings
        self.sessions = services.sessions
        self.tree = app_commands.CommandTree(self)
        self.groups = services.groups
        self.tree.add_command(build_command(self.start_session, self.start_mode))
        self.pending: dict[str, PendingLink] = {}
        # The pending interactions' tokens again, in the store: a restarted bot still edits the replies.
        self.tokens = InteractionTokens(services.sessions.store, services.settings.secret)
        self.courier = DiscordCourier(self)
        self._results: collections.OrderedDict[str, MoodResult] = collections.OrderedDict()  # recent
        self._carousel_timers: dict[int, asyncio.Task[None]] = {}  # by message id
        self._deliveries: asyncio.Task[None] | None = None
        self._cleaned_guilds = False
        self._cleanup: asyncio.Task[None] | None = None
        self.synced: list[app_commands.AppCommand] = []

    # --- start-up -----------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.add_dynamic_items(
            PageButton, JumpSelect, ShareButton, GroupButton
        )  # clicks, before or after a restart
        await self.tree.set_translator(MoodReelTranslator())
        await self.tokens.ensure_indexes()
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Guilds in settings.discord.guild_ids get /moodreel at once; otherwise it is synced globally
        (Discord may take a while to show a new global command everywhere). A /moodreel left from the
        other way of syncing is removed, so nobody sees it twice (guild copies: once connected)."""
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
        if self.application_id is None:
            return
        try:
            stale = await self.http.get_global_commands(self.application_id)
            if any(c.get("name") == COMMAND_NAME for c in stale):
                await self.http.bulk_upsert_global_commands(self.application_id, [])
                log.info("removed the global /moodreel: it is synced to guilds now")
        except discord.HTTPException as exc:
            log.warning("could not check for a stale global /moodreel: %s", exc)

    async def _remove_stale_guild_commands(self) -> None:
        """Guild copies of /moodreel in guilds that are no longer synced (or all, with global sync)."""
        if self.application_id is None:
            return
        keep = set(self.settings.discord.guild_ids)
        for guild in list(self.guilds):
            if guild.id in keep:
                continue
            try:
                commands = await self.http.get_guild_commands(self.application_id, guild.id)
                if any(c.get("name") == COMMAND_NAME for c in commands):
                    await self.http.bulk_upsert_guild_commands(self.application_id, guild.id, [])
                    log.info("removed a stale /moodreel from guild %s", guild.id)
            except discord.HTTPException as exc:  # no applications.commands scope there: nothing to do
                log.debug("could not check guild %s for a stale /moodreel: %s", guild.id, exc)

    async def close(self) -> None:
        """Stop delivering and the carousel timers; what they were doing stays in the store."""
        self.sessions.outbox.unregister(PLATFORM, self.courier)
        tasks: list[asyncio.Task[Any]] = list(self._carousel_timers.values())
        if self._deliveries is not None:
            tasks.append(self._deliveries)
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
        self._start_deliveries()
        if not self._cleaned_guilds:
            self._cleaned_guilds = True
            self._cleanup = asyncio.create_task(self._remove_stale_guild_commands())

    async def on_resumed(self) -> None:
        self._start_deliveries()

    def _start_deliveries(self) -> None:
        """Results, failure and expiry notes waiting in the outbox go out while the bot is connected
        (including those that arrived while it was away)."""
        self.sessions.outbox.register(PLATFORM, self.courier)
        if self._deliveries is None or self._deliveries.done():
            self._deliveries = asyncio.create_task(
                self.sessions.deliveries(PLATFORM), name="discord-deliveries"
            )

    # --- /moodreel ----------------------------------------------------------------------------

    async def start_session(self, interaction: discord.Interaction[Any], feeling: str | None) -> None:
        """Create (or replace) the user's session and answer privately with its link."""
        lang = locale_of(interaction.locale)
        extra = {
            "deliver": self.settings.discord.deliver,
            "application_id": str(interaction.application_id),
            # What the bot may do where the command was used, for choosing where the result goes.
            "app_permissions": str(interaction.app_permissions.value),
        }
        if interaction.guild_id:
            extra["guild_id"] = str(interaction.guild_id)
        if isinstance(interaction.channel, discord.Thread):
            extra["thread"] = "1"  # posting there needs Send Messages in Threads instead
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
        await self._hold(link.session_id, interaction, lang)

    async def _reply(
        self, interaction: discord.Interaction[Any], content: str, view: discord.ui.View | None
    ) -> None:
        if interaction.response.is_done():
            await interaction.edit_original_response(content=content, view=view)
        elif view is None:
            await interaction.response.send_message(content, ephemeral=True)
        else:
            await interaction.response.send_message(content, view=view, ephemeral=True)

    async def _hold(self, session_id: str, interaction: discord.Interaction[Any], lang: str) -> None:
        """Keep the interaction whose reply the session's result (or note) will replace: in memory,
        and in the store for a restart. The user's older links are replaced (the new reply says
        so), and any whose token is spent go."""
        user = interaction.user.id
        old = [p.session_id for p in self.pending.values() if p.user_id == user or not p.can_follow_up]
        for session in old:
            self.forget(session)
        self.pending[session_id] = PendingLink(session_id, user, lang, interaction, time.monotonic())
        await self.tokens.drop(*old)
        expires = discord.utils.utcnow() + dt.timedelta(seconds=INTERACTION_TOKEN_TTL_S)
        await self.tokens.keep(
            KeptToken(session_id, interaction.application_id, interaction.token, user, lang, expires)
        )

    def forget(self, session_id: str) -> PendingLink | None:
        return self.pending.pop(session_id, None)

    # --- /moodreel mode:stage and mode:group ---------------------------------------------------------

    async def start_mode(self, interaction: discord.Interaction[Any], mode: str, feeling: str | None) -> None:
        lang = locale_of(interaction.locale)
        if mode == "stage":
            await self._stage_links(interaction, lang, feeling)
        else:
            await self._start_group(interaction, lang)

    async def _stage_links(
        self, interaction: discord.Interaction[Any], lang: str, feeling: str | None
    ) -> None:
        """The performer's control link and the projector's stage link, privately."""
        if not self.settings.secret:
            await interaction.response.send_message(say(lang, "discord.stage_no_secret"), ephemeral=True)
            return
        links = StageSigner(self.settings.secret).issue(
            self.settings.server.base_url, feeling or "neutral", self.settings.stage.link_ttl_minutes
        )
        view = discord.ui.View(timeout=None)
        view.add_item(
            discord.ui.Button(label=say(lang, "discord.stage_control"), emoji="🎛️", url=links.control_url)
        )
        view.add_item(
            discord.ui.Button(label=say(lang, "discord.stage_show"), emoji="🎭", url=links.show_url)
        )
        text = say(lang, "discord.stage_links", expires=discord.utils.format_dt(links.expires_at, "f"))
        await interaction.response.send_message(text, view=view, ephemeral=True)

    async def _start_group(self, interaction: discord.Interaction[Any], lang: str) -> None:
        """Post the public Movie night message as the command's answer, and remember its id."""
        if self.groups is None or not interaction.guild_id or interaction.channel_id is None:
            await interaction.response.send_message(say(lang, "discord.group_dm"), ephemeral=True)
            return
        extra = {
            "guild_id": str(interaction.guild_id),
            "app_permissions": str(interaction.app_permissions.value),
            "application_id": str(interaction.application_id),
        }
        group = await self.groups.start(
            PLATFORM,
            str(interaction.channel_id),
            str(interaction.user.id),
            interaction.user.display_name,
            lang,
            extra,
        )
        embed, view = progress_message(group)
        assert view is not None
        await interaction.response.send_message(embed=embed, view=view)
        message = await interaction.original_response()
        await self.groups.set_message(group.group_id, str(message.id))

    async def group_action(self, interaction: discord.Interaction[Any], group_id: str, action: str) -> None:
        """A click on a movie night's Join, Pick for us, Cancel or Close the vote."""
        lang = locale_of(interaction.locale)
        if self.groups is None:
            await interaction.response.send_message(say(lang, "group.over"), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # the store and the pick take time
        user = str(interaction.user.id)
        try:
            if action == "join":
                await self._join(interaction, group_id, lang)
                return
            if action == "pick":
                _, status = await self.groups.pick(group_id, user)
                words = say(lang, "group.picked") if status else say(lang, "group.picking")
            elif action == "cancel":
                await self.groups.cancel(group_id, user)
                words = say(lang, "group.cancelled", host=interaction.user.display_name)
            else:
                words = await self._close_vote(interaction, group_id, user, lang)
        except GroupError as exc:
            words = say(lang, f"group.{exc.kind}", **exc.values)
        except Exception:
            log.exception("movie night %s: %s failed", group_id, action)
            words = say(lang, "group.error")
        await interaction.edit_original_response(content=words)

    async def _join(self, interaction: discord.Interaction[Any], group_id: str, lang: str) -> None:
        assert self.groups is not None
        extra = {"application_id": str(interaction.application_id)}
        if interaction.guild_id:
            extra["guild_id"] = str(interaction.guild_id)
            extra["app_permissions"] = str(interaction.app_permissions.value)
        group, link, rejoined = await self.groups.join(
            group_id, str(interaction.user.id), interaction.user.display_name, lang, extra
        )
        expires = discord.utils.format_dt(link.expires_at, "R")
        lines = [say(lang, "group.join_link", host=group.host_name, expires=expires)]
        if rejoined:
            lines.append(say(lang, "group.rejoined"))
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label=say(lang, "discord.open_button"), emoji="🎥", url=link.url))
        await interaction.edit_original_response(content="\n".join(lines), view=view)
        # The member's private result edits this reply, as a personal /moodreel's does.
        await self._hold(link.session_id, interaction, lang)

    async def _close_vote(
        self, interaction: discord.Interaction[Any], group_id: str, user: str, lang: str
    ) -> str:
        """End the native poll (the Close button sits on the poll message), then count and announce."""
        assert self.groups is not None
        group = await self.groups.get(group_id)
        if group is None or group.pick is None:
            raise GroupError("over")
        if user != group.host_id:
            raise GroupError("not_host", host=group.host_name)
        counts: tuple[int, ...] | None = None
        message = interaction.message
        if message is not None and message.poll is not None and group.poll.state == "open":
            ended = message
            if not message.poll.is_finalised():
                try:
                    ended = await message.end_poll()
                except discord.HTTPException as exc:
                    log.warning("could not end the poll of movie night %s: %s", group_id, exc)
            if ended.poll is not None:
                counts = tuple(a.vote_count for a in ended.poll.answers)
            with contextlib.suppress(discord.HTTPException):
                await message.edit(view=None)  # no more Close button
        await self.groups.close_poll(group_id, user, counts)
        return say(lang, "group.vote_closed")

    # --- sharing --------------------------------------------------------------------------------

    async def share_result(self, interaction: discord.Interaction[Any], session_id: str) -> None:
        """The owner pressed Share: post the public version in the channel where /moodreel was used
        (through the outbox), then say privately how it went."""
        lang = locale_of(interaction.locale)
        await interaction.response.defer()  # before anything slow: the click is acknowledged at once
        result = await self._result_of(session_id)
        if result is None:
            await interaction.followup.send(say(lang, "discord.share_gone"), ephemeral=True)
            return
        if await self.sessions.delivery(session_id, "share"):
            await interaction.followup.send(say(lang, "discord.already_shared"), ephemeral=True)
            return
        channel_id = str(result.origin.get("channel_id") or "")
        details = {"by": str(interaction.user.id)}
        if str(interaction.channel_id or "") == channel_id:
            # Pressed where the command was used (not in a DM): the freshest view of our permissions.
            details["app_permissions"] = str(interaction.app_permissions.value)
        status = await self.sessions.share(session_id, details, SHARE_WAIT_S)
        if status and interaction.message is not None:
            page = _page_shown(interaction.message)
            view = result_view(result, locale_of(result.origin.get("locale")), page, share=SHARE_DONE)
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(view=view)
        words = _share_words(lang, status.state, status.reason, channel_id)
        await interaction.followup.send(words, ephemeral=True)

    # --- the carousel: page turns from any message, before or after a restart ---------------

    def remember(self, result: MoodResult) -> None:
        """Keep recent results in memory, so a page turn needs no database round trip."""
        self._results[result.session_id] = result
        self._results.move_to_end(result.session_id)
        while len(self._results) > RESULT_CACHE:
            self._results.popitem(last=False)

    async def _result_of(self, session_id: str) -> MoodResult | None:
        if session_id in self._results:
            return self._results[session_id]
        doc = await self.sessions.get(session_id)
        if not doc and self.groups is not None:  # a movie night's result: the host turns its pages
            group = await self.groups.get(session_id)
            if group is not None and group.pick is not None:
                self.remember(group.pick.result)
                return group.pick.result
        if not doc or not doc.get("result"):
            return None
        result = MoodResult.from_dict(doc["result"])
        if not result.origin.get("user_id"):
            result = dataclasses.replace(result, origin={**doc["origin"], **result.origin})
        self.remember(result)
        return result

    def disable_later(self, message: discord.Message, result: MoodResult, lang: str, page: int) -> None:
        """Disable the carousel's buttons after carousel_timeout seconds without a page turn."""
        old = self._carousel_timers.pop(message.id, None)
        if old is not None:
            old.cancel()

        async def disable() -> None:
            await asyncio.sleep(self.settings.discord.carousel_timeout)
            self._carousel_timers.pop(message.id, None)
            try:
                await message.edit(view=result_view(result, lang, page, disabled=True))
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
            await self._reply_privately(interaction, say(lang, "discord.carousel_over"))
            return
        lang = locale_of(result.origin.get("locale"))
        share = _share_state(message)
        private = message.flags.ephemeral
        last_change = message.edited_at or message.created_at
        timeout = self.settings.discord.carousel_timeout
        if (
            not private
            and message.id not in self._carousel_timers
            and (discord.utils.utcnow() - last_change).total_seconds() > timeout
        ):  # a public carousel from before a restart that has timed out meanwhile
            await self._edit(interaction, view=result_view(result, lang, page, disabled=True, share=share))
            await interaction.followup.send(
                say(locale_of(interaction.locale), "discord.carousel_over"), ephemeral=True
            )
            return
        page = max(0, min(page, len(result.recommendations) - 1))
        rendered = result_page(result, page, lang)
        if result.emotion.method == "group" and message.embeds:
            rendered.embeds[0] = message.embeds[0]  # the group's head (its count and card) stays
        view = result_view(result, lang, page, share=share)
        perms = interaction.app_permissions
        if interaction.guild_id and not perms.embed_links:  # Discord would drop embeds: text instead
            head = message.content.split("\n\n", 1)[0]
            text = f"{embeds_as_text(rendered.embeds)}\n{say(lang, 'discord.text_only')}"
            await self._edit(interaction, content=clip(f"{head}\n\n{text}", 2000), embeds=[], view=view)
        else:
            keep: list[discord.Attachment | discord.File] = [
                a for a in message.attachments if a.filename == MOOD_CARD_FILE
            ]
            if rendered.poster_card is not None and (perms.attach_files or not interaction.guild_id):
                name, png = rendered.poster_card
                keep.append(discord.File(io.BytesIO(png), filename=name))
            await self._edit(interaction, embeds=rendered.embeds, attachments=keep, view=view)
        if not private:
            self.disable_later(message, result, lang, page)

    @staticmethod
    async def _reply_privately(interaction: discord.Interaction[Any], text: str) -> None:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    @staticmethod
    async def _edit(interaction: discord.Interaction[Any], **changes: Any) -> None:
        if interaction.response.is_done():
            await interaction.edit_original_response(**changes)
        else:
            await interaction.response.edit_message(**changes)


def _page_shown(message: discord.Message) -> int:
    """The page a carousel message shows, read from its disabled "n / N" button's custom_id."""
    for row in message.components:
        for child in getattr(row, "children", []):
            custom_id = str(getattr(child, "custom_id", "") or "")
            if custom_id.rsplit(":", 1)[-1].startswith("at"):
                with contextlib.suppress(ValueError):
                    return int(custom_id.rsplit(":", 1)[-1][2:])
    return 0
