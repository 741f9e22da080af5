"""PKCE on the server side (RFC 7636): only ``S256`` (OAuth 2.1 s4.1.1, RFC 9700 s2.1.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = ["valid_challenge", "verify_s256"]

# s4.1: 43 to 128 characters from the unreserved set.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
# s4.2: BASE64URL(SHA256(verifier)) is always 43 characters without padding.
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def valid_challenge(challenge: str) -> bool:
    return bool(_CHALLENGE.match(challenge))


def verify_s256(verifier: str, challenge: str) -> bool:
    """s4.6: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge."""
    if not _VERIFIER.match(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=")
    return hmac.compare_digest(computed, challenge.encode("ascii", "replace"))
