"""A group movie night in words: the progress message, the pick's headline and explanations, the vote.

Adapters lay these lines out for their platform (Discord embeds and buttons, Mattermost attachments)
and format times their own way (`when`); every word comes from core.present.words.
"""

from __future__ import annotations

from core.present.locale import locale_of
from core.present.words import emotion_name, say
from core.values.group import Group, GroupPick, PickExplanation


def member_lines(group: Group, lang: str) -> list[str]:
    """One line per member: who joined and whether they are done, never how they feel."""
    return [say(lang, f"group.member.{m.state}", name=m.name) for m in group.members]


def progress_lines(group: Group, lang: str, when: str | None = None) -> list[str]:
    """The public "Movie night" message: the intro, the members, and what happens next."""
    host = group.host_name or group.host_id
    if group.state == "cancelled":
        return [say(lang, "group.cancelled", host=host)]
    lines = [say(lang, "group.intro", host=host) if group.state == "open" else say(lang, "group.picked")]
    lines.append("")
    lines.append(f"**{say(lang, 'group.joined_head', n=len(group.members))}**")
    lines.extend(member_lines(group, lang) or [say(lang, "group.nobody")])
    if group.state == "open":
        lines.append("")
        lines.append(f"-# {say(lang, 'group.private_note')}")
        if when:
            lines.append(f"-# {say(lang, 'group.deadline', when=when)}")
    return lines


def _emotion_word(lang: str, emotion: str) -> str:
    name = emotion_name(lang, emotion)
    return name.lower() if locale_of(lang) == "en" else name


def counts_text(counts: dict[str, int], lang: str) -> str:
    """The anonymous count: "3 happy, 1 sad, 1 calm"."""
    return ", ".join(
        say(lang, "group.count_item", n=n, emotion=_emotion_word(lang, e)) for e, n in counts.items()
    )


def explanation_text(why: PickExplanation, lang: str) -> str:
    """Why a movie suits the group: "Fits all 5 of you; best for the 2 happy ones." """
    if why.relaxed:
        return say(lang, "group.relaxed")
    if why.of == 1:
        return say(lang, "group.fits_one")
    if why.fits == why.of:
        head = say(lang, "group.fits_both") if why.of == 2 else say(lang, "group.fits_all", n=why.of)
    else:
        head = say(lang, "group.fits_some", fits=why.fits, of=why.of)
    if why.best_emotion:
        word = _emotion_word(lang, why.best_emotion)
        tail = (
            say(lang, "group.best_for_one", emotion=word)
            if why.best_count == 1
            else say(lang, "group.best_for_many", emotion=word, count=why.best_count)
        )
        return f"{head}; {tail}."
    return f"{head}."


def pick_lines(pick: GroupPick, lang: str) -> list[str]:
    """The group result's headline lines: the mood, the count, who showed theirs, how it was picked."""
    took_part = say(lang, "group.took_part", took_part=pick.took_part, joined=pick.joined)
    lines = [
        say(lang, "group.result_title", emotion=emotion_name(lang, pick.result.emotion.primary)),
        f"{counts_text(pick.counts, lang)} · {took_part}",
    ]
    if pick.revealed:
        names = ", ".join(f"{name} ({emotion_name(lang, e)})" for name, e in pick.revealed)
        lines.append(say(lang, "group.revealed", names=names))
    lines.append(f"-# {say(lang, f'group.strategy.{pick.strategy}')}")
    return lines


def winner_line(title: str, votes: int, total: int, lang: str) -> str:
    if total == 0:
        return say(lang, "group.winner_no_votes", title=title)
    return say(lang, "group.winner", title=title, votes=votes, total=total)
