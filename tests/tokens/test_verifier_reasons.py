"""TokenVerifier directly: each refused token fails for its own reason (errors are data).

The HTTP answer is the same ``Authentication failed`` for all of these, so the reason is
checked here, on both the fast path and the joserfc path.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from authgate.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    InvalidSignatureError,
    InvalidTokenError,
    MalformedTokenError,
    WrongTokenTypeError,
)
from authgate.secretstrength import generate_secret
from authgate.testing import FrozenClock
from authgate.tokens import TokenIssuer, TokenVerifier

ACCESS = generate_secret()
REFRESH = generate_secret()
NOW = 1_800_000_000


@pytest.fixture(params=[True, False], ids=["fast-path", "joserfc-path"])
def verifier(request: pytest.FixtureRequest) -> TokenVerifier:
    return TokenVerifier(
        issuer="ai-agent-system",
        audience="ai-agent-users",
        access_secret=ACCESS,
        refresh_secret=REFRESH,
        leeway=10,
        clock=FrozenClock(NOW),
        fast_path=request.param,
    )


def _claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "sub": "user-1",
        "email": "ada@example.com",
        "roles": ["user"],
        "permissions": ["use_agent"],
        "sessionId": "session-1",
        "deviceFingerprint": "f" * 64,
        "tokenType": "access",
        "iss": "ai-agent-system",
        "aud": "ai-agent-users",
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "jti-1",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], secret: str = ACCESS, **header: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "at+jwt", **header})


def test_issued_pair_verifies(verifier: TokenVerifier) -> None:
    issuer = TokenIssuer(
        access_secret=ACCESS,
        refresh_secret=REFRESH,
        issuer="ai-agent-system",
        audience="ai-agent-users",
        access_ttl=900,
        refresh_ttl=86400,
        clock=FrozenClock(NOW),
    )
    access = issuer.issue_access(
        user_id="u",
        email="e@example.com",
        roles=["user"],
        permissions=["use_agent"],
        session_id="s",
        device_fingerprint="f" * 64,
    )
    refresh = issuer.issue_refresh(
        user_id="u", session_id="s", device_fingerprint="f" * 64, not_after=NOW + 10**6
    )
    claims = verifier.verify_access(access.token)
    assert (claims.sub, claims.session_id, claims.jti) == ("u", "s", access.jti)
    assert claims.permissions == frozenset({"use_agent"})
    assert verifier.verify_refresh(refresh.token).jti == refresh.jti
    with pytest.raises(InvalidTokenError):
        verifier.verify_refresh(access.token)
    with pytest.raises(InvalidTokenError):
        verifier.verify_access(refresh.token)


def test_a_plain_forged_token_verifies(verifier: TokenVerifier) -> None:
    """The table below changes one thing each; unchanged, the token is good."""
    assert verifier.verify_access(_sign(_claims())).sub == "user-1"


@pytest.mark.parametrize(
    ("token", "error", "claim"),
    [
        pytest.param(_sign(_claims(), REFRESH), InvalidSignatureError, None, id="refresh-secret"),
        pytest.param(_sign(_claims(), typ="rt+jwt"), WrongTokenTypeError, None, id="typ-refresh"),
        pytest.param(_sign(_claims(), typ="JWT"), WrongTokenTypeError, None, id="typ-jwt"),
        pytest.param(_sign(_claims(exp=NOW - 11)), ExpiredTokenError, None, id="expired"),
        pytest.param(_sign(_claims(iss="other")), InvalidClaimError, "iss", id="iss"),
        pytest.param(_sign(_claims(aud="other")), InvalidClaimError, "aud", id="aud"),
        pytest.param(_sign(_claims(iat=NOW + 60)), InvalidClaimError, "iat", id="iat-future"),
        pytest.param(_sign(_claims(nbf=NOW + 60)), InvalidClaimError, "nbf", id="nbf-future"),
        pytest.param(
            _sign(_claims(tokenType="refresh")), InvalidClaimError, "tokenType", id="tokenType"
        ),
        pytest.param(_sign(_claims(sessionId=None)), InvalidClaimError, "sessionId", id="no-sid"),
        pytest.param(_sign(_claims(exp=None)), InvalidClaimError, "exp", id="no-exp"),
        pytest.param(_sign(_claims(), crit=["exp"]), MalformedTokenError, None, id="crit"),
        pytest.param("a.b.c", MalformedTokenError, None, id="garbage"),
        pytest.param("x" * 9000, MalformedTokenError, None, id="oversized"),
    ],
)
def test_refusal_reasons(
    verifier: TokenVerifier, token: str, error: type[Exception], claim: str | None
) -> None:
    with pytest.raises(error) as info:
        verifier.verify_access(token)
    if claim is not None:
        assert isinstance(info.value, InvalidClaimError)
        assert info.value.claim == claim


def test_expiry_respects_the_leeway(verifier: TokenVerifier) -> None:
    assert verifier.verify_access(_sign(_claims(exp=NOW - 9))).sub == "user-1"
    with pytest.raises(ExpiredTokenError):
        verifier.verify_access(_sign(_claims(exp=NOW - 10)))
