"""Word lists shipped with the package: weak secrets, common passwords, English words.

Each file starts with a block of ``#`` lines saying where it comes from; after that,
one entry per line, most frequent first. Only the leading block is commentary, since a
password may itself start with ``#``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Final

__all__ = ["COMMON_PASSWORDS", "ENGLISH_WORDS", "WEAK_SECRETS", "ranked_words"]

COMMON_PASSWORDS: Final = "common_passwords.txt"
ENGLISH_WORDS: Final = "english_words.txt"
WEAK_SECRETS: Final = "weak_secrets.txt"


@cache
def ranked_words(name: str) -> MappingProxyType[str, int]:
    """Entry (lower-cased) to its rank, 1 for the most frequent; read once."""
    text = resources.files(__name__).joinpath(name).read_text("utf-8")
    lines = text.splitlines()
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    ranks: dict[str, int] = {}
    for line in lines[start:]:
        entry = line.strip().lower()
        if entry and entry not in ranks:
            ranks[entry] = len(ranks) + 1
    return MappingProxyType(ranks)
