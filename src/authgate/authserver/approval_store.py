"""Backchannel approval requests in the database (OpenID CIBA Core 1.0, docs/ciba.md).

Every state change is one conditional UPDATE, so on PostgreSQL two authgate instances
never both decide a request, both issue its token (CIBA s10.1: the ``auth_req_id`` is
used once), or both accept its token at a resource (``redeem``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.errors import ApprovalConflictError, ApprovalNotFoundError
from authgate.storage.database import session_factory
from authgate.storage.models import BackchannelRequest, OAuthClient
from authgate.storage.store import guarded_session

__all__ = ["ApprovalStore"]

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
ISSUED = "issued"
EXPIRED = "expired"


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class ApprovalStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)

    def _db(self) -> AbstractAsyncContextManager[AsyncSession]:
        return guarded_session(self._sessions)

    async def add(self, row: BackchannelRequest) -> None:
        async with self._db() as db:
            db.add(row)
            await db.commit()

    async def by_hash(self, req_hash: str) -> BackchannelRequest | None:
        async with self._db() as db:
            query = select(BackchannelRequest).where(BackchannelRequest.req_hash == req_hash)
            row: BackchannelRequest | None = (await db.execute(query)).scalar_one_or_none()
            return row

    async def pending(
        self, user_id: str, now: int
    ) -> Sequence[tuple[BackchannelRequest, str | None]]:
        """The user's undecided, unexpired requests with the agent's name, oldest first."""
        query = (
            select(BackchannelRequest, OAuthClient.name)
            .join(OAuthClient, OAuthClient.client_id == BackchannelRequest.client_id, isouter=True)
            .where(
                BackchannelRequest.user_id == user_id,
                BackchannelRequest.status == PENDING,
                BackchannelRequest.expires_at > now,
            )
            .order_by(BackchannelRequest.created_at, BackchannelRequest.id)
        )
        async with self._db() as db:
            return [(row, name) for row, name in (await db.execute(query)).all()]

    async def pending_count(self, user_id: str, client_id: str, now: int) -> int:
        query = select(func.count()).where(
            BackchannelRequest.user_id == user_id,
            BackchannelRequest.client_id == client_id,
            BackchannelRequest.status == PENDING,
            BackchannelRequest.expires_at > now,
        )
        async with self._db() as db:
            return int((await db.execute(query)).scalar_one())

    async def decide(
        self, request_id: str, *, user_id: str, status: str, now: int
    ) -> BackchannelRequest:
        """Move the user's pending request to ``status``; exactly one decision wins."""
        async with self._db() as db:
            result = await db.execute(
                update(BackchannelRequest)
                .where(
                    BackchannelRequest.id == request_id,
                    BackchannelRequest.user_id == user_id,
                    BackchannelRequest.status == PENDING,
                    BackchannelRequest.expires_at > now,
                )
                .values(status=status, decided_at=now)
            )
            await db.commit()
            row = await db.get(BackchannelRequest, request_id, populate_existing=True)
        if row is None or row.user_id != user_id:
            raise ApprovalNotFoundError()
        if _count(result) != 1:
            expired = row.status in (PENDING, EXPIRED) and row.expires_at <= now
            raise ApprovalConflictError("expired" if expired else "decided")
        return row

    async def record_poll(self, request_id: str, *, now: float, interval: int) -> None:
        async with self._db() as db:
            await db.execute(
                update(BackchannelRequest)
                .where(BackchannelRequest.id == request_id)
                .values(last_poll_at=now, interval=interval)
            )
            await db.commit()

    async def expire(self, request_id: str) -> bool:
        """Mark a request that outlived its expiry; True the one time it happens."""
        async with self._db() as db:
            result = await db.execute(
                update(BackchannelRequest)
                .where(
                    BackchannelRequest.id == request_id,
                    BackchannelRequest.status.in_((PENDING, APPROVED)),
                )
                .values(status=EXPIRED)
            )
            await db.commit()
        return _count(result) == 1

    async def mark_issued(self, request_id: str, *, jti: str, token_expires_at: int) -> bool:
        """The approved request's token is delivered: True for the one caller that wins."""
        async with self._db() as db:
            result = await db.execute(
                update(BackchannelRequest)
                .where(BackchannelRequest.id == request_id, BackchannelRequest.status == APPROVED)
                .values(status=ISSUED, token_jti=jti, token_expires_at=token_expires_at)
            )
            await db.commit()
        return _count(result) == 1

    async def redeem(self, jti: str, *, now: int) -> BackchannelRequest | None:
        """Spend the token ``jti``: the request the first time, None afterwards.

        Raises ``LookupError`` when no issued request has that token at all.
        """
        async with self._db() as db:
            result = await db.execute(
                update(BackchannelRequest)
                .where(BackchannelRequest.token_jti == jti, BackchannelRequest.used_at.is_(None))
                .values(used_at=now)
            )
            await db.commit()
            query = select(BackchannelRequest).where(BackchannelRequest.token_jti == jti)
            row: BackchannelRequest | None = (await db.execute(query)).scalar_one_or_none()
        if row is None:
            raise LookupError(jti)
        return row if _count(result) == 1 else None

    async def purge(self, now: int) -> int:
        """Forget requests whose wait and whose token are both over."""
        async with self._db() as db:
            result = await db.execute(
                delete(BackchannelRequest).where(
                    BackchannelRequest.expires_at < now,
                    (BackchannelRequest.token_expires_at.is_(None))
                    | (BackchannelRequest.token_expires_at < now),
                )
            )
            await db.commit()
        return _count(result)
