"""The password policy of NIST SP 800-63B-4 s3.1.1.2 (and OWASP ASVS V6.2).

* At least 15 characters when the password is the only factor; 8 is the floor when it
  is one of two factors (``min_length``, from ``AUTHGATE_PASSWORD_MIN_LENGTH``). Each
  Unicode code point counts as one character, after NFKC normalisation.
* Long passwords welcome: up to ``max_length`` bytes of UTF-8 (1024 by default; at
  least 64 characters of any script always fit). Nothing is truncated.
* No composition rules: no required digits, symbols or cases.
* A blocklist of commonly used, expected or compromised passwords, shipped with the
  package (``authgate/data/common_passwords.txt``: 40,000 from breach corpora), also
  matched when only digits or symbols were added around an entry; the account's own
  email address and the service's name; one short pattern repeated; and runs of
  consecutive characters or keyboard keys.
* Every refusal says why, and never repeats the password.
"""

from __future__ import annotations

import string
import unicodedata
from itertools import pairwise

from authgate.data import COMMON_PASSWORDS, ranked_words
from authgate.errors import PasswordPolicyError

__all__ = [
    "MAX_BYTES",
    "MIN_LENGTH_SINGLE_FACTOR",
    "MIN_LENGTH_WITH_SECOND_FACTOR",
    "check_password_policy",
    "normalise_password",
]

MIN_LENGTH_SINGLE_FACTOR = 15
MIN_LENGTH_WITH_SECOND_FACTOR = 8
MAX_BYTES = 1024

COMMON = (
    "This password is too common: it is on the lists attackers try first. "
    "Choose another; a few unrelated words make a strong one"
)
_PATTERN = "This password is too easy to guess: {}. Choose another"
_SERVICE_WORDS = frozenset({"authgate", "ai-agent", "aiagent"})
_DECORATION = string.digits + string.punctuation + " "
# Keyboard rows and the digit row, forwards; walks are also refused backwards.
_KEY_RUNS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "qwertzuiop", "azertyuiop")
_KEY_WALK = "".join(_KEY_RUNS)


def normalise_password(password: str) -> str:
    """NFKC, so the same password typed with composed or decomposed characters matches."""
    return unicodedata.normalize("NFKC", password)


def check_password_policy(
    password: str,
    *,
    min_length: int = MIN_LENGTH_SINGLE_FACTOR,
    max_length: int = MAX_BYTES,
    email: str = "",
) -> None:
    """Raise ``PasswordPolicyError`` saying what to change; ``max_length`` is in bytes."""
    normalised = normalise_password(password)
    if len(normalised) < min_length:
        raise PasswordPolicyError(f"Password must be at least {min_length} characters")
    if len(normalised.encode("utf-8")) > max_length:
        raise PasswordPolicyError(f"Password must be at most {max_length} bytes long")
    lowered = normalised.lower()
    _check_personal(lowered, email)
    _check_blocklist(lowered)
    _check_patterns(lowered)


def _check_personal(lowered: str, email: str) -> None:
    email = email.strip().lower()
    mine = {email, email.split("@", 1)[0]} - {""}
    core = lowered.strip(_DECORATION)
    if lowered in mine or core in mine:
        raise PasswordPolicyError("Password must not be your email address")
    if core in _SERVICE_WORDS:
        raise PasswordPolicyError(_PATTERN.format("it is the name of this service"))


def _check_blocklist(lowered: str) -> None:
    common = ranked_words(COMMON_PASSWORDS)
    if lowered in common:
        raise PasswordPolicyError(COMMON)
    # "password2024!!!", "!!qwerty123456": a listed password with digits or symbols
    # added is among the first variations a cracker's rules produce.
    core = lowered.strip(_DECORATION)
    if core != lowered and len(core) >= 4 and core in common:
        raise PasswordPolicyError(COMMON)


def _check_patterns(lowered: str) -> None:
    unit = _repeated_unit(lowered)
    if unit is not None and (len(unit) <= 4 or unit in ranked_words(COMMON_PASSWORDS)):
        raise PasswordPolicyError(_PATTERN.format("it repeats a short pattern"))
    if _is_sequence(lowered):
        raise PasswordPolicyError(_PATTERN.format("it is a run of consecutive characters"))
    if lowered in _KEY_WALK or lowered[::-1] in _KEY_WALK:
        raise PasswordPolicyError(_PATTERN.format("it is a row of keyboard keys"))


def _repeated_unit(text: str) -> str | None:
    """The shortest unit that ``text`` is two or more whole copies of, if any."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return None


def _is_sequence(text: str) -> bool:
    """ "abcdefghijklmnop", "987654321098765": each character one after the previous."""
    steps = {(ord(b) - ord(a)) % 10 if a.isdigit() else ord(b) - ord(a) for a, b in pairwise(text)}
    return len(steps) == 1 and steps <= {1, -1, 9}
