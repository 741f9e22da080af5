"""Consent remembered server side, per (user, client, resource): the scopes allowed.

A later request within them needs no page; one asking for more shows only what is new
(step-up). ``prompt=consent`` asks again regardless (OIDC Core s3.1.2.1).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.clock import Clock, system_clock
from authgate.storage.database import session_factory
from authgate.storage.models import Consent
from authgate.storage.store import guarded_session

__all__ = ["ConsentStore"]


class ConsentStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = system_clock) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._clock = clock

    async def granted(self, user_id: str, client_id: str, resource: str) -> frozenset[str]:
        async with guarded_session(self._sessions) as db:
            row = await self._row(db, user_id, client_id, resource)
        return frozenset(row.scopes) if row is not None else frozenset()

    async def remember(
        self, user_id: str, client_id: str, resource: str, scopes: Collection[str]
    ) -> None:
        """Add ``scopes`` to what this user allowed this client at this resource."""
        now = int(self._clock())
        for _attempt in range(2):  # a concurrent first consent may win the insert
            try:
                await self._upsert(user_id, client_id, resource, scopes, now)
                return
            except IntegrityError:
                continue

    async def forget(self, user_id: str, client_id: str, resource: str) -> None:
        async with guarded_session(self._sessions) as db:
            await db.execute(
                delete(Consent).where(
                    Consent.user_id == user_id,
                    Consent.client_id == client_id,
                    Consent.resource == resource,
                )
            )
            await db.commit()

    async def _upsert(
        self, user_id: str, client_id: str, resource: str, scopes: Collection[str], now: int
    ) -> None:
        async with guarded_session(self._sessions) as db:
            row = await self._row(db, user_id, client_id, resource)
            if row is None:
                db.add(
                    Consent(
                        id=str(uuid.uuid4()),
                        user_id=user_id,
                        client_id=client_id,
                        resource=resource,
                        scopes=sorted(set(scopes)),
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                row.scopes = sorted(set(row.scopes) | set(scopes))
                row.updated_at = now
            await db.commit()

    @staticmethod
    async def _row(db: AsyncSession, user_id: str, client_id: str, resource: str) -> Consent | None:
        query = select(Consent).where(
            Consent.user_id == user_id, Consent.client_id == client_id, Consent.resource == resource
        )
        return (await db.execute(query)).scalar_one_or_none()
