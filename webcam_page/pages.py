"""Server-rendered pages: clear refusals (bad, expired, used links) in English or Korean."""

from __future__ import annotations

import html

from aiohttp import web

# Refusal kinds -> (title, explanation), per language.
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "invalid": (
            "This link is not valid",
            "It may have been copied only in part. Ask the bot for a new link.",
        ),
        "expired": ("This link has expired", "Links work for a few minutes. Ask the bot for a new one."),
        "replaced": ("A newer link replaced this one", "Use the latest link you got from the bot."),
        "used": (
            "This link was already used",
            "Each link works once, in one browser. Ask the bot for a new link to try again.",
        ),
        "failed": ("This session has ended", "Ask the bot for a new link to try again."),
        "missing": ("This session does not exist", "Ask the bot for a new link."),
        "busy": ("Too many new sessions", "Please wait a minute and try again."),
        "not_found": ("Page not found", "There is nothing here."),
    },
    "ko": {
        "invalid": ("올바르지 않은 링크입니다", "링크가 잘렸을 수 있어요. 봇에게 새 링크를 요청해 주세요."),
        "expired": (
            "만료된 링크입니다",
            "링크는 몇 분만 유효해요. 봇에게 새 링크를 요청해 주세요.",
        ),
        "replaced": ("더 새로운 링크로 대체되었습니다", "봇이 보낸 가장 최근 링크를 사용해 주세요."),
        "used": (
            "이미 사용된 링크입니다",
            "링크는 한 브라우저에서 한 번만 열 수 있어요. 다시 하려면 봇에게 새 링크를 요청해 주세요.",
        ),
        "failed": ("세션이 종료되었습니다", "다시 하려면 봇에게 새 링크를 요청해 주세요."),
        "missing": ("존재하지 않는 세션입니다", "봇에게 새 링크를 요청해 주세요."),
        "busy": ("새 세션 요청이 너무 많습니다", "잠시 후 다시 시도해 주세요."),
        "not_found": ("페이지를 찾을 수 없습니다", "여기에는 아무것도 없어요."),
    },
}
HOME = {"en": "Try MoodReel", "ko": "MoodReel 체험하기"}


def locale_of(request: web.Request) -> str:
    """'ko' when the browser prefers Korean over English, else 'en' (Accept-Language order)."""
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("ko"):
            return "ko"
        if tag.startswith("en"):
            return "en"
    return "en"


def refusal(request: web.Request, kind: str, status: int) -> web.Response:
    """A small, self-contained page that says why the link cannot be used and what to do."""
    locale = locale_of(request)
    title, body = TEXTS[locale].get(kind, TEXTS[locale]["invalid"])
    page = f"""<!doctype html>
<html lang="{locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · MoodReel</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css"></head>
<body><main class="card refusal" data-refusal="{kind}">
<h1>{html.escape(title)}</h1><p>{html.escape(body)}</p>
<p><a class="button secondary" href="/">{HOME[locale]}</a></p>
</main></body></html>
"""
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
