"""Accepting uploads (type checked by content, size capped), signed links, and file expiry."""

from __future__ import annotations

import hashlib
import hmac
import io
import time
import unicodedata
from datetime import timedelta
from typing import Any

import filetype  # type: ignore[import-untyped]
from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.attachments.models import Attachment
from kefu.attachments.storage import LocalDiskStorage, Storage
from kefu.core import clock
from kefu.core.config import Settings
from kefu.core.errors import ApiError
from kefu.workers.scheduler import schedule_timer

MB = 1024 * 1024
LIMITS = {"image": 10 * MB, "file": 10 * MB, "voice": 2 * MB}
IMAGE_TYPES = {"PNG": "image/png", "GIF": "image/gif", "JPEG": "image/jpeg"}
VOICE_TYPES = frozenset(
    {"audio/webm", "video/webm", "audio/ogg", "audio/mpeg", "audio/mp4", "audio/x-wav", "audio/m4a"}
)
FILE_TTL = timedelta(days=7)
EXPIRE_TIMER = "attachment.expire"
LINK_TTL_SECONDS = 24 * 3600


def storage_for(settings: Settings) -> Storage:
    return LocalDiskStorage(settings.resolved_upload_dir)


def _clean_name(name: str | None, fallback: str) -> str:
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if c.isprintable() and c not in '"<>')[:200].strip()
    return name or fallback


def _sniff(kind: str, data: bytes) -> tuple[str, str]:
    """(content type, file suffix) decided from the bytes, never from the client's claim."""
    if kind == "image":
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                img.verify()
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            Image.DecompressionBombError,
        ):
            raise ApiError("unsupported_media_type", types="JPG/PNG/GIF") from None
        if fmt not in IMAGE_TYPES:
            raise ApiError("unsupported_media_type", types="JPG/PNG/GIF")
        mime = IMAGE_TYPES[fmt]
        return mime, "." + mime.split("/")[1]
    guess = filetype.guess(data)
    if kind == "voice":
        if guess is None or guess.mime not in VOICE_TYPES:
            raise ApiError("unsupported_media_type", types="WebM/OGG/MP3/M4A/WAV")
        return guess.mime, "." + guess.extension
    # Files of any type are stored, but served only as downloads.
    if guess is not None:
        return guess.mime, "." + guess.extension
    return "application/octet-stream", ".bin"


async def accept_upload(
    db: AsyncSession,
    settings: Settings,
    *,
    tenant_id: int,
    upload: UploadFile,
    kind: str,
    uploader_type: str,
    uploader_id: int,
    conversation_id: int | None,
    permanent: bool = False,
) -> Attachment:
    """Read, check and store one upload; chat files get their 7 × 24 h removal timer, while
    `permanent` ones (announcements, knowledge items) stay as long as what holds them."""
    limit = LIMITS[kind]
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError("payload_too_large", limit=f"{limit // MB} MB")
    if not data:
        raise ApiError("empty_file")
    mime, suffix = _sniff(kind, data)
    key = storage_for(settings).put(tenant_id, data, suffix)
    now = clock.now()
    att = Attachment(
        tenant_id=tenant_id,
        kind=kind,
        name=_clean_name(upload.filename, f"{kind}{suffix}"),
        content_type=mime,
        size=len(data),
        storage_key=key,
        uploader_type=uploader_type,
        uploader_id=uploader_id,
        conversation_id=conversation_id,
        created_at=now,
        expires_at=now + FILE_TTL if kind == "file" and not permanent else None,
    )
    db.add(att)
    await db.flush()
    if att.expires_at is not None:
        await schedule_timer(
            db, tenant_id=tenant_id, kind=EXPIRE_TIMER, subject_id=att.id, due_at=att.expires_at
        )
    return att


async def attachment_for_send(
    db: AsyncSession,
    *,
    tenant_id: int,
    attachment_id: int,
    kind: str,
    uploader_type: str,
    uploader_id: int,
) -> Attachment:
    """The sender's own upload of the right kind; anything else is as if unknown."""
    att = await db.scalar(
        select(Attachment).where(
            Attachment.id == attachment_id,
            Attachment.tenant_id == tenant_id,
            Attachment.uploader_type == uploader_type,
            Attachment.uploader_id == uploader_id,
        )
    )
    if att is None or att.kind != kind or att.removed_at is not None:
        raise ApiError("attachment_not_found")
    return att


def sign(settings: Settings, attachment_id: int, expires: int) -> str:
    key = settings.secret_key.get_secret_value().encode()
    msg = f"attachment:{attachment_id}:{expires}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def signed_url(settings: Settings, attachment_id: int) -> str:
    # Rounded to the hour so repeated renders of one message give the same URL (caching).
    expires = (int(time.time()) // 3600 + 1) * 3600 + LINK_TTL_SECONDS
    return (
        f"/api/v1/files/{attachment_id}?exp={expires}&sig={sign(settings, attachment_id, expires)}"
    )


def check_signature(settings: Settings, attachment_id: int, expires: int, sig: str) -> bool:
    if expires < time.time():
        return False
    return hmac.compare_digest(sign(settings, attachment_id, expires), sig)


def attachment_view(settings: Settings, att: Attachment) -> dict[str, Any]:
    gone = att.removed_at is not None
    return {
        "id": att.id,
        "kind": att.kind,
        "name": att.name,
        "size": att.size,
        "content_type": att.content_type,
        "url": None if gone else signed_url(settings, att.id),
        "expired": gone,
    }


async def expire(db: AsyncSession, settings: Settings, attachment_id: int) -> None:
    """Remove a file's bytes after its retention; its messages keep a placeholder."""
    att = await db.get(Attachment, attachment_id)
    if att is None or att.removed_at is not None:
        return
    storage_for(settings).delete(att.storage_key)
    att.removed_at = clock.now()
