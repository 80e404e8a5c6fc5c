"""Discord messages as the Discord client lays them out, in HTML, for README screenshots.

The messages are the JSON the stand-in Discord holds (exactly what the bot sent): content with
Discord's Markdown subset, embeds (colour bar, author, title, description, fields, image), action
rows of buttons and selects, and polls with their counts. Images are inlined as data URIs so the
page needs no server. It is a preview of what the bot sent, not a copy of Discord's client.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from typing import Any

BUTTON_COLOURS = {1: "#5865f2", 2: "#4e5058", 3: "#248046", 4: "#da373c", 5: "#4e5058"}
CSS = """
body{margin:0;background:#313338;font-family:'Noto Sans','Noto Sans CJK KR',sans-serif;color:#dbdee1;
 font-size:15px;line-height:1.35}
.msg{display:flex;gap:14px;padding:10px 18px}.avatar{width:40px;height:40px;border-radius:50%;
 background:#5865f2;flex:none;display:flex;align-items:center;justify-content:center;font-size:22px}
.name{font-weight:600;color:#f2f3f5}.tag{background:#5865f2;color:#fff;font-size:10px;border-radius:3px;
 padding:1px 4px;margin-left:4px;vertical-align:2px}.time{color:#949ba4;font-size:12px;margin-left:6px}
.sub{color:#949ba4;font-size:12.5px}.embed{display:flex;margin-top:6px;max-width:520px;background:#2b2d31;
 border-radius:4px;overflow:hidden}.bar{width:4px;flex:none}.ebody{padding:10px 14px 14px}
.eauthor{font-size:13px;font-weight:600;margin-bottom:4px}.etitle{font-weight:700;color:#00a8fc;
 margin-bottom:4px}.fields{display:grid;grid-template-columns:1fr 1fr;gap:8px 12px;margin-top:8px}
.fname{font-weight:700;font-size:13.5px}.eimg{margin-top:10px;max-width:490px;border-radius:4px;display:block}
.efoot{color:#b5bac1;font-size:12px;margin-top:8px}.row{display:flex;gap:8px;margin-top:8px;flex-wrap:wrap}
.btn{color:#fff;border-radius:4px;padding:5px 14px;font-size:14px;font-weight:500}.dis{opacity:.5}
.select{background:#1e1f22;border-radius:4px;padding:8px 12px;width:420px;color:#949ba4}
.poll{margin-top:6px;width:460px;background:#2b2d31;border:1px solid #1e1f22;border-radius:8px;padding:14px}
.q{font-weight:700;font-size:16px;margin-bottom:10px}.ans{position:relative;border-radius:6px;
 background:#1e1f22;margin:6px 0;padding:9px 12px;overflow:hidden}.fill{position:absolute;left:0;top:0;
 bottom:0;background:#5865f233}.ans span{position:relative}.cnt{float:right;position:relative;color:#b5bac1}
"""


def _markdown(text: str) -> str:
    out = []
    for line in html.escape(text).split("\n"):
        small = line.startswith("-# ")
        line = line[3:] if small else line
        line = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r'<span style="color:#00a8fc">\1</span>', line)
        line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
        line = re.sub(r"\*(.+?)\*", r"<i>\1</i>", line)
        line = re.sub(r"&lt;@(\d+)&gt;", r'<span style="color:#c9cdfb">@member</span>', line)
        line = re.sub(r"&lt;t:(\d+):R&gt;", "in 60 minutes", line)
        out.append(f'<div class="sub">{line}</div>' if small else f"<div>{line or '&nbsp;'}</div>")
    return "".join(out)


def _image(url: str, fetch: Callable[[str], bytes | None]) -> str:
    data = fetch(url)
    if data is None:
        return ""
    return f'<img class="eimg" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _embed(e: dict[str, Any], fetch: Callable[[str], bytes | None]) -> str:
    colour = f"#{int(e.get('color') or 0x5865F2):06x}"
    parts = []
    if e.get("author", {}).get("name"):
        parts.append(f'<div class="eauthor">{html.escape(e["author"]["name"])}</div>')
    if e.get("title"):
        parts.append(f'<div class="etitle">{html.escape(e["title"])}</div>')
    if e.get("description"):
        parts.append(_markdown(e["description"]))
    if e.get("fields"):
        cells = "".join(
            f'<div><div class="fname">{html.escape(f["name"])}</div>{_markdown(f["value"])}</div>'
            for f in e["fields"]
        )
        parts.append(f'<div class="fields">{cells}</div>')
    if e.get("image", {}).get("url"):
        parts.append(_image(e["image"]["url"], fetch))
    if e.get("footer", {}).get("text"):
        parts.append(f'<div class="efoot">{html.escape(e["footer"]["text"])}</div>')
    bar = f'<div class="bar" style="background:{colour}"></div>'
    return f'<div class="embed">{bar}<div class="ebody">{"".join(parts)}</div></div>'


def _components(rows: Sequence[dict[str, Any]]) -> str:
    out = []
    for row in rows:
        items = []
        for c in row.get("components", []):
            if c.get("type") == 2:
                label = html.escape(
                    f"{(c.get('emoji') or {}).get('name') or ''} {c.get('label') or ''}".strip()
                )
                dis = " dis" if c.get("disabled") else ""
                link = " ↗" if c.get("style") == 5 else ""
                colour = BUTTON_COLOURS.get(int(c.get("style", 2)), "#4e5058")
                items.append(f'<span class="btn{dis}" style="background:{colour}">{label}{link}</span>')
            else:
                items.append(f'<span class="select">{html.escape(c.get("placeholder") or "Choose…")}</span>')
        out.append(f'<div class="row">{"".join(items)}</div>')
    return "".join(out)


def _poll(poll: dict[str, Any]) -> str:
    counts = {a["id"]: a["count"] for a in (poll.get("results") or {}).get("answer_counts", [])}
    total = sum(counts.values()) or 1
    answers = []
    for a in poll.get("answers", []):
        n = counts.get(a["answer_id"], 0)
        votes = f"{n} vote{'' if n == 1 else 's'}"
        answers.append(
            f'<div class="ans"><div class="fill" style="width:{100 * n / total:.0f}%"></div>'
            f'<span>{html.escape(a["poll_media"]["text"])}</span><span class="cnt">{votes}</span></div>'
        )
    question = html.escape(poll["question"]["text"])
    return f'<div class="poll"><div class="q">{question}</div>{"".join(answers)}</div>'


def discord_page(
    messages: Sequence[dict[str, Any]], fetch: Callable[[str], bytes | None], bot_name: str = "MoodReel"
) -> str:
    """One HTML page showing the messages one after another, as in a channel."""
    blocks: list[str] = []
    for m in messages:
        body = [_markdown(m.get("content") or "")]
        body.extend(_embed(e, fetch) for e in m.get("embeds") or [])
        if m.get("poll"):
            body.append(_poll(m["poll"]))
        body.append(_components(m.get("components") or []))
        blocks.append(
            '<div class="msg"><div class="avatar">🎬</div>'
            f'<div><span class="name">{html.escape(bot_name)}</span>'
            f'<span class="tag">APP</span><span class="time">Today at 20:0{len(blocks)}</span>'
            f"{''.join(body)}</div></div>"
        )
    return f"<!doctype html><meta charset=utf-8><style>{CSS}</style><body>{''.join(blocks)}</body>"
