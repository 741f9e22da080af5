"""ID token checks that need hand-made tokens: algorithms and keys (RFC 8725 s2.1, s3.1)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from authgate.errors import IdTokenError
from authgate.federation.idtoken import IdTokenValidator
from authgate.testing import FrozenClock

ISSUER = "https://idp.example"
CLIENT = "client-1"
NONCE = "n-0123456789"
RSA = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {"iss": ISSUER, "sub": "u1", "aud": CLIENT, "iat": now, "exp": now + 300}
    values["nonce"] = NONCE
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def validator() -> IdTokenValidator:
    return IdTokenValidator(
        provider="idp", client_id=CLIENT, issuers=[ISSUER], clock=FrozenClock(time.time())
    )


def refused(token: str, key: Any = RSA, algorithms: tuple[str, ...] = ("RS256",)) -> str:
    with pytest.raises(IdTokenError) as info:
        validator().validate(token, key=key, algorithms=algorithms, nonce=NONCE)
    return info.value.claim


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_good_token_passes() -> None:
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims(), RSA)
    out = validator().validate(token, key=RSA, algorithms=("RS256",), nonce=NONCE)
    assert out["sub"] == "u1"


def test_alg_none_is_refused() -> None:
    token = f"{_b64({'alg': 'none', 'kid': 'k1'})}.{_b64(claims())}."
    assert refused(token, algorithms=("RS256", "none")) == "alg"


def test_hmac_with_the_client_secret_is_refused() -> None:
    """Algorithm confusion: HS256 keyed with a secret the attacker may know."""
    secret = OctKey.import_key(b"client-secret-known-to-someone-0123456789")
    token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims(), secret)
    assert refused(token, key=secret, algorithms=("HS256", "RS256")) == "alg"


def test_algorithm_the_provider_does_not_announce_is_refused() -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    token = jwt.encode({"alg": "ES256", "kid": "k1"}, claims(), key)
    assert refused(token, key=key, algorithms=("RS256",)) == "alg"


def test_key_published_for_another_algorithm_is_refused() -> None:
    unrestricted = RSAKey.import_key(
        {k: v for k, v in RSA.as_dict(private=True).items() if k != "alg"}
    )
    token = jwt.encode({"alg": "PS256", "kid": "k1"}, claims(), unrestricted, algorithms=["PS256"])
    assert refused(token, algorithms=("RS256", "PS256")) == "alg"


def test_unknown_key_is_refused() -> None:
    token = jwt.encode({"alg": "RS256", "kid": "k9"}, claims(), RSA)
    assert refused(token, key=None) == "kid"


@pytest.mark.parametrize(
    ("token", "claim"),
    [
        pytest.param("not-a-jwt", "malformed", id="not-three-parts"),
        pytest.param("%%%.e30.sig", "malformed", id="bad-header"),
        pytest.param("x" * 20000 + ".a.b", "malformed", id="oversized"),
    ],
)
def test_malformed_tokens_are_refused(token: str, claim: str) -> None:
    assert refused(token) == claim


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        pytest.param({"iss": ISSUER + "/"}, "iss", id="iss-trailing-slash"),
        pytest.param({"aud": [CLIENT, "other"], "azp": CLIENT}, None, id="several-aud-with-azp"),
        pytest.param({"exp": True}, "exp", id="boolean-exp"),
        pytest.param({"nbf": int(time.time()) + 3600}, "nbf", id="not-yet-valid"),
        pytest.param({"sub": ""}, "sub", id="empty-subject"),
    ],
)
def test_claim_edge_cases(changes: dict[str, Any], claim: str | None) -> None:
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims(**changes), RSA)
    if claim is None:
        validator().validate(token, key=RSA, algorithms=("RS256",), nonce=NONCE)
    else:
        assert refused(token) == claim
