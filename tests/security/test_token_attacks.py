"""Attacks on the token verifier (RFC 8725, RFC 7515, RFC 7519). Each case fails closed.

Tokens are built byte by byte (``tests/security/tokens.py``). Unless a case is about the
signature, the forgery carries a *valid* HMAC by the real access secret, so the only
thing that can make it fail is the property under test.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authgate.errors import ExpiredTokenError, InvalidTokenError, MalformedTokenError
from authgate.testing import FrozenClock
from tests.security.tokens import (
    ACCESS_SECRET,
    AUDIENCE,
    ISSUER,
    NOW,
    REFRESH_KID,
    REFRESH_SECRET,
    access_claims,
    access_header,
    b64,
    hs256,
    make_issuer,
    make_verifier,
    sign,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def refused(token: str) -> InvalidTokenError:
    with pytest.raises(InvalidTokenError) as caught:
        make_verifier().verify_access(token)
    return caught.value


def test_control_a_well_formed_token_is_accepted() -> None:
    """The baseline every forgery below departs from by exactly one property."""
    claims = make_verifier().verify_access(sign(access_header(), access_claims()))
    assert claims.sub == "user-1"
    assert claims.permissions == frozenset({"use_agent"})


# alg "none" in any casing (RFC 8725 s2.1, s3.1)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "none ", ""])
@pytest.mark.parametrize("signature", ["", "c2ln"], ids=["empty-sig", "some-sig"])
def test_alg_none_is_refused(alg: str, signature: str) -> None:
    unsigned = f"{b64(access_header(alg=alg))}.{b64(access_claims())}.{signature}"
    refused(unsigned)


# Algorithm confusion and algorithms outside the allow-list


def _rsa_public_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    "token_factory",
    [
        pytest.param(
            lambda: sign(access_header(), access_claims(), REFRESH_SECRET), id="refresh-secret"
        ),
        pytest.param(
            lambda: sign(access_header(kid=REFRESH_KID), access_claims(), REFRESH_SECRET),
            id="refresh-secret-and-kid",
        ),
        pytest.param(
            lambda: sign(access_header(alg="RS256"), access_claims(), ACCESS_SECRET),
            id="hmac-under-rs256-name",
        ),
        pytest.param(
            lambda: sign(access_header(), access_claims(), _rsa_public_pem()),
            id="hs256-keyed-with-public-pem",
        ),
        pytest.param(
            lambda: sign(access_header(kid=...), access_claims(), _rsa_public_pem()),
            id="hs256-public-pem-no-kid",
        ),
    ],
)
def test_algorithm_confusion_is_refused(token_factory: Any) -> None:
    refused(token_factory())


def _pyjwt(alg: str, key: Any, **header: Any) -> str:
    fields = {k: v for k, v in access_header().items() if k != "alg"}
    return jwt.encode(access_claims(), key, algorithm=alg, headers={**fields, **header})


@pytest.mark.parametrize(
    "token_factory",
    [
        pytest.param(lambda: _pyjwt("HS384", ACCESS_SECRET), id="HS384"),
        pytest.param(lambda: _pyjwt("HS512", ACCESS_SECRET), id="HS512"),
        pytest.param(
            lambda: _pyjwt("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            id="RS256",
        ),
        pytest.param(
            lambda: _pyjwt("PS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            id="PS256",
        ),
        pytest.param(lambda: _pyjwt("ES256", ec.generate_private_key(ec.SECP256R1())), id="ES256"),
        pytest.param(lambda: sign(access_header(alg="hs256"), access_claims()), id="lowercase"),
        pytest.param(lambda: sign(access_header(alg="HS256 "), access_claims()), id="padded"),
        pytest.param(lambda: sign(access_header(alg=["HS256"]), access_claims()), id="alg-list"),
        pytest.param(lambda: sign(access_header(alg=...), access_claims()), id="alg-missing"),
    ],
)
def test_algorithms_outside_the_allow_list_are_refused(token_factory: Any) -> None:
    refused(token_factory())


# Embedded keys and key URLs: ignored, never fetched (RFC 8725 s3.10)


@pytest.fixture
def listener() -> Any:
    """A local port that records whether anyone connected to it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def _assert_nobody_connected(sock: socket.socket) -> None:
    time.sleep(0.05)  # a fetch would have connected by now
    with pytest.raises(BlockingIOError):
        sock.accept()


@pytest.mark.parametrize("name", ["jku", "x5u"])
def test_key_urls_are_refused_and_never_fetched(name: str, listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
    refused(sign(access_header(**{name: url}), access_claims()))
    _assert_nobody_connected(listener)


def _attacker_rsa_jwk() -> tuple[Any, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return private, public


@pytest.mark.parametrize(
    "token_factory",
    [
        pytest.param(
            lambda: (lambda k: _pyjwt("RS256", k[0], jwk=k[1]))(_attacker_rsa_jwk()),
            id="jwk-signed-by-embedded-key",
        ),
        pytest.param(
            lambda: sign(access_header(jwk={"kty": "oct", "k": b64(b"attacker")}), access_claims()),
            id="jwk-with-valid-hmac",
        ),
        pytest.param(
            lambda: sign(access_header(x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]), access_claims()),
            id="x5c-with-valid-hmac",
        ),
    ],
)
def test_embedded_keys_are_refused(token_factory: Any) -> None:
    refused(token_factory())


# Malicious kid (RFC 8725 s3.10: an opaque dictionary key only)


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("../../../../../../dev/null", id="path-traversal"),
        pytest.param("/etc/passwd", id="absolute-path"),
        pytest.param("' OR '1'='1' --", id="sql"),
        pytest.param("access-x'; DROP TABLE users; --", id="sql-drop"),
        pytest.param("A" * 4000, id="huge"),
        pytest.param("", id="empty"),
        pytest.param(123, id="integer"),
        pytest.param(None, id="null"),
        pytest.param(["access"], id="list"),
        pytest.param({"kid": "access"}, id="object"),
        pytest.param("access-\u0000", id="nul-byte"),
    ],
)
def test_malicious_kid_is_refused(kid: Any) -> None:
    refused(sign(access_header(kid=kid), access_claims()))


# crit (RFC 7515 s4.1.11): authgate understands no extension, and [] is invalid


@pytest.mark.parametrize(
    "crit",
    [
        pytest.param(["exp"], id="registered-claim"),
        pytest.param(["b64"], id="unencoded-payload"),
        pytest.param(["x-unknown"], id="unknown"),
        pytest.param([], id="empty"),
        pytest.param("exp", id="string"),
        pytest.param([1], id="non-string"),
        pytest.param(None, id="null"),
    ],
)
def test_crit_is_refused(crit: Any) -> None:
    extra = {"crit": crit}
    if crit == ["b64"]:
        extra["b64"] = False
    refused(sign(access_header(**extra), access_claims()))


# The signature


def _genuine() -> str:
    return sign(access_header(), access_claims())


def _flip_bit(token: str, bit: int) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "="))
    raw[bit // 8] ^= 1 << (bit % 8)
    return f"{head}.{payload}.{b64(bytes(raw))}"


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda t: t.rsplit(".", 1)[0] + ".", id="stripped"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="stripped-no-dot"),
        pytest.param(lambda t: t[:-1], id="truncated-1"),
        pytest.param(lambda t: t[:-8], id="truncated-8"),
        pytest.param(lambda t: t + "A", id="extended"),
        pytest.param(lambda t: _flip_bit(t, 0), id="bit-0-flipped"),
        pytest.param(lambda t: _flip_bit(t, 131), id="bit-131-flipped"),
        pytest.param(lambda t: _flip_bit(t, 255), id="last-bit-flipped"),
        pytest.param(lambda t: t.rsplit(".", 1)[0] + "." + b64(bytes(32)), id="zero-signature"),
    ],
)
def test_damaged_signature_is_refused(mutate: Any) -> None:
    refused(mutate(_genuine()))


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(access_claims(permissions=["use_agent", "manage_agent"]), id="escalate"),
        pytest.param(access_claims(sub="user-2"), id="other-user"),
        pytest.param(access_claims(exp=NOW + 10**6), id="longer-life"),
    ],
)
def test_edited_payload_with_the_old_signature_is_refused(claims: dict[str, Any]) -> None:
    head, _, signature = _genuine().split(".")
    refused(f"{head}.{b64(claims)}.{signature}")


def test_reformatted_header_with_the_old_signature_is_refused() -> None:
    _, payload, signature = _genuine().split(".")
    spaced = json.dumps(access_header(), indent=1).encode()
    refused(f"{b64(spaced)}.{payload}.{signature}")


# Times (RFC 7519 s4.1.4-6): NumericDate, small leeway only


@pytest.mark.parametrize(
    "exp",
    [
        pytest.param(..., id="missing"),
        pytest.param(str(NOW + 900), id="numeric-string"),
        pytest.param(None, id="null"),
        pytest.param(True, id="bool"),
        pytest.param([NOW + 900], id="list"),
        pytest.param({"t": NOW + 900}, id="object"),
        pytest.param(1e400, id="infinite"),
    ],
)
def test_exp_must_be_a_present_numeric_date(exp: Any) -> None:
    refused(sign(access_header(), access_claims(exp=exp)))


def test_expired_beyond_leeway_is_refused_within_leeway_accepted() -> None:
    error = refused(sign(access_header(), access_claims(exp=NOW - 11)))
    assert isinstance(error, ExpiredTokenError)
    make_verifier().verify_access(sign(access_header(), access_claims(exp=NOW - 9)))


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_future_iat_and_nbf_beyond_leeway_are_refused(claim: str) -> None:
    refused(sign(access_header(), access_claims(**{claim: NOW + 11})))
    make_verifier().verify_access(sign(access_header(), access_claims(**{claim: NOW + 9})))


# iss / aud exact match (RFC 8725 s3.8, s3.9)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"iss": ISSUER + "x"}, id="iss-suffix"),
        pytest.param({"iss": ISSUER[:-1]}, id="iss-prefix"),
        pytest.param({"iss": "x" + ISSUER}, id="iss-prepended"),
        pytest.param({"iss": ISSUER.upper()}, id="iss-case"),
        pytest.param({"iss": ISSUER + " "}, id="iss-space"),
        pytest.param({"iss": [ISSUER]}, id="iss-list"),
        pytest.param({"iss": ...}, id="iss-missing"),
        pytest.param({"aud": AUDIENCE + "x"}, id="aud-suffix"),
        pytest.param({"aud": AUDIENCE[:-1]}, id="aud-prefix"),
        pytest.param({"aud": "x" + AUDIENCE}, id="aud-prepended"),
        pytest.param({"aud": [AUDIENCE + "x", "other"]}, id="aud-list-near-miss"),
        pytest.param({"aud": [AUDIENCE, 1]}, id="aud-list-non-string"),
        pytest.param({"aud": []}, id="aud-empty-list"),
        pytest.param({"aud": ...}, id="aud-missing"),
    ],
)
def test_issuer_and_audience_must_match_exactly(changes: dict[str, Any]) -> None:
    refused(sign(access_header(), access_claims(**changes)))


# One token type cannot pass as the other (RFC 8725 s3.11)


def test_refresh_token_is_refused_as_an_access_token() -> None:
    refresh = make_issuer().issue_refresh(
        user_id="user-1", session_id="session-1", device_fingerprint="f" * 64, not_after=NOW + 10**6
    )
    refused(refresh.token)


def test_access_token_is_refused_as_a_refresh_token() -> None:
    access = make_issuer().issue_access(
        user_id="user-1",
        email="ada@example.com",
        roles=["user"],
        permissions=["use_agent"],
        session_id="session-1",
        device_fingerprint="f" * 64,
    )
    with pytest.raises(InvalidTokenError):
        make_verifier().verify_refresh(access.token)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"typ": "rt+jwt"}, id="typ-refresh"),
        pytest.param({"typ": "JWT"}, id="typ-jwt"),
        pytest.param({"typ": "AT+JWT"}, id="typ-case"),
        pytest.param({"typ": ...}, id="typ-missing"),
    ],
)
def test_access_typ_is_required(changes: dict[str, Any]) -> None:
    refused(sign(access_header(**changes), access_claims()))


def test_access_signed_token_claiming_refresh_type_is_refused() -> None:
    refused(sign(access_header(), access_claims(tokenType="refresh")))


# Size: rejected before decoding, in bounded time


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("eyJ" + "A" * 10_000 + ".e30.sig", id="oversized-header"),
        pytest.param(_genuine() + "A" * 10_000, id="oversized-signature"),
        pytest.param("a." * 5000 + "a", id="many-segments"),
        pytest.param("x" * 5_000_000, id="five-megabytes"),
    ],
)
def test_oversized_tokens_are_refused_quickly(token: str) -> None:
    started = time.perf_counter()
    error = refused(token)
    assert isinstance(error, MalformedTokenError)
    assert time.perf_counter() - started < 0.05


# Malformed compact serializations (RFC 7515 s7.1, RFC 4648 s5)


def _with_segment(index: int, value: str) -> str:
    parts = _genuine().split(".")
    parts[index] = value
    return ".".join(parts)


def _standard_alphabet(token: str) -> str:
    return token.replace("-", "+").replace("_", "/")


@pytest.mark.parametrize(
    "token_factory",
    [
        pytest.param(lambda: _genuine().rsplit(".", 2)[0], id="one-segment"),
        pytest.param(lambda: _genuine() + ".", id="four-segments"),
        pytest.param(lambda: _genuine() + ".e30.e30", id="five-segments-jwe-shape"),
        pytest.param(lambda: "..", id="empty-segments"),
        pytest.param(lambda: _with_segment(0, _genuine().split(".")[0] + "="), id="padded-header"),
        pytest.param(lambda: _with_segment(2, _genuine().split(".")[2] + "="), id="padded-sig"),
        pytest.param(
            lambda: (
                sign(access_header(), access_claims(pad="a??>")).replace("_", "/").replace("-", "+")
            ),
            id="standard-alphabet",
        ),
        pytest.param(lambda: " " + _genuine(), id="leading-space"),
        pytest.param(lambda: _genuine() + "\n", id="trailing-newline"),
        pytest.param(lambda: _genuine().replace(".", ". ", 1), id="inner-space"),
        pytest.param(lambda: _genuine().replace(".", "\t.", 1), id="inner-tab"),
        pytest.param(lambda: _genuine() + "\u00e9", id="non-ascii"),
    ],
)
def test_malformed_serializations_are_refused(token_factory: Any) -> None:
    refused(token_factory())


def test_standard_alphabet_variant_really_differs() -> None:
    """The standard-alphabet case above must actually contain '+' or '/'."""
    token = sign(access_header(), access_claims(pad="a??>"))
    assert _standard_alphabet(token) != token


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        pytest.param(b"\xff\xfe{}", access_claims(), id="non-utf8-header"),
        pytest.param(access_header(), b'{"sub": "\xff"}', id="non-utf8-payload"),
        pytest.param([1, 2], access_claims(), id="header-array"),
        pytest.param("HS256", access_claims(), id="header-string"),
        pytest.param(access_header(), [access_claims()], id="payload-array"),
        pytest.param(access_header(), "claims", id="payload-string"),
        pytest.param(access_header(), 42, id="payload-number"),
        pytest.param(access_header(), None, id="payload-null"),
        pytest.param(access_header(), b"", id="payload-empty"),
        pytest.param(access_header(), b"{" * 3000, id="payload-unbalanced"),
        pytest.param(
            access_header(),
            access_claims(x=json.loads("[" * 500 + "]" * 500)),
            id="payload-deeply-nested",
        ),
        pytest.param(
            {**access_header(), "x": json.loads("[" * 500 + "]" * 500)},
            access_claims(),
            id="header-deeply-nested",
        ),
        pytest.param(access_header(), b'{"exp": NaN}', id="payload-nan"),
    ],
)
def test_non_object_or_bad_json_is_refused_even_when_signed(header: Any, payload: Any) -> None:
    refused(sign(header, payload))


def test_very_deep_nesting_unsigned_is_refused_without_crashing() -> None:
    deep = b64(b"[" * 5000 + b"]" * 5000)
    refused(f"{b64(access_header())}.{deep}.{hs256('x', 'y')}")
    refused(f"{deep}.{b64(access_claims())}.{hs256('x', 'y')}")


# Duplicate member names (RFC 7515 s4, RFC 7519 s4): refused, even when signed


def _raw_object(pairs: list[tuple[str, Any]]) -> bytes:
    return ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}").encode()


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        pytest.param(
            _raw_object([("alg", "none"), *access_header().items()]),
            access_claims(),
            id="header-alg-twice",
        ),
        pytest.param(
            _raw_object([*access_header().items(), ("typ", "rt+jwt")]),
            access_claims(),
            id="header-typ-twice",
        ),
        pytest.param(
            access_header(),
            _raw_object([("sub", "admin"), *access_claims().items()]),
            id="payload-sub-twice",
        ),
        pytest.param(
            access_header(),
            _raw_object([*access_claims().items(), ("permissions", ["manage_agent"])]),
            id="payload-permissions-twice",
        ),
        pytest.param(
            access_header(),
            _raw_object(list(access_claims().items()))[:-1] + b',"x":{"a":1,"a":2}}',
            id="payload-nested-twice",
        ),
    ],
)
def test_duplicate_member_names_are_refused(header: Any, payload: Any) -> None:
    refused(sign(header, payload))


def test_duplicate_cases_really_carry_duplicates() -> None:
    """Python would collapse {"a": 1, "a": 2}; the raw bytes must keep both names."""
    raw = _raw_object([("sub", "u"), ("sub", "v")])
    assert raw.count(b'"sub"') == 2
    assert json.loads(raw) == {"sub": "v"}  # what a lenient parser would see


# RFC 7515 appendix vectors


def _rfc7515() -> dict[str, Any]:
    return dict(json.loads((FIXTURES / "rfc7515_appendix_a.json").read_text()))


def test_rfc7515_a5_unsecured_jws_is_refused() -> None:
    vector = _rfc7515()["A.5"]
    assert vector["token"].endswith(".")  # the vector itself: alg none, empty signature
    refused(vector["token"])


def test_rfc7515_a1_hs256_is_refused_under_our_key() -> None:
    """A valid HS256 JWS under the RFC's own key is nothing to us: other key, no typ."""
    vector = _rfc7515()["A.1"]
    key = base64.urlsafe_b64decode(vector["k"] + "==")
    signing_input = vector["token"].rsplit(".", 1)[0]
    assert hs256(signing_input, key) == vector["token"].rsplit(".", 1)[1]  # vector is intact
    refused(vector["token"])


# A verifier with a frozen clock never accepts a token from its future


def test_token_issued_in_the_future_by_a_skewed_issuer_is_refused() -> None:
    ahead = make_issuer(FrozenClock(NOW + 3600)).issue_access(
        user_id="u",
        email=None,
        roles=[],
        permissions=[],
        session_id="s",
        device_fingerprint="f" * 64,
    )
    refused(ahead.token)


def test_the_refusal_names_no_token_or_secret() -> None:
    error = refused(sign(access_header(), access_claims(), REFRESH_SECRET))
    text = f"{error} {error.message} {error.error} {vars(error)}"
    assert ACCESS_SECRET not in text
    assert REFRESH_SECRET not in text
    assert "eyJ" not in text
