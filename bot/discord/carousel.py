"""The movie carousel: ◀ page ▶ buttons, a jump select and link buttons under the result message.

Only the person who ran /moodreel can turn the pages; anyone else gets a private hint. After
`timeout` seconds without a page turn the buttons are disabled (the link buttons stay usable).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import discord

from bot.discord.limits import BUTTON_LABEL, OPTION_DESCRIPTION, OPTION_LABEL, SELECT_OPTIONS, clip
from bot.discord.render import MOOD_CARD_FILE, page_label, result_page
from core.present.locale import locale_of, titles
from core.present.words import genre_names, say
from core.values.results import MoodResult

log = logging.getLogger(__name__)

CUSTOM_ID_PREFIX = "moodreel:"


def custom_id(session_id: str, action: str) -> str:
    """Ids carry the session so a click on a carousel from before a restart can be traced back."""
    return f"{CUSTOM_ID_PREFIX}{session_id}:{action}"


def parse_custom_id(value: str) -> tuple[str, str] | None:
    if not value.startswith(CUSTOM_ID_PREFIX):
        return None
    session_id, _, action = value[len(CUSTOM_ID_PREFIX) :].rpartition(":")
    return (session_id, action) if session_id and action else None


class MovieCarousel(discord.ui.View):
    def __init__(
        self,
        result: MoodResult,
        lang: str,
        *,
        page: int = 0,
        timeout: float,
        on_finish: Callable[[MovieCarousel], None] | None = None,
    ) -> None:
        super().__init__(timeout=timeout)
        self.result = result
        self.lang = lang
        self.total = len(result.recommendations)
        self.page = max(0, min(page, self.total - 1))
        self.requester_id = int(result.origin.get("user_id") or 0)
        self.message: discord.Message | None = None
        self._on_finish = on_finish
        sid = result.session_id
        self.prev_button: discord.ui.Button[MovieCarousel] = discord.ui.Button(
            emoji="◀", style=discord.ButtonStyle.secondary, custom_id=custom_id(sid, "prev"), row=0
        )
        self.indicator: discord.ui.Button[MovieCarousel] = discord.ui.Button(
            label=page_label(self.page, self.total), disabled=True, custom_id=custom_id(sid, "page"), row=0
        )
        self.next_button: discord.ui.Button[MovieCarousel] = discord.ui.Button(
            emoji="▶", style=discord.ButtonStyle.secondary, custom_id=custom_id(sid, "next"), row=0
        )
        self.prev_button.callback = self._prev  # type: ignore[method-assign]
        self.next_button.callback = self._next  # type: ignore[method-assign]
        for item in (self.prev_button, self.indicator, self.next_button):
            self.add_item(item)
        self.jump: discord.ui.Select[MovieCarousel] | None = None
        if self.total > 1:
            self.jump = discord.ui.Select(
                custom_id=custom_id(sid, "jump"),
                placeholder=say(lang, "discord.jump"),
                row=1,
                min_values=1,
                max_values=1,
            )
            self.jump.callback = self._jump  # type: ignore[method-assign]
            self.add_item(self.jump)
        self._links: list[discord.ui.Button[MovieCarousel]] = []
        self._sync_items()

    # --- state ------------------------------------------------------------------------------

    def _sync_items(self) -> None:
        """Buttons, select and links for the current page."""
        self.prev_button.disabled = self.page <= 0
        self.next_button.disabled = self.page >= self.total - 1
        self.indicator.label = page_label(self.page, self.total)
        if self.jump is not None:
            # A select holds at most 25 options: offer a window of pages around the current one.
            start = max(0, min(self.page - SELECT_OPTIONS // 2, self.total - SELECT_OPTIONS))
            options = []
            for i in range(start, min(start + SELECT_OPTIONS, self.total)):
                rec = self.result.recommendations[i]
                title, _ = titles(rec, self.lang)
                details = " · ".join(
                    x for x in (str(rec.year or ""), genre_names(self.lang, rec.genres)) if x
                )
                options.append(
                    discord.SelectOption(
                        label=clip(f"{i + 1}. {title}", OPTION_LABEL),
                        value=str(i),
                        description=clip(details, OPTION_DESCRIPTION) or None,
                        default=i == self.page,
                    )
                )
            self.jump.options = options
        for button in self._links:
            self.remove_item(button)
        rec = self.result.recommendations[self.page]
        self._links = [
            discord.ui.Button(label=clip(label, BUTTON_LABEL), url=url, row=2)
            for label, url in (("TMDB", rec.tmdb_url), ("Watcha Pedia", rec.watcha_url))
            if url
        ]
        for button in self._links:
            self.add_item(button)

    def disable(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button | discord.ui.Select) and not getattr(item, "url", None):
                item.disabled = True

    # --- interactions -----------------------------------------------------------------------

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.requester_id:
            return True
        await interaction.response.send_message(
            say(locale_of(interaction.locale), "discord.not_yours"), ephemeral=True
        )
        return False

    async def _prev(self, interaction: discord.Interaction[Any]) -> None:
        await self.show(interaction, self.page - 1)

    async def _next(self, interaction: discord.Interaction[Any]) -> None:
        await self.show(interaction, self.page + 1)

    async def _jump(self, interaction: discord.Interaction[Any]) -> None:
        assert self.jump is not None
        await self.show(interaction, int(self.jump.values[0]))

    async def show(self, interaction: discord.Interaction[Any], page: int) -> None:
        """Edit the result message to `page`: the summary stays, the movie embed and poster change."""
        self.page = max(0, min(page, self.total - 1))
        self._sync_items()
        rendered = result_page(self.result, self.page, self.lang)
        keep: list[discord.Attachment | discord.File] = [
            a
            for a in (interaction.message.attachments if interaction.message else [])
            if a.filename == MOOD_CARD_FILE
        ]
        if rendered.poster_card is not None:
            name, png = rendered.poster_card
            keep.append(discord.File(io.BytesIO(png), filename=name))
        await interaction.response.edit_message(embeds=rendered.embeds, attachments=keep, view=self)
        if interaction.message is not None:
            self.message = interaction.message

    async def on_timeout(self) -> None:
        self.disable()
        if self._on_finish is not None:
            self._on_finish(self)
        if self.message is None:
            return
        try:
            await self.message.edit(view=self)
        except discord.HTTPException as exc:
            log.warning("could not disable the carousel buttons of message %s: %s", self.message.id, exc)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        log.error("carousel of session %s failed on %s", self.result.session_id, item, exc_info=error)
