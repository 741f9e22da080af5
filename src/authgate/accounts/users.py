"""Accounts: registration and password authentication."""

from __future__ import annotations

import uuid

import anyio.to_thread
from email_validator import EmailNotValidError, validate_email

from authgate.accounts.password_policy import MAX_BYTES, MIN_LENGTH_SINGLE_FACTOR
from authgate.accounts.passwords import PasswordHasher, check_password_policy
from authgate.clock import Clock, system_clock
from authgate.errors import (
    EmailNotVerifiedError,
    InvalidCredentialsError,
    InvalidRequestError,
    RegistrationClosedError,
)
from authgate.storage.models import User
from authgate.storage.store import SqlStore

__all__ = ["UserService", "check_email", "normalise_email"]


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    """The one address rule of the API, the pages and the CLI, normalised for storage.

    email-validator's syntax checks (RFC 5321 s4.5.3 lengths, RFC 5322 addr-spec, no
    special-use domains), without a DNS lookup; the value is never echoed back.
    """
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise InvalidRequestError("Not a valid email address") from None
    return normalise_email(checked.normalized)


class UserService:
    def __init__(
        self,
        *,
        store: SqlStore,
        hasher: PasswordHasher,
        default_roles: list[str],
        registration_enabled: bool,
        password_min_length: int = MIN_LENGTH_SINGLE_FACTOR,
        password_max_length: int = MAX_BYTES,
        clock: Clock = system_clock,
        require_verified_email: bool = False,
    ) -> None:
        self._require_verified = require_verified_email
        self._store = store
        self._hasher = hasher
        self._default_roles = list(default_roles)
        self._registration_enabled = registration_enabled
        self._min = password_min_length
        self._max = password_max_length
        self._clock = clock

    async def register(self, email: str, password: str, name: str | None = None) -> User:
        if not self._registration_enabled:
            raise RegistrationClosedError()
        return await self.create(email, password, name=name, roles=self._default_roles)

    async def create(
        self, email: str, password: str, *, name: str | None = None, roles: list[str]
    ) -> User:
        email = check_email(email)
        check_password_policy(password, min_length=self._min, max_length=self._max, email=email)
        # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
        password_hash = await anyio.to_thread.run_sync(self._hasher.hash, password)
        now = int(self._clock())
        user = User(
            id=str(uuid.uuid4()),
            email=email,
            name=name,
            password_hash=password_hash,
            roles=list(roles),
            is_active=True,
            created_at=now,
            password_changed_at=now,
        )
        return await self._store.add_user(user)

    async def hash_new_password(self, password: str, *, email: str) -> str:
        """The hash of an acceptable new password (policy checked first)."""
        check_password_policy(password, min_length=self._min, max_length=self._max, email=email)
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def store_password(self, user_id: str, password_hash: str) -> None:
        await self._store.set_password_hash(user_id, password_hash, changed_at=int(self._clock()))

    async def password_matches(self, user: User, password: str) -> bool:
        return await anyio.to_thread.run_sync(self._hasher.verify, user.password_hash, password)

    async def change_password(self, user: User, current: str, new: str) -> None:
        """Needs the current password; the caller revokes the other sessions."""
        if not await self.password_matches(user, current):
            raise InvalidCredentialsError("The current password is not correct")
        await self.store_password(user.id, await self.hash_new_password(new, email=user.email))

    async def authenticate(self, email: str, password: str) -> User:
        """The same error, and the same argon2 work, for unknown email and wrong password."""
        user = await self._store.user_by_email(normalise_email(email))
        stored = user.password_hash if user is not None and user.is_active else None
        ok = await anyio.to_thread.run_sync(self._hasher.verify, stored, password)
        if not ok or user is None:
            raise InvalidCredentialsError()
        if self._require_verified and not user.email_verified:
            raise EmailNotVerifiedError()
        if self._hasher.needs_rehash(user.password_hash or ""):
            new_hash = await anyio.to_thread.run_sync(self._hasher.hash, password)
            await self._store.set_password_hash(user.id, new_hash)
        return user
