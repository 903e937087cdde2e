"""Error codes of routing and dispatch (zh-CN / en)."""

from __future__ import annotations

from kefu.core.errors import register_codes

register_codes(
    {
        "queue_full": (
            429,
            "当前咨询人数较多，请稍后再试",
            "Our agents are very busy right now; please try again later",
        ),
    }
)
