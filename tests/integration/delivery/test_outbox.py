"""The delivery outbox against the real test mongod: states, attempts, waits, leases, several processes."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

import pytest

from core.delivery.outbox import DeliveryStatus, Outbox, OutboxItem
from core.delivery.outcomes import (
    Delivered,
    Outcome,
    RefusedForGood,
    RetryLater,
    TryNext,
    wait_from_headers,
)
from core.storage.store import Store, utcnow

ORIGIN = {"platform": "discord", "user_id": "u1", "channel_id": "c1", "locale": "en", "extra": {}}


@dataclass
class Scripted:
    """A courier that answers from a script, one outcome per call, and records what it saw."""

    outcomes: list[Outcome]
    seen: list[OutboxItem] = field(default_factory=list)
    delay: float = 0.0

    async def deliver(self, item: OutboxItem) -> Outcome:
        self.seen.append(item)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.outcomes.pop(0)


async def _enqueue(outbox: Outbox, session_id: str = "s1", kind: str = "result") -> str:
    return await outbox.enqueue(session_id, "discord", kind, ORIGIN, {"reason": "x"})


async def test_delivered_once_with_the_attempt_recorded(store: Store) -> None:
    outbox = Outbox(store)
    courier = Scripted([Delivered("post-1", "dm")])
    outbox.register("discord", courier)
    settled: list[DeliveryStatus] = []

    async def hook(item: OutboxItem, status: DeliveryStatus) -> None:
        settled.append(status)

    outbox.on_settled(hook)
    item_id = await _enqueue(outbox)
    assert await _enqueue(outbox) == item_id, "enqueueing again is harmless"
    status = await outbox.deliver_now(item_id, wait=5)
    assert status and status == DeliveryStatus("delivered", "", "dm", "post-1") and settled == [status]
    assert await outbox.work("discord") == 0, "nothing is due any more"
    doc = await outbox.get(item_id)
    assert doc is not None and "lease" not in doc and "current" not in doc
    [attempt] = doc["attempts"]
    assert attempt["outcome"] == "delivered" and attempt["detail"] == "post-1"
    assert attempt["owner"] == outbox.owner and attempt["target"] == 0
    assert len(courier.seen) == 1 and not courier.seen[0].retrying


async def test_refusals_move_on_and_end_undeliverable_with_every_reason(store: Store) -> None:
    outbox = Outbox(store)
    courier = Scripted(
        [TryNext("channel: 403 50013"), TryNext("interaction: token expired"), RefusedForGood("dm: 50007")]
    )
    outbox.register("discord", courier)
    status = await outbox.deliver_now(await _enqueue(outbox), wait=5)
    assert status.state == "undeliverable" and not status
    assert status.reason == "channel: 403 50013; interaction: token expired; dm: 50007"
    assert [i.target_index for i in courier.seen] == [0, 1, 2]
    assert [i.refusals for i in courier.seen][-1] == ["channel: 403 50013", "interaction: token expired"]


async def test_retry_later_honours_the_platforms_wait_and_backs_off_otherwise(store: Store) -> None:
    outbox = Outbox(store)
    courier = Scripted(
        [RetryLater("429", after=30.0), RetryLater("down"), RetryLater("down"), Delivered("p")]
    )
    outbox.register("discord", courier, retry_base=2.0)
    item_id = await _enqueue(outbox)
    before = utcnow()
    assert (await outbox.deliver_now(item_id, wait=5)).state == "pending"
    doc = await outbox.get(item_id)
    assert doc is not None
    wait = (doc["not_before"] - before).total_seconds()
    assert 30.0 <= wait <= 31.0, "Retry-After is honoured, not shortened"
    assert await outbox.work("discord") == 0, "not due before the wait is over"
    waits = []
    for _ in range(2):
        await outbox.collection.update_one({"_id": item_id}, {"$set": {"not_before": utcnow()}})
        start = utcnow()
        await outbox.work("discord")
        doc = await outbox.get(item_id)
        assert doc is not None
        waits.append((doc["not_before"] - start).total_seconds())
    assert 2 * 2 * 0.8 <= waits[0] <= 2 * 2 * 1.2 + 0.5 and 2 * 4 * 0.8 <= waits[1] <= 2 * 4 * 1.2 + 0.5
    await outbox.collection.update_one({"_id": item_id}, {"$set": {"not_before": utcnow()}})
    await outbox.work("discord")
    assert await outbox.status(item_id) == DeliveryStatus("delivered", post_id="p")
    assert [a["outcome"] for a in doc["attempts"]] == ["retry", "retry", "retry"]
    assert courier.seen[-1].retrying, "the same target was tried before: a courier looks up first"


async def test_it_gives_up_after_a_day(store: Store) -> None:
    outbox = Outbox(store, give_up_after=dt.timedelta(seconds=0))
    outbox.register("discord", Scripted([RetryLater("Discord is down")]))
    status = await outbox.deliver_now(await _enqueue(outbox), wait=5)
    assert status.state == "undeliverable" and "Discord is down" in status.reason


async def test_a_note_queued_through_a_long_outage_is_not_posted_late(store: Store) -> None:
    """'Your link expired' hours late is noise; a result that late is still the user's result."""
    outbox = Outbox(store, note_max_age=dt.timedelta(hours=2))
    courier = Scripted([Delivered("p-result"), Delivered("p-fresh")])
    outbox.register("discord", courier)
    old_note = await _enqueue(outbox, "s1", "expired")
    old_result = await _enqueue(outbox, "s2", "result")
    fresh_note = await _enqueue(outbox, "s3", "failure")
    hours_ago = utcnow() - dt.timedelta(hours=3)
    await outbox.collection.update_many(
        {"_id": {"$in": [old_note, old_result]}}, {"$set": {"created_at": hours_ago}}
    )
    stale = await outbox.deliver_now(old_note, wait=5)
    assert stale.state == "undeliverable" and "stale" in stale.reason
    assert await outbox.deliver_now(old_result, wait=5) == DeliveryStatus("delivered", post_id="p-result")
    assert await outbox.deliver_now(fresh_note, wait=5) == DeliveryStatus("delivered", post_id="p-fresh")
    assert [i.session_id for i in courier.seen] == ["s2", "s3"], "the stale note never reached the courier"
    doc = await outbox.get(old_note)
    assert doc is not None and [a["outcome"] for a in doc["attempts"]] == ["refused"]


async def test_two_processes_on_one_database_deliver_each_item_once(store: Store) -> None:
    calls: list[str] = []

    class Slow:
        async def deliver(self, item: OutboxItem) -> Outcome:
            calls.append(item.id)
            await asyncio.sleep(0.05)
            return Delivered(f"post-{item.id}")

    a, b = Outbox(store, owner="a"), Outbox(store, owner="b")
    a.register("discord", Slow())
    b.register("discord", Slow())
    ids = [await _enqueue(a, f"s{i}") for i in range(12)]
    done = await asyncio.gather(
        a.work("discord"), b.work("discord"), a.deliver_now(ids[0], 5), b.deliver_now(ids[0], 5)
    )
    assert sorted(calls) == sorted(ids), "every item once, none twice"
    assert done[0] + done[1] + 1 == 12 or done[0] + done[1] == 12
    assert [(await a.status(i)).state for i in ids] == ["delivered"] * 12


async def test_a_worker_that_dies_mid_attempt_loses_its_lease_to_another(store: Store) -> None:
    """Process A takes the item and dies while posting; after its lease runs out, B takes over, sees
    the lost attempt, and its courier knows to look up before posting again."""
    dying = Outbox(store, owner="a", lease_seconds=0.5)

    async def killed(mine: dict[str, object]) -> None:
        """A killed process runs no code: unlike a graceful stop, it hands nothing back."""

    dying._hand_back = killed  # type: ignore[method-assign]
    hang = Scripted([Delivered("never")], delay=60)
    dying.register("discord", hang)
    item_id = await _enqueue(dying)
    task = asyncio.create_task(dying.deliver_now(item_id, wait=60))
    while not hang.seen:
        await asyncio.sleep(0.01)
    task.cancel()  # SIGKILL, as far as the outbox can tell: no outcome is ever written
    await dying.aclose()
    with pytest.raises(asyncio.CancelledError):
        await task
    other = Outbox(store, owner="b")
    courier = Scripted([Delivered("p1")])
    other.register("discord", courier)
    assert await other.work("discord") == 0, "the lease still holds"
    await asyncio.sleep(0.6)
    assert await other.work("discord") == 1
    [item] = courier.seen
    assert item.retrying and [a.outcome for a in item.attempts] == ["lost"]
    doc = await other.get(item_id)
    assert doc is not None and doc["state"] == "delivered"
    assert [a["owner"] for a in doc["attempts"]] == ["a", "b"]


async def test_a_late_worker_cannot_overwrite_the_new_owner(store: Store) -> None:
    """A stalled worker whose lease ran out finishes after another took over: its write is ignored."""
    release = asyncio.Event()

    class Stalled:
        async def deliver(self, item: OutboxItem) -> Outcome:
            await release.wait()
            return Delivered("late")

    slow = Outbox(store, owner="slow")
    slow.register("discord", Stalled())
    item_id = await _enqueue(slow)
    first = asyncio.create_task(slow.work("discord"))
    while (doc := await slow.get(item_id)) is None or "current" not in doc:
        await asyncio.sleep(0.01)
    past = utcnow() - dt.timedelta(seconds=1)  # as if the event loop had stalled past the lease
    await slow.collection.update_one({"_id": item_id}, {"$set": {"lease.until": past}})
    fast = Outbox(store, owner="fast")
    fast.register("discord", Scripted([Delivered("p2")]))
    assert await fast.work("discord") == 1
    release.set()
    await first
    assert (await fast.status(item_id)).post_id == "p2"
    doc = await fast.get(item_id)
    assert doc is not None and [a["outcome"] for a in doc["attempts"]] == ["lost", "delivered"]


async def test_remember_keeps_what_the_courier_made(store: Store) -> None:
    class Uploads:
        calls = 0

        async def deliver(self, item: OutboxItem) -> Outcome:
            Uploads.calls += 1
            if "file" not in item.scratch:
                await item.remember("file", "f1")
                return RetryLater("post failed after the upload")
            return Delivered(f"post with {item.scratch['file']}")

    outbox = Outbox(store)
    outbox.register("discord", Uploads())
    item_id = await _enqueue(outbox)
    await outbox.deliver_now(item_id, 5)
    await outbox.collection.update_one({"_id": item_id}, {"$set": {"not_before": utcnow()}})
    await outbox.work("discord")
    assert (await outbox.status(item_id)).post_id == "post with f1" and Uploads.calls == 2


async def test_reopen_tries_an_undeliverable_item_again(store: Store) -> None:
    outbox = Outbox(store)
    outbox.register("discord", Scripted([RefusedForGood("no permission"), Delivered("p")]))
    item_id = await _enqueue(outbox, kind="share")
    assert (await outbox.deliver_now(item_id, 5)).state == "undeliverable"
    assert await outbox.reopen(item_id) and not await outbox.reopen(item_id)
    assert await outbox.deliver_now(item_id, 5)


def test_waits_from_headers() -> None:
    now = 1_700_000_000.0
    assert wait_from_headers({"Retry-After": "7"}, now) == 7.0
    assert wait_from_headers({"retry-after": "Tue, 14 Nov 2023 22:13:30 GMT"}, now) == pytest.approx(10.0)
    assert wait_from_headers({"X-Ratelimit-Reset": "3"}, now) == 3.0  # Mattermost: seconds left
    assert wait_from_headers({"X-Ratelimit-Reset": str(now + 12)}, now) == pytest.approx(12.0)  # a UNIX time
    assert wait_from_headers({"X-RateLimit-Reset-After": "0.25"}, now) == 0.25  # Discord
    assert wait_from_headers({"Retry-After": "1e9999"}, now) is None
    assert wait_from_headers({"Retry-After": "999999"}, now) == 3600.0, "capped"
    assert wait_from_headers({"Retry-After": "soon"}, now) is None
    assert wait_from_headers({}, now) is None


async def test_a_cancel_landing_as_work_arrives_still_stops_the_wait(store: Store) -> None:
    """The adapter closes (cancels its delivery loop) in the very step an item wakes the loop: the
    cancel must win, or the loop lives on polling a closed database (Python 3.11's wait_for lost it)."""
    outbox = Outbox(store)
    waiting = asyncio.create_task(outbox.wait_for_work("discord", 30))
    await asyncio.sleep(0.01)  # it is waiting on the wake-up event now
    outbox.wake("discord")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert waiting.cancelled()


async def test_a_worker_stopped_mid_attempt_hands_the_item_back_at_once(store: Store) -> None:
    """The adapter closes (its loop is cancelled) while a courier is sending: the item is due again
    right away for the next worker, not after the two-minute lease, and the cut attempt is logged."""
    outbox = Outbox(store)
    courier = Scripted([Delivered("never", "dm"), Delivered("post-2", "dm")], delay=30)
    outbox.register("discord", courier)
    item_id = await _enqueue(outbox)
    working = asyncio.create_task(outbox.work("discord"))
    for _ in range(200):
        if courier.seen:
            break
        await asyncio.sleep(0.01)
    assert (await outbox.status(item_id)).state == "sending"
    working.cancel()
    with pytest.raises(asyncio.CancelledError):
        await working
    doc = await outbox.get(item_id)
    assert doc is not None and doc["state"] == "pending" and "lease" not in doc and doc["current"]
    courier.delay = 0
    courier.outcomes.pop(0)
    assert await Outbox(store).work("discord") == 0, "a process without a courier leaves it alone"
    second = Outbox(store)  # the restarted process
    second.register("discord", courier)
    assert await second.work("discord") == 1
    doc = await second.get(item_id)
    assert doc is not None and doc["state"] == "delivered"
    assert [a["outcome"] for a in doc["attempts"]] == ["lost", "delivered"]


class SlowToAnswer:
    """The outbox's collection, but a lease's answer comes back late: the store has applied it."""

    def __init__(self, real: object) -> None:
        self._real, self.applied = real, asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    async def find_one_and_update(self, *args: object, **kw: object) -> object:
        doc = await self._real.find_one_and_update(*args, **kw)  # type: ignore[attr-defined]
        self.applied.set()
        await asyncio.sleep(0.3)
        return doc


async def test_a_worker_stopped_while_the_store_leases_it_an_item_hands_it_back(store: Store) -> None:
    outbox = Outbox(store)
    courier = Scripted([Delivered("post-1", "dm")])
    outbox.register("discord", courier)
    item_id = await _enqueue(outbox)
    slow = SlowToAnswer(outbox.collection)
    outbox.collection = slow  # type: ignore[assignment]
    working = asyncio.create_task(outbox.work("discord"))
    await asyncio.wait_for(slow.applied.wait(), 5)
    working.cancel()
    with pytest.raises(asyncio.CancelledError):
        await working
    outbox.collection = slow._real  # type: ignore[assignment]
    doc = await outbox.get(item_id)
    assert doc is not None and doc["state"] == "pending" and "lease" not in doc, doc
    assert courier.seen == []
    assert await outbox.work("discord") == 1 and courier.seen
