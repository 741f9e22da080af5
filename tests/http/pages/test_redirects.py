from __future__ import annotations

import pytest

from authgate.http.pages.next_target import DEFAULT_NEXT, safe_next


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/account", id="path"),
        pytest.param("/account?tab=sessions#top", id="query-and-fragment"),
        pytest.param("/api/ai/chat", id="other-page"),
    ],
)
def test_same_site_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("https://evil.example/", id="absolute-url"),
        pytest.param("//evil.example/", id="protocol-relative"),
        pytest.param("/\\evil.example/", id="backslash-host"),
        pytest.param("/a\\b", id="backslash-anywhere"),
        pytest.param("/\t/evil.example/", id="tab-stripped-by-browsers"),
        pytest.param("/\n/evil.example/", id="newline-stripped-by-browsers"),
        pytest.param("/ /evil.example/", id="space"),
        pytest.param("javascript:alert(1)", id="javascript-scheme"),
        pytest.param("evil.example", id="relative-host-like"),
        pytest.param("", id="empty"),
        pytest.param(None, id="missing"),
        pytest.param("/" + "a" * 3000, id="too-long"),
        pytest.param("/\x7f", id="delete-char"),
    ],
)
def test_everything_else_falls_back_to_the_account(target: str | None) -> None:
    assert safe_next(target) == DEFAULT_NEXT
