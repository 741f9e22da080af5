"""Linking a provider identity to an authgate user, without account takeover.

An identity is (issuer, subject). A new identity joins an existing user only through
an email address the provider asserts verified *and* the account has verified itself
(by a mailed link or a reset): linking into an account whose address nobody proved would
hand it to whoever registered the address first (a pre-hijack). Such a sign-in is
refused, and nothing is linked; otherwise it becomes a new user. A new
user gets the provider's email only when verified: an unverified address stored as an
account email would let its claimant pre-empt, and later share, the real owner's
account. Such users get a reserved ``.invalid`` address (RFC 2606) instead.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from authgate.accounts.users import normalise_email
from authgate.clock import Clock, system_clock
from authgate.errors import (
    AccountDisabledError,
    RegistrationClosedError,
    UnverifiedAccountError,
)
from authgate.federation.providers import Profile
from authgate.storage.identities import IdentityConflictError, IdentityStore
from authgate.storage.models import Identity, User
from authgate.storage.store import SqlStore

__all__ = ["AccountLinker", "SignIn"]


@dataclass(frozen=True, slots=True)
class SignIn:
    user: User
    identity: Identity
    outcome: str  # "returning" | "linked" (to an existing user) | "created"


class AccountLinker:
    def __init__(
        self,
        *,
        store: SqlStore,
        identities: IdentityStore,
        default_roles: Sequence[str],
        registration_enabled: bool,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._identities = identities
        self._roles = list(default_roles)
        self._registration_enabled = registration_enabled
        self._clock = clock

    async def sign_in(self, provider: str, profile: Profile) -> SignIn:
        # A concurrent first sign-in may win the insert; the second attempt then finds it.
        try:
            result = await self._sign_in(provider, profile)
        except IdentityConflictError:
            result = await self._sign_in(provider, profile)
        if not result.user.is_active:
            raise AccountDisabledError(provider)
        return result

    async def identities(self, user_id: str) -> Sequence[Identity]:
        return await self._identities.for_user(user_id)

    async def _sign_in(self, provider: str, profile: Profile) -> SignIn:
        now = int(self._clock())
        known = await self._identities.find(profile.issuer, profile.subject)
        if known is not None:
            return await self._returning(provider, known, profile, now)
        email = normalise_email(profile.email) if profile.email else None
        if email and profile.email_verified:
            existing = await self._store.user_by_email(email)
            if existing is not None and not existing.email_verified:
                raise UnverifiedAccountError(provider)
            if existing is not None:
                identity = self._identity(provider, existing.id, profile, now)
                await self._identities.add(identity)
                return SignIn(existing, identity, "linked")
        if not self._registration_enabled:
            raise RegistrationClosedError()
        user = self._new_user(profile, email if profile.email_verified else None, now)
        identity = self._identity(provider, user.id, profile, now)
        await self._identities.add(identity, new_user=user)
        return SignIn(user, identity, "created")

    async def _returning(
        self, provider: str, identity: Identity, profile: Profile, now: int
    ) -> SignIn:
        user = await self._store.user_by_id(identity.user_id)
        if user is None:
            raise AccountDisabledError(provider)
        await self._identities.touch(
            identity.id, email=profile.email, email_verified=profile.email_verified, now=now
        )
        return SignIn(user, identity, "returning")

    def _identity(self, provider: str, user_id: str, profile: Profile, now: int) -> Identity:
        return Identity(
            id=str(uuid.uuid4()),
            user_id=user_id,
            provider=provider,
            issuer=profile.issuer,
            subject=profile.subject,
            email=profile.email,
            email_verified=profile.email_verified,
            created_at=now,
            last_login_at=now,
        )

    def _new_user(self, profile: Profile, verified_email: str | None, now: int) -> User:
        if verified_email is None:
            digest = hashlib.sha256(f"{profile.issuer}\n{profile.subject}".encode()).hexdigest()
            verified_email = f"oauth-{digest[:32]}@users.invalid"
        return User(
            id=str(uuid.uuid4()),
            email=verified_email,
            name=(profile.name or "")[:200] or None,
            password_hash=None,
            roles=list(self._roles),
            is_active=True,
            created_at=now,
            password_changed_at=None,
            # Only a provider-verified address is ever stored (see the module docstring).
            email_verified=not verified_email.endswith(".invalid"),
        )
