"""The result post: the emotion summary as the message, the carousel as one message attachment.

Pure functions of the MoodResult, so the button handler rebuilds exactly what the first post showed.
Formats: Mattermost message attachments (Slack-compatible) with interactive buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.mattermost.signing import ContextSigner, PageContext, ShareContext
from core.colour.psychology import colour_name
from core.present.locale import locale_of, titles
from core.present.summary import summarise
from core.present.words import WORDS, emotion_name, genre_names, say
from core.values.emotions import EMOTIONS
from core.values.results import MoodResult, Recommendation

ACTIONS_PATH = "/mattermost/actions"
FALLBACK_COLOUR = "#7a7a7a"

PosterFor = Callable[[Recommendation], str | None]


def _poster_url(rec: Recommendation) -> str | None:
    return rec.poster_url


def _feelings_list(locale: str) -> str:
    return ", ".join(f"`{emotion_name(locale, e) if locale_of(locale) == 'ko' else e}`" for e in EMOTIONS)


def help_text(command: str, locale: str) -> str:
    return say(locale, "mattermost.help", command=command, feelings=_feelings_list(locale))


def link_text(
    url: str, minutes: float, deliver: str, replaced: bool, feeling: str | None, locale: str
) -> str:
    """The private reply to /moodreel: the link, and where the result will go (never a channel name:
    in a direct message that would be a raw `~id__id`)."""
    lines = [say(locale, "mattermost.link_intro", minutes=f"{minutes:g}"), url]
    lines.append(
        say(locale, "mattermost.link_channel" if deliver == "channel" else "mattermost.link_private")
    )
    if feeling:
        lines.append(say(locale, "mattermost.link_feeling", feeling=emotion_name(locale, feeling)))
    if replaced:
        lines.append(say(locale, "mattermost.link_replaced"))
    return "\n".join(lines)


def unknown_word_text(word: str, command: str, locale: str) -> str:
    return say(locale, "mattermost.unknown_word", word=word, command=command, feelings=_feelings_list(locale))


def failure_text(reason: str, command: str, locale: str) -> str:
    return say(locale, "mattermost.failure", reason=reason, command=command)


def summary_message(result: MoodResult, locale: str) -> str:
    """Markdown: whose mood, the summary's headline, the named emotions' numbers, how it was read."""
    words = WORDS[locale_of(locale)]
    summary = summarise(result.emotion, locale)
    name = str(result.origin.get("user_name") or "")  # the session's origin, set by the adapter
    title = words["mattermost.mood_of"].format(who=f"@{name}") if name else words["mattermost.mood_mine"]
    lines = [f"#### {title}: {summary.headline}"]
    for emotion in (result.emotion.primary, *result.emotion.secondary):
        lines.append(f"- **{emotion_name(locale, emotion)}**: {summary.numbers(emotion, locale)}")
    lines.append(f"_{summary.method_text}_")
    if result.colours:
        swatches = " · ".join(f"`{c.hex}` {colour_name(c, locale)}" for c in result.colours)
        lines.append(f"{words['mattermost.colours']}: {swatches}")
    lines.append(f"_{summary.legend}_")
    lines.append(words["mattermost.picks"] if result.recommendations else words["mattermost.no_picks"])
    return "\n".join(lines)


def _title(rec: Recommendation, locale: str) -> str:
    title, _ = titles(rec, locale)
    return f"{title} ({rec.year})" if rec.year else title


def _genres(rec: Recommendation, locale: str) -> str:
    if not rec.genres:
        return say(locale, "mattermost.unknown")
    return genre_names(locale, rec.genres)


def carousel_attachment(
    result: MoodResult,
    index: int,
    locale: str,
    file_ids: tuple[str, ...],
    signer: ContextSigner,
    actions_url: str,
    poster_for: PosterFor = _poster_url,
) -> dict[str, Any]:
    """The attachment for movie `index` (wrapping around), with ◀ ▶ buttons when there is more than one."""
    recs = result.recommendations
    index %= len(recs)
    rec = recs[index]
    words = WORDS[locale_of(locale)]
    reason = rec.reason_ko if locale == "ko" and rec.reason_ko else rec.reason
    colour = rec.palette[0] if rec.palette else (result.colours[0].hex if result.colours else FALLBACK_COLOUR)
    attachment: dict[str, Any] = {
        "fallback": f"{_title(rec, locale)}: {round(rec.score)}/100. {reason}",
        "color": colour,
        "title": _title(rec, locale),
        "text": reason,
        "fields": [
            {
                "short": True,
                "title": words["mattermost.year"],
                "value": str(rec.year) if rec.year else words["mattermost.unknown"],
            },
            {"short": True, "title": words["mattermost.match"], "value": f"{round(rec.score)} / 100"},
            {"short": False, "title": words["mattermost.genres"], "value": _genres(rec, locale)},
        ],
        "footer": f"MoodReel · {index + 1} / {len(recs)}",
    }
    link = rec.watcha_url or rec.tmdb_url
    if link:
        attachment["title_link"] = link
    image = poster_for(rec)
    if image:
        attachment["image_url"] = image
    if len(recs) > 1:
        attachment["actions"] = [
            _button(
                action,
                words[f"mattermost.{action}"],
                signer.sign(PageContext(result.session_id, target, locale, file_ids)),
                actions_url,
            )
            for action, target in (("prev", (index - 1) % len(recs)), ("next", (index + 1) % len(recs)))
        ]
    return attachment


def _button(action_id: str, label: str, context: dict[str, Any], actions_url: str) -> dict[str, Any]:
    # Ids stay alphanumeric: Mattermost routes clicks by them and mangles other characters.
    return {
        "id": action_id,
        "name": label,
        "type": "button",
        "integration": {"url": actions_url, "context": context},
    }


def result_post(
    result: MoodResult,
    channel_id: str,
    locale: str,
    file_ids: tuple[str, ...],
    signer: ContextSigner,
    actions_url: str,
    index: int = 0,
    poster_for: PosterFor = _poster_url,
    *,
    intro: str = "",
    share: ShareContext | None = None,
    marker: str = "",
) -> dict[str, Any]:
    """The body of POST /api/v4/posts (or, without channel_id, of an interactive `update`).

    `intro` is a line above the summary; `share` adds the **Share with the channel** button (private
    versions); `marker` is kept in the post's props so a retry can find a post it already made."""
    attachments = (
        [carousel_attachment(result, index, locale, file_ids, signer, actions_url, poster_for)]
        if result.recommendations
        else []
    )
    if share is not None:
        label = say(locale, "mattermost.share_button")
        attachments.append(
            {"fallback": label, "actions": [_button("share", label, signer.sign_share(share), actions_url)]}
        )
    message = summary_message(result, locale)
    post: dict[str, Any] = {
        "message": f"{intro}\n{message}" if intro else message,
        "file_ids": list(file_ids),
        "props": {"attachments": attachments},
    }
    if marker:
        post["props"]["moodreel_item"] = marker
    if channel_id:
        post["channel_id"] = channel_id
    return post
