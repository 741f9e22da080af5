"""The sealed ``oauth_state`` cookie: confidentiality, integrity, freshness, single use."""

from __future__ import annotations

import base64

import pytest

from authgate.errors import OAuthStateError
from authgate.federation import pkce
from authgate.federation.state import MemoryUsedStates, StateManager, derive_state_key
from authgate.testing import FrozenClock

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def manager(clock: FrozenClock, secret: str = SECRET) -> StateManager:
    return StateManager(
        key=derive_state_key(secret), used=MemoryUsedStates(clock=clock), clock=clock
    )


def issue(states: StateManager, provider: str = "google") -> tuple[str, str, str]:
    verifier = pkce.make_verifier()
    state, cookie = states.issue(
        provider=provider, return_to="/app", browser=False, verifier=verifier, oidc=True
    )
    return state.state, cookie, verifier


async def test_round_trip_returns_what_was_sealed(clock: FrozenClock) -> None:
    states = manager(clock)
    state, cookie, verifier = issue(states)
    sealed = await states.consume(cookie, provider="google", state=state)
    assert sealed.verifier == verifier
    assert sealed.return_to == "/app"
    assert sealed.nonce is not None
    assert len(sealed.nonce) >= 43
    assert sealed.issued_at == int(clock())


def test_state_is_32_random_bytes(clock: FrozenClock) -> None:
    state, _, _ = issue(manager(clock))
    assert len(base64.urlsafe_b64decode(state + "=")) == 32


def test_cookie_reveals_neither_verifier_nor_state(clock: FrozenClock) -> None:
    state, cookie, verifier = issue(manager(clock))
    raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    for secret in (verifier, state):
        assert secret not in cookie
        assert secret.encode() not in raw


def test_repr_hides_the_secrets(clock: FrozenClock) -> None:
    states = manager(clock)
    state, _ = states.issue(
        provider="google", return_to="/", browser=False, verifier=pkce.make_verifier(), oidc=True
    )
    assert state.verifier not in repr(state)
    assert state.state not in repr(state)


def _flip_last_byte(cookie: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)))
    raw[-1] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(_flip_last_byte, "malformed", id="tampered"),
        pytest.param(lambda c: c[:20], "malformed", id="truncated"),
        pytest.param(lambda c: "!!not-base64!!", "malformed", id="garbage"),
        pytest.param(lambda c: "", "missing", id="empty"),
    ],
)
async def test_altered_cookies_are_refused(clock: FrozenClock, mutate: object, reason: str) -> None:
    states = manager(clock)
    state, cookie, _ = issue(states)
    with pytest.raises(OAuthStateError) as info:
        await states.consume(mutate(cookie), provider="google", state=state)  # type: ignore[operator]
    assert info.value.reason == reason


async def test_cookie_sealed_under_another_key_is_refused(clock: FrozenClock) -> None:
    state, cookie, _ = issue(manager(clock, secret="another-secret-entirely-0123456789abcdef"))
    with pytest.raises(OAuthStateError) as info:
        await manager(clock).consume(cookie, provider="google", state=state)
    assert info.value.reason == "malformed"


async def test_state_mismatch(clock: FrozenClock) -> None:
    states = manager(clock)
    _, cookie, _ = issue(states)
    other, _, _ = issue(states)
    with pytest.raises(OAuthStateError) as info:
        await states.consume(cookie, provider="google", state=other)
    assert info.value.reason == "mismatch"


async def test_missing_state_parameter(clock: FrozenClock) -> None:
    states = manager(clock)
    _, cookie, _ = issue(states)
    with pytest.raises(OAuthStateError) as info:
        await states.consume(cookie, provider="google", state=None)
    assert info.value.reason == "mismatch"


async def test_cookie_for_another_provider(clock: FrozenClock) -> None:
    states = manager(clock)
    state, cookie, _ = issue(states, provider="github")
    with pytest.raises(OAuthStateError) as info:
        await states.consume(cookie, provider="google", state=state)
    assert info.value.reason == "provider"


async def test_state_older_than_ten_minutes_is_expired(clock: FrozenClock) -> None:
    states = manager(clock)
    state, cookie, _ = issue(states)
    clock.advance(601)
    with pytest.raises(OAuthStateError) as info:
        await states.consume(cookie, provider="google", state=state)
    assert info.value.reason == "expired"


async def test_state_just_under_ten_minutes_is_accepted(clock: FrozenClock) -> None:
    states = manager(clock)
    state, cookie, _ = issue(states)
    clock.advance(599)
    await states.consume(cookie, provider="google", state=state)


async def test_state_works_once(clock: FrozenClock) -> None:
    states = manager(clock)
    state, cookie, _ = issue(states)
    await states.consume(cookie, provider="google", state=state)
    with pytest.raises(OAuthStateError) as info:
        await states.consume(cookie, provider="google", state=state)
    assert info.value.reason == "replayed"


async def test_used_states_forget_expired_entries(clock: FrozenClock) -> None:
    used = MemoryUsedStates(clock=clock)
    assert await used.claim("k", 10)
    clock.advance(5)
    assert not await used.claim("k", 10)
    clock.advance(6)
    assert await used.claim("k", 30)


def test_state_key_depends_on_secret_and_is_not_the_secret() -> None:
    key = derive_state_key(SECRET)
    assert len(key) == 32
    assert key != derive_state_key(SECRET + "x")
    assert SECRET.encode()[:32] != key
