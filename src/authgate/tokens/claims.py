"""Claim sets of authgate's two token types and the validators that check them.

Access tokens follow RFC 9068 (JOSE ``typ`` ``at+jwt``); refresh tokens carry their own
``typ`` so that, together with a different key, neither can pass as the other
(RFC 8725 s3.11). Claim names follow the original design (``sessionId``,
``deviceFingerprint``, ``tokenType``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from authgate.errors import ExpiredTokenError, InvalidClaimError

__all__ = [
    "ACCESS_TYP",
    "REFRESH_TYP",
    "AccessClaims",
    "ClaimsPolicy",
    "RefreshClaims",
]

ACCESS_TYP = "at+jwt"
REFRESH_TYP = "rt+jwt"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    sub: str
    email: str | None  # absent for an agent acting on its own (client credentials)
    roles: tuple[str, ...]
    permissions: frozenset[str]
    session_id: str
    device_fingerprint: str
    jti: str
    iat: int
    exp: int
    actor: str | None = None  # RFC 8693 s4.1: the top-level act.sub, when delegated
    client_id: str | None = None  # RFC 9068 s2.2: the client the token was issued to
    jkt: str | None = None  # RFC 9449 s6.1: cnf.jkt of a DPoP-bound token
    email_verified: bool | None = None  # OIDC Core s5.1
    amr: tuple[str, ...] = ()  # RFC 8176 authentication methods
    acr: str | None = None  # aal1 | aal2
    auth_time: int | None = None  # OIDC Core s2: when the person last authenticated


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    sub: str
    session_id: str
    device_fingerprint: str
    jti: str
    iat: int
    exp: int


@dataclass(frozen=True, slots=True)
class ClaimsPolicy:
    """The registered-claim checks shared by both token types (RFC 7519 s4.1)."""

    issuer: str
    audience: str
    token_type: str
    leeway: int

    def validate(self, claims: dict[str, Any], now: float) -> None:
        self.validate_times(claims, now)
        _validate_iss(claims, self.issuer)
        _validate_aud(claims, self.audience)
        if claims.get("tokenType") != self.token_type:
            raise InvalidClaimError("tokenType")

    def validate_times(self, claims: dict[str, Any], now: float) -> None:
        """``exp``, ``iat`` and ``nbf``: the checks a cached verification must repeat."""
        _validate_exp(claims, now, self.leeway)
        _validate_iat(claims, now, self.leeway)
        _validate_nbf(claims, now, self.leeway)


def _numeric_date(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    # RFC 7519 s2: NumericDate is a JSON number; booleans are numbers to Python, not JSON.
    # A claim that is present must be valid: "nbf": null is refused, not ignored.
    if name not in claims:
        if required:
            raise InvalidClaimError(name)
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidClaimError(name)
    # NaN and infinities are not JSON numbers (RFC 8259 s6), though json.loads reads them;
    # NaN would compare as "not expired" forever.
    try:
        seconds = float(value)
    except OverflowError:
        raise InvalidClaimError(name) from None
    if not math.isfinite(seconds):
        raise InvalidClaimError(name)
    return seconds


def _validate_exp(claims: dict[str, Any], now: float, leeway: int) -> None:
    exp = _numeric_date(claims, "exp", required=True)
    if exp is not None and exp <= now - leeway:
        raise ExpiredTokenError()


def _validate_iat(claims: dict[str, Any], now: float, leeway: int) -> None:
    iat = _numeric_date(claims, "iat", required=True)
    if iat is not None and iat > now + leeway:
        raise InvalidClaimError("iat")


def _validate_nbf(claims: dict[str, Any], now: float, leeway: int) -> None:
    nbf = _numeric_date(claims, "nbf", required=False)
    if nbf is not None and nbf > now + leeway:
        raise InvalidClaimError("nbf")


def _validate_iss(claims: dict[str, Any], issuer: str) -> None:
    # RFC 8725 s3.8: exact match, never a prefix or substring.
    if claims.get("iss") != issuer:
        raise InvalidClaimError("iss")


def _validate_aud(claims: dict[str, Any], audience: str) -> None:
    # RFC 7519 s4.1.3: a string or an array of strings; ours must be among them exactly.
    aud = claims.get("aud")
    if aud == audience:
        return
    if isinstance(aud, list) and audience in aud and all(isinstance(a, str) for a in aud):
        return
    raise InvalidClaimError("aud")


def string_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidClaimError(name)
    return value


def optional_string_claim(claims: dict[str, Any], name: str) -> str | None:
    if name not in claims:
        return None
    return string_claim(claims, name)


def actor_claim(claims: dict[str, Any]) -> str | None:
    """RFC 8693 s4.1: only the top-level actor counts; nested ones are history."""
    if "act" not in claims:
        return None
    act = claims["act"]
    if not isinstance(act, dict):
        raise InvalidClaimError("act")
    return string_claim(act, "sub")


def jkt_claim(claims: dict[str, Any]) -> str | None:
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, dict):
        raise InvalidClaimError("cnf")
    return string_claim(cnf, "jkt")


def string_list_claim(claims: dict[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClaimError(name)
    return tuple(value)


def optional_bool_claim(claims: dict[str, Any], name: str) -> bool | None:
    if name not in claims:
        return None
    value = claims[name]
    if not isinstance(value, bool):
        raise InvalidClaimError(name)
    return value


def optional_time_claim(claims: dict[str, Any], name: str) -> int | None:
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidClaimError(name)
    return value


def optional_list_claim(claims: dict[str, Any], name: str) -> tuple[str, ...]:
    return string_list_claim(claims, name) if name in claims else ()
