"""Apply Alembic migrations programmatically (serve and migrate both call this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from kefu.core.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade_to_head(settings: Settings | None = None) -> None:
    cfg = alembic_config()
    if settings is not None:
        cfg.attributes["settings"] = settings
    # "heads": feature branches may land side by side before being chained.
    command.upgrade(cfg, "heads")
