"""Webcam sessions: signed single-use links, their state in MongoDB, and delivery of results.

A session is created by a chat adapter (or the standalone "try it" page) and handed to the user as a
link `{base_url}/s/{token}`. The token is `{session_id}.{expiry}.{signature}`: HMAC-SHA256 over the
session id and expiry with `settings.secret`, so a token cannot be forged or re-targeted, and expiry
can be checked without a database round trip. A link works once: the first browser to open it
*claims* the session (an atomic created -> opened update) and gets a claim secret; everybody else is
told the link was already used.

States: created -> opened -> baseline -> stimulus -> analysed -> delivered (or undeliverable, with
the reasons), or expired / failed with a reason. Frames never reach the store; only counters and the
final result do.

Delivery goes through the outbox (core.delivery.outbox), the only way anything reaches a chat:
`complete` stores the result, then queues it; `fail` and `expire_stale` queue a note for the user. An
adapter registers its courier (`outbox.register`) and runs `deliveries(platform)` while it is up; the
session is marked delivered only when the platform accepted the post.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import PyMongoError

from core.config import Settings
from core.delivery.outbox import DeliveryStatus, Outbox, OutboxItem
from core.delivery.outcomes import Delivered, Outcome, RefusedForGood, RetryLater
from core.sessions.errors import (
    AlreadyUsed,
    ExpiredToken,
    SessionError,
    SessionNotFound,
    SessionStateError,
)
from core.sessions.origin import SessionLink, SessionOrigin
from core.sessions.tokens import LinkSigner, hash_claim, new_session_id
from core.storage.store import Store, utcnow
from core.values.results import MoodResult

log = logging.getLogger(__name__)

OPEN_STATES = ("created", "opened", "baseline", "stimulus")  # not finished yet
ACTIVE_STATES = ("opened", "baseline", "stimulus")  # claimed by a browser
FINAL_STATES = ("analysed", "delivered", "undeliverable", "expired", "failed")

DELIVERY_WAIT_SECONDS = 10.0  # how long `complete` waits for the chat to accept the result
NOTE_WAIT = 3.0  # ... and `fail` for a failure note
DELIVERY_POLL_SECONDS = 1.0

ResultHook = Callable[[MoodResult], Awaitable[None]]
FailureHook = Callable[[str, "SessionOrigin", str], Awaitable[None]]
# Called once a session is finished, with its stored document (state analysed, failed or expired):
# how features built on sessions (a group movie night) hear that a member is done.
FinishedHook = Callable[[Mapping[str, Any]], Awaitable[None]]
Periodic = Callable[[], Awaitable[object]]


class SessionService:
    """Creates session links, checks tokens, tracks state in MongoDB and delivers results."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._signer = LinkSigner(settings.secret)
        self.outbox = Outbox(store, keep_for=dt.timedelta(days=settings.sessions.retention_days))
        self.outbox.on_settled(self._settled)
        self.delivery_wait = DELIVERY_WAIT_SECONDS
        self._hook_couriers: dict[str, _HookCourier] = {}
        self._finished: list[FinishedHook] = []
        self._periodic: list[Periodic] = []

    # --- listeners --------------------------------------------------------------------------------

    def on_finished(self, hook: FinishedHook) -> None:
        """Call `hook(session_doc)` when a session is analysed, fails or expires (best effort: a
        listener must also be able to catch up from the store, e.g. after a crash in between)."""
        self._finished.append(hook)

    def every_round(self, job: Periodic) -> None:
        """Run `job` in every round of `deliveries` (e.g. a group's pick deadline)."""
        self._periodic.append(job)

    async def _tell_finished(self, doc: Mapping[str, Any]) -> None:
        for hook in self._finished:
            try:
                await hook(doc)
            except Exception:
                log.exception("a session-finished listener failed for %s", doc.get("session_id"))

    # --- tokens ---------------------------------------------------------------------------------

    def make_token(self, session_id: str, expires_at: dt.datetime) -> str:
        return self._signer.make_token(session_id, expires_at)

    def verify_token(self, token: str, now: dt.datetime | None = None) -> str:
        """The session id the token was signed for (InvalidToken, ExpiredToken otherwise)."""
        return self._signer.verify_token(token, now or utcnow())

    # --- lifecycle ------------------------------------------------------------------------------

    async def create(self, origin: SessionOrigin) -> SessionLink:
        """A new session and its link; an open session of the same user is replaced."""
        now = utcnow()
        replaced = await self.store.sessions.update_many(
            {
                "origin.platform": origin.platform,
                "origin.user_id": origin.user_id,
                "state": {"$in": OPEN_STATES},
            },
            {
                "$set": {
                    "state": "expired",
                    "reason": "replaced",
                    "updated_at": now,
                    "purge_at": self.purge_at(now),
                },
                "$push": {"history": {"state": "expired", "at": now, "reason": "replaced"}},
            },
        )
        session_id = new_session_id()
        # Whole seconds, so the expiry in the token and in the store agree exactly.
        ttl = dt.timedelta(minutes=self.settings.sessions.link_ttl_minutes)
        expires_at = (now + ttl).replace(microsecond=0)
        await self.store.sessions.insert_one(
            {
                "session_id": session_id,
                "state": "created",
                "reason": None,
                "origin": origin.to_dict(),
                "created_at": now,
                "updated_at": now,
                "expires_at": expires_at,
                "history": [{"state": "created", "at": now}],
                "claim_hash": None,
                "result": None,
                "delivered": False,
                "stats": {},
            }
        )
        url = f"{self.settings.server.base_url}/s/{self.make_token(session_id, expires_at)}"
        return SessionLink(session_id, url, expires_at, replaced.modified_count > 0)

    async def get(self, session_id: str) -> dict[str, Any] | None:
        return await self.store.sessions.find_one({"session_id": session_id}, {"_id": 0, "claim_hash": 0})

    async def origin(self, session_id: str) -> SessionOrigin:
        doc = await self.get(session_id)
        if doc is None:
            raise SessionNotFound()
        return SessionOrigin.from_dict(doc["origin"])

    def refusal_for(self, doc: dict[str, Any] | None) -> SessionError:
        """The error that explains why a session cannot be opened (for the page)."""
        if doc is None:
            return SessionNotFound()
        state, reason = doc["state"], doc.get("reason") or ""
        if state == "expired" and reason == "replaced":
            return ExpiredToken("replaced")
        if state == "expired" or (state == "created" and doc["expires_at"] <= utcnow()):
            return ExpiredToken("expired")
        if state == "failed":
            return ExpiredToken("failed", reason=reason or "failed")
        return AlreadyUsed()

    async def claim(self, session_id: str) -> str:
        """Open the session for the first browser; returns the claim secret that browser must present.

        Atomic, so of two browsers racing, exactly one wins and the other gets AlreadyUsed.
        """
        now = utcnow()
        claim = secrets.token_urlsafe(24)
        run_for = dt.timedelta(seconds=self.settings.sessions.max_session_seconds + 30)
        doc = await self.store.sessions.find_one_and_update(
            {"session_id": session_id, "state": "created", "expires_at": {"$gt": now}},
            {
                "$set": {
                    "state": "opened",
                    "opened_at": now,
                    "updated_at": now,
                    "claim_hash": hash_claim(claim),
                    "expires_at": now + run_for,  # from now on the session's own time cap applies
                },
                "$push": {"history": {"state": "opened", "at": now}},
            },
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise self.refusal_for(await self.get(session_id))
        return claim

    async def check_claim(self, session_id: str, claim: str) -> dict[str, Any]:
        """The running session's document, when `claim` is the secret of the browser that opened it."""
        doc = await self.store.sessions.find_one({"session_id": session_id}, {"_id": 0})
        if doc is None:
            raise self.refusal_for(None)
        if doc.get("claim_hash") is None:
            if doc["state"] == "created":
                raise AlreadyUsed("open_first")
            raise self.refusal_for(doc)
        if not isinstance(claim, str) or not hmac.compare_digest(doc["claim_hash"], hash_claim(claim)):
            raise AlreadyUsed()
        if doc["state"] not in ACTIVE_STATES:
            raise self.refusal_for(doc)
        doc.pop("claim_hash", None)
        return doc

    async def finished_result(self, session_id: str, claim: str) -> MoodResult | None:
        """The stored result, for the browser that ran the session (a reload after the end), else None."""
        doc = await self.store.sessions.find_one(
            {
                "session_id": session_id,
                "state": {"$in": ["analysed", "delivered", "undeliverable"]},
                "result": {"$ne": None},
            },
            {"_id": 0, "claim_hash": 1, "result": 1},
        )
        if doc is None or not doc.get("claim_hash") or not isinstance(claim, str):
            return None
        if not hmac.compare_digest(doc["claim_hash"], hash_claim(claim)):
            return None
        return MoodResult.from_dict(doc["result"])

    async def set_state(self, session_id: str, state: str, **fields: Any) -> None:
        """Move a running session to `state` (baseline, stimulus); finished sessions are left alone."""
        if state not in ACTIVE_STATES:
            raise ValueError(f"set_state only moves running sessions (got {state!r})")
        now = utcnow()
        res = await self.store.sessions.update_one(
            {"session_id": session_id, "state": {"$in": ACTIVE_STATES}},
            {
                "$set": {"state": state, "updated_at": now, **fields},
                "$push": {"history": {"state": state, "at": now}},
            },
        )
        if res.matched_count == 0:
            doc = await self.get(session_id)
            if doc is None:
                raise SessionNotFound()
            raise SessionStateError(state=str(doc["state"]))

    async def record_stats(self, session_id: str, stats: Mapping[str, int | float]) -> None:
        """Frame counters (received, analysed, dropped, refused...): numbers only, never frames."""
        await self.store.sessions.update_one(
            {"session_id": session_id}, {"$set": {"stats": dict(stats), "updated_at": utcnow()}}
        )

    # --- retention ------------------------------------------------------------------------------

    def purge_at(self, finished_at: dt.datetime) -> dt.datetime:
        """When a session finished at `finished_at` is deleted: MongoDB's TTL index on `purge_at`
        removes the document (its result and counters) `sessions.retention_days` later."""
        return finished_at + dt.timedelta(days=self.settings.sessions.retention_days)

    async def schedule_purges(self) -> int:
        """Give finished sessions stored before retention existed their `purge_at`; returns how many."""
        cursor = self.store.sessions.find(
            {"state": {"$in": list(FINAL_STATES)}, "purge_at": {"$exists": False}},
            {"_id": 1, "updated_at": 1},
        )
        ops = [
            UpdateOne(
                {"_id": d["_id"]}, {"$set": {"purge_at": self.purge_at(d.get("updated_at") or utcnow())}}
            )
            async for d in cursor
        ]
        if ops:
            await self.store.sessions.bulk_write(ops, ordered=False)
        return len(ops)

    # --- delivery -------------------------------------------------------------------------------

    def on_result(self, platform: str, hook: ResultHook) -> None:
        """A plain function as `platform`'s courier for results: returning is a delivery, raising is
        a retry later. (Adapters register a courier with `outbox.register` instead.)"""
        self._hook_courier(platform).result_hook = hook

    def on_failure(self, platform: str, hook: FailureHook) -> None:
        """A plain function as `platform`'s courier for failure and expiry notes:
        hook(session_id, origin, reason)."""
        self._hook_courier(platform).failure_hook = hook

    def _hook_courier(self, platform: str) -> _HookCourier:
        courier = self._hook_couriers.setdefault(platform, _HookCourier(platform))
        self.outbox.register(platform, courier)
        return courier

    def has_result_hook(self, platform: str) -> bool:
        return self.outbox.has_courier(platform)

    async def complete(self, session_id: str, result: MoodResult) -> DeliveryStatus:
        """Store the result (state analysed), then put it in the outbox and attempt it at once when the
        platform's adapter runs in this process. Returns where the delivery stands after at most
        `delivery_wait` seconds (true when delivered).

        The result is stored before anything is sent, so a crash or a refusing platform loses nothing.
        """
        now = utcnow()
        doc = await self.store.sessions.find_one_and_update(
            {"session_id": session_id, "state": {"$in": OPEN_STATES}},
            {
                "$set": {
                    "state": "analysed",
                    "result": result.to_dict(),
                    "analysed_at": now,
                    "updated_at": now,
                    "purge_at": self.purge_at(now),
                },
                "$push": {"history": {"state": "analysed", "at": now}},
            },
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            existing = await self.get(session_id)
            if existing is None:
                raise SessionNotFound()
            raise SessionStateError(state=str(existing["state"]))
        await self._tell_finished(doc)
        platform = doc["origin"]["platform"]
        if platform == "web":
            return DeliveryStatus("none")  # the page itself is the recipient
        item_id = await self.outbox.enqueue(
            session_id, platform, "result", doc["origin"], {"result": result.to_dict()}
        )
        return await self.outbox.deliver_now(item_id, self.delivery_wait)

    async def share(self, session_id: str, details: Mapping[str, Any], wait: float) -> DeliveryStatus:
        """Post the public version of a delivered result where the command was used (the user pressed
        Share). Idempotent: pressing it again reports how the first press went."""
        doc = await self.store.sessions.find_one({"session_id": session_id}, {"_id": 0, "claim_hash": 0})
        if doc is None or not doc.get("result"):
            return DeliveryStatus("none", "the result is no longer stored")
        platform = doc["origin"]["platform"]
        payload = {"result": doc["result"], **details}
        item_id = await self.outbox.enqueue(session_id, platform, "share", doc["origin"], payload)
        await self.outbox.reopen(item_id, payload)  # refused before (no permission then): try again
        return await self.outbox.deliver_now(item_id, wait)

    async def delivery(self, session_id: str, kind: str = "result") -> DeliveryStatus:
        """Where the delivery of the session's result (or note, or share) stands."""
        return await self.outbox.status(self.outbox.item_id(session_id, kind))

    async def _settled(self, item: OutboxItem, status: DeliveryStatus) -> None:
        if item.kind != "result":
            return
        if status:
            await self.mark_delivered(item.session_id)
        else:
            await self.mark_undeliverable(item.session_id, status.reason)

    async def mark_delivered(self, session_id: str) -> None:
        now = utcnow()
        await self.store.sessions.update_one(
            {"session_id": session_id, "state": {"$in": ["analysed", "delivered"]}},
            {
                "$set": {"state": "delivered", "delivered": True, "delivered_at": now, "updated_at": now},
                "$push": {"history": {"state": "delivered", "at": now}},
            },
        )

    async def mark_undeliverable(self, session_id: str, reason: str) -> None:
        """Every way to the user's chat refused the result: recorded with the reasons."""
        now = utcnow()
        await self.store.sessions.update_one(
            {"session_id": session_id, "state": "analysed"},
            {
                "$set": {"state": "undeliverable", "reason": reason, "updated_at": now},
                "$push": {"history": {"state": "undeliverable", "at": now, "reason": reason}},
            },
        )

    async def undelivered(self, platform: str) -> list[MoodResult]:
        """Results of `platform` not delivered yet (still in the outbox), oldest first."""
        cursor = self.store.sessions.find(
            {"origin.platform": platform, "state": "analysed", "delivered": False, "result": {"$ne": None}},
            {"_id": 0, "result": 1},
        ).sort("analysed_at", 1)
        return [MoodResult.from_dict(d["result"]) async for d in cursor]

    async def fail(self, session_id: str, reason: str) -> None:
        """End an unfinished session with a reason, and tell the user through the outbox."""
        now = utcnow()
        doc = await self.store.sessions.find_one_and_update(
            {"session_id": session_id, "state": {"$in": OPEN_STATES}},
            {
                "$set": {
                    "state": "failed",
                    "reason": reason,
                    "updated_at": now,
                    "purge_at": self.purge_at(now),
                },
                "$push": {"history": {"state": "failed", "at": now, "reason": reason}},
            },
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return  # already finished: nothing to fail
        await self._tell_finished(doc)
        if doc["origin"]["platform"] != "web":
            item_id = await self.outbox.enqueue(
                session_id, doc["origin"]["platform"], "failure", doc["origin"], {"reason": reason}
            )
            await self.outbox.deliver_now(item_id, NOTE_WAIT)

    async def expire_stale(self) -> int:
        """Mark unfinished sessions past their expiry as expired and queue a note for each chat user;
        returns how many. Safe with several processes: each session is expired (and noted) once."""
        now = utcnow()
        total = 0
        for states, reason in ((["created"], "link expired"), (list(ACTIVE_STATES), "timed out")):
            due = {"state": {"$in": states}, "expires_at": {"$lte": now}}
            async for stale in self.store.sessions.find(due, {"_id": 0, "session_id": 1}):
                doc = await self.store.sessions.find_one_and_update(
                    {**due, "session_id": stale["session_id"]},
                    {
                        "$set": {
                            "state": "expired",
                            "reason": reason,
                            "updated_at": now,
                            "purge_at": self.purge_at(now),
                        },
                        "$push": {"history": {"state": "expired", "at": now, "reason": reason}},
                    },
                    return_document=ReturnDocument.AFTER,
                )
                if doc is None:
                    continue  # another process (or the page) got there first
                total += 1
                await self._tell_finished(doc)
                platform = doc["origin"]["platform"]
                if platform != "web":
                    await self.outbox.enqueue(
                        doc["session_id"], platform, "expired", doc["origin"], {"reason": reason}
                    )
        return total

    async def deliveries(self, platform: str, poll: float = DELIVERY_POLL_SECONDS) -> None:
        """Run while `platform`'s adapter is up: expire stale links (queueing their notes) and deliver
        every due outbox item, about every `poll` seconds, until cancelled."""
        while True:
            try:
                await self.expire_stale()
                for job in self._periodic:
                    await job()
                await self.outbox.work(platform)
            except PyMongoError as exc:  # the store is briefly away: say so in one line, try again
                log.warning("delivering %s items waits for the database: %s", platform, exc)
            except Exception:  # a bug: keep the traceback, and the loop must live on
                log.exception("delivering %s items failed; trying again shortly", platform)
            await self.outbox.wait_for_work(platform, poll)


class _HookCourier:
    """`on_result` / `on_failure` functions as a courier (tests and simple embedders use these)."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.result_hook: ResultHook | None = None
        self.failure_hook: FailureHook | None = None

    async def deliver(self, item: OutboxItem) -> Outcome:
        try:
            if item.kind == "result":
                result = item.result
                if self.result_hook is None or result is None:
                    return RetryLater(f"no result hook for {self.platform} in this process")
                await self.result_hook(result)
            elif item.kind in ("failure", "expired"):
                if self.failure_hook is None:
                    return RefusedForGood(f"no failure hook for {self.platform}")
                origin = SessionOrigin.from_dict(item.origin)
                await self.failure_hook(item.session_id, origin, str(item.payload.get("reason", "")))
            else:
                return RefusedForGood(f"{self.platform} hooks cannot share results")
        except Exception as exc:
            log.exception(
                "delivering session %s to %s failed; it stays undelivered", item.session_id, self.platform
            )
            return RetryLater(f"{type(exc).__name__}: {exc}")
        return Delivered("", "hook")
