"""URI path normalisation for every check that compares paths (RFC 3986 s5.2.4, s6.2.2).

A check that compares one spelling of a path while the router, proxy or browser acts on
another can be walked around: ``/api//admin``, ``/API/admin``, ``/ok/../admin``,
``/ok/%2e%2e/admin``. Checks normalise first, and refuse the spellings that readers
disagree on (empty segments, encoded separators, backslashes) instead of guessing.
"""

from __future__ import annotations

import re

__all__ = [
    "decode_unreserved",
    "has_ambiguous_separators",
    "normalise_path",
    "remove_dot_segments",
]

_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# %2F and %5C decode to separators that some readers split on and others do not.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)


def _decode_one(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def decode_unreserved(path: str) -> str:
    """s6.2.2.1, s6.2.2.2: decode unreserved characters (so ``%2e`` is ``.``); upper hex."""
    return _PERCENT.sub(_decode_one, path) if "%" in path else path


def remove_dot_segments(path: str) -> str:
    """s5.2.4 for an absolute path: ``.`` and ``..`` segments resolved, never above root."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and out:
                out.pop()
            if index == len(segments) - 1:
                out.append("")  # "/a/.." is "/", a directory: keep the trailing slash
        else:
            out.append(segment)
    return "/" + "/".join(out)


def normalise_path(path: str) -> str:
    """The syntax-based normal form of an absolute path: decoding, then dot segments."""
    return remove_dot_segments(decode_unreserved(path))


def has_ambiguous_separators(path: str) -> bool:
    """Empty segments (``//``), backslashes, encoded ``/`` or ``\\``: read differently
    by different servers, so a path check cannot know which path will be served."""
    return "//" in path or "\\" in path or bool(_ENCODED_SEPARATOR.search(path))
