"""The group movie night in Discord: the public "Movie night" message and its buttons, the group's
result with its carousel and native poll, and the winner.

Buttons are `DynamicItem`s whose custom_id carries the group and the action
(`moodreel:group:{group_id}:{join|pick|cancel|close}`), so they work after a restart; what they do
lives in MoodReelBot (client.py) and core.group. The three outbox kinds of a night are delivered by
`deliver_group` (the courier calls it): the progress edits the group message, the pick posts the
result and then the poll (each post once: nonces, and the ids posted are remembered with the item),
and the winner is one more post.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.discord.carousel import result_view
from bot.discord.limits import clip
from bot.discord.render import MOOD_CARD_FILE, embed_colour, result_page
from core.delivery.outbox import OutboxItem
from core.delivery.outcomes import Delivered
from core.present.group import pick_lines, progress_lines, winner_line
from core.present.locale import locale_of, titles
from core.present.words import say
from core.values.group import Group, GroupPick
from core.values.results import Recommendation

if TYPE_CHECKING:
    from discord.ui import Button

    from bot.discord.client import MoodReelBot

log = logging.getLogger(__name__)

ACTIONS = ("join", "pick", "cancel", "close")
_TEMPLATE = r"moodreel:group:(?P<group>[A-Za-z0-9_-]{22}):(?P<action>join|pick|cancel|close)"
POLL_HOURS = 24  # Discord closes a poll by itself after this long; the host usually closes it first
POLL_ANSWER_MAX = 55  # Discord's limit on an answer's text
GROUP_COLOUR = discord.Colour(0xE8A33D)


class NotDeliverable(Exception):
    """This group item cannot be delivered at all (the courier records it as refused)."""


class GroupActions(Protocol):
    async def group_action(
        self, interaction: discord.Interaction[Any], group_id: str, action: str
    ) -> None: ...


class GroupButton(discord.ui.DynamicItem["Button[Any]"], template=_TEMPLATE):
    """Join / Pick for us / Cancel under the group message, Close the vote under the poll."""

    def __init__(self, group_id: str, action: str, item: Button[Any]) -> None:
        super().__init__(item)
        self.group_id, self.action = group_id, action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> GroupButton:
        assert isinstance(item, discord.ui.Button)
        return cls(match["group"], match["action"], item)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client: GroupActions = interaction.client  # only MoodReelBot registers this item
        await client.group_action(interaction, self.group_id, self.action)


_STYLES = {
    "join": (discord.ButtonStyle.success, "🎟️", "group.join"),
    "pick": (discord.ButtonStyle.primary, "🍿", "group.pick"),
    "cancel": (discord.ButtonStyle.danger, None, "group.cancel"),
    "close": (discord.ButtonStyle.secondary, "🗳️", "group.close_vote"),
}


def group_button(group_id: str, action: str, lang: str) -> GroupButton:
    style, emoji, key = _STYLES[action]
    item: Button[Any] = discord.ui.Button(
        label=say(lang, key), emoji=emoji, style=style, custom_id=f"moodreel:group:{group_id}:{action}"
    )
    return GroupButton(group_id, action, item)


def progress_message(group: Group) -> tuple[discord.Embed, discord.ui.View | None]:
    """The public "Movie night" message for the group's state (buttons only while it is open)."""
    lang = group.locale
    when = discord.utils.format_dt(group.deadline, "R")
    embed = discord.Embed(
        title=say(lang, "group.title"),
        description="\n".join(progress_lines(group, lang, when)),
        colour=GROUP_COLOUR,
    )
    if group.state != "open":
        return embed, None
    view = discord.ui.View(timeout=None)
    for action in ("join", "pick", "cancel"):
        view.add_item(group_button(group.group_id, action, lang))
    return embed, view


def group_head(pick: GroupPick, lang: str) -> discord.Embed:
    """The first embed of the group's result: its mood, the anonymous count, the group card."""
    head, *rest = pick_lines(pick, lang)
    colour = embed_colour(pick.result.colours[0].rgb if pick.result.colours else None)
    embed = discord.Embed(title=head, description="\n".join(rest), colour=colour)
    embed.set_image(url=f"attachment://{MOOD_CARD_FILE}")
    return embed


def poll_for(pick: GroupPick, lang: str, size: int) -> discord.Poll:
    poll = discord.Poll(question=say(lang, "group.poll_question"), duration=dt.timedelta(hours=POLL_HOURS))
    for rec in pick.result.recommendations[:size]:
        poll.add_answer(text=clip(_title(rec, lang), POLL_ANSWER_MAX))
    return poll


def _title(rec: Recommendation, lang: str) -> str:
    name = titles(rec, lang)[0]
    return f"{name} ({rec.year})" if rec.year else name


def close_view(group_id: str, lang: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(group_button(group_id, "close", lang))
    return view


def _nonce(item: OutboxItem, what: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{item.id}:{what}".encode()).digest()[:7], "big")


async def deliver_group(bot: MoodReelBot, item: OutboxItem) -> Delivered:
    """One group item; raises NotDeliverable, or discord.HTTPException and the like for the courier
    to judge."""
    group = Group.from_dict(item.payload["group"])
    lang = locale_of(group.locale)
    channel = bot.get_partial_messageable(
        int(group.channel_id), guild_id=int(group.extra["guild_id"]) if group.extra.get("guild_id") else None
    )
    if item.kind == "group_progress":
        if bot.groups is not None:
            group = await bot.groups.latest(group)
        if not group.message_id:
            raise NotDeliverable("the group message was never posted")
        embed, view = progress_message(group)
        message = await channel.get_partial_message(int(group.message_id)).edit(embed=embed, view=view)
        return Delivered(str(message.id), "channel")
    if item.kind == "group_pick":
        pick = GroupPick.from_dict(item.payload["pick"])
        result_id = item.scratch.get("result_post")
        if not result_id:
            from core.present.mood_card import render_group_card

            card = render_group_card(pick.result, pick.counts, pick.took_part, pick.joined, lang)
            page = result_page(pick.result, 0, lang)
            page.embeds[0] = group_head(pick, lang)
            files = [discord.File(io.BytesIO(card), filename=MOOD_CARD_FILE)]
            if page.poster_card is not None:
                files.append(discord.File(io.BytesIO(page.poster_card[1]), filename=page.poster_card[0]))
            view = result_view(pick.result, lang, 0)
            kwargs: dict[str, Any] = {"embeds": page.embeds, "files": files}
            if view is not None:
                kwargs["view"] = view
            posted = await channel.send(nonce=_nonce(item, "result"), **kwargs)
            result_id = str(posted.id)
            await item.remember("result_post", result_id)
            bot.remember(pick.result)
        poll_id = item.scratch.get("poll_post")
        if not poll_id and pick.result.recommendations:
            size = min(bot.settings.group.poll_size, len(pick.result.recommendations))
            try:
                polled = await channel.send(
                    content=say(lang, "group.vote_head", host=group.host_name),
                    poll=poll_for(pick, lang, size),
                    view=close_view(group.group_id, lang),
                    nonce=_nonce(item, "poll"),
                )
            except discord.Forbidden as exc:  # no Send Polls here: the pick itself is out, keep it
                log.warning("movie night %s: the poll was refused (%s); the picks stand", group.group_id, exc)
                await item.remember("poll_post", "refused")
            else:
                await item.remember("poll_post", str(polled.id))
        return Delivered(str(result_id), "channel")
    if item.kind == "group_winner":
        winner = Recommendation.from_dict(dict(item.payload["winner"]))
        text = winner_line(_title(winner, lang), int(item.payload["votes"]), int(item.payload["total"]), lang)
        posted = await channel.send(content=text, nonce=_nonce(item, "winner"))
        return Delivered(str(posted.id), "channel")
    raise NotDeliverable(f"unknown group item {item.kind}")
