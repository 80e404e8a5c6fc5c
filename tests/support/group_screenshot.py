"""`python -m tests.support.group_screenshot [OUT.png]`: run a real movie night against the stand-in
Discord (the real bot, web app, MongoDB and WebSocket sessions) and screenshot what the channel got,
laid out by tests.support.chat_preview in headless Chromium. The README's docs/group-night.png.

It starts its own mongod (as `moodreel serve` does without MONGODB_URI) in a temporary folder.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from core.config import load_settings
from core.storage.store import open_store
from tests.support.chat_preview import discord_page
from tests.support.declare import declare_session
from tests.support.discord_group import join, posts, start_night
from tests.support.discord_world import World, open_page_world
from tests.support.stage_browser import stage_browser


async def night(w: World) -> list[dict[str, Any]]:
    """Five members, one still taking the check at the pick, four votes; returns the messages to
    show: the group message as it was before the pick, then the result and the poll."""
    await w.start_bot()
    names = ["Jiwoo", "Minji", "Alex", "Sam", "Hana"]
    users = [w.alice, *(w.standin.add_user(n.lower(), n) for n in names[1:])]
    message_id, group_id = await start_night(w, users[0])
    for user, feeling in zip(users, ["happy", "happy", "happy", "sad", None], strict=True):
        url = await join(w, user, message_id, group_id)
        if feeling:
            await declare_session(url, feeling)

    def shown() -> str:
        return str(w.standin.messages[message_id]["embeds"][0]["description"])

    await w.standin.wait_for(lambda: shown().count("✅") == 4 and "Hana" in shown(), "the progress")
    before = copy.deepcopy(w.standin.messages[message_id])
    groups = w.services.groups
    assert groups is not None
    await groups.pick(group_id, str(users[0].id))
    await w.standin.wait_for(lambda: posts(w, "which one shall we watch"), "the poll")
    [poll] = posts(w, "which one shall we watch")
    for user, answer in zip(users[:4], [1, 1, 2, 1], strict=True):
        w.standin.vote(int(poll["id"]), user, answer)
    return [before, posts(w, "The group's mood")[0], w.standin.messages[int(poll["id"])]]


async def capture(out: Path) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(env={"MOODREEL_SECRET": "screenshot", "MOODREEL_MONGODB_DATA_DIR": data})
        async with open_store(settings) as store, open_page_world(store, settings) as w:
            messages = await night(w)

            def fetch(url: str) -> bytes | None:
                with urllib.request.urlopen(url, timeout=10) as resp:  # the stand-in's attachment
                    return bytes(resp.read())

            html = await asyncio.to_thread(discord_page, messages, fetch)
    page = out.with_suffix(".html")
    page.write_text(html, encoding="utf-8")
    driver, profile = stage_browser(None, window=(900, 1900))
    try:
        driver.get(page.resolve().as_uri())
        time.sleep(1.0)  # let the inlined images and fonts settle before measuring
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(900, int(height) + 160)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()
        page.unlink()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/group-night.png")
    asyncio.run(capture(out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
