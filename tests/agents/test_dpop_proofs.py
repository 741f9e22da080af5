"""authgate.agents.dpop without HTTP: URI normalisation (RFC 3986 s6), nonces, the verifier."""

from __future__ import annotations

import pytest

from authgate.agents.dpop import DPoPVerifier, NonceSource, access_token_hash, normalise_uri
from authgate.errors import DPoPProofError, UseDPoPNonceError
from authgate.storage.memory import MemorySingleUseStore
from authgate.testing import FrozenClock
from tests.security.dpop_support import ProofKey

URL = "https://api.example.com/v1/chat"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param("https://Api.Example.COM/v1/chat", URL, id="host-case"),
        pytest.param("HTTPS://api.example.com/v1/chat", URL, id="scheme-case"),
        pytest.param("https://api.example.com:443/v1/chat", URL, id="default-https-port"),
        pytest.param("http://api.example.com:80/", "http://api.example.com/", id="default-http"),
        pytest.param("https://api.example.com/v1/chat?a=1#f", URL, id="query-fragment-dropped"),
        pytest.param("https://api.example.com/v1/%63hat", URL, id="unreserved-decoded"),
        pytest.param("https://api.example.com/v1/./x/../chat", URL, id="dot-segments"),
        pytest.param("https://api.example.com", "https://api.example.com/", id="empty-path"),
        pytest.param(
            "https://api.example.com/a%2fb", "https://api.example.com/a%2Fb", id="reserved-kept"
        ),
        pytest.param("https://[::1]:8443/x", "https://[::1]:8443/x", id="ipv6-port-kept"),
    ],
)
def test_uri_normalisation(uri: str, expected: str) -> None:
    target = normalise_uri(uri)
    assert target is not None
    assert target.origin + target.path == expected


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("ftp://api.example.com/x", id="not-http"),
        pytest.param("/v1/chat", id="relative"),
        pytest.param("https://user@api.example.com/x", id="userinfo"),
        pytest.param("https://api.example.com:99999/x", id="bad-port"),
        pytest.param("", id="empty"),
    ],
)
def test_uris_that_cannot_be_an_htu(uri: str) -> None:
    assert normalise_uri(uri) is None


def test_access_token_hash_matches_rfc_9449_example() -> None:
    """RFC 9449 s7.1: the ``ath`` of the example access token."""
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


def test_nonces_rotate_and_stay_valid_for_one_more_bucket() -> None:
    clock = FrozenClock(1_000_000)
    source = NonceSource(secret=b"k" * 32, lifetime=60, clock=clock)
    first = source.current()
    assert source.current() == first
    clock.advance(60)
    assert source.current() != first
    assert source.accepts(first)
    clock.advance(60)
    assert not source.accepts(first)


def test_nonces_from_another_secret_are_refused() -> None:
    clock = FrozenClock(1_000_000)
    ours = NonceSource(secret=b"k" * 32, lifetime=60, clock=clock)
    theirs = NonceSource(secret=b"j" * 32, lifetime=60, clock=clock)
    assert not ours.accepts(theirs.current())


def _verifier(clock: FrozenClock, **options: object) -> DPoPVerifier:
    return DPoPVerifier(
        single_use=MemorySingleUseStore(clock=clock),
        nonce_secret=b"n" * 32,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


async def test_verify_returns_the_rfc_7638_thumbprint() -> None:
    clock = FrozenClock()
    key = ProofKey()
    jkt = await _verifier(clock).verify(key.proof(iat=clock.now, htu=URL), method="POST", url=URL)
    assert jkt == key.jkt


async def test_public_url_origin_is_accepted_behind_a_proxy() -> None:
    """The server sees http://internal; the client signed the public URL."""
    clock = FrozenClock()
    verifier = _verifier(clock, public_url="https://api.example.com")
    proof = ProofKey().proof(iat=clock.now, htu=URL)
    assert await verifier.verify(proof, method="POST", url="http://10.0.0.5:8000/v1/chat")


async def test_replay_is_remembered_until_the_proof_is_too_old_anyway() -> None:
    clock = FrozenClock()
    verifier = _verifier(clock, iat_window=60, leeway=5)
    key = ProofKey()
    proof = key.proof(iat=clock.now, htu=URL)
    await verifier.verify(proof, method="POST", url=URL)
    clock.advance(60)
    with pytest.raises(DPoPProofError) as caught:
        await verifier.verify(proof, method="POST", url=URL)
    assert caught.value.reason == "replay"
    clock.advance(1)
    with pytest.raises(DPoPProofError) as expired:
        await verifier.verify(proof, method="POST", url=URL)
    assert expired.value.reason == "iat_expired"


async def test_nonce_check_precedes_replay_so_the_retry_is_not_burnt() -> None:
    clock = FrozenClock()
    verifier = _verifier(clock, nonce_required=True)
    key = ProofKey()
    with pytest.raises(UseDPoPNonceError) as caught:
        await verifier.verify(key.proof(iat=clock.now, htu=URL), method="POST", url=URL)
    nonce = caught.value.nonce
    assert nonce is not None
    proof = key.proof(iat=clock.now, htu=URL, nonce=nonce)
    assert await verifier.verify(proof, method="POST", url=URL) == key.jkt


def test_errors_never_carry_the_proof() -> None:
    error = DPoPProofError("signature")
    assert str(error) == "The DPoP proof is missing or invalid"
    assert error.status_code == 401
    assert error.bearer_error == "invalid_dpop_proof"
