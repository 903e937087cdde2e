"""Where attachment bytes live. Local disk by default; another backend implements Storage."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from kefu.core.security import new_token


class Storage(Protocol):
    def put(self, tenant_id: int, data: bytes, suffix: str) -> str:
        """Store bytes and return an opaque key."""
        ...

    def path(self, key: str) -> Path | None:
        """A local file for the key (None when gone); object stores would stream instead."""
        ...

    def delete(self, key: str) -> None: ...


class LocalDiskStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, tenant_id: int, data: bytes, suffix: str) -> str:
        key = f"t{tenant_id}/attachments/{new_token(16)}{suffix}"
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return key

    def path(self, key: str) -> Path | None:
        base = self.root.resolve()
        path = (base / key).resolve()
        if base not in path.parents or not path.is_file():
            return None
        return path

    def delete(self, key: str) -> None:
        path = self.path(key)
        if path is not None:
            path.unlink(missing_ok=True)
