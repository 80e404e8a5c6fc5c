"""Group movie nights against the real test mongod: members, catch-up, the pick, the vote, the outbox."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from core.catalogue.recommender import Recommender
from core.config import Settings
from core.delivery.outbox import Outbox, OutboxItem
from core.delivery.outcomes import Delivered, Outcome
from core.emotion.stats import declared_result
from core.group.service import GroupError, GroupService
from core.sessions.service import SessionService
from core.storage.store import Store, utcnow
from core.values.group import Group
from core.values.results import MoodResult
from tests.support.services import find_bytes, load_some_movies

PLATFORM = "mattermost"  # no courier in these tests: items wait in the outbox, where we look at them


@pytest_asyncio.fixture
async def groups(store: Store, settings: Settings) -> AsyncIterator[GroupService]:
    await load_some_movies(store, settings)
    sessions = SessionService(store, settings)
    recommender = Recommender(store, settings.recommender)
    service = GroupService(store, settings, sessions, recommender)
    try:
        yield service
    finally:
        await sessions.outbox.aclose()


async def start(groups: GroupService) -> Group:
    return await groups.start(PLATFORM, "chan", "host", "Hana", extra={"team_id": "t1"})


async def finish(groups: GroupService, session_id: str, feeling: str) -> None:
    """The member's session completed as the page completes it (SessionService.complete)."""
    doc = await groups.sessions.get(session_id)
    assert doc is not None
    result = MoodResult(session_id, declared_result(feeling), (), (), doc["origin"])
    await groups.sessions.complete(session_id, result)


async def joined(groups: GroupService, group_id: str, *feelings: str | None) -> list[str]:
    """Members u0, u1, ... join and finish with these feelings (None: they never finish)."""
    ids = []
    for i, feeling in enumerate(feelings):
        _, link, _ = await groups.join(group_id, f"u{i}", f"User {i}")
        ids.append(link.session_id)
        if feeling is not None:
            await finish(groups, link.session_id, feeling)
    return ids


async def outbox_items(groups: GroupService, kind: str) -> list[dict[str, Any]]:
    return [d async for d in groups.outbox.collection.find({"kind": kind})]


async def fresh(groups: GroupService, group_id: str) -> Group:
    group = await groups.get(group_id)
    assert group is not None
    return group


# --- starting and joining ------------------------------------------------------------------------


async def test_start_join_and_rejoin(groups: GroupService) -> None:
    group = await start(groups)
    assert group.state == "open" and group.host_name == "Hana" and group.members == ()
    assert group.deadline - group.created_at == dt.timedelta(minutes=groups.settings.group.pick_after_minutes)
    after, link, before = await groups.join(group.group_id, "u1", "Ann", locale="ko")
    assert not before and [m.user_id for m in after.members] == ["u1"]
    session = await groups.sessions.get(link.session_id)
    assert session is not None and session["state"] == "created"
    extra = session["origin"]["extra"]
    assert extra["group"] == group.group_id and extra["deliver"] == "private"
    assert session["origin"]["locale"] == "ko" and session["origin"]["channel_id"] == "chan"

    # Joining again: a fresh link replaces the earlier one, and the member count stays the same.
    again, second, before = await groups.join(group.group_id, "u1", "Ann K.")
    assert before and second.session_id != link.session_id and second.replaced
    assert len(again.members) == 1
    member = again.member("u1")
    assert member is not None and (member.session_id, member.name) == (second.session_id, "Ann K.")
    old = await groups.sessions.get(link.session_id)
    assert old is not None and (old["state"], old["reason"]) == ("expired", "replaced")
    # The public message was queued, newest state first, and shows no one's mood.
    [progress] = await outbox_items(groups, "group_progress")
    assert progress["state"] == "pending" and progress["revision"] == 2  # one per join
    assert [m["name"] for m in progress["payload"]["group"]["members"]] == ["Ann K."]


async def test_max_members(groups: GroupService) -> None:
    groups.settings = dataclasses.replace(
        groups.settings, group=dataclasses.replace(groups.settings.group, max_members=2)
    )
    group = await start(groups)
    await joined(groups, group.group_id, None, None)
    with pytest.raises(GroupError) as info:
        await groups.join(group.group_id, "u9", "Late")
    assert info.value.kind == "full" and info.value.values == {"max": 2}
    _, _, before = await groups.join(group.group_id, "u1", "User 1")  # a member may still rejoin
    assert before and len((await fresh(groups, group.group_id)).members) == 2
    with pytest.raises(GroupError, match="over"):
        await groups.join("no-such-group", "u1", "Ann")


# --- members finishing -----------------------------------------------------------------------------


async def test_a_completed_session_marks_the_member_done(groups: GroupService) -> None:
    group = await start(groups)
    [sid] = await joined(groups, group.group_id, "sad")
    raw = await groups.collection.find_one({"group_id": group.group_id})
    assert raw is not None and raw["members"][0]["state"] == "done"  # the hook, not the catch-up
    member = (await fresh(groups, group.group_id)).member("u0")
    assert member is not None and member.done and member.session_id == sid
    assert member.emotion == declared_result("sad")
    assert [m.emotion for m in (await fresh(groups, group.group_id)).public().members] == [None]


async def test_failed_and_expired_members(groups: GroupService, store: Store) -> None:
    group = await start(groups)
    failed, expired = await joined(groups, group.group_id, None, None)
    await groups.sessions.fail(failed, "camera trouble")
    await store.sessions.update_one({"session_id": expired}, {"$set": {"expires_at": utcnow()}})
    assert await groups.sessions.expire_stale() == 1
    states = {m.user_id: m.state for m in (await fresh(groups, group.group_id)).members}
    assert states == {"u0": "failed", "u1": "expired"}
    with pytest.raises(GroupError, match="none_done"):
        await groups.pick(group.group_id, "host")


async def test_catch_up_when_the_finished_hook_was_missed(groups: GroupService, store: Store) -> None:
    group = await start(groups)
    done, failed, running = await joined(groups, group.group_id, None, None, None)
    result = MoodResult(done, declared_result("happy"), (), (), {"platform": PLATFORM, "user_id": "u0"})
    # As if the process died between storing the session's outcome and telling the group.
    await store.sessions.update_one(
        {"session_id": done}, {"$set": {"state": "delivered", "result": result.to_dict()}}
    )
    await store.sessions.update_one({"session_id": failed}, {"$set": {"state": "failed"}})
    await store.sessions.update_one({"session_id": running}, {"$set": {"state": "stimulus"}})
    group = await fresh(groups, group.group_id)
    assert [m.state for m in group.members] == ["done", "failed", "joined"]
    assert group.members[0].emotion == declared_result("happy")
    raw = await groups.collection.find_one({"group_id": group.group_id})
    assert raw is not None and [m["state"] for m in raw["members"]] == ["done", "failed", "joined"]


async def test_a_catch_up_read_queues_the_message_it_changed(groups: GroupService, store: Store) -> None:
    """A read that catches a member up (a courier's, a page's) leaves the session's own hook nothing to
    record: the public message must still get the new state, or it would show "taking the check"."""
    group = await start(groups)
    [sid] = await joined(groups, group.group_id, None)
    [before] = await outbox_items(groups, "group_progress")
    doc = await groups.sessions.get(sid)
    assert doc is not None
    result = MoodResult(sid, declared_result("happy"), (), (), doc["origin"])
    # The page's complete() stored the outcome; someone reads the group before its hook runs.
    await store.sessions.update_one(
        {"session_id": sid}, {"$set": {"state": "analysed", "result": result.to_dict()}}
    )
    await fresh(groups, group.group_id)
    stored = await groups.sessions.get(sid)
    assert stored is not None
    await groups._session_finished(stored)  # the hook, late: nothing left to record
    [after] = await outbox_items(groups, "group_progress")
    assert after["revision"] == before["revision"] + 1
    [member] = Group.from_dict(after["payload"]["group"]).members
    assert member.state == "done" and member.emotion is None, "done, and no one's mood in public"


async def test_latest_shows_the_stored_state_over_an_older_copy(groups: GroupService) -> None:
    """Two changes can queue their copies out of order; the courier shows what the store holds."""
    group = await start(groups)
    old = await fresh(groups, group.group_id)
    await joined(groups, group.group_id, "sad")
    shown = await groups.latest(old)
    assert [(m.user_id, m.state, m.emotion) for m in shown.members] == [("u0", "done", None)]
    await groups.collection.delete_one({"group_id": group.group_id})
    assert await groups.latest(old) == old, "a night gone from the store shows its last copy"


# --- the pick ---------------------------------------------------------------------------------------


async def test_pick_is_for_the_host_and_needs_someone_done(groups: GroupService) -> None:
    group = await start(groups)
    await joined(groups, group.group_id, None)
    with pytest.raises(GroupError) as info:
        await groups.pick(group.group_id, "u0")
    assert info.value.kind == "not_host" and info.value.values == {"host": "Hana"}
    with pytest.raises(GroupError, match="none_done"):
        await groups.pick(group.group_id, "host")
    assert (await fresh(groups, group.group_id)).state == "open"
    assert await outbox_items(groups, "group_pick") == []


async def test_pick_makes_the_groups_result_and_queues_it_once(groups: GroupService) -> None:
    group = await start(groups)
    sids = await joined(groups, group.group_id, "happy", "happy", "sad", None)
    assert await groups.reveal(sids[2], True)  # the sad member shows theirs by name
    picked, status = await groups.pick(group.group_id, "host")
    assert picked.state == "picked" and status.state == "pending"  # no courier here: it waits
    pick = picked.pick
    assert pick is not None
    assert (pick.took_part, pick.joined, pick.counts) == (3, 4, {"happy": 2, "sad": 1})
    assert pick.revealed == (("User 2", "sad"),)
    assert pick.strategy == "average_without_misery" and pick.result.session_id == group.group_id
    recs = pick.result.recommendations
    assert recs and len(pick.explanations) == len(recs)
    assert all(e.of == 3 for e in pick.explanations)
    assert all(r.reason and r.reason_ko for r in recs)
    assert picked.poll.state == "open" and picked.poll.options == tuple(r.tmdb_id for r in recs[:3])
    [item] = await outbox_items(groups, "group_pick")
    assert item["payload"]["pick"]["counts"] == {"happy": 2, "sad": 1}
    assert all(m["emotion"] is None for m in item["payload"]["group"]["members"])
    # A second press reports how the first went; nothing is picked or queued again.
    again, status = await groups.pick(group.group_id, "host")
    assert again.pick == pick and status.state == "pending"
    assert len(await outbox_items(groups, "group_pick")) == 1
    with pytest.raises(GroupError, match="over"):
        await groups.join(group.group_id, "u7", "Too late")
    assert not await groups.reveal(sids[0], True), "after the pick a reveal no longer counts"
    assert await groups.reveal_state(sids[0]) == (False, False)
    assert await groups.reveal_state(sids[2]) == (False, True)
    assert await groups.reveal_state("not-a-member") is None


async def test_two_concurrent_picks_make_one_pick(groups: GroupService) -> None:
    group = await start(groups)
    await joined(groups, group.group_id, "happy", "neutral")
    (first, _), (second, _) = await asyncio.gather(
        groups.pick(group.group_id, "host"), groups.pick(group.group_id, None)
    )
    assert first.pick is not None and first.pick == second.pick
    assert len(await outbox_items(groups, "group_pick")) == 1
    stored = await fresh(groups, group.group_id)
    assert stored.pick == first.pick


async def test_cancel(groups: GroupService) -> None:
    group = await start(groups)
    await joined(groups, group.group_id, "happy")
    with pytest.raises(GroupError, match="not_host"):
        await groups.cancel(group.group_id, "u0")
    cancelled = await groups.cancel(group.group_id, "host")
    assert cancelled.state == "cancelled"
    for action in (
        groups.cancel(group.group_id, "host"),
        groups.pick(group.group_id, "host"),
        groups.join(group.group_id, "u5", "Eve"),
    ):
        with pytest.raises(GroupError, match="over"):
            await action
    [progress] = await outbox_items(groups, "group_progress")
    assert progress["payload"]["group"]["state"] == "cancelled"


async def test_run_due_picks_past_the_deadline_and_cancels_an_empty_night(groups: GroupService) -> None:
    with_member, empty, later = await start(groups), await start(groups), await start(groups)
    await joined(groups, with_member.group_id, "happy")
    await groups.join(empty.group_id, "u1", "Nobody done")
    past = utcnow() - dt.timedelta(seconds=1)
    await groups.collection.update_many(
        {"group_id": {"$in": [with_member.group_id, empty.group_id]}}, {"$set": {"deadline": past}}
    )
    assert await groups.run_due() == 2
    assert (await fresh(groups, with_member.group_id)).state == "picked"
    assert (await fresh(groups, empty.group_id)).state == "cancelled"
    assert (await fresh(groups, later.group_id)).state == "open"
    assert await groups.run_due() == 0


# --- the vote ---------------------------------------------------------------------------------------


async def picked_group(groups: GroupService) -> Group:
    group = await start(groups)
    await joined(groups, group.group_id, "happy", "sad")
    picked, _ = await groups.pick(group.group_id, "host")
    assert len(picked.poll.options) == 3
    return picked


async def test_vote_change_and_close(groups: GroupService) -> None:
    group = await start(groups)
    with pytest.raises(GroupError, match="vote_closed"):
        await groups.vote(group.group_id, "u0", 0)  # no poll before the pick
    group = await picked_group(groups)
    gid = group.group_id
    await groups.vote(gid, "u0", 0)
    await groups.vote(gid, "u1", 2)
    voted = await groups.vote(gid, "u0", 2)  # pressing again changes the vote
    assert voted.poll.votes == {"u0": 2, "u1": 2} and voted.poll.tally() == (0, 0, 2)
    assert voted.public().poll.votes == {} and voted.public().poll.counts == (0, 0, 2)
    for bad in (-1, 3):
        with pytest.raises(GroupError, match="vote_closed"):
            await groups.vote(gid, "u0", bad)
    with pytest.raises(GroupError, match="not_host"):
        await groups.close_poll(gid, "u0")
    closed, status = await groups.close_poll(gid, "host")
    assert status.state == "pending"
    assert (closed.poll.state, closed.poll.winner, closed.poll.counts) == ("closed", 2, (0, 0, 2))
    [item] = await outbox_items(groups, "group_winner")
    assert item["payload"]["winner"]["tmdb_id"] == group.poll.options[2]
    assert (item["payload"]["votes"], item["payload"]["total"]) == (2, 2)
    with pytest.raises(GroupError, match="vote_closed"):
        await groups.vote(gid, "u1", 0)
    again, _ = await groups.close_poll(gid, "host", counts=(9, 0, 0))  # closed: nothing changes
    assert again.poll.winner == 2 and len(await outbox_items(groups, "group_winner")) == 1


async def test_a_tie_goes_to_the_higher_pick_and_platform_counts_win(groups: GroupService) -> None:
    tied = await picked_group(groups)
    await groups.vote(tied.group_id, "u0", 2)
    await groups.vote(tied.group_id, "u1", 1)
    closed, _ = await groups.close_poll(tied.group_id, "host")
    assert closed.poll.counts == (0, 1, 1) and closed.poll.winner == 1
    # Discord counts votes in its own poll: those counts are used (padded, cut to the options).
    discord = await picked_group(groups)
    closed, _ = await groups.close_poll(discord.group_id, "host", counts=(0, 4, 4, 7))
    assert closed.poll.counts == (0, 4, 4) and closed.poll.winner == 1
    nobody = await picked_group(groups)
    closed, _ = await groups.close_poll(nobody.group_id, "host", counts=(1,))
    assert closed.poll.counts == (1, 0, 0) and closed.poll.winner == 0
    silent = await picked_group(groups)
    closed, _ = await groups.close_poll(silent.group_id, "host")
    assert closed.poll.counts == (0, 0, 0) and closed.poll.winner == 0  # no votes: the top pick


async def test_no_group_document_holds_bytes(groups: GroupService) -> None:
    group = await picked_group(groups)
    await groups.vote(group.group_id, "u0", 1)
    await groups.close_poll(group.group_id, "host")
    other = await start(groups)
    await joined(groups, other.group_id, "fear", None)
    docs = [d async for d in groups.collection.find({})]
    assert len(docs) == 2
    assert [p for d in docs for p in find_bytes(d)] == []
    items = [d async for d in groups.outbox.collection.find({"kind": {"$regex": "^group_"}})]
    assert items and [p for d in items for p in find_bytes(d)] == []


# --- Outbox.refresh -----------------------------------------------------------------------------------


class Recording:
    """Delivers everything, recording each payload; `hold` (when set) keeps an attempt waiting."""

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.hold = hold
        self.started = asyncio.Event()
        self.seen: list[tuple[int, dict[str, Any]]] = []

    async def deliver(self, item: OutboxItem) -> Outcome:
        self.seen.append((item.revision, dict(item.payload)))
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        return Delivered(f"post-{len(self.seen)}", "channel")


ORIGIN = {"platform": "discord", "user_id": "h", "channel_id": "c"}


async def test_a_refreshed_delivered_item_goes_pending_again_with_the_newest_payload(store: Store) -> None:
    outbox = Outbox(store)
    courier = Recording()
    outbox.register("discord", courier)
    item_id = await outbox.refresh("g1", "discord", "group_progress", ORIGIN, {"n": 1})
    assert (await outbox.status(item_id)).state == "pending"
    assert await outbox.work("discord") == 1
    assert (await outbox.status(item_id)).state == "delivered"
    await outbox.collection.update_one({"_id": item_id}, {"$set": {"scratch.message_id": "m1"}})
    await outbox.refresh("g1", "discord", "group_progress", ORIGIN, {"n": 2})
    doc = await outbox.get(item_id)
    assert doc is not None
    assert (doc["state"], doc["payload"], doc["revision"]) == ("pending", {"n": 2}, 2)
    assert doc["scratch"] == {"message_id": "m1"}, "the posted message's id is kept for the edit"
    assert len(doc["attempts"]) == 1
    assert await outbox.work("discord") == 1
    assert courier.seen == [(1, {"n": 1}), (2, {"n": 2})]
    assert (await outbox.status(item_id)).state == "delivered"
    assert await outbox.collection.count_documents({}) == 1


async def test_a_refresh_during_an_attempt_sends_again_afterwards(store: Store) -> None:
    outbox = Outbox(store)
    hold = asyncio.Event()
    courier = Recording(hold)
    outbox.register("discord", courier)
    item_id = await outbox.refresh("g1", "discord", "group_progress", ORIGIN, {"n": 1})
    sending = asyncio.create_task(outbox.work("discord", limit=1))
    await asyncio.wait_for(courier.started.wait(), 10)
    assert (await outbox.status(item_id)).state == "sending"
    await outbox.refresh("g1", "discord", "group_progress", ORIGIN, {"n": 2})
    await outbox.refresh("g1", "discord", "group_progress", ORIGIN, {"n": 3})
    doc = await outbox.get(item_id)
    assert doc is not None and (doc["state"], doc["payload"], doc["revision"]) == ("sending", {"n": 3}, 3)
    hold.set()
    assert await asyncio.wait_for(sending, 10) == 1
    doc = await outbox.get(item_id)
    assert doc is not None and doc["state"] == "pending", "the attempt sent an older payload"
    assert "lease" not in doc and "current" not in doc
    assert await outbox.work("discord") == 1
    assert courier.seen == [(1, {"n": 1}), (3, {"n": 3})]
    doc = await outbox.get(item_id)
    assert doc is not None and doc["state"] == "delivered"
    assert [a["outcome"] for a in doc["attempts"]] == ["delivered", "delivered"]
    assert await outbox.work("discord") == 0


class RefreshAtSettling:
    """The outbox's collection, except that one refresh lands just before the update that would
    mark the attempt delivered: the narrowest window between checking the revision and settling."""

    def __init__(self, outbox: Outbox) -> None:
        self._real, self._outbox, self.fired = outbox.collection, outbox, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def find_one_and_update(self, query: dict[str, Any], update: dict[str, Any], **kw: Any) -> Any:
        if not self.fired and update.get("$set", {}).get("state") == "delivered":
            self.fired = True
            self._outbox.collection = self._real  # the refresh itself goes straight to the store
            await self._outbox.refresh("g1", "discord", "group_progress", ORIGIN, {"n": 2})
        return await self._real.find_one_and_update(query, update, **kw)


async def test_a_refresh_landing_as_an_attempt_settles_is_sent_too(store: Store) -> None:
    outbox = Outbox(store)
    courier = Recording()
    outbox.register("discord", courier)
    item_id = await outbox.refresh("g1", "discord", "group_progress", ORIGIN, {"n": 1})
    racing = RefreshAtSettling(outbox)
    outbox.collection = racing  # type: ignore[assignment]
    assert await outbox.work("discord", limit=1) == 1
    assert racing.fired
    doc = await outbox.get(item_id)
    assert doc is not None and (doc["state"], doc["payload"]) == ("pending", {"n": 2}), doc
    assert await outbox.work("discord") == 1
    assert courier.seen == [(1, {"n": 1}), (2, {"n": 2})]
    assert (await outbox.status(item_id)).state == "delivered"


async def test_refresh_refuses_unknown_kinds(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown outbox kind"):
        await Outbox(store).refresh("g1", "discord", "gossip", ORIGIN, {})


async def test_a_user_id_that_would_become_a_mongodb_path_is_refused(groups: GroupService) -> None:
    group = await start(groups)
    await joined(groups, group.group_id, "happy", "sad")
    await groups.pick(group.group_id, "host")
    with pytest.raises(ValueError):
        await groups.vote(group.group_id, "a.$b", 0)
    assert (await fresh(groups, group.group_id)).poll.votes == {}
