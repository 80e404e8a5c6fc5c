"""Group movie nights: who joined, where each member's check stands, the pick, and the vote.

A night is one document in MongoDB's `groups` collection (core.values.group.Group). Each member takes
an ordinary private session (core.sessions) whose origin carries `extra.group`; when it finishes, the
member's aggregated EmotionResult is copied into the group (and on every read the group catches up
from the sessions, so a crash in between loses nothing). Frames never get near either.

Everything the chat sees goes through the delivery outbox, keyed by the group's id:
- `group_progress`: the public "Movie night" message, edited in place (Outbox.refresh: the newest
  state wins, and an edit that raced a newer change is sent again);
- `group_pick`: the group's result (mood, count, colours, picks with explanations) and its poll;
- `group_winner`: the poll's winner, once the host closes the vote.
Adapters render the payloads (a public snapshot: no member's emotion) with core.present.group.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, ReturnDocument

from core.config import Settings
from core.delivery.outbox import DeliveryStatus
from core.group.pick import make_pick
from core.sessions.origin import SessionLink, SessionOrigin
from core.sessions.service import SessionService
from core.sessions.tokens import new_session_id
from core.storage.store import Store, utcnow
from core.values.group import Group, Member, Poll, winner_of
from core.values.results import EmotionResult

if TYPE_CHECKING:
    from core.catalogue.recommender import Recommender

log = logging.getLogger(__name__)

DONE_STATES = ("analysed", "delivered", "undeliverable")
_SAFE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")  # Discord snowflakes, Mattermost ids
PICK_WAIT_SECONDS = 10.0  # how long a Pick press waits for the chat to accept the group's result


class GroupError(Exception):
    """Why a group action was refused; `kind` names its words (`group.{kind}` in core.present.words)."""

    def __init__(self, kind: str, **values: Any) -> None:
        super().__init__(kind)
        self.kind = kind
        self.values = values


class GroupService:
    def __init__(
        self, store: Store, settings: Settings, sessions: SessionService, recommender: Recommender
    ) -> None:
        self.collection = store.db["groups"]
        self.store = store
        self.settings = settings
        self.sessions = sessions
        self.recommender = recommender
        self.outbox = sessions.outbox
        self.pick_wait = PICK_WAIT_SECONDS
        self._indexed = False
        sessions.on_finished(self._session_finished)
        sessions.every_round(self.run_due)

    async def ensure_indexes(self) -> None:
        if self._indexed:
            return
        await self.collection.create_index("group_id", unique=True, name="group_id")
        await self.collection.create_index("members.session_id", name="member_session")
        await self.collection.create_index([("state", ASCENDING), ("deadline", ASCENDING)], name="due")
        await self.collection.create_index("purge_at", expireAfterSeconds=0, name="purge_at_ttl")
        self._indexed = True

    def _purge_at(self, at: dt.datetime) -> dt.datetime:
        return at + dt.timedelta(days=self.settings.sessions.retention_days)

    # --- starting and joining ---------------------------------------------------------------------

    async def start(
        self,
        platform: str,
        channel_id: str,
        host_id: str,
        host_name: str,
        locale: str = "en",
        extra: Mapping[str, str] | None = None,
    ) -> Group:
        """A new open movie night in `channel_id`; the adapter posts its message (set_message)."""
        await self.ensure_indexes()
        now = utcnow().replace(microsecond=0)
        deadline = now + dt.timedelta(minutes=self.settings.group.pick_after_minutes)
        group = Group(
            group_id=new_session_id(),
            platform=SessionOrigin(platform, host_id).platform,  # checks the platform name
            channel_id=str(channel_id),
            host_id=str(host_id),
            host_name=host_name,
            locale="ko" if str(locale).lower().startswith("ko") else "en",
            state="open",
            created_at=now,
            deadline=deadline,
            extra={str(k): str(v) for k, v in dict(extra or {}).items()},
        )
        await self.collection.insert_one({**group.to_dict(), "purge_at": self._purge_at(deadline)})
        return group

    async def set_message(self, group_id: str, message_id: str) -> None:
        """The public message's id, once posted (edits of the progress go to it)."""
        await self.collection.update_one({"group_id": group_id}, {"$set": {"message_id": str(message_id)}})

    async def join(
        self,
        group_id: str,
        user_id: str,
        user_name: str,
        locale: str = "en",
        extra: Mapping[str, str] | None = None,
    ) -> tuple[Group, SessionLink, bool]:
        """A private session link for the member (a fresh one replaces an earlier one); returns the
        group, the link and whether they had joined before. GroupError over / full otherwise."""
        group = await self.get(group_id)
        if group is None or group.state != "open":
            raise GroupError("over")
        before = group.member(user_id)
        if before is None and len(group.members) >= self.settings.group.max_members:
            raise GroupError("full", max=self.settings.group.max_members)
        origin = SessionOrigin(
            platform=group.platform,
            user_id=str(user_id),
            channel_id=group.channel_id,
            user_name=user_name,
            locale=locale,
            # A member's own result always goes to them privately, whatever the chat's deliver mode.
            extra={**dict(extra or {}), "group": group_id, "deliver": "private"},
        )
        link = await self.sessions.create(origin)
        member = Member(str(user_id), user_name, link.session_id, utcnow())
        if before is None:
            res = await self.collection.update_one(
                {
                    "group_id": group_id,
                    "state": "open",
                    "members.user_id": {"$ne": str(user_id)},
                    f"members.{self.settings.group.max_members - 1}": {"$exists": False},
                },
                {"$push": {"members": member.to_dict()}},
            )
        else:
            res = await self.collection.update_one(
                {"group_id": group_id, "state": "open", "members.user_id": str(user_id)},
                {
                    "$set": {
                        "members.$.session_id": link.session_id,
                        "members.$.state": "joined",
                        "members.$.emotion": None,
                        "members.$.name": user_name,
                    }
                },
            )
        if res.matched_count == 0:  # picked, cancelled or filled up meanwhile
            await self.sessions.fail(link.session_id, "the movie night is over")
            fresh = await self.get(group_id)
            raise GroupError(
                "full" if fresh and fresh.state == "open" else "over", max=self.settings.group.max_members
            )
        group = await self._changed(group_id)
        return group, link, before is not None

    # --- reading ------------------------------------------------------------------------------------

    async def get(self, group_id: str) -> Group | None:
        """The group, with members whose sessions finished meanwhile caught up."""
        group, caught_up = await self._read(group_id)
        if caught_up and group is not None:
            # This read caught a member up, so the session's own hook finds nothing to record: the
            # public message must hear of it from here.
            await self._queue(group)
        return group

    async def _read(self, group_id: str) -> tuple[Group | None, bool]:
        """The group after catching up finished members, and whether any was caught up."""
        doc = await self.collection.find_one({"group_id": group_id}, {"_id": 0, "purge_at": 0})
        if doc is None:
            return None, False
        group = Group.from_dict(doc)
        waiting = {m.session_id: m for m in group.members if m.state == "joined"}
        if not waiting:
            return group, False
        changed = False
        cursor = self.store.sessions.find(
            {
                "session_id": {"$in": list(waiting)},
                "state": {"$nin": ["created", "opened", "baseline", "stimulus"]},
            },
            {"_id": 0, "session_id": 1, "state": 1, "result": 1},
        )
        async for session in cursor:
            changed |= await self._record(group_id, session)
        if not changed:
            return group, False
        doc = await self.collection.find_one({"group_id": group_id}, {"_id": 0, "purge_at": 0})
        return (Group.from_dict(doc) if doc else None), True

    async def latest(self, group: Group) -> Group:
        """The newest public state of `group` for its message: refreshes queued by concurrent changes
        can land out of order, so a courier shows what the store holds now (or `group` if it is gone)."""
        live = await self.get(group.group_id)
        return live.public() if live is not None else group

    async def of_session(self, session_id: str) -> Group | None:
        doc = await self.collection.find_one({"members.session_id": session_id}, {"_id": 0, "group_id": 1})
        return await self.get(str(doc["group_id"])) if doc else None

    async def _record(self, group_id: str, session: Mapping[str, Any]) -> bool:
        """Copy a finished session's outcome into its member entry; True if it changed anything."""
        state = str(session.get("state"))
        result = session.get("result")
        sets: dict[str, Any]
        if state in DONE_STATES and isinstance(result, Mapping):
            emotion = EmotionResult.from_dict(dict(result["emotion"]))
            sets = {"members.$.state": "done", "members.$.emotion": emotion.to_dict()}
        elif state == "failed":
            sets = {"members.$.state": "failed"}
        elif state == "expired":
            sets = {"members.$.state": "expired"}
        else:
            return False
        res = await self.collection.update_one(
            {
                "group_id": group_id,
                "members": {"$elemMatch": {"session_id": session["session_id"], "state": "joined"}},
            },
            {"$set": sets},
        )
        return res.modified_count == 1

    async def _session_finished(self, session: Mapping[str, Any]) -> None:
        group_id = (session.get("origin") or {}).get("extra", {}).get("group")
        if not group_id:
            return
        if await self._record(str(group_id), session):
            await self._changed(str(group_id))

    # --- the message ---------------------------------------------------------------------------------

    async def _changed(self, group_id: str) -> Group:
        """Queue the public message's newest state (after every change anyone may see)."""
        group, _ = await self._read(group_id)  # queued once below, caught up or not
        if group is None:
            raise GroupError("over")
        await self._queue(group)
        return group

    async def _queue(self, group: Group) -> None:
        await self.outbox.refresh(
            group.group_id,
            group.platform,
            "group_progress",
            group.origin(),
            {"group": group.public().to_dict()},
        )

    def _host_only(self, group: Group, by: str) -> None:
        if str(by) != group.host_id:
            raise GroupError("not_host", host=group.host_name or group.host_id)

    # --- the host's actions --------------------------------------------------------------------------

    async def pick(self, group_id: str, by: str | None) -> tuple[Group, DeliveryStatus]:
        """Make the group's pick (the host pressed Pick, or `by` None: the deadline) and queue it with
        its poll; a second press reports how the first went."""
        group = await self.get(group_id)
        if group is None:
            raise GroupError("over")
        if by is not None:
            self._host_only(group, by)
        if group.state == "picked":
            return group, await self.outbox.status(self.outbox.item_id(group_id, "group_pick"))
        if group.state != "open":
            raise GroupError("over")
        if not group.finished:
            raise GroupError("none_done")
        pick = await make_pick(self.recommender, group, self.settings.group)
        poll = Poll("open", pick.poll_options(self.settings.group.poll_size))
        now = utcnow()
        doc = await self.collection.find_one_and_update(
            {"group_id": group_id, "state": "open"},
            {
                "$set": {
                    "state": "picked",
                    "pick": pick.to_dict(),
                    "poll": poll.to_dict(),
                    "picked_at": now,
                    "purge_at": self._purge_at(now),
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # another press (or the deadline) got there first
            return await self.pick_status(group_id)
        group = await self._changed(group_id)
        item_id = await self.outbox.enqueue(
            group_id,
            group.platform,
            "group_pick",
            group.origin(),
            {"group": group.public().to_dict(), "pick": pick.to_dict()},
        )
        return group, await self.outbox.deliver_now(item_id, self.pick_wait)

    async def pick_status(self, group_id: str) -> tuple[Group, DeliveryStatus]:
        group = await self.get(group_id)
        if group is None:
            raise GroupError("over")
        return group, await self.outbox.status(self.outbox.item_id(group_id, "group_pick"))

    async def cancel(self, group_id: str, by: str) -> Group:
        group = await self.get(group_id)
        if group is None:
            raise GroupError("over")
        self._host_only(group, by)
        now = utcnow()
        res = await self.collection.update_one(
            {"group_id": group_id, "state": "open"},
            {"$set": {"state": "cancelled", "cancelled_at": now, "purge_at": self._purge_at(now)}},
        )
        if res.modified_count == 0:
            raise GroupError("over")
        return await self._changed(group_id)

    async def run_due(self) -> int:
        """Pick for every open group past its deadline (one with nobody done is cancelled)."""
        await self.ensure_indexes()
        done = 0
        async for doc in self.collection.find(
            {"state": "open", "deadline": {"$lte": utcnow()}}, {"_id": 0, "group_id": 1, "host_id": 1}
        ):
            try:
                await self.pick(str(doc["group_id"]), None)
            except GroupError as exc:
                if exc.kind == "none_done":
                    with contextlib.suppress(GroupError):  # someone pressed Pick or Cancel meanwhile
                        await self.cancel(str(doc["group_id"]), str(doc["host_id"]))
            except Exception:  # one night's failure must not hold up the others; it is retried next round
                log.exception("the deadline pick of group %s failed", doc["group_id"])
                continue
            done += 1
        return done

    # --- members' choices -------------------------------------------------------------------------------

    async def reveal(self, session_id: str, show: bool) -> bool:
        """The member chose (on their result page) whether the group's result names their mood; True
        when it still counts (the pick has not been made)."""
        res = await self.collection.update_one(
            {"state": "open", "members.session_id": session_id},
            {"$set": {"members.$.reveal": bool(show)}},
        )
        return res.matched_count == 1

    async def reveal_state(self, session_id: str) -> tuple[bool, bool] | None:
        """(is the session a member's of an open night, does it reveal) or None if no group's."""
        doc = await self.collection.find_one(
            {"members.session_id": session_id}, {"_id": 0, "state": 1, "members.$": 1}
        )
        if doc is None:
            return None
        return doc["state"] == "open", bool(doc["members"][0].get("reveal"))

    async def vote(self, group_id: str, user_id: str, option: int) -> Group:
        """A vote in a poll counted here (Mattermost's buttons); pressing again changes it."""
        if not _SAFE_KEY.fullmatch(str(user_id)):  # it becomes a field name: no dots or dollars
            raise ValueError(f"unusable user id {user_id!r}")
        group = await self.get(group_id)
        if group is None or group.poll.state != "open":
            raise GroupError("vote_closed")
        if not 0 <= option < len(group.poll.options):
            raise GroupError("vote_closed")
        res = await self.collection.update_one(
            {"group_id": group_id, "poll.state": "open"}, {"$set": {f"poll.votes.{user_id}": int(option)}}
        )
        if res.matched_count == 0:
            raise GroupError("vote_closed")
        fresh = await self.get(group_id)
        assert fresh is not None
        return fresh

    async def close_poll(
        self, group_id: str, by: str, counts: tuple[int, ...] | None = None
    ) -> tuple[Group, DeliveryStatus]:
        """The host closes the vote: the winner (most votes; a tie goes to the higher pick) is
        announced through the outbox. `counts` come from the platform's own poll (Discord), else the
        votes counted here are used. A second press reports how the first went."""
        group = await self.get(group_id)
        if group is None or group.pick is None:
            raise GroupError("over")
        self._host_only(group, by)
        item_id = self.outbox.item_id(group_id, "group_winner")
        if group.poll.state == "closed":
            return group, await self.outbox.status(item_id)
        final = tuple(counts) if counts is not None else group.poll.tally()
        final = tuple(int(c) for c in final[: len(group.poll.options)])
        final = final + (0,) * (len(group.poll.options) - len(final))
        winner = winner_of(final)
        doc = await self.collection.find_one_and_update(
            {"group_id": group_id, "poll.state": "open"},
            {"$set": {"poll.state": "closed", "poll.counts": list(final), "poll.winner": winner}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            fresh = await self.get(group_id)
            assert fresh is not None
            return fresh, await self.outbox.status(item_id)
        closed = Group.from_dict(doc)
        assert closed.pick is not None and winner is not None
        tmdb_id = closed.poll.options[winner]
        movie = next(r for r in closed.pick.result.recommendations if r.tmdb_id == tmdb_id)
        payload = {
            "group": closed.public().to_dict(),
            "winner": movie.to_dict(),
            "votes": final[winner],
            "total": sum(final),
            "counts": list(final),
        }
        await self.outbox.enqueue(group_id, closed.platform, "group_winner", closed.origin(), payload)
        return closed, await self.outbox.deliver_now(item_id, self.pick_wait)
