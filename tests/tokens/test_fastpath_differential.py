"""The fast path accepts exactly what the strict path accepts, with the same claims.

Tokens are assembled byte by byte (header JSON, payload bytes, HMAC, base64url), so the
generated cases reach the corners a library encoder never produces: other header
spellings, non-canonical base64url, odd JSON (NaN, BOM, duplicate keys, huge integers),
wrong keys and algorithms, and single-character mutations of an otherwise valid token.

Three references: authgate's own verifier with the fast path off (joserfc plus the
claims policy; same accept/refuse and same error class), the fast path on its own
(it accepts only what that verifier accepts), and PyJWT's strict decode with the same
checks (whatever authgate accepts, PyJWT accepts too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from authgate.errors import InvalidTokenError
from authgate.keys.keyring import hmac_kid
from authgate.secretstrength import generate_secret
from authgate.testing import FrozenClock
from authgate.tokens import TokenIssuer, TokenVerifier
from authgate.tokens._compact import CompactHS256

ISS, AUD, LEEWAY = "ai-agent-system", "ai-agent-users", 10
ACCESS_SECRET, REFRESH_SECRET, OTHER_SECRET = (generate_secret() for _ in range(3))
NOW = int(time.time())
CLOCK = FrozenClock(NOW)


def _verifier(*, fast_path: bool) -> TokenVerifier:
    return TokenVerifier(
        access_secret=ACCESS_SECRET,
        refresh_secret=REFRESH_SECRET,
        issuer=ISS,
        audience=AUD,
        leeway=LEEWAY,
        clock=CLOCK,
        fast_path=fast_path,
        cache_size=0,
    )


FAST, STRICT = _verifier(fast_path=True), _verifier(fast_path=False)
ACCESS_KID, REFRESH_KID = hmac_kid("access", ACCESS_SECRET), hmac_kid("refresh", REFRESH_SECRET)
FAST_ACCESS = CompactHS256(secret=ACCESS_SECRET, typ="at+jwt", kid=ACCESS_KID)
FAST_REFRESH = CompactHS256(secret=REFRESH_SECRET, typ="rt+jwt", kid=REFRESH_KID)
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def assemble(header: bytes, payload_segment: str, secret: str, *, alg: str = "HS256") -> str:
    signing_input = f"{b64(header)}.{payload_segment}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}.get(alg, hashlib.sha256)
    mac = hmac.new(secret.encode(), signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64(mac)}"


def outcome(verify: Callable[[str], Any], token: str) -> tuple[str, Any]:
    try:
        return "ok", verify(token)
    except InvalidTokenError as exc:
        return "refused", type(exc).__name__


# Claims: each one valid, or swapped for a near miss or a value of the wrong type.

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_numbers = st.one_of(
    st.integers(NOW - 3 * LEEWAY, NOW + 3 * LEEWAY),
    st.floats(NOW - 3 * LEEWAY, NOW + 3 * LEEWAY),
    st.sampled_from([2**63, 2**64 + 1, -(2**64) - 1, 0, True, "1", None, [NOW], 10**400]),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)


_DELETE = object()


def _bad(*near_misses: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from([*near_misses, _DELETE]), _json_scalars)


_BAD = {
    "sub": _bad("", ["user-1"]),
    "sessionId": _bad(""),
    "deviceFingerprint": _bad(""),
    "jti": _bad(""),
    "email": _bad(""),
    "roles": _bad([], ["user", 1], "user"),
    "permissions": _bad([None], "use_agent"),
    "iss": _bad(ISS + " ", ISS.upper(), [ISS], "ai-agent"),
    "aud": _bad([AUD], [AUD, "other"], ["other"], [AUD, 1], "ai-agent-user"),
    "iat": _numbers,
    "exp": _numbers,
    "nbf": _numbers,
    "tokenType": _bad("access", "refresh"),
    "extra": _json_scalars,
}


def _valid_claims(token_type: str) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "user-1",
        "sessionId": "session-1",
        "deviceFingerprint": "f" * 64,
        "jti": "jti-1",
        "iss": ISS,
        "aud": AUD,
        "iat": NOW,
        "exp": NOW + 900,
        "tokenType": token_type,
    }
    if token_type == "access":
        claims |= {"email": "ada@example.com", "roles": ["user"], "permissions": ["use_agent"]}
    return claims


@st.composite
def _claims(draw: st.DrawFn, token_type: str) -> dict[str, Any]:
    """A valid claim set with none, one or two claims removed or changed."""
    claims = _valid_claims(token_type)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        name = draw(st.sampled_from(sorted(_BAD)))
        value = draw(_BAD[name])
        if value is _DELETE:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _payload_bytes(claims: dict[str, Any], style: int) -> bytes:
    if style == 0:
        return json.dumps(claims).encode()
    if style == 1:
        return json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    if style == 2:
        return b"\xef\xbb\xbf" + json.dumps(claims).encode()  # UTF-8 BOM
    if style == 3:  # duplicate key: the last one wins in both parsers
        return json.dumps(claims).encode()[:-1] + b', "exp": ' + str(NOW + 60).encode() + b"}"
    return json.dumps(claims).encode("utf-16")


# The issuer's exact headers (joserfc's key order), which the fast path recognises.
_ACCESS_HEADER = f'{{"typ":"at+jwt","alg":"HS256","kid":"{ACCESS_KID}"}}'.encode()
_REFRESH_HEADER = f'{{"typ":"rt+jwt","alg":"HS256","kid":"{REFRESH_KID}"}}'.encode()
_HEADERS = [
    _ACCESS_HEADER,
    _REFRESH_HEADER,
    b'{"typ":"at+jwt","alg":"HS256"}',
    b'{"typ":"rt+jwt","alg":"HS256"}',
    f'{{"typ":"at+jwt","alg":"HS256","kid":"{REFRESH_KID}"}}'.encode(),
    b'{"alg":"HS256","typ":"at+jwt"}',
    b'{"typ": "at+jwt", "alg": "HS256"}',
    b'{"typ":"at+jwt","alg":"HS256","kid":"k1"}',
    b'{"typ":"at+jwt","alg":"HS256","crit":["exp"]}',
    b'{"typ":"at+jwt","alg":"HS384"}',
    b'{"typ":"at+jwt","alg":"none"}',
    b'{"typ":"JWT","alg":"HS256"}',
    b'{"alg":"HS256"}',
    b'{"typ":"at+jwt","alg":"HS256","typ":"at+jwt"}',
]


_OWN = {"access": (_ACCESS_HEADER, ACCESS_SECRET), "refresh": (_REFRESH_HEADER, REFRESH_SECRET)}


@st.composite
def tokens(draw: st.DrawFn) -> str:
    """Half in the issuer's exact format and key; half with any header, key and JSON."""
    token_type = draw(st.sampled_from(["access", "refresh"]))
    claims = draw(_claims(token_type))
    own_header, own_secret = _OWN[token_type]
    if draw(st.booleans()):
        return assemble(own_header, b64(_payload_bytes(claims, 0)), own_secret)
    header = draw(st.sampled_from(_HEADERS))
    secret = draw(st.sampled_from([own_secret, ACCESS_SECRET, REFRESH_SECRET, OTHER_SECRET]))
    style = draw(st.integers(0, 4))
    alg = "HS384" if b"HS384" in header else "HS256"
    return assemble(header, b64(_payload_bytes(claims, style)), secret, alg=alg)


_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. !"


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid-looking token with one character changed, inserted or removed."""
    token = draw(tokens())
    where = draw(st.integers(0, len(token) - 1))
    char = draw(st.sampled_from(_B64_CHARS))
    kind = draw(st.sampled_from(["replace", "insert", "delete", "append"]))
    if kind == "replace":
        return token[:where] + char + token[where + 1 :]
    if kind == "insert":
        return token[:where] + char + token[where:]
    if kind == "delete":
        return token[:where] + token[where + 1 :]
    return token + char


@st.composite
def resigned_payloads(draw: st.DrawFn) -> str:
    """Exact header and a valid MAC over an arbitrary payload segment or payload bytes."""
    header, secret = draw(
        st.sampled_from([(_ACCESS_HEADER, ACCESS_SECRET), (_REFRESH_HEADER, REFRESH_SECRET)])
    )
    if draw(st.booleans()):
        segment = draw(st.text(alphabet=_B64_CHARS.replace(".", ""), max_size=64))
    else:
        raw = draw(
            st.one_of(
                st.binary(max_size=64),
                st.sampled_from(
                    [b"{}", b"[]", b"null", b'{"exp": NaN}', b'{"exp": Infinity}', b"{" * 50]
                ),
            )
        )
        segment = b64(raw)
    return assemble(header, segment, secret)


def _assert_same(token: str) -> None:
    for name in ("verify_access", "verify_refresh"):
        fast = outcome(getattr(FAST, name), token)
        strict = outcome(getattr(STRICT, name), token)
        assert fast == strict, name
        _note(f"{name}: {fast[0]}")
    for fast_path, header, secret in (
        (FAST_ACCESS, _ACCESS_HEADER, ACCESS_SECRET),
        (FAST_REFRESH, _REFRESH_HEADER, REFRESH_SECRET),
    ):
        if not token.startswith(b64(header) + "."):
            assert fast_path.claims(token) is None
            continue
        accepted = fast_path.claims(token)
        strict_claims = _joserfc_claims(token, secret)
        # In the issuer's exact format the fast path takes what joserfc takes, as parsed.
        assert accepted == strict_claims
        _note(f"exact format, fast path {'took' if accepted is not None else 'passed'}")


def _note(what: str) -> None:
    # Hypothesis statistics show how often each branch ran; the edge-case table runs bare.
    if currently_in_test_context():
        event(what)


def _joserfc_claims(token: str, secret: str) -> Any:
    """joserfc's claims, under authgate's JSON policy: no duplicate names, 16 levels deep."""
    try:
        claims = jose_jwt.decode(token, OctKey.import_key(secret), algorithms=["HS256"]).claims
        segment = token.split(".")[1]
        json.loads(
            base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)),
            object_pairs_hook=_no_duplicates,
        )
    except (JoseError, ValueError, RecursionError):
        return None
    return claims if _levels(claims) <= 16 else None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({name for name, _ in pairs}) != len(pairs):
        raise ValueError("duplicate member")
    return dict(pairs)


def _levels(value: Any) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max((_levels(item) for item in value), default=0)
    return 1


@EXAMPLES
@given(tokens())
def test_generated_tokens_get_the_same_answer_from_both_paths(token: str) -> None:
    _assert_same(token)


@EXAMPLES
@given(mutated())
def test_mutated_tokens_get_the_same_answer_from_both_paths(token: str) -> None:
    _assert_same(token)


@EXAMPLES
@given(resigned_payloads())
def test_any_signed_payload_gets_the_same_answer_from_both_paths(token: str) -> None:
    _assert_same(token)


def _pyjwt_accepts(token: str, secret: str, typ: str, token_type: str) -> bool:
    # PyJWT reads the wall clock; widen its leeway by the time since NOW (plus one second
    # for its integer truncation of exp), which only makes it more lenient.
    leeway = LEEWAY + math.ceil(time.time() - NOW) + 1
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUD,
            issuer=ISS,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"], "strict_aud": False},
        )
    except jwt.PyJWTError:
        return False
    header = jwt.get_unverified_header(token)
    return header.get("typ") == typ and claims.get("tokenType") == token_type


@EXAMPLES
@given(st.one_of(tokens(), mutated()))
def test_whatever_the_fast_path_accepts_pyjwt_accepts_too(token: str) -> None:
    for verify, secret, typ, token_type in (
        (FAST.verify_access, ACCESS_SECRET, "at+jwt", "access"),
        (FAST.verify_refresh, REFRESH_SECRET, "rt+jwt", "refresh"),
    ):
        if outcome(verify, token)[0] == "ok":
            event(f"accepted {token_type}")
            assert _pyjwt_accepts(token, secret, typ, token_type)


def _valid_token(kind: str = "access", **extra: Any) -> str:
    header, secret = _OWN[kind]
    return assemble(header, b64(json.dumps(_valid_claims(kind) | extra).encode()), secret)


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def _non_canonical_last_char(token: str) -> str:
    # The last of 43 signature characters carries 4 bits; its low 2 bits must be zero.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    return token[:-1] + alphabet[last | 1]


def _reordered_header(token: str) -> str:
    claims_segment = token.split(".")[1]
    return assemble(b'{"alg":"HS256","typ":"at+jwt"}', claims_segment, ACCESS_SECRET)


EDGE_CASES = [
    # The claims object, 14 lists and the leaf: 16 levels, the most authgate reads.
    pytest.param(_valid_token(extra=_nested(14)), "ok", "refused", id="nesting-16-levels"),
    pytest.param(_valid_token(extra=_nested(15)), "refused", "refused", id="nesting-17-levels"),
    pytest.param(_valid_token(), "ok", "refused", id="issuer-format-access"),
    pytest.param(_valid_token("refresh"), "refused", "ok", id="issuer-format-refresh"),
    pytest.param(
        _non_canonical_last_char(_valid_token()), "refused", "refused", id="sig-non-canonical"
    ),
    pytest.param(_valid_token() + "=", "refused", "refused", id="sig-padded"),
    pytest.param(_valid_token() + ".", "refused", "refused", id="trailing-dot"),
    pytest.param(_valid_token() + " ", "refused", "refused", id="trailing-space"),
    pytest.param(_valid_token()[:-1], "refused", "refused", id="sig-truncated"),
    pytest.param(
        _reordered_header(_valid_token()), "ok", "refused", id="header-reordered-strict-path"
    ),
]


@pytest.mark.parametrize(("token", "access", "refresh"), EDGE_CASES)
def test_edge_cases_get_the_same_answer_from_both_paths(
    token: str, access: str, refresh: str
) -> None:
    assert outcome(FAST.verify_access, token)[0] == access
    assert outcome(FAST.verify_refresh, token)[0] == refresh
    _assert_same(token)


def test_the_issuers_tokens_take_the_fast_path() -> None:
    """Guards against a header change in the issuer silently turning the fast path off."""
    issuer = TokenIssuer(
        access_secret=ACCESS_SECRET,
        refresh_secret=REFRESH_SECRET,
        issuer=ISS,
        audience=AUD,
        access_ttl=900,
        refresh_ttl=3600,
        clock=CLOCK,
    )
    access = issuer.issue_access(
        user_id="u",
        email="a@example.com",
        roles=["user"],
        permissions=["use_agent"],
        session_id="s",
        device_fingerprint="f",
    )
    refresh = issuer.issue_refresh(
        user_id="u", session_id="s", device_fingerprint="f", not_after=NOW + 7200
    )
    assert FAST_ACCESS.claims(access.token) is not None
    assert FAST_REFRESH.claims(refresh.token) is not None
    assert FAST_ACCESS.claims(refresh.token) is None
