"""Driving a movie night in the stand-in Discord: start it, press its buttons, find its posts."""

from __future__ import annotations

import re
from typing import Any

from core.group.service import GroupService
from core.present.words import emotion_name
from core.values.emotions import EMOTIONS
from tests.support.discord_world import World
from tests.support.standins.discord_server import StandInUser

# Every emotion as the model names it and as people read it (English and Korean): none may show before
# the pick.
_NAMES = {e for e in EMOTIONS} | {emotion_name(lang, e) for lang in ("en", "ko") for e in EMOTIONS}
EMOTION_WORDS = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _NAMES))) + r")\b", re.IGNORECASE)


def ids(message: dict[str, Any]) -> list[str]:
    return [c.get("custom_id", "") for row in message.get("components", []) for c in row["components"]]


async def start_night(w: World, host: StandInUser) -> tuple[int, str]:
    before = len(w.standin.calls)
    inter = await w.standin.slash_command(host, options={"mode": "group"})
    answer = await w.standin.wait_for_call(
        "POST", f"/interactions/{inter.id}/", "the movie night", after=before
    )
    assert answer.payload["type"] == 4
    assert not (answer.payload["data"].get("flags") or 0) & 64, "the Movie night message is public"
    message_id = w.standin.interactions[inter.id].original_id
    assert message_id is not None
    [join] = [i for i in ids(w.standin.messages[message_id]) if i.endswith(":join")]
    return message_id, join.split(":")[2]


async def click(w: World, user: StandInUser, message_id: int, custom_id: str) -> str:
    """Click a group button; returns the private answer's words."""
    before = len(w.standin.calls)
    inter = await w.standin.click(user, message_id, custom_id)
    edit = await w.standin.wait_for_call(
        "PATCH",
        f"/webhooks/{w.standin.application_id}/{inter.token}/messages/@original",
        "the answer",
        after=before,
    )
    ack = next(c for c in w.standin.calls[before:] if c.path.startswith(f"/interactions/{inter.id}/"))
    assert ack.payload["type"] == 5 and ack.payload["data"]["flags"] & 64, "answered privately"
    return str(edit.payload.get("content") or "")


async def join(w: World, user: StandInUser, message_id: int, group_id: str) -> str:
    """Press Join; returns the private link it answered with."""
    before = len(w.standin.calls)
    inter = await w.standin.click(user, message_id, f"moodreel:group:{group_id}:join")
    edit = await w.standin.wait_for_call(
        "PATCH",
        f"/webhooks/{w.standin.application_id}/{inter.token}/messages/@original",
        "the link",
        after=before,
    )
    [url] = [c["url"] for row in edit.payload["components"] for c in row["components"] if c.get("url")]
    assert "movie night" in edit.payload["content"]
    return str(url)


def groups(w: World) -> GroupService:
    assert w.services.groups is not None
    return w.services.groups


def description(w: World, message_id: int) -> str:
    return str(w.standin.messages[message_id]["embeds"][0]["description"])


def posts(w: World, pattern: str) -> list[dict[str, Any]]:
    out = []
    for m in w.standin.channel_messages():
        text = m.get("content", "") + " ".join(
            e.get("title", "") + e.get("description", "") for e in m["embeds"]
        )
        text += str((m.get("poll") or {}).get("question", {}).get("text", ""))
        if pattern in text:
            out.append(m)
    return out
