"""More of the Discord movie night: a member streaming real face frames, the group's carousel (the
host turns its pages, before and after a restart), a channel without Send Polls, and the stand-in's
poll rules as Discord's docs give them (what the night's tests rely on)."""

from __future__ import annotations

from typing import Any

import aiohttp

from core.config import Settings
from core.storage.store import Store
from core.values.results import MoodResult
from tests.support.declare import declare_session
from tests.support.discord_group import ids, posts, start_night
from tests.support.discord_world import World, components, movie_title, open_page_world
from tests.support.standins.discord_server import (
    ALL_PERMISSIONS,
    SEND_POLLS,
    DiscordStandIn,
    Interaction,
    StandInUser,
)


def _original(w: World, inter: Interaction) -> str:
    return f"/webhooks/{w.standin.application_id}/{inter.token}/messages/@original"


async def _join(w: World, user: StandInUser, message_id: int, group_id: str) -> tuple[str, Interaction, int]:
    """Press Join; returns the private link, the interaction, and where the calls stood after it."""
    before = len(w.standin.calls)
    inter = await w.standin.click(user, message_id, f"moodreel:group:{group_id}:join")
    edit = await w.standin.wait_for_call("PATCH", _original(w, inter), "the link", after=before)
    [url] = [c["url"] for row in edit.payload["components"] for c in row["components"] if c.get("url")]
    return str(url), inter, len(w.standin.calls)


async def _press(w: World, user: StandInUser, message_id: int, custom_id: str) -> str:
    before = len(w.standin.calls)
    inter = await w.standin.click(user, message_id, custom_id)
    edit = await w.standin.wait_for_call("PATCH", _original(w, inter), "the answer", after=before)
    return str(edit.payload.get("content") or "")


async def _pick_result(w: World, group_id: str) -> MoodResult:
    assert w.services.groups is not None
    group = await w.services.groups.get(group_id)
    assert group is not None and group.pick is not None
    return group.pick.result


async def test_a_real_frames_member_gets_their_result_in_the_join_reply_and_the_host_turns_the_pages(
    store: Store, settings: Settings
) -> None:
    from tests.support.face_frames import face_frames
    from tests.support.ws_client import run_session

    async with open_page_world(store, settings) as w:
        await w.start_bot()
        host, minji, joon = w.alice, w.minji, w.standin.add_user("joon", "Joon")
        message_id, group_id = await start_night(w, host)

        url, inter, after = await _join(w, minji, message_id, group_id)
        baseline = face_frames(10, labels=["neutral"], seed=1)
        stimulus = face_frames(10, labels=["happy"], seed=2)
        final = await run_session(url, baseline, stimulus, fps=10)
        assert final["type"] == "result" and final["delivered"] is True
        # Her own result edits the private Join reply (as a personal /moodreel's does); nothing public.
        private = await w.standin.wait_for_call("PATCH", _original(w, inter), "minji's result", after=after)
        assert "'s mood" in private.payload["embeds"][0]["title"]
        assert not posts(w, "'s mood:"), "a member's own result is never posted in the channel"

        for user, feeling in ((host, "happy"), (joon, "sad")):
            member_url, _, _ = await _join(w, user, message_id, group_id)
            assert (await declare_session(member_url, feeling))["type"] == "result"
        await w.standin.wait_for(
            lambda: w.standin.messages[message_id]["embeds"][0]["description"].count("✅") == 3,
            "three done",
        )
        await _press(w, host, message_id, f"moodreel:group:{group_id}:pick")
        await w.standin.wait_for(lambda: posts(w, "which one shall we watch"), "the poll")
        [post] = posts(w, "The group's mood")
        assert "3 of 3 took part" in post["embeds"][0]["description"]
        result = await _pick_result(w, group_id)
        assert len(result.recommendations) >= 3
        post_id = int(post["id"])
        forward = components(post)[0][2]["custom_id"]
        assert forward.startswith(f"moodreel:{group_id}:{host.id}:")

        # Only the host turns the group's pages; anyone else is told privately.
        before = len(w.standin.calls)
        other = await w.standin.click(minji, post_id, forward)
        refusal = await w.standin.wait_for_call("POST", f"/interactions/{other.id}/", after=before)
        assert refusal.payload["type"] == 4 and refusal.payload["data"]["flags"] & 64
        assert movie_title(w.standin.messages[post_id]).startswith(result.recommendations[0].title)

        await w.standin.click(host, post_id, forward)
        await w.standin.wait_for(
            lambda: movie_title(w.standin.messages[post_id]).startswith(result.recommendations[1].title),
            "page 2",
        )
        assert "The group's mood" in w.standin.messages[post_id]["embeds"][0]["title"], "the head stays"

        # A new process knows nothing in memory: the page comes from the stored group.
        await w.stop_bot()
        await w.start_bot()
        await w.standin.click(host, post_id, components(w.standin.messages[post_id])[0][2]["custom_id"])
        await w.standin.wait_for(
            lambda: movie_title(w.standin.messages[post_id]).startswith(result.recommendations[2].title),
            "page 3 after the restart",
        )
        assert "The group's mood" in w.standin.messages[post_id]["embeds"][0]["title"]
        assert len(posts(w, "The group's mood")) == 1


async def test_without_send_polls_the_pick_is_posted_and_the_poll_left_out(
    store: Store, settings: Settings
) -> None:
    async with open_page_world(store, settings) as w:
        await w.start_bot()
        w.standin.channel_permissions[w.standin.channel_id] = ALL_PERMISSIONS & ~SEND_POLLS
        message_id, group_id = await start_night(w, w.alice)
        for user, feeling in ((w.alice, "happy"), (w.minji, "neutral")):
            url, _, _ = await _join(w, user, message_id, group_id)
            assert (await declare_session(url, feeling))["type"] == "result"
        await _press(w, w.alice, message_id, f"moodreel:group:{group_id}:pick")
        await w.standin.wait_for(
            lambda: "The pick is in" in w.standin.messages[message_id]["embeds"][0]["description"],
            "the message updated",
        )
        await w.standin.wait_for(lambda: posts(w, "The group's mood"), "the group's result")
        refused = [c for c in w.calls("POST", "/messages") if (c.payload or {}).get("poll")]
        assert [c.status for c in refused] == [403], "Discord refused the poll once, and it was not retried"
        assert refused[0].response["code"] == 50013
        assert not posts(w, "which one shall we watch")
        assert len(posts(w, "The group's mood")) == 1
        item = await w.services.sessions.outbox.status(
            w.services.sessions.outbox.item_id(group_id, "group_pick")
        )
        assert item, f"the pick counts as delivered: {item}"


async def test_the_standin_keeps_discords_poll_rules() -> None:
    async with DiscordStandIn() as standin, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bot {standin.token}"}
        messages = f"{standin.api_base}/channels/{standin.channel_id}/messages"

        def poll(question: str = "Which one?", answers: int = 3, text: str = "", hours: int = 24) -> Any:
            return {
                "question": {"text": question},
                "answers": [{"poll_media": {"text": text or f"Movie {i}"}} for i in range(answers)],
                "duration": hours,
            }

        async def post(payload: dict[str, Any]) -> tuple[int, Any]:
            async with http.post(messages, json=payload, headers=headers) as resp:
                return resp.status, await resp.json()

        for bad in (
            poll(question="q" * 301),
            poll(question=""),
            poll(answers=0),
            poll(answers=11),
            poll(text="t" * 56),
            {**poll(), "answers": [{"poll_media": {"text": ""}}]},
            poll(hours=0),
            poll(hours=769),
        ):
            status, body = await post({"poll": bad})
            assert (status, body["code"]) == (400, 50035), bad
        status, ok = await post({"poll": poll(question="q" * 300, answers=10, hours=768)})
        assert status == 200, ok
        assert ok["poll"]["results"] == {"is_finalized": False, "answer_counts": []}
        assert [a["answer_id"] for a in ok["poll"]["answers"]] == list(range(1, 11))

        status, plain = await post({"content": "not a poll"})
        assert status == 200
        async with http.patch(f"{messages}/{ok['id']}", json={"poll": poll()}, headers=headers) as resp:
            assert (resp.status, (await resp.json())["code"]) == (400, 520003)

        def expire(message_id: int | str) -> str:
            return f"{standin.api_base}/channels/{standin.channel_id}/polls/{message_id}/expire"

        async with http.post(expire(1234), headers=headers) as resp:
            assert (resp.status, (await resp.json())["code"]) == (404, 10008)
        async with http.post(expire(plain["id"]), headers=headers) as resp:
            assert (resp.status, (await resp.json())["code"]) == (400, 520006)
        voters = [standin.add_user(f"v{i}") for i in range(3)]
        standin.vote(int(ok["id"]), voters[0], 2)
        standin.vote(int(ok["id"]), voters[1], 2)
        standin.vote(int(ok["id"]), voters[2], 5)
        async with http.post(expire(ok["id"]), headers=headers) as resp:
            assert resp.status == 200
            results = (await resp.json())["poll"]["results"]
        assert results["is_finalized"] is True
        assert sorted((c["id"], c["count"]) for c in results["answer_counts"]) == [(2, 2), (5, 1)]

        standin.channel_permissions[standin.channel_id] = ALL_PERMISSIONS & ~SEND_POLLS
        status, body = await post({"poll": poll()})
        assert (status, body["code"]) == (403, 50013)


async def test_a_poll_that_failed_is_retried_without_posting_the_result_again(
    store: Store, settings: Settings
) -> None:
    async with open_page_world(store, settings) as w:
        await w.start_bot()
        message_id, group_id = await start_night(w, w.alice)
        for user, feeling in ((w.alice, "sad"), (w.minji, "sad")):
            url, _, _ = await _join(w, user, message_id, group_id)
            assert (await declare_session(url, feeling))["type"] == "result"
        w.standin.fail_next(
            lambda c: c.method == "POST" and bool((c.payload or {}).get("poll")),
            503,
            {"message": "Service Unavailable", "code": 0},
        )
        await _press(w, w.alice, message_id, f"moodreel:group:{group_id}:pick")
        await w.standin.wait_for(lambda: posts(w, "which one shall we watch"), "the poll, on the retry")
        polls = [c for c in w.calls("POST", "/messages") if (c.payload or {}).get("poll")]
        assert [c.status for c in polls] == [503, 200]
        assert len(posts(w, "The group's mood")) == 1, "the result was remembered, not posted again"
        assert len(posts(w, "which one shall we watch")) == 1


async def test_a_korean_night_speaks_korean_and_a_second_join_replaces_the_link(
    store: Store, settings: Settings
) -> None:
    from core.present.words import say

    async with open_page_world(store, settings) as w:
        await w.start_bot()
        before = len(w.standin.calls)
        inter = await w.standin.slash_command(w.alice, options={"mode": "group"}, locale="ko")
        await w.standin.wait_for_call("POST", f"/interactions/{inter.id}/", "the movie night", after=before)
        message_id = w.standin.interactions[inter.id].original_id
        assert message_id is not None
        message = w.standin.messages[message_id]
        assert message["embeds"][0]["title"] == say("ko", "group.title")
        labels = [c["label"] for row in message["components"] for c in row["components"]]
        assert labels == [say("ko", k) for k in ("group.join", "group.pick", "group.cancel")]
        [join_id] = [i for i in ids(message) if i.endswith(":join")]
        group_id = join_id.split(":")[2]

        answers = []
        for _ in range(2):
            start = len(w.standin.calls)
            click = await w.standin.click(w.minji, message_id, join_id, locale="ko")
            edit = await w.standin.wait_for_call("PATCH", _original(w, click), "the link", after=start)
            answers.append(str(edit.payload["content"]))
        assert say("ko", "group.rejoined") not in answers[0]
        assert say("ko", "group.rejoined") in answers[1]
        assert "영화의 밤" in answers[1]
        await w.standin.wait_for(
            lambda: (
                say("ko", "group.joined_head", n=1)
                in w.standin.messages[message_id]["embeds"][0]["description"]
            ),
            "one member, in Korean",
        )
        assert w.services.groups is not None
        group = await w.services.groups.get(group_id)
        assert group is not None and [m.user_id for m in group.members] == [str(w.minji.id)]
