"""Queries on vault credentials; each method is one transaction behind the store boundary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.storage.database import session_factory
from authgate.storage.models import VaultCredential
from authgate.storage.store import guarded_session

__all__ = ["VaultStore"]


class VaultStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)

    async def get(self, owner: str, name: str) -> VaultCredential | None:
        async with guarded_session(self._sessions) as db:
            query = select(VaultCredential).where(
                VaultCredential.owner == owner, VaultCredential.name == name
            )
            return (await db.execute(query)).scalar_one_or_none()

    async def by_id(self, record_id: str) -> VaultCredential | None:
        async with guarded_session(self._sessions) as db:
            return await db.get(VaultCredential, record_id)

    async def for_owner(self, owner: str) -> Sequence[VaultCredential]:
        async with guarded_session(self._sessions) as db:
            query = (
                select(VaultCredential)
                .where(VaultCredential.owner == owner)
                .order_by(VaultCredential.created_at, VaultCredential.name)
            )
            return (await db.execute(query)).scalars().all()

    async def replace(self, row: VaultCredential) -> VaultCredential | None:
        """Store ``row`` in place of the owner's record of the same name; return the old one.

        A concurrent replace may win the unique (owner, name) index; then try once more.
        """
        for attempt in (1, 2):
            async with guarded_session(self._sessions) as db:
                old = (
                    await db.execute(
                        select(VaultCredential).where(
                            VaultCredential.owner == row.owner, VaultCredential.name == row.name
                        )
                    )
                ).scalar_one_or_none()
                if old is not None:
                    await db.delete(old)
                    await db.flush()
                db.add(row)
                try:
                    await db.commit()
                except IntegrityError:
                    await db.rollback()
                    if attempt == 2:
                        raise
                    continue
                return old
        return None  # pragma: no cover - the loop returns or raises

    async def update_if_version(self, record_id: str, version: int, **values: Any) -> bool:
        """Write ``values`` only if nobody wrote the record since ``version`` was read."""
        async with guarded_session(self._sessions) as db:
            result = await db.execute(
                update(VaultCredential)
                .where(VaultCredential.id == record_id, VaultCredential.version == version)
                .values(version=version + 1, **values)
            )
            await db.commit()
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def touch(self, record_id: str, now: int) -> None:
        async with guarded_session(self._sessions) as db:
            await db.execute(
                update(VaultCredential)
                .where(VaultCredential.id == record_id)
                .values(last_used_at=now)
            )
            await db.commit()

    async def remove(self, owner: str, record_id: str) -> VaultCredential | None:
        """Delete the owner's record; the removed row (for revocation), or None."""
        async with guarded_session(self._sessions) as db:
            row = await db.get(VaultCredential, record_id)
            if row is None or row.owner != owner:
                return None
            await db.execute(
                delete(VaultCredential).where(
                    VaultCredential.id == record_id, VaultCredential.owner == owner
                )
            )
            await db.commit()
            return row

    async def stale_keys(self, current_kek_id: str) -> Sequence[VaultCredential]:
        """Records whose data key is wrapped by another KEK than the current one."""
        async with guarded_session(self._sessions) as db:
            query = select(VaultCredential).where(VaultCredential.kek_id != current_kek_id)
            return (await db.execute(query)).scalars().all()

    async def rewrap(
        self, record_id: str, *, old_kek_id: str, data_key: bytes, kek_id: str
    ) -> bool:
        """Swap in the re-wrapped data key, unless the record changed meanwhile."""
        async with guarded_session(self._sessions) as db:
            result = await db.execute(
                update(VaultCredential)
                .where(VaultCredential.id == record_id, VaultCredential.kek_id == old_kek_id)
                .values(data_key=data_key, kek_id=kek_id)
            )
            await db.commit()
        return int(getattr(result, "rowcount", 0) or 0) == 1
