"""Refresh rotation (RFC 9700 s4.14.2) as one transaction on one connection.

The hottest write path, so it skips the ORM's unit of work: Core statements built once
at import, run on a plain connection, with plain rows in and out. A rotation reads the
grant (session and user, one join), then stamps the session's last use, claims the
presented token with a conditional UPDATE, writes the replacement and the audit event,
and commits: all of it or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.storage.models import AuditEntry, AuditEvent, Base, RefreshToken, Session, User

__all__ = [
    "ADD_AUDIT",
    "GrantSession",
    "GrantUser",
    "RefreshRotation",
    "RotationOutcome",
    "read_grant",
]


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What happened to a presented refresh token when we tried to rotate it."""

    status: Literal["rotated", "unknown", "reused", "revoked"]
    session_id: str | None = None
    rotated_at: float | None = None


@dataclass(frozen=True, slots=True)
class GrantSession:
    """The session columns a refresh needs."""

    id: str
    user_id: str
    kind: str
    actor: str | None
    scopes: list[str] | None
    device_fingerprint: str
    expires_at: int
    revoked_at: int | None
    created_at: int = 0
    amr: list[str] | None = None
    mfa_at: int | None = None


@dataclass(frozen=True, slots=True)
class GrantUser:
    """The user columns a refresh needs."""

    id: str
    email: str
    roles: list[str]
    is_active: bool
    email_verified: bool = False


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


_SESSIONS, _USERS, _TOKENS = _table(Session), _table(User), _table(RefreshToken)
# inline: nothing reads the new row's id, so PostgreSQL need not return it.
ADD_AUDIT = insert(_table(AuditEvent)).inline()
# The session and its user in one query: no row if either is gone or they differ.
_GRANT = (
    select(
        _SESSIONS.c.id,
        _SESSIONS.c.kind,
        _SESSIONS.c.actor,
        _SESSIONS.c.scopes,
        _SESSIONS.c.device_fingerprint,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.revoked_at,
        _SESSIONS.c.created_at,
        _SESSIONS.c.amr,
        _SESSIONS.c.mfa_at,
        _USERS.c.id.label("user_id"),
        _USERS.c.email,
        _USERS.c.roles,
        _USERS.c.is_active,
        _USERS.c.email_verified,
    )
    .join_from(_SESSIONS, _USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.id == bindparam("session_id"), _USERS.c.id == bindparam("user_id"))
)
# The arbiter under concurrency: of several requests presenting the same token,
# exactly one sees a row count of 1.
_CLAIM = (
    update(_TOKENS)
    .where(
        _TOKENS.c.jti == bindparam("claim_jti"),
        _TOKENS.c.token_hash == bindparam("claim_hash"),
        _TOKENS.c.status == "active",
        _TOKENS.c.expires_at > bindparam("now"),
    )
    .values(status="rotated", rotated_at=bindparam("spent_at"))
)
_ADD_TOKEN = insert(_TOKENS)
_TOUCH = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("touch_id"))
    .values(last_used_at=bindparam("now"))
)
_TOKEN_STATE = select(
    _TOKENS.c.session_id,
    _TOKENS.c.token_hash,
    _TOKENS.c.status,
    _TOKENS.c.expires_at,
    _TOKENS.c.rotated_at,
).where(_TOKENS.c.jti == bindparam("jti"))


async def read_grant(
    conn: AsyncConnection, *, session_id: str, user_id: str
) -> tuple[GrantSession, GrantUser] | None:
    """The session ``session_id`` and its user, if that user is ``user_id``."""
    params = {"session_id": session_id, "user_id": user_id}
    row = (await conn.execute(_GRANT, params)).first()
    if row is None:
        return None
    session = GrantSession(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        actor=row.actor,
        scopes=row.scopes,
        device_fingerprint=row.device_fingerprint,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        amr=row.amr,
        mfa_at=row.mfa_at,
    )
    user = GrantUser(row.user_id, row.email, row.roles, row.is_active, bool(row.email_verified))
    return session, user


class RefreshRotation:
    """One rotation: ``grant`` as read when it began, ``rotate`` to finish it.

    Leaving the store's ``refresh_rotation`` block without rotating rolls back.
    """

    def __init__(self, conn: AsyncConnection, grant: tuple[GrantSession, GrantUser] | None):
        self._conn = conn
        self.grant = grant

    async def rotate(
        self,
        *,
        jti: str,
        token_hash: str,
        replacement: RefreshToken,
        now: int,
        audit: AuditEntry,
        spent_at: float | None = None,
    ) -> RotationOutcome:
        """Spend ``jti`` for ``replacement`` and store ``audit`` with it, atomically.

        ``spent_at`` is the exact time (fractional seconds) recorded as the token's
        ``rotated_at``, from which the reuse grace is measured; ``now`` by default.
        """
        # One greenlet for every statement: each awaited statement would cost a switch.
        return await self._conn.run_sync(
            _rotate,
            jti=jti,
            token_hash=token_hash,
            replacement=replacement,
            now=now,
            spent_at=float(now) if spent_at is None else spent_at,
            audit=audit,
        )


def _rotate(
    conn: Connection,
    *,
    jti: str,
    token_hash: str,
    replacement: RefreshToken,
    now: int,
    spent_at: float,
    audit: AuditEntry,
) -> RotationOutcome:
    # Lock the session row before the token row, as revoking does, so the two cannot
    # deadlock on PostgreSQL; it rolls back with the rest if the claim fails.
    conn.execute(_TOUCH, {"touch_id": replacement.session_id, "now": now})
    claim = {"claim_jti": jti, "claim_hash": token_hash, "now": now, "spent_at": spent_at}
    if _rowcount(conn.execute(_CLAIM, claim)) == 1:
        conn.execute(_ADD_TOKEN, _token_columns(replacement))
        conn.execute(ADD_AUDIT, audit.columns())
        conn.commit()
        return RotationOutcome("rotated", replacement.session_id)
    conn.rollback()  # release the write locks before looking at why
    row = conn.execute(_TOKEN_STATE, {"jti": jti}).first()
    conn.rollback()
    if row is None or row.token_hash != token_hash or row.expires_at <= now:
        return RotationOutcome("unknown")
    if row.status == "rotated":
        return RotationOutcome("reused", row.session_id, row.rotated_at)
    return RotationOutcome("revoked", row.session_id)


def _token_columns(token: RefreshToken) -> dict[str, Any]:
    return {
        "jti": token.jti,
        "token_hash": token.token_hash,
        "session_id": token.session_id,
        "status": token.status,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
    }


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0))
