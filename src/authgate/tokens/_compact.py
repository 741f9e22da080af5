"""The fast path for authgate's own tokens, and a bounded cache of verified access tokens.

``CompactHS256`` recognises exactly the JWS Compact Serialization (RFC 7515 s7.1) that
authgate issues: the protected header must be byte for byte the one the issuer writes
(the single allow-listed ``alg`` and the expected ``typ``, nothing else, so no ``crit``,
``kid`` or ``jku`` can get in: RFC 8725 s2.1, s3.11), and the signature must be the
canonical base64url encoding of the HMAC over the signing input (RFC 7515 s5.2).

The fast path only ever *accepts*. Anything else, including every invalid token,
returns ``None`` and goes to the strict joserfc path, which decides and raises. A
differential test (``tests/tokens/test_fastpath_differential.py``) checks that both
paths accept exactly the same tokens with the same claims.

``CompactHS256.sign`` is the issuing side: it writes byte for byte what
``joserfc.jwt.encode`` writes for authgate's header and the same claims, without
joserfc's per-call header checks, key lookup and JSON encoder construction. Its own
differential test (``tests/tokens/test_sign_differential.py``) compares the two.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from joserfc import jwt
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry

__all__ = [
    "MAX_DEPTH",
    "CompactHS256",
    "VerifiedCache",
    "b64decode_canonical",
    "depth",
    "strict_json",
    "token_digest",
    "unique_members",
    "within_depth",
]

_HS256_SIGNATURE_CHARS = 43  # 32 bytes in unpadded base64url
_V = TypeVar("_V")

# Canonical base64url: the last character of a segment whose length is 2 or 3 mod 4
# carries unused low bits that must be zero (RFC 4648 s3.5). joserfc refuses the
# other endings, and so do we.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}

# The payload JSON joserfc writes (joserfc._rfc7519.claims.convert_claims), built once:
# json.dumps with non-default arguments builds a new encoder on every call.
_PAYLOAD_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class CompactHS256:
    """Accepts exactly authgate's compact HS256 tokens of one ``typ``; ``None`` for the rest.

    Also signs claims into that exact format (``sign``).
    """

    def __init__(
        self, *, secret: str | bytes, typ: str, algorithm: str = "HS256", kid: str | None = None
    ) -> None:
        if algorithm != "HS256":
            raise ValueError("the compact fast path handles HS256 only")
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        self._prefix = header_segment(raw, typ, algorithm, kid) + "."
        self._skip = len(self._prefix)
        self._mac = hmac.new(raw, digestmod=hashlib.sha256)
        # For signing: the MAC state after the header segment, which every token shares.
        self._signing_mac = self._mac.copy()
        self._signing_mac.update(self._prefix.encode("ascii"))
        # joserfc refuses payload segments over its registry's limit before anything else.
        self._max_payload = JWSRegistry.max_payload_length

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token in authgate's exact format with a valid MAC, else None.

        ``token`` must already be known to be ASCII and within the size limit.
        """
        if not token.startswith(self._prefix):
            return None
        payload, dot, signature = token[self._skip :].partition(".")
        if not dot or len(signature) != _HS256_SIGNATURE_CHARS or len(payload) > self._max_payload:
            return None
        mac = self._mac.copy()
        mac.update(token[: self._skip + len(payload)].encode("ascii"))
        expected = base64.urlsafe_b64encode(mac.digest())[:_HS256_SIGNATURE_CHARS]
        if not hmac.compare_digest(signature.encode("ascii"), expected):
            return None
        raw = b64decode_canonical(payload)
        if raw is None:
            return None
        try:
            claims = strict_json(raw)
        except (ValueError, RecursionError):
            return None
        if not isinstance(claims, dict) or not within_depth(raw, claims):
            return None
        return claims

    def sign(self, claims: dict[str, Any]) -> str:
        """The token ``joserfc.jwt.encode`` makes of this header and ``claims``, byte for byte.

        The payload is joserfc's JSON (``ensure_ascii=False``, no spaces, UTF-8, so a lone
        surrogate raises ``UnicodeEncodeError`` as it does there) in unpadded base64url,
        and the signature the unpadded base64url HMAC-SHA256 of the signing input
        (RFC 7515 s5.1, s7.1). Unlike joserfc, ``datetime`` values of ``exp``, ``iat`` and
        ``nbf`` are not converted (a ``TypeError``): authgate's claims are plain JSON.
        ``tests/tokens/test_sign_differential.py`` checks the output against joserfc's.
        """
        payload = base64.urlsafe_b64encode(_PAYLOAD_ENCODER.encode(claims).encode("utf-8"))
        payload = payload.rstrip(b"=")
        mac = self._signing_mac.copy()
        mac.update(payload)
        signature = base64.urlsafe_b64encode(mac.digest())[:_HS256_SIGNATURE_CHARS]
        return self._prefix + payload.decode("ascii") + "." + signature.decode("ascii")


def header_segment(secret: str | bytes, typ: str, algorithm: str, kid: str | None = None) -> str:
    """The header segment joserfc writes for authgate's header, as the issuer signs it."""
    # Derived from the issuer's own encoder rather than re-implemented, so a change in
    # key order or spacing there cannot silently turn the fast path off.
    key = OctKey.import_key(secret)
    header = (
        {"alg": algorithm, "typ": typ}
        if kid is None
        else {"alg": algorithm, "typ": typ, "kid": kid}
    )
    sample = jwt.encode(header, {}, key, algorithms=[algorithm])
    return sample.split(".", 1)[0]


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook`` refusing duplicate member names (RFC 7515 s4, RFC 7519 s4)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member name")
    return members


# One decoder, built once: json.loads(..., object_pairs_hook=...) builds a new one per call.
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=unique_members)


def strict_json(raw: bytes) -> Any:
    """``json.loads(raw)`` (same encoding detection), refusing duplicate member names."""
    return _STRICT_DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


MAX_DEPTH = 16  # room for RFC 8693 actor chains (act in act); deeper is not ours


def depth(value: Any) -> int:
    """Levels of nesting, counting the top-level value and its scalar leaves."""
    levels, level = 0, [value]
    while level:
        levels += 1
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if levels > MAX_DEPTH:
            break
    return levels


def within_depth(raw: bytes, value: Any) -> bool:
    # n containers nest at most n deep, plus one level of leaves; a bracket inside a
    # string only overcounts, so few brackets prove the bound without walking the tree.
    if raw.count(b"{") + raw.count(b"[") < MAX_DEPTH:
        return True
    return depth(value) <= MAX_DEPTH


def b64decode_canonical(segment: str) -> bytes | None:
    # The same rules as joserfc.util.urlsafe_b64decode: only the URL-safe alphabet,
    # no padding, and canonical trailing bits.
    if "+" in segment or "/" in segment or "=" in segment:
        return None
    rem = len(segment) % 4
    if rem == 1:
        return None
    if rem and segment[-1] not in _CANONICAL_LAST[rem]:
        return None
    # After the checks above, strict a2b_base64 on the translated alphabet refuses exactly
    # what base64.b64decode(altchars=b"-_", validate=True) refuses, at half the cost.
    standard = segment.replace("-", "+").replace("_", "/") + "=" * (-rem % 4)
    try:
        return binascii.a2b_base64(standard, strict_mode=True)
    except binascii.Error:
        return None


def token_digest(token: str) -> bytes:
    """The cache key for a token: its SHA-256, so the cache never holds a bearer token."""
    return hashlib.sha256(token.encode("ascii")).digest()


class VerifiedCache(Generic[_V]):
    """A bounded LRU map from token digest to what verifying it produced.

    Holding an entry means the signature and structure were checked once; callers still
    check expiry and revocation on every use.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, _V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def get(self, key: Hashable) -> _V | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, value: _V) -> None:
        if self.maxsize == 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
