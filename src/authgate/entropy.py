"""An upper estimate of the entropy of a secret string, as an attacker would guess it.

A configured secret cannot show how it was made, so we bound its entropy from above by
the cheapest way to describe it, in the spirit of zxcvbn (Wheeler, USENIX Security
2016) and the minimum description length principle. Two bounds, the lower one wins:

* **as random text**: ``length * log2(alphabet)`` for the smallest standard alphabet
  holding every character (digits, hex, lowercase, alphanumerics, base64, printable
  ASCII). Even a perfectly random hex string of 64 characters holds only 256 bits.
* **as a pattern**: a dynamic program over the string that covers it with the cheapest
  tokens: single characters of its character classes, dictionary words (English words,
  common passwords and the vocabulary of well-known secrets, costing ``log2(rank)``
  plus their capitalisation), digit runs, years, ascending or descending sequences, and
  repetitions of a shorter unit. Each token, and each run of characters that follow no
  pattern, adds a few bits for the attacker's choice of what comes next.

When the patterns explain less than a tenth of the text, it is taken for random: any
random string holds short words and digit runs by chance.

``thisismysupersecretkeyforjwt2024`` comes out near 60 bits; ``secrets.token_urlsafe(64)``
near 516. Long inputs are estimated in chunks whose bits add up.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from functools import cache

from authgate.data import COMMON_PASSWORDS, ENGLISH_WORDS, WEAK_SECRETS, ranked_words

__all__ = ["Estimate", "estimate"]

# Bits for the attacker's choice of the next token's kind (word, digits, repeat, ...).
_TOKEN_BITS = 2.0
_MIN_WORD, _MAX_WORD = 3, 24
_MAX_UNIT = 32  # longest repeated unit looked for inside a chunk
_CHUNK = 256
# Patterns saving less than a fifth of the cost of unstructured text are chance: random
# base64url of 256 bits holds short words and digit runs often enough that a tenth made
# `secrets.token_urlsafe(32)` fail now and then (about 250 bits estimated).
_RANDOM_LOOKING = 0.8
_YEAR_BITS = math.log2(200)  # 1900-2099
_DIGIT_BITS = math.log2(10)
_SYMBOLS = frozenset(string.punctuation + " ")
_RANDOM_ALPHABETS = tuple(
    (frozenset(chars), math.log2(len(set(chars))))
    for chars in (
        string.digits,
        string.digits + "abcdef",
        string.digits + "ABCDEF",
        string.ascii_lowercase,
        string.ascii_uppercase,
        string.ascii_lowercase + string.digits,
        string.ascii_uppercase + string.digits,
        string.ascii_letters + string.digits,
        string.ascii_letters + string.digits + "-_",
        string.ascii_letters + string.digits + "+/",
        string.ascii_letters + string.digits + string.punctuation + " ",
    )
)


@dataclass(frozen=True, slots=True)
class Estimate:
    """Estimated bits of entropy, and the share of characters the cheapest description
    spelled with dictionary words."""

    bits: float
    dictionary_share: float


def estimate(value: str) -> Estimate:
    if not value:
        return Estimate(0.0, 0.0)
    bits = 0.0
    dictionary_chars = 0
    memo: _Memo = {}  # per call: the secret's parts are never kept after it
    for start in range(0, len(value), _CHUNK):
        chunk_bits, chunk_dictionary = _pattern(value[start : start + _CHUNK], memo)
        bits += chunk_bits
        dictionary_chars += chunk_dictionary
    as_random = _random_bits(value)
    unstructured = len(value) * math.log2(_class_size(value)) + _TOKEN_BITS
    # Measured against the text's own alphabet too: hex from a generator is judged as hex.
    if as_random < bits or bits >= _RANDOM_LOOKING * min(unstructured, as_random):
        # Random text holds a few short words and digit runs by chance; finding them
        # is no evidence of a human pattern, and would make the same generator's
        # output pass or fail at random near the limit.
        return Estimate(as_random, 0.0)
    return Estimate(bits, dictionary_chars / len(value))


def _random_bits(value: str) -> float:
    # Base64 padding carries nothing; the rest is at best uniform over its alphabet.
    text = value.rstrip("=") or value
    chars = set(text)
    for alphabet, bits_per_char in _RANDOM_ALPHABETS:
        if chars <= alphabet:
            return len(text) * bits_per_char
    return len(text) * math.log2(_class_size(text))


def _class_size(text: str) -> int:
    """How many characters an attacker must try per position, by character class."""
    size = 0
    size += 26 if any(c in string.ascii_lowercase for c in text) else 0
    size += 26 if any(c in string.ascii_uppercase for c in text) else 0
    size += 10 if any(c in string.digits for c in text) else 0
    size += 33 if any(c in _SYMBOLS for c in text) else 0
    size += 100 if any(not c.isascii() for c in text) else 0
    return max(size, 2)


@cache
def _words() -> dict[str, int]:
    """Every dictionary entry with its best rank across the lists (1 = most frequent)."""
    merged: dict[str, int] = {}
    for name in (ENGLISH_WORDS, COMMON_PASSWORDS):
        for word, rank in ranked_words(name).items():
            if rank < merged.get(word, rank + 1):
                merged[word] = rank
    # The vocabulary of tutorial secrets ("jwt", "secret", "key") is what such
    # secrets are built from: the cheapest words of all.
    for entry in ranked_words(WEAK_SECRETS):
        for word in "".join(c if c.isalpha() else " " for c in entry).split():
            merged[word] = 1
    return merged


_Memo = dict[str, tuple[float, int]]
_Cost = tuple[float, int]  # bits, and characters spelled as dictionary words
_NONE: _Cost = (math.inf, 0)
_Token = tuple[int, float, int]  # end, bits, characters spelled as dictionary words


def _pattern(text: str, memo: _Memo) -> tuple[float, int]:
    """The cheapest description of ``text``: its bits and how many characters of it
    were dictionary words."""
    if text not in memo:
        memo[text] = _describe(text, memo)
    return memo[text]


def _describe(text: str, memo: _Memo) -> tuple[float, int]:
    # Two states per position: after a whole token, or inside a run of characters
    # that follow no pattern. Starting such a run costs _TOKEN_BITS, like any token.
    n = len(text)
    char_bits = math.log2(_class_size(text))
    after_token: list[_Cost] = [(0.0, 0)] + [_NONE] * n
    in_run: list[_Cost] = [_NONE] * (n + 1)
    for i in range(n):
        here = min(after_token[i], in_run[i])
        if here[0] == math.inf:
            continue
        extend = min(
            (in_run[i][0] + char_bits, in_run[i][1]),
            (after_token[i][0] + char_bits + _TOKEN_BITS, after_token[i][1]),
        )
        in_run[i + 1] = min(in_run[i + 1], extend)
        for end, cost, word_chars in _tokens(text, i, memo):
            candidate = (here[0] + cost, here[1] + word_chars)
            after_token[end] = min(after_token[end], candidate)
    bits, dictionary = min(after_token[n], in_run[n])
    period = _period(text)
    if period < n:
        unit_bits, unit_words = _pattern(text[:period], memo)
        repeated = unit_bits + math.log2(n / period) + _TOKEN_BITS
        if repeated < bits:
            return repeated, unit_words * n // period
    return bits, dictionary


def _tokens(text: str, i: int, memo: _Memo) -> list[_Token]:
    """Patterns starting at ``i``: (end, bits, characters spelled as dictionary words)."""
    found = _word_tokens(text, i)
    found += _digit_tokens(text, i)
    found += _sequence_tokens(text, i)
    found += _repeat_tokens(text, i, memo)
    return found


def _word_tokens(text: str, i: int) -> list[_Token]:
    words = _words()
    lowered = text.lower()
    found = []
    for end in range(i + _MIN_WORD, min(len(text), i + _MAX_WORD) + 1):
        rank = words.get(lowered[i:end])
        case = _case_bits(text[i:end])
        if rank is not None and case is not None:
            found.append((end, math.log2(rank) + case + _TOKEN_BITS, end - i))
    return found


def _case_bits(word: str) -> float | None:
    """The capitalisations guessers try: as is, Capitalised, UPPER. Any other mix of
    cases is not taken for a word (random text would be, far too often)."""
    if word == word.lower():
        return 0.0
    if word == word.upper() or word == word.capitalize():
        return 1.0
    return None


def _digit_tokens(text: str, i: int) -> list[_Token]:
    end = i
    while end < len(text) and text[end] in string.digits:
        end += 1
    found = [(j, (j - i) * _DIGIT_BITS + _TOKEN_BITS, 0) for j in range(i + 2, end + 1)]
    if end - i >= 4 and text[i : i + 2] in ("19", "20"):
        found.append((i + 4, _YEAR_BITS + _TOKEN_BITS, 0))
    return found


def _sequence_tokens(text: str, i: int) -> list[_Token]:
    # "abcdef", "98765": a start, a direction and a length.
    if i + 2 >= len(text) or not text[i].isalnum():
        return []
    step = ord(text[i + 1]) - ord(text[i])
    if step not in (1, -1):
        return []
    end = i + 1
    while end < len(text) and ord(text[end]) - ord(text[end - 1]) == step:
        end += 1
    start_bits = math.log2(36) + 1
    return [(j, start_bits + math.log2(j - i) + _TOKEN_BITS, 0) for j in range(i + 3, end + 1)]


def _repeat_tokens(text: str, i: int, memo: _Memo) -> list[_Token]:
    found = []
    for size in range(1, min(_MAX_UNIT, (len(text) - i) // 2) + 1):
        unit = text[i : i + size]
        copies = 1
        while text.startswith(unit, i + copies * size):
            copies += 1
        if copies >= 2:
            unit_bits, unit_words = _pattern(unit, memo)
            cost = unit_bits + math.log2(copies) + _TOKEN_BITS
            found.append((i + copies * size, cost, unit_words * copies))
    return found


def _period(text: str) -> int:
    """The shortest ``p`` such that ``text`` is a prefix of its first ``p`` characters
    repeated (Knuth-Morris-Pratt failure function); ``len(text)`` when there is none."""
    failure = [0] * len(text)
    k = 0
    for index in range(1, len(text)):
        while k and text[index] != text[k]:
            k = failure[k - 1]
        if text[index] == text[k]:
            k += 1
        failure[index] = k
    period = len(text) - failure[-1]
    return period if period < len(text) and failure[-1] >= period else len(text)
