"""Password hashing (argon2id); the policy lives in ``password_policy``.

The hash cost defaults to OWASP's argon2id floor (m=19 MiB, t=2, p=1).
"""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authgate.accounts.password_policy import check_password_policy, normalise_password

__all__ = ["PasswordHasher", "check_password_policy"]


class PasswordHasher:
    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1):
        self._hasher = _Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        # Verifying against this when the account does not exist keeps the answer
        # time the same for known and unknown emails (ASVS V6.3.8).
        self._dummy_hash = self._hasher.hash("authgate-timing-equaliser")

    def hash(self, password: str) -> str:
        return self._hasher.hash(_normalise(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant-effort check; a missing hash still costs one argon2 verification."""
        try:
            self._hasher.verify(password_hash or self._dummy_hash, _normalise(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def _normalise(password: str) -> str:
    # NIST SP 800-63B-4 s3.1.1.2: NFKC, as the policy measures it.
    return normalise_password(password)
