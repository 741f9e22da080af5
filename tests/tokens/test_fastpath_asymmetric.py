"""The EdDSA and ES256 fast path accepts exactly what the strict path accepts (issue 18.5).

Tokens are assembled byte by byte (header JSON, payload bytes, signature, base64url) and
signed with the ring's key, another key of the same kind, or mangled, so the cases
reach what a library encoder never produces. References: authgate's verifier with the
fast path off (joserfc plus the claims policy: same accept/refuse, same error class),
the fast path on its own (it accepts only what that verifier accepts, with the same
claims), and PyJWT with the same checks (whatever authgate accepts, PyJWT accepts).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authgate.errors import InvalidTokenError
from authgate.keys.keyring import KeyRing, RingKey, generate_key, hmac_key
from authgate.testing import FrozenClock
from authgate.tokens import TokenVerifier
from authgate.tokens._compact_asym import CompactAsymmetric

ISS, AUD, LEEWAY = "ai-agent-system", "ai-agent-users", 10
NOW = int(time.time())
CLOCK = FrozenClock(NOW)
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALGORITHMS = ["EdDSA", "ES256"]


class Keys:
    def __init__(self, alg: str) -> None:
        self.key = RingKey(kid=f"{alg}-kid", alg=alg, key=generate_key(alg))
        self.other = generate_key(alg)
        self.ring = KeyRing.of(self.key)
        self.refresh_key = hmac_key("refresh", "r" * 64)


KEYS = {alg: Keys(alg) for alg in ALGORITHMS}


def _verifier(keys: Keys, *, fast_path: bool) -> TokenVerifier:
    return TokenVerifier(
        keys=keys, issuer=ISS, audience=AUD, leeway=LEEWAY, clock=CLOCK, fast_path=fast_path,
        cache_size=0,
    )  # fmt: skip


VERIFIERS = {
    alg: (_verifier(keys, fast_path=True), _verifier(keys, fast_path=False))
    for alg, keys in KEYS.items()
}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign(alg: str, private: Any, data: bytes) -> bytes:
    op = private.get_op_key("sign")
    if alg == "EdDSA":
        signature: bytes = op.sign(data)
        return signature
    r, s = decode_dss_signature(op.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def assemble(alg: str, header: bytes, payload: bytes, key: Any) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}"
    return f"{signing_input}.{b64(sign(alg, key, signing_input.encode()))}"


def own_header(alg: str) -> bytes:
    return f'{{"typ":"at+jwt","alg":"{alg}","kid":"{alg}-kid"}}'.encode()


def claims(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "sub": "user-1", "sessionId": "session-1", "deviceFingerprint": "f" * 64,
        "jti": "jti-1", "iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 900,
        "tokenType": "access", "email": "ada@example.com", "roles": ["user"],
        "permissions": ["use_agent"],
    }  # fmt: skip
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def outcome(verify: Callable[[str], Any], token: str) -> tuple[str, Any]:
    try:
        return "ok", verify(token)
    except InvalidTokenError as exc:
        return "refused", type(exc).__name__


def pyjwt_accepts(alg: str, token: str) -> bool:
    public = KEYS[alg].key.key.get_op_key("verify")
    # PyJWT reads the wall clock, which has moved on since NOW (the frozen time): widen
    # its leeway by that much, so only its non-time checks can refuse.
    leeway = LEEWAY + max(0.0, time.time() - NOW) + 1
    try:
        decoded = jwt.decode_complete(
            token, public, algorithms=[alg], audience=AUD, issuer=ISS, leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "sessionId"]},
        )  # fmt: skip
    except jwt.PyJWTError:
        return False
    return bool(decoded["header"].get("typ") == "at+jwt")


def check(alg: str, token: str) -> None:
    fast, strict = VERIFIERS[alg]
    got, expected = outcome(fast.verify_access, token), outcome(strict.verify_access, token)
    assert got == expected
    alone = CompactAsymmetric(key=KEYS[alg].key.key, algorithm=alg, typ="at+jwt", kid=f"{alg}-kid")
    fast_claims = alone.claims(token)
    if fast_claims is not None:
        # The fast path judges structure and signature; the strict decoder must agree,
        # with the same claims (the claims policy runs after either).
        assert fast_claims == strict._decode(token, (), KEYS[alg].ring, "at+jwt")
    if got[0] == "ok":
        with CLOCK_AT_NOW:
            assert pyjwt_accepts(alg, token)


class _Now:
    def __enter__(self) -> None:
        CLOCK.now = NOW

    def __exit__(self, *exc: object) -> None:
        return None


CLOCK_AT_NOW = _Now()


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_the_issuer_s_format_takes_the_fast_path(alg: str) -> None:
    token = assemble(alg, own_header(alg), json.dumps(claims()).encode(), KEYS[alg].key.key)
    alone = CompactAsymmetric(key=KEYS[alg].key.key, algorithm=alg, typ="at+jwt", kid=f"{alg}-kid")
    assert alone.claims(token) == claims()
    check(alg, token)


_MANGLES = {
    "other-key": lambda alg, t: assemble(alg, own_header(alg), b'{"sub":"x"}', KEYS[alg].other),
    "flip-signature-bit": lambda alg, t: t[:-3] + ("A" if t[-3] != "A" else "B") + t[-2:],
    "non-canonical-last-char": lambda alg, t: t[:-1] + chr(ord(t[-1]) + 1),
    "padded-signature": lambda alg, t: t + "==",
    "truncated-signature": lambda alg, t: t[:-2],
    "empty-signature": lambda alg, t: t.rsplit(".", 1)[0] + ".",
    "zero-signature": lambda alg, t: t.rsplit(".", 1)[0] + "." + b64(bytes(64)),
    "two-dots-only": lambda alg, t: "..",
    "extra-segment": lambda alg, t: t + ".x",
}


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("mangle", [pytest.param(f, id=name) for name, f in _MANGLES.items()])
def test_mangled_tokens_are_refused_alike(alg: str, mangle: Callable[[str, str], str]) -> None:
    token = assemble(alg, own_header(alg), json.dumps(claims()).encode(), KEYS[alg].key.key)
    mangled = mangle(alg, token)
    check(alg, mangled)
    assert outcome(VERIFIERS[alg][0].verify_access, mangled)[0] == "refused"


def test_es256_high_s_is_judged_like_joserfc() -> None:
    """ECDSA (r, n - s) is also valid: both paths must agree on it (RFC 7518 s3.4)."""
    alg = "ES256"
    token = assemble(alg, own_header(alg), json.dumps(claims()).encode(), KEYS[alg].key.key)
    head, payload, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    s = int.from_bytes(raw[32:], "big")
    flipped = raw[:32] + (n - s).to_bytes(32, "big")
    check(alg, f"{head}.{payload}.{b64(flipped)}")


_HEADERS = [
    b'{"alg":"%s","typ":"at+jwt","kid":"%s-kid"}',
    b'{"typ":"at+jwt","alg":"%s","kid":"%s-kid","crit":["exp"]}',
    b'{"typ":"at+jwt","alg":"%s","kid":"%s-kid","typ":"at+jwt"}',
    b'{"typ":"JWT","alg":"%s","kid":"%s-kid"}',
    b'{"typ": "at+jwt", "alg": "%s", "kid": "%s-kid"}',
    b'{"typ":"at+jwt","alg":"%s","kid":"%s-kid "}',
]

_payloads = st.one_of(
    st.just(claims()),
    st.builds(lambda exp: claims(exp=exp), st.integers(NOW - 30, NOW + 30)),
    st.builds(lambda iat: claims(iat=iat), st.integers(NOW - 30, NOW + 30)),
    st.sampled_from(
        [claims(aud=[AUD, "x"]), claims(iss=ISS + " "), claims(sub=None), claims(exp=True)]
    ),
)  # fmt: skip


@pytest.mark.parametrize("alg", ALGORITHMS)
@EXAMPLES
@given(
    payload=_payloads,
    header=st.one_of(st.none(), st.sampled_from(_HEADERS)),
    style=st.integers(0, 3),
    own_key=st.booleans(),
)
def test_generated_tokens_agree(
    alg: str, payload: dict[str, Any], header: bytes | None, style: int, own_key: bool
) -> None:
    head = own_header(alg) if header is None else header % (alg.encode(), alg.encode())
    body = json.dumps(payload).encode()
    if style == 1:
        body = json.dumps(payload, separators=(",", ":")).encode()
    elif style == 2:
        body = b"\xef\xbb\xbf" + body
    elif style == 3:
        body = body[:-1] + b', "exp": ' + str(NOW + 60).encode() + b"}"
    key = KEYS[alg].key.key if own_key else KEYS[alg].other
    check(alg, assemble(alg, head, body, key))
