"""Authorization codes (RFC 6749 s4.1.2, OAuth 2.1 s4.1.2): single use, short, bound.

A code is 256 random bits; only its SHA-256 is stored. It is bound to the client, the
redirect URI, the PKCE challenge (RFC 7636 s4.4), the resource (RFC 8707 s2.2) and the
scopes, and lives at most 60 seconds (RFC 6749 s4.1.2 recommends 10 minutes at most).

Redeeming claims the code with a conditional UPDATE in the same transaction that
creates the grant, so of two concurrent redemptions exactly one wins, and the loser sees
the grant the winner started, which it revokes (s4.1.2: "SHOULD revoke all tokens
previously issued based on that authorization code").
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.clock import Clock, system_clock
from authgate.storage.database import session_factory
from authgate.storage.models import AuthorizationCode, RefreshToken, Session
from authgate.storage.store import guarded_session

__all__ = ["CodeStore", "IssuedCode", "hash_code"]

MAX_CODE_TTL = 60
_MAX_CODE = 128


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedCode:
    client_id: str
    user_id: str
    redirect_uri: str
    code_challenge: str
    resource: str
    scopes: tuple[str, ...]
    expires_at: int
    used_at: int | None
    session_id: str | None


class CodeStore:
    def __init__(self, engine: AsyncEngine, *, ttl: int, clock: Clock = system_clock) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._ttl = min(ttl, MAX_CODE_TTL)
        self._clock = clock

    async def issue(
        self,
        *,
        client_id: str,
        user_id: str,
        redirect_uri: str,
        code_challenge: str,
        resource: str,
        scopes: Sequence[str],
    ) -> str:
        code = secrets.token_urlsafe(32)
        now = int(self._clock())
        row = AuthorizationCode(
            code_hash=hash_code(code),
            client_id=client_id,
            user_id=user_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            resource=resource,
            scopes=sorted(scopes),
            created_at=now,
            expires_at=now + self._ttl,
        )
        async with guarded_session(self._sessions) as db:
            db.add(row)
            await db.commit()
        return code

    async def lookup(self, code: str) -> IssuedCode | None:
        if not code or len(code) > _MAX_CODE:
            return None
        async with guarded_session(self._sessions) as db:
            row = await db.get(AuthorizationCode, hash_code(code))
        if row is None:
            return None
        return IssuedCode(
            client_id=row.client_id,
            user_id=row.user_id,
            redirect_uri=row.redirect_uri,
            code_challenge=row.code_challenge,
            resource=row.resource,
            scopes=tuple(row.scopes),
            expires_at=row.expires_at,
            used_at=row.used_at,
            session_id=row.session_id,
        )

    async def redeem(self, code: str, session: Session, refresh: RefreshToken) -> bool:
        """Spend the code for the grant ``session``, created with it; False if already spent."""
        now = int(self._clock())
        async with guarded_session(self._sessions) as db:
            result = await db.execute(
                update(AuthorizationCode)
                .where(
                    AuthorizationCode.code_hash == hash_code(code),
                    AuthorizationCode.used_at.is_(None),
                    AuthorizationCode.expires_at > now,
                )
                .values(used_at=now, session_id=session.id)
            )
            if getattr(result, "rowcount", 0) != 1:
                await db.rollback()
                return False
            db.add(session)
            await db.flush()
            db.add(refresh)
            await db.commit()
        return True

    async def burn(self, code: str) -> None:
        """Spend a code without a grant: a wrong verifier gets no second guess."""
        async with guarded_session(self._sessions) as db:
            await db.execute(
                update(AuthorizationCode)
                .where(
                    AuthorizationCode.code_hash == hash_code(code),
                    AuthorizationCode.used_at.is_(None),
                )
                .values(used_at=int(self._clock()))
            )
            await db.commit()

    async def purge(self) -> int:
        """Drop codes expired long enough ago that a replay would find nothing to revoke."""
        older = int(self._clock()) - 3600
        async with guarded_session(self._sessions) as db:
            result = await db.execute(
                delete(AuthorizationCode).where(AuthorizationCode.expires_at < older)
            )
            await db.commit()
        return int(getattr(result, "rowcount", 0) or 0)
