"""Server-rendered pages: clear refusals (bad, expired, used links) in English or Korean."""

from __future__ import annotations

import html
import json

from aiohttp import web

from core.present.locale import LOCALES, Locale, locale_from_accept_language
from core.present.words import WORDS, emotion_name, say
from core.values.emotions import EMOTIONS

REFUSALS = ("invalid", "expired", "replaced", "used", "failed", "missing", "busy", "not_found", "unavailable")


def locale_of(request: web.Request) -> Locale:
    """'ko' when the browser prefers Korean over English, else 'en' (Accept-Language order)."""
    return locale_from_accept_language(request.headers.get("Accept-Language", ""))


def refusal(request: web.Request, kind: str, status: int) -> web.Response:
    """A small, self-contained page that says why the link cannot be used and what to do."""
    kind = kind if kind in REFUSALS else "invalid"
    return refusal_page(request, f"refusal.{kind}", kind, status)


def refusal_page(
    request: web.Request, words: str, marker: str, status: int, headers: dict[str, str] | None = None
) -> web.Response:
    """The refusal page for the `{words}.title` and `{words}.body` entries, in the browser's language."""
    locale = locale_of(request)
    title, body = say(locale, f"{words}.title"), say(locale, f"{words}.body")
    page = f"""<!doctype html>
<html lang="{locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · MoodReel</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css"></head>
<body><main class="card refusal" data-refusal="{marker}">
<h1>{html.escape(title)}</h1><p>{html.escape(body)}</p>
<p><a class="button secondary" href="/">{html.escape(say(locale, "page.home"))}</a></p>
</main></body></html>
"""
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8", headers=headers)


def emotion_names_script() -> str:
    """The page's words and emotion names, from core.present.words: the one table, no copy in JavaScript."""
    texts = {
        lang: {k.removeprefix("page."): v for k, v in WORDS[lang].items() if k.startswith("page.")}
        for lang in LOCALES
    }
    names = {lang: {e: emotion_name(lang, e) for e in EMOTIONS} for lang in LOCALES}
    return (
        f"const TEXTS = {json.dumps(texts, ensure_ascii=False)};\n"
        f"const EMOTION_LABELS = {json.dumps(names, ensure_ascii=False)};\n"
    )


async def words_js(request: web.Request) -> web.Response:
    return web.Response(
        text=emotion_names_script(),
        content_type="text/javascript",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )
