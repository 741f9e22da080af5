"""Secret generation and strength checks for HMAC signing keys.

RFC 8725 s3.5 asks for HMAC keys with at least 256 bits of entropy. A configured
string cannot prove its entropy, so we refuse what is clearly weak: short values,
few distinct characters, and well-known secrets copied from tutorials.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["MIN_DISTINCT_CHARS", "MIN_LENGTH", "SecretReport", "check_secret", "generate_secret"]

MIN_LENGTH = 32
MIN_DISTINCT_CHARS = 10


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
        return "strong" if self.estimated_bits >= 256 else "acceptable"


def check_secret(value: str) -> SecretReport:
    """Check one secret against the strength rules; never include the value in the result."""
    counts = Counter(value)
    problems = []
    if len(value) < MIN_LENGTH:
        problems.append(f"shorter than {MIN_LENGTH} characters")
    if len(counts) < MIN_DISTINCT_CHARS:
        problems.append(f"fewer than {MIN_DISTINCT_CHARS} distinct characters")
    if _is_well_known(value):
        problems.append("a well-known weak value")
    return SecretReport(
        length=len(value),
        distinct_chars=len(counts),
        estimated_bits=_shannon_bits(counts, len(value)),
        problems=tuple(problems),
    )


def _shannon_bits(counts: Counter[str], length: int) -> int:
    # Upper bound on the entropy from the character distribution of the value itself.
    if length == 0:
        return 0
    per_char = -sum(n / length * math.log2(n / length) for n in counts.values())
    return int(per_char * length)


def _is_well_known(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _weak_secrets():
        return True
    # "changeme-changeme-changeme..." and friends: a weak word repeated to pass length.
    return any(
        len(word) >= 4 and lowered.replace(word, "").strip("-_. 0123456789") == ""
        for word in _weak_secrets()
        if word in lowered
    )


@cache
def _weak_secrets() -> frozenset[str]:
    text = resources.files("authgate.data").joinpath("weak_secrets.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )
