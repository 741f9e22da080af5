"""The cache of verified access tokens saves work, never checks.

A cached token is still refused once it expires or its session is revoked; a token that
differs in any character is verified from scratch; the cache stays within its bound and
holds digests, never the bearer tokens themselves.
"""

from __future__ import annotations

import pytest

from authgate.errors import ExpiredTokenError, InvalidSignatureError, RevokedTokenError
from authgate.secretstrength import generate_secret
from authgate.sessions.authenticator import Authenticator
from authgate.storage.revocations import RevocationList
from authgate.testing import FrozenClock
from authgate.tokens import TokenIssuer, TokenVerifier
from authgate.tokens._compact import VerifiedCache

ACCESS, REFRESH = generate_secret(), generate_secret()
LEEWAY, TTL = 10, 900


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000)


@pytest.fixture
def issuer(clock: FrozenClock) -> TokenIssuer:
    return TokenIssuer(
        access_secret=ACCESS,
        refresh_secret=REFRESH,
        issuer="ai-agent-system",
        audience="ai-agent-users",
        access_ttl=TTL,
        refresh_ttl=7 * 86400,
        clock=clock,
    )


def _verifier(clock: FrozenClock, cache_size: int = 8) -> TokenVerifier:
    return TokenVerifier(
        access_secret=ACCESS,
        refresh_secret=REFRESH,
        issuer="ai-agent-system",
        audience="ai-agent-users",
        leeway=LEEWAY,
        clock=clock,
        cache_size=cache_size,
    )


def _token(issuer: TokenIssuer, session_id: str = "session-1") -> str:
    return issuer.issue_access(
        user_id="user-1",
        email="ada@example.com",
        roles=["user"],
        permissions=["use_agent"],
        session_id=session_id,
        device_fingerprint="f" * 64,
    ).token


def test_a_cached_token_is_refused_once_it_expires(clock: FrozenClock, issuer: TokenIssuer) -> None:
    verifier, token = _verifier(clock), _token(issuer)
    verifier.verify_access(token)
    clock.advance(TTL + LEEWAY - 1)
    verifier.verify_access(token)  # a hit, still inside the leeway
    clock.advance(1)
    with pytest.raises(ExpiredTokenError):
        verifier.verify_access(token)


def test_a_cached_token_is_refused_once_its_session_is_revoked(
    clock: FrozenClock, issuer: TokenIssuer
) -> None:
    revocations = RevocationList()
    authenticator = Authenticator(verifier=_verifier(clock), revocations=revocations)
    token = _token(issuer)
    assert authenticator.authenticate(token).session_id == "session-1"
    revocations.revoke(["session-1"], clock() + TTL)
    with pytest.raises(RevokedTokenError):
        authenticator.authenticate(token)


def test_a_token_differing_from_a_cached_one_is_verified_in_full(
    clock: FrozenClock, issuer: TokenIssuer
) -> None:
    verifier, token = _verifier(clock), _token(issuer)
    verifier.verify_access(token)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidSignatureError):
        verifier.verify_access(flipped)


def test_the_cache_keeps_digests_within_its_bound(clock: FrozenClock, issuer: TokenIssuer) -> None:
    verifier = _verifier(clock, cache_size=3)
    tokens = [_token(issuer, f"session-{i}") for i in range(5)]
    for token in tokens:
        verifier.verify_access(token)
    entries = verifier._cache._entries
    assert len(entries) == 3
    assert all(isinstance(key, bytes) and len(key) == 32 for key in entries)
    assert not any(token in repr(entries) for token in tokens)


def test_cache_size_zero_caches_nothing(clock: FrozenClock, issuer: TokenIssuer) -> None:
    verifier = _verifier(clock, cache_size=0)
    verifier.verify_access(_token(issuer))
    assert len(verifier._cache) == 0


def test_the_least_recently_used_entry_is_evicted_first() -> None:
    cache: VerifiedCache[str] = VerifiedCache(2)
    cache.put(b"a", "A")
    cache.put(b"b", "B")
    assert cache.get(b"a") == "A"  # now b is the least recently used
    cache.put(b"c", "C")
    assert cache.get(b"b") is None
    assert (cache.get(b"a"), cache.get(b"c")) == ("A", "C")
