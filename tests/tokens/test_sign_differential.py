"""The fast signer writes exactly what joserfc writes, and the issuer uses it for HS256.

``CompactHS256.sign`` replaces ``joserfc.jwt.encode`` when authgate issues HS256 tokens.
For generated claim sets (non-BMP text, nested ``act``/``cnf``, lists, large integers,
floats, booleans, ``None``, empty strings) its token must equal joserfc's byte for byte,
and verify through authgate's verifier (fast path on and off) and through joserfc's
decode with the same claims. The issuer must switch keys when the ring's signer changes.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt as jose_jwt
from joserfc.errors import UnsupportedKeyUseError
from joserfc.jwk import ECKey, OctKey
from joserfc.jws import extract_compact

from authgate.keys.keyring import KeyRing, RingKey, hmac_key
from authgate.secretstrength import generate_secret
from authgate.testing import FrozenClock
from authgate.tokens import TokenIssuer, TokenVerifier
from authgate.tokens._compact import CompactHS256
from authgate.tokens.issuer import token_header

ISS, AUD = "ai-agent-system", "ai-agent-users"
NOW = int(time.time())
CLOCK = FrozenClock(NOW)
ACCESS_KEY = hmac_key("access", generate_secret())
REFRESH_KEY = hmac_key("refresh", generate_secret())
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Keys:
    """A key source whose ring can be swapped, as a reload after rotation does."""

    def __init__(self, signer: RingKey, refresh_key: RingKey = REFRESH_KEY) -> None:
        self.ring = KeyRing.of(signer)
        self.refresh_key = refresh_key

    def rotate_to(self, signer: RingKey) -> None:
        self.ring = KeyRing.of(signer, self.ring.verifiers.values())


def _verifier(keys: Keys, *, fast_path: bool) -> TokenVerifier:
    return TokenVerifier(
        keys=keys, issuer=ISS, audience=AUD, clock=CLOCK, fast_path=fast_path, cache_size=0
    )


def _issuer(keys: Keys) -> TokenIssuer:
    return TokenIssuer(
        keys=keys, issuer=ISS, audience=AUD, access_ttl=900, refresh_ttl=3600, clock=CLOCK
    )


KEYS = Keys(ACCESS_KEY)
FAST, STRICT = _verifier(KEYS, fast_path=True), _verifier(KEYS, fast_path=False)
SIGNERS = {
    "access": (
        ACCESS_KEY,
        CompactHS256(secret=ACCESS_KEY.key.raw_value, typ="at+jwt", kid=ACCESS_KEY.kid),
    ),
    "refresh": (
        REFRESH_KEY,
        CompactHS256(secret=REFRESH_KEY.key.raw_value, typ="rt+jwt", kid=REFRESH_KEY.kid),
    ),
}
TYP = {"access": "at+jwt", "refresh": "rt+jwt"}


def _joserfc(kind: str, claims: dict[str, Any]) -> str:
    key = SIGNERS[kind][0]
    return jose_jwt.encode(token_header(key, TYP[kind]), claims, key.key, algorithms=["HS256"])


# JSON values: every scalar type, text across all planes (astral included), and nesting.
_text = st.text(max_size=12) | st.sampled_from(["", "\U0001f600", "\U00010348\u00e9\u4e2d", "\x00"])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**64) - 1, 10**400, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_POLICY = {"sub", "sessionId", "deviceFingerprint", "jti", "iss", "aud", "iat", "exp", "nbf"}
_POLICY |= {"tokenType", "email", "roles", "permissions", "act", "cnf", "client_id", "scope"}
_POLICY |= {"amr", "acr", "auth_time", "email_verified"}
_non_empty = st.text(min_size=1, max_size=12)


@st.composite
def claim_sets(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """What the issuer writes, with generated values and extra claims; all of it valid."""
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": draw(_non_empty),
        "sessionId": draw(_non_empty),
        "deviceFingerprint": draw(_non_empty),
        "tokenType": kind,
    }
    if kind == "access":
        claims |= {
            "roles": draw(st.lists(_text, max_size=3)),
            "permissions": draw(st.lists(_text, max_size=3)),
        }
        if draw(st.booleans()):
            claims["email"] = draw(_non_empty)
        if draw(st.booleans()):
            claims["email_verified"] = draw(st.booleans())
        if draw(st.booleans()):
            # RFC 8693 s4.1: the current actor, and maybe the chain before it.
            act: dict[str, Any] = {"sub": draw(_non_empty)}
            if draw(st.booleans()):
                act["act"] = {"sub": draw(_non_empty), "act": {"sub": draw(_text)}}
            claims["act"] = act
        if draw(st.booleans()):
            claims["cnf"] = {"jkt": draw(_non_empty)}
    extra = draw(st.dictionaries(_text.filter(lambda n: n not in _POLICY), _values, max_size=4))
    claims |= extra
    claims |= {"iat": NOW, "exp": NOW + draw(st.integers(60, 10**6)), "jti": draw(_non_empty)}
    return claims


def _check(kind: str, claims: dict[str, Any]) -> None:
    key, signer = SIGNERS[kind]
    token = signer.sign(claims)
    assert token == _joserfc(kind, claims)
    decoded = jose_jwt.decode(token, key.key, algorithms=["HS256"])
    assert decoded.claims == claims
    assert decoded.header == {"typ": TYP[kind], "alg": "HS256", "kid": key.kid}
    for verifier in (FAST, STRICT):
        verify = verifier.verify_access if kind == "access" else verifier.verify_refresh
        verified = verify(token)
        assert (verified.sub, verified.jti) == (claims["sub"], claims["jti"])


@EXAMPLES
@given(claim_sets("access"))
def test_signed_access_tokens_equal_joserfcs_and_verify(claims: dict[str, Any]) -> None:
    _check("access", claims)


@EXAMPLES
@given(claim_sets("refresh"))
def test_signed_refresh_tokens_equal_joserfcs_and_verify(claims: dict[str, Any]) -> None:
    _check("refresh", claims)


@EXAMPLES
@given(st.dictionaries(_text, _values, max_size=6))
def test_any_json_object_signs_as_joserfc_signs_it(claims: dict[str, Any]) -> None:
    for kind in ("access", "refresh"):
        assert SIGNERS[kind][1].sign(claims) == _joserfc(kind, claims)


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({}, id="empty"),
        pytest.param({"sub": "\ud800"}, id="lone-surrogate"),
        pytest.param({"exp": float("nan"), "iat": float("inf")}, id="non-finite"),
        pytest.param({"sub": '\u2028\u2029"\\/\x7f</script>'}, id="escapes"),
        pytest.param({"n": 10**4000}, id="huge-int"),
        pytest.param({"n": 10**5000}, id="int-over-str-digits-limit"),
    ],
)
def test_edge_cases_sign_as_joserfc_signs_them(claims: dict[str, Any]) -> None:
    try:
        expected: Any = _joserfc("access", dict(claims))
    except Exception as exc:  # the fast signer must fail the same way
        with pytest.raises(type(exc)):
            SIGNERS["access"][1].sign(claims)
        return
    assert SIGNERS["access"][1].sign(claims) == expected


def _kid(token: str) -> Any:
    return extract_compact(token.encode("ascii")).protected["kid"]


_OTHER_ACCESS = hmac_key("access", generate_secret())
_ES256 = RingKey(kid="es256-1", alg="ES256", key=ECKey.generate_key("P-256"))


def _issue_access(issuer: TokenIssuer) -> str:
    return issuer.issue_access(
        user_id="user-\U0001f600",
        email="ada@example.com",
        roles=["user"],
        permissions=["use_agent"],
        session_id="s",
        device_fingerprint="f",
        actor="agent-1",
        jkt="thumbprint",
    ).token


def test_after_a_rotation_the_issuer_signs_with_the_new_key() -> None:
    keys = Keys(ACCESS_KEY)
    issuer, verifier = _issuer(keys), _verifier(keys, fast_path=True)
    for signer in (ACCESS_KEY, _OTHER_ACCESS, _ES256, ACCESS_KEY, _OTHER_ACCESS):
        keys.rotate_to(signer)
        token = _issue_access(issuer)
        assert _kid(token) == signer.kid
        assert verifier.verify_access(token).actor == "agent-1"
        refresh = issuer.issue_refresh(
            user_id="u", session_id="s", device_fingerprint="f", not_after=NOW + 60
        ).token
        assert _kid(refresh) == REFRESH_KEY.kid
        assert verifier.verify_refresh(refresh).sub == "u"


def test_the_issuer_signs_hs256_without_joserfc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the fast path being used at all; the other tests hold whichever signs."""
    keys = Keys(ACCESS_KEY)
    issuer = _issuer(keys)
    # The first token of each kind builds its signer and checks it against joserfc once.
    expected = _issue_access(issuer)
    issuer.issue_refresh(user_id="u", session_id="s", device_fingerprint="f", not_after=NOW + 60)
    calls: list[object] = []
    real_encode = jose_jwt.encode

    def counting_encode(*args: Any, **kwargs: Any) -> str:
        calls.append(args)
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(jose_jwt, "encode", counting_encode)
    token = _issue_access(issuer)
    issuer.issue_refresh(user_id="u", session_id="s", device_fingerprint="f", not_after=NOW + 60)
    assert calls == []
    # Same clock, so only the jti differs; the joserfc encoding of the claims is identical.
    claims = jose_jwt.decode(token, ACCESS_KEY.key, algorithms=["HS256"]).claims
    header = token_header(ACCESS_KEY, "at+jwt")
    assert real_encode(header, claims, ACCESS_KEY.key, algorithms=["HS256"]) == token
    assert token.split(".")[0] == expected.split(".")[0]
    keys.rotate_to(_ES256)
    _issue_access(issuer)
    assert len(calls) == 1  # asymmetric keys still sign through joserfc


def test_an_oct_key_joserfc_refuses_is_refused_by_the_issuer() -> None:
    # joserfc checks the key's "use" and "alg"; the issuer's fast path must not skip that.
    secret = generate_secret()
    refused = RingKey(kid="k", alg="HS256", key=OctKey.import_key(secret, {"use": "enc"}))
    with pytest.raises(UnsupportedKeyUseError):
        jose_jwt.encode(token_header(refused, "at+jwt"), {}, refused.key, algorithms=["HS256"])
    with pytest.raises(UnsupportedKeyUseError):
        _issue_access(_issuer(Keys(refused)))
