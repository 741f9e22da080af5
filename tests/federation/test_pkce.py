from __future__ import annotations

import pytest

from authgate.federation import pkce


def test_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_fresh_verifiers_are_long_unreserved_and_distinct() -> None:
    verifiers = {pkce.make_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128
        assert set(verifier) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
        )


@pytest.mark.parametrize(
    "verifier",
    [
        pytest.param("a" * 42, id="too-short"),
        pytest.param("a" * 129, id="too-long"),
        pytest.param("a" * 42 + "+", id="reserved-char"),
    ],
)
def test_out_of_spec_verifiers_are_refused(verifier: str) -> None:
    with pytest.raises(ValueError, match="RFC 7636"):
        pkce.s256_challenge(verifier)


def test_only_s256_is_offered() -> None:
    assert pkce.METHOD == "S256"
