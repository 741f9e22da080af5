"""Password hashing (argon2id) and the password policy.

Policy per NIST SP 800-63B s5.1.1.2 and OWASP ASVS V6.2: a minimum length, a generous
maximum, no composition rules, and a check against commonly used passwords. The hash
cost defaults to OWASP's argon2id floor (m=19 MiB, t=2, p=1).
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources

from argon2 import PasswordHasher as _Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authgate.errors import PasswordPolicyError

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
    # NIST SP 800-63B s5.1.1.2: apply NFKC so the same password typed differently matches.
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str, *, min_length: int, max_length: int, email: str) -> None:
    length = len(_normalise(password))
    if length < min_length:
        raise PasswordPolicyError(f"Password must be at least {min_length} characters")
    if length > max_length:
        raise PasswordPolicyError(f"Password must be at most {max_length} characters")
    lowered = password.lower()
    if lowered in _common_passwords():
        raise PasswordPolicyError("This password is too common; choose another")
    local_part = email.split("@", 1)[0].lower()
    if lowered in {email.lower(), local_part}:
        raise PasswordPolicyError("Password must not be your email address")


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("authgate.data").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )
