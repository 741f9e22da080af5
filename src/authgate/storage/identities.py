"""Queries on provider identities, each one transaction (nothing half-created)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.storage.database import session_factory
from authgate.storage.models import Identity, User

__all__ = ["IdentityConflictError", "IdentityStore"]


class IdentityConflictError(Exception):
    """A concurrent sign-in created the same identity or email first; look again."""


class IdentityStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)

    async def find(self, issuer: str, subject: str) -> Identity | None:
        async with self._sessions() as db:
            query = select(Identity).where(Identity.issuer == issuer, Identity.subject == subject)
            return (await db.execute(query)).scalar_one_or_none()

    async def for_user(self, user_id: str) -> Sequence[Identity]:
        async with self._sessions() as db:
            query = (
                select(Identity).where(Identity.user_id == user_id).order_by(Identity.created_at)
            )
            return (await db.execute(query)).scalars().all()

    async def add(self, identity: Identity, *, new_user: User | None = None) -> None:
        """Store ``identity`` (and the user it creates, if any) together or not at all."""
        async with self._sessions() as db:
            try:
                if new_user is not None:
                    db.add(new_user)
                    await db.flush()
                db.add(identity)
                await db.commit()
            except IntegrityError as exc:
                await db.rollback()
                raise IdentityConflictError() from exc

    async def touch(
        self, identity_id: str, *, email: str | None, email_verified: bool, now: int
    ) -> None:
        async with self._sessions() as db:
            await db.execute(
                update(Identity)
                .where(Identity.id == identity_id)
                .values(email=email, email_verified=email_verified, last_login_at=now)
            )
            await db.commit()
