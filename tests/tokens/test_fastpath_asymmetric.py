"""The EdDSA and ES256 fast path accepts exactly what the strict path accepts (issue 18.5).

Tokens are assembled byte by byte (header JSON, payload bytes, signature, base64url) and
signed with the ring's key, another key of the same kind, or mangled, so the cases
reach what a library encoder never produces. References: authgate's verifier with the
fast path off (joserfc plus the claims policy: same accept/refuse, same error class),
the fast path on its own (it accepts only what that verifier accepts, with the same
claims), and PyJWT with the same checks (whatever authgate accepts, PyJWT accepts).
The fast path checks Ed25519 with libsodium, the strict path with OpenSSL: the EdDSA
cases compare the two on mutated, malleated and small-order signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
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


# Ed25519 (RFC 8032): the fast path checks with libsodium, the strict path with OpenSSL.
_L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
_ED_HEAD = b64(own_header("EdDSA"))
_ED_BODY = json.dumps(claims()).encode()
_ED_INPUT = f"{_ED_HEAD}.{b64(_ED_BODY)}".encode()
_ED_LETTERS = [i for i, byte in enumerate(_ED_BODY) if chr(byte).isalpha()]


def _ed_alone() -> CompactAsymmetric:
    return CompactAsymmetric(
        key=KEYS["EdDSA"].key.key, algorithm="EdDSA", typ="at+jwt", kid="EdDSA-kid"
    )


def _openssl_accepts(signature: bytes, signing_input: bytes) -> bool:
    try:
        KEYS["EdDSA"].key.key.get_op_key("verify").verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True


def _ed_mutant(rng: random.Random) -> tuple[str, bytes, bytes]:
    """A token with seeded bit flips in its payload and signature, its input and signature."""
    payload = bytearray(_ED_BODY)
    resign = rng.random() < 0.5
    for _ in range(rng.randint(0, 2)):
        if resign:
            # Flipping a letter's case keeps a JSON object, so only the signature decides.
            payload[rng.choice(_ED_LETTERS)] ^= 0x20
        else:
            payload[rng.randrange(len(payload))] ^= 1 << rng.randrange(8)
    signing_input = f"{_ED_HEAD}.{b64(bytes(payload))}".encode()
    private = KEYS["EdDSA"].key.key
    signature = bytearray(sign("EdDSA", private, signing_input if resign else _ED_INPUT))
    for _ in range(rng.randint(0, 2)):
        signature[rng.randrange(64)] ^= 1 << rng.randrange(8)
    token = f"{signing_input.decode()}.{b64(bytes(signature))}"
    return token, signing_input, bytes(signature)


def test_ed25519_fast_path_accepts_exactly_what_openssl_accepts() -> None:
    """libsodium's verdict on mutated tokens is OpenSSL's; joserfc agrees (RFC 8032 s5.1.7).

    ``check`` fails if the fast path accepts a token joserfc refuses.
    """
    rng, alone, accepted = random.Random(185), _ed_alone(), 0
    for _ in range(400):
        token, signing_input, signature = _ed_mutant(rng)
        expected = _openssl_accepts(signature, signing_input)
        assert (alone.claims(token) is not None) == expected, token
        accepted += expected
        check("EdDSA", token)
    assert 40 < accepted < 360  # both verdicts are exercised


def _with_signature(signature: bytes) -> str:
    return f"{_ED_INPUT.decode()}.{b64(signature)}"


def test_ed25519_malleated_s_plus_l_is_refused() -> None:
    """S + L satisfies the same group equation, but S must be below L (RFC 8032 s5.1.7, s8.4)."""
    signature = sign("EdDSA", KEYS["EdDSA"].key.key, _ED_INPUT)
    s = int.from_bytes(signature[32:], "little") + _L
    malleated = _with_signature(signature[:32] + s.to_bytes(32, "little"))
    assert _ed_alone().claims(_with_signature(signature)) == claims()
    assert _ed_alone().claims(malleated) is None
    fast, strict = VERIFIERS["EdDSA"]
    assert outcome(fast.verify_access, malleated) == ("refused", "InvalidSignatureError")
    assert outcome(strict.verify_access, malleated) == ("refused", "InvalidSignatureError")


_SMALL_ORDER = {
    "identity": b"\x01" + bytes(31),
    "order-2": b"\xec" + b"\xff" * 30 + b"\x7f",
    "order-4": bytes(32),
    "order-4-negated": bytes(31) + b"\x80",
    "order-8": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
}


@pytest.mark.parametrize("r", [pytest.param(r, id=name) for name, r in _SMALL_ORDER.items()])
def test_ed25519_small_order_r_with_zero_s_is_refused(r: bytes) -> None:
    """A small-order R with S = 0 (RFC 8032 s5.1.7, s8.4): refused by both paths."""
    token = _with_signature(r + bytes(32))
    assert _ed_alone().claims(token) is None
    check("EdDSA", token)
    assert outcome(VERIFIERS["EdDSA"][0].verify_access, token)[0] == "refused"


def test_ed25519_identity_r_from_the_key_holder_goes_to_the_strict_path() -> None:
    """The one signature OpenSSL accepts and libsodium refuses: R the identity, S = k * a.

    Only the private key's holder can make it ([S]B = [k]A); the cofactorless check
    of RFC 8032 s5.1.7 holds, so OpenSSL accepts. The fast path steps aside and the
    strict path decides, so both verifiers still answer alike.
    """
    private = KEYS["EdDSA"].key.key.get_op_key("sign")
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    scalar = bytearray(hashlib.sha512(seed).digest()[:32])
    scalar[0] &= 248  # RFC 8032 s5.1.5: the clamped secret scalar a
    scalar[31] = (scalar[31] & 127) | 64
    r = _SMALL_ORDER["identity"]
    k = int.from_bytes(hashlib.sha512(r + public + _ED_INPUT).digest(), "little") % _L
    signature = r + (k * int.from_bytes(scalar, "little") % _L).to_bytes(32, "little")
    assert _openssl_accepts(signature, _ED_INPUT)
    token = _with_signature(signature)
    assert _ed_alone().claims(token) is None
    check("EdDSA", token)
    assert outcome(VERIFIERS["EdDSA"][0].verify_access, token)[0] == "ok"


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
