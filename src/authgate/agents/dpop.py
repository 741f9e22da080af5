"""DPoP proof verification (RFC 9449): sender-constrained access tokens.

A DPoP proof is a JWT the client signs with its own key for one request. The server
checks it as RFC 9449 s4.3 lists, and :meth:`DPoPVerifier.verify` cites each step. At
the token endpoint the proof's key thumbprint (RFC 7638) becomes the token's
``cnf.jkt``; at a resource the proof must be made with that same key and carry the
token's hash (``ath``), so a stolen token is useless without the private key.

Server nonces (s8, s9) are stateless: an HMAC of the current time bucket under a secret
derived from the refresh secret, so any instance can check any other's nonce. A nonce
is accepted in its own bucket and the next one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.util import urlsafe_b64decode

from authgate import jsonlimits
from authgate.agents.okp import weak_okp_key
from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.errors import DPoPProofError, UseDPoPNonceError

__all__ = ["ALGORITHMS", "DPOP_TYP", "DPoPVerifier", "NonceSource", "access_token_hash"]

DPOP_TYP = "dpop+jwt"
#: s4.3 step 5: asymmetric algorithms only; never "none" nor a MAC.
ALGORITHMS = ("ES256", "EdDSA", "RS256", "PS256")
PublicKey = ECKey | OKPKey | RSAKey
_KEYS: dict[str, type[PublicKey]] = {
    "ES256": ECKey,
    "EdDSA": OKPKey,
    "RS256": RSAKey,
    "PS256": RSAKey,
}
# RFC 7518 s6.2.2, s6.3.2 and RFC 8037 s2: members that only a private (or secret) key has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MIN_RSA_BITS = 2048
MAX_PROOF_BYTES = 8192
MAX_JTI_CHARS = 256
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class ReplayStore(Protocol):
    """What replay detection needs (``storage.protocols.SingleUseStore`` is one); declared
    here so resource servers, which have no storage, can check proofs too."""

    async def claim(self, key: str, ttl: int) -> bool: ...


def access_token_hash(token: str) -> str:
    """s4.2 ``ath``: base64url SHA-256 of the ASCII access token, unpadded."""
    digest = hashlib.sha256(token.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _b64_json(segment: str) -> dict[str, Any]:
    value = jsonlimits.loads(urlsafe_b64decode(segment.encode("ascii")), max_bytes=MAX_PROOF_BYTES)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class _Target:
    """A URI after RFC 3986 s6.2.2 and s6.2.3 normalisation, split where htu may differ."""

    origin: str
    path: str


def _normalise_percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 s5.2.4, for the absolute paths an HTTP target has.
    out: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def normalise_uri(uri: str) -> _Target | None:
    """s4.3 step 9: scheme and host case, default port, percent-encoding, dot segments;
    the query and fragment are dropped. None for anything that is not an http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None:
        return None
    if ":" in host:
        host = f"[{host}]"
    authority = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_PERCENT.sub(_normalise_percent, parts.path or "/"))
    return _Target(origin=f"{scheme}://{authority}", path=path)


class NonceSource:
    """Stateless server nonces (s8, s9): HMAC-SHA256 over a time bucket, rotating."""

    def __init__(self, *, secret: bytes, lifetime: int, clock: Clock = system_clock) -> None:
        self._secret = secret
        self._lifetime = lifetime
        self._clock = clock
        self._cached: tuple[int, str] = (-1, "")

    def current(self) -> str:
        bucket = self._bucket()
        if self._cached[0] != bucket:
            self._cached = (bucket, self._for(bucket))
        return self._cached[1]

    def accepts(self, nonce: str) -> bool:
        """The nonce of this bucket or of the one before, so none dies the moment it's issued."""
        bucket = self._bucket()
        # As bytes: compare_digest raises TypeError on a non-ASCII str (a 500, not a 401).
        presented = nonce.encode("utf-8", "surrogatepass")
        return any(
            hmac.compare_digest(presented, self._for(b).encode()) for b in (bucket, bucket - 1)
        )

    def _bucket(self) -> int:
        return int(self._clock() // self._lifetime)

    def _for(self, bucket: int) -> str:
        mac = hmac.new(self._secret, b"dpop-nonce:%d" % bucket, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode("ascii")


def _bases(urls: Sequence[str]) -> tuple[_Target, ...]:
    """The configured public URLs, normalised, with their path prefix minus the last ``/``."""
    bases = []
    for url in urls:
        target = normalise_uri(url)
        if target is None:
            raise ValueError(f"not an http(s) URL: {url!r}")
        bases.append(_Target(origin=target.origin, path=target.path.rstrip("/")))
    return tuple(bases)


def derive_nonce_secret(refresh_secret: str) -> bytes:
    # A distinct label, so the nonce key is never the refresh-token signing key itself.
    return hmac.new(refresh_secret.encode(), b"authgate dpop nonce v1", hashlib.sha256).digest()


class DPoPVerifier:
    """Checks DPoP proofs; returns the proof key's RFC 7638 thumbprint (its ``jkt``)."""

    def __init__(
        self,
        *,
        single_use: ReplayStore,
        nonce_secret: bytes,
        iat_window: int = 60,
        leeway: int = 5,
        nonce_required: bool = False,
        public_url: str | None = None,
        public_urls: Sequence[str] = (),
        clock: Clock = system_clock,
    ) -> None:
        if iat_window < 1 or leeway < 0:
            raise ValueError("iat_window must be positive and leeway not negative")
        self._replays = single_use
        self._window = iat_window
        self._leeway = leeway
        self._nonce_required = nonce_required
        self.nonces = NonceSource(secret=nonce_secret, lifetime=iat_window, clock=clock)
        self._bases = _bases([*([public_url] if public_url else []), *public_urls])
        self._clock = clock
        # A proof is acceptable from iat - leeway to iat + window: remember its jti as long.
        self._replay_ttl = iat_window + leeway + 1
        self._algs = {name: JWSRegistry.algorithms[name] for name in ALGORITHMS}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, single_use: ReplayStore, clock: Clock = system_clock
    ) -> DPoPVerifier:
        return cls(
            single_use=single_use,
            nonce_secret=derive_nonce_secret(settings.refresh_secret()),
            iat_window=settings.dpop_iat_window,
            leeway=settings.clock_leeway,
            nonce_required=settings.dpop_nonce_required,
            public_urls=(settings.public_url, *settings.additional_public_urls),
            clock=clock,
        )

    @property
    def nonce_required(self) -> bool:
        return self._nonce_required

    async def verify_request(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        expected_jkt: str | None,
    ) -> str:
        """The request's ``DPoP`` header values, checked against its method and URI."""
        if len(proofs) != 1:
            # s4.3 step 1: exactly one DPoP header.
            raise self._fail("missing" if not proofs else "multiple")
        return await self.verify(
            proofs[0],
            method=method,
            url=url,
            access_token=access_token,
            expected_jkt=expected_jkt,
        )

    async def verify(
        self,
        proof: str,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        expected_jkt: str | None = None,
    ) -> str:
        """Check ``proof`` for a request of ``method`` to ``url``; its key's thumbprint."""
        claims, key = self._verified_jwt(proof)
        self._check_request(claims, method, url)
        self._check_nonce(claims)
        self._check_iat(claims)
        jkt = key.thumbprint()
        self._check_binding(claims, jkt, access_token, expected_jkt)
        await self._check_replay(claims["jti"], jkt)
        return jkt

    def _verified_jwt(self, proof: str) -> tuple[dict[str, Any], PublicKey]:
        # s4.3 step 2: a well-formed JWT (compact JWS, JSON object header and payload).
        if len(proof) > MAX_PROOF_BYTES or proof.count(".") != 2:
            raise self._fail("malformed")
        header_b64, payload_b64, signature_b64 = proof.split(".")
        try:
            header = _b64_json(header_b64)
            claims = _b64_json(payload_b64)
            signature = urlsafe_b64decode(signature_b64.encode("ascii"))
        except (ValueError, UnicodeError, binascii.Error, RecursionError):
            raise self._fail("malformed") from None
        key = self._header_key(header)
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        if not self._signature_ok(header["alg"], signing_input, signature, key):
            raise self._fail("signature")  # s4.3 step 6
        _check_claim_types(claims, self._fail)
        return claims, key

    def _header_key(self, header: dict[str, Any]) -> PublicKey:
        if header.get("typ") != DPOP_TYP:
            raise self._fail("typ")  # s4.3 step 4
        alg = header.get("alg")
        if alg not in self._algs:
            raise self._fail("alg")  # s4.3 step 5
        if "crit" in header:
            raise self._fail("crit")  # RFC 7515 s4.1.11: we understand no extensions
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise self._fail("jwk")
        if _PRIVATE_MEMBERS & jwk.keys():
            raise self._fail("private_key")  # s4.3 step 7
        if jwk.get("kty") != _KEYS[alg].key_type:
            raise self._fail("jwk")  # the thumbprint must be of the key the client sent
        if jwk["kty"] == "OKP" and weak_okp_key(jwk):
            raise self._fail("weak_key")  # small order: a keyless signature would verify
        try:
            key = _KEYS[alg].import_key(jwk)
            self._algs[alg].check_key(key)
        except (JoseError, ValueError, TypeError, KeyError):
            raise self._fail("jwk") from None
        if isinstance(key, RSAKey) and key.public_key.key_size < _MIN_RSA_BITS:
            raise self._fail("jwk")
        return key

    def _signature_ok(
        self, alg: str, signing_input: bytes, signature: bytes, key: PublicKey
    ) -> bool:
        try:
            return bool(self._algs[alg].verify(signing_input, signature, key))
        except (JoseError, ValueError, TypeError):
            return False

    def _check_request(self, claims: dict[str, Any], method: str, url: str) -> None:
        if claims["htm"] != method:
            raise self._fail("htm")  # s4.3 step 8
        if not self._htu_matches(claims["htu"], url):
            raise self._fail("htu")  # s4.3 step 9

    def _htu_matches(self, htu: str, url: str) -> bool:
        claimed, actual = normalise_uri(htu), normalise_uri(url)
        if claimed is None or actual is None:
            return False
        if not self._bases:
            # No public URL configured (library use): the caller's URL is the target.
            return claimed == actual
        # The origin is this server's configured public URL, never the Host header the
        # request came with: a proof made for another server cannot be replayed here by
        # sending its Host. Behind a proxy that strips a path prefix the app sees the
        # path without it; the client signed it with it.
        return any(
            claimed.origin == base.origin
            and claimed.path in (base.path + actual.path, actual.path)
            and claimed.path.startswith(base.path + "/")
            for base in self._bases
        )

    def _check_nonce(self, claims: dict[str, Any]) -> None:
        if not self._nonce_required:
            return
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not self.nonces.accepts(nonce):
            # s4.3 step 10, s8, s9: tell the client the nonce to use.
            raise UseDPoPNonceError("nonce", nonce=self.nonces.current())

    def _check_iat(self, claims: dict[str, Any]) -> None:
        # s4.3 step 11: created within an acceptable window (s11.1).
        now = self._clock()
        iat = claims["iat"]
        if iat > now + self._leeway:
            raise self._fail("iat_future")
        if iat < now - self._window:
            raise self._fail("iat_expired")

    def _check_binding(
        self, claims: dict[str, Any], jkt: str, access_token: str | None, expected_jkt: str | None
    ) -> None:
        # s4.3 step 12: at a resource, the proof covers this token and is made with its key.
        if access_token is not None:
            ath = claims.get("ath")
            # compare_digest refuses non-ASCII str with TypeError: check, don't crash.
            if not isinstance(ath, str) or not hmac.compare_digest(
                ath.encode("utf-8", "surrogatepass"), access_token_hash(access_token).encode()
            ):
                raise self._fail("ath")
        if expected_jkt is not None and not hmac.compare_digest(jkt, expected_jkt):
            raise self._fail("jkt")

    async def _check_replay(self, jti: str, jkt: str) -> None:
        # s11.1: a proof is used once; its jti is remembered while its iat is acceptable.
        digest = hashlib.sha256(f"{jkt}\x00{jti}".encode()).hexdigest()
        if not await self._replays.claim(f"dpop-jti:{digest}", self._replay_ttl):
            raise self._fail("replay")

    def _fail(self, reason: str) -> DPoPProofError:
        nonce = self.nonces.current() if self._nonce_required else None
        return DPoPProofError(reason, nonce=nonce)


def _check_claim_types(claims: dict[str, Any], fail: Callable[[str], DPoPProofError]) -> None:
    # s4.3 step 3 and s4.2: jti, htm, htu and iat are required, with these types.
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
        raise fail("jti")
    for name in ("htm", "htu"):
        if not isinstance(claims.get(name), str):
            raise fail(name)
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise fail("iat")
    try:
        finite = math.isfinite(iat)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise fail("iat")
