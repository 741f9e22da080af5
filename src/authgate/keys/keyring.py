"""The key ring: which key signs, and which (kid -> algorithm, key) pairs verify.

Each kid maps to exactly one algorithm and one key, fixed when the key is made, so a
token cannot choose how it is checked (RFC 8725 s2.1, s3.1): the header's ``alg`` must
equal the kid's algorithm, and ``kid`` is only ever a dictionary key (s3.10).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "AnyKey",
    "KeyRing",
    "KeySource",
    "RingKey",
    "StaticKeys",
    "generate_key",
    "hmac_key",
    "hmac_kid",
    "resolve_keys",
    "import_key",
]

# RFC 9864 names fully specified "Ed25519"; "EdDSA" is what verifiers deploy today.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

AnyKey = OctKey | OKPKey | ECKey | RSAKey
ASYMMETRIC_ALGORITHMS = ("EdDSA", "ES256", "RS256")
SUPPORTED_ALGORITHMS = ("HS256", *ASYMMETRIC_ALGORITHMS)


def generate_key(alg: str) -> AnyKey:
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519")
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "RS256":
        return RSAKey.generate_key(2048)
    raise ValueError(f"not an asymmetric signing algorithm: {alg}")


def import_key(alg: str, jwk: Mapping[str, Any]) -> AnyKey:
    value = dict(jwk)
    if alg == "EdDSA":
        return OKPKey.import_key(value)
    if alg == "ES256":
        return ECKey.import_key(value)
    if alg == "RS256":
        return RSAKey.import_key(value)
    raise ValueError(f"not an asymmetric signing algorithm: {alg}")


def hmac_kid(purpose: str, secret: str) -> str:
    # Names an HMAC secret without revealing it: a labelled, truncated SHA-256.
    digest = hashlib.sha256(f"authgate-kid|{purpose}|".encode() + secret.encode()).hexdigest()
    return f"{purpose}-{digest[:12]}"


@dataclass(frozen=True, slots=True)
class RingKey:
    kid: str
    alg: str
    key: AnyKey
    public_jwk: dict[str, Any] | None = None  # None for HMAC secrets: never published


@dataclass(frozen=True, slots=True)
class KeyRing:
    signer: RingKey
    verifiers: Mapping[str, RingKey] = field(default_factory=dict)

    @classmethod
    def of(cls, signer: RingKey, others: Iterable[RingKey] = ()) -> KeyRing:
        keys = {key.kid: key for key in others}
        keys[signer.kid] = signer
        return cls(signer=signer, verifiers=keys)

    def get(self, kid: object) -> RingKey | None:
        if not isinstance(kid, str):
            return None
        return self.verifiers.get(kid)

    def jwks(self) -> dict[str, Any]:
        """Public keys only (RFC 7517 s5); HMAC secrets are never listed."""
        keys = [
            {**key.public_jwk, "kid": key.kid, "alg": key.alg, "use": "sig"}
            for key in self.verifiers.values()
            if key.public_jwk is not None
        ]
        return {"keys": sorted(keys, key=lambda jwk: str(jwk["kid"]))}


class KeySource(Protocol):
    """Where issuers and verifiers read keys from; ``ring`` may change between calls."""

    @property
    def ring(self) -> KeyRing: ...

    @property
    def refresh_key(self) -> RingKey: ...


class StaticKeys:
    """The HS256 keys of the two JWT secrets, for code that has no key store."""

    def __init__(self, *, access_secret: str, refresh_secret: str) -> None:
        self.ring = KeyRing.of(hmac_key("access", access_secret))
        self.refresh_key = hmac_key("refresh", refresh_secret)


def resolve_keys(
    keys: KeySource | None, access_secret: str | None, refresh_secret: str | None
) -> KeySource:
    """``keys`` as given, or the static HS256 keys of the two secrets."""
    if keys is not None:
        return keys
    if access_secret is None or refresh_secret is None:
        raise ValueError("pass keys, or both access_secret and refresh_secret")
    return StaticKeys(access_secret=access_secret, refresh_secret=refresh_secret)


def hmac_key(purpose: str, secret: str) -> RingKey:
    return RingKey(kid=hmac_kid(purpose, secret), alg="HS256", key=OctKey.import_key(secret))
