"""Asymmetric signing keys in the database, and their rotation.

States move one way: ``next`` (published in JWKS, not yet signing) -> ``active``
(signing) -> ``retiring`` (verifying only, until every token it signed has expired)
-> ``retired`` (gone from JWKS, tokens refused). Publishing the next key before it
signs lets verifiers with a cached JWKS know it before they first meet it.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.clock import Clock, system_clock
from authgate.errors import ConfigurationError, NotFoundError
from authgate.keys.encryption import KeyEncryptionKey
from authgate.keys.keyring import ASYMMETRIC_ALGORITHMS, KeyRing, RingKey, generate_key, import_key
from authgate.storage.database import session_factory
from authgate.storage.models import RevocationEvent, SigningKey
from authgate.storage.revocation_events import event_rows
from authgate.storage.store import guarded_session

__all__ = ["KeyStore"]

_LIVE_STATES = ("next", "active", "retiring")


class KeyStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        kek: KeyEncryptionKey,
        alg: str,
        verify_window: int,
        clock: Clock = system_clock,
    ) -> None:
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise ConfigurationError(f"AUTHGATE_SIGNING_ALG {alg!r} has no key store")
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._kek = kek
        self.alg = alg
        # A retiring key verifies for this long: the longest life of a token it signed.
        self._verify_window = verify_window
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    async def keys(self, *, include_retired: bool = False) -> Sequence[SigningKey]:
        async with guarded_session(self._sessions) as db:
            query = select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid)
            if not include_retired:
                query = query.where(SigningKey.state.in_(_LIVE_STATES))
            return list((await db.execute(query)).scalars().all())

    async def generate(self, *, state: str = "next") -> SigningKey:
        key = generate_key(self.alg)
        # Hex, so a kid never starts with '-' and reads as an option on the command line
        # (`authgate keys retire <kid>`).
        kid = secrets.token_hex(12)
        now = self._now()
        private = json.dumps(key.as_dict(private=True)).encode()
        row = SigningKey(
            kid=kid,
            alg=self.alg,
            state=state,
            public_jwk=key.as_dict(private=False),
            private_key=self._kek.encrypt(private, associated=kid),
            kek_id=self._kek.kek_id,
            created_at=now,
            activated_at=now if state == "active" else None,
        )
        async with guarded_session(self._sessions) as db:
            db.add(row)
            await db.commit()
        return row

    async def ensure_ready(self) -> None:
        """First start: an active key to sign with and a next key already published."""
        states = {row.state for row in await self.keys()}
        if "active" not in states:
            await self.generate(state="active")
        if "next" not in states:
            await self.generate(state="next")

    async def rotate(self) -> SigningKey:
        """Promote ``next`` to active, move the active key to retiring, publish a new next."""
        now = self._now()
        async with guarded_session(self._sessions) as db, db.begin():
            rows = (
                (
                    await db.execute(
                        select(SigningKey)
                        .where(SigningKey.state.in_(("next", "active")))
                        # The longest-published next key: verifiers have most likely seen it.
                        .order_by(SigningKey.created_at, SigningKey.kid)
                    )
                )
                .scalars()
                .all()
            )
            promoted: SigningKey | None = next((r for r in rows if r.state == "next"), None)
            if promoted is None:
                raise NotFoundError("No next key to promote; run `authgate keys generate`")
            for row in rows:
                if row.state == "active":
                    row.state = "retiring"
                    row.retiring_at = now
                    row.retire_after = now + self._verify_window
            promoted.state = "active"
            promoted.activated_at = now
        await self.generate(state="next")
        return promoted

    async def retire_due(self) -> list[str]:
        """Retire retiring keys whose last token has expired."""
        now = self._now()
        async with guarded_session(self._sessions) as db, db.begin():
            due = (
                (
                    await db.execute(
                        select(SigningKey.kid).where(
                            SigningKey.state == "retiring", SigningKey.retire_after <= now
                        )
                    )
                )
                .scalars()
                .all()
            )
            if due:
                await db.execute(
                    update(SigningKey)
                    .where(SigningKey.kid.in_(due))
                    .values(state="retired", retired_at=now)
                )
                await self._announce(db, list(due))
        return list(due)

    async def retire(self, kid: str) -> None:
        """Retire one key now; its tokens are refused from the next key-ring reload."""
        async with guarded_session(self._sessions) as db, db.begin():
            row = await db.get(SigningKey, kid)
            if row is None or row.state == "retired":
                raise NotFoundError("No such live key")
            if row.state == "active":
                raise ConfigurationError("Rotate before retiring the active key")
            row.state = "retired"
            row.retired_at = self._now()
            await self._announce(db, [kid])

    async def _announce(self, db: AsyncSession, kids: list[str]) -> None:
        """Tell every verifier (revocation feed) to drop these keys, in the same transaction."""
        now = self._now()
        rows = event_rows("key", kids, revoked_at=now, until=now + self._verify_window)
        await db.execute(insert(RevocationEvent), rows)

    async def key_ring(self) -> KeyRing:
        rows = await self.keys()
        keys = [self._ring_key(row) for row in rows]
        active = [key for key, row in zip(keys, rows, strict=True) if row.state == "active"]
        if not active:
            raise ConfigurationError("No active signing key; run `authgate keys generate`")
        # Several actives can only come from a race between two rotations: newest signs.
        return KeyRing.of(active[-1], keys)

    def _ring_key(self, row: SigningKey) -> RingKey:
        private = json.loads(self._kek.decrypt(row.private_key, associated=row.kid))
        return RingKey(
            kid=row.kid, alg=row.alg, key=import_key(row.alg, private), public_jwk=row.public_jwk
        )

    async def export(self, backup_kek: KeyEncryptionKey) -> dict[str, Any]:
        """Every live key, re-encrypted under ``backup_kek`` (a backup never holds plaintext)."""
        exported = []
        for row in await self.keys():
            private = self._kek.decrypt(row.private_key, associated=row.kid)
            sealed = backup_kek.encrypt(private, associated=row.kid)
            exported.append(
                {
                    "kid": row.kid,
                    "alg": row.alg,
                    "state": row.state,
                    "public_jwk": row.public_jwk,
                    "created_at": row.created_at,
                    "activated_at": row.activated_at,
                    "retiring_at": row.retiring_at,
                    "retire_after": row.retire_after,
                    "private_key": base64.urlsafe_b64encode(sealed).decode(),
                }
            )
        return {"format": "authgate-keys/1", "kek_id": backup_kek.kek_id, "keys": exported}

    async def import_(self, backup: dict[str, Any], backup_kek: KeyEncryptionKey) -> int:
        if backup.get("format") != "authgate-keys/1":
            raise ConfigurationError("Not an authgate key backup")
        rows = [self._imported_row(item, backup_kek) for item in backup.get("keys", [])]
        async with guarded_session(self._sessions) as db, db.begin():
            for state in {row.state for row in rows} & {"active", "next"}:
                await self._stand_aside(db, state, {row.kid for row in rows})
            for row in rows:
                await db.merge(row)
        return len(rows)

    async def _stand_aside(self, db: AsyncSession, state: str, restored: set[str]) -> None:
        """The restored keys take their roles back from keys made here since (e.g. at start).

        A local active key verifies until its tokens expire; a local next key never signed.
        """
        now = self._now()
        demoted = (
            {"state": "retiring", "retiring_at": now, "retire_after": now + self._verify_window}
            if state == "active"
            else {"state": "retired", "retired_at": now}
        )
        await db.execute(
            update(SigningKey)
            .where(SigningKey.state == state, SigningKey.kid.not_in(restored))
            .values(**demoted)
        )

    def _imported_row(self, item: dict[str, Any], backup_kek: KeyEncryptionKey) -> SigningKey:
        kid = str(item["kid"])
        private = backup_kek.decrypt(base64.urlsafe_b64decode(item["private_key"]), associated=kid)
        state = str(item["state"])
        if state not in _LIVE_STATES:
            raise ConfigurationError(f"Key {kid} in the backup has an unknown state")
        # The public key comes from the sealed private key, not from the backup's clear text.
        key = import_key(str(item["alg"]), json.loads(private))
        return SigningKey(
            kid=kid,
            alg=str(item["alg"]),
            state=state,
            public_jwk=key.as_dict(private=False),
            private_key=self._kek.encrypt(private, associated=kid),
            kek_id=self._kek.kek_id,
            created_at=int(item["created_at"]),
            activated_at=item.get("activated_at"),
            retiring_at=item.get("retiring_at"),
            retire_after=item.get("retire_after"),
        )
