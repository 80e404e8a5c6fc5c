"""Watcha Pedia-like pages on 127.0.0.1 for the Selenium crawler tests.

The markup follows what public crawlers of pedia.watcha.com show of the real site: a React app on
#root with build-hashed class names; the search page renders its results from script after load
(so a crawler must wait for them), each result a list item linking to /ko-KR/contents/<code> with
the title in its `title` attribute and a "<year> ・ <country>" line; movie codes start with "m", TV
codes with "t". Detail pages have the document title "<title> (<year>) - 왓챠피디아", an h1 followed by
the original title and a meta line, and sections whose header h2 reads 코멘트 (comments, each with a
star icon + rating and a link to /comments/<id> holding the text), 갤러리 (stills) and 동영상 (videos:
YouTube links, or the YouTube URL base64url-encoded as the last path segment).

Faults: `flaky` content codes answer 500 (an nginx error page, no #root) the first time, `broken`
codes always. `on_request(path, query)` is called, in the server thread, before each page is served.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

LOCALE = "ko-KR"


@dataclass(frozen=True)
class Entry:
    code: str  # "m..." movie, "t..." TV
    title: str
    original_title: str
    year: int
    country: str = "미국"
    genres: str = "드라마"
    reviews: tuple[tuple[str, float | None], ...] = ()
    stills: int = 0
    videos: tuple[str, ...] = ()  # YouTube URLs; every second one is served base64url-wrapped

    @property
    def kind(self) -> str:
        return "영화" if self.code.startswith("m") else "TV 프로그램"


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 9), (40, 60, 90)).save(buf, "JPEG")
    return buf.getvalue()


ERROR_PAGE = (
    "<html><head><title>500 Internal Server Error</title></head><body><center><h1>500 Internal Server Error"
    "</h1></center><hr><center>nginx</center></body></html>"
)

SEARCH_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('__SEARCH__').textContent);
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  setTimeout(function () {
    var root = document.getElementById('root');
    var section = el('section', 'css-1hq4bt5 e3425a05cc89');
    if (!data.results.length) {
      section.appendChild(el('p', 'css-17ha0lk', '검색 결과가 없어요. 다른 검색어를 입력해보세요.'));
      root.appendChild(section);
      return;
    }
    var header = el('header', 'css-1w5zxfw');
    header.appendChild(el('h2', 'css-3eb0sz', '콘텐츠'));
    section.appendChild(header);
    var ul = el('ul', 'css-1x5p6dm');
    data.results.forEach(function (r) {
      var li = el('li', 'zK9dEEA5 c1fbb66dd0a8');
      var a = el('a', 'InnerPartOfListWithImage e243b4e84398');
      a.href = r.href;
      a.title = r.title;
      var poster = el('div', 'css-1qmeemv');
      var img = el('img', 'css-qhzw1o');
      img.alt = r.title;
      img.src = r.poster;
      poster.appendChild(img);
      a.appendChild(poster);
      var info = el('div', 'bVUVO8nJ');
      info.appendChild(el('div', 'css-niy0za', r.title));
      info.appendChild(el('div', 'qz_zPMlN RiDHrQhO', r.year + ' ・ ' + r.country));
      info.appendChild(el('div', 'css-1evnpxk', r.kind));
      a.appendChild(info);
      li.appendChild(a);
      ul.appendChild(li);
    });
    section.appendChild(ul);
    root.appendChild(section);
  }, 150);
})();
"""


@dataclass
class WatchaSite:
    entries: list[Entry]
    flaky: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    on_request: Callable[[str, str], None] | None = None
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._served: set[str] = set()
        self._jpeg = _tiny_jpeg()
        self.by_code = {e.code: e for e in self.entries}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"/{LOCALE}/search", self._search)
        app.router.add_get(f"/{LOCALE}/contents/{{code}}", self._detail)
        app.router.add_get("/image/v2/{name}", self._image)
        return app

    def searches(self) -> list[str]:
        with self._lock:
            return [q for kind, q, _ in self.requests if kind == "search"]

    def _log(self, kind: str, key: str, status: int) -> None:
        with self._lock:
            self.requests.append((kind, key, status))

    async def _search(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        if self.on_request:
            self.on_request("search", query)
        q = _norm(query)
        found = [e for e in self.entries if q and (q in _norm(e.title) or q in _norm(e.original_title))]
        results = [
            {
                "href": f"/{LOCALE}/contents/{e.code}",
                "title": e.title,
                "year": e.year,
                "country": e.country,
                "kind": e.kind,
                "poster": f"/image/v2/poster-{e.code}.jpg",
            }
            for e in found
        ]
        payload = json.dumps({"query": query, "results": results}, ensure_ascii=False).replace("</", "<\\/")
        self._log("search", query, 200)
        page = (
            '<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8">'
            f"<title>{_esc(query)}의 검색결과 - 왓챠피디아</title></head><body>"
            '<div id="root"><header class="css-1gkas1x"><a href="/ko-KR">왓챠피디아</a></header></div>'
            f'<script id="__SEARCH__" type="application/json">{payload}</script>'
            f"<script>{SEARCH_SCRIPT}</script></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _detail(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        if self.on_request:
            self.on_request("detail", code)
        entry = self.by_code.get(code)
        with self._lock:
            first = code not in self._served
            self._served.add(code)
        if entry is None:
            self._log("detail", code, 404)
            return web.Response(
                status=404, text=ERROR_PAGE.replace("500 Internal Server Error", "404 Not Found")
            )
        if code in self.broken or (code in self.flaky and first):
            self._log("detail", code, 500)
            return web.Response(status=500, text=ERROR_PAGE, content_type="text/html")
        self._log("detail", code, 200)
        return web.Response(text=self.detail_html(entry), content_type="text/html")

    async def _image(self, request: web.Request) -> web.Response:
        return web.Response(body=self._jpeg, content_type="image/jpeg")

    def detail_html(self, e: Entry) -> str:
        reviews = "".join(
            '<li class="css-1ivtwfh"><div class="css-13j4ly egj9y8a4"><div class="css-4obf01">'
            f'<a href="/{LOCALE}/users/u{i}" title="관객{i}">'
            f'<div class="css-eldyae e10cf2lr1">관객{i}</div></a>'
            + (
                '<div class="css-31ods0 egj9y8a0"><svg viewBox="0 0 24 24" aria-hidden="true">'
                f'<path d="M12 17.3 5.8 21l1.6-7L2 9.2l7.2-.6L12 2l2.8 6.6 7.2.6-5.4 4.8 1.6 7z"/></svg>'
                f"<span>{rating:.1f}</span></div>"
                if rating is not None
                else ""
            )
            + f'</div><div class="css-2occzs egj9y8a1"><a href="/{LOCALE}/comments/c{e.code}{i}">'
            f"<div><span>{_esc(text)}</span></div></a></div>"
            '<div class="css-1atijos"><svg viewBox="0 0 24 24" aria-hidden="true">'
            '<path d="M2 21h4V9H2z"/></svg>'
            f"<span>{120 - i * 7}</span></div></div></li>"
            for i, (text, rating) in enumerate(e.reviews, 1)
        )
        stills = "".join(
            f'<li class="css-1t6v3vx"><div class="css-1yx0s1p"><img class="css-1p5ehnn" alt="" '
            f'src="/image/v2/still-{e.code}-{i}.jpg"></div></li>'
            for i in range(1, e.stills + 1)
        )
        videos = "".join(
            f'<li class="css-rs2f4x"><a href="{_esc(self._video_href(url, i))}" title="예고편 {i}">'
            f'<div class="css-1l6yu3q"><img alt="" src="/image/v2/video-{e.code}-{i}.jpg"></div>'
            f'<div class="css-6pj3ur">예고편 {i}</div></a></li>'
            for i, url in enumerate(e.videos)
        )

        def section(heading: str, body: str, more: str = "") -> str:
            if not body:
                return ""
            link = f'<a href="{more}" class="css-1r7l2xm">더보기</a>' if more else ""
            return (
                f'<section class="css-kb3fl9 e1oh6rmm0"><div class="css-1gkas1x"><header class="css-1w5zxfw">'
                f'<h2 class="css-3eb0sz">{heading}</h2>{link}</header>'
                f'<ul class="css-27z1qm">{body}</ul></div>'
                "</section>"
            )

        return (
            '<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8">'
            f"<title>{_esc(e.title)} ({e.year}) - 왓챠피디아</title>"
            f'<meta property="og:title" content="{_esc(e.title)}"></head><body>'
            '<div id="root"><div class="css-1xm32e0"><header class="css-1gkas1x">'
            '<a href="/ko-KR">왓챠피디아</a>'
            '</header><section class="css-p3jnjc-Pane e1svyhwg12"><div data-rowindex="0" class="css-13h49w0">'
            f'<h1 class="css-171k8ad">{_esc(e.title)}</h1>'
            f'<div class="css-1qgy3ri">{_esc(e.original_title)}</div>'
            f'<div class="css-1ugqy9j">{e.year} · {_esc(e.genres)} · {_esc(e.country)}</div>'
            '<div class="css-1ugqy9j">2시간 7분 · 15세</div></div></section>'
            + section("코멘트", reviews, f"/{LOCALE}/contents/{e.code}/comments")
            + section("갤러리", stills)
            + section("동영상", videos)
            + "</div></div></body></html>"
        )

    @staticmethod
    def _video_href(url: str, i: int) -> str:
        if i % 2 == 0:
            return url
        token = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
        return f"/{LOCALE}/watch/{token}"
