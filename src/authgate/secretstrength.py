"""Secret generation and strength checks for HMAC signing keys.

RFC 7518 s3.2 requires a key of at least 256 bits for HS256, and RFC 8725 s3.5 says
those bits must be entropy: a human-made string of 32 characters is nowhere near it.
A configured string cannot prove its entropy, so we estimate it from above, the way an
attacker would guess (``authgate.entropy``), and refuse anything below 256 bits:
dictionary-built values (``thisismysupersecretkeyforjwt2024``), repetitions,
sequences, short values, few distinct characters, and well-known secrets copied from
tutorials. ``secrets.token_urlsafe(64)``, what ``authgate secrets generate`` prints,
has 512 bits and passes with room to spare.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from authgate.data import WEAK_SECRETS, ranked_words
from authgate.entropy import estimate

__all__ = [
    "MIN_BITS",
    "MIN_DISTINCT_CHARS",
    "MIN_LENGTH",
    "SecretReport",
    "check_secret",
    "generate_secret",
]

MIN_LENGTH = 32
MIN_DISTINCT_CHARS = 10
#: RFC 7518 s3.2 (HS256 keys of at least 256 bits), RFC 8725 s3.5 (bits of entropy).
MIN_BITS = 256


def generate_secret(nbytes: int = 64) -> str:
    """A random base64url secret (64 bytes = 512 bits by default)."""
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True, slots=True)
class SecretReport:
    """Strength of one secret, described without revealing it."""

    length: int
    distinct_chars: int
    estimated_bits: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def strength(self) -> str:
        if self.problems:
            return "weak"
        return "strong" if self.estimated_bits >= MIN_BITS else "acceptable"


def check_secret(value: str) -> SecretReport:
    """Check one secret against the strength rules; never include the value in the result."""
    distinct = len(set(value))
    guess = estimate(value)
    problems = []
    if len(value) < MIN_LENGTH:
        problems.append(f"shorter than {MIN_LENGTH} characters")
    if distinct < MIN_DISTINCT_CHARS:
        problems.append(f"fewer than {MIN_DISTINCT_CHARS} distinct characters")
    if _is_well_known(value):
        problems.append("a well-known weak value")
    if guess.bits < MIN_BITS:
        problems.append(
            f"about {int(guess.bits)} bits of estimated entropy, below the {MIN_BITS} "
            "an HS256 key needs (RFC 7518 s3.2)"
        )
    if guess.bits < MIN_BITS and guess.dictionary_share >= 0.5:
        problems.append("built from dictionary words")
    return SecretReport(
        length=len(value),
        distinct_chars=distinct,
        estimated_bits=int(guess.bits),
        problems=tuple(problems),
    )


def _is_well_known(value: str) -> bool:
    lowered = value.strip().lower()
    weak = ranked_words(WEAK_SECRETS)
    if lowered in weak:
        return True
    # "changeme-changeme-changeme..." and friends: a weak word repeated to pass length.
    return any(
        len(word) >= 4 and lowered.replace(word, "").strip("-_. 0123456789") == ""
        for word in weak
        if word in lowered
    )
