"""A group movie night as values: its members, the group's pick with an explanation per movie, and
the poll. Frozen dataclasses with `to_dict`/`from_dict`, stored in MongoDB's `groups` collection.

What is stored of a member is what a single session stores: who they are, where their check stands,
and their aggregated EmotionResult (never frames). The public view (`Group.public()`) drops every
member's emotion: the group message shows who joined and who is done, and no one's mood.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.values.results import EmotionResult, MoodResult

GROUP_STATES = ("open", "picked", "cancelled")
MEMBER_STATES = ("joined", "done", "failed", "expired")
POLL_STATES = ("none", "open", "closed")


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Member:
    user_id: str
    name: str
    session_id: str
    joined_at: dt.datetime
    state: str = "joined"  # joined (taking the check) | done | failed | expired
    emotion: EmotionResult | None = None  # the member's aggregated result, once done
    reveal: bool = False  # the member chose to show their own mood by name in the group's result

    @property
    def done(self) -> bool:
        return self.state == "done" and self.emotion is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "session_id": self.session_id,
            "joined_at": self.joined_at,
            "state": self.state,
            "emotion": self.emotion.to_dict() if self.emotion else None,
            "reveal": self.reveal,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Member:
        raw = d.get("emotion")
        return cls(
            user_id=str(d["user_id"]),
            name=str(d.get("name") or ""),
            session_id=str(d.get("session_id") or ""),
            joined_at=_aware(d["joined_at"]),
            state=str(d.get("state") or "joined"),
            emotion=EmotionResult.from_dict(dict(raw)) if isinstance(raw, Mapping) else None,
            reveal=bool(d.get("reveal")),
        )


@dataclass(frozen=True)
class PickExplanation:
    """Why a movie is on the group's list, in numbers the presentation layer turns into words:
    "fits all five of you; best for the two happy ones"."""

    fits: int  # members it fits (their fit at least the misery threshold)
    of: int  # members who took part
    best_emotion: str | None  # the primary emotion of the members it fits best (None: one group)
    best_count: int  # how many members have that primary
    relaxed: bool = False  # no movie fitted everyone: this one leaves the worst-off member best off
    score: float = 0.0  # the group's aggregated fit, 0..1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PickExplanation:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class GroupPick:
    """The group's result: the group's mood (as a MoodResult, so it renders like one person's, with
    group explanations as the picks' reasons), the anonymous count of primaries, and who chose to
    show their own mood."""

    group_id: str
    strategy: str
    counts: dict[str, int]  # primary emotion -> members, most first
    took_part: int  # members whose check finished (or who declared a feeling)
    joined: int
    revealed: tuple[tuple[str, str], ...]  # (name, primary) of members who chose to show theirs
    result: MoodResult  # session_id = group_id; emotion = the group's mood
    explanations: tuple[PickExplanation, ...]  # one per result.recommendations entry

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "strategy": self.strategy,
            "counts": dict(self.counts),
            "took_part": self.took_part,
            "joined": self.joined,
            "revealed": [list(r) for r in self.revealed],
            "result": self.result.to_dict(),
            "explanations": [e.to_dict() for e in self.explanations],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GroupPick:
        return cls(
            group_id=str(d["group_id"]),
            strategy=str(d["strategy"]),
            counts={str(k): int(v) for k, v in dict(d["counts"]).items()},
            took_part=int(d["took_part"]),
            joined=int(d["joined"]),
            revealed=tuple((str(n), str(e)) for n, e in d.get("revealed") or ()),
            result=MoodResult.from_dict(dict(d["result"])),
            explanations=tuple(PickExplanation.from_dict(e) for e in d.get("explanations") or ()),
        )

    def poll_options(self, size: int) -> tuple[int, ...]:
        """The TMDB ids the vote is over: the top `size` picks."""
        return tuple(r.tmdb_id for r in self.result.recommendations[:size])


@dataclass(frozen=True)
class Poll:
    """The vote over the top picks. Discord counts votes in its native poll; Mattermost's votes are
    counted here (`votes`: user id -> option index)."""

    state: str = "none"  # none | open | closed
    options: tuple[int, ...] = ()  # TMDB ids
    votes: dict[str, int] = field(default_factory=dict)
    counts: tuple[int, ...] = ()  # the final counts, when closed
    winner: int | None = None  # index into options, when closed

    def tally(self) -> tuple[int, ...]:
        if self.counts:
            return self.counts
        out = [0] * len(self.options)
        for choice in self.votes.values():
            if 0 <= choice < len(out):
                out[choice] += 1
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "options": list(self.options),
            "votes": dict(self.votes),
            "counts": list(self.counts),
            "winner": self.winner,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Poll:
        if not d:
            return cls()
        winner = d.get("winner")
        return cls(
            state=str(d.get("state") or "none"),
            options=tuple(int(o) for o in d.get("options") or ()),
            votes={str(k): int(v) for k, v in dict(d.get("votes") or {}).items()},
            counts=tuple(int(c) for c in d.get("counts") or ()),
            winner=int(winner) if winner is not None else None,
        )


def winner_of(counts: tuple[int, ...]) -> int | None:
    """The option with the most votes; a tie goes to the higher-ranked pick (lower index)."""
    if not counts or max(counts) == 0:
        return 0 if counts else None
    return counts.index(max(counts))


@dataclass(frozen=True)
class Group:
    group_id: str
    platform: str
    channel_id: str
    host_id: str
    host_name: str
    locale: str
    state: str  # open | picked | cancelled
    created_at: dt.datetime
    deadline: dt.datetime  # the pick is made by itself then
    members: tuple[Member, ...] = ()
    message_id: str = ""  # the public "Movie night" message, once posted
    extra: dict[str, str] = field(default_factory=dict)  # platform details (guild, team, permissions)
    pick: GroupPick | None = None
    poll: Poll = field(default_factory=Poll)

    def member(self, user_id: str) -> Member | None:
        return next((m for m in self.members if m.user_id == str(user_id)), None)

    @property
    def finished(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.done)

    def public(self) -> Group:
        """The group as anyone in the channel may see it: no member's emotion, and the vote's counts
        but not who voted for what."""
        poll = dataclasses.replace(self.poll, votes={}, counts=self.poll.tally() if self.poll.options else ())
        return dataclasses.replace(
            self, members=tuple(dataclasses.replace(m, emotion=None) for m in self.members), poll=poll
        )

    def origin(self) -> dict[str, Any]:
        """Where the group's messages go, as an outbox origin (the host asked)."""
        return {
            "platform": self.platform,
            "user_id": self.host_id,
            "channel_id": self.channel_id,
            "user_name": self.host_name,
            "locale": self.locale,
            "declared_feeling": None,
            "extra": {**self.extra, "group": self.group_id},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "platform": self.platform,
            "channel_id": self.channel_id,
            "host_id": self.host_id,
            "host_name": self.host_name,
            "locale": self.locale,
            "state": self.state,
            "created_at": self.created_at,
            "deadline": self.deadline,
            "members": [m.to_dict() for m in self.members],
            "message_id": self.message_id,
            "extra": dict(self.extra),
            "pick": self.pick.to_dict() if self.pick else None,
            "poll": self.poll.to_dict(),
        }

    def to_json(self) -> dict[str, Any]:
        """to_dict with times as ISO strings (outbox payloads)."""

        def plain(v: Any) -> Any:
            if isinstance(v, dt.datetime):
                return v.isoformat()
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, list):
                return [plain(x) for x in v]
            return v

        return dict(plain(self.to_dict()))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Group:
        pick = d.get("pick")
        return cls(
            group_id=str(d["group_id"]),
            platform=str(d["platform"]),
            channel_id=str(d.get("channel_id") or ""),
            host_id=str(d["host_id"]),
            host_name=str(d.get("host_name") or ""),
            locale=str(d.get("locale") or "en"),
            state=str(d.get("state") or "open"),
            created_at=_aware(d["created_at"]),
            deadline=_aware(d["deadline"]),
            members=tuple(Member.from_dict(m) for m in d.get("members") or ()),
            message_id=str(d.get("message_id") or ""),
            extra={str(k): str(v) for k, v in dict(d.get("extra") or {}).items()},
            pick=GroupPick.from_dict(pick) if isinstance(pick, Mapping) else None,
            poll=Poll.from_dict(d.get("poll")),
        )
