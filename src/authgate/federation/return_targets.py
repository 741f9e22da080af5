"""Where a browser goes after signing in: an allow-list, never an open redirect.

RFC 9700 s4.11: a redirect target taken from the request is honoured only when it is
a same-site path or matches a configured entry (same scheme, host and port, and a path
under the entry's path).

The path is compared after RFC 3986 normalisation (``%2e`` decoded, ``.``/``..``
resolved), and the normalised target is the one returned, so the browser goes exactly
where the check looked: ``/welcome/../admin`` on an allowed origin is ``/admin``.
Paths that servers read differently (``//``, encoded ``/`` or ``\\``) are refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit, urlunsplit

from authgate.errors import ConfigurationError, RedirectNotAllowedError
from authgate.urlpaths import has_ambiguous_separators, normalise_path

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
        """``target`` (normalised) if allowed, the default when none was asked for;
        raises otherwise."""
        if not target:
            return self.default
        allowed = self._normalised(target)
        if allowed is None:
            raise RedirectNotAllowedError(provider)
        return allowed

    def is_allowed(self, target: str) -> bool:
        return self._normalised(target) is not None

    def _normalised(self, target: str) -> str | None:
        if len(target) > 2048 or any(ord(ch) < 0x21 or ch == "\\" for ch in target):
            return None
        try:
            parts = _normalise(urlsplit(target))
        except ValueError:
            return None
        if parts is None:
            return None
        if target.startswith("/"):
            # "//host" is protocol-relative: another site.
            local = not target.startswith("//") and not parts.scheme and not parts.netloc
            return urlunsplit(parts) if local else None
        if any(_matches(parts, entry) for entry in self._allowed):
            return urlunsplit(parts)
        return None


def _normalise(parts: SplitResult) -> SplitResult | None:
    """The target with its path in normal form; None when servers would disagree on it."""
    if has_ambiguous_separators(parts.path):
        return None
    path = normalise_path(parts.path) if parts.path else parts.path
    return parts._replace(path=path)


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
