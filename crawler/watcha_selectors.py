"""Every selector, URL pattern and text pattern the Watcha Pedia crawler relies on, in one place.

Watcha Pedia is a React app whose class names are build hashes (`css-1s4ow07`, `zK9dEEA5`, ...) that
change with each deploy, so nothing here uses them. It keys on what the pages mean instead:
- search: `/ko-KR/search?query=...&category=contents`; each result is a list item whose link goes to
  `/ko-KR/contents/<code>` and carries the title in its `title` attribute; a line under the title reads
  "<year> ・ <country>" and another the kind ("영화"). Movie codes start with "m" (TV with "t").
- detail: `/ko-KR/contents/<code>`; the document title is "<title> (<year>) - 왓챠피디아"; the title is
  the page's h1, followed by the original title and a "<year> · <genres> · <country>" line; sections
  have a header with an h2 ("코멘트" comments, "갤러리" stills, "동영상" videos). A comment links to
  `/comments/<id>` (its text) and shows the star rating as a star icon followed by a number.
- video links may point at YouTube directly or carry the YouTube URL base64url-encoded as the last
  path segment.
When Watcha changes its markup, this is the only module to update (and the local test pages with it).
"""

from __future__ import annotations

import re

LOCALE = "ko-KR"

# URLs
SEARCH_URL = "{base}/" + LOCALE + "/search?query={query}&category=contents"
CONTENT_PATH = re.compile(r"/contents/(?P<code>[0-9A-Za-z]+)/?$")
MOVIE_CODE = re.compile(r"^m[0-9A-Za-z]+$")

# Every Watcha Pedia page is the React app mounted on #root; a page without it is an error page from
# a proxy or CDN (or Chromium's own network-error page), which is not worth waiting for.
APP_ROOT = "#root"

# Search results page
SEARCH_READY = "#root section"  # rendered once the results (or the empty state) are in
SEARCH_RESULT_LINK = "#root section li a[href*='/contents/']"
SEARCH_RESULT_TITLE_ATTR = "title"

# Detail page
DETAIL_READY = "#root h1"
DETAIL_TITLE = "#root h1"
DETAIL_ORIGINAL_TITLE = "#root h1 + div"
DOCUMENT_TITLE = re.compile(
    r"^(?P<title>.+?) \((?P<year>\d{4})\) - (?:왓챠피디아|Watcha Pedia|WATCHA PEDIA)$"
)
SECTION = "#root section"
SECTION_HEADING = "header h2"
COMMENTS_HEADINGS = ("코멘트", "Comments")
GALLERY_HEADINGS = ("갤러리", "Gallery")
VIDEO_HEADINGS = ("동영상", "Videos")
COMMENT_ITEM = "ul > li"
COMMENT_TEXT = "a[href*='/comments/']"
COMMENT_RATING = "svg + span"
STILL_IMAGE = "ul > li img"
VIDEO_LINK = "ul > li a[href]"

# Text
YEAR = re.compile(r"(?<!\d)((?:18|19|20)\d{2})(?!\d)")
META_SEPARATORS = ("・", "·")
RATING = re.compile(r"^\s*([0-5](?:\.\d)?)\s*$")
YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be")
