"""Refresh rotation (RFC 9700 s4.14.2): the grant read, then one atomic write.

The hottest write path, so it skips the ORM's unit of work. A rotation reads the grant
(session and user, one join), then stamps the session's last use, claims the presented
token with a conditional UPDATE, writes the replacement and the audit event: all of it
or none.

On PostgreSQL (asyncpg) that is two statements and two round trips on one connection,
run by the driver itself (``PostgresRotation``): the grant read, then one statement
whose data-modifying CTEs (PostgreSQL manual, 7.8.4) do the four writes, atomic as any
single statement is. When the caller already knows the session's fixed columns (its
absolute expiry caps the replacement's ``exp``, so the replacement can be signed before
the grant is read), the read joins the writes in one statement and one round trip
(``grant_and_rotate_pg``). Elsewhere (SQLite) it is one transaction of Core statements
built once at import (``RefreshRotation``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.storage.models import AuditEntry, AuditEvent, Base, RefreshToken, Session, User

__all__ = [
    "ADD_AUDIT",
    "GrantSession",
    "GrantUser",
    "NewRefreshToken",
    "PostgresRotation",
    "RefreshRotation",
    "Rotation",
    "RotationOutcome",
    "Spend",
    "grant_and_rotate_pg",
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


@dataclass(frozen=True, slots=True)
class NewRefreshToken:
    """The row of a replacement refresh token (status ``active``), without the ORM."""

    jti: str
    token_hash: str
    session_id: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Spend:
    """What one rotation writes: the presented token claimed, its replacement, the event.

    ``spent_at`` is the exact time (fractional seconds) recorded as the token's
    ``rotated_at``, from which the reuse grace is measured.
    """

    jti: str
    token_hash: str
    replacement: NewRefreshToken
    now: int
    audit: AuditEntry
    spent_at: float


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


class Rotation(Protocol):
    """One rotation: ``grant`` as read when it began, ``rotate`` to finish it."""

    grant: tuple[GrantSession, GrantUser] | None

    async def rotate(self, spend: Spend) -> RotationOutcome: ...


class RefreshRotation:
    """One rotation: ``grant`` as read when it began, ``rotate`` to finish it.

    Leaving the store's ``refresh_rotation`` block without rotating rolls back.
    """

    def __init__(self, conn: AsyncConnection, grant: tuple[GrantSession, GrantUser] | None):
        self._conn = conn
        self.grant = grant

    async def rotate(self, spend: Spend) -> RotationOutcome:
        """Claim ``spend.jti`` for its replacement and store its event, atomically."""
        # One greenlet for every statement: each awaited statement would cost a switch.
        return await self._conn.run_sync(_rotate, spend)


def _rotate(conn: Connection, spend: Spend) -> RotationOutcome:
    jti, token_hash, replacement, now = spend.jti, spend.token_hash, spend.replacement, spend.now
    # Lock the session row before the token row, as revoking does, so the two cannot
    # deadlock on PostgreSQL; it rolls back with the rest if the claim fails.
    conn.execute(_TOUCH, {"touch_id": replacement.session_id, "now": now})
    claim = {"claim_jti": jti, "claim_hash": token_hash, "now": now, "spent_at": spend.spent_at}
    if _rowcount(conn.execute(_CLAIM, claim)) == 1:
        conn.execute(_ADD_TOKEN, _token_columns(replacement))
        conn.execute(ADD_AUDIT, spend.audit.columns())
        conn.commit()
        return RotationOutcome("rotated", replacement.session_id)
    conn.rollback()  # release the write locks before looking at why
    row = conn.execute(_TOKEN_STATE, {"jti": jti}).first()
    conn.rollback()
    return _outcome(None if row is None else row._mapping, token_hash, now)


def _token_columns(token: NewRefreshToken) -> dict[str, Any]:
    return {
        "jti": token.jti,
        "token_hash": token.token_hash,
        "session_id": token.session_id,
        "status": "active",
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
    }


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0))


def _outcome(row: Any, token_hash: str, now: int) -> RotationOutcome:
    """Why a token could not be claimed, from its row (None if there is none)."""
    if row is None or row["token_hash"] != token_hash or row["expires_at"] <= now:
        return RotationOutcome("unknown")
    if row["status"] == "rotated":
        return RotationOutcome("reused", row["session_id"], row["rotated_at"])
    return RotationOutcome("revoked", row["session_id"])


class Driver(Protocol):
    """The few asyncpg ``Connection`` methods a rotation uses (asyncpg is optional)."""

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...


# PostgreSQL's own SQL, prepared once per connection by asyncpg (its statement cache).
_PG_GRANT_SELECT = (
    "SELECT s.id, s.kind, s.actor, s.scopes, s.device_fingerprint, s.expires_at, "
    "s.revoked_at, s.created_at, s.amr, s.mfa_at, "
    "u.id AS user_id, u.email, u.roles, u.is_active, u.email_verified "
    "FROM sessions AS s JOIN users AS u ON u.id = s.user_id "
)
_PG_GRANT = _PG_GRANT_SELECT + "WHERE s.id = $1 AND u.id = $2"
# $1 session, $2 now, $3/$4 the presented token's jti and hash, $5 the exact time it is
# spent; $6-$9 the replacement; $10-$15 the audit event.
#
# ``touched`` locks the session row before ``claimed`` locks the token row (claimed reads
# touched, so it runs after it), the order revoking uses, so the two cannot deadlock.
# ``touched`` stamps the session only if the token is claimable in this statement's
# snapshot: a token already spent or revoked changes nothing. The claim is the arbiter
# under concurrency: its WHERE is checked again on the newest row version once the lock
# is held (READ COMMITTED), so of several requests presenting one token exactly one
# claims it. The replacement and the audit event are written only with a claim.
_CLAIMABLE = "jti = $3 AND token_hash = $4 AND status = 'active' AND expires_at > $2"
# Built from the module's own constants only, never from input (hence the noqa: S608).
_PG_CLAIM_AND_WRITE = (
    "claimed AS ("  # noqa: S608
    " UPDATE refresh_tokens SET status = 'rotated', rotated_at = $5"
    f" WHERE {_CLAIMABLE} AND EXISTS (SELECT 1 FROM touched)"
    " RETURNING session_id"
    "), added AS ("
    " INSERT INTO refresh_tokens (jti, token_hash, session_id, status, issued_at, expires_at)"
    " SELECT $6::varchar, $7::varchar, session_id, 'active', $8::bigint, $9::bigint"
    " FROM claimed"
    "), audited AS ("
    " INSERT INTO audit_events (at, event, user_id, session_id, ip, user_agent, detail)"
    " SELECT $10::bigint, $11::varchar, $12::varchar, $13::varchar, $14::varchar,"
    " $15::varchar, $16::json"
    " FROM claimed"
    ")"
)
_PG_ROTATE = (
    "WITH touched AS ("  # noqa: S608
    " UPDATE sessions SET last_used_at = $2"
    f" WHERE id = $1 AND EXISTS (SELECT 1 FROM refresh_tokens WHERE {_CLAIMABLE})"
    " RETURNING id"
    f"), {_PG_CLAIM_AND_WRITE} "
    "SELECT count(*) FROM claimed"
)
# The grant read and the writes in one statement, for a session whose fixed columns the
# caller already knows (its absolute expiry, which the replacement's ``exp`` is capped
# by): one round trip instead of two. $1-$16 as in _PG_ROTATE, $17 the user. ``live`` is
# the grant as _PG_GRANT reads it; the writes happen only if it is live (not revoked, not
# expired, its user active: the checks ``AuthService`` makes on the row it gets back),
# so a refusal writes nothing. The claim stays the arbiter, as above.
_PG_GRANT_AND_ROTATE = (
    f"WITH live AS ({_PG_GRANT_SELECT}WHERE s.id = $1 AND u.id = $17"  # noqa: S608
    "), touched AS ("
    " UPDATE sessions SET last_used_at = $2"
    " WHERE id = $1"
    " AND EXISTS (SELECT 1 FROM live"
    " WHERE revoked_at IS NULL AND expires_at > $2 AND is_active)"
    f" AND EXISTS (SELECT 1 FROM refresh_tokens WHERE {_CLAIMABLE})"
    " RETURNING id"
    f"), {_PG_CLAIM_AND_WRITE} "
    "SELECT live.*, (SELECT count(*) FROM claimed) AS claimed FROM live"
)
_PG_SPENT_STATE = (
    "SELECT session_id, token_hash, status, expires_at, rotated_at "
    "FROM refresh_tokens WHERE jti = $1"
)


async def read_grant_pg(
    driver: Driver, *, session_id: str, user_id: str
) -> tuple[GrantSession, GrantUser] | None:
    """``read_grant`` on PostgreSQL, by the driver itself (no transaction: one statement)."""
    row = await driver.fetchrow(_PG_GRANT, session_id, user_id)
    return None if row is None else _grant_of(row)


def _grant_of(row: Any) -> tuple[GrantSession, GrantUser]:
    session = GrantSession(
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        actor=row["actor"],
        scopes=row["scopes"],
        device_fingerprint=row["device_fingerprint"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        created_at=row["created_at"],
        amr=row["amr"],
        mfa_at=row["mfa_at"],
    )
    user = GrantUser(
        row["user_id"], row["email"], row["roles"], row["is_active"], bool(row["email_verified"])
    )
    return session, user


async def grant_and_rotate_pg(
    driver: Driver, *, user_id: str, spend: Spend
) -> tuple[tuple[GrantSession, GrantUser] | None, RotationOutcome]:
    """The grant and the rotation in one round trip (``_PG_GRANT_AND_ROTATE``).

    The grant comes back as it was read, live or not; nothing was written unless it was
    live. The outcome is ``rotated`` only if the token was claimed.
    """
    row = await driver.fetchrow(_PG_GRANT_AND_ROTATE, *_rotate_args(spend), user_id)
    if row is None:
        return None, RotationOutcome("unknown")
    grant = _grant_of(row)
    if row["claimed"] == 1:
        return grant, RotationOutcome("rotated", spend.replacement.session_id)
    return grant, await _spent_state(driver, spend)


def _rotate_args(spend: Spend) -> tuple[Any, ...]:
    """$1-$16 of ``_PG_ROTATE`` and ``_PG_GRANT_AND_ROTATE``."""
    replacement, audit = spend.replacement, spend.audit
    return (
        replacement.session_id,
        spend.now,
        spend.jti,
        spend.token_hash,
        spend.spent_at,
        replacement.jti,
        replacement.token_hash,
        replacement.issued_at,
        replacement.expires_at,
        audit.at,
        audit.event,
        audit.user_id,
        audit.session_id,
        audit.ip,
        audit.user_agent,
        # As SQLAlchemy's JSON type writes it: None is JSON null.
        json.dumps(audit.detail),
    )


async def _spent_state(driver: Driver, spend: Spend) -> RotationOutcome:
    row = await driver.fetchrow(_PG_SPENT_STATE, spend.jti)
    return _outcome(row, spend.token_hash, spend.now)


class PostgresRotation:
    """``RefreshRotation`` on PostgreSQL: the writes are one statement, one round trip.

    Statements run outside any transaction block, so each one commits on its own;
    nothing is written before ``rotate``, and ``rotate`` writes all or nothing.
    """

    def __init__(self, driver: Driver, grant: tuple[GrantSession, GrantUser] | None):
        self._driver = driver
        self.grant = grant

    async def rotate(self, spend: Spend) -> RotationOutcome:
        """As ``RefreshRotation.rotate``."""
        claimed = await self._driver.fetchval(_PG_ROTATE, *_rotate_args(spend))
        if claimed == 1:
            return RotationOutcome("rotated", spend.replacement.session_id)
        return await _spent_state(self._driver, spend)
