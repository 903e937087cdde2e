"""The reply's language (from Accept-Language) and the headers every HTTP response carries.

A plain ASGI middleware, not Starlette's `BaseHTTPMiddleware`: that one runs the rest of the app
in a task of its own per request (a task and a memory stream each time), and a request's task
then awaits that stream, so a report of what a hung request waits for (kefu.observability.slow)
could not see past it.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.core.i18n import from_accept_language, set_language


class LanguageAndHeaders:
    """API answers (under `api_prefix`) are never cached."""

    def __init__(self, app: ASGIApp, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        set_language(from_accept_language(Headers(scope=scope).get("accept-language")))
        api = str(scope.get("path", "")).startswith(self.api_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
