"""The SQL store: every query authgate runs against the durable database.

Every query runs inside ``_db()`` or ``_conn()``, the store boundary: a database that is
down, slow to connect, or whose bounded pool is exhausted surfaces as
``StorageUnavailableError`` (503), never as a hang or a 500. Each method is one
transaction, so a failure leaves no partial write behind.

The hot writes (refresh rotation, audit events) run Core statements built once, on a
plain connection, without the ORM's unit of work (see ``rotation.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import greenlet_spawn

from authgate.errors import EmailTakenError, StorageUnavailableError
from authgate.storage.database import session_factory
from authgate.storage.models import (
    AuditEntry,
    AuditEvent,
    RefreshToken,
    RevocationEvent,
    Session,
    User,
)
from authgate.storage.outage import is_unavailable
from authgate.storage.rotation import (
    ADD_AUDIT,
    GrantSession,
    GrantUser,
    PostgresRotation,
    RefreshRotation,
    Rotation,
    RotationOutcome,
    Spend,
    grant_and_rotate_pg,
    read_grant,
    read_grant_pg,
)

__all__ = ["RotationOutcome", "SqlStore", "guarded_session", "is_unavailable"]

_T = TypeVar("_T")


@asynccontextmanager
async def _guarded(resource: AbstractAsyncContextManager[_T]) -> AsyncIterator[_T]:
    try:
        async with resource as value:
            yield value
    except Exception as exc:
        if is_unavailable(exc) and not isinstance(exc, StorageUnavailableError):
            raise StorageUnavailableError("database") from exc
        raise


@asynccontextmanager
async def _pooled_driver(engine: AsyncEngine) -> AsyncIterator[Any]:
    """An asyncpg connection from the engine's pool, for statements the driver runs itself.

    Checked out as a pooled DBAPI connection, without the ``AsyncConnection`` around it
    that nothing here uses: about 45 µs less per refresh (bench/README.md, 18.6). A
    connection lost on the way is a 503, and the pool must not hand it out again.
    """
    pooled = await engine.raw_connection()
    driver = pooled.driver_connection
    try:
        yield driver
    except Exception as exc:
        if driver is not None and driver.is_closed():
            await greenlet_spawn(pooled.invalidate, exc)
            raise StorageUnavailableError("database") from exc
        raise
    finally:
        await greenlet_spawn(pooled.close)


def guarded_session(
    sessions: async_sessionmaker[AsyncSession],
) -> AbstractAsyncContextManager[AsyncSession]:
    """A database session at the store boundary: unreachable means 503, never a 500."""
    return _guarded(sessions())


class SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # asyncpg runs the refresh rotation's statements itself (storage/rotation.py).
        self._asyncpg = engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    def _db(self) -> AbstractAsyncContextManager[AsyncSession]:
        return guarded_session(self._sessions)

    def _conn(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _guarded(self.engine.connect())

    async def ping(self) -> None:
        """One round trip; raises StorageUnavailableError when the database is down."""
        async with self._db() as db:
            await db.execute(select(1))

    # Users

    async def add_user(self, user: User) -> User:
        async with self._db() as db:
            db.add(user)
            try:
                await db.commit()
            except IntegrityError as exc:
                raise EmailTakenError() from exc
        return user

    async def user_by_email(self, email: str) -> User | None:
        async with self._db() as db:
            result = await db.execute(select(User).where(User.email == email))
            return result.scalar_one_or_none()

    async def user_by_id(self, user_id: str) -> User | None:
        async with self._db() as db:
            return await db.get(User, user_id)

    async def list_users(self, *, limit: int, offset: int) -> Sequence[User]:
        async with self._db() as db:
            query = select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
            return (await db.execute(query)).scalars().all()

    async def set_password_hash(
        self, user_id: str, password_hash: str, *, changed_at: int | None = None
    ) -> None:
        """Store a new hash; ``changed_at`` marks a real change, not a cost upgrade."""
        values: dict[str, Any] = {"password_hash": password_hash}
        if changed_at is not None:
            values["password_changed_at"] = changed_at
        async with self._db() as db:
            await db.execute(update(User).where(User.id == user_id).values(**values))
            await db.commit()

    # Sessions and refresh tokens

    async def add_session(self, session: Session, refresh: RefreshToken | None) -> None:
        async with self._db() as db:
            db.add(session)
            await db.flush()
            if refresh is not None:
                db.add(refresh)
            await db.commit()

    async def session_by_id(self, session_id: str) -> Session | None:
        async with self._db() as db:
            return await db.get(Session, session_id)

    async def active_sessions(
        self, user_id: str, now: int, *, kind: str = "login"
    ) -> Sequence[Session]:
        async with self._db() as db:
            query = (
                select(Session)
                .where(Session.user_id == user_id, Session.revoked_at.is_(None))
                .where(Session.expires_at > now, Session.kind == kind)
                .order_by(Session.last_used_at.desc())
            )
            return (await db.execute(query)).scalars().all()

    async def child_session_ids(self, parent_ids: Sequence[str]) -> list[str]:
        """Live sessions derived from these (delegations), for cascading revocation."""
        if not parent_ids:
            return []
        async with self._db() as db:
            query = select(Session.id).where(
                Session.parent_id.in_(parent_ids), Session.revoked_at.is_(None)
            )
            return list((await db.execute(query)).scalars().all())

    async def actor_session_ids(self, actor: str) -> list[str]:
        """Live sessions in which this agent acts, on its own or for a user."""
        async with self._db() as db:
            query = select(Session.id).where(Session.actor == actor, Session.revoked_at.is_(None))
            return list((await db.execute(query)).scalars().all())

    async def resource_sessions(self, resource: str) -> Sequence[Session]:
        """Live grants whose tokens are for ``resource`` (authgate.authserver)."""
        async with self._db() as db:
            query = select(Session).where(
                Session.resource == resource, Session.revoked_at.is_(None)
            )
            return (await db.execute(query)).scalars().all()

    @asynccontextmanager
    async def refresh_rotation(self, *, session_id: str, user_id: str) -> AsyncIterator[Rotation]:
        """Read a refresh token's session and user and hold the connection for ``rotate``.

        Leaving the block without ``rotate`` writes nothing; nothing is half written.
        """
        if not self._asyncpg:
            async with self._conn() as conn:
                grant = await read_grant(conn, session_id=session_id, user_id=user_id)
                yield RefreshRotation(conn, grant)
            return
        async with _guarded(_pooled_driver(self.engine)) as driver:
            grant = await read_grant_pg(driver, session_id=session_id, user_id=user_id)
            yield PostgresRotation(driver, grant)

    @property
    def rotates_in_one_round_trip(self) -> bool:
        """Whether ``grant_and_rotate`` is available (PostgreSQL through asyncpg)."""
        return self._asyncpg

    async def grant_and_rotate(
        self, *, user_id: str, spend: Spend
    ) -> tuple[tuple[GrantSession, GrantUser] | None, RotationOutcome]:
        """Read the grant and rotate in one statement, writing only if the grant is live.

        For a session whose absolute expiry the caller knows (the replacement is signed
        already); the grant comes back for the caller's own checks.
        """
        async with _guarded(_pooled_driver(self.engine)) as driver:
            return await grant_and_rotate_pg(driver, user_id=user_id, spend=spend)

    async def revoke_sessions(
        self, session_ids: Sequence[str], reason: str, now: int, *, until: int | None = None
    ) -> list[str]:
        """Revoke the given sessions and their refresh tokens; return those newly revoked.

        With ``until``, the revocation feed gets one event per newly revoked session in
        the same transaction, so no verifier can miss a revocation the database holds.
        """
        if not session_ids:
            return []
        async with self._db() as db:
            live = await db.execute(
                select(Session.id).where(Session.id.in_(session_ids), Session.revoked_at.is_(None))
            )
            revoked = list(live.scalars().all())
            if revoked:
                await db.execute(
                    update(Session)
                    .where(Session.id.in_(revoked), Session.revoked_at.is_(None))
                    .values(revoked_at=now, revoked_reason=reason)
                )
                if until is not None:
                    rows = [
                        {"kind": "session", "subject": sid, "revoked_at": now, "until": until}
                        for sid in revoked
                    ]
                    await db.execute(insert(RevocationEvent), rows)
            await db.execute(
                update(RefreshToken)
                .where(RefreshToken.session_id.in_(session_ids), RefreshToken.status == "active")
                .values(status="revoked")
            )
            await db.commit()
        return revoked

    async def user_session_ids(self, user_id: str) -> list[str]:
        async with self._db() as db:
            query = select(Session.id).where(
                Session.user_id == user_id, Session.revoked_at.is_(None)
            )
            return list((await db.execute(query)).scalars().all())

    async def refresh_token_live(self, *, jti: str, token_hash: str, now: int) -> bool:
        """Whether this refresh token is the unspent one of a live session."""
        async with self._db() as db:
            query = (
                select(RefreshToken.jti)
                .join(Session, Session.id == RefreshToken.session_id)
                .where(
                    RefreshToken.jti == jti,
                    RefreshToken.token_hash == token_hash,
                    RefreshToken.status == "active",
                    RefreshToken.expires_at > now,
                    Session.revoked_at.is_(None),
                    Session.expires_at > now,
                )
            )
            return (await db.execute(query)).first() is not None

    async def revoked_since(self, since: int) -> list[tuple[str, int]]:
        async with self._db() as db:
            query = select(Session.id, Session.revoked_at).where(Session.revoked_at >= since)
            return [(sid, at) for sid, at in (await db.execute(query)).all() if at is not None]

    async def delete_expired(self, *, now: int, revoked_before: int) -> int:
        """Remove expired sessions and those revoked long enough ago that no token survives."""
        async with self._db() as db:
            await db.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now))
            stale = select(Session.id).where(
                or_(Session.expires_at <= now, Session.revoked_at <= revoked_before)
            )
            stale_ids = list((await db.execute(stale)).scalars().all())
            if stale_ids:
                await db.execute(delete(RefreshToken).where(RefreshToken.session_id.in_(stale_ids)))
                await db.execute(delete(Session).where(Session.id.in_(stale_ids)))
            await db.commit()
        return len(stale_ids)

    # Audit trail

    async def add_audit(self, entry: AuditEntry) -> None:
        async with self._conn() as conn:
            await conn.execute(ADD_AUDIT, entry.columns())
            await conn.commit()

    async def recent_audit(self, *, limit: int, event: str | None = None) -> Sequence[AuditEvent]:
        async with self._db() as db:
            query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
            if event is not None:
                query = query.where(AuditEvent.event == event)
            return (await db.execute(query)).scalars().all()
