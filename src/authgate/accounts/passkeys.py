"""Passkeys (WebAuthn Level 3, the ``webauthn`` package): registration, and assertions as
a second factor or for password-less sign-in.

Each ceremony's challenge is single use and lives five minutes in the hot store
(s13.4.3: challenges are random, at least 16 bytes, and checked by the relying party).
Password-less sign-in uses discoverable credentials and requires user verification
(s6.2.3), so the passkey alone is two factors (possession and PIN or biometric). A
signature counter that fails to grow is a cloned authenticator (s6.1.1) and is refused.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authgate.clock import Clock, system_clock
from authgate.errors import NotFoundError, SecondFactorError
from authgate.storage.accounts import AccountStore
from authgate.storage.models import Passkey, User
from authgate.storage.protocols import SingleUseStore

__all__ = ["PasskeyAssertion", "Passkeys", "relying_party"]

_TTL = 300


@dataclass(frozen=True, slots=True)
class PasskeyAssertion:
    user_id: str
    user_verified: bool

    @property
    def amr(self) -> list[str]:
        # RFC 8176: hardware-bound key; with user verification it is multi-factor alone.
        return ["hwk", "mfa"] if self.user_verified else ["hwk"]


def relying_party(public_url: str, rp_id: str | None) -> tuple[str, str]:
    """The RP id (a host name, never an IP address) and the expected origin."""
    parts = urlsplit(public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return rp_id or (parts.hostname or "localhost"), origin


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Passkeys:
    def __init__(
        self,
        *,
        accounts: AccountStore,
        challenges: SingleUseStore,
        rp_id: str,
        rp_name: str,
        origin: str,
        clock: Clock = system_clock,
    ) -> None:
        self._accounts = accounts
        self._challenges = challenges
        self._rp_id = rp_id
        self._rp_name = rp_name
        self._origin = origin
        self._clock = clock

    async def list(self, user_id: str) -> Sequence[Passkey]:
        return await self._accounts.passkeys(user_id)

    # Registration (s7.1)

    async def registration_options(self, user: User) -> dict[str, Any]:
        existing = await self._accounts.passkeys(user.id)
        options = webauthn.generate_registration_options(
            rp_id=self._rp_id,
            rp_name=self._rp_name,
            user_name=user.email,
            user_id=user.id.encode(),
            user_display_name=user.name or user.email,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=_unb64(p.credential_id)) for p in existing
            ],
        )
        await self._challenges.put(f"webauthn-reg:{user.id}", _b64(options.challenge), _TTL)
        return dict(json.loads(webauthn.options_to_json(options)))

    async def register(self, user: User, credential: dict[str, Any], name: str) -> Passkey:
        challenge = await self._challenges.take(f"webauthn-reg:{user.id}")
        if challenge is None:
            raise SecondFactorError("The passkey request expired; start again")
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=_unb64(challenge),
                expected_rp_id=self._rp_id,
                expected_origin=self._origin,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise SecondFactorError("The passkey could not be verified") from exc
        passkey = Passkey(
            credential_id=_b64(verified.credential_id),
            user_id=user.id,
            name=(name.strip() or "Passkey")[:100],
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=_transports(credential),
            created_at=int(self._clock()),
        )
        await self._accounts.add_passkey(passkey)
        return passkey

    # Authentication (s7.2)

    async def authentication_options(self, user_id: str | None) -> tuple[str, dict[str, Any]]:
        """Options and a ceremony id; ``user_id`` set: a second factor for that user."""
        allowed = await self._accounts.passkeys(user_id) if user_id else []
        options = webauthn.generate_authentication_options(
            rp_id=self._rp_id,
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=_unb64(p.credential_id)) for p in allowed
            ],
            user_verification=(
                UserVerificationRequirement.PREFERRED
                if user_id
                else UserVerificationRequirement.REQUIRED
            ),
        )
        ceremony = secrets.token_urlsafe(24)
        value = f"{user_id or ''} {_b64(options.challenge)}"
        await self._challenges.put(f"webauthn-auth:{ceremony}", value, _TTL)
        return ceremony, dict(json.loads(webauthn.options_to_json(options)))

    async def authenticate(self, ceremony: str, credential: dict[str, Any]) -> PasskeyAssertion:
        stored = await self._challenges.take(f"webauthn-auth:{ceremony}") if ceremony else None
        if stored is None:
            raise SecondFactorError("The passkey request expired; start again")
        expected_user, challenge = stored.split(" ", 1)
        passkey = await self._passkey_of(credential)
        if passkey is None or (expected_user and passkey.user_id != expected_user):
            raise SecondFactorError("This passkey is not registered here")
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=_unb64(challenge),
                expected_rp_id=self._rp_id,
                expected_origin=self._origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=not expected_user,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise SecondFactorError("The passkey could not be verified") from exc
        await self._accounts.touch_passkey(
            passkey.credential_id, verified.new_sign_count, int(self._clock())
        )
        return PasskeyAssertion(passkey.user_id, verified.user_verified)

    async def _passkey_of(self, credential: dict[str, Any]) -> Passkey | None:
        raw_id = credential.get("rawId") or credential.get("id")
        if not isinstance(raw_id, str) or len(raw_id) > 1400:
            return None
        return await self._accounts.passkey(raw_id.rstrip("="))

    async def rename(self, user_id: str, credential_id: str, name: str) -> None:
        if not await self._accounts.rename_passkey(user_id, credential_id, name.strip()[:100]):
            raise NotFoundError("No such passkey")

    async def remove(self, user_id: str, credential_id: str) -> None:
        if not await self._accounts.remove_passkey(user_id, credential_id):
            raise NotFoundError("No such passkey")


def _transports(credential: dict[str, Any]) -> list[str] | None:
    response = credential.get("response")
    transports = response.get("transports") if isinstance(response, dict) else None
    if isinstance(transports, list) and all(isinstance(t, str) for t in transports):
        return transports[:8]
    return None
