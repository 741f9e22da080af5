"""Where a browser may be sent after signing in: paths on this site only.

RFC 9700 s4.11 (open redirection): the ``next`` parameter is attacker-controlled, so
only a same-site absolute path is accepted; anything else falls back to the default.
The path is normalised (RFC 3986 s5.2.4, s6.2.2: ``%2e`` decoded, dot segments
resolved) and the normal form is what the browser is sent to; ``//`` and encoded
separators are refused, since browsers and servers read them differently.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from authgate.urlpaths import has_ambiguous_separators, normalise_path

__all__ = ["DEFAULT_NEXT", "safe_next"]

DEFAULT_NEXT = "/account"
_MAX_LENGTH = 2048


def safe_next(value: str | None, default: str = DEFAULT_NEXT) -> str:
    """``value`` when it is a path on this site, else ``default``."""
    if not value or len(value) > _MAX_LENGTH or not value.startswith("/"):
        return default
    # "//host" and "/\\host" are network-path references in browsers; browsers also drop
    # tabs and newlines from URLs, so "/\t/host" would become "//host".
    if value.startswith(("//", "/\\")) or "\\" in value:
        return default
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or has_ambiguous_separators(parts.path):
        return default
    return urlunsplit(parts._replace(path=normalise_path(parts.path)))
