"""What the security part of ``/account`` shows: email state, second factors, passkeys."""

from __future__ import annotations

from dataclasses import dataclass

from authgate.runtime import Runtime
from authgate.storage.models import Passkey, User

__all__ = ["SecurityView", "security_view"]


@dataclass(frozen=True, slots=True)
class SecurityView:
    email_verified: bool
    totp: bool
    recovery_left: int
    passkeys: list[Passkey]


async def security_view(runtime: Runtime, user: User) -> SecurityView:
    return SecurityView(
        email_verified=bool(user.email_verified),
        totp=user.totp_enabled_at is not None,
        recovery_left=await runtime.accounts.recovery_codes_left(user.id),
        passkeys=list(await runtime.passkeys.list(user.id)),
    )
