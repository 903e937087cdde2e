"""The visitor's web info (§3.10) from the request and the page the widget reports."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ua_parser import parse as parse_ua

# Search engines and the query parameter holding the keyword.
_SEARCH_PARAMS = {
    "baidu.": ("wd", "word"),
    "google.": ("q",),
    "bing.": ("q",),
    "sogou.": ("query",),
    "so.com": ("q",),
    "sm.cn": ("q",),
    "yahoo.": ("p",),
    "duckduckgo.": ("q",),
}


@lru_cache(maxsize=512)
def browser_and_os(user_agent: str) -> tuple[str, str]:
    result = parse_ua(user_agent[:500])
    browser = result.user_agent.family if result.user_agent else ""
    if result.user_agent and result.user_agent.major:
        browser = f"{browser} {result.user_agent.major}"
    os_name = result.os.family if result.os else ""
    if result.os and result.os.major:
        os_name = f"{os_name} {result.os.major}"
    return browser, os_name


def search_keyword(referrer: str) -> str:
    parts = urlsplit(referrer)
    host = parts.hostname or ""
    for marker, params in _SEARCH_PARAMS.items():
        if marker in host:
            query = parse_qs(parts.query)
            for name in params:
                if query.get(name):
                    return query[name][0][:100]
    return ""


def utm_source(*urls: str) -> str:
    for url in urls:
        values = parse_qs(urlsplit(url).query).get("utm_source")
        if values:
            return values[0][:100]
    return ""


def web_info(*, ip: str, user_agent: str, page: dict[str, str]) -> dict[str, Any]:
    browser, os_name = browser_and_os(user_agent)
    referrer = page.get("referrer", "")
    landing = page.get("landing_url", "") or page.get("url", "")
    return {
        "ip": ip,
        "user_agent": user_agent[:300],
        "browser": browser,
        "os": os_name,
        "referrer": referrer,
        "landing_page": landing,
        "chat_page": page.get("url", ""),
        "chat_page_title": page.get("title", ""),
        "search_keyword": search_keyword(referrer),
        "utm_source": utm_source(page.get("url", ""), landing),
    }
