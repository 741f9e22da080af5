"""Where a browser goes after signing in: an allow-list, never an open redirect.

RFC 9700 s4.11: a redirect target taken from the request is honoured only when it is
a same-site path or matches a configured entry (same scheme, host and port, and a path
under the entry's path).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from authgate.errors import ConfigurationError, RedirectNotAllowedError

__all__ = ["RedirectPolicy"]


class RedirectPolicy:
    def __init__(self, *, default: str, allowed: Iterable[str]) -> None:
        self._allowed = tuple(_parse_entry(entry) for entry in allowed)
        if not self.is_allowed(default):
            raise ConfigurationError(
                "AUTHGATE_POST_LOGIN_REDIRECT must be a path or on AUTHGATE_ALLOWED_REDIRECTS"
            )
        self.default = default

    def resolve(self, target: str | None, *, provider: str) -> str:
        """``target`` if allowed, the default when none was asked for; raises otherwise."""
        if not target:
            return self.default
        if not self.is_allowed(target):
            raise RedirectNotAllowedError(provider)
        return target

    def is_allowed(self, target: str) -> bool:
        if len(target) > 2048 or any(ord(ch) < 0x21 or ch == "\\" for ch in target):
            return False
        if target.startswith("/"):
            # "//host" is protocol-relative: another site.
            return not target.startswith("//")
        try:
            parts = urlsplit(target)
        except ValueError:
            return False
        return any(_matches(parts, entry) for entry in self._allowed)


def _parse_entry(entry: str) -> SplitResult:
    parts = urlsplit(entry)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ConfigurationError(f"AUTHGATE_ALLOWED_REDIRECTS: not an http(s) URL: {entry!r}")
    return parts


def _matches(parts: SplitResult, entry: SplitResult) -> bool:
    if "@" in parts.netloc or parts.scheme != entry.scheme:
        return False
    try:
        same_origin = parts.hostname == entry.hostname and parts.port == entry.port
    except ValueError:  # a port that is not a number
        return False
    prefix = entry.path.rstrip("/")
    path = parts.path or "/"
    return same_origin and (path == prefix or path.startswith(prefix + "/") or not prefix)
