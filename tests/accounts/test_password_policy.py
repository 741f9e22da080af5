"""The password policy of NIST SP 800-63B-4 s3.1.1.2 (issue 19 item 5).

8-character and common breached passwords were accepted. Now: at least 15 characters
when the password is the only factor (``AUTHGATE_PASSWORD_MIN_LENGTH``, 8 at the least
for accounts with a second factor), up to 1024 bytes, no composition rules, a shipped
blocklist of 40,000 common and breached passwords, and a reason for every refusal.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authgate.accounts.password_policy import (
    MIN_LENGTH_WITH_SECOND_FACTOR,
    check_password_policy,
)
from authgate.data import COMMON_PASSWORDS, ranked_words
from authgate.errors import PasswordPolicyError

EMAIL = "ada.lovelace@example.com"


async def register(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post("/auth/register", json={"email": EMAIL, "password": password})


REFUSED = [
    pytest.param("abcd1234", "at least 15 characters", id="eight-characters"),
    pytest.param("Tr0ub4dor&3xyz", "at least 15 characters", id="fourteen-characters"),
    pytest.param("1q2w3e4r5t6y7u8i", "too common", id="breached-16"),
    pytest.param("qwertyuiopasdfghjkl", "keyboard keys", id="keyboard-rows"),
    pytest.param("manchesterunited", "too common", id="breached-words"),
    pytest.param("MANCHESTERUNITED", "too common", id="breached-any-case"),
    pytest.param("PasswordPassword", "repeats a short pattern", id="listed-twice"),
    pytest.param("password123456789", "too common", id="listed-plus-digits"),
    pytest.param("!!!iloveyou2026!!!", "too common", id="listed-plus-decoration"),
    pytest.param("aaaaaaaaaaaaaaaa", "repeats a short pattern", id="one-character"),
    pytest.param("abcabcabcabcabcabc", "repeats a short pattern", id="short-unit"),
    pytest.param("dragondragondragon", "repeats a short pattern", id="listed-unit"),
    pytest.param("abcdefghijklmnopq", "consecutive characters", id="alphabet"),
    pytest.param("9876543210987654", "consecutive characters", id="digits-down"),
    pytest.param("lkjhgfdsapoiuytrewq", "keyboard keys", id="keyboard-backwards"),
    pytest.param("ada.lovelace@example.com", "email address", id="the-email"),
    pytest.param("ADA.LOVELACE2024!!", "email address", id="the-local-part-decorated"),
    pytest.param("authgate2026!!!", "name of this service", id="service-name-decorated"),
    pytest.param("x" * 1025, "at most 1024 bytes", id="over-1024-bytes"),
]


@pytest.mark.parametrize(("password", "reason"), REFUSED)
async def test_weak_passwords_are_refused_at_registration(
    client: httpx.AsyncClient, password: str, reason: str
) -> None:
    response = await register(client, password)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "Weak password"
    assert reason in body["message"]
    assert password not in response.text


ACCEPTED = [
    pytest.param("correct horse battery staple", id="readme-passphrase"),
    pytest.param("plainlowercaseonly", id="no-composition-rules"),
    pytest.param("fifteen chars!!", id="exactly-fifteen"),
    pytest.param("ключ от квартиры где деньги", id="cyrillic"),
    pytest.param("🦊🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧🐦🐤🦆", id="fifteen-emoji"),
    pytest.param("unrelated words " * 63 + "end!", id="1012-bytes"),
]


@pytest.mark.parametrize("password", ACCEPTED)
async def test_long_passwords_of_any_kind_are_accepted(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await register(client, password)
    assert response.status_code == 201, response.text
    login = await client.post("/auth/login", json={"email": EMAIL, "password": password})
    assert login.status_code == 200


def test_the_blocklist_is_a_real_list_of_tens_of_thousands() -> None:
    common = ranked_words(COMMON_PASSWORDS)
    assert len(common) > 40_000
    assert common["123456"] == 1
    assert {"password", "qwerty", "iloveyou", "dragon", "1q2w3e4r5t6y7u8i"} <= common.keys()


@pytest.fixture
def settings(settings_factory: Any) -> Any:
    return settings_factory()


async def test_the_minimum_follows_the_setting(settings_factory: Any, clock: Any) -> None:
    """With a second factor the accounts layer may lower it to 8; never below."""
    from authgate.http.app import create_app
    from authgate.testing import client_for, lifespan

    app = create_app(settings_factory(password_min_length=8), clock=clock)
    async with lifespan(app), client_for(app) as client:
        assert (await register(client, "k7#pZq2!")).status_code == 201
    with pytest.raises(ValueError, match="password_min_length"):
        settings_factory(password_min_length=7)


def test_the_policy_function_takes_the_two_factor_minimum() -> None:
    check_password_policy("k7#pZq2!", min_length=MIN_LENGTH_WITH_SECOND_FACTOR, email=EMAIL)
    with pytest.raises(PasswordPolicyError, match="at least 15"):
        check_password_policy("k7#pZq2!", email=EMAIL)


def test_length_counts_code_points_after_normalisation() -> None:
    """NIST: each code point one character; NFKC first, so a composed and a decomposed
    é are the same single character."""
    decomposed = "cafe\u0301" * 3 + "ab"  # 17 code points, 14 after NFKC
    with pytest.raises(PasswordPolicyError, match="at least 15"):
        check_password_policy(decomposed, email=EMAIL)
