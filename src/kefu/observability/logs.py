"""Log output: one JSON object per line (production) or readable text (development).

Every record gets `node` and, inside a request or socket frame, `request_id`, `tenant_id` and
`conversation_id` (see kefu.observability.context). uvicorn's access and error loggers use the
same handler, so an access line is JSON too and carries the request's ids.

Secrets are kept out: request URLs in uvicorn's lines have credential query parameters
(`token`, `sig`, `password`, …) masked, and anything that looks like an Authorization header or
a session cookie is masked in every line. The one deliberate exception: the password reset link
an administrator asks for when no SMTP is configured (kefu.accounts) — the issue wants it in the
log, and it is logged at WARNING only on that request.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kefu.observability import context

if TYPE_CHECKING:
    from kefu.core.config import Settings

MASK = "***"
# Query parameters that carry credentials (the staff socket's ?token=, signed file links' sig).
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:token|access_token|refresh_token|password|passwd|secret|sig|signature|"
    r"api_key|apikey|key|code|mfa_token|session)=)[^&\s\"';]*"
)
# Header- or body-like secrets, in any line.
_ANYWHERE = (
    (re.compile(r"(?i)\b(bearer|visitor|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    (re.compile(r"(?i)\b(kefu_session|kefu_csrf)=[^;\s\"',]+"), r"\1=" + MASK),
    (
        re.compile(
            r"(?i)([\"']?(?:password|passwd|secret_key|platform_key)[\"']?\s*[:=]\s*)[\"']?[^\s\"',}]+[\"']?"
        ),
        r"\1" + MASK,
    ),
)
_URL_LOGGERS = ("uvicorn.access", "uvicorn.error")
# Lines that must keep their link: an administrator asked for it (see module docstring).
_KEEP_LINKS = ("kefu.accounts",)


_node: str | None = None


def set_node_name(name: str) -> None:
    """The app's cluster node id (app.state.node_id), for the `node` field of every line."""
    global _node
    _node = name


def node_name() -> str:
    """This process as a cluster node: its app's node id, else host:pid."""
    return _node or f"{socket.gethostname()}:{os.getpid()}"


def redact(text: str, *, urls: bool = True) -> str:
    if urls:
        text = _QUERY_SECRET.sub(r"\1" + MASK, text)
    for pattern, repl in _ANYWHERE:
        text = pattern.sub(repl, text)
    return text


class ContextFilter(logging.Filter):
    """Copies the request context and the node name onto each record (handler-level)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = context.current()
        for key in context.FIELDS:
            if not hasattr(record, key):
                setattr(record, key, ctx.get(key))
        record.node = node_name()
        return True


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # a bad format string must not lose the line
        text = str(record.msg)
    keep_links = record.name.startswith(_KEEP_LINKS)
    return redact(text, urls=not keep_links)


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """uvicorn.access records carry (client, method, path, http version, status) as args."""
    args = record.args
    if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
        return {}
    client, method, path, _version, status = args
    return {
        "client": str(client),
        "method": str(method),
        "path": redact(str(path)),
        "status": int(str(status)) if str(status).isdigit() else status,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, node and the context ids."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
            "node": getattr(record, "node", None) or node_name(),
        }
        for key in context.FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        out.update(_access_fields(record))
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = redact(record.exc_text)
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger message [request_id=… tenant_id=… conversation_id=…]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        saved = record.msg, record.args
        record.msg, record.args = _message(record), None
        try:
            line = super().format(record)
        finally:
            record.msg, record.args = saved
        ids = " ".join(
            f"{k}={getattr(record, k)}" for k in context.FIELDS if getattr(record, k, None)
        )
        if ids:
            head, sep, tail = line.partition("\n")
            line = f"{head} [{ids}]{sep}{tail}"
        return redact(line, urls=not record.name.startswith(_KEEP_LINKS))


def log_format(settings: Settings) -> str:
    """KEFU_LOG_FORMAT, else JSON in production and text in development."""
    if settings.log_format:
        return settings.log_format
    return "json" if settings.mode == "production" else "text"


def logging_config(settings: Settings) -> dict[str, Any]:
    """A dictConfig for Kefu and uvicorn alike (uvicorn applies it again in each worker)."""
    level = settings.log_level.upper()
    formatter = (
        {"()": "kefu.observability.logs.JsonFormatter"}
        if log_format(settings) == "json"
        else {"()": "kefu.observability.logs.TextFormatter"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "kefu.observability.logs.ContextFilter"}},
        "formatters": {"kefu": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "kefu",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # uvicorn's own handlers are replaced: its lines go through ours.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
        },
    }


def configure_logging(settings: Settings) -> dict[str, Any]:
    """Apply the configuration in this process; returns it for uvicorn's `log_config`."""
    config = logging_config(settings)
    logging.config.dictConfig(config)
    return config
