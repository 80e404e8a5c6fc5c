"""The delivery outbox: every result, failure note, expiry note and shared result goes through it.

One MongoDB document per thing to deliver (`outbox` collection, `_id` = `{session_id}:{kind}`, so
enqueueing twice is harmless). States:

    pending -> sending -> delivered
                       -> undeliverable (reason)
    sending -> pending   (retry later: `not_before` set from the platform's wait or a backoff)

- **Lease.** A worker takes an item with one `find_one_and_update` that moves it from pending (due)
  or from sending-with-an-expired-lease to sending, with its owner id and a lease token. Every later
  write is conditional on that token, so of several MoodReel processes sharing one MongoDB exactly
  one works on an item at a time, and one that stalls past its lease loses the item to another.
- **Attempts** are recorded with their target, outcome and detail. An attempt that was started and
  never finished (the process died, or lost its lease) is recorded as `lost`; the next attempt at
  the same target has `item.retrying` set, and adapters look up what the platform already has before
  posting again (and make each post idempotent besides), so a crash between "posted" and "marked"
  never posts twice.
- **Outcomes** come from the adapter's one method, `deliver(item) -> Outcome` (core.delivery.outcomes):
  delivered, retry later (honouring the platform's wait), refused (try the next target), refused for
  good. An item is marked delivered only on `Delivered`, which an adapter returns only when the
  platform accepted the post.
- **Stale notes.** A failure or expiry note still undelivered NOTE_MAX_AGE after it was queued (the
  adapter was down) ends as undeliverable unposted; results and shares keep trying for GIVE_UP_AFTER.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from core.delivery.outcomes import Delivered, Outcome, RefusedForGood, RetryLater, TryNext
from core.storage.store import Store, utcnow
from core.values.results import MoodResult

log = logging.getLogger(__name__)

# A group movie night's kinds (core.group) are keyed by the group's id: its progress message (edited in
# place, see `refresh`), the group's pick with its poll, and the poll's winner.
GROUP_KINDS = ("group_progress", "group_pick", "group_winner")
KINDS = ("result", "failure", "expired", "share", *GROUP_KINDS)
SETTLED = ("delivered", "undeliverable")
LEASE_SECONDS = 120.0  # a worker that holds an item longer than this loses it to another
HAND_BACK_SECONDS = 2.0  # how long a stopping worker tries to hand its item back
ATTEMPT_SECONDS = 90.0  # one deliver() call; shorter than the lease, so a live worker keeps it
GIVE_UP_AFTER = dt.timedelta(hours=24)  # retrying longer than this ends as undeliverable
# A failure or expiry note is news for a while only: after a long outage MoodReel does not post
# "your link expired" hours later. Results and shares keep trying for GIVE_UP_AFTER.
NOTE_KINDS = ("failure", "expired")
NOTE_MAX_AGE = dt.timedelta(hours=2)
MAX_TARGETS = 8  # guards against an adapter that answers TryNext for ever
KEPT_ATTEMPTS = 50


def new_owner_id() -> str:
    """This process's id in leases: host, pid and a random part (pids are reused across restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Attempt:
    target: int  # the index into the adapter's list of targets
    outcome: str  # delivered | retry | next | refused | lost
    detail: str
    owner: str
    started_at: dt.datetime

    @classmethod
    def from_doc(cls, d: Mapping[str, Any]) -> Attempt:
        return cls(
            int(d.get("target", 0)),
            str(d.get("outcome", "")),
            str(d.get("detail", "")),
            str(d.get("owner", "")),
            _aware(d["started_at"]),
        )


async def _nothing(key: str, value: Any) -> None:
    raise RuntimeError("this item was not leased from an outbox")


@dataclass(frozen=True)
class OutboxItem:
    """One thing to deliver, as an adapter's `deliver` sees it (a snapshot taken under the lease)."""

    id: str
    session_id: str
    platform: str
    kind: str  # result | failure | expired | share | group_progress | group_pick | group_winner
    origin: Mapping[str, Any]  # the session's origin (SessionOrigin.to_dict())
    payload: Mapping[str, Any]  # kind-specific: {"result": ...}, {"reason": ...}, share details
    target_index: int = 0
    attempts: tuple[Attempt, ...] = ()
    scratch: Mapping[str, Any] = field(default_factory=dict)  # what the adapter remembered
    created_at: dt.datetime = field(default_factory=utcnow)
    revision: int = 0  # for refreshed items: which payload this is (see Outbox.refresh)
    _remember: Callable[[str, Any], Awaitable[None]] = field(default=_nothing, repr=False, compare=False)

    @property
    def retrying(self) -> bool:
        """An earlier attempt at this target was made: the platform may already hold the post."""
        return any(a.target == self.target_index for a in self.attempts)

    @property
    def result(self) -> MoodResult | None:
        raw = self.payload.get("result")
        return MoodResult.from_dict(dict(raw)) if isinstance(raw, Mapping) else None

    @property
    def refusals(self) -> list[str]:
        """Why earlier targets refused, in order."""
        return [a.detail for a in self.attempts if a.outcome == "next"]

    async def remember(self, key: str, value: Any) -> None:
        """Keep `value` with the item (e.g. an uploaded file's id), so a retry reuses it."""
        await self._remember(key, value)


class Courier(Protocol):
    """A chat adapter, as the outbox uses it."""

    async def deliver(self, item: OutboxItem) -> Outcome: ...


@dataclass(frozen=True)
class DeliveryStatus:
    """Where an item stands; true when it was delivered."""

    state: str  # pending | sending | delivered | undeliverable | none (nothing to deliver)
    reason: str = ""
    target: str = ""
    post_id: str = ""

    def __bool__(self) -> bool:
        return self.state == "delivered"

    @property
    def settled(self) -> bool:
        return self.state in SETTLED

    @classmethod
    def of(cls, doc: Mapping[str, Any] | None) -> DeliveryStatus:
        if doc is None:
            return cls("none")
        to = doc.get("delivered_to") or {}
        return cls(
            str(doc["state"]),
            str(doc.get("reason") or ""),
            str(to.get("target") or ""),
            str(to.get("post_id") or ""),
        )


SettledHook = Callable[[OutboxItem, DeliveryStatus], Awaitable[None]]


@dataclass(frozen=True)
class _Policy:
    courier: Courier
    retry_base: float
    retry_cap: float


class Outbox:
    def __init__(
        self,
        store: Store,
        *,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        attempt_seconds: float = ATTEMPT_SECONDS,
        give_up_after: dt.timedelta = GIVE_UP_AFTER,
        note_max_age: dt.timedelta = NOTE_MAX_AGE,
        keep_for: dt.timedelta = dt.timedelta(days=30),
    ) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = store.db["outbox"]
        self.owner = owner or new_owner_id()
        self.lease_seconds = lease_seconds
        self.attempt_seconds = min(attempt_seconds, lease_seconds * 0.75)
        self.give_up_after = give_up_after
        self.note_max_age = note_max_age
        self.keep_for = keep_for
        self._couriers: dict[str, _Policy] = {}
        self._settled: list[SettledHook] = []
        self._wakeups: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._indexed = False

    # --- set-up ---------------------------------------------------------------------------------

    async def ensure_indexes(self) -> None:
        if self._indexed:
            return
        await self.collection.create_index(
            [("platform", ASCENDING), ("state", ASCENDING), ("not_before", ASCENDING)], name="due"
        )
        await self.collection.create_index("session_id", name="session")
        await self.collection.create_index("purge_at", expireAfterSeconds=0, name="purge_at_ttl")
        self._indexed = True

    def register(
        self, platform: str, courier: Courier, *, retry_base: float = 2.0, retry_cap: float = 300.0
    ) -> None:
        """Deliver `platform`'s items in this process through `courier` (one per platform)."""
        self._couriers[platform] = _Policy(courier, retry_base, max(retry_cap, retry_base))
        self.wake(platform)

    def unregister(self, platform: str, courier: Courier | None = None) -> None:
        policy = self._couriers.get(platform)
        if policy is not None and (courier is None or policy.courier is courier):
            del self._couriers[platform]

    def has_courier(self, platform: str) -> bool:
        return platform in self._couriers

    def on_settled(self, hook: SettledHook) -> None:
        """Called once an item is delivered or undeliverable (by the process that settled it)."""
        self._settled.append(hook)

    def wake(self, platform: str) -> None:
        self._wakeups.setdefault(platform, asyncio.Event()).set()

    async def wait_for_work(self, platform: str, timeout: float) -> None:
        event = self._wakeups.setdefault(platform, asyncio.Event())
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that lands as the
        # event is set, and the delivery loop then outlives its adapter.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
        event.clear()

    async def aclose(self) -> None:
        """Cancel attempts still running in the background (their leases lapse; others retry)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- items ----------------------------------------------------------------------------------

    @staticmethod
    def item_id(session_id: str, kind: str) -> str:
        return f"{session_id}:{kind}"

    async def enqueue(
        self,
        session_id: str,
        platform: str,
        kind: str,
        origin: Mapping[str, Any],
        payload: Mapping[str, Any],
    ) -> str:
        """Add an item (idempotent: an item that exists is left as it is); returns its id."""
        if kind not in KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}")
        await self.ensure_indexes()
        item_id = self.item_id(session_id, kind)
        doc = {**self._fresh(session_id, platform, kind, origin, payload), "attempts": [], "scratch": {}}
        with contextlib.suppress(DuplicateKeyError):  # two processes enqueued at once: one wins
            await self.collection.update_one({"_id": item_id}, {"$setOnInsert": doc}, upsert=True)
        self.wake(platform)
        return item_id

    def _fresh(
        self, session_id: str, platform: str, kind: str, origin: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """An item's fields as they are when it is (again) waiting for its first attempt."""
        now = utcnow()
        return {
            "session_id": session_id,
            "platform": platform,
            "kind": kind,
            "origin": dict(origin),
            "payload": dict(payload),
            "state": "pending",
            "reason": None,
            "target_index": 0,
            "retries": 0,
            "not_before": now,
            "created_at": now,
            "updated_at": now,
            "purge_at": now + self.keep_for,
        }

    async def refresh(
        self,
        session_id: str,
        platform: str,
        kind: str,
        origin: Mapping[str, Any],
        payload: Mapping[str, Any],
    ) -> str:
        """Deliver `payload` as the newest version of an item that is edited in place (a group's
        progress message): a delivered or failed item becomes pending again with it, and one being
        sent right now is sent once more afterwards, because its revision moved on."""
        if kind not in KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}")
        await self.ensure_indexes()
        item_id = self.item_id(session_id, kind)
        for _ in range(5):  # only a race with a finishing attempt loops
            fresh = self._fresh(session_id, platform, kind, origin, payload)
            now = fresh["updated_at"]
            try:
                await self.collection.update_one(
                    {"_id": item_id, "state": {"$ne": "sending"}},
                    {"$set": fresh, "$inc": {"revision": 1}, "$setOnInsert": {"attempts": [], "scratch": {}}},
                    upsert=True,
                )
                break
            except DuplicateKeyError:  # it is being sent: hand the attempt the newer payload
                res = await self.collection.update_one(
                    {"_id": item_id, "state": "sending"},
                    {"$set": {"payload": dict(payload), "updated_at": now}, "$inc": {"revision": 1}},
                )
                if res.matched_count:
                    break
        self.wake(platform)
        return item_id

    async def reopen(self, item_id: str, payload: Mapping[str, Any] | None = None) -> bool:
        """Try an undeliverable item again from its first target, with a fresh payload if given (the
        user asked again, e.g. after the bot's permissions were fixed); True if it was undeliverable."""
        sets: dict[str, Any] = {
            "state": "pending",
            "target_index": 0,
            "retries": 0,
            "not_before": utcnow(),
            "reason": None,
        }
        if payload is not None:
            sets["payload"] = dict(payload)
        res = await self.collection.update_one({"_id": item_id, "state": "undeliverable"}, {"$set": sets})
        return res.modified_count == 1

    async def status(self, item_id: str) -> DeliveryStatus:
        return DeliveryStatus.of(await self.collection.find_one({"_id": item_id}))

    async def get(self, item_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": item_id})

    # --- working --------------------------------------------------------------------------------

    def _due(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "$or": [
                {"state": "pending", "not_before": {"$lte": now}},
                {"state": "sending", "lease.until": {"$lte": now}},
            ]
        }

    async def _lease(self, query: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
        now = utcnow()
        token = secrets.token_hex(8)
        leasing = asyncio.ensure_future(self._take(query, now, token))
        try:
            doc = await asyncio.shield(leasing)
        except asyncio.CancelledError:
            # Stopping while the store may be leasing an item to us: let it answer, then hand that
            # item back, or it would sit in "sending" under a token nobody knows until the lease ends.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(HAND_BACK_SECONDS):
                    taken = await leasing
                if taken is not None:
                    await self._hand_back({"_id": taken["_id"], "lease.token": token})
            raise
        return None if doc is None else (doc, token)

    async def _take(self, query: dict[str, Any], now: dt.datetime, token: str) -> dict[str, Any] | None:
        return await self.collection.find_one_and_update(
            {**query, **self._due(now)},
            {
                "$set": {
                    "state": "sending",
                    "lease": {
                        "owner": self.owner,
                        "token": token,
                        "until": now + dt.timedelta(seconds=self.lease_seconds),
                    },
                    "updated_at": now,
                }
            },
            sort=[("not_before", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    async def work(self, platform: str, limit: int = 100) -> int:
        """Deliver due items of `platform` one after another; returns how many were attempted."""
        policy = self._couriers.get(platform)
        if policy is None:
            return 0
        await self.ensure_indexes()
        done = 0
        while done < limit:
            leased = await self._lease({"platform": platform})
            if leased is None:
                break
            await self._run(*leased, policy)
            done += 1
        return done

    async def deliver_now(self, item_id: str, wait: float) -> DeliveryStatus:
        """Attempt the item at once in this process (when its platform has a courier here), and wait
        up to `wait` seconds for the outcome; the attempt carries on in the background after that."""
        doc = await self.collection.find_one({"_id": item_id}, {"platform": 1})
        if doc is None:
            return DeliveryStatus("none")
        policy = self._couriers.get(str(doc["platform"]))
        if policy is None:
            return await self.status(item_id)  # no courier in this process: another one delivers it
        deadline = asyncio.get_running_loop().time() + wait
        leased = await self._lease({"_id": item_id})
        if leased is not None:
            task = asyncio.create_task(self._run(*leased, policy), name=f"deliver-{item_id}")
            self._tasks.add(task)
            task.add_done_callback(self._done)
            await asyncio.wait({task}, timeout=wait)  # the attempt goes on in the background after
            return await self.status(item_id)
        status = await self.status(item_id)  # another worker holds it: wait for its outcome
        while status.state == "sending" and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            status = await self.status(item_id)
        return status

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The store went away mid-attempt, say: the lease lapses and the item is retried.
            log.error("a delivery attempt failed: %r; it will be retried", task.exception())

    # --- one leased item --------------------------------------------------------------------------

    def _snapshot(self, doc: Mapping[str, Any], token: str) -> OutboxItem:
        item_id = str(doc["_id"])

        async def remember(key: str, value: Any) -> None:
            await self.collection.update_one(
                {"_id": item_id, "lease.token": token}, {"$set": {f"scratch.{key}": value}}
            )

        return OutboxItem(
            id=item_id,
            session_id=str(doc["session_id"]),
            platform=str(doc["platform"]),
            kind=str(doc["kind"]),
            origin=dict(doc.get("origin") or {}),
            payload=dict(doc.get("payload") or {}),
            target_index=int(doc.get("target_index") or 0),
            attempts=tuple(Attempt.from_doc(a) for a in doc.get("attempts") or []),
            scratch=dict(doc.get("scratch") or {}),
            created_at=_aware(doc["created_at"]),
            revision=int(doc.get("revision") or 0),
            _remember=remember,
        )

    async def _run(self, doc: dict[str, Any], token: str, policy: _Policy) -> None:
        try:
            await self._run_leased(doc, token, policy)
        except asyncio.CancelledError:
            await self._hand_back({"_id": doc["_id"], "lease.token": token})
            raise

    async def _hand_back(self, mine: dict[str, Any]) -> None:
        """A graceful stop (the adapter closing) mid-attempt: the item is due again at once, instead of
        waiting out the lease. The unfinished attempt stays recorded in `current`, so the next one
        logs it as lost; couriers post idempotently, so a half-made post is not made twice."""
        try:
            async with asyncio.timeout(HAND_BACK_SECONDS):
                await self.collection.update_one(
                    mine, {"$set": {"state": "pending", "not_before": utcnow()}, "$unset": {"lease": ""}}
                )
        except (TimeoutError, PyMongoError) as exc:  # the store is away too: the lease lapses instead
            log.warning("could not hand back %s (%s); it is retried when its lease lapses", mine["_id"], exc)

    async def _run_leased(self, doc: dict[str, Any], token: str, policy: _Policy) -> None:
        mine = {"_id": doc["_id"], "lease.token": token}
        current = doc.get("current")
        if current:  # an attempt that never finished: its process died or lost the lease
            lost = {
                **current,
                "outcome": "lost",
                "detail": "the attempt never finished (process stopped or lease expired)",
            }
            await self.collection.update_one(
                mine,
                {
                    "$push": {"attempts": {"$each": [lost], "$slice": -KEPT_ATTEMPTS}},
                    "$unset": {"current": ""},
                },
            )
            doc["attempts"] = [*(doc.get("attempts") or []), lost]
        first = self._snapshot(doc, token)
        if first.kind in NOTE_KINDS and utcnow() - first.created_at > self.note_max_age:
            stale = RefusedForGood(f"a {first.kind} note is stale after {self.note_max_age}; not posted")
            attempt = {"target": first.target_index, "owner": self.owner, "started_at": utcnow()}
            await self._finish(first, mine, attempt, stale, policy, 0)
            return
        for _ in range(MAX_TARGETS):
            item = self._snapshot(doc, token)
            started = utcnow()
            attempt = {"target": item.target_index, "owner": self.owner, "started_at": started}
            res = await self.collection.update_one(mine, {"$set": {"current": attempt}})
            if res.matched_count == 0:
                log.warning("lost the lease on %s before attempting it", item.id)
                return
            outcome = await self._attempt(policy.courier, item)
            if isinstance(outcome, TryNext):
                record = {**attempt, "outcome": "next", "detail": outcome.reason}
                moved = await self.collection.find_one_and_update(
                    mine,
                    {
                        "$inc": {"target_index": 1},
                        "$push": {"attempts": {"$each": [record], "$slice": -KEPT_ATTEMPTS}},
                        "$unset": {"current": ""},
                        "$set": {"updated_at": utcnow()},
                    },
                    return_document=ReturnDocument.AFTER,
                )
                if moved is None:
                    log.warning("lost the lease on %s while moving to the next target", item.id)
                    return
                doc = moved
                continue
            await self._finish(item, mine, attempt, outcome, policy, int(doc.get("retries") or 0))
            return
        await self._finish(
            self._snapshot(doc, token),
            mine,
            {"target": int(doc.get("target_index") or 0), "owner": self.owner, "started_at": utcnow()},
            RefusedForGood(f"more than {MAX_TARGETS} targets refused"),
            policy,
            0,
        )

    async def _attempt(self, courier: Courier, item: OutboxItem) -> Outcome:
        try:
            async with asyncio.timeout(self.attempt_seconds):  # a cancel is never lost (see above)
                return await courier.deliver(item)
        except TimeoutError:
            return RetryLater(f"the attempt took longer than {self.attempt_seconds:g} s")
        except Exception as exc:  # a bug or an unexpected error: keep the item, try again later
            log.exception("delivering %s raised; it will be retried", item.id)
            return RetryLater(f"{type(exc).__name__}: {exc}")

    def _delay(self, outcome: RetryLater, retries: int, policy: _Policy) -> float:
        if outcome.after is not None:
            return max(outcome.after, 0.0) + random.uniform(0.0, 0.25)  # the platform's own wait
        backoff = min(policy.retry_cap, policy.retry_base * 2 ** min(retries, 30))
        return backoff * random.uniform(0.8, 1.2)

    async def _finish(
        self,
        item: OutboxItem,
        mine: dict[str, Any],
        attempt: dict[str, Any],
        outcome: Outcome,
        policy: _Policy,
        retries: int,
    ) -> None:
        now = utcnow()
        state: str
        sets: dict[str, Any] = {"updated_at": now}
        if isinstance(outcome, Delivered):
            state, detail = "delivered", outcome.post_id
            sets["delivered_to"] = {"target": outcome.target, "post_id": outcome.post_id, "at": now}
            kind = "delivered"
        elif isinstance(outcome, RetryLater):
            detail, kind = outcome.reason, "retry"
            if now - item.created_at > self.give_up_after:
                state = "undeliverable"
                sets["reason"] = f"gave up after {self.give_up_after}: {outcome.reason}"
            else:
                state = "pending"
                sets["not_before"] = now + dt.timedelta(seconds=self._delay(outcome, retries, policy))
                sets["retries"] = retries + 1
        else:  # RefusedForGood (TryNext never reaches here)
            state, detail, kind = "undeliverable", outcome.reason, "refused"
            sets["reason"] = "; ".join([*item.refusals, outcome.reason])
        sets["state"] = state
        record = {**attempt, "outcome": kind, "detail": detail}
        settle = {
            "$set": sets,
            "$unset": {"current": "", "lease": ""},
            "$push": {"attempts": {"$each": [record], "$slice": -KEPT_ATTEMPTS}},
        }
        if item.revision and state != "pending":
            # A refreshed item settles only if no newer payload arrived during the attempt, checked in
            # the same update that settles it: a refresh landing between a check and the update
            # would otherwise be marked delivered unsent.
            doc = await self.collection.find_one_and_update(
                {**mine, "revision": item.revision}, settle, return_document=ReturnDocument.AFTER
            )
            if doc is None:
                moved = await self.collection.find_one_and_update(
                    {**mine, "revision": {"$ne": item.revision}},
                    {
                        "$set": {"state": "pending", "not_before": now, "target_index": 0, "updated_at": now},
                        "$unset": {"current": "", "lease": ""},
                        "$push": {"attempts": {"$each": [record], "$slice": -KEPT_ATTEMPTS}},
                    },
                )
                if moved is not None:
                    self.wake(item.platform)
                    return
        else:
            doc = await self.collection.find_one_and_update(
                mine, settle, return_document=ReturnDocument.AFTER
            )
        if doc is None:
            log.warning("lost the lease on %s before recording %s", item.id, kind)
            return
        status = DeliveryStatus.of(doc)
        if state == "pending":
            log.info("%s: %s; retrying at %s", item.id, detail, sets["not_before"].isoformat())
            return
        if state == "undeliverable":
            log.error("%s is undeliverable: %s", item.id, status.reason)
        else:
            log.info(
                "%s delivered (%s %s)",
                item.id,
                outcome.target if isinstance(outcome, Delivered) else "",
                detail,
            )
        for hook in self._settled:
            try:
                await hook(item, status)
            except Exception:
                log.exception("an outbox settled hook failed for %s", item.id)
