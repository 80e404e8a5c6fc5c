"""The group movie night in Mattermost: its posts, and the courier's part for the `group_*` items.

- `group_progress`: the public "Movie night" post with **Join**, **Pick for us** and **Cancel** (buttons
  gone once picked or cancelled). Posted once (its id is remembered with the outbox item and given to
  GroupService.set_message), then patched in place with every newer state.
- `group_pick`: the group's result in the channel: the headline (mood, anonymous count, who took part),
  the group's mood card (uploaded once), the picks with their reasons, and the vote: one button per
  poll option with its live count, and **Close the vote** (host only). Votes are counted by
  GroupService; a click answers with an `update` showing the new counts.
- `group_winner`: the winner's line, and the result post's vote patched to its final counts.
Every post is made once, as the courier's other posts: a `moodreel_item` marker and a deterministic
`pending_post_id`, and a look-up of the channel's recent posts before a retry.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.mattermost.client import MattermostUnavailable
from bot.mattermost.messages import PosterFor
from bot.mattermost.signing import ContextSigner, GroupContext
from core.delivery.outbox import OutboxItem
from core.present.group import pick_lines, progress_lines, winner_line
from core.present.locale import locale_of, titles
from core.present.words import say
from core.values.group import Group, GroupPick
from core.values.results import Recommendation

if TYPE_CHECKING:
    from bot.mattermost.delivery import MattermostCourier

log = logging.getLogger(__name__)

LOOKBACK_MS = 120_000
MESSAGE_MAX = 16383
PICK_COLOUR = "#e8a33d"


def _markdown(lines: list[str]) -> str:
    """core.present.group's lines for Mattermost: its small print (`-# ...`) in italics."""
    return "\n".join(f"_{line[3:]}_" if line.startswith("-# ") else line for line in lines)


def marker(group_id: str, kind: str) -> str:
    return f"{group_id}:{kind}:channel"  # the outbox item's id and its one target


def _button(action_id: str, label: str, context: dict[str, Any], actions_url: str) -> dict[str, Any]:
    return {
        "id": action_id,  # alphanumeric: Mattermost routes clicks by it
        "name": label,
        "type": "button",
        "integration": {"url": actions_url, "context": context},
    }


def deadline_text(group: Group) -> str:
    return group.deadline.strftime("%H:%M UTC")


def progress_post(group: Group, signer: ContextSigner, actions_url: str) -> dict[str, Any]:
    """The "Movie night" post (message and props); its buttons only while the night is open."""
    lang = locale_of(group.locale)
    lines = progress_lines(group, lang, deadline_text(group))
    attachments: list[dict[str, Any]] = []
    if group.state == "open":
        actions = [
            _button(
                action,
                say(lang, f"group.{action}"),
                signer.sign_group(GroupContext(group.group_id, action, lang)),
                actions_url,
            )
            for action in ("join", "pick", "cancel")
        ]
        attachments.append({"fallback": say(lang, "group.title"), "actions": actions})
    return {
        "message": f"#### {say(lang, 'group.title')}\n{_markdown(lines)}",
        "props": {"attachments": attachments, "moodreel_item": marker(group.group_id, "group_progress")},
    }


def _votes(lang: str, n: int) -> str:
    return say(lang, "mattermost.group.vote_one") if n == 1 else say(lang, "mattermost.group.votes", votes=n)


def _title(rec: Recommendation, lang: str) -> str:
    title, _ = titles(rec, lang)
    return f"{title} ({rec.year})" if rec.year else title


def pick_post(
    group: Group,
    pick: GroupPick,
    file_ids: tuple[str, ...],
    signer: ContextSigner,
    actions_url: str,
    poster_for: PosterFor,
) -> dict[str, Any]:
    """The group's result with its vote (message, file_ids, props): also the body of a vote's `update`."""
    lang = locale_of(group.locale)
    attachments: list[dict[str, Any]] = []
    for rec in pick.result.recommendations:
        reason = rec.reason_ko if lang == "ko" and rec.reason_ko else rec.reason
        attachment: dict[str, Any] = {
            "fallback": f"{_title(rec, lang)}: {reason}",
            "color": rec.palette[0] if rec.palette else PICK_COLOUR,
            "title": _title(rec, lang),
            "text": reason,
        }
        link = rec.watcha_url or rec.tmdb_url
        if link:
            attachment["title_link"] = link
        poster = poster_for(rec)
        if poster:
            attachment["thumb_url"] = poster
        attachments.append(attachment)
    poll = group.poll
    if poll.options:
        by_id = {r.tmdb_id: r for r in pick.result.recommendations}
        tally = poll.tally()
        labels = [
            f"{i + 1}. {_title(by_id[o], lang) if o in by_id else o} · "
            + _votes(lang, tally[i] if i < len(tally) else 0)
            for i, o in enumerate(poll.options)
        ]
        host = group.host_name or group.host_id
        vote: dict[str, Any] = {"fallback": say(lang, "group.poll_question"), "color": PICK_COLOUR}
        if poll.state == "open":
            vote["text"] = say(lang, "group.vote_head", host=host)
            actions = [
                _button(
                    f"vote{i}",
                    label,
                    signer.sign_group(GroupContext(group.group_id, "vote", lang, i, file_ids)),
                    actions_url,
                )
                for i, label in enumerate(labels)
            ]
            close = GroupContext(group.group_id, "close", lang, -1, file_ids)
            actions.append(
                _button("close", say(lang, "group.close_vote"), signer.sign_group(close), actions_url)
            )
            vote["actions"] = actions
        else:
            vote["text"] = "\n".join([say(lang, "group.vote_closed"), *(f"- {label}" for label in labels)])
        attachments.append(vote)
    return {
        "message": _markdown(pick_lines(pick, lang))[:MESSAGE_MAX],
        "file_ids": list(file_ids),
        "props": {"attachments": attachments, "moodreel_item": marker(group.group_id, "group_pick")},
    }


# --- the courier's part ------------------------------------------------------------------------------


async def _post_once(
    courier: MattermostCourier, item: OutboxItem, channel_id: str, body: dict[str, Any]
) -> str:
    """Create the item's post unless the platform (or the item's scratch) already holds it."""
    from bot.mattermost.delivery import pending_post_id

    known = item.scratch.get("post_id")
    if isinstance(known, str) and known:
        return known
    mark = str(body["props"]["moodreel_item"])
    client = courier.client
    if item.retrying:
        since = int(item.created_at.timestamp() * 1000) - LOOKBACK_MS
        for post in await client.posts_since(channel_id, since):
            if (post.get("props") or {}).get("moodreel_item") == mark:
                log.info("%s was already posted (%s); not posting again", item.id, post.get("id"))
                await item.remember("post_id", str(post["id"]))
                return str(post["id"])
    created = await client.create_post(
        {**body, "channel_id": channel_id, "pending_post_id": pending_post_id(client.bot_user_id, mark)}
    )
    await item.remember("post_id", str(created["id"]))
    return str(created["id"])


def _group(item: OutboxItem) -> Group:
    raw = item.payload.get("group")
    if not isinstance(raw, dict):
        raise MattermostUnavailable("the item holds no group", 400)
    return Group.from_dict(raw)


async def deliver_group(courier: MattermostCourier, item: OutboxItem) -> str:
    """Post or edit what a `group_*` item says; returns the post's id."""
    adapter = courier.adapter
    groups = adapter.groups
    if groups is None:
        raise MattermostUnavailable("this adapter runs without movie nights", 400)
    group = _group(item)
    channel_id = group.channel_id
    await courier.client.login()  # the bot's user id names our pending_post_ids
    if item.kind == "group_progress":
        group = await groups.latest(group)
        body = progress_post(group, adapter.signer, adapter.actions_url)
        known = item.scratch.get("post_id") or group.message_id
        if isinstance(known, str) and known:
            await courier.client.patch_post(known, body)
            return known
        post_id = await _post_once(courier, item, channel_id, body)
        await groups.set_message(group.group_id, post_id)
        return post_id
    if item.kind == "group_pick":
        raw = item.payload.get("pick")
        if not isinstance(raw, dict):
            raise MattermostUnavailable("the item holds no pick", 400)
        pick = GroupPick.from_dict(raw)
        live = await groups.get(group.group_id)
        if live is not None and live.pick is not None:
            group = live.public()  # a retry shows the votes cast meanwhile
        known = item.scratch.get("post_id")
        file_ids: tuple[str, ...] = ()
        if not (isinstance(known, str) and known):
            file_ids = (await courier._card(item, channel_id, pick.result, locale_of(group.locale)),)
        body = pick_post(group, pick, file_ids, adapter.signer, adapter.actions_url, adapter.poster_for)
        return await _post_once(courier, item, channel_id, body)
    if item.kind == "group_winner":
        lang = locale_of(group.locale)
        winner = Recommendation.from_dict(dict(item.payload["winner"]))
        line = winner_line(
            _title(winner, lang),
            int(item.payload.get("votes") or 0),
            int(item.payload.get("total") or 0),
            lang,
        )
        body = {"message": line, "props": {"moodreel_item": marker(group.group_id, "group_winner")}}
        post_id = await _post_once(courier, item, channel_id, body)
        await _final_vote(courier, group)
        return post_id
    raise MattermostUnavailable(f"unknown group item kind {item.kind!r}", 400)


async def _final_vote(courier: MattermostCourier, group: Group) -> None:
    """The result post's vote, closed: final counts, no buttons (a patch: its card stays attached)."""
    adapter = courier.adapter
    outbox = adapter.sessions.outbox
    status = await outbox.status(outbox.item_id(group.group_id, "group_pick"))
    live = await adapter.groups.get(group.group_id) if adapter.groups else None
    if not status.post_id or live is None or live.pick is None:
        return
    closed = live.public()
    body = pick_post(closed, live.pick, (), adapter.signer, adapter.actions_url, adapter.poster_for)
    try:
        await courier.client.patch_post(status.post_id, {"message": body["message"], "props": body["props"]})
    except MattermostUnavailable as exc:  # the winner is posted; the old buttons only answer "closed"
        log.info("could not close the vote on %s: %s", status.post_id, exc)


def with_votes(group: Group, file_ids: tuple[str, ...], courier: MattermostCourier) -> dict[str, Any]:
    """The `update` a vote click answers with: the result post with the new counts (no one's vote)."""
    assert group.pick is not None
    adapter = courier.adapter
    return pick_post(
        group.public(), group.pick, file_ids, adapter.signer, adapter.actions_url, adapter.poster_for
    )
