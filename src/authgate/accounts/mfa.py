"""Second factors: TOTP (RFC 6238) with single-use recovery codes, and the wrong-code brake.

A TOTP secret is stored sealed (AES-256-GCM, bound to the user); a code is accepted for
the current time step or one either side (RFC 6238 s5.2), once: the step used is stored
by a conditional UPDATE, so a replayed code fails even under concurrency. Recovery codes
carry 64 random bits and are stored by SHA-256 only. ``mfa_max_failures`` wrong codes
lock second-factor checks for ``mfa_lockout`` seconds (NIST SP 800-63B s5.2.2).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass

import pyotp
import qrcode
import qrcode.image.svg

from authgate.clock import Clock, system_clock
from authgate.errors import InvalidRequestError, SecondFactorError, SecondFactorLockedError
from authgate.keys.encryption import KeyEncryptionKey
from authgate.storage.accounts import AccountStore
from authgate.storage.models import User
from authgate.storage.protocols import SingleUseStore

__all__ = ["RECOVERY_CODES", "SecondFactors", "TotpEnrolment", "qr_svg", "recovery_hash"]

RECOVERY_CODES = 10
_STEP = 30
_CHALLENGE_TTL = 300


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str
    uri: str
    qr_svg: str


def recovery_hash(code: str) -> str:
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = secrets.token_hex(8)
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


class SecondFactors:
    def __init__(
        self,
        *,
        accounts: AccountStore,
        kek: KeyEncryptionKey,
        challenges: SingleUseStore,
        issuer_name: str,
        max_failures: int,
        lockout: int,
        clock: Clock = system_clock,
    ) -> None:
        self._accounts = accounts
        self._kek = kek
        self._challenges = challenges
        self._issuer = issuer_name
        self._max = max_failures
        self._lockout = lockout
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    async def enabled(self, user: User) -> bool:
        return user.totp_enabled_at is not None or await self._accounts.passkey_count(user.id) > 0

    # TOTP enrolment

    async def begin_totp(self, user: User) -> TotpEnrolment:
        if user.totp_enabled_at is not None:
            raise InvalidRequestError("An authenticator app is already set up; remove it first")
        secret = pyotp.random_base32()
        sealed = self._kek.encrypt(secret.encode(), associated=f"totp:{user.id}")
        await self._accounts.update_user(user.id, totp_secret=sealed, totp_last_step=None)
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=self._issuer)
        return TotpEnrolment(secret=secret, uri=uri, qr_svg=qr_svg(uri))

    async def pending_uri(self, user: User) -> str | None:
        """The otpauth URI of an enrolment not yet confirmed (for its QR code)."""
        if user.totp_secret is None or user.totp_enabled_at is not None:
            return None
        return pyotp.TOTP(self._secret(user)).provisioning_uri(
            name=user.email, issuer_name=self._issuer
        )

    async def confirm_totp(self, user: User, code: str) -> list[str]:
        """The first good code turns TOTP on; returns fresh recovery codes, shown once."""
        if user.totp_secret is None or user.totp_enabled_at is not None:
            raise InvalidRequestError("Start setting up an authenticator app first")
        await self._check_totp(user, code)
        await self._accounts.update_user(user.id, totp_enabled_at=self._now())
        return await self.new_recovery_codes(user)

    async def new_recovery_codes(self, user: User) -> list[str]:
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        await self._accounts.replace_recovery_codes(
            user.id, [recovery_hash(c) for c in codes], self._now()
        )
        return codes

    async def disable_totp(self, user: User) -> None:
        await self._accounts.update_user(
            user.id, totp_secret=None, totp_enabled_at=None, totp_last_step=None
        )

    # Verification

    async def verify(self, user: User, *, code: str = "", recovery_code: str = "") -> str:
        """Check a TOTP or recovery code; the RFC 8176 method on success."""
        self._check_lock(user)
        try:
            if recovery_code:
                await self._spend_recovery_code(user, recovery_code)
                method = "otp"
            else:
                if user.totp_enabled_at is None:
                    raise SecondFactorError()
                await self._check_totp(user, code)
                method = "otp"
        except SecondFactorError:
            await self.failed(user)
            raise
        await self._accounts.update_user(user.id, mfa_failures=0, mfa_locked_until=None)
        return method

    async def failed(self, user: User) -> None:
        """Count a wrong second factor; lock at the limit."""
        await self._accounts.count_mfa_failure(
            user.id, now=self._now(), limit=self._max, lockout=self._lockout
        )

    def _check_lock(self, user: User) -> None:
        if user.mfa_locked_until is not None and user.mfa_locked_until > self._now():
            raise SecondFactorLockedError(user.mfa_locked_until - self._now())

    def _secret(self, user: User) -> str:
        assert user.totp_secret is not None
        return self._kek.decrypt(user.totp_secret, associated=f"totp:{user.id}").decode()

    async def _check_totp(self, user: User, code: str) -> None:
        code = code.strip().replace(" ", "")
        if user.totp_secret is None or len(code) != 6 or not code.isdigit():
            raise SecondFactorError()
        totp = pyotp.TOTP(self._secret(user))
        current = self._now() // _STEP
        for step in (current - 1, current, current + 1):
            # Single use: only a step later than the last one used is accepted.
            matches = hmac.compare_digest(totp.at(step * _STEP), code)
            if matches and await self._accounts.advance_totp_step(user.id, step):
                return
        raise SecondFactorError()

    async def _spend_recovery_code(self, user: User, code: str) -> None:
        if not await self._accounts.spend_recovery_code(user.id, recovery_hash(code), self._now()):
            raise SecondFactorError("The recovery code is not valid or was already used")

    # The step between password and second factor at sign-in

    async def start_challenge(self, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        await self._challenges.put(_challenge_key(token), user_id, _CHALLENGE_TTL)
        return token

    async def take_challenge(self, token: str) -> str | None:
        return await self._challenges.take(_challenge_key(token)) if token else None

    async def keep_challenge(self, token: str, user_id: str) -> None:
        """After a wrong code the person may try again with the same challenge."""
        await self._challenges.put(_challenge_key(token), user_id, _CHALLENGE_TTL)


def _challenge_key(token: str) -> str:
    return "mfa-login:" + hashlib.sha256(token.encode()).hexdigest()
