"""Settings read from KEFU_* environment variables and an optional TOML file."""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_SECRET = "kefu-insecure-development-secret"  # noqa: S105 - refused in production


class TomlFileSource(PydanticBaseSettingsSource):
    """Reads `KEFU_CONFIG_FILE` (or `<data dir>/kefu.toml`) when it exists."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("KEFU_CONFIG_FILE")
        if not path:
            data_dir = os.environ.get("KEFU_DATA_DIR", "data")
            candidate = Path(data_dir) / "kefu.toml"
            path = str(candidate) if candidate.exists() else ""
        if not path:
            return {}
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        return {str(k).lower(): v for k, v in raw.items()}


class Settings(BaseSettings):
    """Every command (serve, migrate, tenant create) reads the same settings."""

    model_config = SettingsConfigDict(env_prefix="KEFU_", extra="ignore")

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    redis_url: str = ""
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    public_base_url: str = ""
    upload_dir: Path | None = None
    platform_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: SecretStr | None = None
    smtp_from: str = "kefu@localhost"
    smtp_starttls: bool = True
    # Extra browser origins allowed to call the API with the session cookie (comma separated).
    allowed_origins: str = ""
    log_level: str = "info"
    # JSON lines or text; unset: JSON in production, text in development (docs/observability.md).
    log_format: Literal["json", "text"] | None = None
    # Bearer token for /metrics from other hosts (loopback needs none); unset: loopback only.
    metrics_token: SecretStr | None = None
    session_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Cluster nodes (docs/cluster.md): each process heartbeats every `node_heartbeat_seconds`;
    # a node silent for `node_dead_seconds` is reaped by a surviving one.
    node_heartbeat_seconds: float = Field(default=10.0, ge=0.1, le=300)
    node_dead_seconds: float = Field(default=30.0, ge=0.3, le=3600)
    # Allocations between two young-generation runs of Python's cycle collector in a server
    # process (`kefu.core.gc_tuning`); 0 keeps Python's default (700).
    gc_threshold: int = Field(default=10_000, ge=0, le=10_000_000)
    # A server process's event loop silent this long is logged with the stack that holds it
    # (kefu.observability.stalls); 0 turns the watchdog off.
    loop_stall_seconds: float = Field(default=5.0, ge=0, le=3600)
    # An HTTP request or socket handshake still running this long is logged with the chain of
    # awaits it is stuck in (kefu.observability.slow); 0 turns this off.
    slow_request_seconds: float = Field(default=10.0, ge=0, le=3600)
    # SQLite: where the search indexer runs (kefu.search.indexer_task). "process" keeps it off
    # the event loop's GIL; "thread" saves that process's memory (about 60 MB) on tiny hosts.
    search_indexer: Literal["process", "thread"] = "process"
    # On stop (SIGTERM), how long in-flight requests and socket closes may take before the
    # server cancels them: a client that stopped reading would otherwise hold its connection,
    # and so the stop, open until it read again.
    shutdown_grace_seconds: int = Field(default=10, ge=1, le=600)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlFileSource(settings_cls))

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'kefu.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_upload_dir(self) -> Path:
        return self.upload_dir or self.data_dir / "uploads"

    @property
    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    def check_for_production(self) -> None:
        """Refuse to run in production with a secret everyone knows."""
        secret = self.secret_key.get_secret_value()
        if self.mode == "production" and (secret == DEFAULT_SECRET or len(secret) < 32):
            raise SystemExit(
                "KEFU_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production mode (KEFU_MODE=production)."
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
