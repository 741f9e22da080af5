"""argon2id hashing and the password policy (NIST SP 800-63B s5.1.1.2, OWASP ASVS V6.2)."""

from __future__ import annotations

import pytest

from authgate.accounts.passwords import PasswordHasher, check_password_policy
from authgate.errors import PasswordPolicyError

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_kib=8192)


def test_hash_is_argon2id_and_verifies(hasher: PasswordHasher) -> None:
    hashed = hasher.hash(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert hasher.verify(hashed, PASSWORD)
    assert not hasher.verify(hashed, PASSWORD + "!")


def test_hashes_are_salted(hasher: PasswordHasher) -> None:
    assert hasher.hash(PASSWORD) != hasher.hash(PASSWORD)


def test_default_cost_meets_the_owasp_floor() -> None:
    hashed = PasswordHasher().hash(PASSWORD)
    assert "$m=19456,t=2,p=1$" in hashed


def test_missing_hash_never_verifies(hasher: PasswordHasher) -> None:
    """Unknown accounts still cost a verification but can never succeed."""
    assert hasher.verify(None, PASSWORD) is False
    assert hasher.verify(None, "authgate-timing-equaliser") is False


@pytest.mark.parametrize("bad", ["", "not-a-hash", "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA"])
def test_corrupt_hash_does_not_verify(hasher: PasswordHasher, bad: str) -> None:
    assert hasher.verify(bad, PASSWORD) is False


def test_unicode_is_normalised(hasher: PasswordHasher) -> None:
    """NFKC: the same password typed as composed or decomposed characters matches."""
    composed = "caf\u00e9 au lait, s'il vous plait"
    decomposed = "cafe\u0301 au lait, s'il vous plait"
    assert hasher.verify(hasher.hash(composed), decomposed)


def test_needs_rehash_when_the_cost_changes(hasher: PasswordHasher) -> None:
    hashed = hasher.hash(PASSWORD)
    assert not hasher.needs_rehash(hashed)
    assert PasswordHasher(time_cost=2, memory_kib=8192).needs_rehash(hashed)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        pytest.param("short", "at least 8", id="too-short"),
        pytest.param("x" * 129, "at most 128", id="too-long"),
        pytest.param("12345678", "too common", id="common"),
        pytest.param("QWERTYUIOP", "too common", id="common-any-case"),
        pytest.param("ada.lovelace@example.com", "email", id="is-the-email"),
        pytest.param("ADA.LOVELACE", "email", id="is-the-local-part"),
    ],
)
def test_policy_refuses(password: str, reason: str) -> None:
    email = "ada.lovelace@example.com"
    with pytest.raises(PasswordPolicyError, match=reason) as info:
        check_password_policy(password, min_length=8, max_length=128, email=email)
    assert password not in info.value.message


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("plainlowercase", id="no-composition-rules"),
        pytest.param("correct horse battery staple " * 4 + "x" * 12, id="max-length"),
        pytest.param("пароль-на-русском", id="unicode"),
        pytest.param("   spaces   ", id="spaces"),
    ],
)
def test_policy_accepts(password: str) -> None:
    assert len(password.encode()) <= 128
    check_password_policy(password, min_length=8, max_length=128, email="ada@example.com")
