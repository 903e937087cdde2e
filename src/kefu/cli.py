"""The `kefu` command: serve, migrate, version, tenant create, openapi."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from kefu import __version__

app = typer.Typer(
    help="Kefu: open-source customer service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tenant_app = typer.Typer(help="Manage tenants.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")

DataDir = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--data-dir", help="Data directory (default ./data; env KEFU_DATA_DIR)."),
]


def _configure(data_dir: Path | None) -> None:
    """Every command reads the same settings; --data-dir wins over KEFU_DATA_DIR."""
    from kefu.core.config import get_settings

    if data_dir is not None:
        os.environ["KEFU_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()


def _migrate() -> None:
    from kefu.core.config import get_settings
    from kefu.core.migrate import upgrade_to_head

    settings = get_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head()


@app.command()
def version() -> None:
    """Print the Kefu version."""
    typer.echo(__version__)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations."""
    _configure(data_dir)
    _migrate()
    typer.echo("migrations applied")


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to listen on.")] = None,  # noqa: UP045
    port: Annotated[Optional[int], typer.Option(help="Port to listen on.")] = None,  # noqa: UP045
    data_dir: DataDir = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes on this machine, each a cluster node (> 1 needs "
            "PostgreSQL and Redis; docs/cluster.md).",
        ),
    ] = 1,
) -> None:
    """Apply migrations and start the HTTP API, WebSocket endpoint and web apps."""
    import uvicorn

    from kefu.core.config import get_settings

    if host:
        os.environ["KEFU_HOST"] = host
    if port:
        os.environ["KEFU_PORT"] = str(port)
    _configure(data_dir)
    settings = get_settings()
    settings.check_for_production()
    if workers > 1 and (settings.is_sqlite or not settings.redis_url):
        # SQLite has one writer and the processes would not hear each other's socket events.
        typer.echo(
            "--workers > 1 needs PostgreSQL (KEFU_DATABASE_URL) and Redis (KEFU_REDIS_URL); "
            "with SQLite run one process (docs/cluster.md).",
            err=True,
        )
        raise typer.Exit(2)
    from kefu.observability.logs import configure_logging

    # JSON or text lines, with request/conversation ids; uvicorn's loggers included.
    log_config = configure_logging(settings)
    _migrate()
    from kefu.api.app import create_app

    typer.echo(
        f"Kefu {__version__} ({'SQLite' if settings.is_sqlite else 'PostgreSQL'}) "
        f"listening; open {settings.base_url}/"
    )
    from kefu.observability.metrics import prepare_multiprocess, remove_multiprocess_dir

    # Several workers share one metrics directory: /metrics on any answers for the machine.
    metrics_dir = prepare_multiprocess(workers)
    uvicorn.run(
        # Several workers: each process builds its own app (and is its own cluster node).
        "kefu.api.app:create_app" if workers > 1 else create_app(settings),
        factory=workers > 1,
        workers=workers if workers > 1 else None,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config,
        proxy_headers=True,
        ws_ping_interval=20,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # Chat frames are small; per-message deflate costs ~40 KB of memory per socket.
        ws_per_message_deflate=False,
    )
    remove_multiprocess_dir(metrics_dir)


@app.command()
def openapi() -> None:
    """Print the OpenAPI document (used to generate the web apps' API client)."""
    from kefu.api.app import create_app

    typer.echo(json.dumps(create_app().openapi(), ensure_ascii=False, indent=1))


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option(help="Enterprise name.")],
    admin_email: Annotated[str, typer.Option(help="Login email of the first admin.")],
    seats: Annotated[int, typer.Option(help="Purchased seats.")] = 5,
    expires: Annotated[Optional[datetime], typer.Option(help="Account expiry (ISO date).")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Provision a tenant as a marketplace purchase does; prints the login URL and credentials."""
    from pydantic import ValidationError

    from kefu.core.config import get_settings
    from kefu.core.errors import ApiError
    from kefu.tenants.schemas import ProvisionIn

    _configure(data_dir)
    try:
        body = ProvisionIn(name=name, admin_email=admin_email, seats=seats, expires_at=expires)
    except ValidationError as exc:
        typer.echo(
            f"invalid input: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True
        )
        raise typer.Exit(2) from None
    _migrate()
    settings = get_settings()
    try:
        result = asyncio.run(_provision(body))
    except ApiError as err:
        typer.echo(f"error: {err.body()['error']['message']}", err=True)
        raise typer.Exit(1) from None
    tenant_id, username, password = result
    out = {
        "login_url": f"{settings.base_url}/login",
        "username": username,
        "password": password,
        "tenant_id": tenant_id,
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(
            f"Tenant {tenant_id} created.\nLogin URL: {out['login_url']}\n"
            f"Username:  {username}\nPassword:  {password}"
        )


async def _provision(body: object) -> tuple[int, str, str]:
    from kefu.core.config import get_settings
    from kefu.core.db import make_engine, make_sessionmaker
    from kefu.tenants.actions import provision_tenant
    from kefu.tenants.schemas import ProvisionIn

    assert isinstance(body, ProvisionIn)
    engine = make_engine(get_settings())
    try:
        async with make_sessionmaker(engine)() as db:
            result = await provision_tenant(
                db,
                name=body.name,
                admin_email=body.admin_email,
                seats=body.seats,
                expires_at=body.expires_at,
                time_zone=body.time_zone,
            )
            await db.commit()
            return result.tenant.id, result.admin.email, result.password
    finally:
        await engine.dispose()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
