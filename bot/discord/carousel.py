"""The movie carousel: ◀ page ▶ buttons, a jump select and link buttons under the result message,
and the **Share with the channel** button under a private result.

The carousel keeps no state in the process: every button's `custom_id` says which session, whose
carousel and which page it leads to (`moodreel:{session}:{owner}:p{page}`), and discord.py's
`DynamicItem` turns any click that matches back into a page turn, before or after a restart alike.
The share button is `moodreel:{session}:{owner}:share` in the same way. Only the owner can turn the
pages or share; anyone else gets a private hint. The bot disables the buttons of a public carousel
after `discord.carousel_timeout` seconds without a page turn (the link buttons stay usable).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.discord.limits import BUTTON_LABEL, CUSTOM_ID, OPTION_DESCRIPTION, OPTION_LABEL, SELECT_OPTIONS, clip
from bot.discord.render import page_label
from core.present.locale import locale_of, titles
from core.present.words import genre_names, say
from core.values.results import MoodResult

if TYPE_CHECKING:
    from discord.ui import Button, Select

# Session ids are 22 URL-safe base64 characters, owners Discord snowflakes: at most 60 of the 100
# characters Discord allows in a custom_id.
_ID = r"moodreel:(?P<session>[A-Za-z0-9_-]{22}):(?P<owner>[0-9]{1,20})"


class PageTurner(Protocol):
    """What a click needs from the bot: turn `session`'s carousel on this message to `page`, or share
    the result with the channel."""

    async def turn_page(self, interaction: discord.Interaction[Any], session_id: str, page: int) -> None: ...

    async def share_result(self, interaction: discord.Interaction[Any], session_id: str) -> None: ...


def _custom_id(result: MoodResult, tail: str) -> str:
    value = f"moodreel:{result.session_id}:{int(result.origin.get('user_id') or 0)}:{tail}"
    assert len(value) <= CUSTOM_ID, value
    return value


async def _owner_only(interaction: discord.Interaction[Any], owner: int) -> bool:
    if interaction.user.id == owner:
        return True
    await interaction.response.send_message(
        say(locale_of(interaction.locale), "discord.not_yours"), ephemeral=True
    )
    return False


async def _turn(interaction: discord.Interaction[Any], session_id: str, page: int) -> None:
    client: PageTurner = interaction.client  # only MoodReelBot registers these items
    await client.turn_page(interaction, session_id, page)


class PageButton(discord.ui.DynamicItem["Button[Any]"], template=_ID + r":p(?P<page>-?[0-9]{1,4})"):
    """◀ or ▶: its custom_id names the page it leads to."""

    def __init__(self, session_id: str, owner: int, page: int, item: Button[Any]) -> None:
        super().__init__(item)
        self.session_id, self.owner, self.page = session_id, owner, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PageButton:
        assert isinstance(item, discord.ui.Button)
        return cls(match["session"], int(match["owner"]), int(match["page"]), item)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await _owner_only(interaction, self.owner)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _turn(interaction, self.session_id, self.page)


class JumpSelect(discord.ui.DynamicItem["Select[Any]"], template=_ID + r":jump"):
    """The "jump to a movie" select: the chosen option's value is the page."""

    def __init__(self, session_id: str, owner: int, item: Select[Any]) -> None:
        super().__init__(item)
        self.session_id, self.owner = session_id, owner

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JumpSelect:
        assert isinstance(item, discord.ui.Select)
        return cls(match["session"], int(match["owner"]), item)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await _owner_only(interaction, self.owner)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        values = self.item.values  # discord.py fills them in from the interaction
        try:
            page = int(values[0]) if values else 0
        except ValueError:
            page = 0
        await _turn(interaction, self.session_id, page)


class ShareButton(discord.ui.DynamicItem["Button[Any]"], template=_ID + r":share"):
    """**Share with the channel** under a private result: the public version, with the owner's consent."""

    def __init__(self, session_id: str, owner: int, item: Button[Any]) -> None:
        super().__init__(item)
        self.session_id, self.owner = session_id, owner

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ShareButton:
        assert isinstance(item, discord.ui.Button)
        return cls(match["session"], int(match["owner"]), item)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await _owner_only(interaction, self.owner)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client: PageTurner = interaction.client  # only MoodReelBot registers these items
        await client.share_result(interaction, self.session_id)


SHARE_OFFER, SHARE_DONE = "offer", "done"


def share_button(result: MoodResult, lang: str, state: str) -> ShareButton:
    """The share button: offered (green), or done (greyed out, "Shared")."""
    done = state == SHARE_DONE
    item: Button[Any] = discord.ui.Button(
        label=say(lang, "discord.shared_button" if done else "discord.share_button"),
        emoji="📣",
        style=discord.ButtonStyle.secondary if done else discord.ButtonStyle.success,
        custom_id=_custom_id(result, "share"),
        disabled=done,
        row=3,
    )
    return ShareButton(result.session_id, int(result.origin.get("user_id") or 0), item)


def result_view(
    result: MoodResult, lang: str, page: int, *, disabled: bool = False, share: str | None = None
) -> discord.ui.View | None:
    """The carousel (when there are picks) and, under a private result, the share button."""
    view = carousel_view(result, lang, page, disabled=disabled) if result.recommendations else None
    if share is not None:
        view = view or discord.ui.View(timeout=None)
        view.add_item(share_button(result, lang, share))
    return view


def carousel_view(result: MoodResult, lang: str, page: int, *, disabled: bool = False) -> discord.ui.View:
    """The components for `page` of the result: a pure function, rebuilt on every page turn."""
    total = len(result.recommendations)
    page = max(0, min(page, total - 1))
    view = discord.ui.View(timeout=None)
    owner = int(result.origin.get("user_id") or 0)

    def button(emoji: str, target: int, off: bool) -> PageButton:
        item: Button[Any] = discord.ui.Button(
            emoji=emoji,
            style=discord.ButtonStyle.secondary,
            custom_id=_custom_id(result, f"p{target}"),
            disabled=disabled or off,
            row=0,
        )
        return PageButton(result.session_id, owner, target, item)

    view.add_item(button("◀", page - 1, page <= 0))
    view.add_item(
        discord.ui.Button(
            label=page_label(page, total), disabled=True, custom_id=_custom_id(result, f"at{page}"), row=0
        )
    )
    view.add_item(button("▶", page + 1, page >= total - 1))
    if total > 1:
        # A select holds at most 25 options: offer a window of pages around the current one.
        start = max(0, min(page - SELECT_OPTIONS // 2, total - SELECT_OPTIONS))
        options = []
        for i in range(start, min(start + SELECT_OPTIONS, total)):
            rec = result.recommendations[i]
            title, _ = titles(rec, lang)
            details = " · ".join(x for x in (str(rec.year or ""), genre_names(lang, rec.genres)) if x)
            options.append(
                discord.SelectOption(
                    label=clip(f"{i + 1}. {title}", OPTION_LABEL),
                    value=str(i),
                    description=clip(details, OPTION_DESCRIPTION) or None,
                    default=i == page,
                )
            )
        select: Select[Any] = discord.ui.Select(
            custom_id=_custom_id(result, "jump"),
            placeholder=say(lang, "discord.jump"),
            options=options,
            disabled=disabled,
            row=1,
        )
        view.add_item(JumpSelect(result.session_id, owner, select))
    rec = result.recommendations[page]
    for label, url in (("TMDB", rec.tmdb_url), ("Watcha Pedia", rec.watcha_url)):
        if url:
            view.add_item(discord.ui.Button(label=clip(label, BUTTON_LABEL), url=url, row=2))
    return view
