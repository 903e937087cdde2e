"""Send mode of knowledge items per channel (§8.2): "card" (rich link, default) or "text"."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.access.principal import Principal
from kefu.audit.actions import record
from kefu.core import clock
from kefu.knowledge.models import KnowledgeSettings
from kefu.knowledge.schemas import CHANNELS


async def send_modes(db: AsyncSession, tenant_id: int) -> dict[str, str]:
    row = await db.get(KnowledgeSettings, tenant_id)
    saved = dict(row.send_modes or {}) if row is not None else {}
    return {ch: saved.get(ch, "card") for ch in CHANNELS}


async def set_send_modes(
    db: AsyncSession, principal: Principal, modes: dict[str, str], ip: str
) -> dict[str, str]:
    current = await send_modes(db, principal.tenant_id)
    wanted = {**current, **modes}
    if wanted == current:
        return current
    row = await db.get(KnowledgeSettings, principal.tenant_id)
    if row is None:
        row = KnowledgeSettings(
            tenant_id=principal.tenant_id, send_modes={}, updated_at=clock.now()
        )
        db.add(row)
    row.send_modes = wanted
    row.updated_at = clock.now()
    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="knowledge.settings_updated",
        target_type="knowledge_settings",
        target_id=principal.tenant_id,
        detail={
            ch: {"from": current[ch], "to": wanted[ch]}
            for ch in CHANNELS
            if current[ch] != wanted[ch]
        },
        ip=ip,
    )
    return wanted
