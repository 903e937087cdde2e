"""Image uploads (logos, avatars): type checked by content, size capped, stored under uploads."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from kefu.core.config import Settings
from kefu.core.errors import ApiError
from kefu.core.security import new_token

ALLOWED = {"PNG": ".png", "GIF": ".gif", "JPEG": ".jpg"}
MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg"}
TWO_MB = 2 * 1024 * 1024
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


async def read_image(upload: UploadFile, *, limit: int = TWO_MB) -> tuple[bytes, str]:
    """Read at most `limit` bytes and return (data, extension) when it is a PNG, GIF or JPEG."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError("payload_too_large", limit=f"{limit // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ApiError("unsupported_media_type", types="PNG/GIF/JPG") from None
    if fmt not in ALLOWED:
        raise ApiError("unsupported_media_type", types="PNG/GIF/JPG")
    return data, ALLOWED[fmt]


def store(settings: Settings, tenant_id: int, kind: str, data: bytes, ext: str) -> str:
    """Write the file and return its path relative to the upload directory."""
    rel = Path(f"t{tenant_id}") / kind / f"{new_token(12)}{ext}"
    path = settings.resolved_upload_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel.as_posix()


def resolve(settings: Settings, rel: str | None) -> Path | None:
    if not rel:
        return None
    base = settings.resolved_upload_dir.resolve()
    path = (base / rel).resolve()
    if base not in path.parents or not path.is_file():
        return None
    return path


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix, "application/octet-stream")
