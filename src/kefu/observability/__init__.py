"""Observability (issue 7): Prometheus metrics, structured logs with request and conversation
ids, liveness and readiness endpoints. See docs/observability.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Wire into a new app: middleware, /metrics /livez /readyz, bus listeners, DB events.

    Call before the web apps' catch-all routes are mounted.
    """
    from kefu.observability import listeners, logs
    from kefu.observability.api import router
    from kefu.observability.metrics import REDIS_CONFIGURED
    from kefu.observability.middleware import RequestContextMiddleware
    from kefu.observability.slow import SlowWatch

    slow = SlowWatch(app.state.settings.slow_request_seconds)
    app.add_middleware(RequestContextMiddleware, slow=slow)  # added last: the outermost
    app.include_router(router)
    tracker = listeners.QueueTracker()
    app.state.queue_tracker = tracker
    app.state.bus.subscribe(listeners.on_event)
    app.state.bus.subscribe(tracker.on_event)
    listeners.install_session_events()
    listeners.install_pool_events(app.state.engine)
    listeners.install_failure_counter()
    REDIS_CONFIGURED.set(1 if app.state.settings.redis_url else 0)
    node_id = getattr(app.state, "node_id", None)
    if node_id:
        logs.set_node_name(str(node_id))
