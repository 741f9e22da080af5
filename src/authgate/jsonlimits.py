"""One bounded reader for untrusted JSON: a size and a nesting-depth limit, checked
before any parser runs.

RFC 8259 s9: "An implementation may set limits on the size of texts that it accepts
[and] on the maximum depth of nesting." Python's JSON parsers (``json``, and through it
joserfc, Authlib and Starlette) recurse once per level, so a few kilobytes of ``[[[[``
raise ``RecursionError`` (an answer of 500) wherever they are parsed. This module finds
the depth with a flat scan, never recursing, and refuses what is too deep or too large
with a ``ValueError`` that callers already treat as "not valid JSON".

Used for request bodies (``http/json_body.py`` and the login limiter), JWS compact
tokens before a JOSE library parses them (access and refresh tokens, ``client_assertion``,
DPoP proofs, ID tokens), and documents fetched from providers (discovery, JWKS, token
and UserInfo responses). A root module: the standard library only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "JSONLimitError",
    "JSONTooDeepError",
    "JSONTooLargeError",
    "check",
    "check_compact_jws",
    "loads",
    "nesting_depth",
]

# Deeper than anything authgate or a provider legitimately sends (RFC 8693 actor chains
# included), far below the interpreter's recursion limit.
MAX_DEPTH = 32
MAX_BYTES = 1024 * 1024

# A JSON string (RFC 8259 s7), written so that matching it cannot backtrack.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JSONLimitError(ValueError):
    """The text is over a limit. The message names the limit, never the text."""


class JSONTooLargeError(JSONLimitError):
    pass


class JSONTooDeepError(JSONLimitError):
    pass


def nesting_depth(raw: bytes | str, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (``{"a": [1]}`` is 2).

    Brackets inside strings do not count. On invalid JSON the answer is an upper bound
    of what a parser could reach before failing. Scanning stops early once the depth is
    above ``stop_above``.
    """
    text = _utf8(raw)
    opening = text.count(b"{") + text.count(b"[")
    if stop_above is not None and opening <= stop_above:
        return opening  # no more containers than the limit: cannot nest deeper
    brackets = _STRING.sub(b"", text).translate(None, delete=_NOT_BRACKETS)
    level = deepest = 0
    for char in brackets:
        if char in b"[{":
            level += 1
            if level > deepest:
                deepest = level
                if stop_above is not None and deepest > stop_above:
                    break
        else:
            level = max(level - 1, 0)
    return deepest


def check(raw: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``JSONLimitError`` if ``raw`` is longer than ``max_bytes`` or nests deeper
    than ``max_depth``."""
    if len(raw) > max_bytes:
        raise JSONTooLargeError(f"JSON text over {max_bytes} bytes")
    if nesting_depth(raw, stop_above=max_depth) > max_depth:
        raise JSONTooDeepError(f"JSON nested deeper than {max_depth} levels")


def loads(
    raw: bytes | str,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    decoder: json.JSONDecoder | None = None,
) -> Any:
    """``json.loads(raw)`` within the limits; ``ValueError`` for anything else.

    ``decoder`` replaces the default one (for instance one refusing duplicate members).
    """
    check(raw, max_bytes=max_bytes, max_depth=max_depth)
    if decoder is None:
        return json.loads(raw)
    text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")
    return decoder.decode(text)


def check_compact_jws(token: str | bytes, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a JWS compact serialization (RFC 7515 s7.1) whose protected header or
    payload nests deeper than ``max_depth``, before a JOSE library parses it.

    Segments that are not base64url are left for the JOSE library to refuse. The
    caller bounds the token's size.
    """
    text = token if isinstance(token, bytes) else token.encode("ascii", "replace")
    for segment in text.split(b".")[:2]:
        try:
            raw = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
        except (binascii.Error, ValueError):
            continue
        if nesting_depth(raw, stop_above=max_depth) > max_depth:
            raise JSONTooDeepError(f"JSON nested deeper than {max_depth} levels")


def _utf8(raw: bytes | str) -> bytes:
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    # RFC 8259 s8.1 asks for UTF-8, but json.loads also reads UTF-16 and UTF-32: scan
    # what it would parse, so a wide encoding cannot hide its brackets from the count.
    encoding = json.detect_encoding(raw)
    if encoding == "utf-8" or encoding == "utf-8-sig":
        return raw
    try:
        return raw.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return raw
