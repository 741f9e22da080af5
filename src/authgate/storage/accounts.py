"""Queries of the account lifecycle: mailed link tokens, user state, administration.

Each method is one transaction at the store boundary (unreachable database: 503). A
link token is spent by a conditional UPDATE, so of two concurrent uses exactly one wins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from authgate.errors import EmailTakenError
from authgate.storage.database import session_factory
from authgate.storage.models import (
    AccountToken,
    AuditEvent,
    Identity,
    OAuthClient,
    Passkey,
    RecoveryCode,
    Session,
    User,
    VaultCredential,
)
from authgate.storage.store import guarded_session

__all__ = ["AccountStore"]


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    @asynccontextmanager
    async def _db(self) -> AsyncIterator[AsyncSession]:
        async with guarded_session(self._sessions) as db:
            yield db

    # Link tokens

    async def add_token(self, token: AccountToken) -> None:
        async with self._db() as db:
            db.add(token)
            await db.commit()

    async def live_token(self, token_hash: str, purpose: str, now: int) -> AccountToken | None:
        async with self._db() as db:
            query = select(AccountToken).where(*_live(token_hash, purpose, now))
            return (await db.execute(query)).scalar_one_or_none()

    async def spend_token(self, token_hash: str, purpose: str, now: int) -> AccountToken | None:
        """Mark the token used; the row only for the one caller that did."""
        async with self._db() as db:
            spent = await db.execute(
                update(AccountToken).where(*_live(token_hash, purpose, now)).values(used_at=now)
            )
            if int(getattr(spent, "rowcount", 0)) != 1:
                await db.rollback()
                return None
            await db.commit()
            return await db.get(AccountToken, token_hash)

    async def drop_tokens(self, user_id: str, purpose: str) -> None:
        """Older links of this kind stop working when a newer one is used."""
        async with self._db() as db:
            await db.execute(
                delete(AccountToken).where(
                    AccountToken.user_id == user_id, AccountToken.purpose == purpose
                )
            )
            await db.commit()

    async def purge_tokens(self, now: int) -> None:
        """Forget link tokens that expired (the cleanup sweep)."""
        async with self._db() as db:
            await db.execute(delete(AccountToken).where(AccountToken.expires_at <= now))
            await db.commit()

    # User state

    async def update_user(self, user_id: str, **values: Any) -> None:
        async with self._db() as db:
            try:
                await db.execute(update(User).where(User.id == user_id).values(**values))
                await db.commit()
            except IntegrityError as exc:  # the only unique column a caller changes: email
                raise EmailTakenError() from exc

    async def search_users(self, *, query: str | None, limit: int, offset: int) -> Sequence[User]:
        async with self._db() as db:
            stmt = select(User).where(User.deleted_at.is_(None))
            if query:
                pattern = f"%{_escape_like(query.lower())}%"
                stmt = stmt.where(
                    or_(
                        func.lower(User.email).like(pattern, escape="\\"),
                        func.lower(User.name).like(pattern, escape="\\"),
                    )
                )
            stmt = stmt.order_by(User.created_at, User.id).limit(limit).offset(offset)
            return (await db.execute(stmt)).scalars().all()

    async def erase_user(
        self, user_id: str, *, tombstone_email: str, pseudonym: str, now: int
    ) -> None:
        """Remove a person's data; keep a tombstone row (revoked sessions point to it until
        cleanup) and the audit trail under ``pseudonym``."""
        async with self._db() as db:
            for model in (AccountToken, RecoveryCode, Passkey, Identity):
                await db.execute(delete(model).where(model.user_id == user_id))
            await db.execute(delete(VaultCredential).where(VaultCredential.owner == user_id))
            await db.execute(
                update(Session).where(Session.user_id == user_id).values(ip=None, user_agent=None)
            )
            await db.execute(
                update(AuditEvent)
                .where(AuditEvent.user_id == user_id)
                .values(user_id=pseudonym, ip=None, user_agent=None, detail=None)
            )
            await db.execute(
                update(User)
                .where(User.id == user_id)
                .values(**_erased(tombstone_email), deleted_at=now)
            )
            await db.commit()

    async def clear_second_factors(self, user_id: str) -> None:
        async with self._db() as db:
            for model in (RecoveryCode, Passkey):
                await db.execute(delete(model).where(model.user_id == user_id))
            await db.execute(
                update(User)
                .where(User.id == user_id)
                .values(
                    totp_secret=None,
                    totp_enabled_at=None,
                    totp_last_step=None,
                    mfa_failures=0,
                    mfa_locked_until=None,
                )
            )
            await db.commit()

    async def passkeys(self, user_id: str) -> Sequence[Passkey]:
        async with self._db() as db:
            query = select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)
            return (await db.execute(query)).scalars().all()

    async def passkey(self, credential_id: str) -> Passkey | None:
        async with self._db() as db:
            return await db.get(Passkey, credential_id)

    async def add_passkey(self, passkey: Passkey) -> None:
        async with self._db() as db:
            db.add(passkey)
            await db.commit()

    async def touch_passkey(self, credential_id: str, sign_count: int, now: int) -> None:
        async with self._db() as db:
            await db.execute(
                update(Passkey)
                .where(Passkey.credential_id == credential_id)
                .values(sign_count=sign_count, last_used_at=now)
            )
            await db.commit()

    async def rename_passkey(self, user_id: str, credential_id: str, name: str) -> bool:
        async with self._db() as db:
            result = await db.execute(
                update(Passkey)
                .where(Passkey.credential_id == credential_id, Passkey.user_id == user_id)
                .values(name=name or "Passkey")
            )
            await db.commit()
            return int(getattr(result, "rowcount", 0)) == 1

    async def remove_passkey(self, user_id: str, credential_id: str) -> bool:
        async with self._db() as db:
            result = await db.execute(
                delete(Passkey).where(
                    Passkey.credential_id == credential_id, Passkey.user_id == user_id
                )
            )
            await db.commit()
            return int(getattr(result, "rowcount", 0)) == 1

    async def passkey_count(self, user_id: str) -> int:
        async with self._db() as db:
            query = select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
            return int((await db.execute(query)).scalar_one())

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        """Record ``step`` as used; False if it (or a later one) already was."""
        async with self._db() as db:
            result = await db.execute(
                update(User)
                .where(
                    User.id == user_id,
                    or_(User.totp_last_step.is_(None), User.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            await db.commit()
            return int(getattr(result, "rowcount", 0)) == 1

    async def replace_recovery_codes(self, user_id: str, hashes: list[str], now: int) -> None:
        async with self._db() as db:
            await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
            db.add_all(RecoveryCode(code_hash=h, user_id=user_id, created_at=now) for h in hashes)
            await db.commit()

    async def spend_recovery_code(self, user_id: str, code_hash: str, now: int) -> bool:
        async with self._db() as db:
            result = await db.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user_id,
                    RecoveryCode.code_hash == code_hash,
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=now)
            )
            await db.commit()
            return int(getattr(result, "rowcount", 0)) == 1

    async def recovery_codes_left(self, user_id: str) -> int:
        async with self._db() as db:
            query = (
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            )
            return int((await db.execute(query)).scalar_one())

    async def count_mfa_failure(self, user_id: str, *, now: int, limit: int, lockout: int) -> None:
        async with self._db() as db:
            user = await db.get(User, user_id, with_for_update=True)
            if user is None:
                return
            user.mfa_failures = (user.mfa_failures or 0) + 1
            if user.mfa_failures >= limit:
                user.mfa_failures = 0
                user.mfa_locked_until = now + lockout
            await db.commit()

    async def record_second_factor(self, session_id: str, amr: list[str], now: int) -> None:
        async with self._db() as db:
            await db.execute(
                update(Session).where(Session.id == session_id).values(amr=amr, mfa_at=now)
            )
            await db.commit()

    async def disable_agents(self, user_id: str) -> list[str]:
        """Disable every agent the user answers for; their ids, to revoke their grants."""
        async with self._db() as db:
            query = select(OAuthClient.client_id).where(OAuthClient.owner_user_id == user_id)
            ids = list((await db.execute(query)).scalars().all())
            if ids:
                await db.execute(
                    update(OAuthClient).where(OAuthClient.client_id.in_(ids)).values(disabled=True)
                )
            await db.commit()
            return ids

    async def scrub_login_failures(self, email: str, pseudonym: str) -> None:
        """Failed sign-ins name the email typed; a deleted person's address goes too."""
        async with self._db() as db:
            rows = await db.execute(
                select(AuditEvent.id, AuditEvent.detail).where(AuditEvent.event == "login.failure")
            )
            ids = [
                row_id
                for row_id, detail in rows.all()
                if isinstance(detail, dict) and detail.get("email") == email
            ]
            if ids:
                await db.execute(
                    update(AuditEvent)
                    .where(AuditEvent.id.in_(ids))
                    .values(detail={"email": pseudonym}, ip=None, user_agent=None)
                )
            await db.commit()


def _live(token_hash: str, purpose: str, now: int) -> tuple[Any, ...]:
    return (
        AccountToken.token_hash == token_hash,
        AccountToken.purpose == purpose,
        AccountToken.used_at.is_(None),
        AccountToken.expires_at > now,
    )


def _erased(tombstone_email: str) -> dict[str, Any]:
    return {
        "email": tombstone_email,
        "name": None,
        "password_hash": None,
        "roles": [],
        "is_active": False,
        "email_verified": False,
        "totp_secret": None,
        "totp_enabled_at": None,
        "totp_last_step": None,
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
