"""The fast path for authgate's own EdDSA (Ed25519) and ES256 tokens, as strict as HS256's.

Like ``CompactHS256`` it recognises exactly the JWS Compact Serialization authgate
issues with one key: the protected header must be byte for byte the one the issuer
writes for that key (its single ``alg``, ``typ`` and ``kid``: RFC 8725 s2.1, s3.11), the
signature segment canonical base64url of exactly 64 bytes, checked with the key's own
algorithm:

- EdDSA: Ed25519 (RFC 8037 s3.1, RFC 8032 s5.1.7) over the signing input, through
  libsodium (PyNaCl's ``crypto_sign_open``): about 85 µs a check against 135-150 µs for
  ``cryptography``'s ``Ed25519PublicKey.verify`` (OpenSSL), which issue 18.5's margin
  over PyJWT needs. libsodium is the stricter of the two, so this path cannot accept
  what the strict path (OpenSSL, through joserfc) refuses: its
  ``crypto_sign_verify_detached`` refuses an S >= L, a small-order R and a
  non-canonical or small-order public key, then compares the encoding of
  [S]B - [k]A with R; OpenSSL's ``ossl_ed25519_verify`` checks S < L and makes the same
  comparison over the same hash of R || A || M. The converse fails only for a
  small-order R, which only the key's holder can make valid; the strict path decides
  those.
- ES256: the 64 bytes are R || S, each 32 bytes big-endian (RFC 7518 s3.4), verified as
  ECDSA P-256 with SHA-256 through ``cryptography``.

It only ever *accepts*; anything else returns ``None`` and goes to the strict joserfc
path, which decides and raises. ``tests/tokens/test_fastpath_asymmetric.py`` checks
against joserfc, ``cryptography`` and PyJWT that both paths accept the same tokens.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey
from joserfc.jws import JWSRegistry
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from authgate.tokens._compact import b64decode_canonical, strict_json, within_depth

__all__ = ["CompactAsymmetric"]

_SIGNATURE_CHARS = 86  # 64 bytes in unpadded base64url, for Ed25519 and for ES256
_ECDSA = ec.ECDSA(hashes.SHA256())


class CompactAsymmetric:
    """Accepts exactly authgate's compact EdDSA or ES256 tokens of one key and ``typ``."""

    def __init__(self, *, key: OKPKey | ECKey, algorithm: str, typ: str, kid: str) -> None:
        public = key.get_op_key("verify")
        if algorithm == "EdDSA" and isinstance(public, Ed25519PublicKey):
            raw_key = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
            self._verify = functools.partial(_verify_ed25519, raw_key)
        elif (
            algorithm == "ES256"
            and isinstance(public, ec.EllipticCurvePublicKey)
            and isinstance(public.curve, ec.SECP256R1)
        ):
            self._verify = functools.partial(_verify_es256, public)
        else:
            raise ValueError("the asymmetric fast path handles Ed25519 EdDSA and P-256 ES256")
        self._prefix = header_segment(algorithm, typ, kid) + "."
        self._skip = len(self._prefix)
        self._max_payload = JWSRegistry.max_payload_length

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token in authgate's exact format with a valid signature, else None.

        ``token`` must already be known to be ASCII and within the size limit.
        """
        if not token.startswith(self._prefix):
            return None
        payload, dot, signature = token[self._skip :].partition(".")
        if not dot or len(signature) != _SIGNATURE_CHARS or len(payload) > self._max_payload:
            return None
        raw_signature = b64decode_canonical(signature)
        raw = b64decode_canonical(payload)
        if raw_signature is None or raw is None:
            return None
        signing_input = token[: self._skip + len(payload)].encode("ascii")
        if not self._verify(raw_signature, signing_input):
            return None
        try:
            claims = strict_json(raw)
        except (ValueError, RecursionError):
            return None
        if not isinstance(claims, dict) or not within_depth(raw, claims):
            return None
        return claims


def _verify_ed25519(public_key: bytes, signature: bytes, data: bytes) -> bool:
    # libsodium's combined form is signature || message; the copy it returns is unused.
    try:
        crypto_sign_open(signature + data, public_key)
    except BadSignatureError:
        return False
    return True


def _verify_es256(public: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        public.verify(encode_dss_signature(r, s), data, _ECDSA)
    except InvalidSignature:
        return False
    return True


@functools.cache
def header_segment(algorithm: str, typ: str, kid: str) -> str:
    """The header segment joserfc writes for authgate's header, as the issuer signs it."""
    # Derived from the issuer's own encoder with a throwaway key of the same kind, so a
    # change in key order or spacing there cannot silently turn the fast path off.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        key: OKPKey | ECKey = (
            OKPKey.generate_key("Ed25519") if algorithm == "EdDSA" else ECKey.generate_key("P-256")
        )
        sample = jwt.encode(
            {"alg": algorithm, "typ": typ, "kid": kid}, {}, key, algorithms=[algorithm]
        )
    return sample.split(".", 1)[0]
