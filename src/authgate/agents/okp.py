"""Refuse weak Edwards-curve public keys: small order, non-canonical, or not for signing.

With a small-order public key A (a point in the curve's torsion subgroup), an EdDSA
signature can verify without any private key: for the identity point, R = identity
and S = 0 satisfy [S]B = R + [k]A for every message. OpenSSL accepts such keys, so a
DPoP proof or a ``private_key_jwt`` assertion "signed" that way would verify
(issue 19 item 7). RFC 8032 s5.1.3 and s5.2.3 also make a y >= p encoding fail to
decode; we refuse those non-canonical encodings rather than reduce them.

The small-order points are known: on edwards25519 the eight points of the torsion
subgroup have y in {0, 1, p-1, Y8, p-Y8}; on edwards448 the four have y in {0, 1, p-1}.
Comparing the decoded y (sign bit cleared) covers both signs of x.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

__all__ = ["SIGNING_CURVES", "weak_okp_key"]

_P25519 = 2**255 - 19
# y of the order-8 points of edwards25519 (libsodium's blocklist; tests re-derive it).
_Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
_P448 = 2**448 - 2**224 - 1
# crv -> (encoded length, field prime, y of every small-order point). RFC 8037 s2.
_CURVES: dict[str, tuple[int, int, frozenset[int]]] = {
    "Ed25519": (32, _P25519, frozenset({0, 1, _P25519 - 1, _Y8, _P25519 - _Y8})),
    "Ed448": (57, _P448, frozenset({0, 1, _P448 - 1})),
}
#: OKP curves that sign; X25519 and X448 are for key agreement only (RFC 8037 s3.2).
SIGNING_CURVES = frozenset(_CURVES)


def weak_okp_key(jwk: Mapping[str, Any]) -> bool:
    """Whether an OKP JWK must not verify signatures: wrong curve, bad encoding, small order."""
    curve = _CURVES.get(jwk.get("crv", ""))
    x = jwk.get("x")
    if curve is None or not isinstance(x, str):
        return True
    length, prime, small_order = curve
    try:
        raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    except (ValueError, binascii.Error):
        return True
    if len(raw) != length:
        return True
    # The top bit of the last octet is the sign of x; the rest is y, little-endian.
    y = int.from_bytes(raw, "little") & ~(1 << (8 * length - 1))
    return y >= prime or y in small_order
