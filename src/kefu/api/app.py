"""The ASGI application: API routes under /api/v1, the WebSocket endpoint and the web apps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from kefu import __version__
from kefu.api import openapi_errors
from kefu.api.deps import UnitOfWorkRoute
from kefu.api.headers import LanguageAndHeaders
from kefu.api.static import mount_web_apps
from kefu.chat.cors import VisitorCors
from kefu.chat.hub import RealtimeHub
from kefu.conversations import listeners as conversation_listeners
from kefu.core import gc_tuning
from kefu.core.config import Settings, get_settings
from kefu.core.db import WriteGate, make_engine, make_sessionmaker
from kefu.core.errors import ApiError, install_error_handlers
from kefu.events.bus import EventBus
from kefu.search import sqlite_index
from kefu.search.indexer_task import IndexerTask
from kefu.workers.scheduler import Scheduler

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    from kefu.accounts.api import auth_router, me_router, users_router
    from kefu.announcements.api import router as announcements_router
    from kefu.api.realtime import ws_router
    from kefu.approvals.api import router as approvals_router
    from kefu.attachments.api import router as attachments_router
    from kefu.audit.api import router as audit_router
    from kefu.automations.api import router as automations_router
    from kefu.blacklist.api import router as blacklist_router
    from kefu.canned.api import router as canned_router
    from kefu.channels.api import router as channels_router
    from kefu.chat.visitor_api import router as visitor_router
    from kefu.chat.visitor_socket import visitor_ws_router
    from kefu.colleagues.api import router as colleagues_router
    from kefu.conversations.api import router as conversations_router
    from kefu.csat.api import router as csat_router
    from kefu.customers.api import router as customers_router
    from kefu.exports.api import router as exports_router
    from kefu.history.api import router as history_router
    from kefu.knowledge.api import router as knowledge_router
    from kefu.leave_messages.api import router as leave_messages_router
    from kefu.notifications.api import router as notifications_router
    from kefu.presence.api import router as presence_router
    from kefu.roles.api import router as roles_router
    from kefu.routing.groups_api import router as groups_router
    from kefu.routing.rules_api import router as rules_router
    from kefu.routing.time_plans_api import router as time_plans_router
    from kefu.routing.transfers_api import router as transfers_router
    from kefu.routing.waiting_api import router as waiting_router
    from kefu.search.api import router as search_router
    from kefu.session_tags.api import router as session_tags_router
    from kefu.tags.api import router as tags_router
    from kefu.teams.api import router as teams_router
    from kefu.tenants.api import platform_router, tenant_router
    from kefu.visitors.api import router as visitors_router

    # No prefix here: the app includes this router under API_PREFIX (see create_app).
    api = APIRouter(route_class=UnitOfWorkRoute)

    @api.get("/health", tags=["system"], summary="Liveness and version")
    async def health(request: Request) -> dict[str, str]:
        settings: Settings = request.app.state.settings
        return {
            "status": "ok",
            "version": __version__,
            "database": "sqlite" if settings.is_sqlite else "postgresql",
        }

    for r in (
        auth_router,
        me_router,
        users_router,
        roles_router,
        teams_router,
        tenant_router,
        audit_router,
        presence_router,
        platform_router,
        channels_router,
        conversations_router,
        visitors_router,
        visitor_router,
        attachments_router,
        colleagues_router,
        notifications_router,
        announcements_router,
        approvals_router,
        canned_router,
        time_plans_router,
        groups_router,
        rules_router,
        session_tags_router,
        tags_router,
        knowledge_router,
        waiting_router,
        transfers_router,
        blacklist_router,
        history_router,
        csat_router,
        customers_router,
        exports_router,
        automations_router,
        leave_messages_router,
        search_router,
    ):
        api.include_router(r)  # error answers: kefu.api.openapi_errors
    api.include_router(ws_router)
    api.include_router(visitor_ws_router)
    return api


async def _warm_routes(app: FastAPI) -> None:
    """FastAPI builds each included router's route table on the first request that walks it
    (≈ 13 MB for all of Kefu's): a request matching nothing walks them all at start-up, so the
    first sockets and requests do not pay it (and it is not counted per connection)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: Any) -> None:
        return None

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"{API_PREFIX}/-warm-up-",
        "raw_path": f"{API_PREFIX}/-warm-up-".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "app": app,
    }
    try:
        await app.router(scope, receive, send)
    except Exception:  # an optimisation only
        logging.getLogger("kefu").debug("route warm-up failed", exc_info=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import kefu.attachments.timers
        import kefu.presence.timers
        import kefu.routing.timers  # noqa: F401  (registers its timer handlers)

        # Tests run timers on the server's own loop (engines belong to one loop).
        app.state.loop = asyncio.get_running_loop()
        await _warm_routes(app)
        # Cluster (docs/cluster.md): the Redis leg of the bus, then this node's heartbeat.
        from kefu.presence.nodes import NodeKeeper

        if app.state.relay is not None:
            await app.state.relay.start()
        node_keeper = NodeKeeper(app, app.state.node_id)
        await node_keeper.start()
        app.state.node_keeper = node_keeper
        indexer = None
        if settings.is_sqlite:
            indexer = IndexerTask(settings, app.state.write_gate)
            await indexer.start()
        app.state.search_indexer = indexer  # tests stop it to see both halves of a search
        scheduler = Scheduler(app.state.sessionmaker, app.state.bus)
        scheduler.start()
        app.state.scheduler = scheduler  # tests pause it (tests/test_observability.py)
        from kefu.exports.runner import make_runner

        export_runner = make_runner(app)  # export jobs (§14), see kefu.exports.runner
        export_runner.start()
        from kefu.observability import runtime
        from kefu.observability.stalls import StallWatch

        runtime.watch_gc()
        stalls = None
        if settings.loop_stall_seconds > 0:
            stalls = StallWatch(settings.loop_stall_seconds)
            stalls.start()
        loop_probe = asyncio.create_task(runtime.watch_loop(stalls=stalls))
        # Last: what startup built is long-lived (tests run many apps in one process: 0 there).
        gc_tuning.tune(settings.gc_threshold)
        yield
        loop_probe.cancel()
        if stalls is not None:
            stalls.stop()
        await export_runner.stop()
        await scheduler.stop()
        await app.state.queue_announcer.close()
        await node_keeper.stop()
        if app.state.relay is not None:
            await app.state.relay.stop()
        await app.state.hub.close()
        from kefu.chat.batcher import close_batcher

        await close_batcher(app)  # pending sends written, its own SQLite connection closed
        if indexer is not None:
            await indexer.stop()
        if search_engine is not None:
            await search_engine.dispose()
        await engine.dispose()

    app = FastAPI(
        title="Kefu API",
        version=__version__,
        description=(
            'Kefu\'s HTTP API. Errors are always `{"error": {"code", "message"}}` in '
            "the caller's language. Realtime events use one WebSocket per client at "
            "`/api/v1/ws` (cookie or `?token=`), described in docs/protocol.md."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    # SQLite: the search index is a file of its own (kefu.search.sqlite_index), read through
    # connections that attach it.
    search_engine = sqlite_index.reader_engine(settings) if settings.is_sqlite else None
    search_reader = None if search_engine is None else make_sessionmaker(search_engine, settings)
    app.state.sessionmaker = make_sessionmaker(engine, settings, search_reader=search_reader)
    app.state.write_gate = WriteGate(settings.is_sqlite)
    app.state.bus = EventBus()
    app.state.hub = RealtimeHub()
    app.state.bus.subscribe(app.state.hub.on_event)
    # Each app is one cluster node; with KEFU_REDIS_URL its socket events reach other nodes.
    from kefu.events.broker import make_relay
    from kefu.presence.sockets import new_node_id

    app.state.node_id = new_node_id()
    app.state.relay = make_relay(settings.redis_url, app.state.node_id, app.state.hub)
    if app.state.relay is not None:
        app.state.relay.install(app.state.bus)
    conversation_listeners.install(app)
    app.add_middleware(VisitorCors)
    app.add_middleware(LanguageAndHeaders, api_prefix=API_PREFIX)

    install_error_handlers(app)
    # With a prefix, FastAPI skips a check that otherwise builds every route's state (their
    # dependencies' signatures and models) once more: half of what create_app costs.
    app.include_router(build_api_router(), prefix=API_PREFIX)
    openapi_errors.install(app, skip_paths={API_PREFIX + "/health"})
    from kefu.chat.visitor_socket import visitor_socket

    # The same endpoint as a plain Starlette route, first in line (it shadows the API router's):
    # FastAPI's route wrapper (dependency solving, exit stacks, nested router frames) would
    # stay alive for each of thousands of open visitor sockets.
    app.router.add_websocket_route(API_PREFIX + "/visitor/ws", visitor_socket)
    app.router.routes.insert(0, app.router.routes.pop())

    @app.api_route(
        API_PREFIX + "/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def api_not_found(path: str) -> JSONResponse:
        raise ApiError("not_found")

    from kefu.knowledge.page import page_router as knowledge_page_router

    app.include_router(knowledge_page_router)  # /kb/<token>, before the SPA catch-all
    from kefu import observability

    observability.install(app)  # /metrics /livez /readyz, request ids (docs/observability.md)
    mount_web_apps(app)
    return app
