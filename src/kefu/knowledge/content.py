"""Rich content of knowledge items: allow-list sanitising (nh3), plain text, text -> HTML.

Images may only point at the knowledge base's own uploads (`/api/v1/knowledge/assets/...`,
signed per tenant); links get target=_blank and rel=noopener. Everything else is dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser

import nh3

from kefu.core.config import Settings

ASSET_PREFIX = "/api/v1/knowledge/assets/"
ASSET_URL = re.compile(r"^/api/v1/knowledge/assets/(\d{1,16})-([0-9a-f]{32})$")
TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "s", "del", "h1", "h2", "h3", "h4", "ul", "ol",
    "li", "blockquote", "a", "img", "code", "pre", "hr",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
BLOCKS = {"p", "h1", "h2", "h3", "h4", "li", "blockquote", "pre", "hr", "ul", "ol"}


def asset_sig(settings: Settings, tenant_id: int, attachment_id: int) -> str:
    key = settings.secret_key.get_secret_value().encode()
    msg = f"knowledge-asset:{tenant_id}:{attachment_id}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def asset_url(settings: Settings, tenant_id: int, attachment_id: int) -> str:
    """A stable, non-expiring link to a knowledge image (content images must keep working)."""
    return f"{ASSET_PREFIX}{attachment_id}-{asset_sig(settings, tenant_id, attachment_id)}"


def image_ids_in(content_html: str) -> set[int]:
    """Ids of the asset images a (sanitised or raw) HTML fragment points at."""
    return {int(m) for m in re.findall(r"/api/v1/knowledge/assets/(\d{1,16})-", content_html)}


def sanitise(raw: str, settings: Settings, tenant_id: int, allowed_images: Iterable[int]) -> str:
    """The HTML with only allow-listed tags and attributes; images only of `allowed_images`."""
    allowed = set(allowed_images)

    def keep(tag: str, attr: str, value: str) -> str | None:
        if tag == "img" and attr == "src":
            m = ASSET_URL.match(value)
            if m is None or int(m.group(1)) not in allowed:
                return None
            if not hmac.compare_digest(m.group(2), asset_sig(settings, tenant_id, int(m.group(1)))):
                return None
        if (
            tag == "a"
            and attr == "href"
            and not value.lower().startswith(("http://", "https://", "mailto:"))
        ):
            return None
        if tag == "ol" and attr == "start" and not value.isdigit():
            return None
        return value

    cleaned = nh3.clean(
        raw,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        attribute_filter=keep,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes={"http", "https", "mailto"},
        strip_comments=True,
    )
    # An <img> that lost its src is an empty box: drop it.
    return re.sub(r"<img(?![^>]*\ssrc=)[^>]*>", "", cleaned)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.lists: list[list[int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")
        elif tag in ("ul", "ol"):
            self.lists.append([0 if tag == "ol" else -1])
        elif tag == "li":
            self._newline()
            if self.lists and self.lists[-1][0] >= 0:
                self.lists[-1][0] += 1
                self.out.append(f"{self.lists[-1][0]}. ")
            else:
                self.out.append("• ")
        elif tag in BLOCKS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag in BLOCKS:
            self._newline()

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def _newline(self) -> None:
        if self.out and not "".join(self.out[-1:]).endswith("\n"):
            self.out.append("\n")


def to_text(content_html: str) -> str:
    """Plain text of sanitised HTML: blocks on their own lines, list items marked."""
    parser = _Text()
    parser.feed(content_html)
    parser.close()
    text = "".join(parser.out)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def from_text(text: str) -> str:
    """Plain text (imports) as HTML paragraphs."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines if line.strip())


def summary(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
