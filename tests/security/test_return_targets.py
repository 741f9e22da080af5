"""Return targets are normalised before they are compared (issue 19 item 14).

RFC 9700 s4.11: a redirect target must come from the allow-list. Before the fix the
path was compared as written, so ``..`` on an allowed origin walked out of the allowed
path; browsers resolve dot segments (also ``%2e%2e``) before they request the URL.
"""

from __future__ import annotations

import pytest

from authgate.errors import RedirectNotAllowedError
from authgate.federation.return_targets import RedirectPolicy
from authgate.http.pages.next_target import DEFAULT_NEXT, safe_next


def policy() -> RedirectPolicy:
    return RedirectPolicy(default="/", allowed=["https://app.example/welcome"])


ESCAPES = [
    pytest.param("https://app.example/welcome/../admin", id="dot-dot"),
    pytest.param("https://app.example/welcome/%2e%2e/admin", id="encoded-dot-dot"),
    pytest.param("https://app.example/welcome/%2E%2e/admin", id="encoded-dot-dot-mixed-case"),
    pytest.param("https://app.example/welcome/.%2e/admin", id="half-encoded-dot-dot"),
    pytest.param("https://app.example/welcome/..", id="dot-dot-at-the-end"),
    pytest.param("https://app.example/welcome/./../admin", id="dot-then-dot-dot"),
    pytest.param("https://app.example/welcome/..%2fadmin", id="encoded-slash"),
    pytest.param("https://app.example/welcome/..%5cadmin", id="encoded-backslash"),
    pytest.param("https://app.example/welcome/..\\admin", id="backslash"),
    pytest.param("https://app.example/welcome//../admin", id="double-slash"),
]


@pytest.mark.parametrize("target", ESCAPES)
def test_an_allowed_origin_cannot_be_escaped_with_dot_segments(target: str) -> None:
    with pytest.raises(RedirectNotAllowedError):
        policy().resolve(target, provider="p")


@pytest.mark.parametrize(
    ("target", "resolved"),
    [
        pytest.param(
            "https://app.example/welcome/a/../b", "https://app.example/welcome/b", id="inside"
        ),
        pytest.param(
            "https://app.example/welcome/%2e/b?x=1", "https://app.example/welcome/b?x=1", id="dot"
        ),
        pytest.param("/dashboard/../account", "/account", id="local-path"),
    ],
)
def test_the_normalised_target_is_what_the_browser_is_sent_to(target: str, resolved: str) -> None:
    assert policy().resolve(target, provider="p") == resolved


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/..//evil.example/", id="dot-dot-then-protocol-relative"),
        pytest.param("/%2e%2e//evil.example/", id="encoded-dot-dot-then-protocol-relative"),
        pytest.param("/a/..//evil.example", id="dot-dot-leaves-double-slash"),
        pytest.param("/%2f/evil.example", id="encoded-slash-host"),
        pytest.param("/%5c/evil.example", id="encoded-backslash-host"),
    ],
)
def test_a_local_path_cannot_become_another_site(target: str) -> None:
    with pytest.raises(RedirectNotAllowedError):
        policy().resolve(target, provider="p")
    assert safe_next(target) == DEFAULT_NEXT


@pytest.mark.parametrize(
    ("target", "resolved"),
    [
        pytest.param("/account/../api/ai/chat", "/api/ai/chat", id="dot-dot"),
        pytest.param("/account/%2e%2e/x", "/x", id="encoded-dot-dot"),
        pytest.param("/account/./x?tab=1#top", "/account/x?tab=1#top", id="dot"),
    ],
)
def test_next_after_sign_in_is_normalised(target: str, resolved: str) -> None:
    assert safe_next(target) == resolved
