"""The strict compact-JWS parser every verifier of authgate tokens shares.

Used by the server's ``TokenVerifier`` (its non-fast path) and by everything in
``authgate.resource``, so a resource server is never looser than authgate itself:

- RFC 7515 s7.1: exactly three segments of canonical, unpadded base64url.
- RFC 7515 s4 / RFC 7519 s4: duplicate member names in the header or the claims are
  refused (JSON parsers silently keep the last; another component could read the first).
- RFC 7515 s4.1.11, RFC 8725 s3.10: the header holds only ``alg``, ``typ`` and ``kid``,
  so ``crit`` (even ``crit: []``), ``jku``, ``x5u``, ``jwk``, ``x5c`` are refused.
- RFC 8725 s3.11: the expected ``typ`` is checked before any claim is read.
- Nesting deeper than ``MAX_DEPTH`` is refused (no RecursionError on hostile input).

``read_header`` runs before the key is chosen; ``verified_claims`` checks the signature
with the one algorithm the chosen key fixes (RFC 8725 s2.1, s3.1) and returns the claims.
"""

from __future__ import annotations

from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError

from authgate.errors import InvalidSignatureError, MalformedTokenError, WrongTokenTypeError
from authgate.keys.keyring import RingKey
from authgate.tokens._compact import MAX_DEPTH, b64decode_canonical, depth, strict_json

__all__ = ["ALLOWED_HEADER", "read_header", "read_segment", "verified_claims"]

ALLOWED_HEADER = frozenset({"alg", "typ", "kid"})


def read_segment(segment: str) -> dict[str, Any]:
    """One header or payload segment: canonical base64url of a JSON object, strictly."""
    raw = b64decode_canonical(segment)
    if raw is None:
        raise MalformedTokenError()
    try:
        value = strict_json(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedTokenError() from exc
    if not isinstance(value, dict) or depth(value) > MAX_DEPTH:
        raise MalformedTokenError()
    return value


def read_header(token: str, *, typ: str | None = None) -> dict[str, Any]:
    """The protected header, refused unless it is exactly what authgate writes."""
    if not token.isascii() or token.count(".") != 2:
        raise MalformedTokenError()
    header = read_segment(token.split(".", 1)[0])
    if not ALLOWED_HEADER.issuperset(header):
        # crit, jku, x5u, jwk, x5c...: nothing we understand or would ever follow.
        raise MalformedTokenError()
    if not isinstance(header.get("alg"), str):
        raise MalformedTokenError()
    if typ is not None and header.get("typ") != typ:
        raise WrongTokenTypeError()
    return header


def verified_claims(token: str, key: RingKey, header: dict[str, Any]) -> dict[str, Any]:
    """The claims of ``token`` once its signature verifies under ``key`` with ``key.alg``."""
    if header.get("alg") != key.alg:
        # A header naming another algorithm than its key's own (RFC 8725 s2.1).
        raise InvalidSignatureError()
    # The claims first, strictly (joserfc's JSON parser takes duplicate names and any
    # depth); then the signature over the bytes as they came, without parsing them again.
    claims = read_segment(token.split(".", 2)[1])
    try:
        jws.deserialize_compact(token, key.key, algorithms=[key.alg])
    except BadSignatureError as exc:
        raise InvalidSignatureError() from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise MalformedTokenError() from exc
    return claims
