"""Property-based differential test: authgate's verifier against strictly configured PyJWT.

On generated and mutated tokens, ``TokenVerifier.verify_access`` must accept exactly
the tokens a reference accepts, and then yield the same claims. The reference is PyJWT
(HS256 only, the same key, ``iss``/``aud`` exact, ``exp``/``iat`` required, 10 s
leeway) plus the strictness authgate documents and PyJWT cannot be told: canonical
unpadded base64url segments (RFC 7515 s2), JSON numbers for NumericDates (RFC 7519 s2),
no duplicate names, only ``alg``/``typ``/``kid`` in the header, ``typ`` ``at+jwt``
(RFC 8725 s3.11), and authgate's own claim types.

Both sides read the real clock; generated times keep two seconds away from each
boundary so the few microseconds between the two checks cannot decide a case.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from typing import Any

import jwt
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from authgate.clock import system_clock
from authgate.errors import InvalidTokenError
from authgate.tokens import TokenVerifier
from tests.security.tokens import (
    ACCESS_KID,
    ACCESS_SECRET,
    AUDIENCE,
    ISSUER,
    REFRESH_KID,
    REFRESH_SECRET,
    b64,
    hs256,
)

LEEWAY = 10
VERIFIER = TokenVerifier(
    issuer=ISSUER,
    audience=AUDIENCE,
    access_secret=ACCESS_SECRET,
    refresh_secret=REFRESH_SECRET,
    leeway=LEEWAY,
    clock=system_clock,
)
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")
_STRING_CLAIMS = ("sub", "sessionId", "deviceFingerprint", "jti")


def authgate_accepts(token: str) -> dict[str, Any] | None:
    try:
        claims = VERIFIER.verify_access(token)
    except InvalidTokenError:
        return None
    return {"sub": claims.sub, "sessionId": claims.session_id, "perms": claims.permissions}


# The reference


def _canonical_segment(segment: str) -> bytes | None:
    if not _SEGMENT.match(segment) or len(segment) % 4 == 1:
        return None
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return raw if b64(raw) == segment else None


def _strict_json(raw: bytes) -> Any:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError("duplicate")
        return dict(pairs)

    return json.loads(raw, object_pairs_hook=unique)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and abs(value) < 1e15
    )


def _serialization_ok(token: str) -> bool:
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        return False
    decoded = [_canonical_segment(part) for part in parts]
    if any(part is None for part in decoded):
        return False
    try:
        header, payload = _strict_json(decoded[0] or b""), _strict_json(decoded[1] or b"")
    except ValueError:
        return False
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return False
    if not set(header) <= {"alg", "typ", "kid"} or header.get("typ") != "at+jwt":
        return False
    return "kid" not in header or header["kid"] == ACCESS_KID


def _claims_ok(claims: dict[str, Any]) -> bool:
    for name in ("exp", "iat"):
        if name not in claims or not _is_number(claims[name]):
            return False
    if "nbf" in claims and not _is_number(claims["nbf"]):
        return False
    if claims.get("tokenType") != "access":
        return False
    if not all(isinstance(claims.get(n), str) and claims[n] for n in _STRING_CLAIMS):
        return False
    if "email" in claims and not (isinstance(claims["email"], str) and claims["email"]):
        return False
    return all(
        isinstance(claims.get(n), list) and all(isinstance(i, str) for i in claims[n])
        for n in ("roles", "permissions")
    )


def reference_accepts(token: str) -> dict[str, Any] | None:
    if not _serialization_ok(token):
        return None
    try:
        claims = jwt.decode(
            token,
            ACCESS_SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except (jwt.PyJWTError, TypeError, ValueError, OverflowError):
        return None
    if not _claims_ok(claims):
        return None
    return {
        "sub": claims["sub"],
        "sessionId": claims["sessionId"],
        "perms": frozenset(claims["permissions"]),
    }


# Generated tokens

_OFFSETS = st.integers(min_value=-4000, max_value=4000)
_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.integers(min_value=-(10**20), max_value=10**20),
)
_CLAIM_NAMES = [
    "sub",
    "email",
    "roles",
    "permissions",
    "sessionId",
    "deviceFingerprint",
    "tokenType",
    "iss",
    "aud",
    "iat",
    "exp",
    "jti",
    "nbf",
]
_ISS_AUD = st.sampled_from(
    [
        ISSUER,
        AUDIENCE,
        ISSUER + "x",
        ISSUER[:-1],
        AUDIENCE.upper(),
        [AUDIENCE],
        [AUDIENCE, 1],
        ["other", AUDIENCE],
        [],
    ]
)


@st.composite
def tokens(draw: st.DrawFn) -> tuple[str, dict[str, int]]:
    now = int(time.time())
    # Mostly plausible times (past iat/nbf, future exp), sometimes the other side.
    sign_of = {"iat": -1, "exp": 1, "nbf": -1}
    times = {
        name: abs(draw(_OFFSETS)) * (sign if draw(st.integers(0, 5)) else -sign)
        for name, sign in sign_of.items()
    }
    claims: dict[str, Any] = {
        "sub": "user-1",
        "email": "ada@example.com",
        "roles": ["user"],
        "permissions": ["use_agent"],
        "sessionId": "s-1",
        "deviceFingerprint": "f" * 64,
        "tokenType": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": "j-1",
        "iat": now + times["iat"],
        "exp": now + times["exp"],
    }
    if draw(st.booleans()):
        claims["nbf"] = now + times["nbf"]
    mutated = st.lists(st.sampled_from(_CLAIM_NAMES), min_size=1, max_size=2, unique=True)
    for name in draw(mutated) if draw(st.integers(0, 2)) == 0 else []:
        action = draw(st.sampled_from(["delete", "junk", "iss-aud", "float-time"]))
        if action == "delete":
            claims.pop(name, None)
        elif action == "junk":
            claims[name] = draw(_JUNK)
        elif action == "iss-aud":
            claims[name] = draw(_ISS_AUD)
        else:
            claims[name] = now + draw(_OFFSETS) + 0.5
    header: dict[str, Any] = {"alg": "HS256", "typ": "at+jwt", "kid": ACCESS_KID}
    for name, choices in (
        ("alg", ["HS256", "HS384", "none", "RS256", "hs256"]),
        ("typ", ["at+jwt", "rt+jwt", "JWT", None]),
        ("kid", [ACCESS_KID, REFRESH_KID, "other", 7, None]),
    ):
        if draw(st.integers(0, 7)) == 0:
            value = draw(st.sampled_from(choices))
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
    if draw(st.integers(0, 6)) == 0:
        header[draw(st.sampled_from(["crit", "jku", "jwk", "x5u", "cty"]))] = ["exp"]
    secret = draw(st.sampled_from([ACCESS_SECRET] * 6 + [REFRESH_SECRET, "k" * 64]))
    signing_input = f"{b64(header)}.{b64(claims)}"
    token = f"{signing_input}.{hs256(signing_input, secret)}"
    token = _mutate(draw, token)
    edges = {k: v for k, v in claims.items() if k in ("iat", "exp", "nbf") and _is_number(v)}
    return token, {k: int(v) - now for k, v in edges.items()}


def _mutate(draw: st.DrawFn, token: str) -> str:
    kind = draw(st.sampled_from(["none"] * 8 + ["flip", "truncate", "insert", "std-alphabet"]))
    if kind == "none" or not token:
        return token
    index = draw(st.integers(0, len(token) - 1))
    if kind == "flip":
        replacement = draw(st.sampled_from("Aa0_-.+/= "))
        return token[:index] + replacement + token[index + 1 :]
    if kind == "truncate":
        return token[:index]
    if kind == "insert":
        return token[:index] + draw(st.sampled_from(["=", " ", ".", "A", "\n"])) + token[index:]
    return token.replace("-", "+").replace("_", "/")


def _near_a_boundary(offsets: dict[str, int]) -> bool:
    edges = {"exp": -LEEWAY, "iat": LEEWAY, "nbf": LEEWAY}
    return any(abs(offset - edges[name]) <= 2 for name, offset in offsets.items())


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(tokens())
def test_authgate_accepts_exactly_what_strict_pyjwt_accepts(
    case: tuple[str, dict[str, int]],
) -> None:
    token, offsets = case
    assume(not _near_a_boundary(offsets))
    assert authgate_accepts(token) == reference_accepts(token)


def test_the_generator_produces_both_outcomes() -> None:
    """Guard against a differential that only ever compares two rejections."""
    outcomes: set[bool] = set()

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(tokens())
    def collect(case: tuple[str, dict[str, int]]) -> None:
        outcomes.add(reference_accepts(case[0]) is not None)

    collect()
    assert outcomes == {True, False}
